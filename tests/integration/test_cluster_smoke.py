"""The test control plane behaves like a real cluster in the ways Turnout relies on.

If one of these fails, every operator integration test would fail in a confusing
way; these say plainly which piece of the substrate is broken.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes.client import ApiException

from devenv.cluster import FAKE_NODE_NAMES, Cluster
from devenv.procs import wait_until

pytestmark = pytest.mark.cluster

# Deadlines for polling only; nothing here asserts on how long something took.
ROLLOUT_SECONDS = 120.0
DELETE_SECONDS = 120.0


def _not_found(read: Any) -> bool:
    """True once ``read()`` answers 404."""
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def _config_map(
    name: str, owner_refs: list[k8s_client.V1OwnerReference] | None = None
) -> k8s_client.V1ConfigMap:
    return k8s_client.V1ConfigMap(
        metadata=k8s_client.V1ObjectMeta(name=name, owner_references=owner_refs)
    )


def test_apiserver_reports_the_pinned_version(cluster: Cluster) -> None:
    pinned = cluster.binaries.versions()["kubernetes"]
    version = cluster.get_json("/version")
    assert version["gitVersion"] == pinned
    assert (version["major"], version["minor"]) == ("1", pinned.split(".")[1])


def test_deployment_becomes_available_on_fake_nodes(
    kube_api: k8s_client.ApiClient, namespace: str
) -> None:
    apps = k8s_client.AppsV1Api(kube_api)
    labels = {"app": "smoke"}
    apps.create_namespaced_deployment(
        namespace,
        k8s_client.V1Deployment(
            metadata=k8s_client.V1ObjectMeta(name="smoke"),
            spec=k8s_client.V1DeploymentSpec(
                replicas=2,
                selector=k8s_client.V1LabelSelector(match_labels=labels),
                template=k8s_client.V1PodTemplateSpec(
                    metadata=k8s_client.V1ObjectMeta(labels=labels),
                    # kwok never pulls or runs the image; it only has to be valid.
                    spec=k8s_client.V1PodSpec(
                        containers=[
                            k8s_client.V1Container(name="app", image="example.invalid/smoke:1")
                        ]
                    ),
                ),
            ),
        ),
    )

    def available() -> bool:
        status = apps.read_namespaced_deployment_status("smoke", namespace).status
        return status is not None and status.available_replicas == 2

    wait_until("Deployment smoke to have 2 available replicas", available, timeout=ROLLOUT_SECONDS)
    pods = k8s_client.CoreV1Api(kube_api).list_namespaced_pod(namespace, label_selector="app=smoke")
    assert len(pods.items) == 2
    assert {pod.spec.node_name for pod in pods.items if pod.spec} <= set(FAKE_NODE_NAMES)
    assert [pod.status.phase for pod in pods.items if pod.status] == ["Running", "Running"]


def test_deleting_an_owner_cascades_to_its_dependents(
    kube_api: k8s_client.ApiClient, namespace: str
) -> None:
    core = k8s_client.CoreV1Api(kube_api)
    owner = core.create_namespaced_config_map(namespace, _config_map("owner"))
    assert owner.metadata is not None and owner.metadata.uid
    owner_ref = k8s_client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid
    )
    core.create_namespaced_config_map(namespace, _config_map("child", owner_refs=[owner_ref]))

    core.delete_namespaced_config_map("owner", namespace)

    wait_until(
        "the garbage collector to delete ConfigMap child",
        lambda: _not_found(lambda: core.read_namespaced_config_map("child", namespace)),
        timeout=DELETE_SECONDS,
    )


def test_a_namespace_can_be_deleted(kube_api: k8s_client.ApiClient, namespace: str) -> None:
    core = k8s_client.CoreV1Api(kube_api)
    doomed = f"{namespace}-gone"
    core.create_namespace(k8s_client.V1Namespace(metadata=k8s_client.V1ObjectMeta(name=doomed)))
    core.create_namespaced_config_map(doomed, _config_map("content"))

    core.delete_namespace(doomed)

    wait_until(
        f"namespace {doomed} to be gone",
        lambda: _not_found(lambda: core.read_namespace(doomed)),
        timeout=DELETE_SECONDS,
    )


def _token_client(cluster: Cluster, token: str) -> k8s_client.ApiClient:
    """A client that authenticates with a bearer token only (no admin certificate)."""
    configuration = k8s_client.Configuration()
    configuration.host = cluster.server
    configuration.ssl_ca_cert = str(cluster.pki.ca_cert)
    configuration.api_key = {"authorization": token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    return k8s_client.ApiClient(configuration)


def _status_listing_pods(api: k8s_client.ApiClient, namespace: str) -> int:
    try:
        k8s_client.CoreV1Api(api).list_namespaced_pod(namespace)
    except ApiException as exc:
        return int(exc.status)
    return 200


def test_rbac_is_enforced_for_service_account_tokens(
    cluster: Cluster, kube_api: k8s_client.ApiClient, namespace: str
) -> None:
    core = k8s_client.CoreV1Api(kube_api)
    rbac = k8s_client.RbacAuthorizationV1Api(kube_api)
    core.create_namespaced_service_account(
        namespace, k8s_client.V1ServiceAccount(metadata=k8s_client.V1ObjectMeta(name="reader"))
    )
    token_request = core.create_namespaced_service_account_token(
        "reader",
        namespace,
        k8s_client.AuthenticationV1TokenRequest(
            spec=k8s_client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
        ),
    )
    token = token_request.status.token if token_request.status else None
    assert token

    with _token_client(cluster, token) as reader:
        assert _status_listing_pods(reader, namespace) == 403

        rbac.create_namespaced_role(
            namespace,
            k8s_client.V1Role(
                metadata=k8s_client.V1ObjectMeta(name="pod-reader"),
                rules=[
                    k8s_client.V1PolicyRule(
                        api_groups=[""], resources=["pods"], verbs=["get", "list"]
                    )
                ],
            ),
        )
        rbac.create_namespaced_role_binding(
            namespace,
            k8s_client.V1RoleBinding(
                metadata=k8s_client.V1ObjectMeta(name="reader-reads-pods"),
                role_ref=k8s_client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="Role", name="pod-reader"
                ),
                subjects=[
                    k8s_client.RbacV1Subject(
                        kind="ServiceAccount", name="reader", namespace=namespace
                    )
                ],
            ),
        )
        # The authorizer's informer sees the binding shortly after it is written.
        wait_until(
            "the RoleBinding to grant listing pods",
            lambda: _status_listing_pods(reader, namespace) == 200,
            timeout=30.0,
        )


def test_built_kubectl_talks_to_the_cluster(cluster: Cluster) -> None:
    pinned = cluster.binaries.versions()["kubernetes"]
    versions = json.loads(cluster.kubectl("version", "--output=json").stdout)
    assert versions["clientVersion"]["gitVersion"] == pinned
    assert versions["serverVersion"]["gitVersion"] == pinned

    nodes = cluster.kubectl("get", "nodes", "--output=name").stdout.split()
    assert {f"node/{name}" for name in FAKE_NODE_NAMES} <= set(nodes)


def test_built_helm_runs_against_the_cluster(cluster: Cluster) -> None:
    pinned = cluster.binaries.versions()["helm"]
    assert cluster.helm("version", "--short").stdout.strip().startswith(pinned)
    # Listing releases goes through the apiserver (helm stores releases as Secrets).
    assert json.loads(cluster.helm("list", "--all-namespaces", "--output=json").stdout) == []
