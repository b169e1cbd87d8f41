"""The router's Prometheus metrics, and the plugin's own, served on /metrics.

Label children are looked up once per label combination and kept: a
`labels()` call costs more than the observation itself, and the hot path
records every request.

Requests are counted and timed by route, status and traffic rule also when
they time out (Turing's router loses those). The plugin's metrics arrive over
`RegisterMetricsCollector`: the plugin declares them (`Register`) and then
reports values; each becomes a Prometheus metric named
`turnout_plugin_<name>`, so a plugin cannot clash with the router's own.

A pod runs several workers (`workers`); a scrape reaches one of them but must
see the whole pod. In a worker, `multiprocess_dir` is set and every value
lives in a memory-mapped file of that directory (the Prometheus client's
multiprocess mode); a scrape reads all workers' files and sums counters and
histograms. Gauges say how they combine: `turnout_router_plugin_up` is the
minimum over live workers (1 only when every worker's plugin serves); a
plugin's own gauges are reported per worker (label `pid`, the worker's index).
The file of a worker is named by its index, not its pid, so a replacement
worker continues its predecessor's counters and the pod's never go backwards.

The per-request metrics are tallied in plain Python numbers and written to the
Prometheus values by `flush()`: the worker flushes every quarter second and before
it answers a scrape. A request's three updates took about 6 µs written through
(each value update takes a lock and, in multiprocess mode, writes its file), about
1 µs tallied. A scrape that reaches one worker sees the others' requests of the
last quarter second at the next scrape.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
import os
import re
from pathlib import Path
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, values

from plugin_host import (
    IncRequest,
    MeasureDurationMsSinceRequest,
    Metric,
    MetricsCollector,
    RecordGaugeRequest,
)

log = logging.getLogger(__name__)

_LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
_ENGINE_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip


class _CounterTally:
    """Increments of one counter child not yet written."""

    __slots__ = ("child", "count")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.count = 0

    def flush(self) -> None:
        if self.count:
            self.child.inc(self.count)
            self.count = 0


class _HistogramTally:
    """Observations of one histogram child not yet written: their sum and, per bucket,
    how many fell in it (the child keeps per-bucket counts too, and sums them when read)."""

    __slots__ = ("bounds", "buckets", "child", "count", "total")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.bounds: list[float] = list(child._upper_bounds)
        self.buckets = [0] * len(self.bounds)
        self.count = 0
        self.total = 0.0

    def observe(self, amount: float) -> None:
        # The first bound at or above the amount: Histogram.observe's `amount <= bound`.
        self.buckets[bisect.bisect_left(self.bounds, amount)] += 1
        self.total += amount
        self.count += 1

    def flush(self) -> None:
        if not self.count:
            return
        self.child._sum.inc(self.total)
        for index, count in enumerate(self.buckets):
            if count:
                self.child._buckets[index].inc(count)
                self.buckets[index] = 0
        self.count = 0
        self.total = 0.0


class RouterMetrics:
    """Every metric of one router process, in its own registry.

    `exposed` is what /metrics serves: the process's own registry, or with a
    `multiprocess_dir` a registry that reads every worker's values.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        multiprocess_dir: Path | None = None,
        worker_index: int = 0,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.exposed = self.registry
        if multiprocess_dir is not None:
            # Chosen when a metric is created: every metric of this process from here
            # on (the plugin's too) writes to its file. The identifier is read on
            # every update; a constant costs no getpid() system call.
            # The client finds the directory in the environment when it opens a file.
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(multiprocess_dir)
            values.ValueClass = values.MultiProcessValue(lambda: worker_index)  # type: ignore[no-untyped-call]
            self.exposed = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.exposed, str(multiprocess_dir))  # type: ignore[no-untyped-call]
        r = self.registry
        self.requests = Counter(
            "turnout_router_requests",
            "Requests answered, by route taken, HTTP status and traffic rule.",
            ["route", "status", "rule"],
            registry=r,
        )
        self.latency = Histogram(
            "turnout_router_request_duration_seconds",
            "Time from a whole request received to its response written, by route, status, rule.",
            ["route", "status", "rule"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.choices = Counter(
            "turnout_router_route_choices",
            "Routes chosen and why: treatment, or the reason for the fallback route.",
            ["route", "reason"],
            registry=r,
        )
        self.engine_latency = Histogram(
            "turnout_router_engine_call_duration_seconds",
            "GetTreatmentForRequest round trips, errors and timeouts included.",
            buckets=_ENGINE_BUCKETS,
            registry=r,
        )
        self.engine_failures = Counter(
            "turnout_router_engine_failures",
            "Treatment calls that gave no treatment: error, timeout or unavailable.",
            ["kind"],
            registry=r,
        )
        self.plugin_restarts = Counter(
            "turnout_router_plugin_restarts",
            "Times the plugin was started again after it died or stopped answering pings.",
            registry=r,
        )
        self.engine_budget = Gauge(
            "turnout_router_engine_budget_seconds",
            "The treatment call's budget (the engine's timeout); 0 without an engine. Beside "
            "the call latency it tells how close the engine runs to the fallback.",
            registry=r,
            multiprocess_mode="max",  # every worker has the same budget
        )
        self.plugin_up = Gauge(
            "turnout_router_plugin_up",
            "1 while the configured plugin of every worker is serving.",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.rejected = Counter(
            "turnout_router_rejected_requests",
            "Requests refused before routing (bad JSON, too large, wrong method or path).",
            ["status"],
            registry=r,
        )
        self._request_tallies: dict[
            tuple[str, int, str], tuple[_CounterTally, _HistogramTally]
        ] = {}
        self._choice_tallies: dict[tuple[str, str], _CounterTally] = {}
        self._engine_tally = _HistogramTally(self.engine_latency)
        self._failure_children: dict[str, Any] = {}
        self._rejected_children: dict[int, Any] = {}
        self.observe_engine = self._engine_tally.observe

    def request(self, route: str, status: int, rule: str, seconds: float) -> None:
        key = (route, status, rule)
        tallies = self._request_tallies.get(key)
        if tallies is None:
            labels = (route, str(status), rule)
            tallies = (
                _CounterTally(self.requests.labels(*labels)),
                _HistogramTally(self.latency.labels(*labels)),
            )
            self._request_tallies[key] = tallies
        tallies[0].count += 1
        tallies[1].observe(seconds)

    def choice(self, route: str, reason: str) -> None:
        tally = self._choice_tallies.get((route, reason))
        if tally is None:
            tally = _CounterTally(self.choices.labels(route, reason))
            self._choice_tallies[(route, reason)] = tally
        tally.count += 1

    def flush(self) -> None:
        """Write what the requests since the last flush tallied into the Prometheus values."""
        for counter, histogram in self._request_tallies.values():
            counter.flush()
            histogram.flush()
        for tally in self._choice_tallies.values():
            tally.flush()
        self._engine_tally.flush()

    def engine_failure(self, kind: str) -> None:
        child = self._failure_children.get(kind)
        if child is None:
            child = self._failure_children[kind] = self.engine_failures.labels(kind)
        child.inc()

    def rejection(self, status: int) -> None:
        child = self._rejected_children.get(status)
        if child is None:
            child = self._rejected_children[status] = self.rejected.labels(str(status))
        child.inc()


_NAME_UNSAFE: Final = re.compile(r"[^a-zA-Z0-9_]")
PLUGIN_PREFIX: Final = "turnout_plugin_"


class PluginMetrics(MetricsCollector):
    """The host side of RegisterMetricsCollector: the plugin's metrics as Prometheus metrics.

    Metrics the plugin did not Register first are created on first use, with the
    labels of that first report; a report whose labels do not fit is dropped
    with a debug log rather than failing the plugin's call.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._metrics: dict[str, tuple[Any, tuple[str, ...]]] = {}

    def _create(self, metric: Metric) -> None:
        if metric.name in self._metrics:
            return
        name = PLUGIN_PREFIX + _NAME_UNSAFE.sub("_", metric.name)
        labels = tuple(_NAME_UNSAFE.sub("_", label) for label in metric.labels)
        doc = metric.description or f"Reported by the experiment engine plugin: {metric.name}."
        kind = metric.type.lower()
        try:
            if kind == "counter":
                created: Any = Counter(name, doc, labels, registry=self._registry)
            elif kind == "histogram":
                buckets = tuple(metric.buckets) or Histogram.DEFAULT_BUCKETS
                created = Histogram(name, doc, labels, buckets=buckets, registry=self._registry)
            else:
                # Per worker (label pid) in a multi-worker pod: each has its own plugin.
                created = Gauge(
                    name, doc, labels, registry=self._registry, multiprocess_mode="liveall"
                )
        except ValueError as exc:
            log.warning("plugin metric refused", extra={"metric": metric.name, "error": str(exc)})
            return
        self._metrics[metric.name] = (created, tuple(metric.labels))

    def _child(self, key: str, kind: str, labels: dict[str, str] | None) -> Any:
        given = labels or {}
        if key not in self._metrics:
            self._create(Metric(name=key, type=kind, labels=sorted(given)))
        entry = self._metrics.get(key)
        if entry is None:
            return None
        metric, names = entry
        if set(given) != set(names):
            log.debug("plugin metric labels do not match", extra={"metric": key})
            return None
        return metric.labels(*(given[name] for name in names)) if names else metric

    async def register(self, metrics: list[Metric]) -> None:
        for metric in metrics:
            self._create(metric)

    async def measure_duration_ms_since(self, request: MeasureDurationMsSinceRequest) -> None:
        child = self._child(request.key, "histogram", request.labels)
        if child is not None and hasattr(child, "observe"):
            elapsed = dt.datetime.now(dt.UTC) - request.starttime
            # Turing's collector records milliseconds.
            child.observe(elapsed.total_seconds() * 1000)

    async def record_gauge(self, request: RecordGaugeRequest) -> None:
        child = self._child(request.key, "gauge", request.labels)
        if child is not None and hasattr(child, "set"):
            child.set(request.value)

    async def inc(self, request: IncRequest) -> None:
        child = self._child(request.key, "counter", request.labels)
        if child is not None:
            child.inc()
