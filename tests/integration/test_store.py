"""The versions store against real Postgres: schema, numbering under concurrency,
status changes, immutability, outages and the ``db upgrade`` command."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devenv.postgres import PostgresServer, libpq_url, start_postgres_server
from devenv.procs import ProcessRegistry, free_port
from tests.integration.store_writer import draft
from tests.substrate.fixtures import scratch_database
from turnout_operator.store import (
    RouterRef,
    StoreUnavailableError,
    UnknownVersionError,
    VersionDraft,
    VersionStatus,
    VersionStore,
)
from turnout_operator.store.cli import main as cli_main
from turnout_operator.store.migrate import current_revision, downgrade, head_revision, upgrade
from turnout_operator.store.models import Base
from turnout_operator.store.records import check_storable

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "hunter2-not-shown"


def router(name: str = "r") -> RouterRef:
    return RouterRef(namespace="team-a", name=name, uid=str(uuid.uuid4()))


def tables(url: str) -> set[str]:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sqlalchemy.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def with_password(url: str, password: str = PASSWORD) -> str:
    """The same server with a password in the URL (the test servers trust loopback, so
    it is ignored by the server but must still never be shown)."""
    return sqlalchemy.engine.make_url(url).set(password=password).render_as_string(False)


@pytest.fixture
def store_url(empty_database_url: str) -> str:
    upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[VersionStore]:
    store = VersionStore.connect(store_url)
    try:
        yield store
    finally:
        await store.close()


# --- schema -------------------------------------------------------------------------


def test_migrations_build_the_schema_on_an_empty_database(empty_database_url: str) -> None:
    assert current_revision(empty_database_url) is None
    upgrade(empty_database_url)
    assert current_revision(empty_database_url) == head_revision()
    assert {"routers", "router_versions"} <= tables(empty_database_url)
    upgrade(empty_database_url)  # again: nothing to do, no error
    assert current_revision(empty_database_url) == head_revision()


def test_downgrade_to_base_then_upgrade_again(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    downgrade(empty_database_url, "base")
    assert current_revision(empty_database_url) is None
    assert not {"routers", "router_versions"} & tables(empty_database_url)
    upgrade(empty_database_url)
    assert {"routers", "router_versions"} <= tables(empty_database_url)


def test_migrations_create_what_the_models_describe(store_url: str) -> None:
    engine = sqlalchemy.create_engine(store_url)
    try:
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


# --- numbering ----------------------------------------------------------------------


async def test_numbers_start_at_one_per_router_and_equal_configs_reuse_a_number(
    store: VersionStore,
) -> None:
    first, other = router("a"), router("b")

    v1, created1 = await store.record(first, draft("h1"))
    v2, created2 = await store.record(first, draft("h2"))
    again, created_again = await store.record(first, draft("h1"))
    b1, created_b1 = await store.record(other, draft("h2"))

    assert (v1.number, created1, v1.status) == (1, True, VersionStatus.PENDING)
    assert (v2.number, created2) == (2, True)
    assert (again.number, created_again) == (1, False)
    assert again == v1
    assert (b1.number, created_b1) == (1, True)
    assert [v.number for v in await store.list_versions(first)] == [2, 1]
    assert [v.number for v in await store.list_versions(other)] == [1]
    assert await store.find_by_hash(first, "h2") == v2
    assert await store.find_by_hash(other, "h1") is None
    assert await store.get(first, 2) == v2
    assert await store.get(first, 3) is None


async def test_a_router_created_again_under_the_same_name_starts_over(
    store: VersionStore,
) -> None:
    old = RouterRef(namespace="team-a", name="same", uid="uid-old")
    new = RouterRef(namespace="team-a", name="same", uid="uid-new")
    await store.record(old, draft("h1"))
    await store.record(old, draft("h2"))

    recreated, created = await store.record(new, draft("h2"))

    assert (recreated.number, created) == (1, True)
    assert await store.known_routers() == [old, new]
    assert await store.list_versions(RouterRef("x", "y", "never-seen")) == []


async def test_list_versions_limit_keeps_the_newest(store: VersionStore) -> None:
    r = router()
    for index in range(5):
        await store.record(r, draft(f"h{index}"))
    assert [v.number for v in await store.list_versions(r, limit=2)] == [5, 4]


def hashes_for(worker: int) -> list[str]:
    """25 hashes per worker: 20 in a window overlapping its neighbours', then 5 repeats."""
    window = [f"h{(worker * 5 + k) % 60}" for k in range(20)]
    return window + window[:5]


