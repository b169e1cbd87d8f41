"""Keeps each Router's RouterVersion objects equal to its newest version rows.

Called at the end of every reconcile pass, so a mirror follows a version being
recorded and every change of its status in the same pass. It reads the newest
K+1 rows (one query; none when the Router's current version and its status are
as at the last read: the cache keeps them), builds the K objects (`routerversions`,
pure), applies the ones that differ from the operator's cache, and deletes mirrors of versions that
fell out of the newest K. A RouterVersion that someone deleted or edited comes
back on the watch event that reports it, which wakes the Router's loop.

The mirror is a view: when the database or the API server refuses, the pass
goes on and the next one tries again.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from turnout_operator.api import API_VERSION
from turnout_operator.api.routerversion import ROUTER_VERSION_KIND
from turnout_operator.builders import RouterIdentity
from turnout_operator.builders.drift import differs
from turnout_operator.builders.routerversions import routerversion_body, to_prune
from turnout_operator.cache import ChildWriter, Mirrors, RouterCache
from turnout_operator.kube.client import KubeError, ObjectRef
from turnout_operator.store import RouterRef, StoreUnavailableError, VersionRecord
from turnout_operator.telemetry.timings import measure

log = logging.getLogger(__name__)


def _drifted(desired: dict[str, Any], actual: dict[str, Any] | None) -> bool:
    # The spec is compared whole: a key added by hand inside routerSpec is drift too.
    return differs(desired, actual) or actual is None or actual.get("spec") != desired["spec"]


class VersionListing(Protocol):
    """The versions store's newest rows (`store.VersionStore`)."""

    async def list_versions(
        self, router: RouterRef, limit: int | None = None
    ) -> list[VersionRecord]: ...


class VersionMirror:
    def __init__(
        self, store: VersionListing, cache: RouterCache, writer: ChildWriter, limit: int
    ) -> None:
        self.store = store
        self.cache = cache
        self.writer = writer
        self.limit = limit

    async def sync(
        self, identity: RouterIdentity, current: VersionRecord | None = None, sole: bool = False
    ) -> int:
        """Bring the Router's mirrors up to date; the number of writes made.

        `current` is the Router's current version as the reconciler last found or
        wrote it: while it stays the same, the rows are not read again. `sole`: the
        reconciler created `current` as the Router's first version and has seen no
        other since, so the rows are `current` alone and need not be read.
        """
        if self.limit <= 0:
            return 0
        signature = self.cache.mirror_signature(
            ROUTER_VERSION_KIND, identity.namespace, identity.name
        )
        if self.cache.mirrors_known(identity.uid, current, signature):
            return 0
        ref = RouterRef(namespace=identity.namespace, name=identity.name, uid=identity.uid)
        try:
            mirrors = self.cache.mirrors(identity.uid, current)
            if mirrors is None:
                if sole and current is not None:
                    records = [current]
                else:
                    with measure("db"):
                        records = await self.store.list_versions(ref, limit=self.limit + 1)
                kept = records[: self.limit]
                mirrors = Mirrors(
                    numbers=[record.number for record in kept],
                    bodies=[
                        routerversion_body(
                            identity,
                            record,
                            records[index + 1] if index + 1 < len(records) else None,
                        )
                        for index, record in enumerate(kept)
                    ],
                )
                self.cache.keep_mirrors(identity.uid, current, mirrors)
            writes = 0
            for desired in mirrors.bodies:
                meta = desired["metadata"]
                actual = self.cache.get(ROUTER_VERSION_KIND, meta["namespace"], meta["name"])
                if _drifted(desired, actual):
                    applied = await self.writer.apply(desired)
                    writes += 1
                    if applied.get("spec") != desired["spec"]:
                        # Keys someone else added (they own them): apply leaves them there.
                        version = applied["metadata"]["resourceVersion"]
                        await self.writer.replace(
                            {**desired, "metadata": {**meta, "resourceVersion": version}}
                        )
                        writes += 1
            mirrored = self.cache.owned(ROUTER_VERSION_KIND, identity.namespace, identity.name)
            for name in to_prune(mirrored, mirrors.numbers):
                await self.writer.delete(
                    ObjectRef(API_VERSION, ROUTER_VERSION_KIND, identity.namespace, name)
                )
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
        self.cache.mirrors_checked(identity.uid, current, signature if writes == 0 else None)
        if writes:
            log.info(
                "router versions mirrored",
                extra={"namespace": identity.namespace, "router": identity.name, "writes": writes},
            )
        return writes
