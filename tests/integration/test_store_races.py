"""Every lock of the versions store against the race it prevents, on the real Postgres.

Each test runs two to four writers (their own stores and connections) in a fixed
interleaving: writer A is held with its transaction open just before COMMIT, writer B
runs into A's lock (Postgres says so: ``pg_blocking_pids``), then A commits and B
goes on. The assertion is the invariant the lock is there for. docs/versions-store.md
lists each lock with its test, and what happens to the test when the lock is taken
out. See ``interleave.py`` for how the interleaving is made without sleeps.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
import sqlalchemy

from devenv.postgres import libpq_url
from tests.integration.interleave import (
    WAIT_SECONDS,
    Observer,
    Writer,
    close_all,
    connected_writer,
    new_writer,
)
from tests.integration.store_writer import draft
from turnout_operator.store import RouterRef, VersionRecord, VersionStore
from turnout_operator.store.migrate import current_revision, head_revision, upgrade

pytestmark = pytest.mark.db


def router(name: str = "r") -> RouterRef:
    return RouterRef(namespace="team-a", name=name, uid=str(uuid.uuid4()))


class Race:
    """The writers of one test, the observer, and a plain store to set up and read."""

    def __init__(self, url: str, observer: Observer, setup: VersionStore) -> None:
        self.url = url
        self.observer = observer
        self.setup = setup

    async def writer(self, name: str, *, held: bool) -> Writer:
        """A new writer; ``held``: its write transactions stop before COMMIT."""
        writer = await new_writer(self.url, name, closed=held)
        self.observer.writers.append(writer)
        return writer

    async def statuses(self, r: RouterRef) -> dict[int, tuple[str, str | None]]:
        return {v.number: (v.status.value, v.error) for v in await self.setup.list_versions(r)}

    async def finish(self) -> None:
        await self.observer.finish()


@pytest.fixture
def store_url(empty_database_url: str) -> str:
    upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture
async def race(store_url: str) -> AsyncIterator[Race]:
    observer = await Observer.connect(store_url)
    setup = VersionStore.connect(store_url, pool_size=1)
    race = Race(store_url, observer, setup)
    try:
        yield race
    finally:
        await close_all(observer.writers)
        await setup.close()
        await observer.close()


async def held_then_waiting(race: Race, holder: Writer, waiter: Writer) -> None:
    """Wait until ``holder`` is held at its gate and ``waiter`` has run into it.

    A waiter that finishes (or reaches its own gate) instead never waited (the lock that should stop it is
    missing); the test goes on, and its invariant says what that costs. A waiter
    stuck on anything but the holder fails here."""
    await race.observer.held(holder)
    if await race.observer.waits_for(waiter, holder.pid):
        return
    if waiter.moving:
        raise AssertionError(
            f"{waiter.name} waits, but not for {holder.name}, which holds the router:\n"
            + await race.observer.describe()
        )


# --- numbering ----------------------------------------------------------------------


@pytest.mark.parametrize("existing", [True, False], ids=["router-known", "first-version"])
async def test_writers_queued_on_one_router_number_in_turn(race: Race, existing: bool) -> None:
    """Four writers record new configs; A holds the router, B, C and D queue behind it,
    and each is held again before its own COMMIT while the others queue behind it.

    The row lock (on the existing row, or on the row A is creating) makes each one
    number after the previous one committed. Without it B, C and D all take the
    number after A's, collide, retry, and two of them collide again on the next one:
    one retry is not enough, and record() fails.
    """
    r = router()
    hashes = ("ha", "hb", "hc", "hd")
    already = 0
    if existing:
        await race.setup.record(r, draft("h0"))
        already = 1
    first, *queued = [await race.writer(name, held=True) for name in ("a", "b", "c", "d")]

    runs = [first.start(first.store.record(r, draft(hashes[0])))]
    await race.observer.held(first)
    for writer, config_hash in zip(queued, hashes[1:], strict=True):
        runs.append(writer.start(writer.store.record(r, draft(config_hash))))
        await held_then_waiting(race, first, writer)
    await race.finish()

    results: list[tuple[VersionRecord, bool]] = [run.result() for run in runs]
    numbers = sorted(version.number for version, _ in results)
    assert numbers == [already + n for n in (1, 2, 3, 4)]
    assert all(created for _, created in results)
    assert results[0][0].number == already + 1  # A held the router: it numbered first
    stored = {v.config_hash: v.number for v in await race.setup.list_versions(r)}
    assert stored == {
        **({"h0": 1} if existing else {}),
        **{h: version.number for h, (version, _) in zip(hashes, results, strict=True)},
    }
    assert (await race.setup.known_routers()) == [r]


async def test_the_same_config_recorded_twice_at_once_is_one_version(race: Race) -> None:
    """B records the config A is recording: it waits, then gets A's version back."""
    r = router()
    await race.setup.record(r, draft("h0"))
    a, b = await race.writer("a", held=True), await race.writer("b", held=False)

    run_a = a.start(a.store.record(r, draft("h1")))
    await race.observer.held(a)
    run_b = b.start(b.store.record(r, draft("h1")))
    await held_then_waiting(race, a, b)
    await race.finish()

    (mine, created_a), (theirs, created_b) = run_a.result(), run_b.result()
    assert (mine.number, created_a, created_b) == (2, True, False)
    assert theirs == mine
    assert [(v.number, v.config_hash) for v in await race.setup.list_versions(r)] == [
        (2, "h1"),
        (1, "h0"),
    ]


