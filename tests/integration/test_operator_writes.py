"""What the operator writes onto a Router besides its status: nothing.

kopf would by default keep a copy of each Router's spec in an annotation and patch it
after every change, and add its finalizer to each new Router and remove it at deletion.
Turnout keeps no copy (see `turnout_operator.runtime.kopf_storage`) and needs no finalizer
(`turnout_operator.runtime.deletion`), so a new Router costs two API writes fewer and its
deletion one, and deletion still works without either.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from devenv.operator import wait_for
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


def test_kopf_writes_nothing_to_new_changed_and_deleted_routers(
    operators: OperatorHarness,
) -> None:
    h = operators
    # No sweep during the test: only the Router's DELETED event can mark its versions.
    h.start(env={"TURNOUT_RESYNC_SECONDS": "3600"})
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    changed = copy.deepcopy(EXPERIMENT_CONFIG)
    changed["experiments"].append({"id": "002", "name": "exp_2"})
    h.patch_spec("demo", {"experimentEngine": {"config": changed}})
    h.wait_deployed("demo", 2)

    router = h.kubectl_json("get", "router", "demo", "--show-managed-fields")
    annotations = router["metadata"].get("annotations") or {}
    assert [key for key in annotations if key.startswith("turnout.dev/")] == []
    assert "finalizers" not in router["metadata"]
    assert kopf_fields(router) == []

    # Deletion needs neither: the Router goes and its versions are marked.
    h.cluster.kubectl("delete", "router", "demo", "-n", h.namespace, "--timeout=60s")
    assert h.router("demo") == {}
    wait_for(
        lambda: (
            [(r["number"], r["status"]) for r in h.version_rows("demo")]
            == [(1, "undeployed"), (2, "undeployed")]
        ),
        60,
        "both versions marked undeployed",
        h.operator,
    )
