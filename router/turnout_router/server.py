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

Callers are bounded (docs/router.md, "Slow and hostile callers"): a whole
request head, and a whole body, each within its deadline or 408; at most
`max_connections` connections, past which a new one gets 503; and after any
error answer the connection lingers, reading and dropping, so the caller
reads the answer instead of a reset.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
from collections.abc import Callable, Coroutine, Sequence
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
        *,
        header_timeout: float = 60.0,
        body_timeout: float = 60.0,
        max_connections: int = 4096,
    ) -> None:
        self.handler = handler
        self.handler_rejects = on_reject
        """Called with the status of every request refused before the handler saw it."""
        self.max_body_bytes = max_body_bytes
        self.keepalive_seconds = keepalive_seconds
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.max_connections = max_connections
        self.connections: set[HttpProtocol] = set()
        self.draining = False
        """Each response ends its connection (`Connection: close`); new ones are still served."""
        self.closing = False
        self.in_flight = 0
        self.idle_event = asyncio.Event()

    def sweep(self, now: float) -> None:
        """Act on every connection whose deadline has passed (`HttpServer` calls this)."""
        for connection in [c for c in self.connections if c.deadline <= now]:
            connection.deadline_passed(now)


_CLOSE_HEADER: Final = b"\r\nConnection: close"

LINGER_IDLE_SECONDS: Final = 2.0
"""After an error answer, the connection is closed once the caller has sent nothing for this long."""
LINGER_MAX_SECONDS: Final = 10.0
"""... and at the latest this long after the answer, however much the caller still sends."""

_NEVER: Final = float("inf")

# What a connection's deadline means (one deadline per connection, checked by a sweep).
_IDLE: Final = 0
"""Waiting for a request's first byte: closed silently at the deadline."""
_HEAD: Final = 1
"""A request's head is arriving: 408 at the deadline."""
_BODY: Final = 2
"""A request's body is arriving: 408 at the deadline."""
_BUSY: Final = 3
"""The handler has the request; the router's own timeout bounds it."""
_LINGER: Final = 4
"""An error answer was sent and the write side shut; reading and discarding until the deadline."""


def _with_close(response: bytes) -> bytes:
    # Insert after the status line: the server decides to close only after the
    # handler has built the response.
    end = response.index(b"\r\n")
    return response[:end] + _CLOSE_HEADER + response[end:]


