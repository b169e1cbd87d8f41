"""Typed experiment engine APIs, mirroring Turing's ExperimentManager and ExperimentRunner.

Plugin side: subclass `ExperimentManager` / `ExperimentRunner` and pass the
instances to `plugin_host.serve`. Host side: subclass `MetricsCollector` to
receive a runner's metrics; the clients that call a plugin are in
`plugin_host.turing_host`. Everything here may be subclassed, so this module
stays Python when the hot path is compiled. Every method is `async`; a method
that raises answers the call with the exception's text, which the host receives
as a `RemoteError` carrying that message.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any, Final

from plugin_host import gob, wire
from plugin_host.broker import MuxBroker
from plugin_host.netrpc import Method, MethodError, RpcClient
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

# ---------------------------------------------------------------------------
# Host side: what a host implements


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
