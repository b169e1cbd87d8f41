"""One reconcile loop per Router: an asyncio task that runs a pass, then sleeps until woken.

The loop is started the first time a Router is seen (the Routers' informer hands over
every object of each list and every watch event after) and ends when the Router is
deleted or gone, or the operator stops. Between passes it sleeps on the Router's
waker, which watch events on the Router or on the objects it owns set, or until the
pass's requeue time. One loop per Router means passes for one Router never overlap.

Three rules keep a loop from writing for a Router that no longer exists, or from
writing fast whatever goes wrong (docs/operator.md, "Deletion and backoff"):

* a pass that finds the Router gone (a 404, or another Router under its name) ends
  the loop, and the deletion path runs once (`gone`);
* no pass starts while the Routers are not known as of a current list and watch
  (`pause` / `resume`, driven by the informer): a Router deleted during a watch gap
  is found missing from the next list (`relisted`) before any pass can run for it;
* a pass that fails is followed by a per-Router exponential backoff (backoff.py)
  that only a new generation of the Router or its deletion cuts short.

These are plain tasks, not kopf daemons: a kopf daemon keeps the whole last body of
its object (managedFields included) for the object's lifetime and runs two tasks of
kopf's own beside it. Here each Router costs one task and the parts of its body a
pass reads (`RouterObject`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from turnout_operator.cache import RouterObject
from turnout_operator.runtime.backoff import Backoff
from turnout_operator.runtime.wakers import Wakers

log = logging.getLogger(__name__)

Key = tuple[str, str]
"""(namespace, name) of a Router."""


@dataclass(frozen=True)
class PassOutcome:
    """How one pass ended, as the loop needs it."""

    requeue: float
    """Seconds until the next pass is due if nothing wakes the Router sooner (a failed
    pass waits for the backoff instead)."""
    failed: bool = False
    """The pass failed (an error, or a dependency was unavailable): back off."""
    gone: bool = False
    """The Router no longer exists, or its name is another Router's now: the loop ends."""


DEFAULT_BACKOFF = Backoff(base=0.05, cap=60.0)
"""The operator's defaults (TURNOUT_RETRY_BASE_SECONDS, TURNOUT_RETRY_SECONDS)."""

RunPass = Callable[[RouterObject, bool], Awaitable[PassOutcome]]
"""Runs one pass (the Router, whether it is its first in this process)."""

BackingOff = Callable[[RouterObject, int, float], None]
"""Told (Router, failures in a row, seconds of wait) when a Router backs off."""