class HttpProtocol(asyncio.Protocol):
    """One caller connection.

    Its deadline is a number, not a timer: the server's sweep compares it with
    the clock once in a while, so a request costs no timer to arm and cancel.
    The deadline bounds each phase as a whole (the head, the body, the idle
    time between requests); bytes trickling in do not extend it.
    """

    __slots__ = (
        "_body",
        "_body_size",
        "_busy",
        "_eof",
        "_headers",
        "_linger_until",
        "_loop",
        "_parser",
        "_part",
        "_paused",
        "_phase",
        "_queue",
        "_served",
        "_state",
        "_too_large",
        "_transport",
        "_url",
        "closed",
        "deadline",
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
        self._phase = _IDLE
        self._part = _IDLE
        """Where the parser is in the request it is reading: _IDLE, _HEAD or _BODY."""
        self._served = False
        self._eof = False
        self._linger_until = _NEVER
        self.deadline = _NEVER
        self.closed = False

    # -- connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        state = self._state
        if len(state.connections) >= state.max_connections:
            state.handler_rejects(503)
            limit = state.max_connections
            self._answer_and_linger(503, f"the router is at its limit of {limit} connections")
            return
        state.connections.add(self)
        # The first request's head is due within the header timeout of the accept (nginx).
        self._phase = _IDLE
        self.deadline = self._loop.time() + state.header_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._state.connections.discard(self)
        self._queue.clear()
        self.deadline = _NEVER

    def eof_received(self) -> bool | None:
        # A caller that half-closed after sending its last request still gets the
        # answers to it; while lingering, its end is what we were waiting for.
        self._eof = True
        if self._phase == _LINGER or (not self._busy and not self._queue):
            self.close()
        return True

    def data_received(self, data: bytes) -> None:
        if self._phase == _LINGER:
            # Read and dropped, so the caller's sends succeed and it reads our answer.
            self.deadline = min(self._linger_until, self._loop.time() + LINGER_IDLE_SECONDS)
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            if self._too_large or self._phase == _LINGER:
                return  # already answered; the rest of the body is ignored
            self._refuse(400, f"malformed HTTP request: {exc}")

    def _refuse(self, status: int, message: str) -> None:
        """Answer a request that cannot be served, and close: the stream is out of step."""
        if self._transport is None or self.closed:
            return
        self._queue.clear()
        self._state.connections.discard(self)
        self._answer_and_linger(status, message)

    def _answer_and_linger(self, status: int, message: str) -> None:
        """Write an error answer, shut our side, and read until the caller is done.

        Closing at once while the caller is still sending (a body over the limit)
        makes the kernel reset the connection, and the reset destroys the answer
        before the caller reads it; nginx's lingering close, for the same reason.
        """
        transport = self._transport
        if transport is None or self.closed:
            return
        transport.write(error_response(status, message, close=True))
        if self._paused:
            self._paused = False
            transport.resume_reading()
        now = self._loop.time()
        self._phase = _LINGER
        self._linger_until = now + LINGER_MAX_SECONDS
        self.deadline = now + LINGER_IDLE_SECONDS
        # Lingering connections are kept apart from the served ones (the cap and
        # shutdown count those); the sweep of the served set does not see them,
        # so each lingering connection closes itself.
        self._loop.call_later(LINGER_IDLE_SECONDS, self._linger_check)
        try:
            transport.write_eof()
        except (NotImplementedError, OSError, RuntimeError):
            self.close()

    def _linger_check(self) -> None:
        if self.closed:
            return
        now = self._loop.time()
        if now >= self.deadline:
            self.close()
        else:
            self._loop.call_later(self.deadline - now, self._linger_check)

    def close(self) -> None:
        if not self.closed and self._transport is not None:
            self.closed = True
            self._transport.close()

    def close_if_idle(self) -> None:
        if not self._busy and not self._queue:
            self.close()

    def deadline_passed(self, now: float) -> None:
        """The sweep found this connection's deadline passed: close, with 408 if mid-request."""
        phase = self._phase
        if phase == _HEAD:
            self._state.handler_rejects(408)
            timeout = self._state.header_timeout
            self._refuse(408, f"the request head did not arrive within {timeout:g}s")
        elif phase == _BODY:
            self._state.handler_rejects(408)
            timeout = self._state.body_timeout
            self._refuse(408, f"the request body did not arrive within {timeout:g}s")
        elif phase == _IDLE:
            self.close()
        else:
            self.deadline = _NEVER

    # -- httptools callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []
        self._body_size = 0
        self._too_large = False
        self._part = _HEAD
        if self._busy:
            return  # pipelined; its deadline starts when the one before is answered
        if self._served:
            self.deadline = self._loop.time() + self._state.header_timeout
        # else the first request: its head is due within the header timeout of the accept.
        self._phase = _HEAD

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
                    return
        self._part = _BODY
        if not self._busy:
            self._phase = _BODY
            self.deadline = self._loop.time() + self._state.body_timeout

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
        self._part = _IDLE
        if self._too_large or self.closed or self._phase == _LINGER:
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
        self._phase = _BUSY
        self.deadline = _NEVER
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
        self._served = True
        # Draining: this connection's last response says close (after the pipelined
        # requests already read, which the caller sent before it could know).
        closing = (
            state.closing
            or not request.keep_alive
            or self._eof
            or (state.draining and not self._queue)
        )
        # Refused while this request was handled (a pipelined one was malformed): the
        # error answer was the last thing this connection may send.
        lingering = self._phase == _LINGER
        if not self.closed and not lingering and self._transport is not None:
            self._transport.write(_with_close(response) if closing else response)
            if closing:
                self.close()
        if state.in_flight == 0:
            state.idle_event.set()
        self._busy = False
        if self.closed or lingering:
            return
        if self._queue:
            next_request = self._queue.popleft()
            if self._paused and self._transport is not None:
                self._paused = False
                self._transport.resume_reading()
            self._start(next_request)
        elif self._part == _HEAD:
            # A pipelined request is partly here: the rest is due from now.
            self._phase = _HEAD
            self.deadline = self._loop.time() + state.header_timeout
        elif self._part == _BODY:
            self._phase = _BODY
            self.deadline = self._loop.time() + state.body_timeout
        else:
            self._phase = _IDLE
            self.deadline = self._loop.time() + state.keepalive_seconds


class HttpServer:
    """Listens and serves; `shutdown()` drains in-flight requests within a grace period."""

    def __init__(
        self,
        handler: Handler,
        *,
        max_body_bytes: int,
        keepalive_seconds: float = 75.0,
        header_timeout: float = 60.0,
        body_timeout: float = 60.0,
        max_connections: int = 4096,
        on_reject: Callable[[int], None] | None = None,
    ) -> None:
        self.state = ServerState(
            handler,
            max_body_bytes,
            keepalive_seconds,
            on_reject or (lambda status: None),
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            max_connections=max_connections,
        )
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        # Deadlines are checked this often: late by at most this much, at the cost
        # of one pass over the connections (not one timer per request).
        shortest = min(keepalive_seconds, header_timeout, body_timeout)
        self.sweep_interval = min(1.0, shortest / 4)

    async def listen(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        """Start accepting; returns the bound port (useful with port 0).

        `reuse_port`: share the port with the other workers of the pod (SO_REUSEPORT).
        """
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpProtocol(self.state),
            host,
            port,
            backlog=4096,
            reuse_address=True,
            reuse_port=reuse_port or None,
        )
        self._sweeper = loop.create_task(self._sweep())
        # uvloop's Server.sockets is a list where typeshed says tuple; compiled code
        # checks declared types at run time, so read it untyped.
        listening: Sequence[socket.socket] = cast(Any, self._server).sockets
        sockname = listening[0].getsockname()
        return int(sockname[1])

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.sweep_interval)
            self.state.sweep(loop.time())

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
        if self._sweeper is not None:
            self._sweeper.cancel()
        return left
