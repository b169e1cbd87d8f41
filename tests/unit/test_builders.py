"""The desired objects of a Router, against objects written out by hand.

The expected objects below are the contract with the API server, the router pods
and the reconciler; they are typed out in full rather than derived from the code
under test, so any change to what is applied shows up here as a diff.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
import yaml
from pydantic import JsonValue

from turnout_operator.api.router import Autoscaling, RouterSpec
from turnout_operator.builders import (
    BuildSettings,
    EngineDeployment,
    RouterIdentity,
    build_configmap,
    build_deployment,
    build_hpa,
    build_router_config,
    build_service,
    config_hash,
    configmap_name,
    deployment_name,
    endpoint,
    hpa_name,
    labels,
    owner_reference,
    selector_labels,
    service_name,
)
from turnout_operator.builders.objects import router_workers
from turnout_router.config import RouterConfig, dump_router_config, load_router_config

pytestmark = pytest.mark.unit

IDENTITY = RouterIdentity(
    namespace="models", name="fraud", uid="0d9c4f4e-8a43-4d5e-9a55-1c2b3d4e5f60"
)
SETTINGS = BuildSettings(router_image="registry.example/turnout:0.1.0")
ENGINE = EngineDeployment(
    name="hardcoded",
    plugin_image="registry.example/hardcoded-plugin:1.0",
    liveness_period_seconds=5.0,
)
RUNNER_CONFIG: JsonValue = {
    "experiments": [{"name": "exp_1", "treatments": ["control", "treatment-a"]}]
}

NOP_SPEC = RouterSpec.model_validate(
    {
        "routes": [{"id": "control", "endpoint": "http://model-a.models:8080/predict"}],
        "fallbackRoute": "control",
    }
)
ENGINE_SPEC = RouterSpec.model_validate(
    {
        "routes": [
            {"id": "control", "endpoint": "http://model-a.models:8080/predict"},
            {
                "id": "treatment-a",
                "endpoint": "http://model-b.models:8080/predict",
                "timeout": "1s",
            },
        ],
        "fallbackRoute": "control",
        "trafficRules": [
            {
                "name": "in-ID",
                "conditions": [{"fieldSource": "header", "field": "X-Country", "values": ["ID"]}],
                "routes": ["control", "treatment-a"],
            }
        ],
        "routeNamePath": "policy.route",
        "experimentEngine": {"type": "hardcoded", "config": {"experiment": "exp_1"}},
        "replicas": 3,
        "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"memory": "512Mi"},
        },
        "timeout": "2s",
    }
)

LABELS = {
    "app.kubernetes.io/name": "turnout-router",
    "app.kubernetes.io/instance": "fraud",
    "app.kubernetes.io/managed-by": "turnout",
    "app.kubernetes.io/component": "router",
    "turnout.dev/router": "fraud",
}
OWNER = {
    "apiVersion": "turnout.dev/v1alpha1",
    "kind": "Router",
    "name": "fraud",
    "uid": "0d9c4f4e-8a43-4d5e-9a55-1c2b3d4e5f60",
    "controller": True,
    "blockOwnerDeletion": True,
}
RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}

# The router config files, in their wire form, as the router pods must read them.
NOP_CONFIG_WIRE: dict[str, Any] = {
    "routes": [
        {"id": "control", "endpoint": "http://model-a.models:8080/predict", "timeout": "5s"}
    ],
    "fallbackRoute": "control",
    "trafficRules": [],
    "defaultTrafficRule": None,
    "routeNamePath": None,
    "experimentMappings": [],
    "router": "models/fraud",
    "version": 1,
    "experimentEngine": None,
    "server": {"port": 8080, "path": "/v1/predict", "timeout": "10s", "maxBodyBytes": 1048576},
}
ENGINE_CONFIG_WIRE: dict[str, Any] = {
    "routes": [
        {"id": "control", "endpoint": "http://model-a.models:8080/predict", "timeout": "5s"},
        {"id": "treatment-a", "endpoint": "http://model-b.models:8080/predict", "timeout": "1s"},
    ],
    "fallbackRoute": "control",
    "trafficRules": [
        {
            "name": "in-ID",
            "conditions": [
                {"fieldSource": "header", "field": "X-Country", "operator": "in", "values": ["ID"]}
            ],
            "routes": ["control", "treatment-a"],
        }
    ],
    "defaultTrafficRule": None,
    "routeNamePath": "policy.route",
    "experimentMappings": [],
    "router": "models/fraud",
    "version": 7,
    "experimentEngine": {
        "name": "hardcoded",
        "pluginBinary": "/app/plugins/hardcoded",
        "livenessPeriodSeconds": 5.0,
        "runnerConfig": {
            "experiments": [{"name": "exp_1", "treatments": ["control", "treatment-a"]}]
        },
        "timeout": "100ms",
    },
    "server": {"port": 8080, "path": "/v1/predict", "timeout": "2s", "maxBodyBytes": 1048576},
}


def nop_config(version: int = 1) -> RouterConfig:
    return build_router_config(IDENTITY, NOP_SPEC, version, None, None, SETTINGS)


def engine_config(runner_config: Any = RUNNER_CONFIG) -> RouterConfig:
    return build_router_config(IDENTITY, ENGINE_SPEC, 7, ENGINE, runner_config, SETTINGS)


def sha256_of_canonical_json(wire: dict[str, Any]) -> str:
    text = json.dumps(wire, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def spec_with(spec: RouterSpec, **changes: Any) -> RouterSpec:
    """A copy of `spec` with camelCase fields replaced, validated again."""
    return RouterSpec.model_validate(
        {**spec.model_dump(mode="json", by_alias=True, exclude_none=True), **changes}
    )


# ----- names, labels, owner -----


def test_child_names_derive_from_the_router_name() -> None:
    assert deployment_name("fraud") == "fraud-router"
    assert service_name("fraud") == "fraud-router"
    assert hpa_name("fraud") == "fraud-router"
    assert configmap_name("fraud", 12) == "fraud-router-v12"


def test_labels_and_the_selector_that_never_changes() -> None:
    assert labels(IDENTITY) == LABELS
    assert selector_labels(IDENTITY) == {"turnout.dev/router": "fraud"}


def test_owner_reference_makes_the_router_the_controller() -> None:
    assert owner_reference(IDENTITY) == OWNER


def test_endpoint_is_the_service_dns_name_and_predict_path() -> None:
    assert endpoint(IDENTITY, SETTINGS) == "http://fraud-router.models.svc.cluster.local/v1/predict"
    other = BuildSettings(router_image="r", service_port=8080, cluster_domain="corp.internal")
    assert (
        endpoint(IDENTITY, other) == "http://fraud-router.models.svc.corp.internal:8080/v1/predict"
    )


# ----- router config -----


def test_router_config_of_the_nop_engine() -> None:
    assert dump_router_config(nop_config()) == NOP_CONFIG_WIRE


def test_router_config_with_an_engine_copies_the_spec_and_points_at_the_plugin() -> None:
    assert dump_router_config(engine_config()) == ENGINE_CONFIG_WIRE


@pytest.mark.parametrize(
    ("spec", "engine"),
    [
        (NOP_SPEC, ENGINE),
        (ENGINE_SPEC, None),
        (ENGINE_SPEC, EngineDeployment(name="other", plugin_image="x", liveness_period_seconds=1)),
    ],
    ids=["engine-for-nop", "none-for-engine", "other-engine"],
)
def test_router_config_refuses_an_engine_other_than_the_specs(
    spec: RouterSpec, engine: EngineDeployment | None
) -> None:
    with pytest.raises(ValueError, match="engine"):
        build_router_config(IDENTITY, spec, 1, engine, None, SETTINGS)


def test_config_hash_is_the_sha256_of_the_sorted_compact_json() -> None:
    assert config_hash(nop_config()) == sha256_of_canonical_json(NOP_CONFIG_WIRE)
    assert config_hash(engine_config()) == sha256_of_canonical_json(ENGINE_CONFIG_WIRE)


def test_config_hash_is_stable_when_nothing_changes() -> None:
    assert config_hash(engine_config()) == config_hash(engine_config())
    # A plugin may return the same runner config with its keys in another order.
    reordered = {"experiments": [{"treatments": ["control", "treatment-a"], "name": "exp_1"}]}
    assert config_hash(engine_config(reordered)) == config_hash(engine_config())


def test_config_hash_keeps_non_ascii_text_as_utf_8() -> None:
    runner = {"experiments": [{"name": "expérience", "treatments": ["contrôle"]}]}
    wire = {
        **ENGINE_CONFIG_WIRE,
        "experimentEngine": {**ENGINE_CONFIG_WIRE["experimentEngine"], "runnerConfig": runner},
    }
    text = json.dumps(wire, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert '"expérience"' in text
    assert config_hash(engine_config(runner)) == hashlib.sha256(text.encode()).hexdigest()


def test_config_hash_changes_with_the_runner_config() -> None:
    changed = {"experiments": [{"name": "exp_1", "treatments": ["control"]}]}
    assert config_hash(engine_config(changed)) != config_hash(engine_config())


# ----- ConfigMap -----


def test_configmap_is_immutable_named_and_labelled_by_version() -> None:
    config = engine_config()
    configmap = build_configmap(IDENTITY, config)
    data = configmap.pop("data")
    assert configmap == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "fraud-router-v7",
            "namespace": "models",
            "labels": {**LABELS, "turnout.dev/version": "7"},
            "ownerReferences": [OWNER],
            "annotations": {
                "turnout.dev/config-hash": sha256_of_canonical_json(ENGINE_CONFIG_WIRE)
            },
        },
        "immutable": True,
    }
    assert list(data) == ["router.yaml"]
    assert yaml.safe_load(data["router.yaml"]) == ENGINE_CONFIG_WIRE


def test_configmap_file_text_keeps_the_models_order_and_unicode() -> None:
    # A version's ConfigMap is immutable: its text must not change between releases,
    # or the operator would find drift it cannot apply.
    assert build_configmap(IDENTITY, nop_config())["data"]["router.yaml"] == (
        "routes:\n"
        "- id: control\n"
        "  endpoint: http://model-a.models:8080/predict\n"
        "  timeout: 5s\n"
        "fallbackRoute: control\n"
        "trafficRules: []\n"
        "defaultTrafficRule: null\n"
        "routeNamePath: null\n"
        "experimentMappings: []\n"
        "router: models/fraud\n"
        "version: 1\n"
        "experimentEngine: null\n"
        "server:\n"
        "  port: 8080\n"
        "  path: /v1/predict\n"
        "  timeout: 10s\n"
        "  maxBodyBytes: 1048576\n"
    )
    runner = {"experiments": [{"name": "expérience"}]}
    text = build_configmap(IDENTITY, engine_config(runner))["data"]["router.yaml"]
    assert "  runnerConfig:\n    experiments:\n    - name: expérience\n" in text


def test_the_engine_time_budget_comes_from_the_spec_or_the_routers_default() -> None:
    default = engine_config().experiment_engine
    assert default is not None
    assert default.timeout == "100ms"
    budget = spec_with(
        ENGINE_SPEC,
        experimentEngine={
            **ENGINE_SPEC.experiment_engine.model_dump(by_alias=True),
            "timeout": "250ms",
        },
    )
    config = build_router_config(IDENTITY, budget, 7, ENGINE, RUNNER_CONFIG, SETTINGS)
    assert config.experiment_engine is not None
    assert config.experiment_engine.timeout == "250ms"


def test_container_port_setting_reaches_the_router_config() -> None:
    settings = BuildSettings(router_image="r", container_port=9000)
    config = build_router_config(IDENTITY, NOP_SPEC, 1, None, None, settings)
    assert config.server.port == 9000


@pytest.mark.parametrize("config", [nop_config(), engine_config()], ids=["nop", "engine"])
def test_configmap_file_loads_back_into_the_same_router_config(config: RouterConfig) -> None:
    text = build_configmap(IDENTITY, config)["data"]["router.yaml"]
    assert load_router_config(yaml.safe_load(text)) == config


# ----- Deployment -----

NOP_DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "fraud-router",
        "namespace": "models",
        "labels": LABELS,
        "ownerReferences": [OWNER],
    },
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"turnout.dev/router": "fraud"}},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "progressDeadlineSeconds": 600,
        "revisionHistoryLimit": 3,
        "template": {
            "metadata": {
                "labels": {**LABELS, "turnout.dev/version": "1"},
                "annotations": {
                    "turnout.dev/config-hash": sha256_of_canonical_json(NOP_CONFIG_WIRE)
                },
            },
            "spec": {
                "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": 30,
                "securityContext": {
                    "runAsNonRoot": True,
                    "fsGroup": 65532,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "router",
                        "image": "registry.example/turnout:0.1.0",
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["python", "-m", "turnout_router"],
                        "env": [
                            {"name": "ROUTER_CONFIG_FILE", "value": "/etc/turnout/router.yaml"},
                            {"name": "PLUGINS_DIR", "value": "/app/plugins"},
                            {"name": "TMPDIR", "value": "/tmp"},
                            {"name": "ROUTER_DRAIN_SECONDS", "value": "5"},
                        ],
                        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                        "livenessProbe": {"httpGet": {"path": "/v1/internal/live", "port": "http"}},
                        "readinessProbe": {
                            "httpGet": {"path": "/v1/internal/ready", "port": "http"},
                            "periodSeconds": 1,
                        },
                        "volumeMounts": [
                            {"name": "config", "mountPath": "/etc/turnout", "readOnly": True},
                            {"name": "plugins", "mountPath": "/app/plugins", "readOnly": True},
                            {"name": "tmp", "mountPath": "/tmp"},
                        ],
                        "securityContext": RESTRICTED,
                        "terminationMessagePolicy": "FallbackToLogsOnError",
                    }
                ],
                "volumes": [
                    {"name": "config", "configMap": {"name": "fraud-router-v1"}},
                    {"name": "plugins", "emptyDir": {}},
                    {"name": "tmp", "emptyDir": {}},
                ],
            },
        },
    },
}


def nop_deployment(
    spec: RouterSpec = NOP_SPEC, settings: BuildSettings = SETTINGS
) -> dict[str, Any]:
    return build_deployment(IDENTITY, spec, nop_config(), None, settings)


def engine_deployment() -> dict[str, Any]:
    return build_deployment(IDENTITY, ENGINE_SPEC, engine_config(), ENGINE, SETTINGS)


def test_deployment_of_the_nop_engine_has_no_plugin_container() -> None:
    assert nop_deployment() == NOP_DEPLOYMENT


def test_deployment_with_an_engine_delivers_the_plugin_through_an_init_container() -> None:
    resources = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
    expected = copy.deepcopy(NOP_DEPLOYMENT)
    expected["spec"]["replicas"] = 3
    template = expected["spec"]["template"]
    template["metadata"] = {
        "labels": {**LABELS, "turnout.dev/version": "7"},
        "annotations": {"turnout.dev/config-hash": sha256_of_canonical_json(ENGINE_CONFIG_WIRE)},
    }
    pod = template["spec"]
    pod["initContainers"] = [
        {
            "name": "hardcoded-plugin",
            "image": "registry.example/hardcoded-plugin:1.0",
            "imagePullPolicy": "IfNotPresent",
            "env": [
                {"name": "PLUGIN_NAME", "value": "hardcoded"},
                {"name": "PLUGINS_DIR", "value": "/app/plugins"},
            ],
            "volumeMounts": [{"name": "plugins", "mountPath": "/app/plugins"}],
            "securityContext": RESTRICTED,
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "resources": resources,
        }
    ]
    pod["containers"][0]["resources"] = resources
    # No CPU limit: one worker per CPU requested (250m), rounded up.
    pod["containers"][0]["env"].append({"name": "ROUTER_WORKERS", "value": "1"})
    pod["volumes"][0] = {"name": "config", "configMap": {"name": "fraud-router-v7"}}

    assert engine_deployment() == expected


def test_the_router_finds_the_plugin_where_the_init_container_copies_it() -> None:
    pod = engine_deployment()["spec"]["template"]["spec"]
    [init] = pod["initContainers"]
    [router] = pod["containers"]
    env = {item["name"]: item["value"] for item in init["env"]}
    copied_to = f"{env['PLUGINS_DIR']}/{env['PLUGIN_NAME']}"
    runtime = engine_config().experiment_engine
    assert runtime is not None
    assert runtime.plugin_binary == copied_to
    [init_mount] = init["volumeMounts"]
    [router_mount] = [m for m in router["volumeMounts"] if m["name"] == init_mount["name"]]
    assert router_mount["mountPath"] == init_mount["mountPath"] == env["PLUGINS_DIR"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes[init_mount["name"]] == {"name": "plugins", "emptyDir": {}}


def test_plugins_dir_setting_moves_every_path_together() -> None:
    settings = BuildSettings(router_image="r", plugins_dir="/opt/plugins")
    config = build_router_config(IDENTITY, ENGINE_SPEC, 7, ENGINE, RUNNER_CONFIG, settings)
    pod = build_deployment(IDENTITY, ENGINE_SPEC, config, ENGINE, settings)["spec"]["template"][
        "spec"
    ]
    assert config.experiment_engine is not None
    assert config.experiment_engine.plugin_binary == "/opt/plugins/hardcoded"
    assert pod["initContainers"][0]["env"][1] == {"name": "PLUGINS_DIR", "value": "/opt/plugins"}
    assert pod["initContainers"][0]["volumeMounts"] == [
        {"name": "plugins", "mountPath": "/opt/plugins"}
    ]
    assert pod["containers"][0]["env"][1] == {"name": "PLUGINS_DIR", "value": "/opt/plugins"}
    assert pod["containers"][0]["volumeMounts"][1] == {
        "name": "plugins",
        "mountPath": "/opt/plugins",
        "readOnly": True,
    }


def test_autoscaling_leaves_replicas_to_the_hpa() -> None:
    spec = spec_with(NOP_SPEC, autoscaling={"minReplicas": 2, "maxReplicas": 5})
    deployment = nop_deployment(spec)
    assert "replicas" not in deployment["spec"]
    expected = copy.deepcopy(NOP_DEPLOYMENT)
    del expected["spec"]["replicas"]
    assert deployment == expected


def test_zero_replicas_are_kept() -> None:
    assert nop_deployment(spec_with(NOP_SPEC, replicas=0))["spec"]["replicas"] == 0


def test_resources_default_to_the_settings_and_the_spec_wins() -> None:
    defaults = {"requests": {"cpu": "100m", "memory": "128Mi"}}
    settings = BuildSettings(
        router_image="registry.example/turnout:0.1.0", default_resources=defaults
    )
    [router] = nop_deployment(settings=settings)["spec"]["template"]["spec"]["containers"]
    assert router["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"}}

    spec = spec_with(NOP_SPEC, resources={"limits": {"cpu": "1"}})
    [router] = nop_deployment(spec, settings)["spec"]["template"]["spec"]["containers"]
    assert router["resources"] == {"limits": {"cpu": "1"}}

    [router] = nop_deployment()["spec"]["template"]["spec"]["containers"]
    assert "resources" not in router


def test_a_config_change_rolls_the_pods() -> None:
    before = engine_deployment()["spec"]["template"]
    changed: JsonValue = {"experiments": []}
    config = engine_config(changed)
    after = build_deployment(IDENTITY, ENGINE_SPEC, config, ENGINE, SETTINGS)["spec"]["template"]
    assert after["metadata"]["annotations"] != before["metadata"]["annotations"]
    assert after["metadata"]["annotations"] == {"turnout.dev/config-hash": config_hash(config)}


# ----- Pod Security "restricted" -----

# The Pod Security Standards' "restricted" profile (which includes "baseline"),
# transcribed from https://kubernetes.io/docs/concepts/security/pod-security-standards/.
_RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
_SECCOMP_ALLOWED = {"RuntimeDefault", "Localhost"}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """Every rule of the "restricted" profile the pod spec breaks, one line each."""
    problems: list[str] = []
    pod_context = pod.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            problems.append(f"pod: {flag}")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= _RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']}: type {sorted(kinds)}")
    if pod_context.get("runAsUser") == 0:
        problems.append("pod: runAsUser 0")
    pod_seccomp = pod_context.get("seccompProfile", {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in _SECCOMP_ALLOWED:
        problems.append(f"pod: seccompProfile {pod_seccomp}")
    for sysctl in pod_context.get("sysctls", []):
        problems.append(f"pod: sysctl {sysctl['name']}")
    containers = pod.get("initContainers", []) + pod.get("containers", [])
    for container in containers:
        name = container["name"]
        context = container.get("securityContext", {})
        if context.get("privileged"):
            problems.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        run_as_non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if run_as_non_root is not True or context.get("runAsNonRoot") is False:
            problems.append(f"{name}: runAsNonRoot must be true")
        if context.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = context.get("seccompProfile", {}).get("type", pod_seccomp)
        if seccomp not in _SECCOMP_ALLOWED:
            problems.append(f"{name}: seccompProfile {seccomp}")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{name}: capabilities must drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities")
        if context.get("procMount", "Default") != "Default":
            problems.append(f"{name}: procMount")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            problems.append(f"{name}: hostPort")
        if context.get("windowsOptions", {}).get("hostProcess"):
            problems.append(f"{name}: hostProcess")
    return problems


@pytest.mark.parametrize("build", [nop_deployment, engine_deployment], ids=["nop", "engine"])
def test_every_container_passes_the_restricted_profile(build: Any) -> None:
    pod = build()["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    # Not part of the profile, but asked of every container here: nothing writes to the image.
    for container in pod.get("initContainers", []) + pod["containers"]:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (("securityContext", "allowPrivilegeEscalation"), True, "allowPrivilegeEscalation"),
        (("securityContext", "runAsNonRoot"), False, "runAsNonRoot"),
        (("securityContext", "capabilities"), {"drop": ["NET_RAW"]}, "drop ALL"),
        (("securityContext", "seccompProfile"), {"type": "Unconfined"}, "seccompProfile"),
        (("securityContext", "privileged"), True, "privileged"),
    ],
)
def test_the_restricted_checker_catches_each_rule(
    path: tuple[str, str], value: Any, problem: str
) -> None:
    pod = engine_deployment()["spec"]["template"]["spec"]
    pod["initContainers"][0][path[0]][path[1]] = value
    [found] = restricted_violations(pod)
    assert found.startswith("hardcoded-plugin:") and problem in found


# ----- Service and HPA -----


def test_service_sends_port_80_to_the_named_container_port() -> None:
    assert build_service(IDENTITY, SETTINGS) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "fraud-router",
            "namespace": "models",
            "labels": LABELS,
            "ownerReferences": [OWNER],
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {"turnout.dev/router": "fraud"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def test_hpa_scales_the_deployment_on_cpu_utilization() -> None:
    autoscaling = Autoscaling.model_validate(
        {"minReplicas": 2, "maxReplicas": 10, "targetCpuUtilizationPercentage": 65}
    )
    assert build_hpa(IDENTITY, autoscaling) == {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "fraud-router",
            "namespace": "models",
            "labels": LABELS,
            "ownerReferences": [OWNER],
        },
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "fraud-router",
            },
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 65},
                    },
                }
            ],
        },
    }


@pytest.mark.parametrize(
    ("resources", "workers"),
    [
        ({"limits": {"cpu": "4"}, "requests": {"cpu": "1"}}, 4),
        ({"limits": {"cpu": "2500m"}}, 3),
        ({"limits": {"cpu": "1.5"}}, 2),
        ({"limits": {"cpu": "100m"}}, 1),
        ({"limits": {"cpu": "2000m", "memory": "1Gi"}}, 2),
        ({"limits": {"memory": "1Gi"}, "requests": {"cpu": "3"}}, 3),
        ({"requests": {"memory": "1Gi"}}, None),
        (None, None),
        ({"limits": {"cpu": "1e3"}}, None),
    ],
)
def test_router_workers_follow_the_cpu_limit_then_the_request(
    resources: dict[str, Any] | None, workers: int | None
) -> None:
    assert router_workers(resources) == workers


def test_the_router_container_gets_the_workers_of_its_cpu_limit() -> None:
    def env(deployment: dict[str, Any]) -> dict[str, str]:
        [router] = deployment["spec"]["template"]["spec"]["containers"]
        return {item["name"]: item["value"] for item in router["env"]}

    spec = spec_with(NOP_SPEC, resources={"limits": {"cpu": "3"}, "requests": {"cpu": "1"}})
    deployment = build_deployment(IDENTITY, spec, nop_config(), None, SETTINGS)
    assert env(deployment)["ROUTER_WORKERS"] == "3"
    assert "ROUTER_WORKERS" not in env(
        build_deployment(IDENTITY, NOP_SPEC, nop_config(), None, SETTINGS)
    )


def test_drain_and_in_flight_grace_fit_in_the_termination_grace_period() -> None:
    from turnout_operator.builders.objects import DRAIN_SECONDS, TERMINATION_GRACE_SECONDS
    from turnout_router.settings import RouterSettings

    router_grace = RouterSettings.model_fields["shutdown_grace_seconds"].default
    assert DRAIN_SECONDS + router_grace < TERMINATION_GRACE_SECONDS
    assert RouterSettings.model_fields["drain_seconds"].default == DRAIN_SECONDS
