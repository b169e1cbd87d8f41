"""The router's workers and its bounds on callers, over real sockets with real plugins.

Workers: several processes on one port, each with its own plugin; one scrape
reports the whole pod; a killed worker is replaced; SIGTERM drains them all.
Callers: a head dripping in, a body that stops, a body over the limit, and
connections past the cap, each from a raw socket client that behaves so.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devenv.binaries import REPO_ROOT as ROOT
from tests.cases.treatments import reference_variant, runner_config
from tests.substrate.router_process import RouterProcess, Upstream, until_ready
from turnout_router.config import PLUGIN_MOVED_EXIT_CODE

pytestmark = pytest.mark.interop


@pytest.fixture
async def upstreams() -> AsyncIterator[dict[str, Upstream]]:
    started = {name: await Upstream(name).start() for name in ("control", "treatment-1")}
    yield started
    for upstream in started.values():
        await upstream.stop()


@pytest.fixture
def routers() -> Iterator[list[RouterProcess]]:
    started: list[RouterProcess] = []
    yield started
    for router in started:
        router.stop()


def config(upstreams: dict[str, Upstream], plugin: Path | None, **server: Any) -> dict[str, Any]:
    engine = (
        None
        if plugin is None
        else {"name": "hardcoded", "pluginBinary": str(plugin), "runnerConfig": runner_config()}
    )
    return {
        "routes": [
            {"id": name, "endpoint": up.url, "timeout": "5s"} for name, up in upstreams.items()
        ],
        "fallbackRoute": "control",
        "routeNamePath": "route_name",
        "router": "test/router",
        "version": 1,
        "experimentEngine": engine,
        "server": server,
    }


async def start(
    routers: list[RouterProcess], tmp_path: Path, document: dict[str, Any], **env: str
) -> RouterProcess:
    directory = tmp_path / f"router-{len(routers)}"
    directory.mkdir()
    router = RouterProcess(document, directory, env=env)
    routers.append(router)
    await asyncio.to_thread(router.start)
    await until_ready(router)
    return router


async def post_fresh(router: RouterProcess, unit: int) -> tuple[int, str]:
    """One request on a new connection: the kernel picks the worker per connection."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(f"{router.url}/v1/predict", json={"client": {"id": unit}}) as response,
    ):
        body = await response.json()
        return response.status, body.get("route", "")


async def metrics(router: RouterProcess) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{router.url}/metrics") as response:
        assert response.status == 200
        return await response.text()


def requests_total(text: str) -> float:
    pattern = r'^turnout_router_requests_total\{route="[^"]+",rule="none",status="200"\} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, text, re.MULTILINE))


# ----- workers


