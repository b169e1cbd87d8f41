"""The HTTP/1.1 server: one asyncio protocol per caller connection, parsed by httptools.

Frameworks (aiohttp, starlette) build request objects, middleware chains and
response objects for every request; at the rates a router serves, that costs
more than proxying itself (docs/router.md has the numbers). This server does
only what a proxy needs: it parses a request with llhttp (httptools), hands the
handler the method, path, headers and body, and writes the bytes it gets back.

Requests on one connection are answered in order (HTTP/1.1 pipelining): the
next starts when the previous one's response is written. A body over the limit
is refused from its Content-Length before it is read.

Stopping has two steps, so that no caller sees a connection closed under it:

* `drain()`: the server keeps accepting and serving (kube-proxy may still send new
  connections for a few seconds), and every keep-alive connection is told
  `Connection: close` on its next response, then closed after it. An idle
  connection is left open: closing it could race a request the caller is sending.
* `shutdown()`: at the end of the drain, stop accepting, close the connections that
  stayed idle through it, and close busy ones right after their current response.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Final, cast

import httptools

from turnout_router.http11 import Headers, error_response

log = logging.getLogger(__name__)

MAX_PIPELINED: Final = 64
"""Parsed requests waiting on one connection before the server stops reading from it."""


class Request:
    """One parsed request. `headers` keeps names as sent; `body_too_large` means unread."""

    __slots__ = ("body", "body_too_large", "headers", "keep_alive", "method", "path")

    def __init__(
        self, method: bytes, path: bytes, headers: Headers, body: bytes, keep_alive: bool
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.body_too_large = False


Response = bytes
"""A whole serialized response; `Connection: close` is added by the server when closing."""

Handler = Callable[[Request], "Response | Coroutine[Any, Any, Response]"]


class ServerState:
    """What all connections of one server share."""

    def __init__(
        self,
        handler: Handler,
        max_body_bytes: int,
        keepalive_seconds: float,
        on_reject: Callable[[int], None],
    ) -> None:
        self.handler = handler
        self.handler_rejects = on_reject
        """Called with the status of every request refused before the handler saw it."""
        self.max_body_bytes = max_body_bytes
        self.keepalive_seconds = keepalive_seconds
        self.connections: set[HttpProtocol] = set()
        self.draining = False
        """Each response ends its connection (`Connection: close`); new ones are still served."""
        self.closing = False
        self.in_flight = 0
        self.idle_event = asyncio.Event()


_CLOSE_HEADER: Final = b"\r\nConnection: close"


def _with_close(response: bytes) -> bytes:
    # Insert after the status line: the server decides to close only after the
    # handler has built the response.
    end = response.index(b"\r\n")
    return response[:end] + _CLOSE_HEADER + response[end:]


class HttpProtocol(asyncio.Protocol):
    __slots__ = (
        "_body",
        "_body_size",
        "_busy",
        "_headers",
        "_idle_timer",
        "_loop",
        "_parser",
        "_paused",
        "_queue",
        "_state",
        "_too_large",
        "_transport",
        "_url",
        "closed",
    )

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: Headers = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._too_large = False
        self._queue: collections.deque[Request] = collections.deque()
        self._busy = False
        self._paused = False
        self._idle_timer: asyncio.TimerHandle | None = None
        self.closed = False

    # -- connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        self._state.connections.add(self)
        self._arm_idle_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._state.connections.discard(self)
        self._queue.clear()
        if self._idle_timer is not None:
            self._idle_timer.cancel()

    def data_received(self, data: bytes) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            if self._too_large:
                return  # already answered; the rest of the body is ignored
            self._refuse(400, f"malformed HTTP request: {exc}")
            return
        if not self._busy:
            # Part of a request, or nothing to do: a caller that stops sending
            # mid-request must not hold the connection forever.
            self._arm_idle_timer()

    def _refuse(self, status: int, message: str) -> None:
        """Answer a request that cannot be parsed, and close: the stream is out of step."""
        if self._transport is None or self.closed:
            return
        self._queue.clear()
        self._transport.write(error_response(status, message, close=True))
        self.close()

    def close(self) -> None:
        if not self.closed and self._transport is not None:
            self.closed = True
            self._transport.close()

    def close_if_idle(self) -> None:
        if not self._busy and not self._queue:
            self.close()

    def _arm_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if not self.closed:
            self._idle_timer = self._loop.call_later(
                self._state.keepalive_seconds, self.close_if_idle
            )

    # -- httptools callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []
        self._body_size = 0
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        limit = self._state.max_body_bytes
        for name, value in self._headers:
            if len(name) == 6 and name.lower() == b"expect" and value.lower() == b"100-continue":
                # curl and others wait (a second, for curl) for this before sending a body.
                if self._transport is not None and not self.closed:
                    self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            elif len(name) == 14 and name.lower() == b"content-length":
                try:
                    too_large = int(value) > limit
                except ValueError:
                    too_large = False  # llhttp refuses a bad Content-Length itself
                if too_large:
                    self._too_large = True
                    self._state.handler_rejects(413)
                    self._refuse(413, f"request body is larger than the limit of {limit} bytes")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._state.max_body_bytes:
            if not self._too_large:
                # Chunked bodies have no Content-Length to refuse up front.
                self._too_large = True
                self._state.handler_rejects(413)
                limit = self._state.max_body_bytes
                self._refuse(413, f"request body is larger than the limit of {limit} bytes")
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._too_large or self.closed:
            return
        parser = self._parser
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        request = Request(
            parser.get_method(), self._url, self._headers, body, parser.should_keep_alive()
        )
        if self._busy:
            self._queue.append(request)
            if len(self._queue) >= MAX_PIPELINED and self._transport is not None:
                self._transport.pause_reading()
                self._paused = True
        else:
            self._start(request)

    # -- handling

    def _start(self, request: Request) -> None:
        self._busy = True
        state = self._state
        state.in_flight += 1
        try:
            result = state.handler(request)
        except Exception:
            log.exception("request handler failed")
            result = error_response(500, "internal router error")
        if isinstance(result, bytes):
            self._respond(request, result)
        else:
            task = self._loop.create_task(result)
            task.add_done_callback(lambda done: self._handled(request, done))

    def _handled(self, request: Request, task: asyncio.Future[Response]) -> None:
        if task.cancelled():
            result = error_response(503, "router shutting down")
        elif task.exception() is not None:
            log.error("request handler failed", exc_info=task.exception())
            result = error_response(500, "internal router error")
        else:
            result = task.result()
        self._respond(request, result)

    def _respond(self, request: Request, response: Response) -> None:
        state = self._state
        state.in_flight -= 1
        # Draining: this connection's last response says close (after the pipelined
        # requests already read, which the caller sent before it could know).
        closing = state.closing or not request.keep_alive or (state.draining and not self._queue)
        if not self.closed and self._transport is not None:
            self._transport.write(_with_close(response) if closing else response)
            if closing:
                self.close()
        if state.in_flight == 0:
            state.idle_event.set()
        self._busy = False
        if self.closed:
            return
        if self._queue:
            next_request = self._queue.popleft()
            if self._paused and self._transport is not None:
                self._paused = False
                self._transport.resume_reading()
            self._start(next_request)
        else:
            self._arm_idle_timer()


class HttpServer:
    """Listens and serves; `shutdown()` drains in-flight requests within a grace period."""

    def __init__(
        self,
        handler: Handler,
        *,
        max_body_bytes: int,
        keepalive_seconds: float = 75.0,
        on_reject: Callable[[int], None] | None = None,
    ) -> None:
        self.state = ServerState(
            handler, max_body_bytes, keepalive_seconds, on_reject or (lambda status: None)
        )
        self._server: asyncio.Server | None = None

    async def listen(self, host: str, port: int) -> int:
        """Start accepting; returns the bound port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpProtocol(self.state), host, port, backlog=4096, reuse_address=True
        )
        sockname = self._server.sockets[0].getsockname()
        return int(sockname[1])

    def drain(self) -> None:
        """Keep serving, but end each connection with its next response (see the module doc)."""
        self.state.draining = True

    async def shutdown(self, grace: float) -> int:
        """Stop accepting, let in-flight requests finish for up to `grace` seconds.

        Returns the number of requests still in flight when the grace period ended.
        """
        state = self.state
        state.closing = True
        if self._server is not None:
            self._server.close()
        for connection in list(state.connections):
            connection.close_if_idle()
        if state.in_flight:
            state.idle_event.clear()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace
            while state.in_flight and loop.time() < deadline:
                state.idle_event.clear()
                try:
                    async with asyncio.timeout(deadline - loop.time()):
                        await state.idle_event.wait()
                except TimeoutError:
                    break
        left = state.in_flight
        for connection in list(state.connections):
            connection.close()
        return left
