"""The experiment engine as the router runs it: a supervised runner plugin.

The plugin is started under `PluginSupervisor` (pings every liveness period,
restart with backoff after a death), and after every start it is configured
with the version's runner config and given the metrics collector, before any
request may use it.

A request never waits for a plugin to start: while no plugin is serving it
gets `EngineUnavailable` at once and takes the fallback route, and a
background task brings a plugin back (Turing's router panics instead, and the
pod restarts with every request in flight lost). A dead plugin is noticed by
the request that finds its connection gone, not only by the next ping.

Every request's treatment call goes over the one net/rpc connection of the
current runner: calls are multiplexed by sequence number, so concurrency
needs no pool of connections or processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable

from plugin_host import (
    GetTreatmentOptions,
    MetricsCollector,
    PluginClient,
    PluginConfig,
    PluginError,
    PluginSupervisor,
    RemoteError,
    RunnerClient,
    SupervisorSettings,
    Treatment,
)
from turnout_router.config import EngineRuntime, duration_seconds

log = logging.getLogger(__name__)


class EngineUnavailable(Exception):
    """No plugin is serving now; the request takes the fallback route."""


class Engine:
    """One runner plugin, kept serving. `treatment()` is the hot path."""

    def __init__(
        self,
        runtime: EngineRuntime,
        collector: MetricsCollector | None = None,
        *,
        plugin_config: PluginConfig | None = None,
        on_serving: Callable[[int], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.budget = duration_seconds(runtime.timeout)
        """Seconds one treatment call may take before the request takes the fallback route."""
        self._collector = collector
        self._on_serving = on_serving
        # With a digest, plugin_host checks the binary before every start: the plugin
        # that serves must be the one the operator validated this version with.
        self._config = plugin_config or PluginConfig(
            path=runtime.plugin_binary, name=runtime.name, sha256=runtime.plugin_sha256
        )
        self._supervisor = PluginSupervisor(
            self._config,
            on_start=self._on_start,
            settings=SupervisorSettings(
                ping_interval=runtime.liveness_period_seconds,
                ping_timeout=max(1.0, min(5.0, runtime.liveness_period_seconds)),
            ),
        )
        self._runner: RunnerClient | None = None
        self._client: PluginClient | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._closed = False
        self.starts = 0
        self.last_error: str | None = None

    async def _on_start(self, client: PluginClient) -> None:
        runner = await client.runner()
        # Turing hands the runner the manager's JSON bytes; the operator stored them parsed.
        await runner.configure(json.dumps(self.runtime.runner_config).encode())
        if self._collector is not None:
            try:
                await runner.register_metrics_collector(self._collector)
            except RemoteError as exc:
                # A plugin without metrics still routes; Turing's host does the same.
                log.info("plugin reports no metrics", extra={"error": str(exc)})
        self._client, self._runner = client, runner
        # A plugin that dies must be started again even when no request comes: an unready
        # pod gets no traffic, so waiting for a call to notice would leave it unready.
        client.process.on_exit(lambda _code: self._plugin_exited(client))
        self.last_error = None  # serving: an earlier failure is no reason any more
        self.starts += 1
        if self._on_serving is not None:
            self._on_serving(self.starts)
        log.info(
            "plugin serving",
            extra={"plugin": self._config.display_name, "pid": client.process.pid},
        )

    @property
    def serving(self) -> bool:
        client = self._client
        return self._runner is not None and client is not None and client.failure is None

    def _plugin_exited(self, client: PluginClient) -> None:
        if self._closed or self._client is not client:
            return
        self.last_error = client.failure
        self._recover()

    def status(self) -> str:
        """One line for readiness: serving, or why not."""
        if self.serving:
            return "serving"
        # The client's own failure until the exit callback has recorded it (the process
        # may be seen gone a moment before its callbacks run).
        client = self._client
        failure = client.failure if client is not None else None
        return f"not serving: {self.last_error or failure or 'starting'}"

    async def start(self) -> None:
        """Start the plugin in the background; requests take the fallback until it serves."""
        self._recover()

    def _recover(self) -> None:
        if self._closed or (self._recovery is not None and not self._recovery.done()):
            return
        self._runner = None
        self._recovery = asyncio.get_running_loop().create_task(self._recover_loop())

    async def _recover_loop(self) -> None:
        while not self._closed:
            try:
                await self._supervisor.client()
            except PluginError as exc:
                self.last_error = str(exc)
                # The supervisor spaces start attempts itself; this only polls it.
                await asyncio.sleep(0.2)
                continue
            if self.serving:
                return
            await asyncio.sleep(0.05)

    async def treatment(
        self, header: dict[str, list[str]], payload: bytes, request_id: str, budget: float
    ) -> Treatment:
        """The treatment of one request within `budget` seconds.

        Raises EngineUnavailable (no plugin now), CallTimeoutError (over budget),
        RemoteError (the plugin's own error) or another PluginError (the
        connection broke during the call).
        """
        runner = self._runner
        client = self._client
        if runner is None or client is None or client.failure is not None:
            if client is not None and client.failure is not None:
                self.last_error = client.failure
            self._recover()
            raise EngineUnavailable(self.last_error or "plugin starting")
        try:
            return await runner.get_treatment_for_request(
                header, payload, GetTreatmentOptions(request_id), timeout=budget
            )
        except PluginError:
            failure = _failure(client)  # the call may have found the connection gone
            if failure is not None:
                self.last_error = failure
                self._recover()
            raise

    async def close(self) -> None:
        self._closed = True
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
        self._runner = None
        await self._supervisor.close()


def _failure(client: PluginClient) -> str | None:
    # A function, not the property inline: the property changes between two reads
    # (the call in between may have found the connection gone).
    return client.failure
