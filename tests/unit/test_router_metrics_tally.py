"""The request metrics are tallied and flushed; what a scrape shows after a flush must be
what the Prometheus client's own `inc`/`observe` show for the same requests, which this
test computes independently in a second registry."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from turnout_router.metrics import _ENGINE_BUCKETS, _LATENCY_BUCKETS, RouterMetrics

pytestmark = pytest.mark.unit


def reference(requests: list[tuple[str, int, str, float, float]]) -> bytes:
    registry = CollectorRegistry()
    counts = Counter("turnout_router_requests", "", ["route", "status", "rule"], registry=registry)
    latency = Histogram(
        "turnout_router_request_duration_seconds",
        "",
        ["route", "status", "rule"],
        buckets=_LATENCY_BUCKETS,
        registry=registry,
    )
    choices = Counter("turnout_router_route_choices", "", ["route", "reason"], registry=registry)
    engine = Histogram(
        "turnout_router_engine_call_duration_seconds",
        "",
        buckets=_ENGINE_BUCKETS,
        registry=registry,
    )
    for route, status, rule, seconds, engine_seconds in requests:
        counts.labels(route, str(status), rule).inc()
        latency.labels(route, str(status), rule).observe(seconds)
        choices.labels(route, "treatment").inc()
        engine.observe(engine_seconds)
    return generate_latest(registry)


def samples(text: bytes, names: tuple[str, ...]) -> dict[str, float]:
    """Sample values of the named metrics by series, without help texts and creation times."""
    found: dict[str, float] = {}
    for line in text.decode().splitlines():
        if line.startswith(names) and "_created" not in line:
            series, _, value = line.rpartition(" ")
            found[series] = float(value)
    return found


NAMES = (
    "turnout_router_requests_total",
    "turnout_router_request_duration_seconds_",
    "turnout_router_route_choices_total",
    "turnout_router_engine_call_duration_seconds_",
)


def drawn(count: int, seed: int) -> list[tuple[str, int, str, float, float]]:
    rng = random.Random(seed)
    bounds = list(_LATENCY_BUCKETS) + list(_ENGINE_BUCKETS)
    requests = []
    for _ in range(count):
        # Amounts on a bucket's bound exactly belong to it (`amount <= bound`).
        seconds = rng.choice(bounds) if rng.random() < 0.3 else rng.uniform(0, 12)
        engine_seconds = rng.choice(bounds) if rng.random() < 0.3 else rng.uniform(0, 1.5)
        route = rng.choice(["control", "treatment-1"])
        requests.append(
            (route, rng.choice([200, 502]), rng.choice(["default", "r"]), seconds, engine_seconds)
        )
    return requests


def record(metrics: RouterMetrics, requests: list[tuple[str, int, str, float, float]]) -> None:
    for route, status, rule, seconds, engine_seconds in requests:
        metrics.choice(route, "treatment")
        metrics.observe_engine(engine_seconds)
        metrics.request(route, status, rule, seconds)


@pytest.mark.parametrize("seed", range(5))
def test_flushed_tallies_expose_what_observe_would(seed: int) -> None:
    requests = drawn(400, seed)
    metrics = RouterMetrics()
    record(metrics, requests[:150])
    metrics.flush()
    record(metrics, requests[150:])
    metrics.flush()
    metrics.flush()  # nothing new: writes nothing twice
    # Sums are added in another order (tallied, then once per flush): equal to rounding.
    expected = pytest.approx(samples(reference(requests), NAMES), rel=1e-12)
    assert samples(generate_latest(metrics.registry), NAMES) == expected


def test_nothing_shows_before_a_flush_and_multiprocess_files_get_it(tmp_path: Path) -> None:
    requests = drawn(50, 99)
    metrics = RouterMetrics(multiprocess_dir=tmp_path, worker_index=0)
    record(metrics, requests)
    before = samples(generate_latest(metrics.exposed), ("turnout_router_requests_total",))
    assert set(before.values()) <= {0.0}  # series known, nothing written yet
    metrics.flush()
    exposed = samples(generate_latest(metrics.exposed), ("turnout_router_requests_total",))
    expected = samples(reference(requests), ("turnout_router_requests_total",))
    assert exposed == expected
