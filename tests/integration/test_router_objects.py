"""The built objects of a Router, applied to a real API server.

Checks what only the API server can say: that it accepts the objects as they
are built, in a namespace enforcing the Pod Security "restricted" profile, and
that its defaulting and normalizing do not make `drift.differs` report a change
that nobody made, while a real edit is reported.

The Router CRD is not installed here; a ConfigMap named like the Router stands
in as the owner (the ownerReference carries its apiVersion, kind and uid), which
is enough for the API server to accept and keep the reference.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from devenv.cluster import Cluster
from devenv.procs import wait_until
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
)
from turnout_operator.builders.drift import differs

pytestmark = pytest.mark.cluster

ROLLOUT_SECONDS = 120.0
SETTINGS = BuildSettings(router_image="registry.example/turnout:0.1.0")
ENGINE = EngineDeployment(
    name="hardcoded",
    plugin_image="registry.example/hardcoded-plugin:1.0",
    liveness_period_seconds=5.0,
)
SPEC = RouterSpec.model_validate(
    {
        "routes": [
            {"id": "control", "endpoint": "http://model-a.models:8080/predict"},
            {"id": "treatment-a", "endpoint": "http://model-b.models:8080/predict"},
        ],
        "fallbackRoute": "control",
        "routeNamePath": "route_name",
        "experimentEngine": {"type": "hardcoded", "config": {"experiment": "exp_1"}},
        "replicas": 2,
        # Written in forms the API server rewrites: 500m, 1Gi and 1.
        "resources": {
            "requests": {"cpu": "0.5", "memory": "1024Mi"},
            "limits": {"cpu": "1000m", "memory": "1024Mi"},
        },
    }
)
AUTOSCALING = Autoscaling.model_validate({"minReplicas": 2, "maxReplicas": 4})


def apply(cluster: Cluster, obj: dict[str, Any], *, force: bool = False) -> str:
    """Server-side apply as the operator would; returns kubectl's stderr (its warnings)."""
    flags = ["--force-conflicts"] if force else []
    result = cluster.kubectl(
        "apply", "--server-side", "--field-manager=turnout", *flags, "-f", "-",
        input=json.dumps(obj),
    )  # fmt: skip
    return result.stderr


