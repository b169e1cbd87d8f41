"""What the operator writes onto a Router besides its status: the finalizer, nothing else.

kopf would by default keep a copy of each Router's spec in an annotation and patch it
after every change; Turnout keeps none (see `turnout_operator.kopf_storage`), so a new
or changed Router costs one API write fewer, and deletion still works without it.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.integration.test_operator import EXPERIMENT_CONFIG, router_manifest
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.e2e


def kopf_fields(router: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields kopf's own requests (user agent kopf/...) have set on the Router."""
    return [
        entry.get("fieldsV1", {})
        for entry in router["metadata"].get("managedFields", [])
        if entry.get("manager") == "kopf"
    ]


def test_kopf_writes_only_the_finalizer_to_new_and_changed_routers(
    operators: OperatorHarness,
) -> None:
    h = operators
    h.start()
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    changed = copy.deepcopy(EXPERIMENT_CONFIG)
    changed["experiments"].append({"id": "002", "name": "exp_2"})
    h.patch_spec("demo", {"experimentEngine": {"config": changed}})
    h.wait_deployed("demo", 2)

    router = h.kubectl_json("get", "router", "demo", "--show-managed-fields")
    annotations = router["metadata"].get("annotations") or {}
    assert [key for key in annotations if key.startswith("turnout.dev/")] == []
    assert router["metadata"]["finalizers"] == ["turnout.dev/finalizer"]
    assert kopf_fields(router) == [
        {"f:metadata": {"f:finalizers": {".": {}, 'v:"turnout.dev/finalizer"': {}}}}
    ]

    # Deletion needs no stored copy: the finalizer is released and the Router goes.
    h.cluster.kubectl("delete", "router", "demo", "-n", h.namespace, "--timeout=180s")
    assert h.router("demo") == {}
