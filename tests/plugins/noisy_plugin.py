"""A working plugin that writes garbage to stdout, logs on stderr and reports metrics on every call."""

import datetime as dt
import logging
import sys

from plugin_host import (
    Engine,
    ExperimentManager,
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

log = logging.getLogger("noisy")


class Manager(ExperimentManager):
    async def get_engine_info(self) -> Engine:
        return Engine(name="noisy")

    async def validate_experiment_config(self, config: bytes) -> None:
        pass

    async def get_experiment_runner_config(self, config: bytes) -> bytes:
        return config


class Runner(ExperimentRunner):
    collector: PluginMetricsCollector | None = None

    async def register_metrics_collector(self, collector: PluginMetricsCollector) -> None:
        self.collector = collector
        await collector.register([Metric("treatments", "counter", "Treatments", ["name"])])
        await collector.record_gauge(RecordGaugeRequest("ready", 1.0, {}))

    async def get_treatment_for_request(
        self, header: dict[str, list[str]], payload: bytes, options: GetTreatmentOptions
    ) -> Treatment:
        print("\x00\xffgarbage on stdout|1|2|3", flush=True)
        sys.stdout.buffer.write(b"\xfe\xfd no newline either")
        sys.stdout.flush()
        log.warning("treatment asked", extra={"request_id": options.turing_request_id})
        if self.collector is not None:
            started = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
            await self.collector.inc(IncRequest("treatments", {"name": "control"}))
            await self.collector.measure_duration_ms_since(
                MeasureDurationMsSinceRequest("latency", started)
            )
        return Treatment("exp", "control", b"{}")


serve(manager=Manager(), runner=Runner())
