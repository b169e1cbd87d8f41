"""HashiCorp yamux stream multiplexing over one asyncio connection, in both roles.

go-plugin runs every net/rpc connection to a plugin as a yamux stream over one
unix socket. This module speaks the frame format and rules of hashicorp/yamux
with its default configuration (the one go-plugin uses): 12-byte big-endian
headers, per-stream 256 KiB flow-control windows in both directions, ping and
keepalive on stream 0, go-away. The dialer (host) is the client and opens odd
stream ids; the listener (plugin) is the server and opens even ones.

The session is an `asyncio.Protocol`, so frames are parsed and pings answered
as soon as bytes arrive, never behind application work.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, cast

from plugin_host.errors import ProtocolError, TransportError

log = logging.getLogger(__name__)

VERSION: Final = 0
TYPE_DATA: Final = 0
TYPE_WINDOW_UPDATE: Final = 1
TYPE_PING: Final = 2
TYPE_GO_AWAY: Final = 3

FLAG_SYN: Final = 0x1
FLAG_ACK: Final = 0x2
FLAG_FIN: Final = 0x4
FLAG_RST: Final = 0x8

GO_AWAY_NORMAL: Final = 0
GO_AWAY_PROTOCOL_ERROR: Final = 1
GO_AWAY_INTERNAL_ERROR: Final = 2

HEADER: Final = struct.Struct(">BBHII")
INITIAL_WINDOW: Final = 256 * 1024


@dataclass(frozen=True, slots=True)
class YamuxConfig:
    """Session settings; the defaults are yamux's own, which go-plugin uses."""

    accept_backlog: int = 256
    """Inbound streams waiting for `accept`; more are reset, as Go does."""
    keepalive_interval: float | None = 30.0
    """Seconds between keepalive pings; None disables them."""
    ping_timeout: float = 10.0
    """A ping unanswered this long closes the session (yamux's write timeout)."""
    max_stream_window: int = INITIAL_WINDOW
    """Receive window per stream; larger values are advertised to the peer."""


class YamuxError(ProtocolError):
    """The peer broke the yamux protocol."""


class StreamClosedError(TransportError):
    """The stream was reset, or its session is gone."""


