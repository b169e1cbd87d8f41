"""Go's net/rpc over one yamux stream: a concurrent client and a server.

Wire rules (Go's net/rpc with its gob codec): a request is a gob `Request`
header followed by the argument; a response is a `Response` header followed by
the reply, or by an empty struct when `Error` is set. Each connection keeps one
gob encoder and one decoder per direction for its whole life. The server runs
every request concurrently, so responses come back in any order and the client
matches them by `Seq`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from plugin_host import gob
from plugin_host.errors import (
    CallTimeoutError,
    PluginError,
    ProtocolError,
    RemoteError,
    TransportError,
)
from plugin_host.yamux import Stream

log = logging.getLogger(__name__)


def _encode_request_fields(out: bytearray, value: Any) -> None:
    # Every call sends this header; see gob.Struct.encode_fields. Zero values are left out.
    method, seq = (value.get("ServiceMethod"), value.get("Seq")) if value else (None, None)
    last = -1
    if method:
        out.append(1)
        gob.encode_string(out, method)
        last = 0
    if seq:
        gob.encode_uint(out, 1 - last)
        gob.encode_uint(out, seq)
    out.append(0)


REQUEST: Final = gob.Struct(
    "Request",
    (gob.Field("ServiceMethod", gob.STRING), gob.Field("Seq", gob.UINT)),
    encode_fields=_encode_request_fields,
)
RESPONSE: Final = gob.Struct(
    "Response",
    (
        gob.Field("ServiceMethod", gob.STRING),
        gob.Field("Seq", gob.UINT),
        gob.Field("Error", gob.STRING),
    ),
)
# Go's server answers a failed call with this empty struct as the body.
INVALID_REQUEST: Final = gob.Struct("", ())

_UNSET: Final = object()


class RpcClient:
    """Calls methods on a net/rpc server at the other end of a stream.

    Responses are decoded as they arrive on the socket (a stream receiver
    callback) and complete their caller's future directly: one event-loop hop
    per call, which is most of what a round trip costs here.
    """

    def __init__(self, stream: Stream, *, name: str = "", limits: gob.Limits | None = None) -> None:
        self.name = name
        self._stream = stream
        self._loop = asyncio.get_running_loop()
        self._encoder = gob.Encoder()
        self._decoder = gob.Decoder(limits)
        self._seq = 0
        self._pending: dict[int, tuple[asyncio.Future[Any], gob.GoType, str]] = {}
        self._write_lock = asyncio.Lock()
        self._error: PluginError | None = None
        self._header: Any = _UNSET
        stream.set_receiver(self._on_data, self._on_close)

    async def call(
        self,
        method: str,
        arg_type: gob.GoType,
        arg: Any,
        reply_type: gob.GoType,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Call `method` and return the decoded reply.

        Raises `RemoteError` when the method returns an error, `CallTimeoutError`
        when `timeout` seconds pass first, `TransportError` when the connection fails.
        """
        if self._error is not None:
            raise TransportError(f"{method}: {self._error}")
        seq = self._seq
        self._seq += 1
        waiter: asyncio.Future[Any] = self._loop.create_future()
        self._pending[seq] = (waiter, reply_type, method)
        # The deadline covers writing the request too: a peer that stops reading
        # blocks the write on its flow-control window.
        timer = None
        if timeout is not None:
            timer = self._loop.call_later(timeout, _expire, waiter, method, self.name, timeout)
        try:
            if self._write_lock.locked() or not self._try_send(method, seq, arg_type, arg):
                async with self._write_lock:
                    await self._send(method, seq, arg_type, arg, waiter)
            return await waiter
        except (CallTimeoutError, RemoteError, ProtocolError):
            raise
        except TransportError as exc:
            # Read again, not narrowed: the connection may have failed while awaiting
            # (compiled code checks the narrowed type at run time).
            failure = self._failure()
            if failure is None:
                raise TransportError(f"{method}: {exc}") from exc
            raise TransportError(f"{method}: {failure}") from exc
        finally:
            if timer is not None:
                timer.cancel()
            self._pending.pop(seq, None)
            if waiter.done() and not waiter.cancelled():
                waiter.exception()  # the caller already has its answer or its error

    def _request(self, method: str, seq: int, arg_type: gob.GoType, arg: Any) -> tuple[bytes, int]:
        """Encode header and argument as one unit; returns the bytes and the encoder
        checkpoint to roll back to if they are not sent after all."""
        saved = self._encoder.checkpoint()
        try:
            header = self._encoder.encode(REQUEST, {"ServiceMethod": method, "Seq": seq})
            return header + self._encoder.encode(arg_type, arg), saved
        except gob.GobError:
            self._encoder.rollback(saved)  # the header's definition must go out with the next one
            raise

    def _try_send(self, method: str, seq: int, arg_type: gob.GoType, arg: Any) -> bool:
        """Write the request at once if the window allows; else leave no trace of it."""
        data, saved = self._request(method, seq, arg_type, arg)
        if self._stream.try_write(data):
            return True
        self._encoder.rollback(saved)  # its definitions were never sent
        return False

    async def _send(
        self, method: str, seq: int, arg_type: gob.GoType, arg: Any, waiter: asyncio.Future[Any]
    ) -> None:
        """Write the request, waiting for window, unless the call ends first."""
        # Encoded under the write lock, at the moment of writing, so type
        # definitions reach the peer in the order they were assigned.
        data, _ = self._request(method, seq, arg_type, arg)
        writing = self._loop.create_task(self._stream.write(data))
        try:
            await asyncio.wait({writing, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not writing.done():
                # A request cut off part-way leaves the stream out of step with
                # the server: nothing more can be said on it.
                writing.cancel()
                self._fail(TransportError(f"{method}: request abandoned part-way; stream reset"))
                self._stream.reset()
        if writing.done() and not writing.cancelled():
            writing.result()
        if waiter.done():
            waiter.result()  # the call ended while writing (deadline, failure): say why

    async def close(self) -> None:
        """Half-close the stream and fail any call still waiting."""
        self._stream.close()
        self._fail(TransportError(f"rpc client {self.name!r} closed"))

    def _failure(self) -> PluginError | None:
        return self._error

    def _fail(self, error: PluginError) -> None:
        if self._error is None:
            self._error = error
        for waiter, _, _ in self._pending.values():
            if not waiter.done():
                waiter.set_exception(self._error)
        self._pending.clear()

    def _on_close(self, error: BaseException | None) -> None:
        reason = (
            f"connection closed by the plugin ({error})"
            if error
            else "connection closed by the plugin"
        )
        self._fail(TransportError(reason))
        # Wake any write still waiting for window: nobody will read it now.
        self._stream.reset()

    def _on_data(self, chunk: bytes) -> None:
        if self._error is not None:
            return
        decoder = self._decoder
        decoder.feed(chunk)
        try:
            while True:
                header = self._header
                if header is _UNSET:
                    header = decoder.next_value(RESPONSE)
                    if header is gob.Decoder.NEED_MORE:
                        return
                    self._header = header
                entry = self._pending.get(header.get("Seq", 0))
                error = header.get("Error", "")
                expected = entry[1] if entry is not None and not error else None
                try:
                    body = decoder.next_value(expected)
                except gob.GobValueError as refused:
                    # Like Go's client: that call fails, the connection stays in step.
                    self._header = _UNSET
                    self._reject(entry, refused)
                    continue
                if body is gob.Decoder.NEED_MORE:
                    return
                self._header = _UNSET
                self._deliver(entry, error, body)
        except ProtocolError as exc:
            log.warning(
                "bad response from plugin, connection closed",
                extra={"plugin": self.name, "error": str(exc)},
            )
            self._fail(TransportError(f"protocol error: {exc}"))
            self._stream.reset()

    @staticmethod
    def _reject(entry: tuple[asyncio.Future[Any], gob.GoType, str] | None, exc: Exception) -> None:
        if entry is not None and not entry[0].done():
            entry[0].set_exception(ProtocolError(f"{entry[2]}: cannot decode the reply: {exc}"))

    @staticmethod
    def _deliver(
        entry: tuple[asyncio.Future[Any], gob.GoType, str] | None, error: str, body: Any
    ) -> None:
        if entry is None:
            return  # the caller gave up (timeout); drop the late answer
        waiter, _, method = entry
        if waiter.done():
            return
        if error:
            waiter.set_exception(RemoteError(method, error))
        else:
            waiter.set_result(body)


def _expire(waiter: asyncio.Future[Any], method: str, name: str, timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(
            CallTimeoutError(f"{method}: no answer from plugin {name!r} within {timeout:g}s")
        )


Handler = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Method:
    """A server-side method: how to decode its argument, run it and encode its reply."""

    arg_type: gob.GoType
    reply_type: gob.GoType
    handler: Handler


class MethodError(Exception):
    """Raise from a handler to answer with this exact error text."""


class RpcServer:
    """Serves registered methods on any number of streams (one gob pair per stream)."""

    def __init__(self, *, limits: gob.Limits | None = None) -> None:
        self._methods: dict[str, Method] = {}
        self._limits = limits

    def register(self, service: str, methods: dict[str, Method]) -> None:
        for name, method in methods.items():
            self._methods[f"{service}.{name}"] = method

    async def serve(self, stream: Stream) -> None:
        """Answer requests on `stream` until it closes or sends bad headers."""
        connection = _ServerConnection(self._methods, stream, self._limits)
        await connection.run()


class _ServerConnection:
    def __init__(
        self, methods: dict[str, Method], stream: Stream, limits: gob.Limits | None
    ) -> None:
        self._methods = methods
        self._stream = stream
        self._encoder = gob.Encoder()
        self._decoder = gob.Decoder(limits)
        self._write_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Serve until the peer closes the stream or sends a header that cannot be decoded."""
        self._header: Any = _UNSET
        self._done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._stream.set_receiver(self._on_data, self._on_close)
        try:
            clean = await self._done
            if clean:
                # Like Go's ServeCodec: the caller sent its last request; finish
                # what is in flight and answer it before closing our side.
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        finally:
            for task in list(self._tasks):
                task.cancel()
            self._stream.close()

    def _on_close(self, error: BaseException | None) -> None:
        if not self._done.done():
            self._done.set_result(error is None)

    def _on_data(self, chunk: bytes) -> None:
        if self._done.done():
            return
        self._decoder.feed(chunk)
        try:
            while True:
                if self._header is _UNSET:
                    header = self._decoder.next_value(REQUEST)
                    if header is gob.Decoder.NEED_MORE:
                        return
                    self._header = header
                if not self._take_body(self._header):
                    return
                self._header = _UNSET
        except ProtocolError as exc:
            # Like Go: a header that cannot be decoded ends the connection.
            log.warning("bad rpc request, closing stream", extra={"error": str(exc)})
            self._stream.reset()
            self._on_close(exc)

    def _take_body(self, header: Any) -> bool:
        name = header.get("ServiceMethod", "")
        seq = header.get("Seq", 0)
        method = self._methods.get(name)
        try:
            arg = self._decoder.next_value(method.arg_type if method else None)
        except gob.GobValueError as exc:
            self._reply_error(name, seq, f"rpc: cannot decode argument of {name}: {exc}")
            return True
        if arg is gob.Decoder.NEED_MORE:
            return False
        if method is None:
            service = name.rpartition(".")[0]
            reason = (
                f"rpc: can't find method {name}"
                if any(key.startswith(service + ".") for key in self._methods)
                else f"rpc: can't find service {name}"
            )
            self._reply_error(name, seq, reason)
            return True
        task = asyncio.get_running_loop().create_task(self._invoke(name, seq, method, arg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _invoke(self, name: str, seq: int, method: Method, arg: Any) -> None:
        try:
            reply = await method.handler(arg)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the connection is closing; no one to answer
            # The handler awaited something that was cancelled: still an answer.
            await self._write(name, seq, f"{name} was cancelled", INVALID_REQUEST, {})
            return
        except Exception as exc:  # a plugin's error is data for the caller
            message = str(exc) or type(exc).__name__
            if not isinstance(exc, MethodError):
                log.debug("rpc method failed", exc_info=True, extra={"method": name})
            await self._write(name, seq, message, INVALID_REQUEST, {})
            return
        except BaseException as fatal:  # SystemExit, KeyboardInterrupt: answer, then go on failing
            await self._write(
                name, seq, f"{name} failed: {type(fatal).__name__}", INVALID_REQUEST, {}
            )
            raise
        await self._write(name, seq, "", method.reply_type, reply)

    def _reply_error(self, name: str, seq: int, message: str) -> None:
        task = asyncio.get_running_loop().create_task(
            self._write(name, seq, message, INVALID_REQUEST, {})
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(
        self, name: str, seq: int, error: str, reply_type: gob.GoType, reply: Any
    ) -> None:
        try:
            if not self._write_lock.locked():
                data, saved = self._response(name, seq, error, reply_type, reply)
                if self._stream.try_write(data):
                    return  # sent without waiting: the common case
                self._encoder.rollback(saved)  # its definitions were never sent
            async with self._write_lock:
                data, _ = self._response(name, seq, error, reply_type, reply)
                await self._stream.write(data)
        except TransportError:
            pass  # the caller is gone; nothing to answer

    def _response(
        self, name: str, seq: int, error: str, reply_type: gob.GoType, reply: Any
    ) -> tuple[bytes, int]:
        """Header and reply as one unit, with the encoder checkpoint before them."""
        saved = self._encoder.checkpoint()
        try:
            body = self._encoder.encode(reply_type, reply)
        except gob.GobError as exc:
            error = f"cannot encode the reply of {name}: {exc}"
            body = self._encoder.encode(INVALID_REQUEST, {})
        header = self._encoder.encode(RESPONSE, {"ServiceMethod": name, "Seq": seq, "Error": error})
        return header + body, saved
