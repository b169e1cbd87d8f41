"""Typed experiment engine APIs, mirroring Turing's ExperimentManager and ExperimentRunner.

Host side: `ManagerClient` and `RunnerClient` call a dispensed plugin.
Plugin side: subclass `ExperimentManager` / `ExperimentRunner` and pass the
instances to `plugin_host.serve`. Every method is `async`; a method that raises
answers the call with the exception's text, which the host receives as a
`RemoteError` carrying that message.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from typing import Any, Final

from plugin_host import gob, wire
from plugin_host.broker import MuxBroker
from plugin_host.errors import PluginError
from plugin_host.netrpc import Method, MethodError, RpcClient, RpcServer
from plugin_host.wire import (
    Client,
    Engine,
    Experiment,
    GetTreatmentOptions,
    GetTreatmentRequest,
    IncRequest,
    MeasureDurationMsSinceRequest,
    Metric,
    RecordGaugeRequest,
    Treatment,
    Variable,
)

log = logging.getLogger(__name__)

NOT_IMPLEMENTED: Final = "not implemented"

JsonLike = bytes | str | dict[str, Any] | list[Any] | None


def raw_json(value: JsonLike) -> bytes:
    """Turn a JSON document given as bytes, text or Python data into raw JSON bytes."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


# ---------------------------------------------------------------------------
# Host side


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


class MetricsCollector(ABC):
    """Receives the metrics a runner plugin reports (the host's side of the callbacks)."""

    async def register(self, metrics: list[Metric]) -> None:  # noqa: B027 - optional hook
        """The plugin declares the metrics it will report."""

    @abstractmethod
    async def measure_duration_ms_since(self, request: MeasureDurationMsSinceRequest) -> None: ...

    @abstractmethod
    async def record_gauge(self, request: RecordGaugeRequest) -> None: ...

    @abstractmethod
    async def inc(self, request: IncRequest) -> None: ...


def _collector_server(collector: MetricsCollector) -> RpcServer:
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


def _helper_server(collector: MetricsCollector) -> RpcServer:
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
            loop.create_task(accept_and_serve(collector_id, _collector_server(collector))),
            loop.create_task(accept_and_serve(helper_id, _helper_server(collector))),
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


# ---------------------------------------------------------------------------
# Plugin side


class NotImplementedByPlugin(MethodError):
    def __init__(self) -> None:
        super().__init__(NOT_IMPLEMENTED)


class ExperimentManager(ABC):
    """An experiment engine's manager: validates configs and builds runner configs.

    The list methods belong to "standard" engines (Turing's
    StandardExperimentManager); the defaults answer "not implemented", as
    Turing does for custom engines.
    """

    async def configure(self, config: bytes) -> None:  # noqa: B027 - optional hook
        """Receive the engine options (raw JSON) once, before any other call."""

    @abstractmethod
    async def get_engine_info(self) -> Engine: ...

    @abstractmethod
    async def validate_experiment_config(self, config: bytes) -> None: ...

    @abstractmethod
    async def get_experiment_runner_config(self, config: bytes) -> bytes: ...

    async def is_cache_enabled(self) -> bool:
        raise NotImplementedByPlugin

    async def list_clients(self) -> list[Client]:
        raise NotImplementedByPlugin

    async def list_experiments(self) -> list[Experiment]:
        raise NotImplementedByPlugin

    async def list_experiments_for_client(self, client: Client) -> list[Experiment]:
        raise NotImplementedByPlugin

    async def list_variables_for_client(self, client: Client) -> list[Variable]:
        raise NotImplementedByPlugin

    async def list_variables_for_experiments(
        self, experiments: list[Experiment]
    ) -> dict[str, list[Variable]]:
        raise NotImplementedByPlugin


class PluginMetricsCollector:
    """What a runner plugin gets from `register_metrics_collector`: calls back to the host."""

    def __init__(self, collector: RpcClient, helper: RpcClient, *, timeout: float = 5.0) -> None:
        self._collector = collector
        self._helper = helper
        self._timeout = timeout

    async def register(self, metrics: list[Metric]) -> None:
        await self._helper.call(
            "Plugin.Register", wire.METRICS, metrics, gob.INTERFACE, timeout=self._timeout
        )

    async def measure_duration_ms_since(self, request: MeasureDurationMsSinceRequest) -> None:
        await self._collector.call(
            "Plugin.MeasureDurationMsSince",
            wire.MEASURE_DURATION_REQUEST,
            request,
            gob.INTERFACE,
            timeout=self._timeout,
        )

    async def record_gauge(self, request: RecordGaugeRequest) -> None:
        await self._collector.call(
            "Plugin.RecordGauge",
            wire.RECORD_GAUGE_REQUEST,
            request,
            gob.INTERFACE,
            timeout=self._timeout,
        )

    async def inc(self, request: IncRequest) -> None:
        await self._collector.call(
            "Plugin.Inc", wire.INC_REQUEST, request, gob.INTERFACE, timeout=self._timeout
        )


