"""The chart's Router rules where the OwnerReferencesPermissionEnforcement admission
plugin is enabled (OpenShift enables it; upstream Kubernetes does not by default).

Routers carry no finalizer, yet the chart keeps `update` on `routers/finalizers`: the
operator's children name their Router with `blockOwnerDeletion: true`, which that
plugin allows only to who may update the owner's finalizers. A control plane of the
test's own runs with the plugin; the chart's rendered Role and RoleBinding are
applied, and a child is created under the chart's ServiceAccount, then again with
the Role lacking that one rule.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devenv import binaries as binaries_module
from devenv.cluster import DEFAULT_PROFILE, Cluster, start_cluster
from devenv.procs import ProcessRegistry
from tests.integration.test_operator import router_manifest
from tests.substrate.chart import render
from tests.substrate.fixtures import ROUTER_CRD_FILE, ROUTER_CRD_NAME

pytestmark = pytest.mark.cluster

NAMESPACE = "owners"
SERVICE_ACCOUNT = "turnout"  # the chart's fullname for release "turnout"
PLUGIN = "OwnerReferencesPermissionEnforcement"


@pytest.fixture
def enforcing_cluster(tmp_path: Path) -> Iterator[Cluster]:
    registry = ProcessRegistry()
    profile = dataclasses.replace(
        DEFAULT_PROFILE,
        name="owner-references",
        apiserver_flags=(f"--enable-admission-plugins={PLUGIN}",),
    )
    try:
        cluster = start_cluster(registry, binaries_module.locate(), tmp_path / "cluster", profile)
        cluster.kubectl("apply", "-f", str(ROUTER_CRD_FILE))
        cluster.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", f"crd/{ROUTER_CRD_NAME}"
        )
        cluster.kubectl("create", "namespace", NAMESPACE)
        cluster.kubectl("create", "serviceaccount", SERVICE_ACCOUNT, "-n", NAMESPACE)
        yield cluster
    finally:
        registry.stop_all()


def child(name: str, router: dict[str, Any]) -> dict[str, Any]:
    """A ConfigMap owned by the Router as the operator's children are (builders.objects)."""
    meta = router["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "ownerReferences": [
                {
                    "apiVersion": router["apiVersion"],
                    "kind": "Router",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": {"k": "v"},
    }


def create_as_operator(cluster: Cluster, body: dict[str, Any]) -> Any:
    return cluster.kubectl(
        "create",
        f"--as=system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}",
        "-f",
        "-",
        input=json.dumps(body),
        check=False,
    )


def test_the_charts_role_lets_the_operator_set_block_owner_deletion(
    enforcing_cluster: Cluster, tmp_path: Path
) -> None:
    cluster = enforcing_cluster
    rendered = render(
        {"database": {"existingSecret": {"name": "turnout-db"}}},
        tmp_path / "helm",
        namespace=NAMESPACE,
    )
    role = next(r for r in rendered.all("Role") if r["metadata"]["name"].endswith("-routers"))
    binding = next(
        b for b in rendered.all("RoleBinding") if b["metadata"]["name"].endswith("-routers")
    )
    assert binding["subjects"][0]["name"] == SERVICE_ACCOUNT
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([role, binding]))

    cluster.kubectl(
        "apply", "-n", NAMESPACE, "-f", "-", input=json.dumps(router_manifest(engine="nop"))
    )
    router = json.loads(
        cluster.kubectl("get", "router", "demo", "-n", NAMESPACE, "-o", "json").stdout
    )

    allowed = create_as_operator(cluster, child("with-the-chart-role", router))
    assert allowed.returncode == 0, allowed.stderr

    # The same Role without `update` on routers/finalizers: the plugin refuses.
    trimmed = {
        **role,
        "rules": [r for r in role["rules"] if "routers/finalizers" not in r["resources"]],
    }
    assert len(trimmed["rules"]) == len(role["rules"]) - 1
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(trimmed))
    refused = create_as_operator(cluster, child("without-the-finalizers-rule", router))
    assert refused.returncode != 0
    assert "cannot set blockOwnerDeletion" in refused.stderr
