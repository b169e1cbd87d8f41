"""A Router's status and Events from what one reconcile decided.

Pure: the previous status, the verdict and the time in; the new status and the
Events to post out. Conditions keep their `lastTransitionTime` while their
status stays the same, so `kubectl describe` tells how long something has been
so. Events are posted only for transitions, never for a reconcile that found
everything as it was: an idle Router costs no writes. The good news of one pass
is one Event (see `pass_events`): each Event is a write the API server stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from turnout_operator.api import Condition, ConditionType, Phase, RouterStatus

# A new Router's conditions in these states say nothing worth an Event.
_QUIET_AT_FIRST = frozenset(
    {
        (ConditionType.CONFIG_VALID, "True"),
        (ConditionType.ENGINE_AVAILABLE, "True"),
        (ConditionType.PROGRESSING, "False"),
    }
)

PROBLEM_REASONS = frozenset(
    {
        "InvalidSpec",
        "UnknownEngine",
        "ExperimentConfigInvalid",
        "EngineError",
        "EngineUnavailable",
        "PluginDown",
        "DatabaseUnavailable",
        "RolloutFailed",
        "ApplyFailed",
    }
)
"""Reasons a user must act on (or wait out): their Events are Warnings."""

_EVENT_ORDER: dict[str, int] = {
    ConditionType.CONFIG_VALID: 0,
    ConditionType.ENGINE_AVAILABLE: 1,
    ConditionType.PROGRESSING: 2,
    ConditionType.READY: 3,
}


@dataclass(frozen=True)
class Check:
    """One condition's value: True/False/Unknown, a CamelCase reason, a sentence."""

    status: bool | None
    reason: str
    message: str = ""

    @property
    def status_text(self) -> str:
        return "Unknown" if self.status is None else ("True" if self.status else "False")


@dataclass(frozen=True)
class Event:
    type: str
    """Normal or Warning."""
    reason: str
    message: str
    condition: str | None = field(default=None, compare=False)
    """The condition whose transition this Event tells (None: an action, such as a
    version recorded); not part of what is posted."""


@dataclass(frozen=True)
class Verdict:
    """Everything a reconcile concluded about one Router."""

    phase: Phase
    message: str
    ready: Check
    progressing: Check
    config_valid: Check
    engine_available: Check
    current_version: int | None = None
    deployed_version: int | None = None
    endpoint: str | None = None
    replicas: int | None = None
    events: tuple[Event, ...] = field(default_factory=tuple)
    """Events about actions taken (a version recorded, a rollback), beyond transitions."""

    def checks(self) -> dict[ConditionType, Check]:
        return {
            ConditionType.READY: self.ready,
            ConditionType.PROGRESSING: self.progressing,
            ConditionType.CONFIG_VALID: self.config_valid,
            ConditionType.ENGINE_AVAILABLE: self.engine_available,
            **kstatus_checks(self.phase, self.progressing.reason, self.message),
        }


_RECONCILING_PHASES = frozenset({Phase.PENDING, Phase.DEPLOYING})


def kstatus_checks(phase: Phase, reason: str, message: str) -> dict[ConditionType, Check]:
    """Reconciling and Stalled, the conditions kstatus reads (Flux's health checks, kpt,
    cli-utils), from the phase; both tell Progressing's reason and the status's message
    (kstatus shows that message: it names the cause).

    kstatus calls a Router InProgress while its observedGeneration lags or Reconciling is
    True (Pending: waiting on an engine or the database, retried; Deploying), Failed
    while Stalled is True (Failed: only a spec change moves it), Current otherwise
    (Deployed, and Undeployed: suspended by choice). Both stay present when False, so
    `kubectl wait --for=condition=Reconciling=False` works as well.
    """
    return {
        ConditionType.RECONCILING: Check(phase in _RECONCILING_PHASES, reason, message),
        ConditionType.STALLED: Check(phase is Phase.FAILED, reason, message),
    }


def build_status(
    previous: RouterStatus, verdict: Verdict, generation: int, now: str
) -> RouterStatus:
    """The new status; `now` is an RFC 3339 time used only for changed conditions."""
    old = {condition.type: condition for condition in previous.conditions}
    conditions = []
    for kind, check in verdict.checks().items():
        before = old.get(kind)
        changed = before is None or before.status != check.status_text
        conditions.append(
            Condition(
                type=kind,
                status=check.status_text,
                reason=check.reason,
                message=check.message,
                observed_generation=generation,
                last_transition_time=now
                if changed or before is None
                else before.last_transition_time,
            )
        )
    return RouterStatus(
        phase=verdict.phase,
        observed_generation=generation,
        current_version=verdict.current_version,
        deployed_version=verdict.deployed_version,
        endpoint=verdict.endpoint,
        replicas=verdict.replicas,
        message=verdict.message,
        conditions=conditions,
    )


