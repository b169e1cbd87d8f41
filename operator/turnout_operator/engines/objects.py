"""One `ExperimentEngine` object per configured engine, kept current from its plugin.

Per engine, one task: every `TURNOUT_ENGINE_REFRESH_SECONDS` (and at once when
the plugin starts, restarts or goes down) it reads the plugin's catalogue
(`ListClients`, `ListExperiments`, `ListVariablesForExperiments`) and its health
from the supervisor, builds the status (`catalogue.build_status`) and
server-side applies it only when it differs from what was last written (times
that move on every refresh left out). An idle engine therefore costs one
in-memory check a second and three plugin calls per period, and no API write.

At start each task reads its object once, so a restarted operator whose engines
say the same things writes nothing. A cluster-wide operator also deletes the
objects of engines no longer configured (namespaced operators may share a
cluster, so they leave other objects alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Final

from plugin_host import ManagerClient, PluginError, RemoteError
from plugin_host.wire import Client, Experiment, Variable
from turnout_operator.api.engine import API_VERSION, KIND
from turnout_operator.builders.names import MANAGED_BY, MANAGED_BY_LABEL
from turnout_operator.engines.catalogue import (
    EngineFacts,
    Health,
    Listing,
    build_status,
    comparable,
    scrub,
)
from turnout_operator.engines.registry import EngineHandle, EngineRegistry
from turnout_operator.kube.client import Kube, KubeError

log = logging.getLogger(__name__)

HEALTH_CHECK_SECONDS: Final = 1.0
"""How often the supervisor's view of each plugin is looked at (in memory, no call)."""

LIST_CALL_TIMEOUT: Final = 10.0
"""Longest one catalogue call may take; a slower plugin keeps its previous catalogue."""


def health_of(handle: EngineHandle) -> Health:
    supervisor = handle.supervisor
    return Health(
        running=handle.is_running(),
        last_error=handle.last_error,
        last_ping=supervisor.last_ping,
        restarts=max(0, supervisor.starts - 1),
    )


async def fetch_listing(manager: ManagerClient) -> Listing:
    """The catalogue as the plugin gives it; a method's error text where it refuses.

    Raises `PluginError` (not `RemoteError`) when the plugin stops answering.
    """
    clients: list[Client] | str
    experiments: list[Experiment] | str
    variables: dict[str, list[Variable]] | str | None = None
    try:
        clients = list(await manager.list_clients() or [])
    except RemoteError as error:
        clients = error.message
    try:
        experiments = list(await manager.list_experiments() or [])
    except RemoteError as error:
        experiments = error.message
    if isinstance(experiments, list) and experiments:
        try:
            variables = dict(await manager.list_variables_for_experiments(experiments) or {})
        except RemoteError as error:
            variables = error.message
    return Listing(
        fetched_at=time.time(), clients=clients, experiments=experiments, variables=variables
    )


class EngineObjects:
    """Publishes the ExperimentEngine objects; `run()` until cancelled."""

    def __init__(
        self, kube: Kube, engines: EngineRegistry, refresh_seconds: float, clusterwide: bool
    ) -> None:
        self.kube = kube
        self.engines = engines
        self.refresh_seconds = refresh_seconds
        self.clusterwide = clusterwide

    async def run(self) -> None:
        if self.clusterwide:
            await self._delete_unconfigured()
        await asyncio.gather(*(self._engine_loop(handle) for handle in self.engines.handles()))

    async def _delete_unconfigured(self) -> None:
        configured = set(self.engines.names())
        try:
            names = await self.kube.engine_names(f"{MANAGED_BY_LABEL}={MANAGED_BY}")
            for name in names:
                if name not in configured:
                    await self.kube.delete_engine(name)
                    log.info(
                        "deleted the object of an engine no longer configured",
                        extra={"engine": name},
                    )
        except Exception as error:  # the next start tries again; publishing goes on regardless
            problem = error.message if isinstance(error, KubeError) else str(error)
            log.warning(
                "could not delete unconfigured ExperimentEngine objects", extra={"error": problem}
            )

    def _body(self, name: str) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": name, "labels": {MANAGED_BY_LABEL: MANAGED_BY}},
        }

    async def _listing(self, handle: EngineHandle) -> Listing | None:
        try:
            manager = await handle.manager()
            quick = ManagerClient(manager.rpc, timeout=LIST_CALL_TIMEOUT)
            return await fetch_listing(quick)
        except PluginError as error:
            log.warning(
                "engine catalogue not refreshed",
                extra={"engine": handle.name, "error": scrub(str(error), handle.secrets)},
            )
            return None

    async def _engine_loop(self, handle: EngineHandle) -> None:
        loop = asyncio.get_running_loop()
        secrets = handle.secrets
        previous: dict[str, Any] | None = None
        exists: bool | None = None  # None: not read yet
        listing: Listing | None = None
        next_refresh = 0.0
        fetched_for = -1  # the restart count the listing was read at: a restart reads it again
        last_problem = ""
        while True:
            health = health_of(handle)
            try:
                if exists is None:
                    body = await self.kube.get_engine(handle.name)
                    exists = body is not None
                    previous = (body or {}).get("status")
                due = loop.time() >= next_refresh or health.restarts != fetched_for
                if health.running and due:
                    listing = await self._listing(handle) or listing
                    next_refresh = loop.time() + self.refresh_seconds
                    fetched_for = health.restarts
                    health = health_of(handle)
                facts = EngineFacts(
                    plugin_image=handle.config.rpc_plugin.image,
                    health=health,
                    info=handle.info,
                    listing=listing,
                    secrets=secrets,
                )
                status = build_status(facts, previous, time.time())
                if comparable(status) != comparable(previous):
                    if exists:
                        await self.kube.apply_engine_status(handle.name, status)
                    else:
                        await self.kube.apply_engine(self._body(handle.name), status)
                        exists = True
                    previous = status
                    log.info(
                        "engine object updated",
                        extra={
                            "engine": handle.name,
                            "ready": health.running,
                            "experiments": status.get("experimentCount"),
                            "truncated": status.get("truncated"),
                        },
                    )
                last_problem = ""
            except Exception as error:  # the API server (or the connection to it) failed
                problem = error.message if isinstance(error, KubeError) else str(error)
                if problem != last_problem:  # once per distinct problem, not every period
                    log.warning(
                        "could not publish the ExperimentEngine object",
                        extra={"engine": handle.name, "error": problem},
                    )
                    last_problem = problem
                exists = None
                next_refresh = loop.time() + self.refresh_seconds
            # While the plugin is down there is nothing to refresh: wait for it to come back.
            until = next_refresh if health.running else loop.time() + self.refresh_seconds
            await self._wait(handle, health, until)

    async def _wait(self, handle: EngineHandle, seen: Health, until: float) -> None:
        """Until the refresh is due or the plugin's health changes; always yields once."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(HEALTH_CHECK_SECONDS, max(0.01, until - loop.time())))
            if loop.time() >= until:
                return
            now = health_of(handle)
            if (now.running, now.restarts) != (seen.running, seen.restarts):
                return


async def run_engine_objects(objects: EngineObjects) -> None:
    """`objects.run()` that logs instead of dying on a bug, for a background task."""
    with contextlib.suppress(asyncio.CancelledError):
        try:
            await objects.run()
        except Exception:
            log.exception("ExperimentEngine objects stopped")