async def test_a_writer_that_takes_no_lock_costs_a_retry_not_a_failure(race: Race) -> None:
    """A hand-written INSERT (or an old release) takes number 2 without the router lock.

    record() numbers 2 too, waits on the unique index for that transaction, gets a
    unique violation when it commits, and its one retry numbers 3."""
    r = router()
    await race.setup.record(r, draft("h1"))
    b = await race.writer("b", held=False)
    async with await psycopg.AsyncConnection.connect(libpq_url(race.url)) as rogue:
        await rogue.execute(
            "INSERT INTO router_versions"
            " (router_id, number, status, config_hash, spec, experiment_engine, router_image)"
            " SELECT id, 2, 'pending', 'by-hand', '{}', '{}', 'img' FROM routers WHERE uid = %s",
            (r.uid,),
        )
        rogue_pid = rogue.info.backend_pid
        race.observer.barriers.add(rogue_pid)
        run_b = b.start(b.store.record(r, draft("h2")))
        assert await race.observer.waits_for(b, rogue_pid), await race.observer.describe()
        await rogue.commit()
    await race.finish()

    version, created = run_b.result()
    assert (version.number, created) == (3, True)
    assert [(v.number, v.config_hash) for v in await race.setup.list_versions(r)] == [
        (3, "h2"),
        (2, "by-hand"),
        (1, "h1"),
    ]


# --- status marks -------------------------------------------------------------------


async def test_a_deploy_waiting_for_another_deploy_moves_the_mark(race: Race) -> None:
    """A redeploys failed version 2 while B deploys version 3.

    B waits for the router, then reads a snapshot in which 2 is deployed and undeploys
    it. Without the lock B's snapshot still shows 2 failed, so B leaves it alone and
    trips the one-deployed index when A commits (a unique violation)."""
    r = router()
    for h in ("h1", "h2", "h3"):
        await race.setup.record(r, draft(h))
    await race.setup.mark_deployed(r, 1)
    await race.setup.mark_failed(r, 2, "boom")
    a, b = await race.writer("a", held=True), await race.writer("b", held=False)

    run_a = a.start(a.store.mark_deployed(r, 2))
    await race.observer.held(a)
    run_b = b.start(b.store.mark_deployed(r, 3))
    await held_then_waiting(race, a, b)
    await race.finish()

    assert run_a.result() is not None and run_b.result() is not None
    assert await race.statuses(r) == {
        1: ("undeployed", None),
        2: ("undeployed", None),
        3: ("deployed", None),
    }