class ExperimentRunner(ABC):
    """An experiment engine's runner: assigns a treatment to each request."""

    async def configure(self, config: bytes) -> None:  # noqa: B027 - optional hook
        """Receive the runner config (raw JSON) the manager produced."""

    @abstractmethod
    async def get_treatment_for_request(
        self, header: dict[str, list[str]], payload: bytes, options: GetTreatmentOptions
    ) -> Treatment: ...

    async def register_metrics_collector(self, collector: PluginMetricsCollector) -> None:  # noqa: B027
        """Keep `collector` to report metrics to the host; the default ignores it."""


def manager_methods(manager: ExperimentManager) -> dict[str, Method]:
    """The `Plugin.*` net/rpc methods of a manager, as Turing's rpcServer exposes them."""

    async def configure(arg: Any) -> None:
        await manager.configure(arg)

    async def get_engine_info(_: Any) -> Engine:
        return await manager.get_engine_info()

    async def validate(arg: Any) -> None:
        await manager.validate_experiment_config(arg)

    async def runner_config(arg: Any) -> bytes:
        return await manager.get_experiment_runner_config(arg)

    async def cache(_: Any) -> bool:
        return await manager.is_cache_enabled()

    async def clients(_: Any) -> list[Client]:
        return await manager.list_clients()

    async def experiments(_: Any) -> list[Experiment]:
        return await manager.list_experiments()

    async def experiments_for_client(arg: Any) -> list[Experiment]:
        return await manager.list_experiments_for_client(arg)

    async def variables_for_client(arg: Any) -> list[Variable]:
        return await manager.list_variables_for_client(arg)

    async def variables_for_experiments(arg: Any) -> dict[str, list[Variable]]:
        return await manager.list_variables_for_experiments(arg or [])

    return {
        "Configure": Method(gob.BYTES, gob.INTERFACE, configure),
        "GetEngineInfo": Method(gob.INTERFACE, wire.ENGINE, get_engine_info),
        "ValidateExperimentConfig": Method(gob.BYTES, gob.INTERFACE, validate),
        "GetExperimentRunnerConfig": Method(gob.BYTES, gob.BYTES, runner_config),
        "IsCacheEnabled": Method(gob.INTERFACE, gob.BOOL, cache),
        "ListClients": Method(gob.INTERFACE, wire.CLIENTS, clients),
        "ListExperiments": Method(gob.INTERFACE, wire.EXPERIMENTS, experiments),
        "ListExperimentsForClient": Method(wire.CLIENT, wire.EXPERIMENTS, experiments_for_client),
        "ListVariablesForClient": Method(wire.CLIENT, wire.VARIABLES, variables_for_client),
        "ListVariablesForExperiments": Method(
            wire.EXPERIMENTS, wire.VARIABLES_BY_EXPERIMENT, variables_for_experiments
        ),
    }


def runner_methods(runner: ExperimentRunner, broker: MuxBroker) -> dict[str, Method]:
    """The `Plugin.*` net/rpc methods of a runner, as Turing's rpcServer exposes them."""

    async def configure(arg: Any) -> None:
        await runner.configure(arg)

    async def get_treatment(request: GetTreatmentRequest) -> Treatment:
        return await runner.get_treatment_for_request(
            request.header or {}, request.payload, request.options or GetTreatmentOptions()
        )

    async def register(ids: Any) -> None:
        if not isinstance(ids, list) or len(ids) != 2:
            raise MethodError("RegisterMetricsCollector expects two broker ids")
        # Like Turing's server: dial both streams before handing the collector over.
        collector_stream = await broker.dial(ids[0])
        helper_stream = await broker.dial(ids[1])
        collector = PluginMetricsCollector(
            RpcClient(collector_stream, name="metrics-collector"),
            RpcClient(helper_stream, name="metrics-helper"),
        )
        await runner.register_metrics_collector(collector)

    return {
        "Configure": Method(gob.BYTES, gob.INTERFACE, configure),
        "GetTreatmentForRequest": Method(wire.GET_TREATMENT_REQUEST, wire.TREATMENT, get_treatment),
        "RegisterMetricsCollector": Method(wire.BROKER_IDS, gob.INTERFACE, register),
    }
