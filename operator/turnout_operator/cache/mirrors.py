"""The RouterVersion mirrors last built from a Router's rows (see `MirrorMemo`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from turnout_operator.cache.packing import Packer
from turnout_operator.store import VersionRecord

_FAMILY = "routerversions"


@dataclass(frozen=True)
class Mirrors:
    """What the newest rows of one Router should look like as RouterVersion objects."""

    numbers: list[int]
    """The version numbers mirrored (the newest K), newest first."""
    bodies: list[dict[str, Any]]


class MirrorMemo:
    """The mirrors last built from a Router's rows, and the reconciler's record they were read at.

    This process is the only writer of a Router's rows, and the reconciler replaces
    its record of the Router's current version (a new object) whenever it writes
    any of them (a version recorded, deployed, failed) or reads it again, and drops
    it when it marks them undeployed. So while the reconciler hands over the very
    same record object as at the last read, the rows are as they were read then
    and so are the mirrors built from them. Without a record (none found yet, a
    suspended Router) the rows are always read. Kept packed (`packing`: about 0.15 KB
    per Router instead of 2 KB of compact JSON); each `get` returns fresh dicts.
    """

    def __init__(self) -> None:
        self._packer = Packer()
        self._entries: dict[str, tuple[VersionRecord, bytes]] = {}

    def get(self, uid: str, current: VersionRecord | None) -> Mirrors | None:
        """The mirrors built at this same record, or None when the rows must be read."""
        entry = self._entries.get(uid)
        if current is None or entry is None or entry[0] is not current:
            return None
        numbers, bodies = self._packer.unpack(_FAMILY, entry[1])
        return Mirrors(numbers=numbers, bodies=bodies)

    def remember(self, uid: str, current: VersionRecord | None, mirrors: Mirrors) -> None:
        if current is None:
            self._entries.pop(uid, None)
        else:
            self._entries[uid] = (
                current,
                self._packer.pack(_FAMILY, [mirrors.numbers, mirrors.bodies]),
            )

    def forget(self, uid: str) -> None:
        self._entries.pop(uid, None)
