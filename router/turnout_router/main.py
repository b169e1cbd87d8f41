"""The router process: read the config, start the plugin, serve, shut down on SIGTERM.

Shutdown order matters: readiness turns 503 and the listener closes first
(no new requests), then in-flight requests finish within the grace period
(their treatment calls still need the plugin), and only then does the plugin
stop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from turnout_router.config import RouterConfig
from turnout_router.configfile import ConfigFileError, parse_router_config
from turnout_router.engine import Engine
from turnout_router.logs import configure_logging
from turnout_router.metrics import PluginMetrics, RouterMetrics
from turnout_router.proxy import Router
from turnout_router.server import HttpServer
from turnout_router.settings import RouterSettings, load_settings

log = logging.getLogger("turnout_router")


def read_config(path: Path) -> RouterConfig:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read the router config: {exc.strerror}") from None
    return parse_router_config(text, str(path))


async def serve(settings: RouterSettings, config: RouterConfig) -> int:
    metrics = RouterMetrics()
    engine: Engine | None = None
    if config.experiment_engine is not None:

        def on_serving(starts: int) -> None:
            metrics.plugin_up.set(1)
            if starts > 1:
                metrics.plugin_restarts.inc()

        engine = Engine(
            config.experiment_engine, PluginMetrics(metrics.registry), on_serving=on_serving
        )
        metrics.engine_budget.set(engine.budget)
    router = Router(config, engine, metrics, access_log=settings.access_log)
    server = HttpServer(
        router.handle,
        max_body_bytes=config.server.max_body_bytes,
        keepalive_seconds=settings.keepalive_seconds,
        on_reject=metrics.rejection,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if engine is not None:
        await engine.start()
    port = settings.port if settings.port is not None else config.server.port
    bound = await server.listen(settings.host, port)
    log.info(
        "router listening",
        extra={
            "router": config.router,
            "version": config.version,
            "host": settings.host,
            "port": bound,
            "path": config.server.path,
            "engine": config.experiment_engine.name if config.experiment_engine else "nop",
        },
    )
    await stop.wait()
    log.info("shutting down", extra={"grace_seconds": settings.shutdown_grace_seconds})
    router.shutting_down = True
    left = await server.shutdown(settings.shutdown_grace_seconds)
    if engine is not None:
        await engine.close()
    router.close()
    log.info("stopped", extra={"unfinished_requests": left})
    return 0 if left == 0 else 1


def main() -> int:
    settings = load_settings()
    configure_logging(settings.log_level)
    try:
        config = read_config(settings.config_file)
    except ConfigFileError as exc:
        log.error("router config rejected", extra={"error": str(exc)})
        print(f"turnout_router: {exc}", file=sys.stderr)
        return 2
    if settings.event_loop == "asyncio":
        return asyncio.run(serve(settings, config))
    import uvloop  # the loop of choice; see docs/router.md

    return uvloop.run(serve(settings, config))
