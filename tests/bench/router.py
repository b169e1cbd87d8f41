"""The router's added latency and throughput, against nginx and a naive Python proxy.

One run, one load generator (wrk, a JSON POST), one upstream: nginx answering
at once from its own config (`return 200`), the fixed-latency upstream. Each
candidate sits between wrk and that upstream; the proxy under test is pinned
to CPU 0 (its plugin process inherits the pinning), wrk and the upstream to
CPU 1. Rows:

* direct: wrk -> upstream (the baseline every "added" number is over);
* nginx: Debian's nginx as a plain keep-alive reverse proxy, one worker;
* naive: aiohttp server + client on uvloop, no engine (tests/bench/naive_proxy.py);
* turnout_router with the Go hardcoded plugin, the Python plugin, and nop;
* turnout_router with the Go plugin on asyncio's own loop (the loop candidate).

Needs `wrk` and `nginx` (Debian: apt-get install wrk nginx-light); missing
ones are named and the benchmark stops. Asserts nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devenv.gopeers import locate
from devenv.procs import free_port
from devenv.zipapp import build_hardcoded_plugin
from tests.bench.memory import rss_kib
from turnout_router.config import EngineRuntime, Route, RouterConfig, dump_router_config

ROOT = Path(__file__).resolve().parents[2]
DURATION = os.environ.get("BENCH_DURATION", "5s")
BODY = '{"client": {"id": 4}, "features": [0.1, 0.2, 0.3]}'
PROXY_CPU, LOAD_CPU = "0", "1"
CONNECTIONS = (1, 32)

SAMPLE_OPTIONS = json.loads(
    (ROOT / "examples/plugins/hardcoded/sample_engine_options.json").read_text()
)


def runner_config() -> dict[str, Any]:
    """The sample engine's exp_1, split by payload client.id, treatments naming routes."""
    experiment = dict(SAMPLE_OPTIONS["experiments"][0])
    experiment["segmentation_configuration"] = {
        "name": "client_id",
        "source": "payload",
        "value": "client.id",
    }
    return {"experiments": [experiment]}


@dataclass
class Run:
    p50_us: float
    p99_us: float
    rps: float


_UNITS = {"us": 1.0, "ms": 1000.0, "s": 1e6}


