"""The router process with real plugins (Go, served by Turing's code; the Python zipapp)
and real upstream HTTP servers on 127.0.0.1.

Expected routes come from an independent reference of the hardcoded engine's
assignment (FNV-1a buckets over the traffic shares, as Turing's runner
computes them), never from the router's code.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import turnout_router.server as router_server
from devenv.gopeers import GoPeers
from tests.cases.treatments import reference_variant, runner_config
from tests.substrate.router_process import (
    GarbageUpstream,
    RouterProcess,
    Upstream,
    closed_port_url,
    until_ready,
)

pytestmark = pytest.mark.interop

# ----- fixtures -----


@pytest.fixture
async def upstreams() -> AsyncIterator[dict[str, Upstream]]:
    started = {name: await Upstream(name).start() for name in ("control", "treatment-1", "route-a")}
    yield started
    for upstream in started.values():
        await upstream.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


@pytest.fixture
def routers(tmp_path: Path) -> Iterator[list[RouterProcess]]:
    started: list[RouterProcess] = []
    yield started
    for router in started:
        router.stop()


def router_config(
    upstreams: dict[str, Any],
    engine: dict[str, Any] | None,
    **fields: Any,
) -> dict[str, Any]:
    return {
        "routes": [
            {"id": name, "endpoint": up.url, "timeout": "5s"} for name, up in upstreams.items()
        ],
        "fallbackRoute": "control",
        "routeNamePath": "route_name",
        "router": "test/router",
        "version": 1,
        "experimentEngine": engine,
        **fields,
    }


def go_engine(gopeers: GoPeers, **fields: Any) -> dict[str, Any]:
    return {
        "name": "hardcoded",
        "pluginBinary": str(gopeers.hardcoded_plugin),
        "runnerConfig": runner_config(),
        **fields,
    }


def python_engine(path: Path) -> dict[str, Any]:
    return {"name": "hardcoded", "pluginBinary": str(path), "runnerConfig": runner_config()}


async def start_router(
    routers: list[RouterProcess],
    tmp_path: Path,
    config: dict[str, Any],
    *,
    env: dict[str, str] | None = None,
    wait_ready: bool = True,
) -> RouterProcess:
    directory = tmp_path / f"router-{len(routers)}"
    directory.mkdir()
    router = RouterProcess(config, directory, env=env)
    routers.append(router)
    await asyncio.to_thread(router.start)
    if wait_ready:
        await until_ready(router)
    return router


async def post(
    http: aiohttp.ClientSession,
    router: RouterProcess,
    body: Any,
    headers: dict[str, str] | None = None,
    *,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], Any]:
    data = raw if raw is not None else json.dumps(body).encode()
    async with http.post(
        f"{router.url}/v1/predict",
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
    ) as response:
        text = await response.read()
        return response.status, dict(response.headers), json.loads(text)


async def metrics_text(http: aiohttp.ClientSession, router: RouterProcess) -> str:
    async with http.get(f"{router.url}/metrics") as response:
        assert response.status == 200
        return await response.text()


# ----- treatments choose routes -----


@pytest.mark.parametrize("plugin", ["go", "python"])
async def test_routes_follow_the_plugins_assignment_for_1200_units(
    plugin: str,
    gopeers: GoPeers,
    python_plugin: Path,
    upstreams: dict[str, Upstream],
    http: aiohttp.ClientSession,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    engine = go_engine(gopeers) if plugin == "go" else python_engine(python_plugin)
    router = await start_router(routers, tmp_path, router_config(upstreams, engine))
    units = range(1, 1201)
    semaphore = asyncio.Semaphore(32)

    async def one(unit: int) -> tuple[int, str, str, str]:
        async with semaphore:
            status, headers, body = await post(http, router, {"client": {"id": unit}})
        assert status == 200, body
        return unit, headers["Turnout-Route"], headers["Turnout-Treatment"], body["route"]

    answers = await asyncio.gather(*(one(unit) for unit in units))
    expected = {unit: reference_variant(unit) for unit in units}
    # Every unit reached the upstream its treatment names, and said so in the headers.
    assert {unit: served for unit, _, _, served in answers} == expected
    assert {unit: route for unit, route, _, _ in answers} == expected
    assert {unit: treatment for unit, _, treatment, _ in answers} == expected
    assert {"control", "treatment-1"} <= set(expected.values())
    assert len(upstreams["control"].received) + len(upstreams["treatment-1"].received) == 1200
    assert upstreams["route-a"].received == []
    # The start line says which build served: tests/compiled runs this test compiled.
    built = "compiled" if str(router_server.__file__).endswith(".so") else "python"
    listening = [line for line in router.lines if line.get("message") == "router listening"]
    assert listening and listening[0]["hot_path"] == built, router.lines[:3]


async def test_experiment_mappings_choose_the_route(
    gopeers: GoPeers,
    upstreams: dict[str, Upstream],
    http: aiohttp.ClientSession,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    config = router_config(
        upstreams,
        go_engine(gopeers),
        routeNamePath=None,
        experimentMappings=[
            {"experiment": "exp_1", "treatment": "control", "route": "route-a"},
            {"experiment": "exp_1", "treatment": "treatment-1", "route": "control"},
        ],
    )
    router = await start_router(routers, tmp_path, config)
    mapped = {"control": "route-a", "treatment-1": "control"}
    for unit in range(1, 201):
        status, headers, body = await post(http, router, {"client": {"id": unit}})
        assert status == 200
        assert body["route"] == mapped[reference_variant(unit)], unit
        assert headers["Turnout-Route-Reason"] == "treatment"


# ----- fallback -----


async def test_plugin_error_takes_the_fallback_route(
    gopeers: GoPeers,
    upstreams: dict[str, Upstream],
    http: aiohttp.ClientSession,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    router = await start_router(routers, tmp_path, router_config(upstreams, go_engine(gopeers)))
    # A unit for treatment-1, and a request without a unit: the engine answers an error.
    unit = next(u for u in range(1, 100) if reference_variant(u) == "treatment-1")
    status, headers, body = await post(http, router, {"client": {"id": unit}})
    assert (status, body["route"]) == (200, "treatment-1")
    status, headers, body = await post(http, router, {"no": "unit"})
    assert (status, body["route"]) == (200, "control")
    assert headers["Turnout-Route-Reason"] == "engine-error"
    assert "Turnout-Treatment" not in headers
    assert 'turnout_router_engine_failures_total{kind="error"} 1.0' in await metrics_text(
        http, router
    )


async def test_plugin_timeout_takes_the_fallback_route(
    gopeers: GoPeers,
    upstreams: dict[str, Upstream],
    http: aiohttp.ClientSession,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    # The Go plugin's fault switch: every GetTreatmentForRequest blocks forever.
    router = await start_router(
        routers,
        tmp_path,
        router_config(upstreams, go_engine(gopeers, timeout="50ms")),
        env={"TURNOUT_TEST_FAULT": "hang"},
    )
    unit = next(u for u in range(1, 100) if reference_variant(u) == "treatment-1")
    for _ in range(3):
        status, headers, body = await post(http, router, {"client": {"id": unit}})
        assert (status, body["route"]) == (200, "control")
        assert headers["Turnout-Route-Reason"] == "engine-timeout"
    assert 'turnout_router_engine_failures_total{kind="timeout"} 3.0' in await metrics_text(
        http, router
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"routeNamePath": "policy.route"}, "missing-route"),
        ({"routeNamePath": "foo"}, "missing-route"),  # control has foo, treatment-1 has not
    ],
)
async def test_a_treatment_without_the_path_takes_the_fallback(
    fields: dict[str, Any],
    reason: str,
    gopeers: GoPeers,
    upstreams: dict[str, Upstream],
    http: aiohttp.ClientSession,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    config = router_config(upstreams, go_engine(gopeers), **fields)
    router = await start_router(routers, tmp_path, config)
    unit = next(u for u in range(1, 100) if reference_variant(u) == "treatment-1")
    status, headers, body = await post(http, router, {"client": {"id": unit}})
    assert (status, body["route"], headers["Turnout-Route-Reason"]) == (200, "control", reason)
    assert headers["Turnout-Treatment"] == "treatment-1"


async def test_a_treatment_naming_an_unknown_route_takes_the_fallback(
    gopeers: GoPeers,
    upstreams: dict[str, Upstream],
    http: aiohttp.ClientSession,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    known = {name: up for name, up in upstreams.items() if name != "treatment-1"}
    router = await start_router(routers, tmp_path, router_config(known, go_engine(gopeers)))
    unit = next(u for u in range(1, 100) if reference_variant(u) == "treatment-1")
    status, headers, body = await post(http, router, {"client": {"id": unit}})
    assert (status, body["route"], headers["Turnout-Route-Reason"]) == (
        200,
        "control",
        "unknown-route",
    )


# ----- traffic rules -----


async def test_traffic_rules_on_header_and_payload(
    gopeers: GoPeers,
    upstreams: dict[str, Upstream],
    http: aiohttp.ClientSession,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    config = router_config(
        upstreams,
        go_engine(gopeers),
        trafficRules=[
            {
                "name": "country",
                "conditions": [{"fieldSource": "header", "field": "X-Country", "values": ["ID"]}],
                "routes": ["control", "treatment-1"],
            },
            {
                "name": "tier",
                "conditions": [
                    {"fieldSource": "payload", "field": "customer.tier", "values": ["gold"]}
                ],
                "routes": ["control", "route-a"],
            },
        ],
        defaultTrafficRule={"routes": ["control", "route-a"]},
    )
    config["version"] = 7
    router = await start_router(routers, tmp_path, config)
    unit = next(u for u in range(1, 100) if reference_variant(u) == "treatment-1")
    # The header rule allows treatment-1: the treatment's route is taken.
    status, headers, body = await post(http, router, {"client": {"id": unit}}, {"x-country": "ID"})
    assert status == 200
    assert (body["route"], headers["Turnout-Traffic-Rule"]) == ("treatment-1", "country")
    assert headers["Turnout-Router-Version"] == "7"  # the version whose config answered
    # The payload rule does not allow treatment-1: fallback.
    _, headers, body = await post(
        http, router, {"client": {"id": unit}, "customer": {"tier": "gold"}}
    )
    assert (body["route"], headers["Turnout-Traffic-Rule"]) == ("control", "tier")
    assert headers["Turnout-Route-Reason"] == "route-not-allowed"
    # Neither rule: the default rule.
    _status, headers, body = await post(http, router, {"client": {"id": unit}}, {"X-Country": "SG"})
    assert (body["route"], headers["Turnout-Traffic-Rule"]) == ("control", "default")
    text = await metrics_text(http, router)
    for rule in ("country", "tier", "default"):
        assert f'rule="{rule}"' in text


# ----- request ids -----


async def test_the_request_id_flows_to_the_upstream_and_back(
    upstreams: dict[str, Upstream],
    http: aiohttp.ClientSession,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    router = await start_router(routers, tmp_path, router_config(upstreams, None))
    status, headers, body = await post(http, router, {"a": 1}, {"Turing-Req-ID": "caller-42"})
    assert headers["Turing-Req-ID"] == "caller-42" == body["request_id"]
    status, headers, body = await post(http, router, {"a": 1})
    minted = headers["Turing-Req-ID"]
    assert (
        minted and minted == body["request_id"] == upstreams["control"].received[-1]["request_id"]
    )
    # Also on the router's own errors.
    status, headers, _ = await post(http, router, None, raw=b"{not json")
    assert status == 400 and headers["Turing-Req-ID"]
    # The upstream got the header once, not the caller's copy as well.
    assert all(
        list(entry["headers"]).count("Turing-Req-ID") == 1
        for entry in upstreams["control"].received
    )


# ----- the plugin dies -----


@pytest.mark.timeout(120)
async def test_plugin_killed_under_load_every_request_is_answered(
    gopeers: GoPeers,
    upstreams: dict[str, Upstream],
    http: aiohttp.ClientSession,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    router = await start_router(routers, tmp_path, router_config(upstreams, go_engine(gopeers)))
    [first_plugin] = router.plugin_pids()
    unit = next(u for u in range(1, 100) if reference_variant(u) == "treatment-1")
    answers: list[tuple[int, str, str]] = []
    stop = asyncio.Event()

    async def load() -> None:
        while not stop.is_set():
            status, headers, body = await post(http, router, {"client": {"id": unit}})
            reason = headers.get("Turnout-Route-Reason", "")
            answers.append((status, body.get("route", ""), reason))

    workers = [asyncio.create_task(load()) for _ in range(8)]
    try:
        while len(answers) < 200:
            await asyncio.sleep(0.01)
        os.kill(first_plugin, signal.SIGKILL)
        killed_at = len(answers)
        # Until a new plugin serves, requests take the fallback; then treatments resume.
        while not any(reason != "treatment" for _, _, reason in answers[killed_at:]):
            await asyncio.sleep(0.01)
        while answers[-1][2] != "treatment" or len(router.plugin_pids()) != 1:
            await asyncio.sleep(0.01)
        resumed_at = len(answers)
        while len(answers) < resumed_at + 200:
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.gather(*workers)
    assert all(status == 200 for status, _, _ in answers)
    fallbacks = [
        (route, reason) for _, route, reason in answers[killed_at:] if reason != "treatment"
    ]
    assert fallbacks and all(route == "control" for route, _ in fallbacks)
    assert {reason for _, reason in fallbacks} <= {"engine-unavailable", "engine-error"}
    assert all(route == "treatment-1" for _, route, _ in answers[resumed_at + 10 :])
    assert router.plugin_pids() != [first_plugin]
    text = await metrics_text(http, router)
    assert "turnout_router_plugin_restarts_total 1.0" in text


async def test_a_plugin_killed_with_no_traffic_is_started_again_and_readiness_returns(
    gopeers: GoPeers,
    upstreams: dict[str, Upstream],
    http: aiohttp.ClientSession,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    """An unready pod gets no traffic: the router must not wait for a request (or for its
    next health check, here an hour away) to start a dead plugin again."""
    engine = go_engine(gopeers, livenessPeriodSeconds=3600)
    router = await start_router(routers, tmp_path, router_config(upstreams, engine))
    [first_plugin] = router.plugin_pids()
    os.kill(first_plugin, signal.SIGKILL)
    details: list[str] = []
    while True:
        async with http.get(f"{router.url}/v1/internal/ready") as response:
            details.append((await response.json())["detail"])
            if response.status == 200 and router.plugin_pids() not in ([], [first_plugin]):
                break
        await asyncio.sleep(0.02)
    # While it was down, readiness said why: the plugin's exit, not "starting".
    assert all("starting" not in detail for detail in details), details


async def test_readiness_reports_a_plugin_that_cannot_start(
    upstreams: dict[str, Upstream],
    http: aiohttp.ClientSession,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    engine = {"name": "broken", "pluginBinary": str(tmp_path / "missing"), "runnerConfig": None}
    router = await start_router(
        routers, tmp_path, router_config(upstreams, engine), wait_ready=False
    )
    async with http.get(f"{router.url}/v1/internal/ready") as response:
        assert response.status == 503
        assert "fallback" in (await response.json())["detail"]
    async with http.get(f"{router.url}/v1/internal/live") as response:
        assert response.status == 200
    assert "turnout_router_plugin_up 0.0" in await metrics_text(http, router)
    status, headers, body = await post(http, router, {"client": {"id": 1}})
    assert (status, body["route"], headers["Turnout-Route-Reason"]) == (
        200,
        "control",
        "engine-unavailable",
    )


# ----- upstream failures -----


async def test_upstream_down_slow_or_garbage(
    upstreams: dict[str, Upstream],
    http: aiohttp.ClientSession,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    garbage = await GarbageUpstream().start()
    try:
        config = {
            "routes": [
                {"id": "down", "endpoint": closed_port_url()},
                {"id": "slow", "endpoint": upstreams["control"].url, "timeout": "200ms"},
                {"id": "garbage", "endpoint": garbage.url},
            ],
            "fallbackRoute": "down",
            "router": "test/r",
            "version": 1,
            "trafficRules": [
                {
                    "name": f"to-{name}",
                    "conditions": [{"fieldSource": "header", "field": "X-To", "values": [name]}],
                    "routes": [name],
                }
                for name in ("down", "slow", "garbage")
            ],
        }
        router = await start_router(routers, tmp_path, config)
        status, headers, body = await post(http, router, {"a": 1})
        assert status == 502 and body["error"]["route"] == "down"
        assert headers["Turnout-Route"] == "down" and headers["Turing-Req-ID"]
        # Garbage and slow are reached by making them the fallback of their own router.
        for route, expected in (("garbage", 502), ("slow", 504)):
            upstreams["control"].block()
            single = await start_router(
                routers, tmp_path, {**config, "fallbackRoute": route, "trafficRules": []}
            )
            status, headers, body = await post(http, single, {"a": 1})
            assert status == expected, body
            assert body["error"]["route"] == route
            assert headers["Turnout-Route"] == route
            upstreams["control"].release()
        text = await metrics_text(http, single)
        assert 'turnout_router_requests_total{route="slow",rule="none",status="504"} 1.0' in text
    finally:
        await garbage.stop()


async def test_the_router_timeout_bounds_the_whole_request(
    upstreams: dict[str, Upstream],
    http: aiohttp.ClientSession,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    upstreams["control"].block()
    config = router_config(upstreams, None, server={"timeout": "300ms"})
    router = await start_router(routers, tmp_path, config)
    status, _headers, body = await post(http, router, {"a": 1})
    upstreams["control"].release()
    assert status == 504
    assert "router's timeout of 300ms" in body["error"]["message"]
    text = await metrics_text(http, router)
    assert 'turnout_router_requests_total{route="control",rule="none",status="504"} 1.0' in text


# ----- bad requests -----


async def test_bad_requests_get_clear_json_errors(
    upstreams: dict[str, Upstream],
    http: aiohttp.ClientSession,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    config = router_config(upstreams, None, server={"maxBodyBytes": 1000})
    router = await start_router(routers, tmp_path, config)
    status, _, body = await post(http, router, None, raw=b"\xff not json")
    assert (status, body["error"]["message"]) == (400, "request body is not valid JSON")
    status, _, body = await post(http, router, None, raw=b'{"a": "' + b"x" * 2000 + b'"}')
    assert status == 413 and "1000 bytes" in body["error"]["message"]
    async with http.get(f"{router.url}/v1/predict") as response:
        assert response.status == 405 and response.headers["Allow"] == "POST"
        assert (await response.json())["error"]["code"] == 405
    async with http.post(f"{router.url}/elsewhere", data=b"{}") as response:
        assert response.status == 404

    # A chunked body over the limit: no Content-Length to refuse it up front.
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    chunk = b"64\r\n" + b"x" * 100 + b"\r\n"
    writer.write(
        b"POST /v1/predict HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 20
    )
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413 ")
    # Expect: 100-continue is answered at once, and not passed upstream.
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(
        b"POST /v1/predict HTTP/1.1\r\nHost: r\r\nContent-Length: 8\r\n"
        b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
    )
    interim = await reader.readuntil(b"\r\n\r\n")
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b'{"a": 2}')
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert "Expect" not in upstreams["control"].received[-1]["headers"]
    # Not HTTP at all, on a raw socket.
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(b"HELLO\x00\x01 there\r\n\r\n")
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400 ")
    # The router is still serving.
    status, _, body = await post(http, router, {"a": 1})
    assert (status, body["route"]) == (200, "control")
    assert upstreams["control"].received and all(
        "x" * 100 not in json.dumps(entry) for entry in upstreams["control"].received
    )


async def test_a_bad_config_file_fails_at_start_naming_the_field(tmp_path: Path) -> None:
    config = {"routes": [{"id": "a", "endpoint": "nowhere"}], "fallbackRoute": "a", "router": "n/r", "version": 1}  # fmt: skip
    router = RouterProcess(config, tmp_path)
    with pytest.raises(RuntimeError, match=r"routes\.0\.endpoint"):
        await asyncio.to_thread(router.start)
    assert router.wait() == 2


# ----- shutdown -----


async def test_sigterm_with_requests_in_flight_loses_none(
    gopeers: GoPeers,
    upstreams: dict[str, Upstream],
    http: aiohttp.ClientSession,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    router = await start_router(routers, tmp_path, router_config(upstreams, go_engine(gopeers)))
    [plugin] = router.plugin_pids()
    for upstream in upstreams.values():
        upstream.block()
    in_flight = [
        asyncio.create_task(post(http, router, {"client": {"id": unit}})) for unit in range(1, 21)
    ]
    while sum(len(up.received) for up in upstreams.values()) < 20:
        await asyncio.sleep(0.01)
    router.terminate()
    while not any(line.get("message") == "shutting down" for line in router.lines):
        await asyncio.sleep(0.01)
    # No new connections once shutting down.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", router.port), timeout=5).close()
    for upstream in upstreams.values():
        upstream.release()
    answers = await asyncio.gather(*in_flight)
    assert [status for status, _, _ in answers] == [200] * 20
    assert [body["route"] for _, _, body in answers] == [
        reference_variant(unit) for unit in range(1, 21)
    ]
    assert await asyncio.to_thread(router.wait) == 0
    assert not Path(f"/proc/{plugin}").exists()  # the plugin was stopped too


# ----- metrics -----


async def test_metrics_cover_requests_engine_and_the_plugins_own(
    gopeers: GoPeers,
    upstreams: dict[str, Upstream],
    http: aiohttp.ClientSession,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    # TURNOUT_TEST_METRICS makes the Go plugin register a collector and report to it.
    router = await start_router(
        routers,
        tmp_path,
        router_config(upstreams, go_engine(gopeers)),
        env={"TURNOUT_TEST_METRICS": "1"},
    )
    for unit in range(1, 21):
        await post(http, router, {"client": {"id": unit}})
    expected = {
        route: sum(reference_variant(unit) == route for unit in range(1, 21))
        for route in ("control", "treatment-1")
    }
    text = await metrics_text(http, router)
    for route, count in expected.items():
        assert (
            f'turnout_router_requests_total{{route="{route}",rule="none",status="200"}} {count}.0'
            in text
        )
        assert (
            f'turnout_router_route_choices_total{{reason="treatment",route="{route}"}} {count}.0'
            in text
        )
    assert "turnout_router_engine_call_duration_seconds_count 20.0" in text
    assert "turnout_router_plugin_up 1.0" in text
    assert "turnout_plugin_" in text
