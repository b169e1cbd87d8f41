"""Rollout verdicts from Deployment objects written out by hand, as the API server reports them."""

from __future__ import annotations

from typing import Any

import pytest

from turnout_operator.rollout import RolloutPhase, rollout_state

pytestmark = pytest.mark.unit


def deployment(
    *,
    config_hash: str = "h1",
    replicas: int | None = 2,
    generation: int = 3,
    observed: int = 3,
    updated: int = 2,
    total: int = 2,
    available: int = 2,
    ready: int = 2,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "template": {"metadata": {"annotations": {"turnout.dev/config-hash": config_hash}}}
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "metadata": {"generation": generation},
        "spec": spec,
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "replicas": total,
            "availableReplicas": available,
            "readyReplicas": ready,
            "conditions": conditions or [],
        },
    }


def test_complete_when_all_new_pods_are_available() -> None:
    state = rollout_state(deployment(), "h1")
    assert state.phase == RolloutPhase.COMPLETE
    assert state.ready_replicas == 2
    assert state.message == "2 of 2 pods available"


def test_missing_deployment_is_progressing() -> None:
    assert rollout_state(None, "h1").phase == RolloutPhase.PROGRESSING


def test_other_versions_template_is_never_complete() -> None:
    state = rollout_state(deployment(config_hash="old"), "h1")
    assert state.phase == RolloutPhase.PROGRESSING
    assert state.message == "the Deployment is being updated"


def test_unobserved_generation_is_progressing() -> None:
    state = rollout_state(deployment(generation=4, observed=3), "h1")
    assert state.phase == RolloutPhase.PROGRESSING
    assert state.message == "waiting for the rollout to start"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"updated": 1}, "1 of 2 new pods created"),
        ({"total": 3}, "1 old pods still terminating"),
        ({"available": 1}, "1 of 2 new pods available"),
    ],
)
def test_partial_rollouts_say_what_they_wait_for(fields: dict[str, int], message: str) -> None:
    state = rollout_state(deployment(**fields), "h1")
    assert state.phase == RolloutPhase.PROGRESSING
    assert state.message == message


def test_progress_deadline_exceeded_fails_with_the_controllers_message() -> None:
    condition = {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "demo-router-5d9" has timed out progressing.',
    }
    state = rollout_state(deployment(updated=1, available=0, conditions=[condition]), "h1")
    assert state.phase == RolloutPhase.FAILED
    assert state.message == (
        'rollout made no progress: ReplicaSet "demo-router-5d9" has timed out progressing.'
    )


def test_other_progressing_reasons_do_not_fail() -> None:
    condition = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}
    state = rollout_state(deployment(updated=1, conditions=[condition]), "h1")
    assert state.phase == RolloutPhase.PROGRESSING


def test_zero_replicas_is_complete_and_absent_replicas_means_one() -> None:
    zero = deployment(replicas=0, updated=0, total=0, available=0, ready=0)
    assert rollout_state(zero, "h1").phase == RolloutPhase.COMPLETE
    one_missing = deployment(replicas=None, updated=0, total=0, available=0)
    assert rollout_state(one_missing, "h1").message == "0 of 1 new pods created"