def test_processes_writing_at_once_get_gap_free_unique_numbers(store_url: str) -> None:
    workers = 8
    uid = str(uuid.uuid4())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "operator")])}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.store_writer",
                store_url,
                uid,
                ",".join(hashes_for(w)),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert [proc.returncode for proc in procs] == [0] * workers
    results = [row for out in outputs for row in json.loads(out.strip().splitlines()[-1])]

    distinct = {h for w in range(workers) for h in hashes_for(w)}
    stored = stored_versions(store_url, uid)
    assert sorted(stored.values()) == list(range(1, len(distinct) + 1))
    assert set(stored) == distinct
    # Every caller was told the stored number for its hash, and exactly one created it.
    assert all(stored[h] == number for h, number, _ in results)
    assert sorted(h for h, _, created in results if created) == sorted(distinct)


def stored_versions(url: str, uid: str) -> dict[str, int]:
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute(
            "SELECT v.config_hash, v.number FROM router_versions v"
            " JOIN routers r ON r.id = v.router_id WHERE r.uid = %s",
            (uid,),
        ).fetchall()
    as_dict: dict[str, int] = dict(rows)
    assert len(as_dict) == len(rows)
    return as_dict


async def test_tasks_sharing_one_pool_get_gap_free_unique_numbers(store_url: str) -> None:
    store = VersionStore.connect(store_url, pool_size=5)
    r = router()
    hashes = [f"h{i % 15}" for i in range(60)]
    try:
        results = await asyncio.gather(*(store.record(r, draft(h)) for h in hashes))
        # Several routers at once do not block each other's numbering.
        others = [router(f"o{i}") for i in range(5)]
        firsts = await asyncio.gather(*(store.record(o, draft("h0")) for o in others))
    finally:
        await store.close()
    by_hash: dict[str, int] = {}
    for h, (version, _) in zip(hashes, results, strict=True):
        assert by_hash.setdefault(h, version.number) == version.number
    assert sorted(by_hash.values()) == list(range(1, 16))
    assert sum(created for _, created in results) == 15
    assert stored_versions(store_url, r.uid) == by_hash
    assert [(v.number, created) for v, created in firsts] == [(1, True)] * 5


# --- content ------------------------------------------------------------------------

json_text = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=8)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | json_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text, inner, max_size=4),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=st.dictionaries(json_text, json_values, max_size=4), engine=json_values)
def test_json_comes_back_equal(store_url: str, spec: dict[str, Any], engine: Any) -> None:
    async def round_trip() -> None:
        store = VersionStore.connect(store_url, pool_size=1)
        try:
            r = router()
            written = VersionDraft("h", spec, {"config": engine}, "img")
            try:
                check_storable(written.spec)
                check_storable(written.experiment_engine)
            except ValueError:
                # What the store refuses to write is exactly what would come back changed.
                with pytest.raises(ValueError):
                    await store.record(r, written)
                return
            recorded, _ = await store.record(r, written)
            read = await store.get(r, recorded.number)
        finally:
            await store.close()
        assert recorded.spec == spec and recorded.experiment_engine == {"config": engine}
        assert read is not None
        assert read.spec == spec and read.experiment_engine == {"config": engine}

    asyncio.run(round_trip())


