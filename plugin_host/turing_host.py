"""The host side of Turing's experiment engine APIs: calls into a dispensed plugin.

`ManagerClient` calls an `experiment_manager` plugin, `RunnerClient` an
`experiment_runner` one (the router's treatment call); `collector_server` and
`helper_server` serve the host's `MetricsCollector` to a runner that reports
metrics. The classes users subclass live in `plugin_host.turing`. Neither is
compiled with the hot path: the operator replaces a ManagerClient's `rpc` with a
measuring wrapper, which a compiled class would refuse.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from plugin_host import gob, wire
from plugin_host.broker import MuxBroker
from plugin_host.errors import PluginError
from plugin_host.netrpc import Method, RpcClient, RpcServer
from plugin_host.turing import MetricsCollector
from plugin_host.wire import (
    Client,
    Engine,
    Experiment,
    GetTreatmentOptions,
    GetTreatmentRequest,
    Treatment,
    Variable,
)

log = logging.getLogger(__name__)

JsonLike = bytes | str | dict[str, Any] | list[Any] | None


def raw_json(value: JsonLike) -> bytes:
    """Turn a JSON document given as bytes, text or Python data into raw JSON bytes."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


class ManagerClient:
    """Calls an `experiment_manager` plugin."""

    def __init__(self, rpc: RpcClient, *, timeout: float | None = 30.0) -> None:
        self.rpc = rpc
        self.timeout = timeout

    async def _call(
        self, method: str, arg_type: gob.GoType, arg: Any, reply_type: gob.GoType
    ) -> Any:
        return await self.rpc.call(
            f"Plugin.{method}", arg_type, arg, reply_type, timeout=self.timeout
        )

    async def configure(self, config: JsonLike) -> None:
        await self._call("Configure", gob.BYTES, raw_json(config), gob.INTERFACE)

    async def get_engine_info(self) -> Engine:
        result: Engine = await self._call("GetEngineInfo", gob.INTERFACE, None, wire.ENGINE)
        return result

    async def validate_experiment_config(self, config: JsonLike) -> None:
        await self._call("ValidateExperimentConfig", gob.BYTES, raw_json(config), gob.INTERFACE)

    async def get_experiment_runner_config(self, config: JsonLike) -> bytes:
        result: bytes = await self._call(
            "GetExperimentRunnerConfig", gob.BYTES, raw_json(config), gob.BYTES
        )
        return result

    async def is_cache_enabled(self) -> bool:
        result: bool = await self._call("IsCacheEnabled", gob.INTERFACE, None, gob.BOOL)
        return result

    async def list_clients(self) -> list[Client]:
        result: list[Client] = await self._call("ListClients", gob.INTERFACE, None, wire.CLIENTS)
        return result

    async def list_experiments(self) -> list[Experiment]:
        result: list[Experiment] = await self._call(
            "ListExperiments", gob.INTERFACE, None, wire.EXPERIMENTS
        )
        return result

    async def list_experiments_for_client(self, client: Client) -> list[Experiment]:
        result: list[Experiment] = await self._call(
            "ListExperimentsForClient", wire.CLIENT, client, wire.EXPERIMENTS
        )
        return result

    async def list_variables_for_client(self, client: Client) -> list[Variable]:
        result: list[Variable] = await self._call(
            "ListVariablesForClient", wire.CLIENT, client, wire.VARIABLES
        )
        return result

    async def list_variables_for_experiments(
        self, experiments: list[Experiment]
    ) -> dict[str, list[Variable]]:
        result: dict[str, list[Variable]] = await self._call(
            "ListVariablesForExperiments",
            wire.EXPERIMENTS,
            experiments,
            wire.VARIABLES_BY_EXPERIMENT,
        )
        return result


def collector_server(collector: MetricsCollector) -> RpcServer:
    async def measure(request: Any) -> None:
        await collector.measure_duration_ms_since(request)

    async def gauge(request: Any) -> None:
        await collector.record_gauge(request)

    async def inc(request: Any) -> None:
        await collector.inc(request)

    server = RpcServer()
    server.register(
        "Plugin",
        {
            "MeasureDurationMsSince": Method(wire.MEASURE_DURATION_REQUEST, gob.INTERFACE, measure),
            "RecordGauge": Method(wire.RECORD_GAUGE_REQUEST, gob.INTERFACE, gauge),
            "Inc": Method(wire.INC_REQUEST, gob.INTERFACE, inc),
        },
    )
    return server


def helper_server(collector: MetricsCollector) -> RpcServer:
    async def register(metrics: Any) -> None:
        await collector.register(metrics)

    server = RpcServer()
    server.register("Plugin", {"Register": Method(wire.METRICS, gob.INTERFACE, register)})
    return server


class RunnerClient:
    """Calls an `experiment_runner` plugin."""

    def __init__(self, rpc: RpcClient, broker: MuxBroker, *, timeout: float | None = 5.0) -> None:
        self.rpc = rpc
        self.timeout = timeout
        self._broker = broker

    async def configure(self, config: JsonLike) -> None:
        await self.rpc.call(
            "Plugin.Configure", gob.BYTES, raw_json(config), gob.INTERFACE, timeout=self.timeout
        )

    async def get_treatment_for_request(
        self,
        header: dict[str, list[str]],
        payload: bytes,
        options: GetTreatmentOptions | None = None,
        *,
        timeout: float | None = None,
    ) -> Treatment:
        request = GetTreatmentRequest(header, payload, options or GetTreatmentOptions())
        result: Treatment = await self.rpc.call(
            "Plugin.GetTreatmentForRequest",
            wire.GET_TREATMENT_REQUEST,
            request,
            wire.TREATMENT,
            timeout=timeout if timeout is not None else self.timeout,
        )
        return result

    async def register_metrics_collector(self, collector: MetricsCollector) -> None:
        """Serve `collector` on two broker streams the plugin dials back, then register them."""
        import asyncio  # local: only this call needs tasks

        collector_id, helper_id = self._broker.next_id(), self._broker.next_id()

        async def accept_and_serve(stream_id: int, server: RpcServer) -> None:
            # These tasks have nobody to await them: every failure ends here, as a
            # log line, or asyncio reports "Task exception was never retrieved".
            try:
                stream = await self._broker.accept(stream_id)
            except PluginError as exc:
                # A plugin may accept the collector and never use it (a Go plugin
                # whose method returns nil without dialing): it simply has no metrics.
                log.info(
                    "plugin did not dial back for metrics",
                    extra={"stream": stream_id, "error": str(exc)},
                )
                return
            try:
                await server.serve(stream)
            except PluginError as exc:
                log.info("metrics stream closed", extra={"stream": stream_id, "error": str(exc)})

        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(accept_and_serve(collector_id, collector_server(collector))),
            loop.create_task(accept_and_serve(helper_id, helper_server(collector))),
        ]
        self._serving = tasks  # keep references: they serve for the plugin's lifetime
        try:
            await self.rpc.call(
                "Plugin.RegisterMetricsCollector",
                wire.BROKER_IDS,
                [collector_id, helper_id],
                gob.INTERFACE,
                timeout=self.timeout,
            )
        except BaseException:
            # A plugin without the method (Turing's own examples) never dials back:
            # the accepting tasks would otherwise fail later, with nobody to hear it.
            for task in tasks:
                task.cancel()
            raise
