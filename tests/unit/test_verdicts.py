"""Every way a pass ends, as the user reads it: phase, Ready, and what keeps serving."""

from __future__ import annotations

import pytest

from turnout_operator.api import Phase, RouterStatus
from turnout_operator.reconcile import verdicts
from turnout_operator.reconcile.rollout import RolloutPhase, RolloutState
from turnout_operator.reconcile.status import Check, Event

pytestmark = pytest.mark.unit

SERVING = RouterStatus(
    phase=Phase.DEPLOYED,
    current_version=3,
    deployed_version=3,
    endpoint="http://r-router.ns.svc.cluster.local/v1/predict",
    replicas=2,
)
NEW = RouterStatus()
RUNNING = Check(True, "PluginRunning", "engine 'e' is running")


def test_ready_while_an_earlier_version_serves() -> None:
    assert verdicts.ready_while(3, "Why", "it broke") == Check(
        True, "PreviousVersionServing", "version 3 keeps serving; it broke"
    )
    assert verdicts.ready_while(None, "Why", "it broke") == Check(False, "Why", "it broke")


@pytest.mark.parametrize(
    ("name", "running", "error", "expected"),
    [
        (
            None,
            False,
            None,
            Check(True, "Builtin", "nop: no experiment; requests go to spec.fallbackRoute"),
        ),
        ("e", True, "old", Check(True, "PluginRunning", "engine 'e' is running")),
        (
            "e",
            False,
            "exit 3",
            Check(
                False,
                "PluginDown",
                "engine 'e' is not running: exit 3; existing versions keep serving, new ones wait for it",
            ),
        ),
        (
            "e",
            False,
            None,
            Check(
                False,
                "PluginDown",
                "engine 'e' is not running: starting; existing versions keep serving, new ones wait for it",
            ),
        ),
    ],
)
def test_engine_check(name: str | None, running: bool, error: str | None, expected: Check) -> None:
    assert verdicts.engine_check(name, running, error) == expected


def test_a_rejected_spec_keeps_the_serving_version_and_its_endpoint() -> None:
    verdict = verdicts.rejected(SERVING, "UnknownEngine", "engine 'x' is not configured")
    assert verdict.phase == Phase.FAILED
    assert verdict.ready == Check(
        True, "PreviousVersionServing", "version 3 keeps serving; engine 'x' is not configured"
    )
    assert verdict.config_valid == Check(False, "UnknownEngine", "engine 'x' is not configured")
    assert verdict.progressing.status is False
    assert verdict.engine_available.status is None
    assert (verdict.current_version, verdict.deployed_version) == (3, 3)
    assert verdict.endpoint == SERVING.endpoint
    assert verdict.replicas == 2


def test_a_rejected_first_spec_has_no_endpoint() -> None:
    verdict = verdicts.rejected(NEW, "InvalidSpec", "spec.routes: bad")
    assert verdict.ready == Check(False, "InvalidSpec", "spec.routes: bad")
    assert verdict.endpoint is None
    assert verdict.deployed_version is None


def test_engine_down_is_pending_and_retried_while_the_old_version_serves() -> None:
    verdict = verdicts.engine_down(SERVING, "e", "exit 3")
    message = "engine 'e' is unavailable: exit 3; retrying"
    assert verdict.phase == Phase.PENDING
    assert verdict.message == message
    assert verdict.progressing == Check(True, "EngineUnavailable", message)
    assert verdict.engine_available == Check(False, "PluginDown", message)
    assert verdict.config_valid == Check(None, "EngineUnavailable", "not checked yet: " + message)
    assert verdict.ready.reason == "PreviousVersionServing"
    assert verdict.deployed_version == 3


def test_database_down_on_a_new_router() -> None:
    verdict = verdicts.database_down(NEW, "connection refused")
    assert verdict.phase == Phase.PENDING
    assert verdict.ready == Check(
        False,
        "DatabaseUnavailable",
        "versions database unavailable: connection refused; retrying",
    )
    assert verdict.engine_available == Check(None, "NotChecked", "waiting for the database")


def test_apply_failed_names_the_version_or_the_change() -> None:
    verdict = verdicts.apply_failed(SERVING, 4, "http://x", RUNNING, "exceeded quota")
    assert verdict.message == "the API server refused version 4's objects: exceeded quota"
    assert verdict.current_version == 4
    assert verdict.ready.reason == "PreviousVersionServing"
    suspend = verdicts.apply_failed(SERVING, None, None, RUNNING, "forbidden")
    assert suspend.message == "the API server refused the change: forbidden"
    assert suspend.current_version == 3


def test_deployed_and_deploying() -> None:
    done = RolloutState(RolloutPhase.COMPLETE, "2 of 2 pods available", 2)
    events = (Event("Normal", "VersionDeployed", "version 4 is serving"),)
    verdict = verdicts.deployed(4, "http://x", done, RUNNING, events)
    assert verdict.phase == Phase.DEPLOYED
    assert verdict.message == "version 4 is serving at http://x"
    assert verdict.ready == Check(True, "Deployed", "version 4: 2 of 2 pods available")
    assert verdict.progressing == Check(False, "RolloutComplete", "2 of 2 pods available")
    assert (verdict.current_version, verdict.deployed_version, verdict.replicas) == (4, 4, 2)
    assert verdict.events == events

    rolling = RolloutState(RolloutPhase.PROGRESSING, "0 of 2 new pods available", 0)
    first = verdicts.deploying(1, "http://x", rolling, NEW, RUNNING, ())
    assert first.ready == Check(False, "Deploying", "version 1: 0 of 2 new pods available")
    assert first.deployed_version is None
    later = verdicts.deploying(4, "http://x", rolling, SERVING, RUNNING, ())
    assert later.ready == Check(True, "PreviousVersionServing", "version 3 serves meanwhile")
    assert later.progressing == Check(True, "RollingOut", "version 4: 0 of 2 new pods available")
    assert (later.current_version, later.deployed_version) == (4, 3)


def test_a_failed_rollout_with_and_without_a_version_to_restore() -> None:
    verdict = verdicts.rollout_failed(4, "deadline", 3, SERVING, "http://x", RUNNING)
    assert verdict.message == (
        "version 4 failed to roll out: deadline; version 3 is serving again. Change the spec to retry."
    )
    assert verdict.ready.reason == "PreviousVersionServing"
    assert verdict.progressing.reason == "RolloutFailed"
    assert (verdict.current_version, verdict.deployed_version, verdict.endpoint) == (
        4,
        3,
        "http://x",
    )
    first = verdicts.rollout_failed(1, "deadline", None, NEW, "http://x", RUNNING)
    assert first.message.endswith("no earlier version to fall back to. Change the spec to retry.")
    assert first.ready.status is False and first.ready.reason == "RolloutFailed"
    assert first.endpoint is None


def test_suspended() -> None:
    verdict = verdicts.suspended(SERVING)
    assert verdict.phase == Phase.UNDEPLOYED
    # Ready as asked: kstatus (Flux) reads it Current, not InProgress forever.
    assert verdict.ready == Check(True, "Suspended", verdicts.SUSPENDED_MESSAGE)
    assert (verdict.current_version, verdict.deployed_version, verdict.endpoint) == (3, None, None)
    assert verdict.replicas == 0
