"""A version replaced before it rolled out ends `undeployed`, never `pending` for good.

Version 2 asks for more CPU than any fake node has, so its pods stay Pending and
its row stays `pending` while the spec moves on; rows are read with plain SQL.
"""

from __future__ import annotations

import pytest

from devenv.operator import wait_for
from tests.integration.test_operator import router_manifest
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.e2e

UNSCHEDULABLE = {"resources": {"requests": {"cpu": "5000"}}}


def _stuck_at_version_2(h: OperatorHarness) -> None:
    h.start()
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    h.patch_spec("demo", UNSCHEDULABLE)
    h.wait_status("demo", lambda s: s.get("currentVersion") == 2, "version 2 recorded")
    assert [(r["number"], r["status"]) for r in h.version_rows("demo")] == [
        (1, "deployed"),
        (2, "pending"),
    ]


def _rows_become(h: OperatorHarness, expected: list[tuple[int, str]]) -> None:
    def rows() -> list[tuple[int, str]]:
        return [(r["number"], r["status"]) for r in h.version_rows("demo")]

    wait_for(lambda: rows() == expected, 60, f"version rows {expected}", h.operator)


def test_a_revert_before_the_rollout_completed_undeploys_the_replaced_version(
    operators: OperatorHarness,
) -> None:
    h = operators
    _stuck_at_version_2(h)
    h.patch_spec("demo", {"resources": None})  # back to version 1's spec
    h.wait_deployed("demo", 1)
    _rows_become(h, [(1, "deployed"), (2, "undeployed")])


def test_a_newer_version_deployed_undeploys_the_one_that_never_rolled_out(
    operators: OperatorHarness,
) -> None:
    h = operators
    _stuck_at_version_2(h)
    h.patch_spec("demo", {"resources": {"requests": {"cpu": "100m"}}})
    h.wait_deployed("demo", 3)
    _rows_become(h, [(1, "undeployed"), (2, "undeployed"), (3, "deployed")])


def test_a_restarted_operator_settles_rows_a_killed_one_left_pending(
    operators: OperatorHarness,
) -> None:
    h = operators
    _stuck_at_version_2(h)
    # Stop the operator, revert the spec while none runs, start a new one: it finds
    # version 1 deployed and serving, and only the store knows version 2 is pending.
    h.operator.stop()
    h.patch_spec("demo", {"resources": None})
    h.start(workdir=h.workdir / "second")
    h.wait_deployed("demo", 1)
    _rows_become(h, [(1, "deployed"), (2, "undeployed")])
