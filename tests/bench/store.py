"""The versions store against a real Postgres: calls per second and client CPU per call.

The reconcile loop calls the store for every Router (find_by_hash, record, then
mark_deployed; the RouterVersion mirror calls list_versions), so what matters is the
operator-side CPU each call costs and the round trips it waits for. Each case runs
``CALLS`` times, one call after another from one task, after a warm-up (SQLAlchemy's
compiled-statement cache and psycopg's server-side prepare both need a few calls).
CPU is this process's (Postgres runs in its own processes), so it is the store's
Python, SQLAlchemy and psycopg work plus the event loop.

The baseline is the cheapest transaction the same pool can run: BEGIN, ``SELECT 1``,
COMMIT, with the same pre-ping. The ratios against it stay comparable between
machines and runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devenv.postgres import start_postgres
from devenv.procs import ProcessRegistry
from tests.bench.stats import summarize
from turnout_operator.store import RouterRef, VersionDraft, VersionStore
from turnout_operator.store.migrate import upgrade
from turnout_operator.store.repository import CONNECT_TIMEOUT_SECONDS, ISOLATION_LEVEL

CALLS = 1000
WARMUP = 50
ROUTERS = 20
"""Versions are spread over this many routers (CALLS / ROUTERS versions each)."""
MIRROR_LIMIT = 11
"""What the RouterVersion mirror asks for: its default limit of 10, plus one."""
CONCURRENT_TASKS = 8


@dataclass(frozen=True)
class Case:
    name: str
    n: int
    p50_us: float
    p99_us: float
    calls_per_s: float
    cpu_ms: float


def engine_like_connect(url: str) -> AsyncEngine:
    """An engine with VersionStore.connect's pool settings, which the baseline shares."""
    return create_async_engine(
        url,
        pool_size=5,
        max_overflow=0,
        pool_pre_ping=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        isolation_level=ISOLATION_LEVEL,
    )


def draft(router: int, index: int) -> VersionDraft:
    """A version about the size of a small Router's: a few routes, an engine config."""
    return VersionDraft(
        config_hash=f"sha256:{router:04d}-{index:06d}",
        spec={
            "routes": [{"id": f"r{k}", "endpoint": f"http://svc-{k}.team:8080"} for k in range(3)],
            "defaultRouteId": "r0",
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
        },
        experiment_engine={
            "type": "nop",
            "pluginImage": "ghcr.io/example/engine:1.2.3",
            "config": {"experiments": [{"id": index, "variants": ["a", "b"]}]},
        },
        router_image="turnout/router:bench",
    )


async def measure(
    name: str, calls: Callable[[int], Awaitable[object]], n: int = CALLS, warmup: int = WARMUP
) -> Case:
    for index in range(warmup):
        await calls(-1 - index)
    samples = []
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    for index in range(n):
        started = time.perf_counter()
        await calls(index)
        samples.append(time.perf_counter() - started)
    cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
    result = summarize(name, samples, wall)
    return Case(name, n, result.p50_us, result.p99_us, result.calls_per_s, cpu / n * 1000)


async def concurrent(name: str, calls: Callable[[int, int], Awaitable[object]]) -> Case:
    """CONCURRENT_TASKS tasks at once, each on its own router: throughput and CPU."""
    per_task = CALLS // CONCURRENT_TASKS
    samples: list[float] = []

    async def task(worker: int) -> None:
        for index in range(per_task):
            started = time.perf_counter()
            await calls(worker, index)
            samples.append(time.perf_counter() - started)

    cpu_start, wall_start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(task(w) for w in range(CONCURRENT_TASKS)))
    cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
    result = summarize(name, samples, wall)
    n = per_task * CONCURRENT_TASKS
    return Case(name, n, result.p50_us, result.p99_us, result.calls_per_s, cpu / n * 1000)


