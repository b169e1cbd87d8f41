"""A rollout judged with its new pods: a version that can never start fails at once, in
the words of the container that failed; other troubles show in the progress message.

Pod statuses are written the way the kubelet reports them (shapes checked on a real
node: a crash-looping container has state.waiting CrashLoopBackOff and
lastState.terminated with the exit code and, with FallbackToLogsOnError, its last logs).
"""

from __future__ import annotations

from typing import Any

import pytest

from turnout_operator.reconcile.rollout import (
    CONFIG_HASH_ANNOTATION,
    MESSAGE_LIMIT,
    RolloutPhase,
    RolloutState,
    pod_troubles,
    reads_pods,
    rollout_state,
    with_pods,
)

pytestmark = pytest.mark.unit

NEW, OLD = "hash-new", "hash-old"
PROGRESSING = RolloutState(RolloutPhase.PROGRESSING, "0 of 1 new pods available", 1)


def pod(
    name: str,
    config_hash: str = NEW,
    *,
    init: list[dict[str, Any]] | None = None,
    containers: list[dict[str, Any]] | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "annotations": {CONFIG_HASH_ANNOTATION: config_hash}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: dict[str, Any] = {}
    if init is not None:
        status["initContainerStatuses"] = init
    if containers is not None:
        status["containerStatuses"] = containers
    return {"metadata": meta, "status": status}


def crash_looping(name: str, restarts: int, message: str = "", code: int = 1) -> dict[str, Any]:
    terminated: dict[str, Any] = {"exitCode": code, "reason": "Error"}
    if message:
        terminated["message"] = message
    return {
        "name": name,
        "ready": False,
        "restartCount": restarts,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}},
        "lastState": {"terminated": terminated},
    }


def waiting(name: str, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "ready": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": reason, "message": message}},
        "lastState": {},
    }


RUNNING = {"name": "router", "ready": True, "restartCount": 0, "state": {"running": {}}}
INIT_DONE = {
    "name": "hardcoded-plugin",
    "ready": True,
    "restartCount": 0,
    "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
}


def test_a_router_that_crashes_again_fails_the_rollout_with_its_own_words() -> None:
    pods = [
        pod(
            "r-1",
            init=[INIT_DONE],
            containers=[
                crash_looping("router", 1, "turnout_router: router.yaml: routes.0.endpoint: bad")
            ],
        )
    ]
    state = with_pods(PROGRESSING, pods, NEW)
    assert state.phase == RolloutPhase.FAILED
    assert state.message == (
        "the new pods cannot start: pod r-1: container router: Error (exit code 1): "
        "turnout_router: router.yaml: routes.0.endpoint: bad"
    )
    assert state.ready_replicas == 1


def test_a_plugin_copy_that_fails_names_the_init_container() -> None:
    copy = crash_looping("hardcoded-plugin", 2, "plugin-install: PLUGINS_DIR is not set\n")
    pods = [pod("r-1", init=[copy], containers=[waiting("router", "PodInitializing")])]
    state = with_pods(PROGRESSING, pods, NEW)
    assert state.phase == RolloutPhase.FAILED
    assert state.message == (
        "the new pods cannot start: pod r-1: initContainer hardcoded-plugin: "
        "Error (exit code 1): plugin-install: PLUGINS_DIR is not set"
    )


def test_a_first_crash_is_shown_but_not_yet_a_failure() -> None:
    pods = [pod("r-1", containers=[crash_looping("router", 0, "boom")])]
    state = with_pods(PROGRESSING, pods, NEW)
    assert state.phase == RolloutPhase.PROGRESSING
    assert state.message == (
        "0 of 1 new pods available; pod r-1: container router: Error (exit code 1): boom"
    )


def test_without_a_message_the_reason_and_exit_code_are_given() -> None:
    oom = crash_looping("router", 3, code=137)
    oom["lastState"]["terminated"]["reason"] = "OOMKilled"
    (trouble,) = pod_troubles([pod("r-1", containers=[oom])], NEW)
    assert trouble.detail == "OOMKilled (exit code 137)"
    assert trouble.permanent


@pytest.mark.parametrize("reason", ["ErrImageNeverPull", "InvalidImageName"])
def test_an_image_that_can_never_be_had_fails_at_once(reason: str) -> None:
    pods = [pod("r-1", init=[waiting("hardcoded-plugin", reason, "no such image")])]
    state = with_pods(PROGRESSING, pods, NEW)
    assert state.phase == RolloutPhase.FAILED
    assert state.message.endswith(f"initContainer hardcoded-plugin: {reason}: no such image")


