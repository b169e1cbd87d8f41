"""How the operator process runs: /metrics, then the Lease, then kopf.

With leader election on (the default), the process serves /metrics and /healthz
and waits for the Lease before it starts kopf: a standby holds no watches and makes
no writes. It answers the admission webhook like the leader does
(standby_webhook.py), with its own engine plugins for that alone, and stops them
and its server before kopf starts. Once leading it runs kopf, and a task beside it
renews the Lease. If renewal fails past the renew deadline, or another replica
holds the Lease, the process exits at once with EXIT_LEADERSHIP_LOST rather than
stopping kopf gracefully: a graceful stop lets passes finish (up to
cancellation_backoff) while a standby may already be working, and kopf's state
(daemons, caches, plugins) is not built to be restarted inside one process. The
kubelet restarts the container, which comes back as a standby. On SIGTERM kopf
stops gracefully and its cleanup handler releases the Lease as soon as the Router
loops have stopped (before kopf's own shutdown ends), so a rolling update hands
over on the standby's next look (TURNOUT_LEASE_RETRY_SECONDS) instead of after
expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import Any

import aiohttp.web
import kopf

from turnout_operator.kube.client import Kube
from turnout_operator.runtime.leader import LeaderElector, LeaseTimings
from turnout_operator.runtime.settings import OperatorSettings
from turnout_operator.runtime.standby_webhook import StandbyWebhook
from turnout_operator.telemetry import metrics

log = logging.getLogger(__name__)

EXIT_LEADERSHIP_LOST = 3
"""Exit code of a leader that lost the Lease (the container restarts as a standby)."""


def _kopf_options(
    settings: OperatorSettings, stop: asyncio.Event | None, **memo: Any
) -> dict[str, Any]:
    namespaces = settings.namespace_list()
    return {
        "standalone": True,
        "clusterwide": not namespaces,
        "namespaces": namespaces,
        "liveness_endpoint": (
            f"http://0.0.0.0:{settings.liveness_port}/healthz" if settings.liveness_port else None
        ),
        "memo": kopf.Memo(config=settings, **memo),
        "stop_flag": stop,
        # kopf's own default identity calls getpass.getuser(), which raises KeyError for a
        # uid with no passwd entry and no USER variable: the image's uid 65532 on a real node.
        # The Lease's identity needs neither, and names the pod in kopf's logs too.
        "identity": settings.identity(),
    }


async def _standby_health(port: int) -> aiohttp.web.AppRunner:
    """/healthz while waiting for the Lease: the event loop answers, so the process lives."""

    async def healthz(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.json_response({"role": "standby"})

    app = aiohttp.web.Application()
    app.add_routes([aiohttp.web.get("/healthz", healthz)])
    runner = aiohttp.web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await aiohttp.web.TCPSite(runner, "0.0.0.0", port).start()
    return runner


def _exit_when_lost(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    log.error(
        "leadership lost; exiting to restart as a standby",
        extra={"error": str(error), "exit_code": EXIT_LEADERSHIP_LOST},
    )
    metrics.IS_LEADER.set(0)
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    sys.stderr.flush()
    os._exit(EXIT_LEADERSHIP_LOST)


async def run(settings: OperatorSettings) -> int:
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    if not settings.leader_election:
        metrics.leader_changed(True, 0)
        await kopf.operator(**_kopf_options(settings, None))
        return 0

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)  # kopf installs its own once it runs
    kube = Kube()
    elector = LeaderElector(
        kube,
        namespace=settings.lease_namespace,
        name=settings.lease_name,
        identity=settings.identity(),
        timings=LeaseTimings(
            duration=settings.lease_duration_seconds,
            renew_deadline=settings.lease_renew_deadline_seconds,
            retry_period=settings.lease_retry_seconds,
        ),
        listener=metrics.leader_changed,
    )
    metrics.leader_changed(False, 0)
    try:
        health = await _standby_health(settings.liveness_port) if settings.liveness_port else None
        webhook = await StandbyWebhook.start(settings)
        acquiring = asyncio.ensure_future(elector.acquire())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({acquiring, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if health is not None:
                await health.cleanup()
            if webhook is not None:  # frees the port for kopf's server
                await webhook.close()
        if not acquiring.done():
            acquiring.cancel()
            log.info("stopped while waiting for leadership")
            return 0
        keeping = asyncio.ensure_future(elector.keep())
        keeping.add_done_callback(_exit_when_lost)

        async def step_down() -> None:
            """Stop renewing and release the Lease; kopf's cleanup calls it once passes stopped."""
            keeping.remove_done_callback(_exit_when_lost)
            keeping.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await keeping
            await elector.release()

        try:
            await kopf.operator(**_kopf_options(settings, stop, step_down=step_down))
        finally:
            await step_down()  # a no-op when the cleanup did it
        return 0
    finally:
        await kube.close()
