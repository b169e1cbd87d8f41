"""The Router admission webhook served by a standby, so either replica answers the same.

The chart's Service selects every replica, so the API server sends about half
of the admission requests to a standby. kopf (and with it kopf's webhook
server) runs only on the leader, so while a replica waits for the Lease this
module serves `/validate-router` itself: HTTPS on `WEBHOOK_PORT` with the same
certificate files, the same decision (`admission.review_router`) and the same
AdmissionReview v1 answer kopf sends (uid, allowed, `warnings`, and for a
refusal `status.message` with code 422), so kubectl prints the same text
whichever replica answered.

To ask the engines' plugins (`ValidateExperimentConfig`), the standby starts
its own plugin processes, and only them: no API watches, no writes, no
database. A plugin that stops is started again (like the leader's engine
watch). The certificate and key are re-read every `CERT_CHECK_SECONDS`
(as kopf does), so a rotated Secret is served without a restart. When the
replica wins the Lease, everything here stops before kopf starts, which frees
the port for kopf's server.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp.web

from plugin_host import PluginError
from turnout_operator.engines.registry import EngineRegistry
from turnout_operator.reconcile.admission import WEBHOOK_ID, Admission, review_router
from turnout_operator.runtime.operator import ENGINE_WATCH_SECONDS, load_engines
from turnout_operator.runtime.settings import OperatorSettings

log = logging.getLogger(__name__)

CERT_CHECK_SECONDS: Final = 60.0
"""How often the certificate and key files are checked for a change (kopf's period too)."""

REFUSAL_CODE: Final = 422
"""The code of a refusal; the leader's handler raises kopf.AdmissionError with it."""

ROUTERS: Final = ("turnout.dev", "routers")


class BadReview(ValueError):
    """The request is not an AdmissionReview this webhook can answer (HTTP 400, as kopf)."""


@dataclass(frozen=True)
class Review:
    """What the decision needs from one AdmissionReview request."""

    api_version: str
    kind: str
    uid: str
    operation: str | None
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None


def parse_review(data: Any) -> Review:
    """The parts of an AdmissionReview request the decision needs; BadReview if unusable."""
    if not isinstance(data, Mapping):
        raise BadReview("an AdmissionReview must be a JSON object")
    request = data.get("request")
    if not isinstance(request, Mapping):
        raise BadReview("the AdmissionReview has no request")
    resource = request.get("resource") or {}
    if (resource.get("group"), resource.get("resource")) != ROUTERS:
        raise BadReview(f"this webhook reviews {ROUTERS[1]}.{ROUTERS[0]} only")
    new, old = request.get("object"), request.get("oldObject")
    if new is None and old is None:
        raise BadReview("Either old or new object is missing from the admission request.")
    for body in (new, old):
        if body is not None and not isinstance(body, Mapping):
            raise BadReview("object and oldObject must be JSON objects")
    return Review(
        api_version=str(data.get("apiVersion", "admission.k8s.io/v1")),
        kind=str(data.get("kind", "AdmissionReview")),
        uid=str(request.get("uid", "")),
        operation=request.get("operation"),
        old=old,
        new=new,
    )


def review_response(review: Review, verdict: Admission) -> dict[str, Any]:
    """The AdmissionReview answer, in the shape kopf gives the leader's answer."""
    response: dict[str, Any] = {"uid": review.uid, "allowed": verdict.allowed}
    if verdict.warnings:
        response["warnings"] = list(verdict.warnings)
    if not verdict.allowed:
        response["status"] = {"message": verdict.message, "code": REFUSAL_CODE}
    return {"apiVersion": review.api_version, "kind": review.kind, "response": response}


def _files_digest(paths: tuple[Path, Path]) -> str:
    hasher = hashlib.sha256()
    for path in paths:
        hasher.update(path.read_bytes())
    return hasher.hexdigest()


class StandbyWebhook:
    """The standby's webhook server and plugin processes, from `start` to `close`."""

    def __init__(
        self, settings: OperatorSettings, files: tuple[Path, Path], cert_check_seconds: float
    ) -> None:
        self.settings = settings
        self.files = files
        self.cert_check_seconds = cert_check_seconds
        self.engines = EngineRegistry.from_configs(
            load_engines(settings), settings.plugins_dir, settings.plugin_call_timeout
        )
        self.context = ssl.create_default_context(purpose=ssl.Purpose.CLIENT_AUTH)
        self._runner: aiohttp.web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def start(
        cls, settings: OperatorSettings, cert_check_seconds: float = CERT_CHECK_SECONDS
    ) -> StandbyWebhook | None:
        """Serve while waiting for the Lease; None when the webhook is off (as for the leader)."""
        cert, key = settings.webhook_cert_file, settings.webhook_key_file
        if not (settings.webhook_port and cert and key):
            return None
        server = cls(settings, (Path(cert), Path(key)), cert_check_seconds)
        try:
            await server._start()
        except BaseException:
            await server.close()
            raise
        return server

    async def _start(self) -> None:
        self.context.load_cert_chain(*self.files)
        await self.engines.start_all()
        app = aiohttp.web.Application()
        app.add_routes([aiohttp.web.post(f"/{WEBHOOK_ID}", self._serve)])
        self._runner = aiohttp.web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        # No reuse_port: kopf's server binds with it, and must not share the port with this one.
        site = aiohttp.web.TCPSite(
            self._runner, None, self.settings.webhook_port, ssl_context=self.context
        )
        await site.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._reload_cert_forever()),
            loop.create_task(self._keep_plugins()),
        ]
        log.info("standby admission webhook on", extra={"port": self.settings.webhook_port})

    async def _serve(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        try:
            review = parse_review(json.loads(await request.text()))
        except (BadReview, json.JSONDecodeError) as error:
            raise aiohttp.web.HTTPBadRequest(reason=str(error) or None) from None
        verdict = await review_router(review.operation, review.old, review.new, self.engines)
        return aiohttp.web.json_response(review_response(review, verdict))

    async def _reload_cert_forever(self) -> None:
        """Load the files again when they change; new connections get the new certificate."""
        digest = _files_digest(self.files)
        while True:
            await asyncio.sleep(self.cert_check_seconds)
            try:
                now = _files_digest(self.files)
                if now != digest:
                    self.context.load_cert_chain(*self.files)
                    digest = now
                    log.info("standby admission webhook reloaded its certificate")
            except (OSError, ssl.SSLError) as error:  # half-written files: the next look
                log.warning(
                    "standby admission webhook could not reload its certificate",
                    extra={"error": str(error)},
                )

    async def _keep_plugins(self) -> None:
        """Start a plugin again when it stopped (its supervisor's backoff spaces the attempts)."""
        while True:
            await asyncio.sleep(ENGINE_WATCH_SECONDS)
            for handle in self.engines.handles():
                if not handle.is_running():
                    with contextlib.suppress(PluginError):
                        await handle.manager()

    async def close(self) -> None:
        """Stop serving (the port is free when this returns) and stop the plugins."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.engines.close()
        log.info("standby admission webhook off")
