"""The router as tests and benchmarks run it: a real `python -m turnout_router` process,
and real upstream HTTP servers on 127.0.0.1 for its routes.

The router runs as its own process (its own event loop, uvloop, signals), as in a
pod; upstreams run in the test's event loop so a test can hold, release or
inspect what they received. Everything listens on loopback only.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from turnout_router.config import RouterConfig, dump_router_config

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Upstream:
    """An upstream that answers JSON naming itself, echoing the request id and body.

    After `block()`, requests wait until `release()` (a slow upstream, without clocks).
    """

    name: str
    received: list[dict[str, Any]] = field(default_factory=list)
    hold: bool = False
    status: int = 200
    port: int = 0
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/predict"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(
            {"request_id": request.headers.get("Turing-Req-ID"), "headers": dict(request.headers)}
        )
        if self.hold:
            await self._release.wait()
        return web.json_response(
            {
                "route": self.name,
                "request_id": request.headers.get("Turing-Req-ID"),
                "echo": json.loads(body) if body else None,
            },
            status=self.status,
            headers={"X-Upstream": self.name},
        )

    def block(self) -> None:
        """Hold every request from now on until `release()`."""
        self.hold = True
        self._release.clear()

    def release(self) -> None:
        self.hold = False
        self._release.set()

    async def start(self) -> Upstream:
        app = web.Application()
        app.router.add_post("/predict", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()


class GarbageUpstream:
    """Answers every connection with bytes that are not HTTP, then closes it."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/predict"

    async def start(self) -> GarbageUpstream:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(65536)
            writer.write(b"this is not an HTTP response\r\n\r\n")
            await writer.drain()
            writer.close()

        self._server = await asyncio.start_server(answer, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()


def closed_port_url() -> str:
    """A loopback URL nothing listens on (bound then released: connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/predict"


def plugin_search_path() -> str:
    """PATH with this interpreter first: the Python plugin's `#!/usr/bin/env python3`."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


class RouterProcess:
    """`python -m turnout_router` on 127.0.0.1 with a config file; stopped by its pid."""

    def __init__(
        self,
        config: RouterConfig | Mapping[str, Any],
        directory: Path,
        *,
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        prefix: tuple[str, ...] = (),
    ) -> None:
        self.directory = directory
        self.config_file = directory / "router.yaml"
        document = dump_router_config(config) if isinstance(config, RouterConfig) else dict(config)
        self.config_file.write_text(yaml.safe_dump(document))
        self.log_file = directory / "router.log"
        self.env = {
            **os.environ,
            "ROUTER_CONFIG_FILE": str(self.config_file),
            "ROUTER_HOST": "127.0.0.1",
            "ROUTER_PORT": "0",
            # One worker unless a test asks for more: this machine's CPU count must not
            # change what a test sees.
            "ROUTER_WORKERS": "1",
            "PATH": plugin_search_path(),
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            # No Service sends traffic to a test's router: no drain unless a test asks.
            "ROUTER_DRAIN_SECONDS": "0",
            **(env or {}),
        }
        self.command = [*prefix, python, "-m", "turnout_router"]
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.lines: list[dict[str, Any]] = []
        self._listening = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: float = 60.0) -> RouterProcess:
        self.process = subprocess.Popen(
            self.command, env=self.env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._listening.wait(wait) or not self.port:
            self.stop()
            raise RuntimeError(f"router did not start:\n{self.output()}")
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        with self.log_file.open("ab") as log:
            for raw in self.process.stderr:
                log.write(raw)
                log.flush()
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(line, dict):
                    continue
                self.lines.append(line)
                if line.get("message") == "router listening":
                    self.port = int(line["port"])
                    self._listening.set()
        self._listening.set()

    def output(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def terminate(self) -> None:
        """SIGTERM by pid: the graceful shutdown."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        code = self.process.wait(timeout)
        if self._reader is not None:
            self._reader.join(5)
        return code

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.terminate()
            try:
                return self.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
        return self.wait(30)

    def worker_pids(self) -> list[int]:
        """Pids of the router's workers (the parent's children), from /proc."""
        assert self.process is not None
        return _children(self.process.pid)

    def plugin_pids(self) -> list[int]:
        """Pids of the workers' children (their plugins), from /proc."""
        return [plugin for worker in self.worker_pids() for plugin in _children(worker)]


def _children(pid: int) -> list[int]:
    try:
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    except OSError:
        return []


async def until_ready(router: RouterProcess) -> None:
    """Wait until the router answers its readiness probe (the test's timeout bounds it)."""
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{router.url}/v1/internal/ready") as response:
                if response.status == 200:
                    return
            await asyncio.sleep(0.05)