class RouterLoops:
    def __init__(
        self,
        run_pass: RunPass,
        wakers: Wakers,
        ended: Callable[[RouterObject], None],
        echo: Callable[[RouterObject], bool] = lambda router: False,
        *,
        gone: Callable[[RouterObject], None] = lambda router: None,
        backoff: Backoff = DEFAULT_BACKOFF,
        backing_off: BackingOff = lambda router, failures, wait: None,
    ) -> None:
        """`ended` is called with the Router as last seen when its loop ends; `echo` tells
        a body that is the operator's own last status write coming back (no pass needed);
        `gone` is called once with a Router a pass found gone (its deletion path)."""
        self._run_pass = run_pass
        self._wakers = wakers
        self._ended = ended
        self._echo = echo
        self._gone = gone
        self._backoff = backoff
        self._backing_off = backing_off
        self._latest: dict[Key, RouterObject] = {}
        """The Router as last seen, for Routers that exist and are not being deleted."""
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._stopping = False
        self._paused: set[str | None] = set()
        """Namespaces (None: all) whose Routers are not known as of a current list and
        watch: no pass of theirs starts meanwhile."""
        self._blocked: set[Key] = set()
        """Loops waiting for `resume` to run their next pass."""
        self.failing: dict[Key, int] = {}
        """Routers whose last passes failed: how many in a row (for metrics)."""

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A watch event (or a listed object) of a Router: keep it, start or wake its loop."""
        router = RouterObject.from_body(body)
        key = (router.namespace, router.name)
        deleting = event_type == "DELETED" or bool(
            (body.get("metadata") or {}).get("deletionTimestamp")
        )
        if deleting:
            if not self._forget(key, router.uid):
                return  # an older Router of that name: the new one's loop goes on
        else:
            self._latest[key] = router
            if not self._stopping and key not in self._tasks:
                self._tasks[key] = asyncio.get_running_loop().create_task(
                    self._loop(key), name=f"router {router.namespace}/{router.name}"
                )
            elif self._echo(router):
                return  # kept for the next pass, which nothing new calls for
        self._wakers.wake(*key)

    def relisted(
        self, namespace: str | None, bodies: Iterable[Mapping[str, Any]]
    ) -> list[RouterObject]:
        """A fresh list of the Routers of `namespace` (None: all): keep each, and return the
        Routers known before that the list no longer holds (deleted during a watch gap),
        forgotten already.

        As client-go's informers do when they replace their store with a re-list. The
        caller runs the deletion path for each returned Router (`halt`, then its versions).
        """
        bodies = list(bodies)
        listed: set[tuple[Key, str]] = set()
        for body in bodies:
            meta = body.get("metadata") or {}
            key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
            listed.add((key, str(meta.get("uid", ""))))
        # Judged before the list is taken in: a Router deleted and made again under its
        # name during the gap is another uid, and the old one's deletion path must run.
        vanished = [
            router
            for key, router in list(self._latest.items())
            if (namespace is None or key[0] == namespace) and (key, router.uid) not in listed
        ]
        for router in vanished:
            # Forgotten before any pass can start: their loops end when next woken.
            self._forget((router.namespace, router.name), router.uid)
            self._wakers.wake(router.namespace, router.name)
        for body in bodies:
            self.observe(None, body)
        return vanished

    def pause(self, namespace: str | None = None) -> None:
        """The Routers' watch of `namespace` (None: all) broke: no pass of its Routers
        starts until `resume` (running ones finish)."""
        self._paused.add(namespace)

    def resume(self, namespace: str | None = None) -> None:
        """The Routers of `namespace` are known as of a current list and watch again."""
        self._paused.discard(namespace)
        blocked, self._blocked = self._blocked, set()
        for key in blocked:
            self._wakers.wake(*key)  # those still paused block again

    def _is_current(self, key: Key) -> bool:
        return not self._paused or (None not in self._paused and key[0] not in self._paused)

    def __len__(self) -> int:
        return len(self._tasks)

    def routers(self) -> list[RouterObject]:
        """The Routers whose loop runs, as last seen (none being deleted)."""
        return list(self._latest.values())

    def _forget(self, key: Key, uid: str) -> bool:
        """Drop the Router `uid` under `key`; False when the name now belongs to another
        Router (deleted and created again: its events may come before the old one's
        deletion is handled), whose loop must go on."""
        latest = self._latest.get(key)
        if latest is not None and uid and latest.uid != uid:
            return False
        self._latest.pop(key, None)
        return True

    async def halt(self, namespace: str, name: str, grace: float, uid: str = "") -> None:
        """End one Router's loop (it is gone): let a running pass finish, within `grace`
        seconds, then cancel it. With `uid`, only if the loop is still that Router's."""
        key = (namespace, name)
        if not self._forget(key, uid):
            return
        self._wakers.wake(*key)
        task = self._tasks.get(key)
        if task is not None and task is not asyncio.current_task():
            await _finish(task, grace)

    async def stop(self, grace: float) -> None:
        """End every loop (the operator stops): passes in progress get `grace` seconds to
        finish, then are cancelled. Passes are idempotent, so either is safe."""
        self._stopping = True
        self._wakers.wake_all()
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self, key: Key) -> None:
        wake = self._wakers.register(*key)
        first = True
        failures = 0
        last: RouterObject | None = None
        try:
            while not self._stopping:
                wake.clear()
                router = self._latest.get(key)
                if router is None:
                    return  # deleted, or being deleted
                if not self._is_current(key):
                    self._blocked.add(key)
                    await wake.wait()  # resume(), a new event, halt() or stop()
                    continue
                if last is not None and last.uid != router.uid:
                    failures = 0  # another Router under this name now
                last = router
                try:
                    outcome = await self._run_pass(router, first)
                except Exception:  # run_pass reports its own failures; this is a bug
                    log.exception("router loop failed", extra=_where(key))
                    outcome = PassOutcome(0.0, failed=True)
                if first:
                    # Says when a (re)started operator has looked at each Router once.
                    log.info("router loop started", extra=_where(key))
                    first = False
                if outcome.gone:
                    if self._forget(key, router.uid):
                        self._gone(router)
                    failures = 0
                    continue  # ends, unless the name is another Router's already
                if not outcome.failed:
                    failures = 0
                    self.failing.pop(key, None)
                    await _sleep(wake, outcome.requeue)
                    continue
                failures += 1
                self.failing[key] = failures
                wait = self._backoff.delay(failures)
                self._backing_off(router, failures, wait)
                await self._back_off(key, wake, router, wait)
        finally:
            self._wakers.unregister(*key)
            self._blocked.discard(key)
            self.failing.pop(key, None)
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]
            if last is not None:
                self._ended(last)
            # A Router created again under the same name while this loop was ending.
            if not self._stopping and key in self._latest and key not in self._tasks:
                self._tasks[key] = asyncio.get_running_loop().create_task(self._loop(key))

    async def _back_off(
        self, key: Key, wake: asyncio.Event, failed: RouterObject, seconds: float
    ) -> None:
        """Wait `seconds` after a failed pass. Wake-ups do not shorten it (a failing pass
        tends to cause them: its own writes come back as events), except the Router's
        deletion, a new generation of it (a user's change), or the operator stopping."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            await _sleep(wake, remaining)
            wake.clear()
            now = self._latest.get(key)
            if (
                self._stopping
                or now is None
                or now.uid != failed.uid
                or now.generation != failed.generation
            ):
                return


async def _sleep(wake: asyncio.Event, timeout: float) -> None:
    """Until woken or `timeout` seconds have passed; no task is created for it."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await wake.wait()


async def _finish(task: asyncio.Task[None], grace: float) -> None:
    done, _ = await asyncio.wait([task], timeout=grace)
    if not done:
        task.cancel()
        await asyncio.wait([task])


def _where(key: Key) -> dict[str, str]:
    return {"namespace": key[0], "router": key[1]}
