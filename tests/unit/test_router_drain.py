"""The router server's drain: serving on, each keep-alive connection ended by its next response.

In process, with a fake transport: what a caller would read, and when the server closes.
The whole process on SIGTERM (readiness, drain, then no new connections) is in
tests/integration/test_router_drain.py; on real pods behind a Service, in tests/realnode.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from turnout_router.http11 import response
from turnout_router.server import HttpProtocol, HttpServer, ServerState

pytestmark = pytest.mark.unit

REQUEST = b"POST /v1/predict HTTP/1.1\r\nHost: r\r\nContent-Length: 2\r\n\r\n{}"


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: Any) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


def connect(state: ServerState) -> tuple[HttpProtocol, Transport]:
    protocol = HttpProtocol(state)
    transport = Transport()
    protocol.connection_made(transport)
    return protocol, transport


def responses(transport: Transport) -> list[bytes]:
    """Each response's head (status line and headers)."""
    return [part.split(b"\r\n\r\n")[0] for part in bytes(transport.written).split(b"HTTP/1.1 ")[1:]]


def server() -> HttpServer:
    return HttpServer(lambda request: response(200, [], b"{}"), max_body_bytes=100)


async def test_before_the_drain_keep_alive_connections_stay_open() -> None:
    http = server()
    protocol, transport = connect(http.state)
    protocol.data_received(REQUEST)
    assert b"Connection: close" not in responses(transport)[0]
    assert not transport.closed


async def test_a_keep_alive_connection_is_told_close_on_its_next_response_and_then_closed() -> None:
    http = server()
    protocol, transport = connect(http.state)
    protocol.data_received(REQUEST)  # before the drain: kept open
    http.drain()
    assert not transport.closed  # idle: left open, the caller may be sending
    protocol.data_received(REQUEST)
    first, second = responses(transport)
    assert b"Connection: close" not in first
    assert second.startswith(b"200 OK\r\nConnection: close\r\n")
    assert transport.closed
    protocol.connection_lost(None)


async def test_new_connections_are_still_served_while_draining() -> None:
    http = server()
    http.drain()
    protocol, transport = connect(http.state)
    protocol.data_received(REQUEST)
    (only,) = responses(transport)
    assert only.startswith(b"200 OK\r\nConnection: close\r\n")
    assert transport.closed


@pytest.mark.timeout(30)
async def test_pipelined_requests_read_before_the_drain_are_all_answered_the_last_with_close() -> (
    None
):
    gate = asyncio.Event()

    async def slow(request: Any) -> bytes:
        await gate.wait()
        return response(200, [], b"{}")

    http = HttpServer(slow, max_body_bytes=100)
    protocol, transport = connect(http.state)
    protocol.data_received(REQUEST * 3)
    http.drain()
    gate.set()
    while not transport.closed:
        await asyncio.sleep(0)
    heads = responses(transport)
    assert [head.startswith(b"200 OK") for head in heads] == [True] * 3
    assert [b"Connection: close" in head for head in heads] == [False, False, True]


async def test_the_end_of_the_drain_closes_the_connections_that_stayed_idle() -> None:
    http = server()
    _, idle = connect(http.state)
    http.drain()
    assert not idle.closed
    assert await http.shutdown(1.0) == 0
    assert idle.closed and idle.written == b""