def status_body(status: RouterStatus) -> dict[str, Any]:
    """The status as written: camelCase, with explicit nulls so stale fields are removed."""
    return status.model_dump(mode="json", by_alias=True)


def transition_events(previous: RouterStatus, new: RouterStatus) -> list[Event]:
    """An Event for each condition whose status or reason changed.

    The most specific condition speaks first (ConfigValid, EngineAvailable, Progressing,
    Ready), and a reason already told in this batch is not told again: an unknown engine
    is one Warning, not one per condition it turns False.
    """
    events: list[Event] = []
    told: set[str] = set()
    old = {condition.type: condition for condition in previous.conditions}
    # `new` comes from build_status: one condition of each type. Reconciling and Stalled
    # restate Progressing for kstatus: no Events of their own.
    told_conditions = [c for c in new.conditions if c.type in _EVENT_ORDER]
    for condition in sorted(told_conditions, key=lambda c: _EVENT_ORDER[c.type]):
        before = old.get(condition.type)
        if before is not None and (before.status, before.reason) == (
            condition.status,
            condition.reason,
        ):
            continue
        if before is None and (condition.type, condition.status) in _QUIET_AT_FIRST:
            continue  # a new Router's healthy or idle condition is no news
        if condition.reason in told:
            continue
        told.add(condition.reason)
        problem = condition.reason in PROBLEM_REASONS and condition.status != "True"
        events.append(
            Event(
                type="Warning" if problem else "Normal",
                reason=condition.reason,
                message=f"{condition.type}={condition.status}: {condition.message}".rstrip(": "),
                condition=str(condition.type),
            )
        )
    return events


def latest_transitions(events: Sequence[Event]) -> list[Event]:
    """The Events in order, without a condition's transition that a later one in the
    same batch replaced: Events held over several passes tell where each condition
    ended up ("Ready=True: …"), not every step on the way ("Ready=False: …")."""
    last = {event.condition: index for index, event in enumerate(events) if event.condition}
    return [
        event
        for index, event in enumerate(events)
        if event.condition is None or last[event.condition] == index
    ]


def pass_events(events: Sequence[Event]) -> list[Event]:
    """What one pass posts: every Warning alone, and its Normal Events as one.

    A new Router's first pass would otherwise post three Events that say one thing
    (VersionCreated, RollingOut, Deploying) and its last pass three more. The merged
    Event takes the reason of the last one, which is where the Router ended up (the
    Ready condition's reason when it changed), and keeps every message in order
    (kopf cuts a message over 1,024 characters in the middle).
    """
    warnings = [event for event in events if event.type != "Normal"]
    normal = [event for event in events if event.type == "Normal"]
    if not normal:
        return warnings
    return [*warnings, Event("Normal", normal[-1].reason, _joined(normal))]


def _joined(events: Sequence[Event]) -> str:
    """The messages in order; conditions that say the same text share it
    ("Progressing=True, Ready=False: 0 of 1 new pods available")."""
    parts: list[tuple[list[str], str]] = []  # (condition heads, text)
    for event in events:
        if not event.message:
            continue
        head, separator, text = event.message.partition(": ")
        condition = bool(separator) and "=" in head and " " not in head
        same = next((part for part in parts if part[0] and part[1] == text), None)
        if condition and same is not None:
            same[0].append(head)
        elif condition:
            parts.append(([head], text))
        else:
            parts.append(([], event.message))
    return "; ".join(f"{', '.join(heads)}: {text}" if heads else text for heads, text in parts)


def same_status(previous: RouterStatus, new: RouterStatus) -> bool:
    """True when writing `new` would change nothing a user can see."""
    return status_body(previous) == status_body(new)


def _standing(status: RouterStatus) -> dict[str, Any]:
    """What a status says, without its words: the fields and each condition's verdict."""
    body = status_body(status)
    body.pop("message", None)
    body.pop("replicas", None)
    body["conditions"] = [
        (condition.type, condition.status, condition.reason, condition.observed_generation)
        for condition in status.conditions
    ]
    return body


def progress_only(previous: RouterStatus, new: RouterStatus) -> bool:
    """True when `new` differs from `previous` only in words and ready replicas.

    A rollout's progress ("0 of 1 new pods created", "0 of 1 new pods available") is
    such a change: the phase, the versions and every condition's status and reason
    stay. Writing each one is an API write and a watch event per step and Router.
    """
    return not same_status(previous, new) and _standing(previous) == _standing(new)