@pytest.mark.parametrize(
    "reason", ["ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"]
)
def test_troubles_that_may_clear_up_are_shown_and_left_to_the_deadline(reason: str) -> None:
    pods = [pod("r-1", containers=[waiting("router", reason, "registry unreachable")])]
    state = with_pods(PROGRESSING, pods, NEW)
    assert state.phase == RolloutPhase.PROGRESSING
    assert state.message.endswith(f"container router: {reason}: registry unreachable")


def test_old_and_terminating_pods_and_healthy_containers_say_nothing() -> None:
    pods = [
        pod("old", OLD, containers=[crash_looping("router", 5, "old crash")]),
        pod("gone", NEW, containers=[crash_looping("router", 5, "x")], deleting=True),
        pod("ok", NEW, init=[INIT_DONE], containers=[RUNNING]),
        pod("starting", NEW, containers=[waiting("router", "ContainerCreating")]),
    ]
    assert pod_troubles(pods, NEW) == []
    assert with_pods(PROGRESSING, pods, NEW) == PROGRESSING


def test_a_container_ready_again_after_a_crash_is_not_a_failure() -> None:
    recovered = {**crash_looping("router", 2, "once"), "ready": True, "state": {"running": {}}}
    assert pod_troubles([pod("r-1", containers=[recovered])], NEW) == []


def test_long_messages_keep_their_end_on_one_line() -> None:
    text = "\n".join(f"line {i}" for i in range(200)) + "\nValueError: the real cause"
    (trouble,) = pod_troubles([pod("r-1", containers=[crash_looping("router", 1, text)])], NEW)
    message = trouble.detail.split(": ", 1)[1]
    assert len(message) == MESSAGE_LIMIT and "\n" not in message
    assert message.startswith("…") and message.endswith("ValueError: the real cause")


def test_pods_are_taken_in_name_order_and_the_first_permanent_trouble_is_named() -> None:
    pods = [
        pod("r-b", containers=[crash_looping("router", 1, "b")]),
        pod("r-a", containers=[crash_looping("router", 0, "a")]),
    ]
    assert [t.pod for t in pod_troubles(pods, NEW)] == ["r-a", "r-b"]
    assert with_pods(PROGRESSING, pods, NEW).message.endswith(
        "pod r-b: container router: Error (exit code 1): b"
    )


SCHEDULER_SAYS = (
    "0/3 nodes are available: 1 node(s) had untolerated taint {turnout.dev/real-node: }, "
    "2 Insufficient cpu. no new claims to deallocate, preemption: 0/3 nodes are available: "
    "3 Preemption is not helpful for scheduling."
)


def unschedulable(name: str, message: str = SCHEDULER_SAYS) -> dict[str, Any]:
    """A pending pod as the scheduler leaves it: no container statuses, PodScheduled False."""
    new = pod(name)
    new["status"] = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
            }
        ],
    }
    return new


def test_a_pod_with_no_node_is_named_in_the_schedulers_words_and_left_to_the_deadline() -> None:
    (trouble,) = pod_troubles([unschedulable("r-1")], NEW)
    assert (trouble.pod, trouble.container, trouble.permanent) == ("r-1", None, False)
    assert trouble.detail == SCHEDULER_SAYS
    state = with_pods(PROGRESSING, [unschedulable("r-1")], NEW)
    assert state.phase == RolloutPhase.PROGRESSING
    assert state.message == f"0 of 1 new pods available; pod r-1: not scheduled: {SCHEDULER_SAYS}"


def test_a_long_scheduler_message_keeps_its_start() -> None:
    long = "0/1000 nodes are available: 1000 Insufficient cpu. " + "preemption: more. " * 50
    (trouble,) = pod_troubles([unschedulable("r-1", long)], NEW)
    assert len(trouble.detail) == MESSAGE_LIMIT and trouble.detail.endswith("…")
    assert trouble.detail.startswith("0/1000 nodes are available: 1000 Insufficient cpu.")


def test_scheduled_gated_and_old_pods_are_no_scheduling_trouble() -> None:
    scheduled = pod("r-1")
    scheduled["status"] = {"conditions": [{"type": "PodScheduled", "status": "True"}]}
    gated = unschedulable("r-2")
    gated["status"]["conditions"][0]["reason"] = "SchedulingGated"
    old = unschedulable("r-3")
    old["metadata"]["annotations"][CONFIG_HASH_ANNOTATION] = OLD
    assert pod_troubles([scheduled, gated, old], NEW) == []