async def test_a_deploy_waiting_for_a_new_version_replaces_it(race: Race) -> None:
    """A records version 3 while B deploys version 2 (a rollback racing an edit).

    B waits, so version 3 is committed before B's mark is made: B's mark covers it
    ("every other pending version becomes undeployed"). Without the lock B's snapshot
    does not hold version 3 and it stays pending after B returned."""
    r = router()
    for h in ("h1", "h2"):
        await race.setup.record(r, draft(h))
    await race.setup.mark_deployed(r, 1)
    a, b = await race.writer("a", held=True), await race.writer("b", held=False)

    run_a = a.start(a.store.record(r, draft("h3")))
    await race.observer.held(a)
    run_b = b.start(b.store.mark_deployed(r, 2))
    await held_then_waiting(race, a, b)
    await race.finish()

    assert (run_a.result()[0].number, run_a.result()[1]) == (3, True)
    assert run_b.result() is not None
    assert await race.statuses(r) == {
        1: ("undeployed", None),
        2: ("deployed", None),
        3: ("undeployed", None),
    }


async def test_a_failure_waiting_for_a_deploy_of_its_version_keeps_its_error(
    race: Race,
) -> None:
    """A deploys version 2 while B marks the same version failed: B comes second, so
    version 2 ends failed with B's error and nothing of the router is deployed."""
    r = router()
    for h in ("h1", "h2"):
        await race.setup.record(r, draft(h))
    await race.setup.mark_deployed(r, 1)
    a, b = await race.writer("a", held=True), await race.writer("b", held=False)

    run_a = a.start(a.store.mark_deployed(r, 2))
    await race.observer.held(a)
    run_b = b.start(b.store.mark_failed(r, 2, "Deployment exceeded its progress deadline"))
    await held_then_waiting(race, a, b)
    await race.finish()

    run_a.result()
    run_b.result()
    assert await race.statuses(r) == {
        1: ("undeployed", None),
        2: ("failed", "Deployment exceeded its progress deadline"),
    }


async def test_a_deploy_waiting_for_a_failure_of_another_version_keeps_its_error(
    race: Race,
) -> None:
    """A marks deployed version 2 failed while B deploys version 3: 2 keeps A's error."""
    r = router()
    for h in ("h1", "h2", "h3"):
        await race.setup.record(r, draft(h))
    await race.setup.mark_deployed(r, 2)
    a, b = await race.writer("a", held=True), await race.writer("b", held=False)

    run_a = a.start(a.store.mark_failed(r, 2, "crash loop"))
    await race.observer.held(a)
    run_b = b.start(b.store.mark_deployed(r, 3))
    await held_then_waiting(race, a, b)
    await race.finish()

    run_a.result()
    assert run_b.result() is not None
    assert await race.statuses(r) == {
        1: ("undeployed", None),
        2: ("failed", "crash loop"),
        3: ("deployed", None),
    }


# --- deletion -----------------------------------------------------------------------


async def test_a_deletion_waiting_for_a_new_version_undeploys_it(race: Race) -> None:
    """The Router is deleted while a pass is recording its new version 2.

    A (the pass) holds the router with version 2 uncommitted; B (the deletion's
    mark_undeployed) waits for it, then undeploys every live version, 2 included, so
    the sweep does not see the router again. Without the lock in mark_undeployed
    (or in record) B does not wait, its UPDATE cannot see version 2, and version 2 is
    left pending after the deletion returned."""
    r = router()
    await race.setup.record(r, draft("h1"))
    await race.setup.mark_deployed(r, 1)
    a, b = await race.writer("a", held=True), await race.writer("b", held=False)

    run_a = a.start(a.store.record(r, draft("h2")))
    await race.observer.held(a)
    run_b = b.start(b.store.mark_undeployed(r))
    await held_then_waiting(race, a, b)
    await race.finish()

    assert (run_a.result()[0].number, run_a.result()[1]) == (2, True)
    run_b.result()
    assert await race.statuses(r) == {1: ("undeployed", None), 2: ("undeployed", None)}
    assert await race.setup.serving_routers() == []


