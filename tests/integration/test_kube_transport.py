"""The operator's API client over HTTP: how many calls it runs at once, what it sends.

A small aiohttp server on loopback stands in for the API server where the test needs
to see requests as they arrive or to misbehave on purpose (hold calls, drop a
connection); what the real API server does with them is tested against it in
test_lease.py, test_kube_credentials.py and the operator's own tests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp.web
import kopf
import pytest

from devenv.procs import free_port
from turnout_operator.kube.client import USER_AGENT, Kube, KubeError, ObjectRef

# More than asyncio's default thread pool ever has (min(32, cpu_count + 4)).
CONCURRENCY = 40


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeApiServer:
    """A loopback HTTP server whose answer the test sets; it records every request."""

    port: int
    answer: Callable[[aiohttp.web.Request], Any] | None = None
    seen: list[Seen] = field(default_factory=list)

    def login(self, token: str = "t0") -> Callable[[], kopf.ConnectionInfo]:
        return lambda: kopf.ConnectionInfo(server=f"http://127.0.0.1:{self.port}", token=token)

    async def handle(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        self.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                await request.read(),
            )
        )
        assert self.answer is not None
        response: aiohttp.web.StreamResponse = await self.answer(request)
        return response


@pytest.fixture
async def server() -> AsyncIterator[FakeApiServer]:
    fake = FakeApiServer(free_port())
    app = aiohttp.web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = aiohttp.web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", fake.port).start()
    try:
        yield fake
    finally:
        await runner.cleanup()


def lease(name: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": "1"}}


async def test_as_many_calls_run_at_once_as_the_client_was_sized_for_and_no_more(
    server: FakeApiServer,
) -> None:
    in_flight = 0
    most = 0
    everyone = asyncio.Event()

    async def answer(_: aiohttp.web.Request) -> aiohttp.web.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if in_flight == CONCURRENCY:
            everyone.set()
        try:
            # Held until CONCURRENCY calls are here at once: a smaller client never gets there.
            await asyncio.wait_for(everyone.wait(), 20)
            await asyncio.sleep(0.05)  # the calls beyond the limit would arrive meanwhile
            return aiohttp.web.json_response({"kind": "Lease"})
        finally:
            in_flight -= 1

    server.answer = answer
    kube = Kube(server.login(), concurrency=CONCURRENCY)
    try:
        calls = [kube.get_lease("ns", f"l{index}", 30) for index in range(CONCURRENCY + 5)]
        results = await asyncio.gather(*calls)
    finally:
        await kube.close()
    assert results == [{"kind": "Lease"}] * (CONCURRENCY + 5)
    assert most == CONCURRENCY
    # Each request names the operator (the scale benchmark counts requests by it) and
    # carries the token.
    assert {s.headers["User-Agent"] for s in server.seen} == {USER_AGENT} == {"turnout-operator"}
    assert {s.headers["Authorization"] for s in server.seen} == {"Bearer t0"}


async def test_requests_are_built_as_the_api_server_expects(server: FakeApiServer) -> None:
    async def answer(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.json_response({"kind": "Status", "status": "Success"})

    server.answer = answer
    kube = Kube(server.login())
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"namespace": "ns", "name": "svc"},
        "spec": {"ports": [{"name": "http", "port": 80}]},
    }
    try:
        await kube.apply(service)
        await kube.delete(ObjectRef.of(service))
        await kube.patch_router_status("ns", "r", "uid-1", {"phase": "Deployed"})
        await kube.router_uids(["a", "b"])
    finally:
        await kube.close()
    apply, delete, status, *lists = server.seen
    assert (apply.method, apply.path) == ("PATCH", "/api/v1/namespaces/ns/services/svc")
    assert apply.query == {"fieldManager": "turnout", "force": "true"}
    assert apply.headers["Content-Type"] == "application/apply-patch+yaml"
    assert json.loads(apply.body) == service
    assert (delete.method, delete.path) == ("DELETE", "/api/v1/namespaces/ns/services/svc")
    assert json.loads(delete.body) == {"propagationPolicy": "Background"}
    assert status.path == "/apis/turnout.dev/v1alpha1/namespaces/ns/routers/r/status"
    assert status.headers["Content-Type"] == "application/json-patch+json"
    # The uid is tested first: another Router under the name is never written to.
    assert json.loads(status.body) == [
        {"op": "test", "path": "/metadata/uid", "value": "uid-1"},
        {"op": "add", "path": "/status", "value": {"phase": "Deployed"}},
    ]
    # Consistent reads (no resourceVersion: not the watch cache's possibly older view).
    assert [(s.path, s.query) for s in lists] == [
        ("/apis/turnout.dev/v1alpha1/namespaces/a/routers", {"limit": "500"}),
        ("/apis/turnout.dev/v1alpha1/namespaces/b/routers", {"limit": "500"}),
    ]
    assert kube.writes == 3


async def test_a_failed_call_carries_the_api_servers_own_message(server: FakeApiServer) -> None:
    answers = {
        "/apis/coordination.k8s.io/v1/namespaces/ns/leases/invalid": aiohttp.web.json_response(
            {"kind": "Status", "message": 'Lease "invalid" is invalid: spec.x: Required value'},
            status=422,
        ),
        "/apis/coordination.k8s.io/v1/namespaces/ns/leases/proxy": aiohttp.web.Response(
            text="upstream connect error", status=502
        ),
        "/apis/coordination.k8s.io/v1/namespaces/ns/leases/gone": aiohttp.web.json_response(
            {"kind": "Status", "message": 'leases "gone" not found'}, status=404
        ),
    }

    async def answer(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return answers[request.path]

    server.answer = answer
    kube = Kube(server.login())
    try:
        with pytest.raises(KubeError) as invalid:
            await kube.write_lease(lease("invalid"), 5)
        with pytest.raises(KubeError) as proxy:
            await kube.write_lease(lease("proxy"), 5)
        assert await kube.get_lease("ns", "gone", 5) is None
    finally:
        await kube.close()
    assert (invalid.value.status, invalid.value.message) == (
        422,
        'Lease "invalid" is invalid: spec.x: Required value',
    )
    assert (proxy.value.status, proxy.value.message) == (502, "upstream connect error")


async def test_a_connection_dropped_before_the_answer_is_tried_once_more() -> None:
    """What a client sees when the API server restarts under a kept-alive connection."""
    port = free_port()
    connections = 0
    drop = 1

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        if connections > drop:
            body = b'{"kind": "Service"}'
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", port)
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "n", "name": "s"}}
    kube = Kube(lambda: kopf.ConnectionInfo(server=f"http://127.0.0.1:{port}"))
    try:
        # The first connection is closed without an answer: the apply is sent again.
        assert await kube.apply(service) == {"kind": "Service"}
        assert connections == 2
        # A server that drops every connection: the second failure is the caller's.
        drop, connections = 10, 0
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await kube.apply(service)
        assert connections == 2
    finally:
        await kube.close()
        listener.close()
        await listener.wait_closed()


async def test_an_answer_with_retry_after_is_waited_for_and_sent_again(
    server: FakeApiServer,
) -> None:
    busy = 2  # answers that say "later" before the real one

    async def answer(_: aiohttp.web.Request) -> aiohttp.web.Response:
        nonlocal busy
        if busy:
            busy -= 1
            return aiohttp.web.json_response(
                {"kind": "Status", "message": "storage is (re)initializing"},
                status=429,
                headers={"Retry-After": "0"},
            )
        return aiohttp.web.json_response({"kind": "ServiceList", "items": []})

    server.answer = answer
    kube = Kube(server.login())
    try:
        assert await kube.router_uids(["ns"]) == set()
        assert len(server.seen) == 3
        # The Lease's calls keep to the elector's timeout: the refusal is theirs to handle.
        busy = 1
        with pytest.raises(KubeError) as error:
            await kube.get_lease("ns", "l", 5)
        assert (error.value.status, error.value.message) == (429, "storage is (re)initializing")
    finally:
        await kube.close()
