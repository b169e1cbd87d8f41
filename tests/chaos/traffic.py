"""A real router data plane serving a deployed Router's ConfigMap, with steady traffic.

The router runs as its own process with the `router.yaml` the operator wrote,
rewritten only where a pod would differ (the plugin's local path, upstreams on
127.0.0.1; pod and service addresses are never dialed). Upstreams and the
request loop run in a thread with its own event loop, so the test can block on
kubectl and SQL meanwhile. Every answer is recorded with the moment it came.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.cases.treatments import reference_variant
from tests.substrate.operator_fixtures import OperatorHarness
from tests.substrate.router_process import RouterProcess, Upstream


@dataclass
class Answer:
    at: float
    """time.monotonic() when the answer came."""
    ok: bool
    detail: str


@dataclass
class Traffic:
    """Requests through a router process, one after another, until stopped."""

    config: dict[str, Any]
    plugin: Path
    directory: Path
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _error: BaseException | None = None
    _router: RouterProcess | None = None

    @classmethod
    def from_configmap(cls, h: OperatorHarness, name: str, directory: Path) -> Traffic:
        configmap = h.kubectl_json("get", "configmap", name)
        config: dict[str, Any] = yaml.safe_load(configmap["data"]["router.yaml"])
        return cls(config=config, plugin=h.python_plugin, directory=directory)

    def start(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(90) or self._error is not None:
            self.stop()
            raise RuntimeError(f"the router data plane did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def between(self, start: float, end: float) -> list[Answer]:
        return [a for a in self.answers if start <= a.at <= end]

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:
            self._error = error
            self._ready.set()

    async def _serve(self) -> None:
        upstreams = {r["id"]: await Upstream(r["id"]).start() for r in self.config["routes"]}
        local = json.loads(json.dumps(self.config))
        local["experimentEngine"]["pluginBinary"] = str(self.plugin)
        for route in local["routes"]:
            route["endpoint"] = upstreams[route["id"]].url
        self.directory.mkdir(parents=True, exist_ok=True)
        self._router = RouterProcess(local, self.directory)
        try:
            await asyncio.to_thread(self._router.start)
            async with aiohttp.ClientSession() as http:
                # Ready: the engine's runner is configured (before, requests take the fallback).
                while not self._stop.is_set():
                    async with http.get(f"{self._router.url}/v1/internal/ready") as response:
                        if response.status == 200:
                            break
                    await asyncio.sleep(0.05)
                unit = 0
                while not self._stop.is_set():
                    unit += 1
                    self.answers.append(await self._one(http, unit))
                    if not self._ready.is_set() and self.answers[-1].ok:
                        self._ready.set()
                    await asyncio.sleep(0.02)
        finally:
            await asyncio.to_thread(self._router.stop)
            for upstream in upstreams.values():
                await upstream.stop()

    async def _one(self, http: aiohttp.ClientSession, unit: int) -> Answer:
        assert self._router is not None
        try:
            async with http.post(
                f"{self._router.url}/v1/predict",
                json={"client": {"id": unit}},
                timeout=aiohttp.ClientTimeout(total=10),
            ) as response:
                body = await response.json(content_type=None)
                route = body.get("route") if isinstance(body, dict) else None
                ok = response.status == 200 and route == reference_variant(unit)
                detail = f"unit {unit}: HTTP {response.status}, route {route}"
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            ok, detail = False, f"unit {unit}: {error!r}"
        return Answer(at=time.monotonic(), ok=ok, detail=detail)
