"""The router at 1 and 2 workers beside nginx at 1 and 2, and under 2,000 slow-drip callers.

`python -m tests.bench router_workers` (`BENCH_DURATION` per cell, default 5s).
One run, so the rows share the machine's other load. The upstream (nginx,
`return 200`) and wrk are pinned to CPU 1; the proxy under test may use both
CPUs, so at 2 workers it competes with wrk: the req/s ratio of 2 to 1 workers
on a 2-core machine is bounded by that, and CPU time per request (proxy and
wrk both stated) is the figure that says whether a worker costs more.

Slow callers: `tests.bench.slow_clients` opens 2,000 connections that drip
request heads a byte a second (and reconnect once cut off at the header
deadline, the default 60 s, which this run does not reach: they stay
connected); the same wrk load is measured alone and with them, and the
router's memory with them. `BENCH_SLOW_HEADER_TIMEOUT=3` cuts them every 3 s
instead, so each reconnects and gets a 408 (churn: about 650 connections a
second). For these two cells the router is pinned to CPU 0 and the callers run on
CPU 1 beside wrk, from one cheap selector loop whose own CPU time is printed: the
comparison is then of the router's work, with and without the callers.

The router runs as the image builds it, its hot path compiled (devenv.compiled,
from the base interpreter of BENCH_ROUTER_PYTHON); `BENCH_BUILD=python` runs the
same code as Python instead.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from devenv.compiled import base_python, compiled_python
from devenv.gopeers import locate
from devenv.procs import free_port
from tests.bench.memory import rss_kib
from tests.bench.router import (
    BODY,
    DURATION,
    LOAD_CPU,
    PROXY_CPU,
    ROOT,
    ROUTER_PYTHON,
    Run,
    _seconds,
    cpu_seconds,
    descendants,
    interpreter_line,
    nginx_conf,
    post_script,
    runner_config,
    start,
    start_upstream,
    stop,
    upstream_url,
    wait_http,
    wrk,
)
from turnout_router.config import EngineRuntime, Route, RouterConfig, dump_router_config

PROXY_CPUS = "0,1"
SLOW_CLIENTS = 2000


@dataclass
class Cell:
    name: str
    run: Run
    proxy_us: float
    wrk_us: float
    rss_mib: float
    split: str = ""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, url: str, pid: int, script: Path, split: bool = False) -> Cell:
    wrk(url, 8, script, "1s")  # warm-up
    pids = descendants(pid)
    before = {each: cpu_seconds(each) for each in pids}
    wrk_before = children_cpu()
    run = wrk(url, 32, script)
    wrk_cpu = children_cpu() - wrk_before
    after = {each: cpu_seconds(each) for each in pids if Path(f"/proc/{each}").exists()}
    requests = run.rps * _seconds(DURATION)
    used = {each: after[each] - before[each] for each in after}
    cell = Cell(
        name,
        run,
        proxy_us=sum(used.values()) / requests * 1e6,
        wrk_us=wrk_cpu / requests * 1e6,
        rss_mib=sum(rss_kib(each) for each in after) / 1024,
    )
    if split:
        # parent, then each worker and its plugin, in /proc order.
        cell.split = " + ".join(
            f"{used[each] / requests * 1e6:.0f}" for each in pids if each in used
        )
    print(f"  measured {name}", file=sys.stderr)
    return cell


def main() -> None:
    peers = locate()
    rows: list[Cell] = []
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        script = post_script(scratch)
        processes: list[subprocess.Popen[bytes]] = []
        try:
            up_port = start_upstream(scratch, processes)
            upstream = upstream_url(up_port)

            for workers in (1, 2):
                port = free_port()
                directory = scratch / f"nginx-{workers}"
                directory.mkdir()
                conf = nginx_conf(directory, f"""
    upstream up {{ server 127.0.0.1:{up_port}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }}
    }}""").replace("worker_processes 1;", f"worker_processes {workers};")  # fmt: skip
                (directory / "nginx.conf").write_text(conf)
                proxy = start(
                    ["nginx", "-p", str(directory), "-c", str(directory / "nginx.conf")],
                    PROXY_CPUS,
                )
                processes.append(proxy)
                url = f"http://127.0.0.1:{port}/v1/predict"
                wait_http(url, "POST", BODY.encode())
                rows.append(measure(f"nginx, {workers} worker(s)", url, proxy.pid, script))
                stop(proxy)

            config = RouterConfig(
                routes=[Route(id="control", endpoint=upstream), Route(id="treatment-1", endpoint=upstream)],
                fallback_route="control",
                route_name_path="route_name",
                router="bench/router",
                version=1,
                experiment_engine=EngineRuntime(
                    name="hardcoded",
                    plugin_binary=str(peers.hardcoded_plugin),
                    runner_config=runner_config(),
                ),
            )  # fmt: skip
            config_file = scratch / "router.yaml"
            config_file.write_text(json.dumps(dump_router_config(config)))
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            python, router_path = ROUTER_PYTHON, str(ROOT)
            if os.environ.get("BENCH_BUILD", "compiled") == "compiled":
                # No checkout on the compiled build's path: its sources would shadow it.
                python, router_path = str(compiled_python(base_python(ROUTER_PYTHON))), ""
            print(f"router build: {os.environ.get('BENCH_BUILD', 'compiled')} ({python})")

            def router(
                workers: int, cpus: str = PROXY_CPUS, **extra: str
            ) -> tuple[subprocess.Popen[bytes], str, int]:
                port = free_port()
                process = start(
                    [python, "-m", "turnout_router"],
                    cpus,
                    {
                        **env,
                        "PYTHONPATH": router_path,
                        "ROUTER_CONFIG_FILE": str(config_file),
                        "ROUTER_HOST": "127.0.0.1",
                        "ROUTER_PORT": str(port),
                        "ROUTER_LOG_LEVEL": "WARNING",
                        "ROUTER_WORKERS": str(workers),
                        **extra,
                    },
                    scratch / "router.log",
                    cwd=scratch,
                )
                processes.append(process)
                wait_http(f"http://127.0.0.1:{port}/v1/internal/ready")
                url = f"http://127.0.0.1:{port}/v1/predict"
                wait_http(url, "POST", BODY.encode())
                return process, url, port

            for workers in (1, 2):
                process, url, _ = router(workers)
                rows.append(
                    measure(
                        f"turnout_router Go, {workers} worker(s)", url, process.pid, script, True
                    )
                )
                stop(process)

            # The default header deadline (60 s): the slow callers stay connected and drip.
            timeout = os.environ.get("BENCH_SLOW_HEADER_TIMEOUT")
            extra = {"ROUTER_HEADER_TIMEOUT_SECONDS": timeout} if timeout else {}
            # The router alone on CPU 0, so the slow callers share CPU 1 with wrk and the
            # upstream only: what changes between the two cells is the router's work.
            process, url, port = router(1, PROXY_CPU, **extra)
            alone = measure("Go, 1 worker, load alone", url, process.pid, script)
            rss_before = alone.rss_mib
            slow = start(
                [sys.executable, "-m", "tests.bench.slow_clients", str(port), str(SLOW_CLIENTS)],
                LOAD_CPU,
                env,
                scratch / "slow.log",
            )
            processes.append(slow)
            time.sleep(4)  # all connected and dripping
            with_slow = measure(f"Go, 1 worker, + {SLOW_CLIENTS} slow", url, process.pid, script)
            rss_peak = max(
                with_slow.rss_mib, sum(rss_kib(each) for each in descendants(process.pid)) / 1024
            )
            os.kill(slow.pid, signal.SIGTERM)
            slow.wait(30)
            counts = (scratch / "slow.log").read_text().strip().splitlines()[-1:]
            stop(process)
        finally:
            for each in processes:
                stop(each)

    print(f"\nRouter workers: wrk -c32 JSON POST, {DURATION} per cell; proxy on CPUs "
          f"{PROXY_CPUS}, wrk and upstream on CPU {LOAD_CPU}; {interpreter_line()}")  # fmt: skip
    print(f"{'case':36} {'req/s':>8} {'p50 µs':>7} {'p99 µs':>8} {'proxy CPU µs/req':>17} "
          f"{'wrk CPU µs/req':>15} {'RSS MiB':>8}  split (parent + worker + plugin ...)")  # fmt: skip
    for cell in [*rows, alone, with_slow]:
        print(
            f"{cell.name:36} {cell.run.rps:8.0f} {cell.run.p50_us:7.0f} {cell.run.p99_us:8.0f} "
            f"{cell.proxy_us:17.1f} {cell.wrk_us:15.1f} {cell.rss_mib:8.0f}  {cell.split}"
        )
    by = {cell.name: cell for cell in rows}
    one, two = by["turnout_router Go, 1 worker(s)"], by["turnout_router Go, 2 worker(s)"]
    n1, n2 = by["nginx, 1 worker(s)"], by["nginx, 2 worker(s)"]
    print(
        f"2 workers / 1: turnout {two.run.rps / one.run.rps:.2f}x, nginx {n2.run.rps / n1.run.rps:.2f}x"
        f"; turnout / nginx at 1 worker {one.run.rps / n1.run.rps:.2f}, at 2 {two.run.rps / n2.run.rps:.2f}"
    )
    print(
        f"slow callers: throughput {with_slow.run.rps / alone.run.rps:.2f}x of the load alone, "
        f"p99 {with_slow.run.p99_us / alone.run.p99_us:.2f}x, router CPU per request of the "
        f"load {with_slow.proxy_us / alone.proxy_us:.2f}x (the slow callers' work included); "
        f"router RSS {rss_before:.0f} → {rss_peak:.0f} MiB; slow clients (on CPU {LOAD_CPU}, "
        f"with wrk): {counts[0] if counts else 'no report'}"
    )


if __name__ == "__main__":
    main()
