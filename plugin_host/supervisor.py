"""Keeps one plugin running: health checks, restart with backoff, re-configuration.

go-plugin has no restart: a crashed plugin stays crashed (Turing's router
panics on a failed ping). Long-running hosts — the operator and each router —
need the next request to find a fresh plugin instead, without starting one per
request when the binary keeps failing. `PluginSupervisor` hands out a healthy
`PluginClient`, pings it in the background, replaces it when it dies, and
spaces failed starts with exponential backoff. `on_start` runs after every
(re)start, so the plugin is configured again before anyone uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from plugin_host.client import PluginClient
from plugin_host.errors import PluginError, PluginStartError
from plugin_host.process import PluginConfig

log = logging.getLogger(__name__)

OnStart = Callable[[PluginClient], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SupervisorSettings:
    """Timings of health checks and restarts."""

    ping_interval: float = 10.0
    """Seconds between liveness pings (Turing's router default is 10 s)."""
    ping_timeout: float = 5.0
    """A ping unanswered this long counts as a dead plugin."""
    min_backoff: float = 0.5
    """Wait after the first failed start; doubles after each further failure."""
    max_backoff: float = 30.0
    """Longest wait between start attempts."""


class PluginSupervisor:
    """One supervised plugin. Use `client()` for every call; never keep its result long."""

    def __init__(
        self,
        config: PluginConfig,
        *,
        on_start: OnStart | None = None,
        settings: SupervisorSettings | None = None,
    ) -> None:
        self.config = config
        self.settings = settings or SupervisorSettings()
        self._on_start = on_start
        self._current: PluginClient | None = None
        self._lock = asyncio.Lock()
        self._backoff = 0.0
        self._next_attempt = 0.0
        self._health: asyncio.Task[None] | None = None
        self._closed = False
        self._retiring: set[asyncio.Task[int | None]] = set()
        self.last_error: str | None = None
        """Why the last start or health check failed, for conditions and Events."""
        self.starts = 0
        """Successful starts, the first one included."""
        self.failed_starts = 0
        self.last_ping: float | None = None
        """Wall-clock time (Unix seconds) the plugin last answered: its start or a ping."""

    async def client(self) -> PluginClient:
        """A running, configured plugin; starts or restarts it when needed.

        Raises `PluginStartError` when it cannot start, and without trying again
        while the backoff after a failed start lasts.
        """
        current = self._current
        if current is not None and current.failure is None:
            return current
        async with self._lock:
            if self._closed:
                raise PluginStartError(f"supervisor of {self.config.display_name!r} is closed")
            current = self._current
            if current is not None and current.failure is None:
                return current
            if current is not None:
                self._retire(current, current.failure or "plugin failed")
            return await self._start()

    async def _start(self) -> PluginClient:
        loop = asyncio.get_running_loop()
        wait = self._next_attempt - loop.time()
        if wait > 0:
            raise PluginStartError(
                f"plugin {self.config.display_name!r} is not running ({self.last_error}); "
                f"next start attempt in {wait:.1f}s"
            )
        client: PluginClient | None = None
        try:
            client = await PluginClient.start(self.config)
            if self._on_start is not None:
                await self._on_start(client)
        except (PluginError, OSError) as exc:
            if client is not None:
                await client.close()
            self.failed_starts += 1
            self.last_error = str(exc)
            self._backoff = min(
                self.settings.max_backoff, max(self.settings.min_backoff, self._backoff * 2)
            )
            self._next_attempt = loop.time() + self._backoff
            log.warning(
                "plugin start failed",
                extra={
                    "plugin": self.config.display_name,
                    "error": str(exc),
                    "retry_in_s": self._backoff,
                },
            )
            if isinstance(exc, PluginStartError):
                raise
            raise PluginStartError(
                f"plugin {self.config.display_name!r} failed to start: {exc}"
            ) from exc
        self._current = client
        self._backoff = 0.0
        self.starts += 1
        self.last_ping = time.time()
        if self.starts > 1:
            log.info(
                "plugin restarted",
                extra={"plugin": self.config.display_name, "pid": client.process.pid},
            )
        if self._health is None:
            self._health = loop.create_task(self._health_loop())
        return client

    def _retire(self, client: PluginClient, reason: str) -> None:
        """Forget a failed client and stop its process in the background."""
        if self._current is client:
            self._current = None
        self.last_error = reason
        log.warning(
            "plugin failed, it will be restarted",
            extra={"plugin": self.config.display_name, "error": reason},
        )
        task = asyncio.get_running_loop().create_task(client.close())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _health_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.settings.ping_interval)
            current = self._current
            if current is None:
                continue
            try:
                await current.ping(self.settings.ping_timeout)
                self.last_ping = time.time()
            except PluginError as exc:
                async with self._lock:
                    if self._current is current:
                        self._retire(current, current.failure or f"ping failed: {exc}")
                # Start the replacement now rather than on the next request.
                with contextlib.suppress(PluginError):
                    await self.client()

    async def close(self) -> None:
        """Stop health checks and the plugin."""
        self._closed = True
        if self._health is not None:
            self._health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health
        async with self._lock:
            current, self._current = self._current, None
        if current is not None:
            await current.close()
        for task in list(self._retiring):
            with contextlib.suppress(Exception):
                await task
