"""Is the operator making progress? The check behind /healthz (a kopf probe handler).

An operator can be wedged without crashing: a database or API server connection
that hangs without an error (a peer that stopped answering, a half-open TCP
connection) keeps a pass waiting forever, and the Routers behind it never get
another pass. Restarting the process opens new connections, so /healthz fails
when:

* a pass has been running (holding one of the TURNOUT_MAX_CONCURRENT_PASSES
  slots) longer than TURNOUT_LIVENESS_STALL_SECONDS, or
* a pass has been waiting for a slot that long and no pass finished meanwhile
  (all slots stuck, or never given back).

A busy operator is not wedged: passes that wait while others keep finishing are fine.
A blocked event loop needs no check of its own: /healthz is served from the same
loop, so it stops answering and the kubelet's probe times out.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def stall(
    *,
    waiting: list[float],
    running: list[float],
    last_finished: float,
    now: float,
    threshold: float,
) -> str | None:
    """Why the operator looks wedged (None when it does not).

    `waiting` holds when each pass waiting for a slot became due, `running` when each
    running pass got its slot; `last_finished` is when a pass last finished (or startup).
    """
    if running and now - min(running) >= threshold:
        return (
            f"a reconcile pass has been running for {now - min(running):.0f}s "
            f"(limit {threshold:.0f}s)"
        )
    idle = now - last_finished
    if waiting and now - min(waiting) >= threshold and idle >= threshold:
        return (
            f"a reconcile pass has waited {now - min(waiting):.0f}s for a slot and none finished "
            f"for {idle:.0f}s (limit {threshold:.0f}s)"
        )
    return None


class Progress:
    """Tracks the passes that are due, as they wait for a slot, run and finish."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ids = itertools.count()
        self._waiting: dict[int, float] = {}
        self._running: dict[int, float] = {}
        self.last_finished = clock()

    @contextmanager
    def due(self) -> Iterator[Callable[[], None]]:
        """Around one pass from the moment it is due; call the yielded function once it runs."""
        token = next(self._ids)
        since = self._clock()
        self._waiting[token] = since

        def running() -> None:
            self._waiting.pop(token, None)
            self._running[token] = self._clock()

        try:
            yield running
        finally:
            self._waiting.pop(token, None)
            self._running.pop(token, None)
            self.last_finished = self._clock()

    def problem(self, threshold: float) -> str | None:
        return stall(
            waiting=list(self._waiting.values()),
            running=list(self._running.values()),
            last_finished=self.last_finished,
            now=self._clock(),
            threshold=threshold,
        )

    def summary(self) -> dict[str, int]:
        return {"waiting": len(self._waiting), "running": len(self._running)}
