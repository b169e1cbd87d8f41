"""Configured experiment engines as running manager plugins.

One `PluginSupervisor` per engine keeps its plugin alive: started from
`${PLUGINS_DIR}/<name>` (where the engine's initContainer copied it), configured
with the engine's options (`Configure`) and asked for its `GetEngineInfo` after
every start, pinged every liveness period, restarted with backoff when it dies.
Reconciles ask `EngineRegistry.get(name).manager()` for a ready manager and get a
`PluginStartError` while the plugin is down; the Router then says so in its
`EngineAvailable` condition and is retried.

Plugins run with a clean environment (`inherit_env=False`): the operator's own
environment holds the database URL, which is no business of a plugin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from plugin_host import (
    Engine,
    ManagerClient,
    PluginClient,
    PluginConfig,
    PluginError,
    PluginSupervisor,
    SupervisorSettings,
)
from turnout_operator.api.engine_config import EngineConfig
from turnout_operator.engines.catalogue import option_secrets
from turnout_operator.telemetry.metrics import MeasuredRpc
from turnout_router.integrity import file_sha256  # what router pods check it against

log = logging.getLogger(__name__)


@dataclass
class _Started:
    """The manager of one running plugin process, and what it said about itself."""

    client: PluginClient
    manager: ManagerClient
    info: Engine


class EngineHandle:
    """One configured engine: its config, its supervised plugin, its last known health."""

    def __init__(self, config: EngineConfig, plugins_dir: Path, call_timeout: float) -> None:
        self.config = config
        self.binary = plugins_dir / config.name
        self.secrets = frozenset(option_secrets(config.options.reveal()))
        """Option values that look like credentials: scrubbed from plugin messages shown to users."""
        self._started: _Started | None = None
        self.binary_sha256: str | None = None
        """SHA-256 of the binary of the running plugin, read at its start: every version it
        validates records it, and router pods start only that binary."""
        self.supervisor = PluginSupervisor(
            PluginConfig(
                path=str(self.binary),
                name=config.name,
                inherit_env=False,
                call_timeout=call_timeout,
            ),
            on_start=self._configure,
            settings=SupervisorSettings(
                ping_interval=float(config.rpc_plugin.liveness_period_seconds)
            ),
        )

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def info(self) -> Engine | None:
        """What the plugin's GetEngineInfo returned at its last start."""
        return self._started.info if self._started else None

    @property
    def last_error(self) -> str | None:
        """Why the plugin last failed to start or stopped answering, if it did."""
        return self.supervisor.last_error

    def is_running(self) -> bool:
        started = self._started
        return started is not None and started.client.failure is None

    async def _configure(self, client: PluginClient) -> None:
        self.binary_sha256 = await asyncio.to_thread(file_sha256, self.binary)
        manager = await client.manager()
        manager.rpc = cast(Any, MeasuredRpc(manager.rpc, self.name))
        await manager.configure(cast(Any, self.config.options.reveal()))
        info = await manager.get_engine_info()
        self._started = _Started(client=client, manager=manager, info=info)
        log.info(
            "engine plugin ready",
            extra={
                "engine": self.name,
                "pid": client.process.pid,
                "engine_type": info.type,
                "sha256": self.binary_sha256,
            },
        )

    async def manager(self) -> ManagerClient:
        """A configured manager of a running plugin; raises `PluginStartError` while it is down."""
        client = await self.supervisor.client()
        started = self._started
        if started is None or started.client is not client:
            # Only reachable if on_start did not run for this client; configure it now.
            await self._configure(client)
            started = self._started
            assert started is not None
        return started.manager

    async def close(self) -> None:
        await self.supervisor.close()


class EngineRegistry:
    """Every configured engine by name. `nop` is built in and has no handle."""

    def __init__(self, handles: Iterable[EngineHandle]) -> None:
        self._handles = {handle.name: handle for handle in handles}

    @classmethod
    def from_configs(
        cls, configs: Iterable[EngineConfig], plugins_dir: Path, call_timeout: float
    ) -> EngineRegistry:
        return cls(EngineHandle(config, plugins_dir, call_timeout) for config in configs)

    def get(self, name: str) -> EngineHandle | None:
        return self._handles.get(name)

    def names(self) -> list[str]:
        return sorted(self._handles)

    def handles(self) -> list[EngineHandle]:
        return [self._handles[name] for name in self.names()]

    async def start_all(self) -> None:
        """Start every plugin once, so problems show at startup; failures are retried later."""

        async def start(handle: EngineHandle) -> None:
            try:
                await handle.manager()
            except PluginError as error:
                log.error(
                    "engine plugin did not start; Routers using it wait for it",
                    extra={"engine": handle.name, "error": str(error)},
                )

        await asyncio.gather(*(start(handle) for handle in self._handles.values()))

    async def close(self) -> None:
        for handle in self._handles.values():
            with contextlib.suppress(Exception):
                await handle.close()