async def test_values_jsonb_cannot_hold_are_refused_before_writing(store: VersionStore) -> None:
    r = router()
    with pytest.raises(ValueError, match=r"spec\.routes\[0\]: .*NUL"):
        await store.record(r, VersionDraft("h", {"routes": ["a\x00b"]}, {}, "img"))
    assert await store.known_routers() == []


# --- status -------------------------------------------------------------------------


async def test_deploying_a_version_undeploys_the_previous_one(store: VersionStore) -> None:
    r = router()
    for h in ("h1", "h2", "h3"):
        await store.record(r, draft(h))

    await store.mark_deployed(r, 2)
    # Version 1 was replaced before it rolled out, version 3 by a revert to version 2.
    assert await statuses(store, r) == {1: "undeployed", 2: "deployed", 3: "undeployed"}

    await store.mark_deployed(r, 2)  # repeated by a retried reconcile: no change
    assert await statuses(store, r) == {1: "undeployed", 2: "deployed", 3: "undeployed"}

    await store.mark_deployed(r, 3)
    assert await statuses(store, r) == {1: "undeployed", 2: "undeployed", 3: "deployed"}


async def test_mark_deployed_returns_the_rows_new_updated_at_only_when_it_wrote(
    store: VersionStore,
) -> None:
    # The reconciler keeps the record in memory and mirrors it; an operator started later
    # reads the row. They must agree, or every restart rewrites the mirror.
    r = router()
    created, _ = await store.record(r, draft("h1"))

    stamped = await store.mark_deployed(r, 1)

    (row,) = await store.list_versions(r, limit=5)
    assert stamped is not None and stamped == row.updated_at
    assert stamped >= created.updated_at
    assert await store.mark_deployed(r, 1) is None  # deployed already: nothing written


async def test_reverting_to_a_lower_number_moves_the_deployed_mark(store: VersionStore) -> None:
    # The partial unique index allows one deployed row per router and is checked row
    # by row, so the old deployed row must change before the lower-numbered one does.
    r = router()
    for h in ("h1", "h2", "h3"):
        await store.record(r, draft(h))
    await store.mark_deployed(r, 3)

    await store.mark_deployed(r, 1)
    assert await statuses(store, r) == {1: "deployed", 2: "undeployed", 3: "undeployed"}

    await store.mark_failed(r, 2, "boom")
    await store.mark_deployed(r, 2)
    assert await statuses(store, r) == {1: "undeployed", 2: "deployed", 3: "undeployed"}


async def test_status_changes_racing_on_one_router_leave_at_most_one_deployed(
    store_url: str,
) -> None:
    # Without the router lock these deadlock or trip the one-deployed index.
    store = VersionStore.connect(store_url, pool_size=5)
    r = router()
    numbers = list(range(1, 7))
    try:
        for n in numbers:
            await store.record(r, draft(f"h{n}"))
        for _ in range(5):
            await asyncio.gather(
                *(store.mark_deployed(r, n) for n in numbers),
                store.mark_failed(r, 6, "boom"),
                store.mark_undeployed(r),
            )
            final = await statuses(store, r)
            assert list(final.values()).count("deployed") <= 1
            assert set(final.values()) <= {"deployed", "undeployed", "failed"}
    finally:
        await store.close()


async def test_marking_a_settled_router_deployed_again_writes_no_row(
    store: VersionStore,
) -> None:
    r = router()
    for h in ("h1", "h2"):
        await store.record(r, draft(h))
    await store.mark_deployed(r, 2)
    before = {v.number: v.updated_at for v in await store.list_versions(r)}

    await store.mark_deployed(r, 2)

    assert {v.number: v.updated_at for v in await store.list_versions(r)} == before


