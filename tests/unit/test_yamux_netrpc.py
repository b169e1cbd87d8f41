"""yamux, net/rpc and the broker, both ends in one process over a real socket pair."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin_host import gob, wire
from plugin_host.broker import ID_FORMAT, MuxBroker
from plugin_host.errors import CallTimeoutError, ProtocolError, RemoteError, TransportError
from plugin_host.netrpc import Method, MethodError, RpcClient, RpcServer
from plugin_host.yamux import (
    FLAG_SYN,
    HEADER,
    INITIAL_WINDOW,
    TYPE_DATA,
    TYPE_GO_AWAY,
    TYPE_PING,
    Session,
    YamuxConfig,
    YamuxError,
)
from tests.failures import LONG_CALL_TIMEOUT, assert_failed_on_the_transport

pytestmark = pytest.mark.unit


async def session_pair(config: YamuxConfig | None = None) -> tuple[Session, Session]:
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    client = Session(client=True, config=config)
    server = Session(client=False, config=config)
    await loop.create_unix_connection(lambda: client, sock=left)
    await loop.create_unix_connection(lambda: server, sock=right)
    return client, server


@pytest.fixture
async def sessions() -> AsyncIterator[tuple[Session, Session]]:
    client, server = await session_pair()
    yield client, server
    client.close()
    server.close()


async def test_stream_roundtrip_and_half_close(sessions: tuple[Session, Session]) -> None:
    client, server = sessions
    outbound = await client.open_stream()
    await outbound.write(b"hello")
    inbound = await server.accept_stream()
    assert inbound.id == 1
    assert await inbound.read() == b"hello"
    outbound.close()
    assert await inbound.read() == b""  # FIN seen
    await inbound.write(b"still open the other way")
    assert await outbound.read() == b"still open the other way"
    inbound.close()
    assert await outbound.read() == b""


async def test_server_streams_are_even(sessions: tuple[Session, Session]) -> None:
    client, server = sessions
    first = await server.open_stream()
    await first.write(b"x")
    accepted = await client.accept_stream()
    assert accepted.id == 2


async def test_flow_control_moves_more_than_a_window(sessions: tuple[Session, Session]) -> None:
    client, server = sessions
    payload = bytes(range(256)) * (4 * INITIAL_WINDOW // 256 + 7)
    outbound = await client.open_stream()
    writer = asyncio.create_task(outbound.write(payload))
    inbound = await server.accept_stream()
    received = bytearray()
    while len(received) < len(payload):
        received += await inbound.read()
    await writer
    assert bytes(received) == payload


async def test_writer_blocks_at_zero_window_until_reader_consumes(
    sessions: tuple[Session, Session],
) -> None:
    client, server = sessions
    outbound = await client.open_stream()
    writer = asyncio.create_task(outbound.write(b"x" * (INITIAL_WINDOW + 10)))
    await asyncio.sleep(0.2)
    assert not writer.done()  # the peer has not read: the window is exhausted
    inbound = await server.accept_stream()
    total = 0
    while total < INITIAL_WINDOW + 10:
        total += len(await inbound.read())
    await asyncio.wait_for(writer, 5)


async def test_reset_fails_the_peer(sessions: tuple[Session, Session]) -> None:
    client, server = sessions
    outbound = await client.open_stream()
    await outbound.write(b"x")
    inbound = await server.accept_stream()
    outbound.reset()
    await inbound.read()
    with pytest.raises(TransportError, match="reset"):
        await inbound.read()


async def test_ping(sessions: tuple[Session, Session]) -> None:
    client, server = sessions
    assert await client.ping() >= 0
    assert await server.ping() >= 0


async def test_go_away_normal_refuses_new_streams(sessions: tuple[Session, Session]) -> None:
    client, server = sessions
    server.go_away()
    await asyncio.sleep(0.05)
    with pytest.raises(TransportError, match="go-away"):
        await client.open_stream()


async def test_session_close_fails_pending_reads(sessions: tuple[Session, Session]) -> None:
    client, server = sessions
    outbound = await client.open_stream()
    reader = asyncio.create_task(outbound.read())
    await asyncio.sleep(0.01)
    server.close()
    with pytest.raises(TransportError):
        await asyncio.wait_for(reader, 5)


async def test_bad_version_closes_session_with_protocol_go_away() -> None:
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    session = Session(client=False)
    await loop.create_unix_connection(lambda: session, sock=right)
    left.sendall(HEADER.pack(9, TYPE_DATA, FLAG_SYN, 1, 0))
    await asyncio.wait_for(session.wait_closed(), 5)
    assert isinstance(session.close_reason, YamuxError)
    left.setblocking(True)
    reply = left.recv(12)
    assert HEADER.unpack(reply)[1] == TYPE_GO_AWAY and HEADER.unpack(reply)[4] == 1
    left.close()


async def test_receive_window_overflow_is_a_protocol_error() -> None:
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    session = Session(client=False)
    await loop.create_unix_connection(lambda: session, sock=right)
    left.setblocking(False)
    frame = HEADER.pack(0, TYPE_DATA, FLAG_SYN, 1, INITIAL_WINDOW + 1) + b"x" * (INITIAL_WINDOW + 1)
    sending = asyncio.create_task(loop.sock_sendall(left, frame))
    await asyncio.wait_for(session.wait_closed(), 5)
    sending.cancel()
    assert "window exceeded" in str(session.close_reason)
    left.close()


async def test_ping_request_is_answered_immediately() -> None:
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    session = Session(client=False)
    await loop.create_unix_connection(lambda: session, sock=right)
    left.sendall(HEADER.pack(0, TYPE_PING, FLAG_SYN, 0, 77))
    left.setblocking(False)
    reply = await loop.sock_recv(left, 12)
    assert HEADER.unpack(reply) == (0, TYPE_PING, 2, 0, 77)
    session.close()
    left.close()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_frames_raise_only_yamux_errors(data: bytes) -> None:
    async def feed() -> None:
        session = Session(client=True, config=YamuxConfig(keepalive_interval=None))
        session._buffer += data
        with contextlib.suppress(ProtocolError):
            session._parse_frames()
        session.close()

    asyncio.run(feed())


# ---------------------------------------------------------------------------
# net/rpc


ECHO = gob.Struct("Echo", (gob.Field("Text", gob.STRING), gob.Field("Delay", gob.FLOAT)))


def echo_server() -> RpcServer:
    async def echo(arg: Any) -> str:
        await asyncio.sleep(arg.get("Delay", 0.0))
        return str(arg.get("Text", ""))

    async def fail(arg: Any) -> str:
        raise MethodError(f"refused {arg}")

    async def hang(arg: Any) -> str:
        await asyncio.sleep(3600)
        return ""

    async def length(arg: Any) -> int:
        return len(arg)

    async def huge_float(arg: Any) -> float:
        return 10**400  # cannot be a float64: the reply cannot be encoded

    async def number(arg: Any) -> int:
        return 7

    async def cancelled(arg: Any) -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        future.cancel()
        return await future

    server = RpcServer()
    server.register(
        "Plugin",
        {
            "Echo": Method(ECHO, gob.STRING, echo),
            "Fail": Method(gob.STRING, gob.STRING, fail),
            "Hang": Method(gob.INTERFACE, gob.STRING, hang),
            "Len": Method(gob.BYTES, gob.INT, length),
            "Huge": Method(gob.INTERFACE, gob.FLOAT, huge_float),
            "Number": Method(gob.INTERFACE, gob.INT, number),
            "Cancelled": Method(gob.INTERFACE, gob.INT, cancelled),
        },
    )
    return server


@pytest.fixture
async def rpc(sessions: tuple[Session, Session]) -> AsyncIterator[RpcClient]:
    client_session, server_session = sessions
    stream = await client_session.open_stream()
    serving = asyncio.create_task(serve_first(server_session, echo_server()))
    rpc_client = RpcClient(stream, name="test")
    yield rpc_client
    await rpc_client.close()
    serving.cancel()


async def serve_first(session: Session, server: RpcServer) -> None:
    await server.serve(await session.accept_stream())


async def test_concurrent_calls_answered_out_of_order_get_their_own_replies(rpc: RpcClient) -> None:
    async def call(index: int) -> str:
        delay = (64 - index) / 1000  # later calls finish first
        reply: str = await rpc.call(
            "Plugin.Echo", ECHO, {"Text": f"n{index}", "Delay": delay}, gob.STRING
        )
        return reply

    replies = await asyncio.gather(*(call(i) for i in range(64)))
    assert replies == [f"n{i}" for i in range(64)]


async def test_method_error_is_a_remote_error_and_stream_keeps_working(rpc: RpcClient) -> None:
    with pytest.raises(RemoteError) as caught:
        await rpc.call("Plugin.Fail", gob.STRING, "x", gob.STRING)
    assert caught.value.message == "refused x"
    assert await rpc.call("Plugin.Echo", ECHO, {"Text": "after"}, gob.STRING) == "after"


async def test_unknown_method_and_service(rpc: RpcClient) -> None:
    with pytest.raises(RemoteError, match="rpc: can't find method Plugin.Nope"):
        await rpc.call("Plugin.Nope", gob.STRING, "x", gob.STRING)
    with pytest.raises(RemoteError, match="rpc: can't find service Other.Nope"):
        await rpc.call("Other.Nope", gob.STRING, "x", gob.STRING)
    assert await rpc.call("Plugin.Echo", ECHO, {"Text": "ok"}, gob.STRING) == "ok"


async def test_undecodable_argument_is_an_error_reply(rpc: RpcClient) -> None:
    with pytest.raises(RemoteError, match="cannot decode argument"):
        await rpc.call("Plugin.Echo", gob.INT, 5, gob.STRING)
    assert await rpc.call("Plugin.Echo", ECHO, {"Text": "ok"}, gob.STRING) == "ok"


async def test_call_timeout_and_late_answer_is_dropped(rpc: RpcClient) -> None:
    with pytest.raises(CallTimeoutError):
        await rpc.call(
            "Plugin.Echo", ECHO, {"Text": "late", "Delay": 0.3}, gob.STRING, timeout=0.05
        )
    await asyncio.sleep(0.4)
    assert await rpc.call("Plugin.Echo", ECHO, {"Text": "next"}, gob.STRING) == "next"


async def test_connection_loss_fails_pending_calls(
    sessions: tuple[Session, Session], rpc: RpcClient
) -> None:
    pending = asyncio.create_task(
        rpc.call("Plugin.Hang", gob.INTERFACE, None, gob.STRING, timeout=LONG_CALL_TIMEOUT)
    )
    await asyncio.sleep(0.05)
    sessions[1].close()
    with pytest.raises(TransportError) as caught:
        await pending
    assert_failed_on_the_transport(caught.value)
    with pytest.raises(TransportError) as caught:
        await rpc.call("Plugin.Echo", ECHO, {"Text": "x"}, gob.STRING, timeout=LONG_CALL_TIMEOUT)
    assert_failed_on_the_transport(caught.value)


# ---------------------------------------------------------------------------
# Broker


async def test_broker_dial_accept_with_acknowledgement(sessions: tuple[Session, Session]) -> None:
    client_session, server_session = sessions
    host_broker, plugin_broker = MuxBroker(client_session), MuxBroker(server_session)
    running = [asyncio.create_task(host_broker.run()), asyncio.create_task(plugin_broker.run())]
    stream_id = plugin_broker.next_id()
    accepting = asyncio.create_task(plugin_broker.accept(stream_id))
    dialed = await host_broker.dial(stream_id)
    accepted = await accepting
    await dialed.write(b"over the broker")
    assert await accepted.read() == b"over the broker"
    for task in running:
        task.cancel()


async def test_broker_accept_times_out(sessions: tuple[Session, Session]) -> None:
    broker = MuxBroker(sessions[1], wait=0.1)
    with pytest.raises(TransportError, match="timeout waiting for accept"):
        await broker.accept(broker.next_id())


async def test_broker_dial_without_acceptor_times_out(sessions: tuple[Session, Session]) -> None:
    client_session, server_session = sessions
    plugin_broker = MuxBroker(server_session, wait=0.1)
    running = asyncio.create_task(plugin_broker.run())
    # Nobody accepts id 42: the peer drops the stream after its wait, or ours runs out.
    with pytest.raises(TransportError, match="broker stream 42"):
        await MuxBroker(client_session, wait=0.3).dial(42)
    running.cancel()


def test_broker_id_format_is_four_bytes_little_endian() -> None:
    # go-plugin's MuxBroker: binary.Write(conn, binary.LittleEndian, uint32 id).
    assert ID_FORMAT.size == 4
    assert ID_FORMAT.pack(0x01020304) == bytes.fromhex("04 03 02 01")
    assert wire.BROKER_IDS.elem is gob.UINT


async def test_broker_dial_writes_the_id_little_endian_and_checks_the_ack(
    sessions: tuple[Session, Session],
) -> None:
    client_session, server_session = sessions
    dialing = asyncio.create_task(MuxBroker(client_session).dial(0x01020304))
    raw = await server_session.accept_stream()  # the peer, without a broker of ours
    assert await raw.read_exactly(4) == bytes.fromhex("04 03 02 01")
    await raw.write(bytes.fromhex("04 03 02 01"))
    dialed = await dialing
    await dialed.write(b"after the ack")
    assert await raw.read_exactly(13) == b"after the ack"


async def test_broker_accept_reads_a_little_endian_id_and_acks_it(
    sessions: tuple[Session, Session],
) -> None:
    client_session, server_session = sessions
    broker = MuxBroker(server_session)
    running = asyncio.create_task(broker.run())
    accepting = asyncio.create_task(broker.accept(0x0A0B0C0D))
    raw = await client_session.open_stream()
    await raw.write(bytes.fromhex("0d 0c 0b 0a"))
    accepted = await accepting
    assert await raw.read_exactly(4) == bytes.fromhex("0d 0c 0b 0a")
    await accepted.write(b"x")
    assert await raw.read_exactly(1) == b"x"
    running.cancel()


async def test_keepalive_closes_a_session_whose_peer_stops_answering() -> None:
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    session = Session(client=True, config=YamuxConfig(keepalive_interval=0.05, ping_timeout=0.2))
    await loop.create_unix_connection(lambda: session, sock=right)
    # `left` is a peer that reads nothing and answers nothing.
    await asyncio.wait_for(session.wait_closed(), 5)
    assert "ping timed out" in str(session.close_reason)
    left.close()


async def test_keepalive_keeps_a_live_session_open() -> None:
    config = YamuxConfig(keepalive_interval=0.02, ping_timeout=10.0)
    client, server = await session_pair(config)
    await asyncio.sleep(0.2)
    assert not client.closed and not server.closed
    client.close()
    server.close()


async def test_garbage_requests_end_only_their_own_stream(
    sessions: tuple[Session, Session],
) -> None:
    client_session, server_session = sessions
    server = echo_server()

    async def serve_all() -> None:
        while True:
            stream = await server_session.accept_stream()
            asyncio.get_running_loop().create_task(server.serve(stream))

    serving = asyncio.create_task(serve_all())
    rng = random.Random(3)
    for _ in range(30):
        garbage = await client_session.open_stream()
        await garbage.write(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
    healthy = RpcClient(await client_session.open_stream(), name="healthy")
    assert (
        await healthy.call("Plugin.Echo", ECHO, {"Text": "still here"}, gob.STRING) == "still here"
    )
    assert not client_session.closed and not server_session.closed
    serving.cancel()


# ---------------------------------------------------------------------------
# Edge cases of writing and answering


async def test_first_request_larger_than_the_window_keeps_its_type_definitions(
    rpc: RpcClient,
) -> None:
    big = b"x" * (INITIAL_WINDOW + 50_000)
    assert await rpc.call("Plugin.Len", gob.BYTES, big, gob.INT, timeout=10) == len(big)
    assert await rpc.call("Plugin.Len", gob.BYTES, b"abc", gob.INT, timeout=10) == 3


async def test_argument_that_cannot_be_encoded_leaves_the_stream_usable(
    rpc: RpcClient,
) -> None:
    with pytest.raises(gob.GobError, match="expected bytes"):
        await rpc.call("Plugin.Len", gob.BYTES, "not bytes", gob.INT)
    assert await rpc.call("Plugin.Len", gob.BYTES, b"abc", gob.INT, timeout=10) == 3


async def test_reply_that_cannot_be_encoded_is_an_error_answer(rpc: RpcClient) -> None:
    with pytest.raises(RemoteError, match="cannot encode the reply of Plugin.Huge"):
        await rpc.call("Plugin.Huge", gob.INTERFACE, None, gob.FLOAT, timeout=10)
    assert await rpc.call("Plugin.Number", gob.INTERFACE, None, gob.INT, timeout=10) == 7


async def test_reply_of_the_wrong_type_fails_only_that_call(rpc: RpcClient) -> None:
    with pytest.raises(ProtocolError, match="cannot decode the reply: type mismatch"):
        await rpc.call("Plugin.Number", gob.INTERFACE, None, gob.STRING, timeout=10)
    assert await rpc.call("Plugin.Number", gob.INTERFACE, None, gob.INT, timeout=10) == 7


async def test_handler_that_awaits_a_cancelled_future_still_answers(rpc: RpcClient) -> None:
    with pytest.raises(RemoteError, match="Plugin.Cancelled was cancelled"):
        await rpc.call("Plugin.Cancelled", gob.INTERFACE, None, gob.INT, timeout=10)


async def test_deadline_covers_a_write_blocked_on_the_window(
    sessions: tuple[Session, Session],
) -> None:
    client_session, server_session = sessions
    rpc_client = RpcClient(await client_session.open_stream(), name="stuck")
    # The server accepts the stream but never reads it: the window fills up.
    big = b"x" * (2 * INITIAL_WINDOW)
    with pytest.raises(CallTimeoutError):
        await asyncio.wait_for(
            rpc_client.call("Plugin.Len", gob.BYTES, big, gob.INT, timeout=0.3), 10
        )
    # The request was cut off part-way, so the stream is reset rather than left out of step.
    with pytest.raises(TransportError, match="abandoned part-way"):
        await rpc_client.call("Plugin.Len", gob.BYTES, b"x", gob.INT, timeout=1)
    assert not server_session.closed


async def test_data_frame_longer_than_the_window_is_refused_at_its_header() -> None:
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    session = Session(client=False)
    await loop.create_unix_connection(lambda: session, sock=right)
    left.sendall(HEADER.pack(0, TYPE_DATA, FLAG_SYN, 1, 1 << 30) + b"only the start")
    await asyncio.wait_for(session.wait_closed(), 5)
    assert "receive window exceeded" in str(session.close_reason)
    left.close()


async def test_server_answers_calls_in_flight_after_the_client_half_closes(
    sessions: tuple[Session, Session],
) -> None:
    client_session, server_session = sessions
    serving = asyncio.create_task(serve_first(server_session, echo_server()))
    stream = await client_session.open_stream()
    rpc_client = RpcClient(stream, name="closing")
    pending = asyncio.create_task(
        rpc_client.call("Plugin.Echo", ECHO, {"Text": "late", "Delay": 0.2}, gob.STRING)
    )
    await asyncio.sleep(0.05)
    stream.close()  # FIN: no more requests, but the answer must still come back
    assert await asyncio.wait_for(pending, 5) == "late"
    serving.cancel()
