"""The router process: read the config, start the plugin, serve, shut down on SIGTERM.

Shutdown order matters. On SIGTERM the pod is already being taken out of its
Service's endpoints, but kube-proxy on every node learns it a little later and
sends new connections here meanwhile. So, in order:

1. readiness turns 503 (the kubelet's next probe marks the pod not serving);
2. the drain (`ROUTER_DRAIN_SECONDS`): the router keeps accepting and serving, and
   each keep-alive connection gets `Connection: close` on its next response, so
   callers reconnect to another pod between requests instead of finding their
   connection closed under them;
3. the listener closes and connections still idle are closed; in-flight requests
   finish within the grace period (their treatment calls still need the plugin);
4. only then does the plugin stop.

A second SIGTERM or SIGINT changes nothing: the kubelet's SIGKILL ends the grace.
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
    log.info(
        "draining",
        extra={
            "drain_seconds": settings.drain_seconds,
            "grace_seconds": settings.shutdown_grace_seconds,
        },
    )
    router.shutting_down = True  # readiness fails first
    server.drain()
    await asyncio.sleep(settings.drain_seconds)
    log.info("shutting down", extra={"grace_seconds": settings.shutdown_grace_seconds})
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
