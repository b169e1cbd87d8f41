"""The Lease protocol's decisions and bodies, and the liveness and metrics arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from plugin_host import CallTimeoutError, PluginError, RemoteError
from turnout_operator.runtime.health import Progress, stall
from turnout_operator.runtime.leader import LeaseRecord, claimed, may_take, microtime, released
from turnout_operator.runtime.settings import OperatorSettings
from turnout_operator.telemetry.metrics import call_result, pass_result, phase_counts

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
EARLIER = "2026-03-01T11:00:00.000000Z"


def lease(holder: str, transitions: int = 4, duration: int = 15) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"namespace": "ops", "name": "turnout-operator", "resourceVersion": "77"},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": duration,
            "acquireTime": EARLIER,
            "renewTime": EARLIER,
            "leaseTransitions": transitions,
        },
    }


def record(holder: str, duration: int = 15) -> LeaseRecord:
    return LeaseRecord.from_body(lease(holder, duration=duration))


def test_microtime_is_rfc3339_with_microseconds_in_utc() -> None:
    assert microtime(NOW) == "2026-03-01T12:00:00.250000Z"


@pytest.mark.parametrize(
    ("current", "unchanged_for", "expected"),
    [
        (None, 0.0, True),  # no Lease yet
        (record(""), 0.0, True),  # released on a graceful stop
        (record("me_1"), 0.0, True),  # mine already
        (record("other_1"), 14.9, False),  # someone renewed it recently
        (record("other_1"), 15.0, True),  # unchanged for a whole duration: expired
        (record("other_1", duration=1), 1.0, True),
    ],
)
def test_may_take(current: LeaseRecord | None, unchanged_for: float, expected: bool) -> None:
    assert may_take(current, "me_1", unchanged_for) is expected


def test_creating_the_lease_starts_at_zero_transitions() -> None:
    body = claimed(None, namespace="ops", name="turnout-operator", me="a_1", now=NOW, duration=15)
    assert body["metadata"] == {"namespace": "ops", "name": "turnout-operator"}
    assert body["spec"] == {
        "holderIdentity": "a_1",
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-03-01T12:00:00.250000Z",
        "renewTime": "2026-03-01T12:00:00.250000Z",
        "leaseTransitions": 0,
    }


def test_taking_it_over_counts_a_transition_and_keeps_the_resource_version() -> None:
    body = claimed(
        lease("b_2"), namespace="ops", name="turnout-operator", me="a_1", now=NOW, duration=15
    )
    assert body["metadata"]["resourceVersion"] == "77"
    assert body["spec"]["holderIdentity"] == "a_1"
    assert body["spec"]["leaseTransitions"] == 5
    assert body["spec"]["acquireTime"] == microtime(NOW)


def test_renewing_keeps_acquire_time_and_transitions() -> None:
    body = claimed(
        lease("a_1"), namespace="ops", name="turnout-operator", me="a_1", now=NOW, duration=15
    )
    assert body["spec"]["acquireTime"] == EARLIER
    assert body["spec"]["renewTime"] == microtime(NOW)
    assert body["spec"]["leaseTransitions"] == 4


def test_durations_round_up_to_whole_seconds() -> None:
    body = claimed(None, namespace="ops", name="l", me="a", now=NOW, duration=2.5)
    assert body["spec"]["leaseDurationSeconds"] == 3


def test_release_empties_the_holder_and_shortens_the_duration() -> None:
    body = released(lease("a_1"), NOW)
    assert body["metadata"]["resourceVersion"] == "77"
    assert body["spec"]["holderIdentity"] == ""
    assert body["spec"]["leaseDurationSeconds"] == 1
    assert body["spec"]["leaseTransitions"] == 4
    assert may_take(LeaseRecord.from_body(body), "b_2", 0.0)


# --- settings ---


def test_lease_namespace_falls_back_to_the_pod_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNOUT_DATABASE_URL", "postgresql://x@y/z")
    monkeypatch.delenv("TURNOUT_LEASE_NAMESPACE", raising=False)
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    assert OperatorSettings().lease_namespace == "default"  # type: ignore[call-arg]
    monkeypatch.setenv("POD_NAMESPACE", "turnout-system")
    assert OperatorSettings().lease_namespace == "turnout-system"  # type: ignore[call-arg]
    monkeypatch.setenv("TURNOUT_LEASE_NAMESPACE", "elsewhere")
    assert OperatorSettings().lease_namespace == "elsewhere"  # type: ignore[call-arg]


def test_identity_is_the_pod_name_and_the_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNOUT_DATABASE_URL", "postgresql://x@y/z")
    monkeypatch.delenv("TURNOUT_POD_NAME", raising=False)
    monkeypatch.delenv("POD_NAME", raising=False)
    monkeypatch.setenv("HOSTNAME", "turnout-operator-7d9f-abcde")
    settings = OperatorSettings()  # type: ignore[call-arg]
    assert settings.identity().startswith("turnout-operator-7d9f-abcde_")
    assert settings.identity().rsplit("_", 1)[1].isdigit()


def test_the_renew_deadline_must_be_shorter_than_the_lease() -> None:
    with pytest.raises(ValidationError, match="shorter than"):
        OperatorSettings(
            database_url=SecretStr("postgresql://x@y/z"),
            lease_duration_seconds=10,
            lease_renew_deadline_seconds=10,
        )


# --- liveness ---


def test_no_passes_due_is_healthy_however_long_it_was_quiet() -> None:
    assert stall(waiting=[], running=[], last_finished=0.0, now=1000.0, threshold=60) is None


def test_a_pass_running_past_the_limit_is_a_wedge() -> None:
    problem = stall(waiting=[], running=[10.0], last_finished=95.0, now=100.0, threshold=60)
    assert problem is not None and "running for 90s" in problem
    assert stall(waiting=[], running=[50.0], last_finished=0.0, now=100.0, threshold=60) is None


def test_waiting_passes_are_a_wedge_only_when_none_finish() -> None:
    # Busy: passes wait long, but others keep finishing.
    assert stall(waiting=[0.0], running=[], last_finished=95.0, now=100.0, threshold=60) is None
    problem = stall(waiting=[0.0], running=[], last_finished=30.0, now=100.0, threshold=60)
    assert problem is not None and "waited 100s" in problem


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_follows_a_pass_from_due_to_finished() -> None:
    clock = Clock()
    progress = Progress(clock)
    with progress.due() as running:
        clock.now = 50.0
        assert progress.summary() == {"waiting": 1, "running": 0}
        assert progress.problem(40) is not None  # waited 50 s, nothing finished
        running()
        assert progress.summary() == {"waiting": 0, "running": 1}
        assert progress.problem(40) is None  # it has its slot since just now
        clock.now = 95.0
        assert progress.problem(40) is not None  # ran 45 s
    assert progress.summary() == {"waiting": 0, "running": 0}
    assert progress.last_finished == 95.0
    assert progress.problem(40) is None


# --- metrics arithmetic ---


def test_pass_results() -> None:
    assert pass_result(None, 5.0, failed=False) == "ok"
    assert pass_result(30.0, 5.0, failed=False) == "ok"  # a rollout poll
    assert pass_result(5.0, 5.0, failed=False) == "retry"
    assert pass_result(None, 5.0, failed=True) == "error"


def test_call_results() -> None:
    assert call_result(None) == "ok"
    assert call_result(RemoteError("Plugin.Configure", "no such experiment")) == "remote_error"
    assert call_result(CallTimeoutError("slow")) == "timeout"
    assert call_result(PluginError("gone")) == "error"


def test_phase_counts() -> None:
    assert phase_counts(["Deployed", "Pending", "Deployed"]) == {"Deployed": 2, "Pending": 1}