async def test_a_new_version_waiting_for_a_deletion_is_left_for_the_sweep(
    race: Race,
) -> None:
    """The other order: the deletion holds the router, then a pass records version 2.

    No lock can undo a write that comes after the deletion; the outcome is defined
    instead. Version 2 is numbered after the deletion committed and stays pending,
    and the router is listed by serving_routers(), so the sweep of deleted Routers
    marks it undeployed. (The reconciler must not get here: a pass that finds its
    Router gone stops.)"""
    r = router()
    await race.setup.record(r, draft("h1"))
    await race.setup.mark_deployed(r, 1)
    a, b = await race.writer("a", held=True), await race.writer("b", held=False)

    run_a = a.start(a.store.mark_undeployed(r))
    await race.observer.held(a)
    run_b = b.start(b.store.record(r, draft("h2")))
    await held_then_waiting(race, a, b)
    await race.finish()

    run_a.result()
    assert (run_b.result()[0].number, run_b.result()[1]) == (2, True)
    assert await race.statuses(r) == {1: ("undeployed", None), 2: ("pending", None)}
    assert await race.setup.serving_routers() == [r]


async def test_a_deploy_waiting_for_a_deletion_is_kept(race: Race) -> None:
    """The other order: the deletion holds the router, then a pass marks version 2
    deployed. The store keeps the last mark made; only the caller can know that the
    Router is gone, so the reconciler must not mark a version of a deleted Router."""
    r = router()
    for h in ("h1", "h2"):
        await race.setup.record(r, draft(h))
    await race.setup.mark_deployed(r, 1)
    a, b = await race.writer("a", held=True), await race.writer("b", held=False)

    run_a = a.start(a.store.mark_undeployed(r))
    await race.observer.held(a)
    run_b = b.start(b.store.mark_deployed(r, 2))
    await held_then_waiting(race, a, b)
    await race.finish()

    run_a.result()
    assert run_b.result() is not None
    assert await race.statuses(r) == {1: ("undeployed", None), 2: ("deployed", None)}
    assert await race.setup.serving_routers() == [r]


async def test_a_deletion_waiting_for_a_deploy_leaves_nothing_deployed(race: Race) -> None:
    """The Router is deleted while a pass redeploys failed version 2.

    B (mark_undeployed) waits for A (mark_deployed), then reads a snapshot in which
    2 is deployed and undeploys it. Without the lock B's snapshot shows 2 failed,
    which it leaves alone: version 2 stays deployed after the deletion returned."""
    r = router()
    for h in ("h1", "h2"):
        await race.setup.record(r, draft(h))
    await race.setup.mark_deployed(r, 1)
    await race.setup.mark_failed(r, 2, "boom")
    a, b = await race.writer("a", held=True), await race.writer("b", held=False)

    run_a = a.start(a.store.mark_deployed(r, 2))
    await race.observer.held(a)
    run_b = b.start(b.store.mark_undeployed(r))
    await held_then_waiting(race, a, b)
    await race.finish()

    assert run_a.result() is not None
    run_b.result()
    assert await race.statuses(r) == {1: ("undeployed", None), 2: ("undeployed", None)}
    assert await race.setup.serving_routers() == []


# --- isolation level ----------------------------------------------------------------


