"""Deterministic interleavings of versions-store writers on the real Postgres.

A race test needs writer A to stop at a known point with its transaction open (its
row lock held, its rows uncommitted), writer B to run into it, and only then A to go
on. Sleeps cannot say when B has got there; Postgres can. So:

* each writer is a :class:`VersionStore` with a pool of one connection, so one
  backend pid, and a :class:`Gate` as its ``before_commit`` hook, which can hold its
  transaction open just before COMMIT until the test releases it;
* an :class:`Observer` (a connection of the test's own) reads ``pg_stat_activity``
  and ``pg_blocking_pids`` to see which writer waits for a lock and whose;
* :meth:`Observer.settle` waits until nothing can move without the test: every
  writer has finished, is held at its gate, or waits for a lock whose holders are all
  held writers, other such waiters, or transactions of the test's own (barriers).
  Holders are checked, not just the wait: right after a holder commits, its waiters
  still show a lock wait in pg_stat_activity until they are scheduled, but
  pg_blocking_pids (read from the lock manager) no longer names it.

Every wait is bounded and fails with what each writer was doing, so a test never
passes by timing out and a lock that is missing shows as a writer that did not wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from devenv.postgres import libpq_url
from turnout_operator.store import VersionStore
from turnout_operator.store.repository import ISOLATION_LEVEL
from turnout_operator.store.urls import store_url

T = TypeVar("T")

WAIT_SECONDS = 60.0
"""The longest any one step may take. Generous: a blocked writer is seen in
milliseconds, but the machine may be busy; a step that takes this long is a failure
(with a message saying which writer was where), never a pass."""

POLL_SECONDS = 0.01
"""How often the observer looks at pg_stat_activity while waiting (it only observes;
nothing waits on the clock for ordering)."""


class Gate:
    """A writer's ``before_commit`` hook that can hold its transaction open.

    While closed, every write transaction of the writer (any call but ``ping``) stops
    just before COMMIT until :meth:`release` lets that one through. Open, it only
    counts.
    """

    def __init__(self, *, closed: bool = False) -> None:
        self.closed = closed
        self.held: str | None = None
        """The call held at the gate right now, if any."""
        self.passes: list[str] = []
        """Every call that reached the gate, in order (a retried record shows twice)."""
        self._released = asyncio.Event()

    async def __call__(self, call: str) -> None:
        if call == "ping":
            return
        self.passes.append(call)
        if not self.closed:
            return
        self.held = call
        await self._released.wait()
        self._released.clear()

    def release(self) -> None:
        """Let the held transaction commit; the gate stays closed for the next one."""
        if self.held is None:
            raise AssertionError("release() with no transaction held at the gate")
        self.held = None
        self._released.set()

    def open(self) -> None:
        """Hold no more transactions (and let a held one go)."""
        self.closed = False
        if self.held is not None:
            self.release()


@dataclass
class Writer:
    """One writer: its own store, connection, backend pid and gate."""

    name: str
    store: VersionStore
    pid: int
    gate: Gate
    task: asyncio.Task[Any] | None = field(default=None)

    def start(self, call: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run one store call of this writer in the background."""
        if self.task is not None and not self.task.done():
            raise AssertionError(f"writer {self.name} is still busy")
        task = asyncio.get_running_loop().create_task(call, name=self.name)
        self.task = task
        return task

    @property
    def finished(self) -> bool:
        return self.task is None or self.task.done()

    @property
    def held(self) -> bool:
        return not self.finished and self.gate.held is not None

    @property
    def moving(self) -> bool:
        """Running a call and not held: it is either working or waiting for a lock."""
        return not self.finished and self.gate.held is None

    def outcome(self) -> str:
        if self.task is None or not self.task.done():
            return "still running"
        if self.task.cancelled():
            return "cancelled"
        error = self.task.exception()
        return f"raised {error!r}" if error is not None else f"returned {self.task.result()!r}"


async def new_writer(url: str, name: str, *, closed: bool = False) -> Writer:
    """A writer on the database at ``url`` whose gate starts ``closed`` or open.

    Its engine is made as ``VersionStore.connect`` makes one (the same isolation
    level), with a pool of one connection named ``name`` in pg_stat_activity."""
    engine = create_async_engine(
        store_url(url),
        pool_size=1,
        max_overflow=0,
        connect_args={"application_name": name},
        isolation_level=ISOLATION_LEVEL,
    )
    # One pooled connection: every call of this store runs on this backend.
    async with engine.connect() as conn:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    gate = Gate(closed=closed)
    return Writer(name, VersionStore(engine, before_commit=gate), int(pid), gate)


async def connected_writer(url: str, name: str) -> Writer:
    """A writer whose store ``VersionStore.connect`` made itself, for what connect()
    sets up. It has no hook, so its gate never holds it."""
    named = make_url(url).update_query_dict({"application_name": name})
    store = VersionStore.connect(named.render_as_string(hide_password=False), pool_size=1)
    await store.ping()  # opens its one pooled connection
    async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as conn:
        rows = await (
            await conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name,)
            )
        ).fetchall()
    if len(rows) != 1:
        raise AssertionError(f"expected one backend named {name}, found {rows}")
    return Writer(name, store, int(rows[0][0]), Gate())