def _duration_us(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _seconds(duration: str) -> float:
    return _duration_us(duration) / 1e6


def wrk(url: str, connections: int, script: Path, duration: str = DURATION) -> Run:
    output = subprocess.run(
        ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{duration}",
         "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        print(f"  note: {errors.group(1)} non-2xx responses from {url}", file=sys.stderr)
    return Run(_duration_us(percentiles["50"]), _duration_us(percentiles["99"]), rps)


def nginx_conf(directory: Path, body: str) -> str:
    return f"""
worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
{body}
}}
"""


def start(
    command: list[str], cpu: str, env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - lives with the process
    return subprocess.Popen(["taskset", "-c", cpu, *command], env=env, stdout=out, stderr=out)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def wait_http(
    url: str, method: str = "GET", body: bytes | None = None, attempts: int = 300
) -> None:
    for _ in range(attempts):
        try:
            request = urllib.request.Request(url, data=body, method=method,
                                             headers={"Content-Type": "application/json"})  # fmt: skip
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(child) for child in children]


def children_rss_kib(pid: int) -> int:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0
    return sum(rss_kib(child) for child in children)


def main() -> None:
    missing = [tool for tool in ("wrk", "nginx", "taskset") if shutil.which(tool) is None]
    if missing:
        print(f"router benchmark skipped: {', '.join(missing)} missing "
              "(Debian: apt-get install wrk nginx-light)")  # fmt: skip
        return
    if (os.cpu_count() or 1) < 2:
        print("router benchmark skipped: it needs two CPUs (proxy on one, load on the other)")
        return
    peers = locate()
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        script = scratch / "post.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = '{BODY}'\n"
        )
        python_plugin = scratch / "hardcoded"
        build_hardcoded_plugin(python_plugin)

        processes: list[subprocess.Popen[bytes]] = []
        try:
            up_port = free_port()
            up_dir = scratch / "upstream"
            up_dir.mkdir()
            (up_dir / "nginx.conf").write_text(nginx_conf(up_dir, f"""
    server {{
        listen 127.0.0.1:{up_port};
        location / {{ default_type application/json; return 200 '{{"prediction": 0.5}}'; }}
    }}"""))  # fmt: skip
            processes.append(
                start(["nginx", "-p", str(up_dir), "-c", str(up_dir / "nginx.conf")], LOAD_CPU)
            )
            upstream = f"http://127.0.0.1:{up_port}/predict"
            wait_http(upstream, "POST", BODY.encode())

            rows: list[tuple[str, dict[int, Run], str]] = []

            def measure(name: str, url: str, memory: str = "") -> None:
                wrk(url, 8, script, "1s")  # warm-up: connections, pools, caches
                rows.append((name, {c: wrk(url, c, script) for c in CONNECTIONS}, memory))
                print(f"  measured {name}", file=sys.stderr)

            measure("direct (baseline)", upstream)

            proxy_port = free_port()
            px_dir = scratch / "proxy"
            px_dir.mkdir()
            (px_dir / "nginx.conf").write_text(nginx_conf(px_dir, f"""
    upstream up {{ server 127.0.0.1:{up_port}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{proxy_port};
        location / {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}"""))  # fmt: skip
            nginx_proxy = start(
                ["nginx", "-p", str(px_dir), "-c", str(px_dir / "nginx.conf")], PROXY_CPU
            )
            processes.append(nginx_proxy)
            wait_http(f"http://127.0.0.1:{proxy_port}/v1/predict", "POST", BODY.encode())
            measure("nginx reverse proxy", f"http://127.0.0.1:{proxy_port}/v1/predict")
            stop(nginx_proxy)

            naive_port = free_port()
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            naive = start(
                [sys.executable, "-m", "tests.bench.naive_proxy", str(naive_port), upstream],
                PROXY_CPU,
                env,
            )
            processes.append(naive)
            naive_url = f"http://127.0.0.1:{naive_port}/v1/predict"
            wait_http(naive_url, "POST", BODY.encode())
            measure(
                "naive aiohttp+uvloop proxy, no engine",
                naive_url,
                f"{rss_kib(naive.pid) / 1024:.0f} MiB",
            )
            stop(naive)

            routes = [
                Route(id="control", endpoint=upstream),
                Route(id="treatment-1", endpoint=upstream),
            ]
            cases: list[tuple[str, EngineRuntime | None, dict[str, str]]] = [
                ("turnout_router, Go plugin", EngineRuntime(name="hardcoded", plugin_binary=str(peers.hardcoded_plugin), runner_config=runner_config()), {}),
                ("turnout_router, Python plugin", EngineRuntime(name="hardcoded", plugin_binary=str(python_plugin), runner_config=runner_config()), {}),
                ("turnout_router, nop", None, {}),
                ("turnout_router, Go plugin, asyncio loop", EngineRuntime(name="hardcoded", plugin_binary=str(peers.hardcoded_plugin), runner_config=runner_config()), {"ROUTER_EVENT_LOOP": "asyncio"}),
            ]  # fmt: skip
            for name, engine, extra_env in cases:
                config = RouterConfig(
                    routes=routes,
                    fallback_route="control",
                    route_name_path="route_name",
                    router="bench/router",
                    version=1,
                    experiment_engine=engine,
                )
                config_file = scratch / "router.yaml"
                config_file.write_text(json.dumps(dump_router_config(config)))
                port = free_port()
                router_env = {
                    **env,
                    "ROUTER_CONFIG_FILE": str(config_file),
                    "ROUTER_HOST": "127.0.0.1",
                    "ROUTER_PORT": str(port),
                    "ROUTER_LOG_LEVEL": "WARNING",
                    "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
                    **extra_env,
                }
                router = start(
                    [sys.executable, "-m", "turnout_router"],
                    PROXY_CPU,
                    router_env,
                    scratch / "router.log",
                )
                processes.append(router)
                wait_http(f"http://127.0.0.1:{port}/v1/internal/ready")
                url = f"http://127.0.0.1:{port}/v1/predict"
                wait_http(url, "POST", BODY.encode())
                wrk(url, 8, script, "1s")
                runs = {1: wrk(url, 1, script)}
                plugins = child_pids(router.pid)
                before = [cpu_seconds(pid) for pid in [router.pid, *plugins]]
                runs[32] = wrk(url, 32, script)
                after = [cpu_seconds(pid) for pid in [router.pid, *plugins]]
                requests = runs[32].rps * _seconds(DURATION)
                cpu = [(b - a) / requests * 1e6 for a, b in zip(before, after, strict=True)]
                memory = f"{rss_kib(router.pid) / 1024:.0f} MiB"
                if plugins:
                    memory += f" (+ plugin {children_rss_kib(router.pid) / 1024:.0f} MiB)"
                memory += f"; CPU/request {cpu[0]:.0f} µs router"
                if plugins:
                    memory += f" + {sum(cpu[1:]):.0f} µs plugin"
                rows.append((name, runs, memory))
                print(f"  measured {name}", file=sys.stderr)
                stop(router)
        finally:
            for process in processes:
                stop(process)

    print_table(rows)


def print_table(rows: list[tuple[str, dict[int, Run], str]]) -> None:
    direct = rows[0][1]
    by_name = {name: runs for name, runs, _ in rows}
    nginx = by_name["nginx reverse proxy"]
    naive = by_name["naive aiohttp+uvloop proxy, no engine"]
    print(f"\nRouter data plane: wrk JSON POST over loopback, {DURATION} per cell, "
          f"proxy pinned to CPU {PROXY_CPU}, wrk and upstream to CPU {LOAD_CPU}")  # fmt: skip
    header = (
        f"{'case':42} {'p50@1':>7} {'+p50@1':>7} {'p99@1':>7} {'p50@32':>7} {'+p50@32':>8} "
        f"{'p99@32':>7} {'req/s@32':>9} {'vs nginx':>9} {'vs naive':>9}  memory, CPU"
    )
    print(header)
    for name, runs, memory in rows:
        one, many = runs[1], runs[32]
        print(
            f"{name:42} {one.p50_us:7.0f} {one.p50_us - direct[1].p50_us:7.0f} {one.p99_us:7.0f} "
            f"{many.p50_us:7.0f} {many.p50_us - direct[32].p50_us:8.0f} {many.p99_us:7.0f} "
            f"{many.rps:9.0f} {many.rps / nginx[32].rps:8.2f}x {many.rps / naive[32].rps:8.2f}x  {memory}"
        )
    print(
        "latencies in µs; + is p50 added over direct; p99 absolute (wrk and the upstream share "
        "a CPU, so p99 at one connection is noisy); req/s at 32 connections is the maximum "
        "throughput; CPU per request measured over the 32-connection run"
    )
    go = by_name["turnout_router, Go plugin"]
    print(
        f"goals: added p50 at 1 connection with the Go engine {go[1].p50_us - direct[1].p50_us:.0f} µs "
        f"(goal < 1000); Go engine throughput {go[32].rps:.0f} req/s (goal >= 10000, "
        f"{go[32].rps / naive[32].rps:.2f}x the naive proxy without engine)"
    )


if __name__ == "__main__":
    main()
