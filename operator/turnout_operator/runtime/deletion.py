"""Routers that are gone: their loop ends and their versions are marked undeployed.

Routers carry no finalizer (a finalizer costs two writes per Router, one when it is
first seen and one at deletion, each echoed back by the watch); their children go by
their ownerReferences (the garbage collector). The operator learns of a deletion in
one of four ways, and each runs the same path once (`router_deleted`):

* the Router's DELETED watch event (informer.py);
* a re-list of the Routers after a watch gap that no longer holds it (informer.py);
* a pass whose status write finds the Router gone: a 404, or another uid under its
  name (`Reconciler` raises `RouterGone`; the loop ends itself, then `gone` runs);
* the sweep (`Runtime.sweep`), which reads the Routers the database says are serving,
  then lists the Routers that exist: it finds those deleted while the database was
  down (their marking failed), while no operator ran, or before a new leader took
  over. One list suffices: it is a consistent read made after the database read, and a
  row is written only after its Router was seen (`Reconciler.sweep`).

The sweep also ends loops of Routers that no longer exist, should all the above miss
one (`Vanished`: missing from two sweeps in a row, as a loop may hold a Router created
after the list).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from turnout_operator.cache import RouterObject
from turnout_operator.reconcile.reconciler import Reconciler
from turnout_operator.reconcile.status import Event
from turnout_operator.runtime.loops import RouterLoops
from turnout_operator.store import StoreUnavailableError
from turnout_operator.telemetry import metrics

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


async def router_gone(reconciler: Reconciler, router: RouterObject) -> bool:
    """A pass found the Router gone and its loop has ended: mark its versions undeployed.

    The loop ended itself (it must not wait for its own end), so only the versions are
    left; False when the database was unavailable (the sweep marks them later).
    """
    where = {"namespace": router.namespace, "router": router.name}
    try:
        await reconciler.finalize(router)
    except StoreUnavailableError as error:
        metrics.DATABASE_ERRORS.inc()
        log.warning(
            "router gone; versions not marked undeployed, the sweep will",
            extra={**where, "error": str(error)},
        )
        return False
    log.info("router gone; its loop ended and its versions are marked undeployed", extra=where)
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
