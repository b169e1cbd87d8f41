"""The Routers' informer: list, then watch, and notice what a watch gap hid.

One informer per watched scope (a namespace, or the whole cluster) keeps the Router
loops (loops.py) fed, the way client-go's informers feed controller-runtime:

1. list the Routers (a consistent read) and hand each to the loops;
2. compare the list with the Routers the loops knew: a known Router missing from it
   was deleted while nobody watched (an API server restart, a dropped connection,
   a watch expired), and goes down the deletion path like a DELETED event;
3. watch from the list's resourceVersion, handing over every event;
4. when the watch ends normally (the server closes it every few minutes), watch
   again from the last resourceVersion seen; when it breaks (an error, a 410
   Gone, the server away), stop passes of the scope from starting (`pause`) and go
   back to 1, with backoff between failed attempts.

Passes start again (`resume`) only after step 2, so no pass runs for a Router that
was deleted during the gap. The same first list is how a new leader, or a restarted
operator, finds its Routers; what it never knew but the database does (deleted
while no operator ran) is for the sweep (deletion.py).

kopf watches the children; Routers are watched here because kopf tells its handlers
nothing of its re-lists, and the comparison in step 2 needs exactly that.
Routers an older release left with a finalizer are released here too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import aiohttp

from turnout_operator.cache import RouterObject
from turnout_operator.kube.client import Kube, KubeError, WatchExpired
from turnout_operator.runtime.backoff import Backoff
from turnout_operator.runtime.loops import RouterLoops

log = logging.getLogger(__name__)

OLD_FINALIZER: Final = "turnout.dev/finalizer"
"""The finalizer earlier releases put on Routers; nothing needs it now, so it is removed."""
RELIST_BACKOFF: Final = Backoff(base=0.5, cap=30.0)
"""Between failed attempts to list again (the API server away)."""

Deleted = Callable[[RouterObject], Awaitable[object]]
"""The deletion path of one Router (its loop halted, its versions marked undeployed)."""

BROKEN = (KubeError, aiohttp.ClientError, TimeoutError, OSError, ValueError)
"""What ends a list or a watch early: the API server's errors, a dropped connection, a
timeout, a malformed line."""


def _scope(namespace: str | None) -> dict[str, str]:
    return {"namespace": namespace or "*"}


class RouterInformer:
    """Lists and watches the Routers of `namespace` (None: all) into `loops`."""

    def __init__(
        self,
        kube: Kube,
        namespace: str | None,
        loops: RouterLoops,
        deleted: Deleted,
        relisted: Callable[[], object] = lambda: None,
    ) -> None:
        """`deleted` runs a Router's deletion path; `relisted` is told after every list but
        the first (the sweep then looks at the database, see deletion.py)."""
        self._kube = kube
        self._namespace = namespace
        self._loops = loops
        self._deleted = deleted
        self._relisted = relisted
        self._tasks: set[asyncio.Task[Any]] = set()
        self.lists = 0
        """Lists made (the first, then one after each broken watch)."""
        self.synced = asyncio.Event()
        """Set once the first list has been handed over."""

    async def run(self) -> None:
        """List and watch until cancelled."""
        failures = 0
        while True:
            try:
                since = await self._list()
            except BROKEN as error:
                failures += 1
                wait = RELIST_BACKOFF.delay(failures)
                log.warning(
                    "routers not listed; trying again",
                    extra={**_scope(self._namespace), "error": str(error), "seconds": wait},
                )
                await asyncio.sleep(wait)
                continue
            failures = 0
            self._loops.resume(self._namespace)
            self.synced.set()
            try:
                while True:
                    since = await self._watch(since)
            except WatchExpired:
                log.info("routers' watch expired; listing again", extra=_scope(self._namespace))
            except BROKEN as error:
                log.warning(
                    "routers' watch broke; listing again",
                    extra={**_scope(self._namespace), "error": str(error)},
                )
            # Until the next list has been compared with what the loops know, a Router
            # deleted meanwhile must get no pass.
            self._loops.pause(self._namespace)

    async def _list(self) -> str:
        """List, hand over, find the Routers deleted meanwhile; the list's resourceVersion."""
        routers, version = await self._kube.list_routers(self._namespace)
        self.lists += 1
        for router in self._loops.relisted(self._namespace, routers):
            log.warning(
                "router deleted while the watch was away",
                extra={"namespace": router.namespace, "router": router.name},
            )
            self._spawn(self._deleted(router))
        for body in routers:
            self._release_old_finalizer(body)
        if self.lists > 1:
            self._relisted()
        log.info("routers listed", extra={**_scope(self._namespace), "routers": len(routers)})
        return version

    async def _watch(self, since: str) -> str:
        """One watch request; returns the last resourceVersion seen when the server ends it."""
        async for kind, body in self._kube.watch_routers(self._namespace, since):
            version = str((body.get("metadata") or {}).get("resourceVersion") or "")
            since = version or since
            if kind == "BOOKMARK":
                continue
            self._loops.observe(kind, body)
            if kind == "DELETED":
                # Gone already (no finalizer holds it); its children go by ownerReferences.
                self._spawn(self._deleted(RouterObject.from_body(body)))
            else:
                self._release_old_finalizer(body)
        return since

    def _release_old_finalizer(self, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        finalizers = list(meta.get("finalizers") or [])
        if OLD_FINALIZER in finalizers:
            self._spawn(self._drop(str(meta["namespace"]), str(meta["name"]), finalizers))

    async def _drop(self, namespace: str, name: str, finalizers: list[str]) -> None:
        where = {"namespace": namespace, "router": name}
        try:
            await self._kube.drop_finalizer(namespace, name, finalizers, OLD_FINALIZER)
        except KubeError as error:
            if error.not_found or error.status == 422:
                return  # gone, or its finalizers changed: the next event tries again
            log.warning("old finalizer not removed", extra={**where, "error": error.message})
            return
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            log.warning("old finalizer not removed", extra={**where, "error": str(error)})
            return
        log.info("old finalizer removed", extra=where)

    def _spawn(self, work: Awaitable[Any]) -> None:
        """Run `work` beside the watch: the stream is never held up by it."""

        async def run() -> None:
            await work

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("router deletion failed", exc_info=error)

    async def settle(self) -> None:
        """Until every deletion path and finalizer removal started so far has ended."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
