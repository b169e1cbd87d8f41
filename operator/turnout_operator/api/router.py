"""The `Router` custom resource (`routers.turnout.dev`): spec and status models.

These pydantic models are the source of truth: the CRD's OpenAPI schema in
`crds/` is generated from them (`turnout_operator.api.crd`) and a test fails when
the committed CRD drifts. Routes, traffic rules and route selection are the
router config file's own models (`turnout_router.config`), so what a user writes
in the spec is exactly what the router pods read.

Pure: no I/O, no Kubernetes client.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Final

from pydantic import (
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from turnout_router.config import (
    NOP_ENGINE,
    ROUTING_VALIDATIONS,
    Duration,
    Model,
    RoutingRules,
    cel,
)

GROUP: Final = "turnout.dev"
VERSION: Final = "v1alpha1"
KIND: Final = "Router"
PLURAL: Final = "routers"
SINGULAR: Final = "router"
SHORT_NAMES: Final = ("rt",)
API_VERSION: Final = f"{GROUP}/{VERSION}"

MAX_NAME_LENGTH: Final = 40
"""Router names leave room for suffixes of child objects (`-router-v12345`) in 63 characters."""

NAME_PATTERN: Final = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
"""DNS-1035 label: the Router's name becomes a Service name, which must be one."""

NAME_TOO_LONG: Final = f"metadata.name: a Router name has at most {MAX_NAME_LENGTH} characters"
NAME_NOT_DNS_LABEL: Final = (
    "metadata.name: a Router name must be a DNS-1035 label: lowercase letters, digits "
    "and '-', starting with a letter and ending with a letter or digit"
)

NAME_VALIDATIONS: Final[tuple[dict[str, JsonValue], ...]] = (
    cel(f"self.metadata.name.size() <= {MAX_NAME_LENGTH}", NAME_TOO_LONG, ".metadata.name"),
    cel(f"self.metadata.name.matches('{NAME_PATTERN}')", NAME_NOT_DNS_LABEL, ".metadata.name"),
)
"""Rules at the root of the CRD schema: CEL there may read metadata.name."""


def name_problems(name: str) -> list[str]:
    """What is wrong with a Router's name; the same rules and messages as NAME_VALIDATIONS."""
    problems: list[str] = []
    if len(name) > MAX_NAME_LENGTH:
        problems.append(NAME_TOO_LONG)
    if not re.fullmatch(NAME_PATTERN, name):
        problems.append(NAME_NOT_DNS_LABEL)
    return problems


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
            "(no experiment: every request goes to spec.fallbackRoute). An engine other "
            "than nop needs spec.routeNamePath or spec.experimentMappings."
        ),
    )
    config: JsonValue = Field(
        default=None,
        description=(
            "The experiment config, free-form (any JSON, kept as written): handed to the "
            "engine's manager plugin, which validates it and turns it into the config of "
            "the runner in each router pod. Its shape is the engine's; see its documentation."
        ),
    )
    timeout: Duration | None = Field(
        default=None,
        description=(
            "Time budget of one treatment request to the engine in the router pods; past it "
            "the request takes spec.fallbackRoute (default 100ms)."
        ),
    )


# The pattern Kubernetes' own OpenAPI gives resource.Quantity: a number with an
# optional suffix or exponent.
Quantity = Annotated[
    str,
    Field(max_length=64, pattern=r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"),
]


class ResourceList(Model):
    """CPU and memory quantities (Kubernetes quantity strings)."""

    cpu: Quantity | None = Field(default=None, description="e.g. 250m or 1.")
    memory: Quantity | None = Field(default=None, description="e.g. 256Mi.")


class Resources(Model):
    """Compute resources of each router container."""

    requests: ResourceList | None = None
    limits: ResourceList | None = None


AUTOSCALING_BOUNDS: Final = "spec.autoscaling: minReplicas must not exceed maxReplicas"


class Autoscaling(Model):
    """Scale the router with a HorizontalPodAutoscaler instead of a fixed replica count."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("self.minReplicas <= self.maxReplicas", AUTOSCALING_BOUNDS, ".minReplicas")
            ]
        }
    )

    min_replicas: StrictInt = Field(default=1, ge=1, description="Fewest router pods.")
    max_replicas: StrictInt = Field(ge=1, description="Most router pods.")
    target_cpu_utilization_percentage: StrictInt = Field(
        default=80, ge=1, le=100, description="Average CPU use, in percent of requests, to keep."
    )

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(AUTOSCALING_BOUNDS)
        return self


REPLICAS_AND_AUTOSCALING: Final = "spec.replicas: use either replicas or autoscaling"
ENGINE_WITHOUT_ROUTE_SELECTION: Final = (
    "spec.experimentEngine: an engine other than nop needs routeNamePath or "
    "experimentMappings to turn treatments into routes"
)

# `self` is the spec; the same rules and messages as spec_problems().
SPEC_VALIDATIONS: Final[tuple[dict[str, JsonValue], ...]] = (
    cel(
        "!has(self.replicas) || !has(self.autoscaling)",
        REPLICAS_AND_AUTOSCALING,
        ".replicas",
    ),
    cel(
        f"!has(self.experimentEngine) || self.experimentEngine.type == '{NOP_ENGINE}' "
        "|| has(self.routeNamePath) "
        "|| (has(self.experimentMappings) && size(self.experimentMappings) > 0)",
        ENGINE_WITHOUT_ROUTE_SELECTION,
        ".experimentEngine",
    ),
)


class RouterSpec(RoutingRules):
    """What the user asks for: routes, the experiment, and how the router runs."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [*ROUTING_VALIDATIONS, *SPEC_VALIDATIONS],
        }
    )

    experiment_engine: ExperimentEngineSpec = Field(
        default_factory=ExperimentEngineSpec,
        description=(
            "The experiment engine that assigns each request a treatment, and the experiment "
            "config handed to it. Default: type nop, no experiment (every request goes to "
            "spec.fallbackRoute)."
        ),
        # An empty object lets the API server fill in the engine's defaults (type nop),
        # so `kubectl get routers` shows the engine of every Router.
        json_schema_extra={"default": {}},
    )
    # Strict, as the CRD's integer and boolean types are: "3" or true is refused, not coerced.
    replicas: StrictInt | None = Field(
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
    suspend: StrictBool = Field(
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
        problems.append(REPLICAS_AND_AUTOSCALING)
    if (
        spec.experiment_engine.type != NOP_ENGINE
        and spec.route_name_path is None
        and not spec.experiment_mappings
    ):
        problems.append(ENGINE_WITHOUT_ROUTE_SELECTION)
    return problems


def spec_error_messages(error: ValidationError) -> list[str]:
    """A RouterSpec validation error as lines that name the field as the API server does.

    ``spec.routes[0].endpoint: String should match pattern ...``; cross-field
    problems already start with their field and are given as they are.
    """
    messages: list[str] = []
    for detail in error.errors():
        text = str(detail["ctx"]["error"]) if detail["type"] == "value_error" else detail["msg"]
        if text.startswith("spec."):
            messages.append(text)
            continue
        path = "spec"
        for part in detail["loc"]:
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
        messages.append(f"{path}: {text}")
    return messages


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
    # kstatus's conditions (what Flux, kpt and cli-utils read): True while the operator
    # works toward the spec, or when it gave up on it until the spec changes.
    RECONCILING = "Reconciling"
    STALLED = "Stalled"


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
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=20,
        description=(
            "Ready, Progressing, ConfigValid, EngineAvailable, Reconciling and Stalled, "
            "one of each at most."
        ),
        # One condition per type, as Kubernetes conditions are merged.
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