async def run(url: str) -> list[Case]:
    engine = engine_like_connect(url)
    store = VersionStore(engine)
    refs = [RouterRef("bench", f"router-{i}", f"uid-{i}") for i in range(ROUTERS)]
    concurrent_refs = [RouterRef("bench", f"busy-{i}", f"busy-{i}") for i in range(8)]

    # Version k (0 .. CALLS + WARMUP - 1) belongs to router k % ROUTERS. The measured
    # call with index i records version i + WARMUP; warm-up calls (i < 0) the rest.
    stored = CALLS + WARMUP

    def version(k: int) -> tuple[RouterRef, VersionDraft]:
        return refs[k % ROUTERS], draft(k % ROUTERS, k)

    async def baseline(_: int) -> None:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT 1"))

    async def record_new(index: int) -> None:
        _, created = await store.record(*version(index + WARMUP))
        assert created

    async def record_existing(index: int) -> None:
        _, created = await store.record(*version(abs(index) % stored))
        assert not created

    async def find_by_hash(index: int) -> None:
        router, made = version(abs(index) % stored)
        assert await store.find_by_hash(router, made.config_hash) is not None

    async def get(index: int) -> None:
        number = 1 + abs(index) % (stored // ROUTERS)
        assert await store.get(refs[index % ROUTERS], number) is not None

    async def list_versions(index: int) -> None:
        found = await store.list_versions(refs[index % ROUTERS], limit=MIRROR_LIMIT)
        assert len(found) == MIRROR_LIMIT

    def lap_number(index: int) -> int:
        """Version 1 or 2, flipping each time the calls have gone round the routers."""
        return 1 + (index // ROUTERS) % 2

    async def deploy_moves(index: int) -> None:
        # Each call moves the router's deployed mark between versions 1 and 2.
        await store.mark_deployed(refs[index % ROUTERS], lap_number(index))

    async def deploy_settled(index: int) -> None:
        # Where deploy_moves left every router: nothing to change.
        await store.mark_deployed(refs[index % ROUTERS], lap_number(CALLS - 1))

    async def record_concurrent(worker: int, index: int) -> None:
        await store.record(concurrent_refs[worker], draft(100 + worker, index))

    try:
        # The ROUTERS routers hold versions from the first warm-up on, so list_versions
        # and get always find what they ask for.
        cases = [await measure("baseline: BEGIN; SELECT 1; COMMIT", baseline)]
        cases.append(await measure("record (new version)", record_new))
        cases.append(await measure("record (hash already stored)", record_existing))
        cases.append(await measure("find_by_hash (found)", find_by_hash))
        cases.append(await measure("get", get))
        cases.append(await measure(f"list_versions(limit={MIRROR_LIMIT})", list_versions))
        cases.append(await measure("mark_deployed (mark moves)", deploy_moves))
        cases.append(await measure("mark_deployed (settled, no write)", deploy_settled))
        cases.append(
            await concurrent(
                f"record (new), {CONCURRENT_TASKS} tasks at once, own routers", record_concurrent
            )
        )
        return cases
    finally:
        await store.close()


def table(cases: list[Case]) -> str:
    base = cases[0]
    lines = [
        f"{'case':48} {'n':>5} {'p50 µs':>8} {'p99 µs':>8} {'calls/s':>8} "
        f"{'CPU ms/call':>11} {'CPU vs base':>11} {'p50 vs base':>11}"
    ]
    for case in cases:
        lines.append(
            f"{case.name:48} {case.n:5d} {case.p50_us:8.0f} {case.p99_us:8.0f} "
            f"{case.calls_per_s:8.0f} {case.cpu_ms:11.3f} {case.cpu_ms / base.cpu_ms:10.2f}x "
            f"{case.p50_us / base.p50_us:10.2f}x"
        )
    return "\n".join(lines)


def main() -> None:
    registry = ProcessRegistry()
    try:
        url = start_postgres(registry).url
        upgrade(url)
        cases = asyncio.run(run(url))
    finally:
        registry.stop_all()
    print(
        f"Versions store on a private Postgres (127.0.0.1, fsync off), {CALLS} calls per case "
        f"from one task unless noted, {ROUTERS} routers, pool of 5 with pre-ping"
    )
    print(table(cases))
    print("CPU is the benchmark process's own (store + SQLAlchemy + psycopg + event loop).")


if __name__ == "__main__":
    main()
