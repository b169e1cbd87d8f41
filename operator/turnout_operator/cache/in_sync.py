"""Which of a Router's objects were last found as the operator wants them.

A pass compares each desired object with the cached one only when something could
have changed: the object's *intent* (its body without status and without the
metadata the API server bumps on every write, see `ChildCache.intent`) or what the
desired object is built from (the Router's identity and its version's row, the
`source`). A rollout changes a Deployment's status many times and its intent not
at all, so most passes compare nothing; when all of a Router's objects are as last
found, the pass does not even build the desired objects.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ObjectKey = tuple[str, str, str]
"""(kind, namespace, name) of an owned object."""


@dataclass(frozen=True)
class Settled:
    """A Router whose objects were all found in sync, built from `source`."""

    source: str
    present: tuple[tuple[ObjectKey, int], ...]
    """Each object that must exist, with its intent when found in sync."""
    absent: tuple[ObjectKey, ...]
    """Objects that must not exist (an HPA while autoscaling is off)."""
    config_hash: str
    """The router config's hash the Deployment's pod template must carry."""
    deployment: ObjectKey


class InSyncMemo:
    def __init__(self) -> None:
        self._found: dict[str, dict[ObjectKey, tuple[int, str]]] = {}
        self._settled: dict[str, Settled] = {}

    def known(self, uid: str, key: ObjectKey, intent: int | None, source: str) -> bool:
        """True when `key` was found in sync with this same intent and source."""
        return intent is not None and self._found.get(uid, {}).get(key) == (intent, source)

    def found(self, uid: str, key: ObjectKey, intent: int | None, source: str) -> None:
        if intent is not None:
            self._found.setdefault(uid, {})[key] = (intent, source)

    def settle(self, uid: str, settled: Settled) -> None:
        self._settled[uid] = settled

    def unsettle(self, uid: str) -> None:
        self._settled.pop(uid, None)

    def settled(
        self, uid: str, source: str, intent: Callable[[ObjectKey], int | None]
    ) -> Settled | None:
        """The Router's settled objects, if nothing changed since (`intent` reads the
        cache: None for an object it does not hold)."""
        settled = self._settled.get(uid)
        if settled is None or settled.source != source:
            return None
        if any(intent(key) != known for key, known in settled.present):
            return None
        if any(intent(key) is not None for key in settled.absent):
            return None
        return settled

    def forget(self, uid: str) -> None:
        self._found.pop(uid, None)
        self._settled.pop(uid, None)
