"""One worker of the router pod: its plugin, its HTTP server, its share of the port.

Shutdown order matters. On SIGTERM (the parent forwards it to every worker) the pod
is already being taken out of its Service's endpoints, but kube-proxy on every node
learns it a little later and sends new connections here meanwhile. So, in order:

1. readiness turns 503 (the kubelet's next probe marks the pod not serving);
2. the drain (`ROUTER_DRAIN_SECONDS`): the worker keeps accepting and serving, and
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
import contextlib
import gc
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Final

from turnout_router.config import RouterConfig
from turnout_router.engine import Engine
from turnout_router.hotpath import hot_path
from turnout_router.metrics import PluginMetrics, RouterMetrics
from turnout_router.podstate import PodState
from turnout_router.proxy import Router
from turnout_router.server import HttpServer
from turnout_router.settings import RouterSettings
from turnout_router.workers import LISTENING_LINE

log = logging.getLogger("turnout_router")

READINESS_PUBLISH_SECONDS: Final = 0.25
"""How often a worker writes its readiness for the other workers' probes to read, and its
tallied request metrics for any worker's scrape to read."""


async def serve(settings: RouterSettings, config: RouterConfig) -> int:
    """Serve as one worker until SIGTERM; the exit code (0 when nothing was cut off)."""
    index = settings.worker_index or 0
    pod: PodState | None = None
    metrics_dir: Path | None = None
    if settings.state_dir is not None:
        pod = PodState(settings.state_dir / "ready", settings.workers or 1)
        metrics_dir = settings.state_dir / "metrics"
    metrics = RouterMetrics(multiprocess_dir=metrics_dir, worker_index=index)
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
    router = Router(
        config,
        engine,
        metrics,
        access_log=settings.access_log,
        pod=pod,
        worker_index=index,
    )
    server = HttpServer(
        router.handle,
        max_body_bytes=config.server.max_body_bytes,
        keepalive_seconds=settings.keepalive_seconds,
        header_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
        max_connections=settings.max_connections,
        on_reject=metrics.rejection,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if engine is not None:
        await engine.start()
    port = settings.port if settings.port is not None else config.server.port
    bound = await server.listen(settings.host, port, reuse_port=pod is not None)
    publisher = loop.create_task(_publish(router, metrics))
    # The cyclic collector was 3% of a request's CPU in a profile under load. What
    # was built at start lives as long as the worker: keep the collector from
    # walking it again and again. And with 32 requests in flight, a young
    # generation collected every 700 allocations (the default) scans the same
    # in-flight objects every few requests; most request garbage is freed by
    # reference counting anyway, so collect it ten times less often.
    gc.freeze()
    gc.set_threshold(7000, 10, 10)
    log.info(
        "worker listening" if pod is not None else "router listening",
        extra={
            "router": config.router,
            "version": config.version,
            "host": settings.host,
            "port": bound,
            "path": config.server.path,
            "engine": config.experiment_engine.name if config.experiment_engine else "nop",
            "hot_path": hot_path(),
            "worker": index,
            "pid": os.getpid(),
        },
    )
    if pod is not None:
        # The parent waits for this line from every worker before it says the pod listens.
        sys.stdout.buffer.write(LISTENING_LINE)
        sys.stdout.buffer.flush()
    await stop.wait()
    log.info(
        "draining",
        extra={
            "drain_seconds": settings.drain_seconds,
            "grace_seconds": settings.shutdown_grace_seconds,
        },
    )
    router.shutting_down = True  # readiness fails first
    router.publish_readiness()
    server.drain()
    await asyncio.sleep(settings.drain_seconds)
    log.info("shutting down", extra={"grace_seconds": settings.shutdown_grace_seconds})
    left = await server.shutdown(settings.shutdown_grace_seconds)
    if engine is not None:
        await engine.close()
    router.close()
    publisher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await publisher
    metrics.flush()  # the last requests count: a replacement worker continues these values
    log.info("stopped", extra={"unfinished_requests": left, "worker": index})
    return 0 if left == 0 else 1


async def _publish(router: Router, metrics: RouterMetrics) -> None:
    while True:
        router.publish_readiness()
        metrics.flush()
        await asyncio.sleep(READINESS_PUBLISH_SECONDS)
