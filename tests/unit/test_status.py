"""Status and Events from verdicts: transitions keep their times, idle passes say nothing."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from turnout_operator.api import Condition, Phase, RouterStatus
from turnout_operator.reconcile.status import (
    Check,
    Event,
    Verdict,
    build_status,
    latest_transitions,
    pass_events,
    progress_only,
    same_status,
    status_body,
    transition_events,
)

pytestmark = pytest.mark.unit

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:05:00Z"


def deployed(version: int = 1) -> Verdict:
    return Verdict(
        phase=Phase.DEPLOYED,
        message=f"version {version} is serving",
        ready=Check(True, "Deployed", "2 of 2 pods available"),
        progressing=Check(False, "RolloutComplete", "done"),
        config_valid=Check(True, "SpecValid"),
        engine_available=Check(True, "PluginRunning"),
        current_version=version,
        deployed_version=version,
        endpoint="http://x",
        replicas=2,
    )


def invalid() -> Verdict:
    return Verdict(
        phase=Phase.FAILED,
        message="bad",
        ready=Check(True, "PreviousVersionServing", "version 1 keeps serving"),
        progressing=Check(False, "ExperimentConfigInvalid", "fix it"),
        config_valid=Check(False, "ExperimentConfigInvalid", "engine said no"),
        engine_available=Check(None, "NotChecked"),
        current_version=1,
        deployed_version=1,
    )


def test_first_status_has_all_six_conditions_with_the_generation() -> None:
    status = build_status(RouterStatus(), deployed(3), generation=7, now=T0)

    def condition(kind: str, state: str, reason: str, message: str = "") -> dict[str, object]:
        return {
            "type": kind,
            "status": state,
            "reason": reason,
            "message": message,
            "observedGeneration": 7,
            "lastTransitionTime": T0,
        }

    assert status_body(status) == {
        "phase": "Deployed",
        "observedGeneration": 7,
        "currentVersion": 3,
        "deployedVersion": 3,
        "endpoint": "http://x",
        "replicas": 2,
        "message": "version 3 is serving",
        "conditions": [
            condition("Ready", "True", "Deployed", "2 of 2 pods available"),
            condition("Progressing", "False", "RolloutComplete", "done"),
            condition("ConfigValid", "True", "SpecValid"),
            condition("EngineAvailable", "True", "PluginRunning"),
            condition("Reconciling", "False", "RolloutComplete", "version 3 is serving"),
            condition("Stalled", "False", "RolloutComplete", "version 3 is serving"),
        ],
    }


def test_the_status_body_is_plain_json_data() -> None:
    # No enum members: the body must survive any serialiser, even YAML's safe one.
    body = status_body(build_status(RouterStatus(), deployed(), 1, T0))
    assert type(body["phase"]) is str
    assert yaml.safe_dump({"phase": body["phase"]}) == "phase: Deployed\n"


def test_unchanged_conditions_keep_their_transition_time() -> None:
    first = build_status(RouterStatus(), deployed(), 1, T0)
    second = build_status(first, invalid(), 2, T1)
    times = {c.type: c.last_transition_time for c in second.conditions}
    assert times["Ready"] == T0  # still True
    assert times["Progressing"] == T0  # still False
    assert times["ConfigValid"] == T1
    assert times["EngineAvailable"] == T1


def test_same_verdict_twice_is_the_same_status_and_no_events() -> None:
    first = build_status(RouterStatus(), deployed(), 1, T0)
    again = build_status(first, deployed(), 1, T1)
    assert same_status(first, again)
    assert transition_events(first, again) == []


def test_unknown_renders_as_unknown() -> None:
    status = build_status(RouterStatus(), invalid(), 1, T0)
    engine = next(c for c in status.conditions if c.type == "EngineAvailable")
    assert engine.status == "Unknown"


def test_events_for_transitions_only_and_warning_for_problems() -> None:
    first = build_status(RouterStatus(), deployed(), 1, T0)
    events = transition_events(RouterStatus(), first)
    # On a new Router only Ready is news when healthy.
    assert [(e.type, e.reason) for e in events] == [("Normal", "Deployed")]
    second = build_status(first, invalid(), 2, T1)
    events = transition_events(first, second)
    by_reason = {e.reason: e.type for e in events}
    assert by_reason["ExperimentConfigInvalid"] == "Warning"
    assert by_reason["PreviousVersionServing"] == "Normal"
    assert by_reason["NotChecked"] == "Normal"
    message = next(e.message for e in events if e.type == "Warning")
    assert message == "ConfigValid=False: engine said no"


def test_ready_false_while_deploying_is_not_a_warning() -> None:
    deploying = Verdict(
        phase=Phase.DEPLOYING,
        message="rolling",
        ready=Check(False, "Deploying", "0 of 1"),
        progressing=Check(True, "RollingOut"),
        config_valid=Check(True, "SpecValid"),
        engine_available=Check(True, "Builtin"),
    )
    status = build_status(RouterStatus(), deploying, 1, T0)
    assert [(e.type, e.reason) for e in transition_events(RouterStatus(), status)] == [
        ("Normal", "RollingOut"),
        ("Normal", "Deploying"),
    ]


def test_one_event_per_reason_from_the_most_specific_condition() -> None:
    unknown = Verdict(
        phase=Phase.FAILED,
        message="engine 'x' is not configured",
        ready=Check(False, "UnknownEngine", "engine 'x' is not configured"),
        progressing=Check(False, "UnknownEngine", "fix the spec"),
        config_valid=Check(False, "UnknownEngine", "engine 'x' is not configured"),
        engine_available=Check(None, "NotChecked"),
    )
    status = build_status(RouterStatus(), unknown, 1, T0)
    events = transition_events(RouterStatus(), status)
    assert [(e.type, e.reason, e.message) for e in events] == [
        ("Warning", "UnknownEngine", "ConfigValid=False: engine 'x' is not configured"),
        ("Normal", "NotChecked", "EngineAvailable=Unknown"),
    ]


def test_a_failed_rollout_is_a_warning_even_while_the_old_version_serves() -> None:
    first = build_status(RouterStatus(), deployed(), 1, T0)
    failed = Verdict(
        phase=Phase.FAILED,
        message="version 2 failed",
        ready=Check(True, "PreviousVersionServing", "version 1 serves"),
        progressing=Check(False, "RolloutFailed", "version 2 failed"),
        config_valid=Check(True, "SpecValid"),
        engine_available=Check(True, "PluginRunning"),
    )
    events = transition_events(first, build_status(first, failed, 2, T1))
    assert [(e.type, e.reason) for e in events] == [
        ("Warning", "RolloutFailed"),
        ("Normal", "PreviousVersionServing"),
    ]


def test_removed_fields_are_written_as_nulls() -> None:
    status = build_status(RouterStatus(), invalid(), 1, T0)
    body = status_body(status)
    assert body["endpoint"] is None
    assert "endpoint" in body


def test_a_problem_reason_on_a_true_condition_is_no_warning() -> None:
    # Waiting for an unavailable engine: Progressing=True says the operator is on it.
    config_valid = Condition(type="ConfigValid", status="Unknown", reason="EngineUnavailable")
    before = RouterStatus(
        conditions=[
            config_valid,
            Condition(type="Progressing", status="False", reason="RolloutComplete"),
        ]
    )
    after = RouterStatus(
        conditions=[
            config_valid,
            Condition(
                type="Progressing", status="True", reason="EngineUnavailable", message="waiting"
            ),
        ]
    )
    assert transition_events(before, after) == [
        Event("Normal", "EngineUnavailable", "Progressing=True: waiting")
    ]


def test_event_messages_keep_the_condition_message_whole() -> None:
    before = RouterStatus(conditions=[Condition(type="Ready", status="True", reason="Deployed")])
    after = RouterStatus(
        conditions=[
            Condition(type="Ready", status="False", reason="Deploying", message="0 of 1 on node X")
        ]
    )
    assert transition_events(before, after) == [
        Event("Normal", "Deploying", "Ready=False: 0 of 1 on node X")
    ]


def test_a_pass_posts_its_good_news_as_one_event_and_each_warning_alone() -> None:
    posted = pass_events(
        [
            Event("Normal", "VersionCreated", "version 3 recorded"),
            Event("Warning", "PluginDown", "EngineAvailable=False: exited"),
            Event("Normal", "RollingOut", "Progressing=True: 0 of 2"),
            Event("Warning", "ApplyFailed", "Ready=False: forbidden"),
            Event("Normal", "Deploying", "Ready=False: 0 of 2"),
        ]
    )
    assert posted == [
        Event("Warning", "PluginDown", "EngineAvailable=False: exited"),
        Event("Warning", "ApplyFailed", "Ready=False: forbidden"),
        Event(
            "Normal",
            "Deploying",
            "version 3 recorded; Progressing=True, Ready=False: 0 of 2",
        ),
    ]


def test_a_single_event_or_none_is_posted_as_it_is() -> None:
    alone = Event("Normal", "Deployed", "Ready=True: 1 of 1")
    assert pass_events([alone]) == [alone]
    assert pass_events([]) == []
    empty = Event("Normal", "NotChecked", "")
    assert pass_events([empty, alone]) == [Event("Normal", "Deployed", "Ready=True: 1 of 1")]


def test_conditions_that_say_the_same_share_one_text_in_the_merged_event() -> None:
    posted = pass_events(
        [
            Event("Normal", "VersionCreated", "version 1 recorded"),
            Event("Normal", "RollingOut", "Progressing=True: version 1: waiting for the rollout"),
            Event("Normal", "Deploying", "Ready=False: version 1: waiting for the rollout"),
        ]
    )
    assert posted == [
        Event(
            "Normal",
            "Deploying",
            "version 1 recorded; Progressing=True, Ready=False: version 1: waiting for the rollout",
        )
    ]
    differing = pass_events(
        [
            Event("Normal", "RolloutComplete", "Progressing=False: 2 of 2 pods available"),
            Event("Normal", "Deployed", "Ready=True: version 1: 2 of 2 pods available"),
        ]
    )
    assert differing[0].message == (
        "Progressing=False: 2 of 2 pods available; Ready=True: version 1: 2 of 2 pods available"
    )


def test_only_condition_messages_share_a_text_and_other_messages_stay_as_they_are() -> None:
    posted = pass_events(
        [
            Event("Normal", "A", "waiting"),
            Event("Normal", "B", "note: waiting"),
            Event("Normal", "C", "replicas=2"),
            Event("Normal", "D", "a b=c: waiting"),
            Event("Normal", "Deploying", "Ready=False: waiting"),
        ]
    )
    assert posted == [
        Event(
            "Normal",
            "Deploying",
            "waiting; note: waiting; replicas=2; a b=c: waiting; Ready=False: waiting",
        )
    ]


def _rolling(message: str, ready: int = 0, serving: int | None = None) -> RouterStatus:
    """The status a pass writes for a rollout at `message` (built as the reconciler does)."""
    from turnout_operator.reconcile import verdicts
    from turnout_operator.reconcile.rollout import RolloutPhase, RolloutState

    previous = RouterStatus(deployed_version=serving)
    verdict = verdicts.deploying(
        2,
        "http://r",
        RolloutState(RolloutPhase.PROGRESSING, message, ready),
        previous,
        Check(True, "PluginRunning"),
        (),
    )
    return build_status(RouterStatus(), verdict, generation=3, now=T0)


def test_a_rollout_step_is_a_progress_only_change() -> None:
    started = _rolling("waiting for the rollout to start")
    created = _rolling("0 of 1 new pods created")
    available = _rolling("0 of 1 new pods available", ready=1)
    assert progress_only(started, created)
    assert progress_only(created, available)  # ready replicas are progress too
    assert not progress_only(started, started)  # no change is no progress-only change


def test_a_change_of_phase_version_generation_or_condition_is_not_progress_only() -> None:
    rolling = _rolling("0 of 1 new pods created")
    done = build_status(rolling, deployed(2), generation=3, now=T1)
    assert not progress_only(rolling, done)  # phase, conditions
    other_version = rolling.model_copy(update={"current_version": 3})
    assert not progress_only(rolling, other_version)
    newer = build_status(RouterStatus(), deployed(2), generation=4, now=T0)
    older = build_status(RouterStatus(), deployed(2), generation=3, now=T0)
    assert not progress_only(older, newer)  # observedGeneration
    serving = _rolling("0 of 1 new pods created", serving=1)
    assert not progress_only(rolling, serving)  # Ready's status and reason, deployedVersion
    endpoint = rolling.model_copy(update={"endpoint": "http://elsewhere"})
    assert not progress_only(rolling, endpoint)


def test_a_changed_condition_reason_alone_is_not_progress_only() -> None:
    before = build_status(RouterStatus(), deployed(1), generation=1, now=T0)
    verdict = deployed(1)
    moved = Verdict(**{**verdict.__dict__, "engine_available": Check(True, "PluginRestarted")})
    after = build_status(before, moved, generation=1, now=T0)
    assert not progress_only(before, after)


def test_held_events_keep_where_each_condition_ended_and_every_action() -> None:
    """A new Router's first pass (held) and its last, merged as they are posted."""
    rolling = _rolling("waiting for the rollout to start")
    first = [
        Event("Normal", "VersionCreated", "version 2 recorded"),
        *transition_events(RouterStatus(), rolling),
    ]
    done = build_status(rolling, deployed(2), generation=3, now=T1)
    last = [Event("Normal", "VersionDeployed", "version 2 is serving")]
    last += transition_events(rolling, done)
    kept = latest_transitions([*first, *last])
    assert [event.reason for event in kept] == [
        "VersionCreated",
        "VersionDeployed",
        "RolloutComplete",
        "Deployed",
    ]
    (posted,) = pass_events(kept)
    assert posted.reason == "Deployed"
    assert posted.message == (
        "version 2 recorded; version 2 is serving; Progressing=False: done; "
        "Ready=True: 2 of 2 pods available"
    )


