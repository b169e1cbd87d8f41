"""When writes that can wait are made: per-Router timing, kept in memory.

Three writes of a Router can wait without anyone missing them:

* a progress-only status change (the rollout's message and ready replicas, with the
  phase and every condition as they were) is written at most once per interval;
* the RouterVersion mirror of a version still rolling out is written once its
  rollout ends, or once it has been rolling out for a grace period;
* the good news of a rollout's start (Normal Events) is held until the rollout ends,
  or for a grace period, and posted as one Event with the news of its end.

Each is one API write (and for the first two one watch event) per Router and step; a
thousand Routers rolling out at once make thousands. Pure apart from the clock, which
is injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Clock = Callable[[], float]
Item = TypeVar("Item")


class Spacing:
    """The last write of each key, to keep writes that can wait `interval` apart."""

    def __init__(self, interval: float, clock: Clock = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}

    def wait(self, key: str) -> float:
        """Seconds until a write of `key` that can wait may be made (0: now)."""
        last = self._last.get(key)
        if last is None:
            return 0.0
        return max(0.0, last + self.interval - self._clock())

    def wrote(self, key: str) -> None:
        self._last[key] = self._clock()

    def forget(self, key: str) -> None:
        self._last.pop(key, None)


class Grace:
    """Since when each key has held its current value, to act once it has held it long."""

    def __init__(self, seconds: float, clock: Clock = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._since: dict[str, tuple[int, float]] = {}

    def remaining(self, key: str, value: int) -> float:
        """Seconds until `key` has held `value` for the grace period (0: it has)."""
        held = self._since.get(key)
        now = self._clock()
        if held is None or held[0] != value:
            held = (value, now)
            self._since[key] = held
        return max(0.0, held[1] + self.seconds - now)

    def forget(self, key: str) -> None:
        self._since.pop(key, None)


class Holding(Generic[Item]):
    """Items that can wait, per key: released together, when asked or once the first
    of them has waited `seconds`."""

    def __init__(self, seconds: float, clock: Clock = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._held: dict[str, tuple[list[Item], float]] = {}

    def hold(self, key: str, items: Sequence[Item]) -> float:
        """Add `items`; seconds until what `key` holds is due (0: release it now)."""
        held = self._held.get(key)
        if held is None:
            if not items:
                return 0.0
            held = ([], self._clock())
            self._held[key] = held
        held[0].extend(items)
        return max(0.0, held[1] + self.seconds - self._clock())

    def release(self, key: str) -> list[Item]:
        """What `key` holds, oldest first; it holds nothing after."""
        held = self._held.pop(key, None)
        return held[0] if held is not None else []

    def forget(self, key: str) -> None:
        self._held.pop(key, None)