def test_a_crash_elsewhere_still_fails_the_rollout_beside_a_pod_with_no_node() -> None:
    pods = [unschedulable("r-a"), pod("r-b", containers=[crash_looping("router", 1, "boom")])]
    assert [t.pod for t in pod_troubles(pods, NEW)] == ["r-a", "r-b"]
    state = with_pods(PROGRESSING, pods, NEW)
    assert state.phase == RolloutPhase.FAILED
    assert state.message.endswith("pod r-b: container router: Error (exit code 1): boom")


def test_other_phases_are_left_as_they_are() -> None:
    done = RolloutState(RolloutPhase.COMPLETE, "1 of 1 pods available", 1)
    pods = [pod("r-1", containers=[crash_looping("router", 4, "x")])]
    assert with_pods(done, pods, NEW) == done


def deployment(template_hash: str, updated: int, available: int) -> dict[str, Any]:
    return {
        "metadata": {"generation": 2},
        "spec": {
            "replicas": 1,
            "template": {"metadata": {"annotations": {CONFIG_HASH_ANNOTATION: template_hash}}},
        },
        "status": {
            "observedGeneration": 2,
            "replicas": 1 + (updated and 1),
            "updatedReplicas": updated,
            "availableReplicas": available,
            "readyReplicas": available,
        },
    }


def test_pods_are_read_only_while_this_versions_pods_are_awaited() -> None:
    waiting_on_pods = deployment(NEW, updated=1, available=1)
    state = rollout_state(waiting_on_pods, NEW)
    assert state.phase == RolloutPhase.PROGRESSING
    assert reads_pods(state, waiting_on_pods, NEW)
    not_yet = deployment(NEW, updated=0, available=1)
    assert not reads_pods(rollout_state(not_yet, NEW), not_yet, NEW)
    other = deployment(OLD, updated=1, available=1)
    assert not reads_pods(rollout_state(other, NEW), other, NEW)
    assert not reads_pods(rollout_state(None, NEW), None, NEW)
    complete = RolloutState(RolloutPhase.COMPLETE, "", 1)
    assert not reads_pods(complete, waiting_on_pods, NEW)


def with_plugin_image(body: dict[str, Any], image: str) -> dict[str, Any]:
    body["spec"] = {
        "initContainers": [{"name": "hardcoded-plugin", "image": image}],
        "containers": [{"name": "router", "image": "turnout:1"}],
    }
    return body


def test_a_router_that_found_a_moved_plugin_fails_the_rollout_at_once_naming_the_image() -> None:
    words = "plugin hardcoded at /app/plugins/hardcoded: its SHA-256 is 11…, validated with 22…"
    first_exit = {
        "name": "router",
        "ready": False,
        "restartCount": 0,  # its first exit: a restart would copy the same binary again
        "state": {"terminated": {"exitCode": 3, "reason": "Error", "message": words}},
        "lastState": {},
    }
    pods = [with_plugin_image(pod("r-1", init=[INIT_DONE], containers=[first_exit]), "eng:1.2")]
    state = with_pods(PROGRESSING, pods, NEW)
    assert state.phase == RolloutPhase.FAILED
    assert state.message == (
        "the new pods cannot start: pod r-1: container router: the plugin image eng:1.2 moved "
        f"(not the binary that validated this version): {words}"
    )


def test_a_moved_plugin_without_last_words_is_still_named() -> None:
    silent = {
        "name": "router",
        "ready": False,
        "restartCount": 1,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}},
    }
    pods = [with_plugin_image(pod("r-1", init=[INIT_DONE], containers=[silent]), "eng:1.2")]
    (trouble,) = pod_troubles(pods, NEW)
    assert trouble.permanent and not trouble.init
    assert trouble.detail == (
        "the plugin image eng:1.2 moved (not the binary that validated this version)"
    )


def test_exit_code_3_of_an_init_container_is_only_an_exit_code() -> None:
    failed = crash_looping("hardcoded-plugin", 0, "cp: cannot stat", code=3)
    pods = [with_plugin_image(pod("r-1", init=[failed]), "eng:1.2")]
    (trouble,) = pod_troubles(pods, NEW)
    assert "moved" not in trouble.detail and not trouble.permanent
    assert trouble.detail == "Error (exit code 3): cp: cannot stat"
