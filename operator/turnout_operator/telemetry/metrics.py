"""The operator's Prometheus metrics, served on TURNOUT_METRICS_PORT at /metrics.

Counters and histograms are module-level (prometheus-client's default registry);
what is already known elsewhere (each Router's phase, each plugin's restarts) is
read at scrape time by `RuntimeCollector` instead of being copied into gauges.
`docs/metrics.md` lists every series with example PromQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple, Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from plugin_host import CallTimeoutError, RemoteError

PASS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
PLUGIN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0)

RECONCILES = Counter(
    "turnout_reconciles",
    "Reconcile passes by result: ok, retry (a database, plugin or API server was unavailable; "
    "tried again after TURNOUT_RETRY_SECONDS) or error (an unexpected exception).",
    ["result"],
)
RECONCILE_SECONDS = Histogram(
    "turnout_reconcile_duration_seconds",
    "Time one reconcile pass took (waiting for a pass slot not included).",
    buckets=PASS_BUCKETS,
)
VERSIONS_CREATED = Counter(
    "turnout_versions_created", "Router versions this process recorded in the database."
)
PLUGIN_CALLS = Counter(
    "turnout_plugin_calls",
    "Calls to engine manager plugins by engine, method and result: ok, remote_error (the "
    "plugin answered with an error), timeout, or error (transport or process failure).",
    ["engine", "method", "result"],
)
PLUGIN_CALL_SECONDS = Histogram(
    "turnout_plugin_call_duration_seconds",
    "Latency of calls to engine manager plugins.",
    ["engine", "method"],
    buckets=PLUGIN_BUCKETS,
)
BACKOFFS = Counter(
    "turnout_reconcile_backoffs",
    "Failed passes after which a Router waits (per-Router exponential backoff, "
    "TURNOUT_RETRY_BASE_SECONDS doubling up to TURNOUT_RETRY_SECONDS).",
)
ROUTERS_DELETED = Counter(
    "turnout_routers_deleted",
    "Deleted Routers whose loop ended, by how the deletion was learnt: event (the watch's "
    "DELETED), relist (missing from a list after a watch gap), gone (a pass found it gone), "
    "sweep (missing from the periodic comparison of the database with the cluster).",
    ["source"],
)
DATABASE_ERRORS = Counter(
    "turnout_database_errors",
    "Operations that failed because the versions database was unavailable.",
)
IS_LEADER = Gauge(
    "turnout_leader",
    "1 while this process holds the leader Lease (or runs without leader election), else 0.",
)
LEASE_TRANSITIONS = Gauge(
    "turnout_lease_transitions",
    "The Lease's leaseTransitions as last seen: how often leadership changed hands.",
)


def pass_result(requeue: float | None, retry_seconds: float, failed: bool) -> str:
    """The `result` label of one pass: error, retry (a dependency was down) or ok."""
    if failed:
        return "error"
    if requeue is not None and requeue == retry_seconds:
        return "retry"
    return "ok"


def record_pass(result: str, seconds: float) -> None:
    RECONCILES.labels(result=result).inc()
    RECONCILE_SECONDS.observe(seconds)


def leader_changed(is_leader: bool, transitions: int) -> None:
    """A `LeaderListener`: keeps the leader gauges current."""
    IS_LEADER.set(1 if is_leader else 0)
    LEASE_TRANSITIONS.set(transitions)


def call_result(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, RemoteError):
        return "remote_error"
    if isinstance(error, CallTimeoutError):
        return "timeout"
    return "error"


class _Rpc(Protocol):
    async def call(
        self, method: str, arg_type: Any, arg: Any, reply_type: Any, *, timeout: float | None = None
    ) -> Any: ...


class MeasuredRpc:
    """An RPC client that counts and times every call of one engine's manager plugin.

    Wraps the manager's `rpc`, so every ManagerClient method is measured, whoever calls it.
    """

    def __init__(self, rpc: _Rpc, engine: str) -> None:
        self._rpc = rpc
        self._engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rpc, name)

    async def call(
        self, method: str, arg_type: Any, arg: Any, reply_type: Any, *, timeout: float | None = None
    ) -> Any:
        short = method.removeprefix("Plugin.")
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return await self._rpc.call(method, arg_type, arg, reply_type, timeout=timeout)
        except BaseException as exc:
            error = exc
            raise
        finally:
            PLUGIN_CALLS.labels(self._engine, short, call_result(error)).inc()
            PLUGIN_CALL_SECONDS.labels(self._engine, short).observe(time.perf_counter() - started)


def phase_counts(phases: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for phase in phases:
        counts[phase] = counts.get(phase, 0) + 1
    return counts


class RouterStanding(NamedTuple):
    """Where one Router stood after its last pass: what the per-Router series report."""

    namespace: str
    name: str
    phase: str
    ready: bool
    """The Ready condition is True (an earlier version serving counts)."""


class RuntimeCollector(Collector):
    """Reads at scrape time what the operator knows: Routers, plugin restarts, engines up.

    Each Router is one `turnout_router_ready` and one `turnout_router_phase` series
    (kube-state-metrics' shape: the phase a label, the value 1), so an alert can name
    the Router that has been unready for N minutes; `turnout_routers` counts them by
    phase for the fleet view. The Router's own namespace is the `namespace` label: the
    chart's ServiceMonitor sets honorLabels so Prometheus keeps it over the operator's.
    """

    def __init__(
        self,
        routers: Callable[[], Iterable[RouterStanding]],
        restarts: Callable[[], Mapping[str, int]],
        backing_off: Callable[[], int] = lambda: 0,
        engines_up: Callable[[], Mapping[str, bool]] = dict,
    ) -> None:
        self._routers = routers
        self._restarts = restarts
        self._backing_off = backing_off
        self._engines_up = engines_up

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        standings = sorted(self._routers())
        routers = GaugeMetricFamily(
            "turnout_routers",
            "Routers this process reconciles, by the phase of its last pass.",
            labels=["phase"],
        )
        for name, count in sorted(phase_counts(s.phase for s in standings).items()):
            routers.add_metric([name], count)
        yield routers
        ready = GaugeMetricFamily(
            "turnout_router_ready",
            "1 while the Router's Ready condition is True after its last pass, else 0.",
            labels=["namespace", "router"],
        )
        phase = GaugeMetricFamily(
            "turnout_router_phase",
            "1 for the phase of the Router's last pass (one series per Router).",
            labels=["namespace", "router", "phase"],
        )
        for standing in standings:
            ready.add_metric([standing.namespace, standing.name], 1 if standing.ready else 0)
            phase.add_metric([standing.namespace, standing.name, standing.phase], 1)
        yield ready
        yield phase
        restarts = CounterMetricFamily(
            "turnout_plugin_restarts",
            "Times an engine's manager plugin was started again after it died or stopped "
            "answering.",
            labels=["engine"],
        )
        for engine, count in sorted(self._restarts().items()):
            restarts.add_metric([engine], count)
        yield restarts
        yield GaugeMetricFamily(
            "turnout_routers_backing_off",
            "Routers whose last pass failed and which wait out their backoff.",
            value=self._backing_off(),
        )
        up = GaugeMetricFamily(
            "turnout_engine_up",
            "1 while the engine's manager plugin runs and answers, else 0.",
            labels=["engine"],
        )
        for engine, running in sorted(self._engines_up().items()):
            up.add_metric([engine], 1 if running else 0)
        yield up


def register(collector: Collector) -> Callable[[], None]:
    """Add a collector to the served registry; returns what removes it again."""
    REGISTRY.register(collector)

    def unregister() -> None:
        REGISTRY.unregister(collector)

    return unregister


def serve(port: int) -> None:
    """Serve /metrics on `port` from a thread: it answers on standby replicas too."""
    start_http_server(port, addr="0.0.0.0")
