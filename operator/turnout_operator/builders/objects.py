"""The Kubernetes objects of one Router version, as dicts ready for server-side apply.

Each object carries its apiVersion and kind, the Router as controlling owner
(so deleting the Router deletes them) and the same labels. What is set, and
why, is what makes a version's rollout safe:

* the router config lives in an immutable ConfigMap per version, and its hash
  is a pod template annotation, so a new config always rolls new pods while the
  pods of the previous version keep theirs;
* the rolling update never takes a serving pod away before its replacement is
  ready, so a version that fails to start leaves the previous one serving;
* a pod being stopped drains (ROUTER_DRAIN_SECONDS) before it stops accepting, so
  no request is lost while kube-proxy catches up (see DRAIN_SECONDS);
* every container passes the Pod Security "restricted" profile;
* the plugin reaches the pod by Turing's delivery contract: an initContainer
  from the engine's image copies it to ${PLUGINS_DIR}/${PLUGIN_NAME} in an
  emptyDir the router container mounts read-only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

import yaml

from turnout_operator.api.router import API_VERSION, KIND, Autoscaling, RouterSpec
from turnout_operator.builders.inputs import BuildSettings, EngineDeployment, RouterIdentity
from turnout_operator.builders.names import (
    CONFIG_HASH_ANNOTATION,
    VERSION_LABEL,
    configmap_name,
    deployment_name,
    hpa_name,
    labels,
    selector_labels,
    service_name,
)
from turnout_operator.builders.router_config import config_hash
from turnout_router.config import CONFIG_FILE_NAME, RouterConfig, ServerConfig, dump_router_config

CONFIG_DIR: Final = "/etc/turnout"
"""Where the ConfigMap is mounted in the router container."""
TMP_DIR: Final = "/tmp"
"""Writable scratch space (plugin sockets) on a read-only root filesystem."""
LIVENESS_PATH: Final = "/v1/internal/live"
READINESS_PATH: Final = "/v1/internal/ready"
PORT_NAME: Final = "http"
METRICS_PORT_NAME: Final = PORT_NAME
"""The named port a PodMonitor scrapes: the router serves /metrics on its traffic port
(the chart's PodMonitor names it; tests/monitoring checks the two agree)."""
METRICS_PATH: Final = "/metrics"
ROUTER_CONTAINER: Final = "router"
RUN_AS_ID: Final = 65532
"""A numeric non-root user and group: the kubelet can only verify runAsNonRoot for a
numeric user, and images (a third party's plugin image included) may not set one."""
DRAIN_SECONDS: Final = 5
"""After SIGTERM the router keeps serving this long, readiness failing and each keep-alive
connection told `Connection: close` (router's main.py): the pod has left its Service's
endpoints, but kube-proxy on each node stops sending it new connections only once it has
seen that and rewritten its rules (typically well under a second; more on a node with
thousands of Services). docs/router.md, "Graceful termination"."""
TERMINATION_GRACE_SECONDS: Final = 30
"""Drain (5 s) plus the router's grace for in-flight requests (20 s), with room to stop the
plugin before the kubelet's SIGKILL."""
READINESS_PERIOD_SECONDS: Final = 1
"""A new pod is Ready within a second of listening, so a rollout (and Deployed) takes a
second or two, not up to the default 10 s per pod; the probe is a local GET."""
REVISION_HISTORY_LIMIT: Final = 3
"""Old ReplicaSets kept; versions are kept in the store, not in ReplicaSets."""

_CONFIG_VOLUME: Final = "config"
_PLUGINS_VOLUME: Final = "plugins"
_TMP_VOLUME: Final = "tmp"


def owner_reference(identity: RouterIdentity) -> dict[str, Any]:
    """The Router as controlling owner: garbage collection deletes children with it."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": identity.name,
        "uid": identity.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(
    identity: RouterIdentity, name: str, extra_labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": identity.namespace,
        "labels": {**labels(identity), **(extra_labels or {})},
        "ownerReferences": [owner_reference(identity)],
    }


def build_configmap(identity: RouterIdentity, config: RouterConfig) -> dict[str, Any]:
    """The router config file of one version, in a ConfigMap named after the version.

    Immutable: a version's config never changes, so no pod can see its file
    change under it, and the kubelet need not watch it.
    """
    text = yaml.safe_dump(dump_router_config(config), sort_keys=False, allow_unicode=True)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            **_metadata(
                identity,
                configmap_name(identity.name, config.version),
                {VERSION_LABEL: str(config.version)},
            ),
            "annotations": {CONFIG_HASH_ANNOTATION: config_hash(config)},
        },
        "immutable": True,
        "data": {CONFIG_FILE_NAME: text},
    }


def _security_context() -> dict[str, Any]:
    """Every field the Pod Security "restricted" profile checks, for one container."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_ID,
        "runAsGroup": RUN_AS_ID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _resources(spec: RouterSpec, settings: BuildSettings) -> dict[str, Any] | None:
    """The spec's resources when it sets any, else the operator's default (whole, not merged)."""
    if spec.resources is not None:
        chosen = spec.resources.model_dump(mode="json", by_alias=True, exclude_none=True)
    elif settings.default_resources is not None:
        chosen = {kind: dict(values) for kind, values in settings.default_resources.items()}
    else:
        return None
    # Empty maps are left out: `requests: {}` says nothing, and drift checks stay simple.
    return {kind: values for kind, values in chosen.items() if values} or None


def _plugin_container(
    engine: EngineDeployment, settings: BuildSettings, resources: dict[str, Any] | None
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": f"{engine.name}-plugin",
        "image": engine.plugin_image,
        "imagePullPolicy": settings.image_pull_policy,
        # The delivery contract: the image's own command copies the binary here.
        "env": [
            {"name": "PLUGIN_NAME", "value": engine.name},
            {"name": "PLUGINS_DIR", "value": settings.plugins_dir},
        ],
        "volumeMounts": [{"name": _PLUGINS_VOLUME, "mountPath": settings.plugins_dir}],
        "securityContext": _security_context(),
        # A copy that fails says why on stderr; the Router's condition quotes it.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if resources is not None:
        # The same as the router's: a pod's request is the larger of the two, so
        # this costs nothing, and a quota that demands limits accepts the pod.
        container["resources"] = resources
    return container


_CPU: Final = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(m?)")


def router_workers(resources: Mapping[str, Any] | None) -> int | None:
    """Worker processes of the router container: its CPU limit rounded up, at least 1.

    Without a limit, the request: the pod may burst past it, but the request is
    what it is sure to get, and the node's CPU count (what the router would
    fall back to) says nothing about what the pod should use. None (neither
    set, or a CPU quantity in a rare form such as "1e3") leaves it to the
    router, which reads the limit from its cgroup.
    """
    for kind in ("limits", "requests"):
        text = ((resources or {}).get(kind) or {}).get("cpu")
        if text is None:
            continue
        match = _CPU.fullmatch(str(text))
        if match is None:
            return None
        value = Decimal(match[1]) / (1000 if match[2] else 1)
        return max(1, math.ceil(value))
    return None


def _router_container(settings: BuildSettings, resources: dict[str, Any] | None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": ROUTER_CONTAINER,
        "image": settings.router_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["python", "-m", "turnout_router"],
        "env": [
            {"name": "ROUTER_CONFIG_FILE", "value": f"{CONFIG_DIR}/{CONFIG_FILE_NAME}"},
            {"name": "PLUGINS_DIR", "value": settings.plugins_dir},
            {"name": "TMPDIR", "value": TMP_DIR},
            {"name": "ROUTER_DRAIN_SECONDS", "value": str(DRAIN_SECONDS)},
        ],
        "ports": [{"name": PORT_NAME, "containerPort": settings.container_port, "protocol": "TCP"}],
        "livenessProbe": {"httpGet": {"path": LIVENESS_PATH, "port": PORT_NAME}},
        "readinessProbe": {
            "httpGet": {"path": READINESS_PATH, "port": PORT_NAME},
            "periodSeconds": READINESS_PERIOD_SECONDS,
        },
        "volumeMounts": [
            {"name": _CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": True},
            # Read-only here: only the initContainer writes the plugin.
            {"name": _PLUGINS_VOLUME, "mountPath": settings.plugins_dir, "readOnly": True},
            {"name": _TMP_VOLUME, "mountPath": TMP_DIR},
        ],
        "securityContext": _security_context(),
        # A router that cannot start (a config it refuses, a plugin that will not run)
        # says why in its last log lines; the Router's condition quotes them.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if resources is not None:
        container["resources"] = resources
    workers = router_workers(resources)
    if workers is not None:
        container["env"].append({"name": "ROUTER_WORKERS", "value": str(workers)})
    return container


def build_deployment(
    identity: RouterIdentity,
    spec: RouterSpec,
    config: RouterConfig,
    engine: EngineDeployment | None,
    settings: BuildSettings,
) -> dict[str, Any]:
    """The router Deployment serving `config`'s version; `engine` None is the nop engine."""
    resources = _resources(spec, settings)
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "securityContext": {
            "runAsNonRoot": True,
            "fsGroup": RUN_AS_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if engine is not None:
        pod_spec["initContainers"] = [_plugin_container(engine, settings, resources)]
    pod_spec["containers"] = [_router_container(settings, resources)]
    pod_spec["volumes"] = [
        {
            "name": _CONFIG_VOLUME,
            "configMap": {"name": configmap_name(identity.name, config.version)},
        },
        {"name": _PLUGINS_VOLUME, "emptyDir": {}},
        {"name": _TMP_VOLUME, "emptyDir": {}},
    ]
    deployment_spec: dict[str, Any] = {}
    if spec.autoscaling is None:
        # Left out under autoscaling, so that the HorizontalPodAutoscaler owns it.
        deployment_spec["replicas"] = 1 if spec.replicas is None else spec.replicas
    deployment_spec.update(
        {
            "selector": {"matchLabels": selector_labels(identity)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "progressDeadlineSeconds": settings.progress_deadline_seconds,
            "revisionHistoryLimit": REVISION_HISTORY_LIMIT,
            "template": {
                "metadata": {
                    "labels": {**labels(identity), VERSION_LABEL: str(config.version)},
                    "annotations": {CONFIG_HASH_ANNOTATION: config_hash(config)},
                },
                "spec": pod_spec,
            },
        }
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(identity, deployment_name(identity.name)),
        "spec": deployment_spec,
    }


def build_service(identity: RouterIdentity, settings: BuildSettings) -> dict[str, Any]:
    """A ClusterIP Service in front of the Router's pods, of every version."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(identity, service_name(identity.name)),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(identity),
            "ports": [
                {
                    "name": PORT_NAME,
                    "port": settings.service_port,
                    "targetPort": PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def build_hpa(identity: RouterIdentity, autoscaling: Autoscaling) -> dict[str, Any]:
    """A HorizontalPodAutoscaler (autoscaling/v2) keeping the router's CPU use at the target."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(identity, hpa_name(identity.name)),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": deployment_name(identity.name),
            },
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": autoscaling.target_cpu_utilization_percentage,
                        },
                    },
                }
            ],
        },
    }


def endpoint(identity: RouterIdentity, settings: BuildSettings) -> str:
    """The URL clients in the cluster send requests to (the Service's DNS name)."""
    host = f"{service_name(identity.name)}.{identity.namespace}.svc.{settings.cluster_domain}"
    port = "" if settings.service_port == 80 else f":{settings.service_port}"
    return f"http://{host}{port}{ServerConfig().path}"
