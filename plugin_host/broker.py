"""go-plugin's MuxBroker: extra net/rpc connections as numbered yamux streams.

Dispensing a plugin, and the metrics collector a runner dials back, each use a
stream of their own. The dialer opens a stream and writes the 4-byte
little-endian id; the side that called `accept(id)` writes the same 4 bytes back
as the acknowledgement. Ids come from a per-side counter starting at 1, and each
side waits 5 seconds for the other, as go-plugin does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import Final

from plugin_host.errors import TransportError
from plugin_host.yamux import Session, Stream

log = logging.getLogger(__name__)

ID_FORMAT: Final = struct.Struct("<I")
DEFAULT_WAIT: Final = 5.0


class MuxBroker:
    """Both halves of the broker for one session: run `run()` as a task."""

    def __init__(self, session: Session, *, wait: float = DEFAULT_WAIT) -> None:
        self._session = session
        self._wait = wait
        self._next_id = 0
        self._arrived: dict[int, asyncio.Future[Stream]] = {}

    def next_id(self) -> int:
        self._next_id = (self._next_id + 1) & 0xFFFFFFFF
        return self._next_id

    async def run(self) -> None:
        """Route every inbound stream to the `accept` waiting for its id."""
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    stream = await self._session.accept_stream()
                except TransportError:
                    return
                task = asyncio.get_running_loop().create_task(self._route(stream))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in tasks:
                task.cancel()

    async def _route(self, stream: Stream) -> None:
        try:
            raw = await asyncio.wait_for(stream.read_exactly(4), self._wait)
        except (TimeoutError, TransportError):
            stream.reset()
            return
        (stream_id,) = ID_FORMAT.unpack(raw)
        slot = self._slot(stream_id)
        if slot.done():
            log.warning("broker got a second stream for one id", extra={"id": stream_id})
            stream.reset()
            return
        slot.set_result(stream)
        # Nobody claims it within the wait: drop it, as go-plugin does.
        await asyncio.sleep(self._wait)
        if self._arrived.get(stream_id) is slot:
            del self._arrived[stream_id]
            stream.reset()

    def _slot(self, stream_id: int) -> asyncio.Future[Stream]:
        slot = self._arrived.get(stream_id)
        if slot is None:
            slot = asyncio.get_running_loop().create_future()
            self._arrived[stream_id] = slot
        return slot

    async def accept(self, stream_id: int) -> Stream:
        """Wait for the peer to dial `stream_id`, acknowledge it and return the stream."""
        slot = self._slot(stream_id)
        try:
            stream = await asyncio.wait_for(asyncio.shield(slot), self._wait)
        except TimeoutError:
            raise TransportError(
                f"timeout waiting for accept of broker stream {stream_id}"
            ) from None
        finally:
            if self._arrived.get(stream_id) is slot:
                del self._arrived[stream_id]
        await stream.write(ID_FORMAT.pack(stream_id))
        return stream

    async def dial(self, stream_id: int) -> Stream:
        """Open a stream to the peer's `accept(stream_id)` and wait for its acknowledgement."""
        stream = await self._session.open_stream()
        await stream.write(ID_FORMAT.pack(stream_id))
        try:
            raw = await asyncio.wait_for(stream.read_exactly(4), self._wait)
        except TimeoutError:
            stream.reset()
            raise TransportError(f"no acknowledgement for broker stream {stream_id}") from None
        except TransportError as exc:
            raise TransportError(f"broker stream {stream_id} was refused: {exc}") from exc
        (acked,) = ID_FORMAT.unpack(raw)
        if acked != stream_id:
            stream.reset()
            raise TransportError(f"bad ack for broker stream {stream_id}: {acked}")
        return stream

    def close(self) -> None:
        for slot in self._arrived.values():
            if not slot.done():
                slot.cancel()
            else:
                with contextlib.suppress(Exception):
                    slot.result().reset()
        self._arrived.clear()
