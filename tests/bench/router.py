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
* turnout_router with the Go plugin on asyncio's own loop (the loop candidate);
* turnout_router compiled as the image builds it (TURNOUT_COMPILE=1, devenv.compiled,
  from the same base interpreter), with the Go plugin and with nop.

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

from devenv.compiled import base_python, compiled_python
from devenv.gopeers import locate
from devenv.procs import free_port
from devenv.zipapp import build_hardcoded_plugin
from tests.bench.memory import rss_kib
from turnout_router.config import EngineRuntime, Route, RouterConfig, dump_router_config

ROOT = Path(__file__).resolve().parents[2]
DURATION = os.environ.get("BENCH_DURATION", "5s")
BODY = '{"client": {"id": 4}, "features": [0.1, 0.2, 0.3]}'
PROXY_CPU, LOAD_CPU = "0", "1"
ROUTER_PYTHON = os.environ.get("BENCH_ROUTER_PYTHON", sys.executable)
"""The interpreter the Python proxies run on. Images run a CPython built with profile-guided
and link-time optimization (the official python:3.11-slim, Debian's python3); a
development interpreter built without them (pyenv's default) runs the same code slower.
Point this at a virtualenv of the image's kind of interpreter with the project installed
to measure what a pod runs (docs/router.md, "Numbers")."""


def interpreter_line(python: str = ROUTER_PYTHON) -> str:
    """Which interpreter the proxies ran on, and how fast it runs plain Python code (the
    build options that matter, PGO and LTO, are not reliably recorded in the binary)."""
    probe = (
        "import sys, timeit; t = min(timeit.repeat('sum(range(50))', number=100000, repeat=5));"
        "print(sys.version.split()[0], f'{t * 1e4:.0f}')"
    )
    described = subprocess.run(
        [python, "-c", probe], capture_output=True, text=True, check=False
    ).stdout.split()
    if len(described) != 2:
        return f"proxies on {python}"
    version, nanoseconds = described
    return f"proxies on {python} (Python {version}; sum(range(50)) in {nanoseconds} ns)"


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
class Row:
    name: str
    runs: dict[int, Run]
    cpu_us: float | None = None
    """CPU time of the proxy (and its plugin) per request over the 32-connection run."""
    memory: str = ""


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
    command: list[str],
    cpu: str,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - lives with the process
    return subprocess.Popen(
        ["taskset", "-c", cpu, *command], env=env, stdout=out, stderr=out, cwd=cwd
    )


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


def descendants(pid: int) -> list[int]:
    """`pid` and every process under it, parents first (router parent, worker, plugin)."""
    found = [pid]
    for each in found:
        try:
            children = Path(f"/proc/{each}/task/{each}/children").read_text().split()
        except OSError:
            continue
        found.extend(int(child) for child in children)
    return found


def post_script(scratch: Path) -> Path:
    """wrk's script: POST the benchmark's body as JSON."""
    script = scratch / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = '{BODY}'\n"
    )
    return script


def start_upstream(scratch: Path, processes: list[subprocess.Popen[bytes]]) -> int:
    """nginx answering every POST with a fixed prediction (added to `processes`); its port
    (the model's URL is `upstream_url(port)`)."""
    port = free_port()
    directory = scratch / "upstream"
    directory.mkdir()
    (directory / "nginx.conf").write_text(nginx_conf(directory, f"""
    server {{
        listen 127.0.0.1:{port};
        location / {{ default_type application/json; return 200 '{{"prediction": 0.5}}'; }}
    }}"""))  # fmt: skip
    processes.append(
        start(["nginx", "-p", str(directory), "-c", str(directory / "nginx.conf")], LOAD_CPU)
    )
    wait_http(upstream_url(port), "POST", BODY.encode())
    return port


