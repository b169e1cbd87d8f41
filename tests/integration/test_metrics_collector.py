"""RegisterMetricsCollector: the runner plugin dials back two broker streams the host serves."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from devenv.gopeers import HARDCODED_RUNNER_CONFIG_TEXT, GoPeers
from plugin_host import (
    IncRequest,
    MeasureDurationMsSinceRequest,
    Metric,
    MetricsCollector,
    PluginClient,
    PluginConfig,
    RecordGaugeRequest,
)

pytestmark = pytest.mark.interop

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


class Recorder(MetricsCollector):
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    async def register(self, metrics: list[Metric]) -> None:
        self.events.append(("register", metrics))

    async def measure_duration_ms_since(self, request: MeasureDurationMsSinceRequest) -> None:
        self.events.append(("measure", request))

    async def record_gauge(self, request: RecordGaugeRequest) -> None:
        self.events.append(("gauge", request))

    async def inc(self, request: IncRequest) -> None:
        self.events.append(("inc", request))


async def test_python_plugin_reports_to_python_host() -> None:
    recorder = Recorder()
    config = PluginConfig(path=sys.executable, args=(str(PLUGINS / "noisy_plugin.py"),))
    async with await PluginClient.start(config) as plugin:
        runner = await plugin.runner()
        await runner.register_metrics_collector(recorder)
        await runner.get_treatment_for_request({}, b"{}")
    kinds = [kind for kind, _ in recorder.events]
    assert kinds == ["register", "gauge", "inc", "measure"]
    assert recorder.events[0][1] == [Metric("treatments", "counter", "Treatments", ["name"])]
    assert recorder.events[2][1] == IncRequest("treatments", {"name": "control"})
    measured = recorder.events[3][1]
    assert isinstance(measured, MeasureDurationMsSinceRequest)
    assert measured.starttime == dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)


async def test_go_plugin_reports_to_python_host(gopeers: GoPeers) -> None:
    recorder = Recorder()
    config = PluginConfig(path=str(gopeers.hardcoded_plugin), env={"TURNOUT_TEST_METRICS": "1"})
    async with await PluginClient.start(config) as plugin:
        runner = await plugin.runner()
        await runner.configure(HARDCODED_RUNNER_CONFIG_TEXT)
        await runner.register_metrics_collector(recorder)
        before = dt.datetime.now(dt.UTC)
        treatment = await runner.get_treatment_for_request({}, b'{"client": {"id": 4}}')
        after = dt.datetime.now(dt.UTC)
        assert treatment.name == "control"
    # The values tests/gopeers/cmd/hardcoded-plugin sends, as its source has them.
    assert recorder.events[:4] == [
        (
            "register",
            [
                Metric(
                    "turnout_gopeer_treatments_total",
                    "counter",
                    "Treatments returned by the Go test plugin",
                    ["experiment", "treatment"],
                ),
                Metric(
                    "turnout_gopeer_treatment_duration_ms",
                    "histogram",
                    "Time spent choosing a treatment",
                    ["experiment"],
                    [0.05, 0.1, 0.5, 1.0, 5.0],
                ),
                Metric("turnout_gopeer_ready", "gauge", "1 once registered", ["plugin"]),
            ],
        ),
        ("gauge", RecordGaugeRequest("turnout_gopeer_ready", 1.0, {"plugin": "hardcoded"})),
        (
            "inc",
            IncRequest(
                "turnout_gopeer_treatments_total", {"experiment": "exp_1", "treatment": "control"}
            ),
        ),
        ("measure", recorder.events[3][1]),
    ]
    measured = recorder.events[3][1]
    assert isinstance(measured, MeasureDurationMsSinceRequest)
    assert (measured.key, measured.labels) == (
        "turnout_gopeer_treatment_duration_ms",
        {"experiment": "exp_1"},
    )
    # Go's time.Now() taken inside the call: no clock reading decides pass or
    # fail, only the order of three instants (a wrong epoch or zone breaks it).
    assert before <= measured.starttime <= after, (before, measured.starttime, after)
    assert len(recorder.events) == 4
