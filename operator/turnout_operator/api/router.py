"""The `Router` custom resource (`routers.turnout.dev`): spec and status models.

These pydantic models are the source of truth: the CRD's OpenAPI schema in
`crds/` is generated from them (`turnout_operator.api.crd`) and a test fails when
the committed CRD drifts. Routes, traffic rules and route selection are the
router config file's own models (`turnout_router.config`), so what a user writes
in the spec is exactly what the router pods read.

Pure: no I/O, no Kubernetes client.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final

from pydantic import Field, JsonValue, model_validator

from turnout_router.config import NOP_ENGINE, Duration, Model, RoutingRules

GROUP: Final = "turnout.dev"
VERSION: Final = "v1alpha1"
KIND: Final = "Router"
PLURAL: Final = "routers"
SINGULAR: Final = "router"
SHORT_NAMES: Final = ("rt",)
API_VERSION: Final = f"{GROUP}/{VERSION}"

MAX_NAME_LENGTH: Final = 40
"""Router names leave room for suffixes of child objects (`-router-v12345`) in 63 characters."""

EngineName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Name of an engine configured in the operator's values, or nop.",
    ),
]


class ExperimentEngineSpec(Model):
    """Which experiment engine assigns treatments, and the experiment it runs."""

    type: EngineName = Field(
        default=NOP_ENGINE,
        description=(
            "An engine name from the operator's experimentEngines values, or nop "
            "(no experiment: every request goes to spec.fallbackRoute)."
        ),
    )
    config: JsonValue = Field(
        default=None,
        description=(
            "The experiment config, free-form: handed to the engine's manager plugin, which "
            "validates it and turns it into the config of the runner in each router pod."
        ),
    )


class ResourceList(Model):
    """CPU and memory quantities (Kubernetes quantity strings)."""

    cpu: str | None = Field(default=None, description="e.g. 250m or 1.")
    memory: str | None = Field(default=None, description="e.g. 256Mi.")


class Resources(Model):
    """Compute resources of each router container."""

    requests: ResourceList | None = None
    limits: ResourceList | None = None


class Autoscaling(Model):
    """Scale the router with a HorizontalPodAutoscaler instead of a fixed replica count."""

    min_replicas: int = Field(default=1, ge=1, description="Fewest router pods.")
    max_replicas: int = Field(ge=1, description="Most router pods.")
    target_cpu_utilization_percentage: int = Field(
        default=80, ge=1, le=100, description="Average CPU use, in percent of requests, to keep."
    )

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("spec.autoscaling: minReplicas must not exceed maxReplicas")
        return self


class RouterSpec(RoutingRules):
    """What the user asks for: routes, the experiment, and how the router runs."""

    experiment_engine: ExperimentEngineSpec = Field(
        default_factory=ExperimentEngineSpec,
        description="The experiment engine and its experiment config (default: nop).",
    )
    replicas: int | None = Field(
        default=None,
        ge=0,
        description="Router pods (default 1). Exclusive with autoscaling.",
    )
    autoscaling: Autoscaling | None = Field(
        default=None, description="Scale with a HorizontalPodAutoscaler. Exclusive with replicas."
    )
    resources: Resources | None = Field(
        default=None, description="CPU and memory of each router container."
    )
    timeout: Duration = Field(
        default="10s",
        description="Upper bound on a whole request through the router (default 10s).",
    )
    suspend: bool = Field(
        default=False,
        description="true removes the router's pods and Service but keeps the Router and its versions.",
    )

    @model_validator(mode="after")
    def _router_rules(self) -> RouterSpec:
        for problem in spec_problems(self):
            raise ValueError(problem)
        return self


def spec_problems(spec: RouterSpec) -> list[str]:
    """Cross-field problems beyond the routing rules; messages name the field."""
    problems: list[str] = []
    if spec.replicas is not None and spec.autoscaling is not None:
        problems.append("spec.replicas: use either replicas or autoscaling")
    if (
        spec.experiment_engine.type != NOP_ENGINE
        and spec.route_name_path is None
        and not spec.experiment_mappings
    ):
        problems.append(
            "spec.experimentEngine: an engine other than nop needs routeNamePath or "
            "experimentMappings to turn treatments into routes"
        )
    return problems


class Phase(StrEnum):
    """Where a Router is in its life, shown by `kubectl get routers`."""

    PENDING = "Pending"
    DEPLOYING = "Deploying"
    DEPLOYED = "Deployed"
    FAILED = "Failed"
    UNDEPLOYED = "Undeployed"


class ConditionType(StrEnum):
    READY = "Ready"
    PROGRESSING = "Progressing"
    CONFIG_VALID = "ConfigValid"
    ENGINE_AVAILABLE = "EngineAvailable"


class Condition(Model):
    """A Kubernetes-style condition (metav1.Condition's fields)."""

    type: str
    status: str = Field(description="True, False or Unknown.")
    reason: str
    message: str = ""
    observed_generation: int | None = None
    last_transition_time: str | None = Field(default=None, description="RFC 3339 time.")


class RouterStatus(Model):
    """What the operator observed; written only by the operator."""

    phase: Phase | None = None
    observed_generation: int | None = Field(
        default=None, description="The spec generation this status describes."
    )
    current_version: int | None = Field(
        default=None, description="The version the current spec maps to."
    )
    deployed_version: int | None = Field(
        default=None, description="The version whose pods are serving."
    )
    endpoint: str | None = Field(default=None, description="URL to send requests to.")
    replicas: int | None = Field(default=None, description="Ready router pods.")
    message: str | None = Field(default=None, description="What is happening, in one line.")
    conditions: list[Condition] = Field(default_factory=list)