def upstream_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/predict"


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
        script = post_script(scratch)
        python_plugin = scratch / "hardcoded"
        build_hardcoded_plugin(python_plugin)

        processes: list[subprocess.Popen[bytes]] = []
        try:
            up_port = start_upstream(scratch, processes)
            upstream = upstream_url(up_port)

            rows: list[Row] = []

            def measure(name: str, url: str, pid: int | None = None) -> None:
                wrk(url, 8, script, "1s")  # warm-up: connections, pools, caches
                runs = {1: wrk(url, 1, script)}
                pids = [] if pid is None else descendants(pid)
                before = [cpu_seconds(each) for each in pids]
                runs[32] = wrk(url, 32, script)
                after = [cpu_seconds(each) for each in pids]
                requests = runs[32].rps * _seconds(DURATION)
                cpu = [(b - a) / requests * 1e6 for a, b in zip(before, after, strict=True)]
                row = Row(name, runs)
                if pids:
                    row.cpu_us = sum(cpu)
                    row.memory = f"{sum(rss_kib(each) for each in pids) / 1024:.0f} MiB"
                    if len(cpu) > 2 and name.startswith("turnout_router"):
                        # parent, its one worker, the worker's plugin
                        row.memory += f" (plugin {rss_kib(pids[2]) / 1024:.0f} MiB)"
                        row.memory += (
                            f"; CPU {cpu[0] + cpu[1]:.0f} µs router + {cpu[2]:.0f} µs plugin"
                        )
                rows.append(row)
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
            measure(
                "nginx reverse proxy", f"http://127.0.0.1:{proxy_port}/v1/predict", nginx_proxy.pid
            )
            stop(nginx_proxy)

            naive_port = free_port()
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            naive = start(
                [ROUTER_PYTHON, "-m", "tests.bench.naive_proxy", str(naive_port), upstream],
                PROXY_CPU,
                env,
            )
            processes.append(naive)
            naive_url = f"http://127.0.0.1:{naive_port}/v1/predict"
            wait_http(naive_url, "POST", BODY.encode())
            measure("naive aiohttp+uvloop proxy, no engine", naive_url, naive.pid)
            stop(naive)

            routes = [
                Route(id="control", endpoint=upstream),
                Route(id="treatment-1", endpoint=upstream),
            ]
            go = EngineRuntime(
                name="hardcoded",
                plugin_binary=str(peers.hardcoded_plugin),
                runner_config=runner_config(),
            )
            compiled = str(compiled_python(base_python(ROUTER_PYTHON)))
            # The compiled build must not see the sources: no repository on its path.
            alone = {"PYTHONPATH": ""}
            cases: list[tuple[str, EngineRuntime | None, dict[str, str], str]] = [
                ("turnout_router, Go plugin", go, {}, ROUTER_PYTHON),
                ("turnout_router, Python plugin", EngineRuntime(name="hardcoded", plugin_binary=str(python_plugin), runner_config=runner_config()), {}, ROUTER_PYTHON),
                ("turnout_router, nop", None, {}, ROUTER_PYTHON),
                ("turnout_router, Go plugin, asyncio loop", go, {"ROUTER_EVENT_LOOP": "asyncio"}, ROUTER_PYTHON),
                ("turnout_router compiled, Go plugin", go, alone, compiled),
                ("turnout_router compiled, nop", None, alone, compiled),
            ]  # fmt: skip
            for name, engine, extra_env, python in cases:
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
                    "ROUTER_WORKERS": "1",  # one core; tests.bench.router_workers scales
                    "PATH": os.pathsep.join([str(Path(python).parent), os.environ["PATH"]]),
                    **extra_env,
                }
                router = start(
                    [python, "-m", "turnout_router"],
                    PROXY_CPU,
                    router_env,
                    scratch / "router.log",
                    # `-m` puts the working directory first on the path: never the checkout,
                    # whose sources would shadow the compiled build.
                    cwd=scratch,
                )
                processes.append(router)
                wait_http(f"http://127.0.0.1:{port}/v1/internal/ready")
                url = f"http://127.0.0.1:{port}/v1/predict"
                wait_http(url, "POST", BODY.encode())
                measure(name, url, router.pid)
                stop(router)
        finally:
            for process in processes:
                stop(process)

    print_table(rows)