def test_a_condition_told_once_in_a_batch_is_kept() -> None:
    events = [
        Event("Normal", "VersionCreated", "version 1 recorded"),
        Event("Normal", "RollingOut", "Progressing=True: x", condition="Progressing"),
        Event("Warning", "PluginDown", "EngineAvailable=False: gone", condition="EngineAvailable"),
    ]
    assert latest_transitions(events) == events


# --- kstatus's conditions ---


@pytest.mark.parametrize(
    ("phase", "reconciling", "stalled"),
    [
        (Phase.PENDING, "True", "False"),
        (Phase.DEPLOYING, "True", "False"),
        (Phase.DEPLOYED, "False", "False"),
        (Phase.FAILED, "False", "True"),
        (Phase.UNDEPLOYED, "False", "False"),
    ],
)
def test_reconciling_and_stalled_follow_the_phase_with_progressings_reason_and_the_message(
    phase: Phase, reconciling: str, stalled: str
) -> None:
    verdict = dataclasses.replace(
        deployed(), phase=phase, progressing=Check(True, "RollingOut", "1 of 2 pods")
    )
    conditions = {c.type: c for c in build_status(RouterStatus(), verdict, 4, T0).conditions}
    assert (conditions["Reconciling"].status, conditions["Stalled"].status) == (
        reconciling,
        stalled,
    )
    for kind in ("Reconciling", "Stalled"):
        assert (conditions[kind].reason, conditions[kind].message) == (
            "RollingOut",
            "version 1 is serving",
        )
        assert conditions[kind].observed_generation == 4


def test_reconciling_and_stalled_post_no_events_of_their_own() -> None:
    first = build_status(RouterStatus(), deployed(), 1, T0)
    failed = build_status(first, invalid(), 2, T1)
    events = transition_events(first, failed)
    assert events  # the failure is told, by the conditions that tell it
    assert all(e.condition not in {"Reconciling", "Stalled"} for e in events)