@pytest.mark.parametrize("level", ["repeatable read", "serializable"])
async def test_the_store_keeps_read_committed_whatever_the_database_default(
    race: Race, level: str
) -> None:
    """Waiting for the router and then reading what the holder committed is READ
    COMMITTED behaviour. On a database whose default is stricter (a DBA's choice), a
    store made by ``VersionStore.connect`` must still work so; left to the default,
    the waiter fails with a serialization error."""
    async with await psycopg.AsyncConnection.connect(libpq_url(race.url), autocommit=True) as admin:
        database = sqlalchemy.engine.make_url(race.url).database
        await admin.execute(
            f"ALTER DATABASE \"{database}\" SET default_transaction_isolation = '{level}'"
        )
    async with await psycopg.AsyncConnection.connect(libpq_url(race.url)) as fresh:
        shown = await (await fresh.execute("SHOW default_transaction_isolation")).fetchone()
        assert shown == (level,)  # new sessions get it, as the writers below are
    r = router()
    await race.setup.record(r, draft("h1"))
    a = await race.writer("a", held=True)
    b = await connected_writer(race.url, "b")
    race.observer.writers.append(b)
    assert await b.store.find_by_hash(r, "h1") is not None  # a read first, then writes

    run_a = a.start(a.store.record(r, draft("h2")))
    await race.observer.held(a)
    run_b = b.start(b.store.record(r, draft("h3")))
    await held_then_waiting(race, a, b)
    await race.finish()

    assert [run.result()[0].number for run in (run_a, run_b)] == [2, 3]
    b.start(b.store.mark_deployed(r, 3))
    await race.finish()
    assert await race.statuses(r) == {
        1: ("undeployed", None),
        2: ("undeployed", None),
        3: ("deployed", None),
    }


# --- migrations ---------------------------------------------------------------------


async def test_upgrades_run_at_once_take_turns(empty_database_url: str) -> None:
    """Two ``db upgrade`` processes on an empty database (two replicas starting at once).

    The test holds A in the middle of its migration: its own uncommitted CREATE TABLE
    routers makes A's wait, with A's transaction (and A's migration lock) open. B must
    then wait for A, and find the schema at head once A commits. Without the advisory
    lock B creates alembic_version beside A's uncommitted one and fails with a
    duplicate key when A commits."""
    url = sqlalchemy.engine.make_url(empty_database_url)
    observer = await Observer.connect(empty_database_url)
    procs: list[asyncio.subprocess.Process] = []

    async def start(name: str) -> tuple[asyncio.subprocess.Process, int]:
        named = url.update_query_dict({"application_name": name}).render_as_string(False)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "turnout_operator.store.cli", "db", "upgrade"),
            env={**os.environ, "TURNOUT_DATABASE_URL": named},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        procs.append(proc)
        return proc, await backend_of(observer, name, proc)

    async def blocked(pid: int, holder: int, proc: asyncio.subprocess.Process) -> None:
        async def waits() -> bool:
            if proc.returncode is not None:
                raise AssertionError(f"pid {pid} exited without waiting for pid {holder}")
            return holder in (await observer.activity(pid)).blocked_by

        await observer.wait_until(f"pid {pid} waits for pid {holder}", waits)

    try:
        async with await psycopg.AsyncConnection.connect(libpq_url(empty_database_url)) as barrier:
            await barrier.execute("CREATE TABLE routers (id int)")
            proc_a, pid_a = await start("migrate-a")
            await blocked(pid_a, barrier.info.backend_pid, proc_a)
            proc_b, pid_b = await start("migrate-b")
            await blocked(pid_b, pid_a, proc_b)
            await barrier.rollback()
        outputs = [await asyncio.wait_for(p.communicate(), WAIT_SECONDS) for p in procs]
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await observer.close()

    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    assert current_revision(empty_database_url) == head_revision()


async def backend_of(observer: Observer, name: str, proc: asyncio.subprocess.Process) -> int:
    """The pid of the backend with application_name ``name``, once it has connected."""
    found: list[int] = []

    async def connected() -> bool:
        if proc.returncode is not None:
            raise AssertionError(f"{name} exited ({proc.returncode}) before it was seen")
        rows = await (
            await observer.conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name,)
            )
        ).fetchall()
        found[:] = [row[0] for row in rows]
        return len(found) == 1

    await observer.wait_until(f"{name} connected", connected)
    return found[0]
