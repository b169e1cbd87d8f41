"""Who to wake: one asyncio.Event per Router loop, set by watch events on the Router or
on the objects it owns."""

from __future__ import annotations

import asyncio


class Wakers:
    """One asyncio.Event per Router loop; setting it makes the loop reconcile now."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, str], asyncio.Event] = {}

    def register(self, namespace: str, name: str) -> asyncio.Event:
        event = self._events.setdefault((namespace, name), asyncio.Event())
        return event

    def unregister(self, namespace: str, name: str) -> None:
        self._events.pop((namespace, name), None)

    def wake_all(self) -> None:
        for event in self._events.values():
            event.set()

    def wake(self, namespace: str, name: str) -> None:
        event = self._events.get((namespace, name))
        if event is not None:
            event.set()
