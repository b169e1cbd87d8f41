"""The operator's settings: the only module that reads the environment.

Every setting is an environment variable with the `TURNOUT_` prefix (the Helm
chart sets them); each field says its unit, default and why. Secrets (the
database URL) are `SecretStr`, so they print as `**********` in logs and
tracebacks.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """What the operator needs to know about where it runs."""

    model_config = SettingsConfigDict(
        env_prefix="TURNOUT_", extra="ignore", frozen=True, populate_by_name=True
    )

    database_url: SecretStr = Field(
        description=(
            "SQLAlchemy URL of the versions database, postgresql+psycopg://user:pass@host:5432/db. "
            "Required: every router version is recorded there."
        )
    )
    engines_file: Path | None = Field(
        default=None,
        description=(
            "YAML or JSON file listing the experiment engines, in the shape of the Helm "
            "values' experimentEngines (mounted from a Secret: options hold credentials). "
            "Unset: only the built-in nop engine."
        ),
    )
    plugins_dir: Path = Field(
        default=Path("/app/plugins"),
        description=(
            "Where the engines' initContainers copied the plugin binaries, one file per engine "
            "name (Turing's PLUGINS_DIR). Also the path router pods get."
        ),
    )
    router_plugins_dir: str = Field(
        default="/app/plugins",
        description=(
            "Where router pods get the plugin binary (the emptyDir their initContainer fills). "
            "Usually the same path as plugins_dir; they differ when the operator runs outside "
            "the cluster."
        ),
    )
    router_image: str = Field(
        default="turnout:0.1.0", description="Image of the router containers."
    )
    router_image_pull_policy: str = Field(default="IfNotPresent")
    router_resources: dict[str, dict[str, str]] | None = Field(
        default=None,
        description=(
            "Container resources of routers whose spec sets none, as JSON in Kubernetes' form: "
            '{"requests": {"cpu": "250m"}, "limits": {"memory": "512Mi"}} (the Helm chart\'s '
            "router.resources). Unset: none (the namespace's LimitRange, if any, decides)."
        ),
    )

    @field_validator("router_resources", mode="before")
    @classmethod
    def _quantities_as_text(cls, value: object) -> object:
        """`cpu: 1` is as valid a quantity as `cpu: "1"`; Kubernetes takes both."""
        if isinstance(value, dict):
            return {
                kind: {
                    name: str(q) if isinstance(q, int | float) and not isinstance(q, bool) else q
                    for name, q in amounts.items()
                }
                if isinstance(amounts, dict)
                else amounts
                for kind, amounts in value.items()
            }
        return value

    namespaces: str = Field(
        default="",
        description="Comma-separated namespaces to watch; empty watches the whole cluster.",
    )
    cluster_domain: str = Field(
        default="cluster.local", description="DNS suffix used in the Routers' endpoints."
    )
    progress_deadline_seconds: int = Field(
        default=600,
        ge=10,
        description=(
            "A router rollout that makes no progress this long fails: the version is marked "
            "failed and the previous one is restored (the Deployment's progressDeadlineSeconds)."
        ),
    )
    resync_seconds: float = Field(
        default=300.0,
        gt=0,
        description=(
            "How often each Router is checked for drift even when nothing changed. The check "
            "reads the operator's watch cache and writes only when something drifted."
        ),
    )
    plugin_call_timeout: float = Field(
        default=30.0, gt=0, description="Seconds a manager plugin call may take before it fails."
    )
    retry_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "The longest wait before retrying a Router whose passes keep failing (a plugin, "
            "the database or the API server unavailable, or an error). Each Router backs off "
            "on its own: TURNOUT_RETRY_BASE_SECONDS after the first failure, doubling with "
            "each failure in a row, up to this. Events on the Router's own objects do not cut "
            "the wait short; a change of its spec does."
        ),
    )
    retry_base_seconds: float = Field(
        default=0.05,
        gt=0,
        description=(
            "The wait after a Router's first failed pass (see TURNOUT_RETRY_SECONDS); a "
            "conflict or a dropped connection has usually cleared by then."
        ),
    )
    max_concurrent_passes: int = Field(
        default=16,
        ge=1,
        description=(
            "Reconcile passes that may run at once. After a restart every Router's loop starts "
            "together; the limit keeps them from all calling plugins, the database and the API "
            "server in the same instant. Also the number of API calls in flight and of "
            "connections kept to the API server."
        ),
    )
    log_format: str = Field(default="json", description="json (in the cluster) or text.")
    liveness_port: int = Field(
        default=8081, ge=0, description="Port of the operator's /healthz endpoint; 0 turns it off."
    )
    engine_refresh_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "How often each engine's catalogue (clients, experiments, variables) is read from "
            "its plugin for its ExperimentEngine object; the object is written only when "
            "something changed. Plugin health changes are published within a second."
        ),
    )
    webhook_port: int = Field(
        default=9443,
        ge=0,
        description=(
            "HTTPS port of the validating admission webhook (/validate-router); 0 turns it "
            "off. It also stays off while webhook_cert_file or webhook_key_file is unset."
        ),
    )
    webhook_cert_file: Path | None = Field(
        default=None,
        description=(
            "PEM certificate (chain) the webhook serves; its names must match what the "
            "ValidatingWebhookConfiguration calls (the Service's DNS name). Re-read every 60 s, "
            "so a rotated Secret takes effect without a restart."
        ),
    )
    webhook_key_file: Path | None = Field(
        default=None, description="PEM private key of webhook_cert_file."
    )

    metrics_port: int = Field(
        default=8080,
        ge=0,
        description=(
            "Port of the operator's Prometheus /metrics endpoint (served by standby replicas "
            "too); 0 turns it off."
        ),
    )
    liveness_stall_seconds: float = Field(
        default=180.0,
        gt=0,
        description=(
            "/healthz fails when a reconcile pass has been due this long and none finished "
            "meanwhile: the operator is wedged (a database or API connection that hangs without "
            "an error, a pass that never ends). Longer than the slowest healthy pass: two plugin "
            "calls (plugin_call_timeout each) plus a few database and API calls."
        ),
    )
    leader_election: bool = Field(
        default=True,
        description=(
            "Take a coordination.k8s.io Lease before reconciling, so that of several replicas "
            "only one works at a time and a standby takes over when it dies. Off: every replica "
            "reconciles (safe, but wasteful)."
        ),
    )
    lease_name: str = Field(
        default="turnout-operator", description="Name of the Lease the replicas compete for."
    )
    lease_namespace: str = Field(
        default="default",
        validation_alias=AliasChoices("TURNOUT_LEASE_NAMESPACE", "POD_NAMESPACE"),
        description=(
            "Namespace of the Lease: TURNOUT_LEASE_NAMESPACE, else POD_NAMESPACE (the chart "
            "sets it from the downward API: the operator's own namespace), else default."
        ),
    )
    pod_name: str = Field(
        default_factory=socket.gethostname,
        validation_alias=AliasChoices("TURNOUT_POD_NAME", "POD_NAME", "HOSTNAME"),
        description=(
            "This replica's name in the Lease's holderIdentity (with the process id appended): "
            "TURNOUT_POD_NAME, else POD_NAME, else HOSTNAME (a pod's name), else the host name."
        ),
    )
    lease_duration_seconds: float = Field(
        default=15.0,
        gt=0,
        description=(
            "How long a standby waits, after the Lease last changed, before taking it over "
            "(controller-runtime's LeaseDuration). Bounds the hand-over after the leader dies."
        ),
    )
    lease_renew_deadline_seconds: float = Field(
        default=10.0,
        gt=0,
        description=(
            "The leader exits when it has not renewed the Lease for this long (controller-"
            "runtime's RenewDeadline); shorter than lease_duration_seconds, so it stops before "
            "a standby may take over."
        ),
    )
    lease_retry_seconds: float = Field(
        default=2.0,
        gt=0,
        description=(
            "How often the leader renews the Lease and a standby looks at it (controller-"
            "runtime's RetryPeriod)."
        ),
    )
    version_mirror_limit: int = Field(
        default=10,
        ge=0,
        description=(
            "How many of each Router's newest versions are mirrored as RouterVersion objects "
            "(older ones stay in the database only); 0 mirrors none."
        ),
    )

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in ("json", "text"):
            raise ValueError("must be json or text")
        return value

    @field_validator("lease_renew_deadline_seconds")
    @classmethod
    def _deadline_before_expiry(cls, value: float, info: ValidationInfo) -> float:
        duration = info.data.get("lease_duration_seconds")
        if duration is not None and value >= duration:
            raise ValueError("must be shorter than TURNOUT_LEASE_DURATION_SECONDS")
        return value

    def identity(self) -> str:
        """This process's holderIdentity: unique among live processes (pod name + pid).

        A container restarted in the same pod usually gets the same pid and so takes its
        own Lease back at once; two processes on one host (tests, a laptop) differ.
        """
        return f"{self.pod_name}_{os.getpid()}"

    def namespace_list(self) -> list[str]:
        """The namespaces to watch; empty means cluster-wide."""
        return [name.strip() for name in self.namespaces.split(",") if name.strip()]
