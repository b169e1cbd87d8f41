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

    def write(self, data: Any) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

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


def test_a_body_over_the_limit_is_refused_and_the_connection_closed() -> None:
    big = b"POST /v1/predict HTTP/1.1\r\nHost: r\r\nContent-Length: 101\r\n\r\n" + b"x" * 101
    written, closed, seen = serve([big])
    assert written.startswith(b"HTTP/1.1 413 ") and closed and not seen


@pytest.mark.timeout(30)
async def test_a_caller_that_stops_mid_request_is_disconnected() -> None:
    state = ServerState(lambda request: response(200, [], b"{}"), 100, 0.01, lambda status: None)
    protocol = HttpProtocol(state)
    transport = Transport()
    protocol.connection_made(transport)
    protocol.data_received(REQUEST[:20])
    while not transport.closed:  # the idle timer closes it; pytest-timeout guards the loop
        await asyncio.sleep(0.005)
    assert transport.written == b""
    protocol.connection_lost(None)
