"""Rollout verdicts from Deployment objects written out by hand, as the API server reports them."""

from __future__ import annotations

from typing import Any

import pytest

from turnout_operator.reconcile.rollout import RolloutPhase, RolloutState, rollout_state

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
    assert rollout_state(None, "h1") == RolloutState(
        RolloutPhase.PROGRESSING, "waiting for the Deployment", 0
    )


def api_deployment(status: dict[str, Any], replicas: int = 2) -> dict[str, Any]:
    """A Deployment as the API server returns it: zero counts and empty lists are omitted."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "demo-router", "generation": 1},
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {
                    "labels": {"app": "demo-router"},
                    "annotations": {"turnout.dev/config-hash": "h1"},
                }
            },
        },
        "status": status,
    }


AVAILABLE_FALSE = {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}
PROGRESSING_NEW_RS = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated"}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # Straight after creation: the controller has not looked at it yet.
        ({}, RolloutState(RolloutPhase.PROGRESSING, "waiting for the rollout to start", 0)),
        # Observed, no ReplicaSet scaled yet.
        (
            {"observedGeneration": 1},
            RolloutState(RolloutPhase.PROGRESSING, "0 of 2 new pods created", 0),
        ),
        # Pods created, none ready: readyReplicas and availableReplicas are absent.
        (
            {
                "observedGeneration": 1,
                "replicas": 2,
                "updatedReplicas": 2,
                "unavailableReplicas": 2,
                "conditions": [AVAILABLE_FALSE, PROGRESSING_NEW_RS],
            },
            RolloutState(RolloutPhase.PROGRESSING, "0 of 2 new pods available", 0),
        ),
        (
            {
                "observedGeneration": 1,
                "replicas": 2,
                "updatedReplicas": 2,
                "readyReplicas": 1,
                "availableReplicas": 1,
                "unavailableReplicas": 1,
                "conditions": [AVAILABLE_FALSE, PROGRESSING_NEW_RS],
            },
            RolloutState(RolloutPhase.PROGRESSING, "1 of 2 new pods available", 1),
        ),
    ],
)
def test_a_new_deployment_as_the_api_server_reports_it(
    status: dict[str, Any], expected: RolloutState
) -> None:
    assert rollout_state(api_deployment(status), "h1") == expected


def test_scaled_to_zero_as_the_api_server_reports_it_is_complete() -> None:
    status = {
        "observedGeneration": 1,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ],
    }
    assert rollout_state(api_deployment(status, replicas=0), "h1") == RolloutState(
        RolloutPhase.COMPLETE, "0 of 0 pods available", 0
    )


def test_a_template_without_annotations_is_not_this_version() -> None:
    made = api_deployment({"observedGeneration": 1, "readyReplicas": 2})
    del made["spec"]["template"]["metadata"]["annotations"]
    assert rollout_state(made, "h1") == RolloutState(
        RolloutPhase.PROGRESSING, "the Deployment is being updated", 2
    )


def test_other_versions_template_is_never_complete() -> None:
    state = rollout_state(deployment(config_hash="old", ready=1), "h1")
    assert state == RolloutState(RolloutPhase.PROGRESSING, "the Deployment is being updated", 1)


def test_unobserved_generation_is_progressing() -> None:
    state = rollout_state(deployment(generation=4, observed=3), "h1")
    assert state == RolloutState(RolloutPhase.PROGRESSING, "waiting for the rollout to start", 2)


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
    assert state == RolloutState(RolloutPhase.PROGRESSING, message, 2)


def test_progress_deadline_exceeded_fails_with_the_controllers_message() -> None:
    condition = {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "demo-router-5d9" has timed out progressing.',
    }
    state = rollout_state(deployment(updated=1, available=0, ready=0, conditions=[condition]), "h1")
    assert state == RolloutState(
        RolloutPhase.FAILED,
        'rollout made no progress: ReplicaSet "demo-router-5d9" has timed out progressing.',
        0,
    )


def test_progress_deadline_exceeded_without_a_message_still_says_why() -> None:
    condition = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    state = rollout_state(deployment(updated=1, available=1, ready=1, conditions=[condition]), "h1")
    assert state == RolloutState(
        RolloutPhase.FAILED, "rollout made no progress: progress deadline exceeded", 1
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
