"""The router's HTTP server protocol, in process: whatever bytes arrive, it answers or closes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from turnout_router.http11 import response
from turnout_router.server import HttpProtocol, Request, ServerState

pytestmark = pytest.mark.unit


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.eof = False

    def write(self, data: Any) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def write_eof(self) -> None:
        self.eof = True

    def can_write_eof(self) -> bool:
        return True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


def serve(chunks: list[bytes]) -> tuple[bytes, bool, list[Request]]:
    seen: list[Request] = []

    async def run() -> tuple[bytes, bool]:
        def handler(request: Request) -> bytes:
            seen.append(request)
            return response(200, [], b"{}")

        state = ServerState(handler, 100, 75.0, lambda status: None)
        protocol = HttpProtocol(state)
        transport = Transport()
        protocol.connection_made(transport)
        for chunk in chunks:
            if transport.closed:
                break
            protocol.data_received(chunk)
        await asyncio.sleep(0)
        protocol.connection_lost(None)
        return bytes(transport.written), transport.closed

    written, closed = asyncio.run(run())
    return written, closed, seen


REQUEST = b"POST /v1/predict HTTP/1.1\r\nHost: r\r\nContent-Length: 2\r\n\r\n{}"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=5))
def test_random_bytes_get_an_http_answer_or_nothing(chunks: list[bytes]) -> None:
    written, _, _ = serve(chunks)
    assert written == b"" or written.startswith(b"HTTP/1.1 ")


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(REQUEST)), st.binary(max_size=50))
def test_a_mangled_request_never_raises(cut: int, junk: bytes) -> None:
    written, _, _ = serve([REQUEST[:cut] + junk + REQUEST[cut:]])
    assert written == b"" or written.startswith(b"HTTP/1.1 ")


def test_pipelined_requests_are_answered_in_order_and_split_reads_are_joined() -> None:
    data = REQUEST * 3
    written, closed, seen = serve([data[:10], data[10:77], data[77:]])
    assert written.count(b"HTTP/1.1 200 OK") == 3
    assert [request.body for request in seen] == [b"{}"] * 3
    assert not closed


def test_a_body_over_the_limit_is_refused_and_the_connection_shut_for_writing() -> None:
    big = b"POST /v1/predict HTTP/1.1\r\nHost: r\r\nContent-Length: 101\r\n\r\n" + b"x" * 101
    written, _, seen = serve([big])
    assert written.startswith(b"HTTP/1.1 413 ") and not seen


class Connection:
    """One protocol on a fake transport, with a clock the test moves (`sweep(at)`)."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.protocol = HttpProtocol(state)
        self.transport = Transport()
        self.protocol.connection_made(self.transport)
        self.start = asyncio.get_running_loop().time()

    def sweep(self, after: float) -> None:
        self.state.sweep(self.start + after)


def state(**timeouts: Any) -> ServerState:
    return ServerState(lambda r: response(200, [], b"{}"), 100, 75.0, lambda s: None, **timeouts)


async def test_a_head_dripping_in_gets_408_at_the_header_deadline_bytes_do_not_extend_it() -> None:
    conn = Connection(state(header_timeout=10.0))
    for offset in range(20):
        conn.protocol.data_received(REQUEST[offset : offset + 1])
        conn.sweep(offset * 0.4)  # each byte well within the deadline
    assert conn.transport.written == b"" and not conn.transport.eof
    conn.sweep(10.01)
    assert conn.transport.written.startswith(b"HTTP/1.1 408 ")
    assert b"request head did not arrive within 10s" in conn.transport.written
    assert conn.transport.eof  # answered, our side shut; read until the caller is done


async def test_a_body_that_stops_arriving_gets_408_at_the_body_deadline() -> None:
    conn = Connection(state(header_timeout=10.0, body_timeout=5.0))
    conn.protocol.data_received(REQUEST[:-1])  # all but the body's last byte
    conn.sweep(4.0)
    assert conn.transport.written == b""
    conn.sweep(5.5)
    assert conn.transport.written.startswith(b"HTTP/1.1 408 ")
    assert b"request body did not arrive within 5s" in conn.transport.written


async def test_an_idle_connection_is_closed_without_an_answer() -> None:
    conn = Connection(state(header_timeout=10.0))
    conn.sweep(9.0)
    assert not conn.transport.closed
    conn.sweep(10.01)
    assert conn.transport.closed and conn.transport.written == b""


async def test_between_requests_the_keepalive_timeout_applies() -> None:
    conn = Connection(state(header_timeout=10.0))
    conn.protocol.data_received(REQUEST)
    assert conn.transport.written.startswith(b"HTTP/1.1 200 ")
    conn.sweep(70.0)  # past the header deadline, within keep-alive: still open
    assert not conn.transport.closed
    conn.sweep(80.0)
    assert conn.transport.closed and conn.transport.written.count(b"HTTP/1.1") == 1


async def test_past_the_connection_cap_a_new_connection_gets_503() -> None:
    shared = state(max_connections=2)
    first, second = Connection(shared), Connection(shared)
    third = Connection(shared)
    assert third.transport.written.startswith(b"HTTP/1.1 503 ")
    assert b"limit of 2 connections" in third.transport.written and third.transport.eof
    assert first.transport.written == second.transport.written == b""
    first.protocol.connection_lost(None)
    fourth = Connection(shared)
    assert fourth.transport.written == b""


async def test_nothing_is_written_after_an_error_answer_shut_the_connection() -> None:
    release = asyncio.Event()

    async def slow(request: Request) -> bytes:
        await release.wait()
        return response(200, [], b"{}")

    shared = ServerState(slow, 100, 75.0, lambda status: None)
    conn = Connection(shared)
    conn.protocol.data_received(REQUEST)  # handled, not yet answered
    conn.protocol.data_received(b"\x00garbage\r\n\r\n")  # a pipelined request that is not HTTP
    assert conn.transport.written.startswith(b"HTTP/1.1 400 ") and conn.transport.eof
    answered = bytes(conn.transport.written)
    release.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert conn.transport.written == answered
    assert shared.in_flight == 0
