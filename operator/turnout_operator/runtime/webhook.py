"""The admission webhook's HTTPS server, as the settings ask for it (the checks it serves
are `reconcile.admission`'s)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import kopf

from turnout_operator.runtime.settings import OperatorSettings

log = logging.getLogger(__name__)


async def _no_server(fn: Any) -> AsyncIterator[Any]:
    """Stands in for kopf's server when the webhook is off: kopf refuses to start with
    admission handlers and no server, and this one accepts no connection."""
    await asyncio.Event().wait()
    yield {}  # never reached


def webhook_server(settings: OperatorSettings) -> Any:
    """kopf's HTTPS server on `webhook_port` with the mounted certificate, or none (off)."""
    if settings.webhook_port and settings.webhook_cert_file and settings.webhook_key_file:
        log.info("admission webhook on", extra={"port": settings.webhook_port})
        return kopf.WebhookServer(
            port=settings.webhook_port,
            certfile=str(settings.webhook_cert_file),
            pkeyfile=str(settings.webhook_key_file),
        )
    why = "port 0" if not settings.webhook_port else "no certificate or key file set"
    log.info("admission webhook off", extra={"why": why})
    return _no_server
