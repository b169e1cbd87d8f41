"""What a pass tells the world: the Router's status, its Events, and when each may wait.

The publisher writes a status only when it changed, and lets three kinds of write
wait (`pacing`): a progress-only status change, the Normal Events of a rollout in
progress, and the RouterVersion mirror of a version still rolling out. Its own status
writes are told to the cache (`RouterCache.wrote_status`), so the next pass builds on
what was written even before the watch delivers it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from turnout_operator.api import Phase, RouterStatus
from turnout_operator.cache import RouterCache, RouterObject
from turnout_operator.reconcile.pacing import Clock, Grace, Holding, Spacing
from turnout_operator.reconcile.status import (
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
from turnout_operator.store import VersionRecord, VersionStatus

EventSink = Callable[[RouterObject, Event], None]
"""Posts one Event about a Router (the operator's bounded poster)."""

PROGRESS_WRITE_SECONDS: Final = 30.0
"""A rollout's progress messages are written at most this often per Router; a change of
phase or of any condition's status or reason is written at once."""
MIRROR_PENDING_GRACE_SECONDS: Final = 60.0
"""A version still rolling out gets its RouterVersion mirror after this long; one whose
rollout ends sooner is mirrored once, as deployed (or failed)."""
EVENT_HOLD_SECONDS: Final = 30.0
"""The Normal Events of a rollout in progress wait this long for its end, to be posted
with it as one Event; Warnings are posted at once (and release what waits)."""


class StatusWrites(Protocol):
    """The Router status write (`kube.client.Kube`)."""

    def patch_router_status(
        self, namespace: str, name: str, uid: str, status: Mapping[str, Any]
    ) -> Awaitable[dict[str, Any]]: ...


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sooner(first: float | None, second: float | None) -> float | None:
    """The earlier of two delays, where None means no delay is due."""
    if first is None or second is None:
        return first if second is None else second
    return min(first, second)


class Publisher:
    def __init__(
        self,
        api: StatusWrites,
        cache: RouterCache,
        post_event: EventSink,
        *,
        clock: Callable[[], str] = now_rfc3339,
        monotonic: Clock,
    ) -> None:
        self._api = api
        self._cache = cache
        self.post_event = post_event
        self._clock = clock
        self._progress = Spacing(PROGRESS_WRITE_SECONDS, monotonic)
        """uid → when its status was last written (progress-only changes wait for it)."""
        self._rolling = Grace(MIRROR_PENDING_GRACE_SECONDS, monotonic)
        """uid → since when its current version has been rolling out (mirrored later)."""
        self._held: Holding[Event] = Holding(EVENT_HOLD_SECONDS, monotonic)
        """uid → Normal Events of a rollout in progress, posted with its end."""

    async def publish(
        self, router: RouterObject, previous: RouterStatus, verdict: Verdict
    ) -> tuple[bool, float | None]:
        """Write the status if it changed and post Events.

        Returns whether the status was written, and when what waits (a progress-only
        change, a rollout's held Events) is due (None: nothing waits).
        """
        new = build_status(previous, verdict, router.generation, self._clock())
        changed = not same_status(previous, new)
        deferred: float | None = None
        if changed and not verdict.events and progress_only(previous, new):
            deferred = self._progress.wait(router.uid) or None
            changed = deferred is None  # a progress step that waits has no Event either
        if changed:
            # Raises RouterGone for a Router deleted (or made again) since it was seen: the
            # loop then ends and the deletion path runs (runtime/loops.py).
            stored = await self._api.patch_router_status(
                router.namespace, router.name, router.uid, status_body(new)
            )
            self._progress.wrote(router.uid)
            self._cache.wrote_status(router.uid, stored, new)
        events = [*verdict.events, *transition_events(previous, new)]
        if verdict.phase == Phase.DEPLOYING and all(e.type == "Normal" for e in events):
            wait = self._held.hold(router.uid, events)
            if wait > 0:
                return changed, sooner(deferred, wait)
            events = []  # held, and due now: released below with the rest
        for event in pass_events(latest_transitions([*self._held.release(router.uid), *events])):
            self.post_event(router, event)
        return changed, deferred

    def mirror_wait(self, uid: str, verdict: Verdict, record: VersionRecord | None) -> float | None:
        """Seconds the mirror of a version still rolling out waits (None: mirror now)."""
        if (
            verdict.phase != Phase.DEPLOYING
            or record is None
            or record.status != VersionStatus.PENDING
        ):
            self._rolling.forget(uid)
            return None
        return self._rolling.remaining(uid, record.number) or None

    def forget(self, uid: str) -> None:
        """The Router is gone: nothing of it waits any more."""
        self._progress.forget(uid)
        self._rolling.forget(uid)
        self._held.forget(uid)
