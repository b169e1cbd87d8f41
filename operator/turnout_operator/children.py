"""The operator's view of the objects it owns, fed by watch events, and who to wake.

Drift checks compare desired objects with this cache instead of asking the API
server: a Router that sits idle costs no API calls at all. Every watch event on
a child wakes the reconcile loop of the Router that owns it (by the
`turnout.dev/router` label), so a rollout's progress or a hand edit is seen at
once instead of at the next periodic check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Final

MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "turnout"
ROUTER_LABEL: Final = "turnout.dev/router"
VERSION_LABEL: Final = "turnout.dev/version"

Key = tuple[str, str, str, str]
"""(kind, namespace, name, "") — kind first so that one Router's children sort together."""


def object_key(kind: str, namespace: str, name: str) -> Key:
    return (kind, namespace, name, "")


class ChildCache:
    """The last seen body of every object labelled as managed by Turnout."""

    def __init__(self) -> None:
        self._objects: dict[Key, dict[str, Any]] = {}

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> tuple[str, str] | None:
        """Record a watch event; return (namespace, router name) of the owner, if labelled."""
        meta = body.get("metadata", {})
        key = object_key(str(body.get("kind")), meta.get("namespace", ""), meta.get("name", ""))
        if event_type == "DELETED":
            self._objects.pop(key, None)
        else:
            # managedFields is most of a body's size and drift checks never read it.
            self._objects[key] = {
                **body,
                "metadata": {k: v for k, v in meta.items() if k != "managedFields"},
            }
        router = (meta.get("labels") or {}).get(ROUTER_LABEL)
        return (meta.get("namespace", ""), router) if router else None

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects.get(object_key(kind, namespace, name))

    def forget(self, kind: str, namespace: str, name: str) -> None:
        self._objects.pop(object_key(kind, namespace, name), None)

    def remember(self, body: Mapping[str, Any]) -> None:
        """Store what an apply returned: fresher than waiting for its watch event."""
        self.observe("MODIFIED", body)

    def owned_by(self, kind: str, namespace: str, router: str) -> list[dict[str, Any]]:
        return [
            body
            for (k, ns, _, _), body in self._objects.items()
            if k == kind
            and ns == namespace
            and (body.get("metadata", {}).get("labels") or {}).get(ROUTER_LABEL) == router
        ]

    def __len__(self) -> int:
        return len(self._objects)


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
