"""The router process on SIGTERM: readiness fails first, it keeps serving through the drain,
each keep-alive connection is ended by a `Connection: close` on its next response, and only
at the end of the drain does it stop accepting and close the connections left idle.

A real router process and upstream on 127.0.0.1, spoken to over raw sockets so that
what a caller sees on each connection (headers, end of stream) is read exactly.
The order is checked against the router's own log lines, not against a clock: every
request of the drain must be answered before the router logs "shutting down".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.substrate.router_process import RouterProcess, Upstream

pytestmark = pytest.mark.interop

DRAIN_SECONDS = 8
"""Long enough for the handful of requests below on a busy machine; the test waits it out."""

REQUEST = (
    b"POST /v1/predict HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\n"
    b"Content-Length: 2\r\n\r\n{}"
)
READY = b"GET /v1/internal/ready HTTP/1.1\r\nHost: router\r\n\r\n"


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    started = await Upstream("control").start()
    yield started
    await started.stop()


class Connection:
    """One caller connection: send a request, read one response, see whether it ended."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def exchange(self, request: bytes = REQUEST) -> tuple[int, dict[str, str]]:
        self.writer.write(request)
        await self.writer.drain()
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode()
        status_line, *lines = head.strip().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        await self.reader.readexactly(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers

    async def ended(self) -> bool:
        """True when the server closed the stream (read returns end of file)."""
        return await self.reader.read(1) == b""

    def close(self) -> None:
        self.writer.close()


async def until_logged(router: RouterProcess, message: str) -> None:
    while not any(line.get("message") == message for line in router.lines):
        if router.process is not None and router.process.poll() is not None:
            raise AssertionError(f"router exited before logging {message!r}:\n{router.output()}")
        await asyncio.sleep(0.02)


def logged(router: RouterProcess, message: str) -> bool:
    return any(line.get("message") == message for line in router.lines)


async def test_sigterm_drains_keep_alive_connections_without_closing_one_under_its_caller(
    upstream: Upstream, tmp_path: Path
) -> None:
    config = {
        "routes": [{"id": "control", "endpoint": upstream.url, "timeout": "5s"}],
        "fallbackRoute": "control",
        "router": "test/drain",
        "version": 1,
    }
    router = RouterProcess(config, tmp_path, env={"ROUTER_DRAIN_SECONDS": str(DRAIN_SECONDS)})
    await asyncio.to_thread(router.start)
    try:
        busy = await Connection.open(router.port)
        idle = await Connection.open(router.port)
        for connection in (busy, idle):
            status, headers = await connection.exchange()
            assert (status, headers.get("connection")) == (200, None)

        router.terminate()
        await until_logged(router, "draining")

        probe = await Connection.open(router.port)
        assert (await probe.exchange(READY))[0] == 503  # readiness fails first
        # A keep-alive connection's next request is served and told to close, then ended.
        status, headers = await busy.exchange()
        assert (status, headers.get("connection")) == (200, "close")
        assert await busy.ended()
        # New connections are still accepted and served (kube-proxy may still send them).
        fresh = await Connection.open(router.port)
        status, headers = await fresh.exchange()
        assert (status, headers.get("connection")) == (200, "close")
        # The idle connection was left open: its caller's next request is served too.
        status, headers = await idle.exchange()
        assert (status, headers.get("connection")) == (200, "close")
        assert not logged(router, "shutting down"), "the drain ended before its requests"

        await until_logged(router, "shutting down")
        with pytest.raises(OSError):
            await Connection.open(router.port)
        assert await asyncio.to_thread(router.wait) == 0
        for connection in (probe, busy, fresh, idle):
            connection.close()
        assert len(upstream.received) == 5
    finally:
        router.stop()