class Stream:
    """One bidirectional yamux stream."""

    def __init__(self, session: Session, stream_id: int, *, inbound: bool) -> None:
        self._session = session
        self.id = stream_id
        self._inbound = inbound
        self._recv: deque[bytes] = deque()
        self._recv_buffered = 0
        self._recv_window = INITIAL_WINDOW
        self._send_window = INITIAL_WINDOW
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._syn_pending = not inbound  # our SYN goes out with the first frame we send
        self._ack_pending = inbound  # our ACK goes out when the stream is accepted
        self._remote_closed = False
        self._local_closed = False
        self._error: BaseException | None = None
        self._receiver: Callable[[bytes], None] | None = None
        self._on_close: Callable[[BaseException | None], None] | None = None

    def set_receiver(
        self, receiver: Callable[[bytes], None], on_close: Callable[[BaseException | None], None]
    ) -> None:
        """Deliver incoming data by callback, straight from the socket read, instead of `read()`.

        Saves a task switch per message on hot paths (net/rpc). `on_close` gets None
        on the peer's FIN, or the error that ended the stream.
        """
        self._receiver = receiver
        self._on_close = on_close
        while self._recv:
            chunk = self._recv.popleft()
            self._recv_buffered -= len(chunk)
            self._session._consumed(self, len(chunk))
            receiver(chunk)
        if self._error is not None or self._remote_closed:
            self._notify_close()

    def _notify_close(self) -> None:
        callback, self._on_close = self._on_close, None
        if callback is not None:
            callback(self._error)

    # -- reading ------------------------------------------------------------

    async def read(self) -> bytes:
        """Return the next bytes that arrived; b"" once the peer has closed its side."""
        while not self._recv:
            if self._error is not None:
                raise StreamClosedError(f"yamux stream {self.id}: {self._error}")
            if self._remote_closed:
                return b""
            self._readable.clear()
            await self._readable.wait()
        chunk = self._recv.popleft()
        self._recv_buffered -= len(chunk)
        self._session._consumed(self, len(chunk))
        return chunk

    async def read_exactly(self, count: int) -> bytes:
        data = bytearray()
        while len(data) < count:
            chunk = await self.read()
            if not chunk:
                raise StreamClosedError(
                    f"yamux stream {self.id}: closed after {len(data)} of {count} bytes"
                )
            data += chunk
            if len(data) > count:
                # Put back what belongs to the next reader.
                extra = bytes(data[count:])
                self._recv.appendleft(extra)
                self._recv_buffered += len(extra)
                del data[count:]
        return bytes(data)

    # -- writing ------------------------------------------------------------

    def try_write(self, data: bytes) -> bool:
        """Send `data` at once if the window and the socket buffer allow; else send nothing."""
        self._check_writable()
        if len(data) > self._send_window or self._session._write_paused:
            return False
        self._send_window -= len(data)
        self._session._send_data(self, memoryview(data))
        return True

    async def write(self, data: bytes) -> None:
        """Send all of `data`, waiting for the peer's window where needed."""
        view = memoryview(data)
        while view:
            self._check_writable()
            if self._send_window == 0:
                self._writable.clear()
                await self._writable.wait()
                continue
            size = min(len(view), self._send_window)
            self._send_window -= size
            self._session._send_data(self, view[:size])
            view = view[size:]
        await self._session._drain()

    def _check_writable(self) -> None:
        if self._error is not None:
            raise StreamClosedError(f"yamux stream {self.id}: {self._error}")
        if self._local_closed:
            raise StreamClosedError(f"yamux stream {self.id}: write after close")

    def _take_flags(self) -> int:
        flags = 0
        if self._syn_pending:
            flags |= FLAG_SYN
            self._syn_pending = False
        if self._ack_pending:
            flags |= FLAG_ACK
            self._ack_pending = False
        return flags

    # -- closing ------------------------------------------------------------

    def close(self) -> None:
        """Half-close: tell the peer we send no more. Reading goes on until its FIN."""
        if self._local_closed or self._error is not None:
            return
        self._local_closed = True
        self._writable.set()  # a write waiting for window now fails: "write after close"
        self._session._send_window_update(self, 0, FLAG_FIN)
        self._maybe_forget()

    def reset(self) -> None:
        """Abort the stream in both directions."""
        if self._error is None:
            self._session._send_frame(TYPE_WINDOW_UPDATE, FLAG_RST, self.id, 0)
        self._fail(ConnectionResetError("reset locally"))

    @property
    def closed(self) -> bool:
        return self._error is not None or (self._local_closed and self._remote_closed)

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self._readable.set()
        self._writable.set()
        self._session._forget(self)
        self._notify_close()

    def _maybe_forget(self) -> None:
        if self._local_closed and self._remote_closed:
            self._session._forget(self)

    # -- frames from the session ---------------------------------------------

    def _on_data(self, data: bytes) -> None:
        if len(data) > self._recv_window:
            raise YamuxError(f"stream {self.id}: receive window exceeded")
        self._recv_window -= len(data)
        if not data:
            return
        if self._receiver is not None:
            self._session._consumed(self, len(data))
            self._receiver(data)
            return
        self._recv.append(data)
        self._recv_buffered += len(data)
        self._readable.set()

    def _on_flags(self, flags: int) -> None:
        if flags & FLAG_FIN:
            self._remote_closed = True
            self._readable.set()
            self._maybe_forget()
            if self._receiver is not None:
                self._notify_close()
        if flags & FLAG_RST:
            self._fail(ConnectionResetError("reset by peer"))

    def _on_window(self, delta: int) -> None:
        self._send_window += delta
        if self._send_window > 0:
            self._writable.set()