@dataclass(frozen=True)
class Activity:
    """What one backend is doing, from pg_stat_activity and the lock manager."""

    state: str | None
    wait_event_type: str | None
    wait_event: str | None
    blocked_by: tuple[int, ...]
    query: str | None

    def __str__(self) -> str:
        waiting = f"waits for {self.wait_event_type}/{self.wait_event} " if self.wait_event else ""
        return (
            f"{self.state or 'gone'}; {waiting}blocked_by={list(self.blocked_by)}; "
            f"query={' '.join((self.query or '').split())[:90]!r}"
        )


_ACTIVITY = (
    "SELECT pid, state, wait_event_type, wait_event, pg_blocking_pids(pid), query"
    " FROM pg_stat_activity WHERE pid = ANY(%s)"
)


class Observer:
    """The test's own connection to the database, watching the writers' backends."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.writers: list[Writer] = []
        """Every writer of the test: their held transactions count as stuck holders."""
        self.barriers: set[int] = set()
        """Backends of the test's own whose open transactions writers may wait for."""

    @classmethod
    async def connect(cls, url: str) -> Observer:
        # Autocommit: each query is its own transaction, so it reads fresh statistics.
        return cls(await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True))

    async def close(self) -> None:
        await self.conn.close()

    async def activities(self, pids: list[int]) -> dict[int, Activity]:
        rows = await (await self.conn.execute(_ACTIVITY, (pids,))).fetchall()
        return {
            pid: Activity(state, wait_type, event, tuple(blocked or ()), query)
            for pid, state, wait_type, event, blocked, query in rows
        }

    async def activity(self, pid: int) -> Activity:
        found = await self.activities([pid])
        return found.get(pid, Activity(None, None, None, (), None))

    async def describe(self) -> str:
        found = await self.activities([w.pid for w in self.writers])
        lines = []
        for writer in self.writers:
            if writer.task is None:
                where = "not started"
            elif writer.finished:
                where = f"finished, {writer.outcome()}"
            elif writer.held:
                where = f"held at its gate in {writer.gate.held}"
            else:
                where = "running"
            now = found.get(writer.pid, "no backend")
            lines.append(f"  {writer.name} (pid {writer.pid}): {where}; {now}")
        return "\n".join(lines)

    async def wait_until(self, what: str, condition: Callable[[], Awaitable[bool]]) -> None:
        """Poll ``condition`` until it holds; fail after :data:`WAIT_SECONDS` saying
        where every writer was."""
        deadline = time.monotonic() + WAIT_SECONDS
        while not await condition():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not within {WAIT_SECONDS:.0f} s: {what}\n{await self.describe()}"
                )
            await asyncio.sleep(POLL_SECONDS)

    async def held(self, writer: Writer) -> None:
        """Wait until ``writer``'s transaction is held at its gate."""

        async def at_gate() -> bool:
            if writer.finished:
                raise AssertionError(
                    f"{writer.name} finished before reaching its gate: {writer.outcome()}"
                )
            return writer.gate.held is not None

        await self.wait_until(f"{writer.name} held at its gate", at_gate)

    async def _settled(self) -> bool:
        # Finished and held are states only the test ends, so they are read first; the
        # moving writers' waits are then read in one query, and each must be for
        # holders that cannot move either.
        moving = [w.pid for w in self.writers if w.moving]
        if not moving:
            return True
        stuck = {w.pid for w in self.writers if w.held} | self.barriers | set(moving)
        found = await self.activities(moving)
        return len(found) == len(moving) and all(
            now.wait_event_type == "Lock" and now.blocked_by and set(now.blocked_by) <= stuck
            for now in found.values()
        )

    async def settle(self) -> None:
        """Wait until no writer can move without the test: each has finished, is held
        at its gate, or waits for a lock held by held writers, other such waiters or
        barriers."""
        await self.wait_until("every writer finished, held or waiting for a lock", self._settled)

    async def waits_for(self, writer: Writer, holder_pid: int) -> bool:
        """Wait until the writers have settled, then say whether ``writer`` waits for
        ``holder_pid``: for a lock it holds, or behind other waiters that do (a row
        lock's later waiters queue on the first one)."""
        await self.settle()
        if not writer.moving:
            return False
        seen: set[int] = set()
        frontier = {writer.pid}
        while frontier:
            found = await self.activities(sorted(frontier))
            seen |= frontier
            blockers = {pid for now in found.values() for pid in now.blocked_by}
            if holder_pid in blockers:
                return True
            frontier = blockers - seen
        return False

    async def finish(self) -> None:
        """Release held writers one at a time, each once the others have settled, until
        all have finished. The order is Postgres' own: whoever it lets through next."""
        while True:
            await self.settle()
            held = [w for w in self.writers if w.held]
            if not held:
                if any(not w.finished for w in self.writers):
                    raise AssertionError(
                        "writers wait for locks no held writer owns:\n" + await self.describe()
                    )
                return
            held[0].gate.release()


async def close_all(writers: list[Writer]) -> None:
    """Let every writer finish (gates open) and close its pool."""
    for writer in writers:
        writer.gate.open()
    for writer in writers:
        if writer.task is not None and not writer.task.done():
            writer.task.cancel()
            await asyncio.gather(writer.task, return_exceptions=True)
        await writer.store.close()
