"""One reconcile loop per Router: an asyncio task that runs a pass, then sleeps until woken.

The loop is started the first time a Router is seen (kopf calls the Router's event
handler for every object of its first LIST and for every watch event after) and
ends when the Router is being deleted or gone, or the operator stops. Between passes it
sleeps on the Router's waker, which watch events on the Router or on the objects
it owns set, or until the pass's requeue time. One loop per Router means passes
for one Router never overlap.

These are plain tasks, not kopf daemons: a kopf daemon keeps the whole last body of
its object (managedFields included) for the object's lifetime and runs two tasks of
kopf's own beside it. Here each Router costs one task and the parts of its body a
pass reads (`RouterObject`).

Tasks are created from within kopf's handler for the Router, so they inherit the
context kopf sets up there, which `kopf.event()` needs to post Events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from turnout_operator.children import Wakers
from turnout_operator.reconcile import RouterObject

log = logging.getLogger(__name__)

Key = tuple[str, str]
"""(namespace, name) of a Router."""

RunPass = Callable[[RouterObject, bool], Awaitable[float]]
"""Runs one pass (the Router, whether it is its first in this process); returns seconds
until the next pass is due."""


class RouterLoops:
    def __init__(
        self,
        run_pass: RunPass,
        wakers: Wakers,
        ended: Callable[[RouterObject], None],
        echo: Callable[[RouterObject], bool] = lambda router: False,
    ) -> None:
        """`ended` is called with the Router as last seen when its loop ends; `echo` tells
        a body that is the operator's own last status write coming back (no pass needed)."""
        self._run_pass = run_pass
        self._wakers = wakers
        self._ended = ended
        self._echo = echo
        self._latest: dict[Key, RouterObject] = {}
        """The Router as last seen, for Routers that exist and are not being deleted."""
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._stopping = False

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

    def __len__(self) -> int:
        return len(self._tasks)

    def routers(self) -> list[RouterObject]:
        """The Routers whose loop runs, as last seen (none being deleted)."""
        return list(self._latest.values())

    def _forget(self, key: Key, uid: str) -> bool:
        """Drop the Router `uid` under `key`; False when the name now belongs to another
        Router (deleted and created again: kopf handles each uid's events apart, so the
        new one's may come first), whose loop must go on."""
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
        if task is not None:
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
        last: RouterObject | None = None
        try:
            while not self._stopping:
                wake.clear()
                router = self._latest.get(key)
                if router is None:
                    return  # deleted, or being deleted
                last = router
                try:
                    timeout = await self._run_pass(router, first)
                except Exception:  # run_pass reports its own failures; this is a bug
                    log.exception("router loop failed", extra=_where(key))
                    timeout = 60.0
                if first:
                    # Says when a (re)started operator has looked at each Router once.
                    log.info("router loop started", extra=_where(key))
                    first = False
                await _sleep(wake, timeout)
        finally:
            self._wakers.unregister(*key)
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]
            if last is not None:
                self._ended(last)
            # A Router created again under the same name while this loop was ending.
            if not self._stopping and key in self._latest and key not in self._tasks:
                self._tasks[key] = asyncio.get_running_loop().create_task(self._loop(key))


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