async def test_two_workers_each_with_a_plugin_and_one_scrape_counts_the_whole_pod(
    python_plugin: Path,
    upstreams: dict[str, Upstream],
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    router = await start(
        routers,
        tmp_path,
        config(upstreams, python_plugin),
        ROUTER_WORKERS="2",
        ROUTER_ACCESS_LOG="1",
    )
    workers = router.worker_pids()
    assert len(workers) == 2
    assert len(router.plugin_pids()) == 2  # one plugin per worker
    units = range(1, 201)
    answers = [await post_fresh(router, unit) for unit in units]
    assert answers == [(200, reference_variant(unit)) for unit in units]
    # Served by both workers (the kernel spreads connections by a hash of their
    # ports; 200 fresh connections all on one of two listeners would be a broken
    # SO_REUSEPORT), so a scrape that counts 200 counted both.
    while sum(line.get("message") == "request" for line in router.lines) < 200:
        await asyncio.sleep(0.05)
    served_by = [line["worker"] for line in router.lines if line.get("message") == "request"]
    assert set(served_by) == {0, 1}
    # Each worker writes its tallies every quarter second: once a scrape counts all 200,
    # every scrape does, whichever worker answers it.
    while requests_total(await metrics(router)) < 200.0:
        await asyncio.sleep(0.05)
    for _ in range(6):
        assert requests_total(await metrics(router)) == 200.0
    text = await metrics(router)
    assert "turnout_router_plugin_up 1.0" in text


async def test_a_killed_worker_is_replaced_and_counters_carry_on(
    python_plugin: Path,
    upstreams: dict[str, Upstream],
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    router = await start(routers, tmp_path, config(upstreams, python_plugin), ROUTER_WORKERS="2")
    for unit in range(1, 41):
        assert (await post_fresh(router, unit))[0] == 200
    # Counted (each worker writes its tallies every quarter second) before the kill: a
    # worker killed outright loses what it had not written yet, as it loses its requests.
    while requests_total(await metrics(router)) < 40.0:
        await asyncio.sleep(0.05)
    victim, survivor = router.worker_pids()
    victim_plugins = Path(f"/proc/{victim}/task/{victim}/children").read_text().split()
    assert len(victim_plugins) == 1
    os.kill(victim, signal.SIGKILL)
    while True:
        current = router.worker_pids()
        if len(current) == 2 and victim not in current:
            break
        await asyncio.sleep(0.05)
    assert survivor in current
    await until_ready(router)
    assert len(router.plugin_pids()) == 2
    assert any(line.get("message") == "worker exited; starting another" for line in router.lines)
    for unit in range(41, 81):
        assert await post_fresh(router, unit) == (200, reference_variant(unit))
    # The replacement continued the dead worker's counters: nothing was lost (the last
    # requests show once their worker has written its tallies).
    while requests_total(await metrics(router)) < 80.0:
        await asyncio.sleep(0.05)
    assert requests_total(await metrics(router)) == 80.0
    # The dead worker's plugin did not outlive it (the kernel kills it: PR_SET_PDEATHSIG).
    for pid in victim_plugins:
        while alive(int(pid)):
            await asyncio.sleep(0.05)


async def test_as_pid_1_the_parent_reaps_a_killed_workers_plugin(
    python_plugin: Path,
    upstreams: dict[str, Upstream],
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    """In a container the parent is PID 1: a dead worker's plugin is re-parented to it and
    must be reaped there, or it stays a zombie for the pod's life. `unshare` gives the
    router a PID namespace (and a /proc) of its own, as a container runtime does."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root for a PID namespace")
    directory = tmp_path / "router-pid1"
    directory.mkdir()
    router = RouterProcess(
        config(upstreams, python_plugin),
        directory,
        prefix=("unshare", "--pid", "--fork", "--mount-proc", "--kill-child"),
    )
    routers.append(router)
    await asyncio.to_thread(router.start)
    await until_ready(router)
    assert router.process is not None
    (parent,) = children(router.process.pid)  # the namespace's PID 1
    (worker,) = children(parent)
    (plugin,) = children(worker)
    os.kill(worker, signal.SIGKILL)
    for _ in range(600):  # 30 s: reaping takes at most about a second
        if not Path(f"/proc/{plugin}").exists():
            break
        await asyncio.sleep(0.05)
    state = Path(f"/proc/{plugin}/stat").read_text() if Path(f"/proc/{plugin}").exists() else ""
    assert state == "", f"the dead worker's plugin was not reaped: {state}"
    assert any(line.get("message") == "reaped an orphaned process" for line in router.lines)
    while sum(line.get("message") == "worker listening" for line in router.lines) < 2:
        await asyncio.sleep(0.05)
    await until_ready(router)  # the replacement serves, with a plugin of its own
    assert (await post_fresh(router, 5)) == (200, reference_variant(5))
    os.kill(parent, signal.SIGTERM)  # unshare itself ignores SIGTERM; PID 1 drains
    assert await asyncio.to_thread(router.wait) == 0


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_sigterm_drains_every_worker(
    python_plugin: Path,
    upstreams: dict[str, Upstream],
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    router = await start(routers, tmp_path, config(upstreams, python_plugin), ROUTER_WORKERS="2")
    plugins = router.plugin_pids()
    for upstream in upstreams.values():
        upstream.block()
    in_flight = [asyncio.create_task(post_fresh(router, unit)) for unit in range(1, 31)]
    while sum(len(up.received) for up in upstreams.values()) < 30:
        await asyncio.sleep(0.01)
    router.terminate()
    while sum(line.get("message") == "shutting down" for line in router.lines) < 2:
        await asyncio.sleep(0.01)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", router.port), timeout=5).close()
    for upstream in upstreams.values():
        upstream.release()
    answers = await asyncio.gather(*in_flight)
    assert answers == [(200, reference_variant(unit)) for unit in range(1, 31)]
    assert await asyncio.to_thread(router.wait) == 0
    assert not [pid for pid in plugins if Path(f"/proc/{pid}").exists()]


# ----- slow and hostile callers


def raw(router: RouterProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", router.port), timeout=30)


def read_all(sock: socket.socket) -> bytes:
    """Everything the router sends until it closes (the socket's timeout guards the wait)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


async def test_a_client_dripping_its_head_gets_408_at_the_deadline(
    upstreams: dict[str, Upstream], routers: list[RouterProcess], tmp_path: Path
) -> None:
    router = await start(
        routers, tmp_path, config(upstreams, None), ROUTER_HEADER_TIMEOUT_SECONDS="1.5"
    )

    def drip() -> tuple[bytes, int]:
        head = b"POST /v1/predict HTTP/1.1\r\nHost: r\r\nX-Slow: " + b"a" * 400
        with raw(router) as sock:
            sock.settimeout(0.1)
            sent = 0
            for byte in head:  # one byte every 50 ms: 20 s to send the whole head
                try:
                    sock.sendall(bytes([byte]))
                    sent += 1
                    got = sock.recv(65536)
                except TimeoutError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    return b"", sent
                sock.settimeout(30)
                return got + read_all(sock), sent
            return b"", sent

    answer, sent = await asyncio.to_thread(drip)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"request head did not arrive within 1.5s" in answer
    assert sent < 400  # cut off long before the head was done, bytes kept coming


async def test_a_body_that_stops_gets_408(
    upstreams: dict[str, Upstream], routers: list[RouterProcess], tmp_path: Path
) -> None:
    router = await start(
        routers, tmp_path, config(upstreams, None), ROUTER_BODY_TIMEOUT_SECONDS="1"
    )

    def stall() -> bytes:
        with raw(router) as sock:
            sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: r\r\nContent-Length: 10\r\n\r\n{}")
            return read_all(sock)

    answer = await asyncio.to_thread(stall)
    assert (
        answer.startswith(b"HTTP/1.1 408 ") and b"request body did not arrive within 1s" in answer
    )


async def test_a_client_still_sending_an_oversize_body_reads_the_413(
    upstreams: dict[str, Upstream], routers: list[RouterProcess], tmp_path: Path
) -> None:
    router = await start(routers, tmp_path, config(upstreams, None, maxBodyBytes=1000))

    def oversize() -> bytes:
        body = b"x" * (4 * 1024 * 1024)  # far more than the socket buffers hold
        with raw(router) as sock:
            sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: r\r\n")
            sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body))
            sock.sendall(body)  # the router reads and drops it after answering: no reset
            sock.shutdown(socket.SHUT_WR)
            return read_all(sock)

    answer = await asyncio.to_thread(oversize)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == 413


async def test_connections_past_the_cap_get_503(
    upstreams: dict[str, Upstream], routers: list[RouterProcess], tmp_path: Path
) -> None:
    router = await start(routers, tmp_path, config(upstreams, None), ROUTER_MAX_CONNECTIONS="3")

    def over_the_cap() -> tuple[bytes, bytes]:
        held = [raw(router) for _ in range(3)]
        try:
            for sock in held:  # each counted: a byte of a head is on its way
                sock.sendall(b"P")
            with raw(router) as extra:
                refused = read_all(extra)
        finally:
            for sock in held:
                sock.close()
        # Room again once they are gone (the router notices the closes).
        for _ in range(200):
            with raw(router) as sock:
                sock.sendall(
                    b"GET /v1/internal/live HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n"
                )
                served = read_all(sock)
            if served.startswith(b"HTTP/1.1 200 "):
                return refused, served
        return refused, served

    refused, served = await asyncio.to_thread(over_the_cap)
    assert refused.startswith(b"HTTP/1.1 503 ") and b"limit of 3 connections" in refused
    assert served.startswith(b"HTTP/1.1 200 ")


# ----- a plugin that takes the metrics collector and never dials back


async def test_a_plugin_that_never_dials_back_for_metrics_leaves_no_unretrieved_task(
    upstreams: dict[str, Upstream], routers: list[RouterProcess], tmp_path: Path
) -> None:
    launcher = tmp_path / "never-dials"
    script = ROOT / "tests" / "plugins" / "never_dials_plugin.py"
    launcher.write_text(f"#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} {script}\n")
    launcher.chmod(0o755)
    router = await start(routers, tmp_path, config(upstreams, launcher))
    assert await post_fresh(router, 1) == (200, "treatment-1")
    # The host gives up on the two streams after the broker's wait (5 s) and says so.
    for _ in range(300):
        if any(
            line.get("message") == "plugin did not dial back for metrics" for line in router.lines
        ):
            break
        await asyncio.sleep(0.1)
    assert await asyncio.to_thread(router.stop) == 0
    output = router.output()
    assert "never retrieved" not in output
    assert not [line for line in router.lines if line.get("level") == "error"]
    assert any(
        line.get("message") == "plugin did not dial back for metrics" for line in router.lines
    )


# ----- the plugin that serves is the plugin that validated


def engine_with_digest(upstreams: dict[str, Upstream], plugin: Path, digest: str) -> dict[str, Any]:
    document = config(upstreams, plugin)
    document["experimentEngine"]["pluginSha256"] = digest
    return document


async def test_the_validated_binary_serves(
    python_plugin: Path,
    upstreams: dict[str, Upstream],
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    digest = hashlib.sha256(python_plugin.read_bytes()).hexdigest()
    router = await start(routers, tmp_path, engine_with_digest(upstreams, python_plugin, digest))
    assert await post_fresh(router, 7) == (200, reference_variant(7))


async def test_another_binary_stops_the_router_at_once_naming_both_digests(
    python_plugin: Path,
    upstreams: dict[str, Upstream],
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    actual = hashlib.sha256(python_plugin.read_bytes()).hexdigest()
    validated = hashlib.sha256(b"the binary the operator validated").hexdigest()
    directory = tmp_path / "router-moved"
    directory.mkdir()
    termination_log = directory / "termination-log"
    termination_log.write_text("")  # the kubelet's file, as in a container
    router = RouterProcess(
        engine_with_digest(upstreams, python_plugin, validated),
        directory,
        env={"ROUTER_TERMINATION_LOG": str(termination_log)},
    )
    routers.append(router)
    with pytest.raises(RuntimeError, match="router did not start"):
        await asyncio.to_thread(router.start)
    assert router.wait() == PLUGIN_MOVED_EXIT_CODE == 3
    words = termination_log.read_text()
    assert actual in words and validated in words and str(python_plugin) in words
    (line,) = [entry for entry in router.lines if entry.get("level") == "error"]
    assert line["message"] == "plugin binary is not the validated one; not starting"
    assert router.plugin_pids() == []  # never started


async def test_a_binary_changed_after_the_start_is_never_started_and_keeps_it_unready(
    python_plugin: Path,
    upstreams: dict[str, Upstream],
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    """The second line: plugin_host checks the digest before every start of the plugin, so
    a binary replaced under a running router is not started when the plugin restarts."""
    plugin = tmp_path / "hardcoded"
    shutil.copy2(python_plugin, plugin)
    validated = hashlib.sha256(plugin.read_bytes()).hexdigest()
    router = await start(routers, tmp_path, engine_with_digest(upstreams, plugin, validated))
    (first,) = router.plugin_pids()
    plugin.write_bytes(plugin.read_bytes() + b"\n# another build\n")
    actual = hashlib.sha256(plugin.read_bytes()).hexdigest()
    os.kill(first, signal.SIGKILL)
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{router.url}/v1/internal/ready") as response:
                body = await response.json()
                if "SHA-256" in body["detail"]:
                    break
            await asyncio.sleep(0.05)
        assert response.status == 503 and body["ready"] is False
        assert actual in body["detail"] and validated in body["detail"]
    # Requests still get an answer: the fallback route, saying why.
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(f"{router.url}/v1/predict", json={"client": {"id": 7}}) as answer,
    ):
        assert answer.status == 200
        assert answer.headers["Turnout-Route"] == "control"
        assert answer.headers["Turnout-Route-Reason"] == "engine-unavailable"
    assert router.plugin_pids() == []  # not started again


async def test_a_port_in_use_fails_the_start_with_a_clear_message(
    upstreams: dict[str, Upstream], tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        router = RouterProcess(config(upstreams, None), tmp_path, env={"ROUTER_PORT": str(port)})
        with pytest.raises(RuntimeError, match="cannot bind the router's port"):
            await asyncio.to_thread(router.start, 30.0)
        assert router.wait() == 1
