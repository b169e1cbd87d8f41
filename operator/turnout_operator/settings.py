"""The operator's settings: the only module that reads the environment.

Every setting is an environment variable with the `TURNOUT_` prefix (the Helm
chart sets them); each field says its unit, default and why. Secrets (the
database URL) are `SecretStr`, so they print as `**********` in logs and
tracebacks.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """What the operator needs to know about where it runs."""

    model_config = SettingsConfigDict(env_prefix="TURNOUT_", extra="ignore", frozen=True)

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
        default=5.0,
        gt=0,
        description="Wait before retrying a Router whose plugin or database was unavailable.",
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

    def namespace_list(self) -> list[str]:
        """The namespaces to watch; empty means cluster-wide."""
        return [name.strip() for name in self.namespaces.split(",") if name.strip()]
