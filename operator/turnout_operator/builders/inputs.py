"""What the builders need besides the Router spec, as small immutable values.

The reconciler gathers these from the Router object, the engines file and the
operator's settings; the builders take them as arguments instead of reading
anything themselves, which is what keeps them pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RouterIdentity:
    """The Router object the built objects belong to (and are owned by)."""

    namespace: str
    """Namespace of the Router; every child object lives there too."""
    name: str
    """Name of the Router; child names are derived from it (`names`)."""
    uid: str
    """metadata.uid of the Router, for the children's ownerReferences."""


@dataclass(frozen=True)
class EngineDeployment:
    """An experiment engine as a router pod needs it. None stands for the nop engine."""

    name: str
    """Engine name from the engines file; the plugin file name and PLUGIN_NAME."""
    plugin_image: str
    """OCI image whose command copies the plugin to ${PLUGINS_DIR}/${PLUGIN_NAME}."""
    liveness_period_seconds: float
    """Seconds between the router's health checks of the plugin (Turing's default 10)."""
    plugin_sha256: str | None = None
    """SHA-256 of the plugin binary the operator validated the version with; the router
    starts only that binary. None for versions recorded before digests were."""


@dataclass(frozen=True)
class BuildSettings:
    """Operator-wide settings that shape every router's objects."""

    router_image: str
    """Image of the router container (the data plane)."""
    image_pull_policy: str = "IfNotPresent"
    """Pull policy of the router and plugin containers."""
    plugins_dir: str = "/app/plugins"
    """Where the plugin emptyDir is mounted; PLUGINS_DIR in both containers."""
    container_port: int = 8080
    """Port the router listens on inside the pod (the `http` container port)."""
    service_port: int = 80
    """Port of the router's Service; the endpoint omits it when it is 80."""
    cluster_domain: str = "cluster.local"
    """DNS suffix of the cluster, for the endpoint URL."""
    progress_deadline_seconds: int = 600
    """Seconds a rollout may make no progress before the Deployment reports it failed."""
    default_resources: Mapping[str, Mapping[str, str]] | None = None
    """Container resources, in Kubernetes' form ({"requests": {"cpu": "250m"}, ...}),
    for Routers whose spec sets none. None leaves them unset (the namespace's
    LimitRange, if any, decides)."""
    field_manager: str = "turnout"
    """Server-side apply field manager of everything the operator applies."""
