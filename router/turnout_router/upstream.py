"""Pooled keep-alive HTTP/1.1 connections to the routes' upstreams.

One pool per route endpoint keeps idle connections open between requests, so
a request normally costs one write and one read on a warm socket: no connect,
no TLS handshake. Responses are parsed by httptools (llhttp, in C) and read
whole: the router's responses are model predictions, small, and it must know
the status before it can answer.

A POST is retried once, on a fresh connection, only when a reused idle
connection turns out to have been closed by the upstream before it sent a
single byte (the keep-alive race every pooling client has); any other failure
is the caller's to report.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from typing import Final, cast

import httptools

from turnout_router.http11 import Endpoint, Headers

MAX_IDLE_PER_ENDPOINT: Final = 512
"""Idle connections kept per upstream; more concurrent requests open more, closed after."""


class UpstreamError(Exception):
    """The upstream could not be reached or sent no valid response."""


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer within the time allowed."""


class UpstreamResponse:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class _Connection(asyncio.Protocol):
    __slots__ = (
        "_body",
        "_complete",
        "_headers",
        "_parser",
        "_pool",
        "_received",
        "_status",
        "_waiter",
        "closed",
        "transport",
        "used",
    )

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[UpstreamResponse] | None = None
        self._headers: Headers = []
        self._body: list[bytes] = []
        self._status = 0
        self._received = False
        self._complete = False
        self.closed = False
        self.used = False

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"invalid HTTP response: {exc}"))
            self.close()
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamError("upstream switched protocols"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._status and not self._complete and self._ends_at_close():
            # A response delimited by the end of the connection (no length, not chunked).
            self._finish()
            return
        reason = "connection closed before the response ended"
        error = _StaleConnection(reason) if not self._received else UpstreamError(reason)
        waiter.set_exception(error)

    def _ends_at_close(self) -> bool:
        names = {name.lower() for name, _ in self._headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    # -- httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._complete = True
        if 100 <= self._status < 200:
            # An interim response (100 Continue): the real one follows.
            self._complete = False
            self._status, self._headers, self._body = 0, [], []
            return
        keep = self._parser.should_keep_alive()
        self._finish()
        if keep and not self.closed:
            self._pool.release(self)
        else:
            self.close()

    # -- use

    def _finish(self) -> None:
        waiter = self._waiter
        response = UpstreamResponse(self._status, self._headers, b"".join(self._body))
        self._waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def _fail(self, error: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def send(
        self, head: bytes, body: bytes, loop: asyncio.AbstractEventLoop
    ) -> asyncio.Future[UpstreamResponse]:
        self._headers, self._body = [], []
        self._status = 0
        self._received = self._complete = False
        waiter: asyncio.Future[UpstreamResponse] = loop.create_future()
        self._waiter = waiter
        assert self.transport is not None
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)
        return waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _StaleConnection(UpstreamError):
    """A reused connection the upstream had already closed: safe to retry once."""


class Pool:
    """Keep-alive connections to one upstream endpoint."""

    def __init__(self, endpoint: Endpoint, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.endpoint = endpoint
        self._idle: collections.deque[_Connection] = collections.deque()
        self._ssl = (
            (ssl_context or ssl.create_default_context()) if endpoint.scheme == "https" else None
        )
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def release(self, connection: _Connection) -> None:
        if self._closed or len(self._idle) >= MAX_IDLE_PER_ENDPOINT:
            connection.close()
        else:
            self._idle.append(connection)

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        endpoint = self.endpoint
        try:
            _, protocol = await loop.create_connection(
                lambda: _Connection(self),
                endpoint.host,
                endpoint.port,
                ssl=self._ssl,
                server_hostname=endpoint.host if self._ssl is not None else None,
            )
        except OSError as exc:
            raise UpstreamError(f"cannot connect: {exc.strerror or exc}") from exc
        return protocol

    async def request(self, head: bytes, body: bytes, timeout: float) -> UpstreamResponse:
        """Send one request and read its whole response within `timeout` seconds.

        Raises UpstreamTimeout past the deadline and UpstreamError on any other failure.
        """
        loop = self._loop
        if loop is None:
            # Kept: in Python 3.11 each get_running_loop() is a getpid() system call.
            loop = self._loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for attempt in (0, 1):
            connection: _Connection | None = None
            while self._idle:
                candidate = self._idle.pop()
                if not candidate.closed:
                    connection = candidate
                    break
            if connection is None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise UpstreamTimeout("no time left to connect")
                try:
                    async with asyncio.timeout(remaining):
                        connection = await self._connect(loop)
                except TimeoutError:
                    raise UpstreamTimeout(f"connect took longer than {timeout:g}s") from None
            reused = connection.used
            connection.used = True
            waiter = connection.send(head, body, loop)
            timer = loop.call_at(deadline, _expire, waiter, timeout)
            try:
                return await waiter
            except _StaleConnection:
                connection.close()
                if not reused or attempt == 1:
                    raise
            except BaseException:
                # Timed out, cancelled or broken: the connection's state is unknown.
                connection.close()
                raise
            finally:
                timer.cancel()
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()


def _expire(waiter: asyncio.Future[UpstreamResponse], timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamTimeout(f"no response within {timeout:g}s"))