def read(cluster: Cluster, obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the API server has it, in the version it was applied in."""
    group, _, version = obj["apiVersion"].rpartition("/")
    # kind.version.group pins the version; the core group (v1 only) is named by kind alone.
    resource = f"{obj['kind'].lower()}.{version}.{group}" if group else obj["kind"].lower()
    meta = obj["metadata"]
    output = cluster.kubectl(
        "get", resource, meta["name"], "--namespace", meta["namespace"], "--output=json"
    ).stdout
    actual: dict[str, Any] = json.loads(output)
    return actual


def with_owner(obj: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(obj)
    [reference] = result["metadata"]["ownerReferences"]
    result["metadata"]["ownerReferences"] = [{**reference, **owner}]
    return result


@pytest.fixture
def restricted_namespace(cluster: Cluster, namespace: str) -> str:
    # enforce rejects pods; warn makes the API server warn about Deployments too,
    # since enforce does not look at workload resources.
    cluster.kubectl(
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    )
    return namespace


@pytest.fixture
def objects(cluster: Cluster, restricted_namespace: str) -> list[dict[str, Any]]:
    """ConfigMap, Service, Deployment and HPA of Router `fraud`, owned by a stand-in."""
    owner = json.loads(
        cluster.kubectl(
            "create", "configmap", "fraud", "--namespace", restricted_namespace, "--output=json"
        ).stdout
    )
    identity = RouterIdentity(
        namespace=restricted_namespace, name="fraud", uid=owner["metadata"]["uid"]
    )
    config = build_router_config(identity, SPEC, 3, ENGINE, {"treatment": "a"}, SETTINGS)
    stand_in = {"apiVersion": "v1", "kind": "ConfigMap"}
    return [
        with_owner(built, stand_in)
        for built in (
            build_configmap(identity, config),
            build_service(identity, SETTINGS),
            build_deployment(identity, SPEC, config, ENGINE, SETTINGS),
            build_hpa(identity, AUTOSCALING),
        )
    ]


def test_the_api_server_accepts_the_objects_without_warnings(
    cluster: Cluster, objects: list[dict[str, Any]]
) -> None:
    for obj in objects:
        assert apply(cluster, obj) == "", obj["kind"]
        assert (
            read(cluster, obj)["metadata"]["ownerReferences"] == obj["metadata"]["ownerReferences"]
        )


def test_a_pod_from_the_template_is_admitted_under_restricted(
    cluster: Cluster, objects: list[dict[str, Any]], restricted_namespace: str
) -> None:
    [deployment] = [obj for obj in objects if obj["kind"] == "Deployment"]
    pod_spec = deployment["spec"]["template"]["spec"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "router", "namespace": restricted_namespace},
        "spec": pod_spec,
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(pod))

    # The namespace really enforces: the same pod with one rule broken is refused.
    broken = copy.deepcopy(pod)
    broken["metadata"]["name"] = "broken"
    del broken["spec"]["initContainers"][0]["securityContext"]["allowPrivilegeEscalation"]
    refused = cluster.kubectl("create", "-f", "-", input=json.dumps(broken), check=False)
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted' in refused.stderr


def test_the_deployment_rolls_out_under_restricted(
    cluster: Cluster, objects: list[dict[str, Any]], restricted_namespace: str
) -> None:
    for obj in objects:
        apply(cluster, obj)
    [deployment] = [obj for obj in objects if obj["kind"] == "Deployment"]

    def available() -> bool:
        status = read(cluster, deployment).get("status", {})
        return bool(status.get("availableReplicas") == 2)

    # The ReplicaSet controller creates the pods, so Pod Security enforce judges them.
    wait_until("the router Deployment to have 2 available pods", available, timeout=ROLLOUT_SECONDS)
    assert not differs(deployment, read(cluster, deployment))


def test_drift_is_only_what_someone_changed(
    cluster: Cluster, objects: list[dict[str, Any]]
) -> None:
    for obj in objects:
        apply(cluster, obj)
    deployment = objects[2]

    actual = read(cluster, deployment)
    [router] = actual["spec"]["template"]["spec"]["containers"]
    # The server did rewrite the quantities; differs must see through that.
    assert router["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert router["resources"]["limits"]["cpu"] == "1"
    for obj in objects:
        assert not differs(obj, read(cluster, obj)), obj["kind"]

    namespace = ["--namespace", deployment["metadata"]["namespace"]]
    cluster.kubectl("scale", "deployment/fraud-router", "--replicas=3", *namespace)
    cluster.kubectl(
        "patch", "service", "fraud-router", "--type=json", *namespace,
        "--patch", '[{"op": "replace", "path": "/spec/ports/0/targetPort", "value": 9090}]',
    )  # fmt: skip
    # Not `port`: it is half of the ports list's key, so a changed port is another
    # element, which a later apply adds next to the edited one instead of repairing.
    cluster.kubectl(
        "patch", "hpa", "fraud-router", "--type=merge", *namespace,
        "--patch", '{"spec": {"maxReplicas": 9}}',
    )  # fmt: skip
    cluster.kubectl(
        "label", "configmap", "fraud-router-v3", "turnout.dev/version=4", "--overwrite", *namespace
    )
    for obj in objects:
        assert differs(obj, read(cluster, obj)), obj["kind"]

    # Applying again repairs every edit, and nothing is reported afterwards. The
    # editors now own the fields they changed, so taking them back needs force.
    for obj in objects:
        apply(cluster, obj, force=True)
    for obj in objects:
        assert not differs(obj, read(cluster, obj)), obj["kind"]
