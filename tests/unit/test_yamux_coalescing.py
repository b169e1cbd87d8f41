"""yamux frames written in one turn of the event loop leave in one transport write.

With a router's many concurrent treatment calls, that is one system call and
one wake-up of the plugin per turn instead of one per call.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from plugin_host.yamux import HEADER, Session

pytestmark = pytest.mark.unit


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self._closing = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))
        self.events.append("write")

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True
        self.events.append("close")


async def test_frames_of_one_turn_leave_in_one_write() -> None:
    session = Session(client=True)
    transport = RecordingTransport()
    session.connection_made(transport)
    for code in (0, 1, 2):
        session.go_away(code)
    assert transport.writes == []  # nothing yet: the turn is not over
    await asyncio.sleep(0)
    assert len(transport.writes) == 1
    frames = transport.writes[0]
    assert len(frames) == 3 * HEADER.size
    assert [HEADER.unpack_from(frames, i * HEADER.size)[4] for i in range(3)] == [0, 1, 2]
    session.close()


async def test_frames_already_accepted_go_out_before_the_close() -> None:
    session = Session(client=True)
    transport = RecordingTransport()
    session.connection_made(transport)
    session.go_away(0)
    session.close()
    assert transport.events == ["write", "close"]