def print_table(rows: list[Row]) -> None:
    direct = rows[0].runs
    by_name = {row.name: row for row in rows}
    nginx = by_name["nginx reverse proxy"]
    naive = by_name["naive aiohttp+uvloop proxy, no engine"]
    print(f"\nRouter data plane: wrk JSON POST over loopback, {DURATION} per cell, "
          f"proxy pinned to CPU {PROXY_CPU}, wrk and upstream to CPU {LOAD_CPU}; "
          f"{interpreter_line()}")  # fmt: skip
    print(
        f"{'case':40} {'p50@1':>6} {'+p50@1':>7} {'+p99@1':>7} {'p50@32':>7} {'+p50@32':>8} "
        f"{'+p99@32':>8} {'req/s@32':>9} {'ratio':>13} {'CPU µs/req':>10} {'req/s/core':>10} "
        f"{'ratio':>13}  memory"
    )
    for row in rows:
        one, many = row.runs[1], row.runs[32]
        capacity = 1e6 / row.cpu_us if row.cpu_us else None
        ratio = f"{many.rps / nginx.runs[32].rps:4.2f}/{many.rps / naive.runs[32].rps:4.2f}x"
        if capacity is not None and nginx.cpu_us and naive.cpu_us:
            core = f"{capacity:10.0f} {nginx.cpu_us / row.cpu_us:4.2f}/{naive.cpu_us / row.cpu_us:4.2f}x"  # type: ignore[operator]
            cpu = f"{row.cpu_us:10.1f}"
        else:
            core, cpu = f"{'':10} {'':13}", f"{'':10}"
        print(
            f"{row.name:40} {one.p50_us:6.0f} {one.p50_us - direct[1].p50_us:7.0f} "
            f"{one.p99_us - direct[1].p99_us:7.0f} {many.p50_us:7.0f} "
            f"{many.p50_us - direct[32].p50_us:8.0f} {many.p99_us - direct[32].p99_us:8.0f} "
            f"{many.rps:9.0f} {ratio:>13} {cpu} {core}  {row.memory}"
        )
    print(
        "latencies in µs, + is added over direct (direct p99: "
        f"{direct[1].p99_us:.0f} at 1, {direct[32].p99_us:.0f} at 32 connections); req/s at 32 "
        "connections is the measured maximum; ratio is to nginx/to the naive proxy; CPU µs/req is "
        "the proxy's (with its plugin) CPU time per request, and req/s/core its inverse: the "
        "throughput of one whole core, less sensitive to other load on the machine"
    )
    go = by_name["turnout_router, Go plugin"]
    added = go.runs[1].p50_us - direct[1].p50_us
    print(
        f"goals: Go engine adds {added:.0f} µs at p50 with one connection (goal < 1000); "
        f"{go.runs[32].rps:.0f} req/s measured, "
        f"{(1e6 / go.cpu_us) if go.cpu_us else float('nan'):.0f} per core (goal >= 10000, "
        f"and over twice the naive proxy without engine: "
        f"{go.runs[32].rps / naive.runs[32].rps:.2f}x measured, "
        f"{(naive.cpu_us or 0) / (go.cpu_us or 1):.2f}x per core)"
    )
    built = by_name["turnout_router compiled, Go plugin"]
    if built.cpu_us and go.cpu_us:
        print(
            f"compiled (the image's build), Go engine: {built.cpu_us:.1f} µs of CPU per request, "
            f"router and plugin (goal <= 60), {built.cpu_us / go.cpu_us:.2f}x the same code as "
            f"Python in this run; {built.runs[32].rps / go.runs[32].rps:.2f}x its req/s"
        )


if __name__ == "__main__":
    main()