async def test_a_failed_version_keeps_its_error_until_deployed(store: VersionStore) -> None:
    r = router()
    await store.record(r, draft("h1"))
    await store.record(r, draft("h2"))
    await store.mark_deployed(r, 1)

    await store.mark_failed(r, 2, "Deployment exceeded its progress deadline")

    failed = await store.get(r, 2)
    assert failed is not None
    assert (failed.status, failed.error) == (
        VersionStatus.FAILED,
        "Deployment exceeded its progress deadline",
    )
    assert failed.updated_at >= failed.created_at
    assert await statuses(store, r) == {1: "deployed", 2: "failed"}

    await store.mark_deployed(r, 2)
    deployed = await store.get(r, 2)
    assert deployed is not None and (deployed.status, deployed.error) == ("deployed", None)


async def test_undeploying_a_router_covers_deployed_and_pending(store: VersionStore) -> None:
    r, other = router(), router("other")
    for h in ("h1", "h2", "h3", "h4"):
        await store.record(r, draft(h))
    await store.record(other, draft("h1"))
    await store.mark_deployed(other, 1)
    await store.mark_failed(r, 1, "boom")
    await store.mark_deployed(r, 2)

    await store.mark_undeployed(r)

    assert await statuses(store, r) == {
        1: "failed",
        2: "undeployed",
        3: "undeployed",
        4: "undeployed",
    }
    assert await statuses(store, other) == {1: "deployed"}
    await store.mark_undeployed(RouterRef("x", "never-seen", "nope"))  # nothing to do


async def test_serving_routers_are_those_with_a_deployed_or_pending_version(
    store: VersionStore,
) -> None:
    """What the sweep of deleted Routers looks at: one it marked is not listed again."""
    pending, deployed, failed, undeployed = (router(n) for n in ("p", "d", "f", "u"))
    for r in (pending, deployed, failed, undeployed):
        await store.record(r, draft("h1"))
    await store.mark_deployed(deployed, 1)
    await store.mark_failed(failed, 1, "boom")
    await store.mark_deployed(undeployed, 1)
    await store.mark_undeployed(undeployed)

    assert await store.serving_routers() == [pending, deployed]
    assert await store.known_routers() == [pending, deployed, failed, undeployed]
    await store.mark_undeployed(pending)
    assert await store.serving_routers() == [deployed]


async def test_status_changes_name_existing_versions(store: VersionStore) -> None:
    r = router()
    await store.record(r, draft("h1"))
    with pytest.raises(UnknownVersionError):
        await store.mark_deployed(r, 2)
    with pytest.raises(UnknownVersionError):
        await store.mark_failed(router("unknown"), 1, "x")
    assert await statuses(store, r) == {1: "pending"}


async def statuses(store: VersionStore, r: RouterRef) -> dict[int, str]:
    return {v.number: v.status.value for v in await store.list_versions(r)}


async def test_the_database_refuses_to_change_a_versions_content(
    store: VersionStore, store_url: str
) -> None:
    r = router()
    await store.record(r, draft("h1"))
    await store.mark_deployed(r, 1)
    with psycopg.connect(libpq_url(store_url)) as conn:
        for column, value in [
            ("spec", "'{}'::jsonb"),
            ("experiment_engine", "'{}'::jsonb"),
            ("router_image", "'other'"),
            ("config_hash", "'other'"),
            ("number", "7"),
        ]:
            with pytest.raises(psycopg.errors.RestrictViolation, match="immutable"):
                conn.execute(f"UPDATE router_versions SET {column} = {value}")
            conn.rollback()
        conn.execute("UPDATE router_versions SET status = 'undeployed', updated_at = now()")
        conn.commit()
    unchanged = await store.get(r, 1)
    assert unchanged is not None
    assert (unchanged.spec, unchanged.status) == (draft("h1").spec, VersionStatus.UNDEPLOYED)


# --- outages ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PostgresServer]:
    """A server of this module's own, since stopping the session's would break others."""
    registry = ProcessRegistry()
    try:
        server = start_postgres_server(registry)
        upgrade(server.url)
        yield server
    finally:
        registry.stop_all()


