"""A runner plugin that reports fixed metrics to the host's collector.

On RegisterMetricsCollector it registers two metrics and records a gauge; on
every GetTreatmentForRequest it counts the treatment and measures a duration
from a fixed start time in a +05:30 zone. The tests read what the host got.
"""

import datetime as dt

from plugin_host import (
    ExperimentRunner,
    GetTreatmentOptions,
    IncRequest,
    MeasureDurationMsSinceRequest,
    Metric,
    PluginMetricsCollector,
    RecordGaugeRequest,
    Treatment,
    serve,
)

STARTED = dt.datetime(
    2031, 7, 8, 9, 10, 11, 123456, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))
)


class Runner(ExperimentRunner):
    collector: PluginMetricsCollector | None = None

    async def register_metrics_collector(self, collector: PluginMetricsCollector) -> None:
        self.collector = collector
        await collector.register(
            [
                Metric(
                    "treatments_total", "counter", "Treatments given", ["experiment", "treatment"]
                ),
                Metric("latency_ms", "histogram", "", ["experiment"], [0.5, 1.0, 2.5]),
            ]
        )
        await collector.record_gauge(RecordGaugeRequest("ready", 0.25, {"plugin": "metrics"}))

    async def get_treatment_for_request(
        self, header: dict[str, list[str]], payload: bytes, options: GetTreatmentOptions
    ) -> Treatment:
        if self.collector is not None:
            await self.collector.inc(
                IncRequest("treatments_total", {"experiment": "e", "treatment": "t"})
            )
            await self.collector.measure_duration_ms_since(
                MeasureDurationMsSinceRequest("latency_ms", STARTED, {"experiment": "e"})
            )
        return Treatment("e", "t", b"{}")


serve(runner=Runner())
