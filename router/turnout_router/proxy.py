"""The router's request handling: request id, traffic rule, treatment, route, forward.

This is the hot path. Everything that can be done once is done in `__init__`
(rules and route selection compiled, endpoints split, pools opened, header
values encoded); a request costs one JSON parse (to refuse a body that is not
JSON and to read payload conditions), one treatment call over the plugin's
multiplexed connection, one write and one read on a pooled upstream
connection, and two metric updates.

Timeouts nest: the treatment call gets the engine's own budget, the upstream
call the route's timeout, and neither more than what is left of the router's
timeout for the whole request, so a slow engine cannot eat the upstream's time.

Response headers the router adds (also on its own errors, where they apply):

* `Turing-Req-ID`: the request id (the caller's, or minted), also sent upstream;
* `Turnout-Route`: the route that answered (or was tried);
* `Turnout-Route-Reason`: `treatment`, or why the fallback route was used;
* `Turnout-Traffic-Rule`: the traffic rule that applied (`default`, `none`);
* `Turnout-Experiment`, `Turnout-Treatment`: the treatment, when one was assigned;
* `Turnout-Router-Version`: the Router version whose config this router runs (which
  version served a request, through a rollout).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Coroutine
from typing import Any, Final

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from plugin_host import CallTimeoutError, PluginError
from turnout_router import http11
from turnout_router.config import RouterConfig, duration_seconds
from turnout_router.engine import Engine, EngineUnavailable
from turnout_router.http11 import JSON_CONTENT, error_response, header_safe
from turnout_router.metrics import RouterMetrics
from turnout_router.podstate import PodState
from turnout_router.requestid import HEADER_KEY, RequestIds
from turnout_router.rules import TrafficRules
from turnout_router.selection import Choice, Reason, RouteSelector
from turnout_router.server import Request
from turnout_router.upstream import Pool, UpstreamError, UpstreamTimeout

log = logging.getLogger(__name__)
access = logging.getLogger("turnout_router.access")

LIVE_PATH: Final = b"/v1/internal/live"
READY_PATH: Final = b"/v1/internal/ready"
METRICS_PATH: Final = b"/metrics"

H_REQUEST_ID: Final = b"Turing-Req-ID"
H_ROUTE: Final = b"Turnout-Route"
H_REASON: Final = b"Turnout-Route-Reason"
H_RULE: Final = b"Turnout-Traffic-Rule"
H_EXPERIMENT: Final = b"Turnout-Experiment"
H_TREATMENT: Final = b"Turnout-Treatment"
H_VERSION: Final = b"Turnout-Router-Version"

_OK_LIVE: Final = http11.response(200, (JSON_CONTENT,), b'{"status":"live"}')


class _Route:
    __slots__ = ("endpoint", "header", "id", "pool", "timeout")

    def __init__(self, route_id: str, url: str, timeout: float) -> None:
        self.id = route_id
        self.endpoint = http11.parse_endpoint(url)
        self.pool = Pool(self.endpoint)
        self.timeout = timeout
        self.header = (H_ROUTE, route_id.encode())


class _Throttle:
    """At most one log line per key per interval: a dead plugin under load would
    otherwise write one warning per request."""

    def __init__(self, interval: float = 1.0) -> None:
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def allow(self, key: str, now: float) -> int | None:
        """None to stay quiet, or how many lines were suppressed since the last one."""
        if now - self._last.get(key, -1e9) < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._suppressed.pop(key, 0)


class Router:
    """The handler of one router process; `handle()` is given every parsed request."""

    def __init__(
        self,
        config: RouterConfig,
        engine: Engine | None,
        metrics: RouterMetrics,
        *,
        access_log: bool = False,
        ids: RequestIds | None = None,
        pod: PodState | None = None,
        worker_index: int = 0,
    ) -> None:
        self.config = config
        self.pod = pod
        """Every worker's readiness; the pod is ready only when all are."""
        self.worker_index = worker_index
        self.engine = engine
        self.metrics = metrics
        self.access_log = access_log
        self.shutting_down = False
        self._path = config.server.path.encode()
        self._timeout = duration_seconds(config.server.timeout)
        self._rules = TrafficRules(config)
        self._selector = RouteSelector(config)
        self._routes = {
            route.id: _Route(route.id, route.endpoint, duration_seconds(route.timeout))
            for route in config.routes
        }
        self._ids = ids or RequestIds()
        self._header_rules = any(
            c.field_source != "payload" for rule in config.traffic_rules for c in rule.conditions
        )
        self._canonical: dict[bytes, str] = {}
        self._names: dict[str, bytes] = {}
        self._throttle = _Throttle()
        self._clock = time.monotonic
        self._version_header = (H_VERSION, str(config.version).encode())

    # -- dispatch

    def handle(self, request: Request) -> bytes | Coroutine[Any, Any, bytes]:
        path = request.path
        if b"?" in path:
            path = path.split(b"?", 1)[0]
        method = request.method
        if path == self._path:
            if method == b"POST":
                return self.proxy(request)
            return self._reject(
                405, f"use POST on {self.config.server.path}", ((b"Allow", b"POST"),)
            )
        if method == b"GET":
            if path == LIVE_PATH:
                return _OK_LIVE
            if path == READY_PATH:
                return self._ready()
            if path == METRICS_PATH:
                self.metrics.flush()  # this worker's requests up to now
                if self.engine is not None:
                    # Read at scrape time, whichever worker answers the scrape.
                    self.metrics.plugin_up.set(1 if self.engine.serving else 0)
                return http11.response(
                    200,
                    ((b"Content-Type", CONTENT_TYPE_LATEST.encode()),),
                    generate_latest(self.metrics.exposed),
                )
        return self._reject(
            404, f"no such endpoint; send POST requests to {self.config.server.path}"
        )

    def _reject(
        self, status: int, message: str, extra: tuple[tuple[bytes, bytes], ...] = ()
    ) -> bytes:
        self.metrics.rejection(status)
        return error_response(status, message, extra)

    def readiness(self) -> tuple[bool, str]:
        """This worker's readiness and why."""
        if self.shutting_down:
            return False, "shutting down"
        if self.engine is None:
            return True, "no engine"
        if self.engine.serving:
            return True, "engine serving"
        return False, f"engine {self.engine.status()}; requests take the fallback route"

    def publish_readiness(self) -> None:
        """Write this worker's readiness into its slot (and plugin_up into its metric)."""
        ready, detail = self.readiness()
        if self.pod is not None:
            self.pod.set(self.worker_index, ready, detail)
        if self.engine is not None:
            self.metrics.plugin_up.set(1 if self.engine.serving else 0)

    def _ready(self) -> bytes:
        ready, detail = self.readiness()
        if ready and self.pod is not None:
            self.publish_readiness()
            unready = self.pod.first_unready()
            if unready is not None:
                ready, detail = False, f"worker {unready[0]}: {unready[1]}"
        elif self.pod is not None:
            detail = f"worker {self.worker_index}: {detail}"
        status = 200 if ready else 503
        body = json.dumps({"ready": ready, "detail": detail}).encode()
        return http11.response(status, (JSON_CONTENT,), body)

    # -- the hot path

    def _canonical_name(self, name: bytes) -> str:
        canonical = self._canonical.get(name)
        if canonical is None:
            canonical = http11.canonical_header_key(name.decode("latin-1"))
            if len(self._canonical) < 1024:  # names repeat; arbitrary ones must not grow it
                self._canonical[name] = canonical
        return canonical

    def _name_header(self, name: str) -> bytes:
        value = self._names.get(name)
        if value is None:
            value = header_safe(name)
            if len(self._names) < 4096:
                self._names[name] = value
        return value

    async def proxy(self, request: Request) -> bytes:
        started = self._clock()
        given: bytes | None = None
        for name, value in request.headers:
            if len(name) == 13 and name.lower() == HEADER_KEY:
                given = value
                break
        request_id = self._ids.take_or_mint(given)
        id_header = (H_REQUEST_ID, request_id.encode())
        try:
            return await self._proxy(request, request_id, id_header, started)
        except Exception:
            log.exception("request failed inside the router", extra={"request_id": request_id})
            self.metrics.request("none", 500, "none", self._clock() - started)
            return error_response(500, "internal router error", (id_header,))

    async def _proxy(
        self, request: Request, request_id: str, id_header: tuple[bytes, bytes], started: float
    ) -> bytes:
        body = request.body
        try:
            payload: Any = http11.parse_json_body(body)
        except ValueError:  # UnicodeDecodeError is one
            self.metrics.rejection(400)
            return error_response(400, "request body is not valid JSON", (id_header,))

        engine = self.engine
        headers: dict[str, list[str]] = {}
        first: dict[str, str] = {}
        if engine is not None or self._header_rules:
            for name, value in request.headers:
                text = value.decode("latin-1")
                canonical = self._canonical_name(name)
                values = headers.get(canonical)
                if values is None:
                    headers[canonical] = [text]
                    first[canonical.lower()] = text
                else:
                    values.append(text)
        rule = self._rules.match(first, payload)
        deadline = started + self._timeout
        experiment = treatment = ""
        if engine is None:
            choice = self._selector.fallback(Reason.NO_ENGINE)
        else:
            budget = min(engine.budget, deadline - self._clock())
            call_started = self._clock()
            try:
                assigned = await engine.treatment(headers, body, request_id, budget)
            except EngineUnavailable as unavailable:
                choice = self._engine_failed(
                    Reason.ENGINE_UNAVAILABLE, str(unavailable), request_id
                )
            except CallTimeoutError:
                self.metrics.observe_engine(self._clock() - call_started)
                choice = self._engine_failed(
                    Reason.ENGINE_TIMEOUT, f"no treatment within {budget:.3f}s", request_id
                )
            except PluginError as failed:
                self.metrics.observe_engine(self._clock() - call_started)
                choice = self._engine_failed(Reason.ENGINE_ERROR, str(failed), request_id)
            else:
                self.metrics.observe_engine(self._clock() - call_started)
                experiment, treatment = assigned.experiment_name, assigned.name
                choice = self._selector.choose(experiment, treatment, assigned.config, rule)
        self.metrics.choice(choice.route, choice.reason)

        route = self._routes[choice.route]
        extra = [
            id_header,
            route.header,
            (H_REASON, choice.reason.encode()),
            (H_RULE, rule.name.encode()),
            self._version_header,
        ]
        if experiment or treatment:
            extra.append((H_EXPERIMENT, self._name_header(experiment)))
            extra.append((H_TREATMENT, self._name_header(treatment)))

        remaining = deadline - self._clock()
        timeout = min(route.timeout, remaining)
        status: int
        if remaining <= 0:
            status = 504
            result = error_response(
                504,
                f"the router's timeout of {self.config.server.timeout} passed",
                extra,
                route=route.id,
            )
        else:
            head = http11.upstream_request_head(
                route.endpoint, request.headers, (id_header,), len(body)
            )
            try:
                upstream = await route.pool.request(head, body, timeout)
            except UpstreamTimeout:
                status = 504
                if timeout < route.timeout:
                    message = f"the router's timeout of {self.config.server.timeout} passed"
                else:
                    message = f"route {route.id} did not answer within its timeout of {timeout:g}s"
                result = error_response(504, message, extra, route=route.id)
            except UpstreamError as broken:
                status = 502
                result = error_response(
                    502, f"route {route.id} failed: {broken}", extra, route=route.id
                )
            else:
                status = upstream.status
                result = http11.response(status, upstream.headers, upstream.body, extra)
        elapsed = self._clock() - started
        self.metrics.request(route.id, status, rule.name, elapsed)
        if status >= 500:
            self._warn(
                f"upstream-{status}", "route failed", request_id, route=route.id, status=status
            )
        if self.access_log:
            access.info(
                "request",
                extra={
                    "request_id": request_id,
                    "worker": self.worker_index,
                    "route": route.id,
                    "reason": choice.reason.value,
                    "rule": rule.name,
                    "experiment": experiment,
                    "treatment": treatment,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "request_bytes": len(body),
                },
            )
        return result

    def _engine_failed(self, reason: Reason, error: str, request_id: str) -> Choice:
        self.metrics.engine_failure(reason.value.removeprefix("engine-"))
        self._warn(reason.value, "no treatment, fallback route", request_id, error=error)
        return self._selector.fallback(reason)

    def _warn(self, key: str, message: str, request_id: str, **fields: Any) -> None:
        suppressed = self._throttle.allow(key, self._clock())
        if suppressed is not None:
            log.warning(
                message,
                extra={"request_id": request_id, "similar_suppressed": suppressed, **fields},
            )

    def close(self) -> None:
        for route in self._routes.values():
            route.pool.close()
