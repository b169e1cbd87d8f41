"""The router process: a parent that keeps N workers; each worker runs `worker.serve`.

`python -m turnout_router` starts as the parent (`workers.WorkerParent`): it
reads and checks the config (a bad one fails the pod at once, exit 2), checks
that the plugin binary is the one the version was validated with (else exit 3,
`integrity`), picks the number of workers, and runs them. Each worker is the same command with
ROUTER_WORKER_INDEX set. The parent imports only what it needs (settings, the
config models, `workers`): it lives as long as the pod, and the event loop,
plugin host, HTTP server and metrics of a worker would only be memory to it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from turnout_router.config import PLUGIN_MOVED_EXIT_CODE, RouterConfig
from turnout_router.configfile import ConfigFileError, parse_router_config
from turnout_router.integrity import moved_plugin, write_termination_message
from turnout_router.logs import configure_logging
from turnout_router.settings import RouterSettings, load_settings
from turnout_router.workers import WorkerParent, default_workers

log = logging.getLogger("turnout_router")


def read_config(path: Path) -> RouterConfig:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read the router config: {exc.strerror}") from None
    return parse_router_config(text, str(path))


def worker_count(settings: RouterSettings) -> int:
    """ROUTER_WORKERS (the operator sets it from the CPU limit), else the cgroup's limit."""
    if settings.workers is not None:
        return settings.workers
    return default_workers()


def main() -> int:
    settings = load_settings()
    configure_logging(settings.log_level)
    try:
        config = read_config(settings.config_file)
    except ConfigFileError as exc:
        log.error("router config rejected", extra={"error": str(exc)})
        print(f"turnout_router: {exc}", file=sys.stderr)
        return 2
    if settings.worker_index is None:
        moved = moved_plugin(config.experiment_engine)
        if moved is not None:
            log.error(
                "plugin binary is not the validated one; not starting", extra={"error": moved}
            )
            write_termination_message(settings.termination_log, moved)
            return PLUGIN_MOVED_EXIT_CODE
        parent = WorkerParent(
            workers=worker_count(settings),
            host=settings.host,
            port=settings.port if settings.port is not None else config.server.port,
            shutdown_grace_seconds=settings.drain_seconds + settings.shutdown_grace_seconds,
            environment=dict(os.environ),
        )
        return asyncio.run(parent.run())
    from turnout_router.worker import serve  # a worker's modules, not the parent's

    if settings.event_loop == "asyncio":
        return asyncio.run(serve(settings, config))
    import uvloop  # the loop of choice; see docs/router.md

    return uvloop.run(serve(settings, config))
