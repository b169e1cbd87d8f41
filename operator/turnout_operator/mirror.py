"""Keeps each Router's RouterVersion objects equal to its newest version rows.

Called at the end of every reconcile pass, so a mirror follows a version being
recorded and every change of its status in the same pass. It reads the newest
K+1 rows (one query; none when the Router's current version and its status are
as at the last read, see `MirrorMemo`), builds the K objects (`routerversions`, pure), applies the
ones that differ from the operator's cache, and deletes mirrors of versions that
fell out of the newest K. A RouterVersion that someone deleted or edited comes
back on the watch event that reports it, which wakes the Router's loop.

The mirror is a view: when the database or the API server refuses, the pass
goes on and the next one tries again.
"""

from __future__ import annotations

import logging
from typing import Any

from turnout_operator.api import API_VERSION
from turnout_operator.api.routerversion import ROUTER_VERSION_KIND
from turnout_operator.builders import RouterIdentity
from turnout_operator.children import ChildCache
from turnout_operator.drift import differs
from turnout_operator.kube import Kube, KubeError, ObjectRef
from turnout_operator.routerversions import routerversion_body, to_prune
from turnout_operator.store import (
    RouterRef,
    StoreUnavailableError,
    VersionRecord,
    VersionStore,
)
from turnout_operator.timings import measure

log = logging.getLogger(__name__)


def _drifted(desired: dict[str, Any], actual: dict[str, Any] | None) -> bool:
    # The spec is compared whole: a key added by hand inside routerSpec is drift too.
    return differs(desired, actual) or actual is None or actual.get("spec") != desired["spec"]


class MirrorMemo:
    """The version rows last read for each Router, and the reconciler's record they were read at.

    This process is the only writer of a Router's rows, and the reconciler replaces
    its record of the Router's current version (a new object) whenever it writes
    any of them (a version recorded, deployed, failed) or reads it again, and drops
    it when it marks them undeployed. So while the reconciler hands over the very
    same record object as at the last read, the rows are as they were read then.
    Without a record (none found yet, a suspended Router) the rows are always read.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[VersionRecord, list[VersionRecord]]] = {}

    def rows(self, uid: str, current: VersionRecord | None) -> list[VersionRecord] | None:
        """The rows read at this same record, or None when they must be read."""
        entry = self._entries.get(uid)
        if current is None or entry is None or entry[0] is not current:
            return None
        return entry[1]

    def remember(self, uid: str, current: VersionRecord | None, rows: list[VersionRecord]) -> None:
        if current is None:
            self._entries.pop(uid, None)
        else:
            self._entries[uid] = (current, rows)

    def forget(self, uid: str) -> None:
        self._entries.pop(uid, None)


class VersionMirror:
    def __init__(self, kube: Kube, store: VersionStore, cache: ChildCache, limit: int) -> None:
        self.kube = kube
        self.store = store
        self.cache = cache
        self.limit = limit
        self.memo = MirrorMemo()

    def forget(self, uid: str) -> None:
        """The Router is gone: drop the rows kept for it."""
        self.memo.forget(uid)

    async def sync(self, identity: RouterIdentity, current: VersionRecord | None = None) -> int:
        """Bring the Router's mirrors up to date; the number of writes made.

        `current` is the Router's current version as the reconciler last found or
        wrote it: while it stays the same, the rows are not read again.
        """
        if self.limit <= 0:
            return 0
        ref = RouterRef(namespace=identity.namespace, name=identity.name, uid=identity.uid)
        try:
            records = self.memo.rows(identity.uid, current)
            if records is None:
                with measure("db"):
                    records = await self.store.list_versions(ref, limit=self.limit + 1)
                self.memo.remember(identity.uid, current, records)
            writes = 0
            kept = records[: self.limit]
            for index, record in enumerate(kept):
                previous = records[index + 1] if index + 1 < len(records) else None
                desired = routerversion_body(identity, record, previous)
                meta = desired["metadata"]
                actual = self.cache.get(ROUTER_VERSION_KIND, meta["namespace"], meta["name"])
                if _drifted(desired, actual):
                    applied = await self.kube.apply(desired)
                    writes += 1
                    if applied.get("spec") != desired["spec"]:
                        # Keys someone else added (they own them): apply leaves them there.
                        version = applied["metadata"]["resourceVersion"]
                        applied = await self.kube.replace(
                            {**desired, "metadata": {**meta, "resourceVersion": version}}
                        )
                        writes += 1
                    self.cache.remember(applied)
            mirrored = self.cache.owned_by(ROUTER_VERSION_KIND, identity.namespace, identity.name)
            for name in to_prune(mirrored, [record.number for record in kept]):
                await self.kube.delete(
                    ObjectRef(API_VERSION, ROUTER_VERSION_KIND, identity.namespace, name)
                )
                self.cache.forget(ROUTER_VERSION_KIND, identity.namespace, name)
                writes += 1
        except (StoreUnavailableError, KubeError) as error:
            log.warning(
                "router versions not mirrored",
                extra={
                    "namespace": identity.namespace,
                    "router": identity.name,
                    "error": str(error),
                },
            )
            return 0
        if writes:
            log.info(
                "router versions mirrored",
                extra={"namespace": identity.namespace, "router": identity.name, "writes": writes},
            )
        return writes
