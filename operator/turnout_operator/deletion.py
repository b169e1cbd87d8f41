"""Routers that are gone: their loop ends and their versions are marked undeployed.

Routers carry no finalizer (a finalizer costs two writes per Router, one when it is
first seen and one at deletion, each echoed back by the watch). The operator learns
of a deletion from the Router's DELETED watch event, when the Router is already
gone; its children go by their ownerReferences (the garbage collector).

Whatever that event misses is caught by the sweep (`Runtime.sweep_forever`), from
the list of Routers that exist:

* the database was down at that moment: the sweep marks the versions of Routers
  the database knows and the cluster no longer has;
* no operator ran at that moment (stopped, uninstalled, being upgraded): the same;
* the watch missed the event (a gap, e.g. a re-list after the watch expired): the
  sweep also ends the loops of Routers that no longer exist (`Vanished`).

Both judge a Router gone only when it is missing from two sweeps in a row, as the
list comes from the API server's watch cache, which may lag behind a Router just
created.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from turnout_operator import metrics
from turnout_operator.loops import RouterLoops
from turnout_operator.reconcile import Reconciler, RouterObject
from turnout_operator.status import Event
from turnout_operator.store import StoreUnavailableError

log = logging.getLogger(__name__)

NOT_MARKED = Event(
    type="Warning",
    reason="VersionsNotMarked",
    message=(
        "deleted without marking its versions undeployed: the database is unavailable; "
        "they are marked when it is back"
    ),
)


async def router_deleted(
    loops: RouterLoops, reconciler: Reconciler, router: RouterObject, grace: float
) -> bool:
    """The Router is gone (its DELETED event): end its loop, mark its versions undeployed.

    Returns False when the database was unavailable; the sweep marks them later. It
    never waits for the database: nothing is held up by it.
    """
    where = {"namespace": router.namespace, "router": router.name}
    # No pass may run while or after the versions are marked undeployed.
    await loops.halt(router.namespace, router.name, grace, uid=router.uid)
    try:
        await reconciler.finalize(router)
    except StoreUnavailableError as error:
        metrics.DATABASE_ERRORS.inc()
        log.warning(
            "router deleted; versions not marked undeployed, the sweep will",
            extra={**where, "error": str(error)},
        )
        reconciler.post_event(router, NOT_MARKED)
        return False
    log.info("router deleted; versions marked undeployed", extra=where)
    return True


class Vanished:
    """Routers whose loop runs although they no longer exist (a missed DELETED event)."""

    def __init__(self) -> None:
        self._missing_before: set[str] = set()

    def judge(self, running: Iterable[RouterObject], live_uids: set[str]) -> list[RouterObject]:
        """The running Routers missing from `live_uids` this time and the time before."""
        missing = [router for router in running if router.uid not in live_uids]
        gone = [router for router in missing if router.uid in self._missing_before]
        self._missing_before = {router.uid for router in missing}
        return gone