async def test_store_reports_an_outage_and_recovers_without_losing_versions(
    private_postgres: PostgresServer,
) -> None:
    store = VersionStore.connect(with_password(private_postgres.url), pool_size=2)
    r = router()
    try:
        await store.record(r, draft("h1"))
        await store.record(r, draft("h2"))

        private_postgres.stop()
        try:
            failures: list[StoreUnavailableError] = []
            for call in (
                store.ping(),
                store.record(r, draft("h3")),
                store.find_by_hash(r, "h1"),
                store.mark_deployed(r, 1),
            ):
                with pytest.raises(StoreUnavailableError) as caught:
                    await call
                failures.append(caught.value)
        finally:
            private_postgres.start()

        for failure in failures:
            assert PASSWORD not in str(failure)
            assert "***" in str(failure)
            assert f"127.0.0.1:{private_postgres.port}" in str(failure)

        await store.ping()
        v3, created3 = await store.record(r, draft("h3"))
        v1, created1 = await store.record(r, draft("h1"))
        assert (v3.number, created3, v1.number, created1) == (3, True, 1, False)
        assert [v.number for v in await store.list_versions(r)] == [3, 2, 1]
    finally:
        await store.close()


async def test_a_restart_while_the_store_is_idle_goes_unnoticed(
    private_postgres: PostgresServer,
) -> None:
    store = VersionStore.connect(private_postgres.url, pool_size=2)
    r = router()
    try:
        # Two pooled connections, both open when the server goes away (which draft
        # gets number 1 is up to the race).
        recorded = await asyncio.gather(store.record(r, draft("h1")), store.record(r, draft("h2")))
        private_postgres.stop()
        private_postgres.start()

        # Each pooled connection is dead; the first calls must not fail because of them.
        await asyncio.gather(store.ping(), store.ping())
        found, created = await store.record(r, draft("h2"))
        assert (found, created) == (recorded[1][0], False)
        assert sorted(v.number for v, _ in recorded) == [1, 2]
    finally:
        await store.close()


async def test_an_unreachable_database_is_reported_without_the_password() -> None:
    url = f"postgresql+psycopg://turnout:{PASSWORD}@127.0.0.1:{free_port()}/turnout"
    store = VersionStore.connect(url)
    try:
        with pytest.raises(StoreUnavailableError) as caught:
            await store.ping()
    finally:
        await store.close()
    message = str(caught.value)
    assert PASSWORD not in message
    assert message.startswith("versions database postgresql+psycopg://turnout:***@127.0.0.1")
    assert "refused" in message.lower()


# --- db upgrade ---------------------------------------------------------------------


def test_db_upgrade_migrates_the_database_in_the_option(
    empty_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = with_password(empty_database_url)
    assert cli_main(["db", "upgrade", "--database-url", url]) == 0
    assert current_revision(empty_database_url) == head_revision()
    out = capsys.readouterr().out
    assert PASSWORD not in out and head_revision() in out


def test_db_upgrade_as_a_module_reads_the_environment(postgres_url: str) -> None:
    with scratch_database(postgres_url, "cli_env") as url:
        done = subprocess.run(
            [sys.executable, "-m", "turnout_operator.store.cli", "db", "upgrade"],
            env={**os.environ, "TURNOUT_DATABASE_URL": with_password(url)},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert current_revision(url) == head_revision()
    assert PASSWORD not in done.stdout + done.stderr


def test_db_upgrade_without_a_database_url_is_a_usage_error() -> None:
    # The command as a user runs it, in an environment without the variable.
    env = {key: value for key, value in os.environ.items() if key != "TURNOUT_DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "turnout_operator", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "TURNOUT_DATABASE_URL" in result.stderr


def test_db_upgrade_against_an_unreachable_database_says_so_in_one_line() -> None:
    url = f"postgresql://turnout:{PASSWORD}@127.0.0.1:{free_port()}/turnout"
    done = subprocess.run(
        [sys.executable, "-m", "turnout_operator.store.cli", "db", "upgrade"],
        env={**os.environ, "TURNOUT_DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert PASSWORD not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "is unavailable" in done.stderr and "turnout:***@127.0.0.1" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