class Session(asyncio.Protocol):
    """A yamux session over one connection. `client=True` for the dialing side."""

    def __init__(self, *, client: bool, config: YamuxConfig | None = None) -> None:
        self.config = config or YamuxConfig()
        self._client = client
        self._next_id = 1 if client else 2
        self._streams: dict[int, Stream] = {}
        self._accept_queue: asyncio.Queue[Stream | None] = asyncio.Queue()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        # Kept: in Python 3.11 each get_running_loop() is a getpid() system call, and
        # _write schedules a flush on almost every turn.
        self._loop = asyncio.get_running_loop()
        self._connected = self._loop.create_future()
        self._closed = asyncio.Event()
        self._close_reason: BaseException | None = None
        self._remote_go_away = False
        self._write_paused = False
        self._write_resumed = asyncio.Event()
        # Frames written in one turn of the event loop leave in one write: with many
        # concurrent calls that is one system call, and one wake-up of the peer,
        # instead of one per frame.
        self._outgoing: list[bytes] = []
        self._flush_scheduled = False
        self._write_resumed.set()
        self._pings: dict[int, asyncio.Future[None]] = {}
        self._ping_id = 0
        self._keepalive: asyncio.Task[None] | None = None

    # -- asyncio.Protocol ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        if not self._connected.done():
            self._connected.set_result(None)
        if self.config.keepalive_interval:
            self._keepalive = asyncio.get_running_loop().create_task(self._keepalive_loop())

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            self._parse_frames()
        except YamuxError as exc:
            log.warning("yamux protocol error, closing session", extra={"error": str(exc)})
            self._send_frame(TYPE_GO_AWAY, 0, 0, GO_AWAY_PROTOCOL_ERROR)
            self._terminate(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._terminate(exc or EOFError("connection closed"))

    def pause_writing(self) -> None:
        self._write_paused = True
        self._write_resumed.clear()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._write_resumed.set()

    # -- public API ---------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def close_reason(self) -> BaseException | None:
        return self._close_reason

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def open_stream(self) -> Stream:
        """Open a stream; data may be written at once, before the peer's ACK."""
        self._check_open()
        if self._remote_go_away:
            raise StreamClosedError("the peer sent go-away: no new streams")
        stream_id = self._next_id
        self._next_id += 2
        stream = Stream(self, stream_id, inbound=False)
        self._streams[stream_id] = stream
        self._send_window_update(stream, 0, 0)  # carries SYN
        await self._drain()
        return stream

    async def accept_stream(self) -> Stream:
        """Wait for the peer to open a stream, then acknowledge it."""
        self._check_open()
        stream = await self._accept_queue.get()
        if stream is None:
            self._accept_queue.put_nowait(None)  # wake the other waiters too
            raise StreamClosedError(f"yamux session closed: {self._close_reason}")
        if stream._error is None:
            self._send_window_update(stream, 0, 0)  # carries ACK
        return stream

    async def ping(self) -> float:
        """Round-trip a ping; returns seconds."""
        self._check_open()
        loop = asyncio.get_running_loop()
        self._ping_id = (self._ping_id + 1) & 0xFFFFFFFF
        ping_id = self._ping_id
        waiter: asyncio.Future[None] = loop.create_future()
        self._pings[ping_id] = waiter
        started = loop.time()
        self._send_frame(TYPE_PING, FLAG_SYN, 0, ping_id)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.config.ping_timeout)
        except TimeoutError:
            raise TransportError("yamux ping timed out") from None
        finally:
            self._pings.pop(ping_id, None)
        return loop.time() - started

    def go_away(self, code: int = GO_AWAY_NORMAL) -> None:
        """Tell the peer not to open new streams."""
        self._send_frame(TYPE_GO_AWAY, 0, 0, code)

    def close(self) -> None:
        """Close the connection; like Go's Session.Close, no go-away is sent."""
        self._terminate(EOFError("session closed locally"))

    # -- internals ----------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise StreamClosedError(f"yamux session closed: {self._close_reason}")

    def _terminate(self, reason: BaseException) -> None:
        if self._closed.is_set():
            return
        self._close_reason = reason
        self._closed.set()
        for stream in list(self._streams.values()):
            stream._fail(reason)
        self._streams.clear()
        self._accept_queue.put_nowait(None)
        for waiter in self._pings.values():
            if not waiter.done():
                waiter.set_exception(TransportError(f"yamux session closed: {reason}"))
        if self._keepalive is not None:
            self._keepalive.cancel()
        self._write_resumed.set()
        if self._transport is not None:
            self._flush()  # frames already accepted still go out, as they would have
            self._transport.close()

    def _forget(self, stream: Stream) -> None:
        if self._streams.get(stream.id) is stream:
            del self._streams[stream.id]

    def _send_frame(self, frame_type: int, flags: int, stream_id: int, length: int) -> None:
        if self._transport is None or self._closed.is_set():
            return
        self._write(HEADER.pack(VERSION, frame_type, flags, stream_id, length))

    def _send_data(self, stream: Stream, data: memoryview) -> None:
        if self._transport is None or self._closed.is_set():
            raise StreamClosedError(f"yamux session closed: {self._close_reason}")
        header = HEADER.pack(VERSION, TYPE_DATA, stream._take_flags(), stream.id, len(data))
        self._write(header + data)

    def _write(self, frame: bytes) -> None:
        self._outgoing.append(frame)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._outgoing or self._transport is None:
            return
        data = b"".join(self._outgoing) if len(self._outgoing) > 1 else self._outgoing[0]
        self._outgoing.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def _send_window_update(self, stream: Stream, delta: int, flags: int) -> None:
        self._send_frame(TYPE_WINDOW_UPDATE, flags | stream._take_flags(), stream.id, delta)

    async def _drain(self) -> None:
        if self._write_paused:
            await self._write_resumed.wait()
        self._check_open()

    def _consumed(self, stream: Stream, count: int) -> None:
        """Credit read bytes back to the peer once half a window is free (as Go does)."""
        target = self.config.max_stream_window
        delta = (target - stream._recv_buffered) - stream._recv_window
        if delta < target // 2 and not (stream._ack_pending or stream._syn_pending):
            return
        if delta <= 0 or stream._error is not None:
            return
        stream._recv_window += delta
        self._send_window_update(stream, delta, 0)

    def _parse_frames(self) -> None:
        buffer = self._buffer
        offset = 0
        size = len(buffer)
        while size - offset >= 12:
            version, frame_type, flags, stream_id, length = HEADER.unpack_from(buffer, offset)
            if version != VERSION:
                raise YamuxError(f"unsupported yamux version {version}")
            if frame_type == TYPE_DATA:
                self._check_data_length(flags, stream_id, length)
                if size - offset - 12 < length:
                    break
                payload = bytes(buffer[offset + 12 : offset + 12 + length])
                offset += 12 + length
                self._on_stream_frame(frame_type, flags, stream_id, length, payload)
            else:
                offset += 12
                if frame_type == TYPE_WINDOW_UPDATE:
                    self._on_stream_frame(frame_type, flags, stream_id, length, b"")
                elif frame_type == TYPE_PING:
                    self._on_ping(flags, length)
                elif frame_type == TYPE_GO_AWAY:
                    self._on_go_away(length)
                else:
                    raise YamuxError(f"unknown yamux frame type {frame_type}")
            if self._closed.is_set():
                return
        del buffer[:offset]

    def _check_data_length(self, flags: int, stream_id: int, length: int) -> None:
        """Refuse a frame longer than the window at its header, before buffering it (as Go)."""
        stream = self._streams.get(stream_id)
        window = INITIAL_WINDOW if stream is None or flags & FLAG_SYN else stream._recv_window
        if length > max(window, 0):
            raise YamuxError(f"stream {stream_id}: receive window exceeded ({length} > {window})")

    def _on_stream_frame(
        self, frame_type: int, flags: int, stream_id: int, length: int, payload: bytes
    ) -> None:
        stream = self._streams.get(stream_id)
        if flags & FLAG_SYN:
            if stream is not None:
                raise YamuxError(f"duplicate SYN for stream {stream_id}")
            if stream_id == 0 or (stream_id % 2 == 1) == self._client:
                raise YamuxError(f"peer opened stream {stream_id} with our parity")
            stream = self._incoming(stream_id)
            if stream is None:
                return
        if stream is None:
            return  # frames for streams we forgot are discarded, as in Go
        if frame_type == TYPE_WINDOW_UPDATE:
            stream._on_window(length)
        else:
            stream._on_data(payload)
        if flags & (FLAG_FIN | FLAG_RST):
            stream._on_flags(flags)

    def _incoming(self, stream_id: int) -> Stream | None:
        if self._accept_queue.qsize() >= self.config.accept_backlog:
            log.warning("yamux accept backlog full, resetting stream", extra={"stream": stream_id})
            self._send_frame(TYPE_WINDOW_UPDATE, FLAG_RST, stream_id, 0)
            return None
        stream = Stream(self, stream_id, inbound=True)
        self._streams[stream_id] = stream
        self._accept_queue.put_nowait(stream)
        return stream

    def _on_ping(self, flags: int, value: int) -> None:
        if flags & FLAG_SYN:
            self._send_frame(TYPE_PING, FLAG_ACK, 0, value)
        elif flags & FLAG_ACK:
            waiter = self._pings.get(value)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _on_go_away(self, code: int) -> None:
        if code == GO_AWAY_NORMAL:
            self._remote_go_away = True
            return
        self._terminate(TransportError(f"peer sent go-away with code {code}"))

    async def _keepalive_loop(self) -> None:
        interval = self.config.keepalive_interval
        assert interval is not None
        while not self._closed.is_set():
            await asyncio.sleep(interval)
            try:
                await self.ping()
            except TransportError as exc:
                log.warning("yamux keepalive failed, closing session", extra={"error": str(exc)})
                self._terminate(exc)
                return


async def connect_unix(path: str, config: YamuxConfig | None = None) -> Session:
    """Dial a unix socket and run a client session on it."""
    loop = asyncio.get_running_loop()
    session = Session(client=True, config=config)
    try:
        await loop.create_unix_connection(lambda: session, path)
    except OSError as exc:
        raise TransportError(f"cannot connect to {path}: {exc}") from exc
    return session


async def connect_tcp(host: str, port: int, config: YamuxConfig | None = None) -> Session:
    """Dial a TCP address and run a client session on it (go-plugin's choice on Windows)."""
    loop = asyncio.get_running_loop()
    session = Session(client=True, config=config)
    try:
        await loop.create_connection(lambda: session, host, port)
    except OSError as exc:
        raise TransportError(f"cannot connect to {host}:{port}: {exc}") from exc
    return session
