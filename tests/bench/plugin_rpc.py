"""GetTreatmentForRequest round trips: Python and Go hosts against Python and Go plugins.

Baseline: Go host -> Go plugin (go-plugin + Turing's own client and server code),
measured in the same run. Floor: a raw unix-socket echo of a small message.
Goal: Python host -> Go plugin p50 within 1.5x of the baseline.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from devenv.gopeers import HARDCODED_RUNNER_CONFIG_TEXT, locate
from devenv.zipapp import build_hardcoded_plugin
from plugin_host import PluginClient, PluginConfig
from tests.bench import memory
from tests.bench.stats import Result, from_go, summarize, table

CALLS = int(os.environ.get("BENCH_CALLS", "20000"))
WARMUP = 500
PAYLOAD = json.dumps({"client": {"id": 4}}).encode()


async def python_host(name: str, config: PluginConfig, calls: int) -> Result:
    plugin = await PluginClient.start(config)
    try:
        runner = await plugin.runner()
        await runner.configure(HARDCODED_RUNNER_CONFIG_TEXT)
        for _ in range(WARMUP):
            await runner.get_treatment_for_request({}, PAYLOAD)
        samples = []
        clock = time.perf_counter
        started = clock()
        for _ in range(calls):
            begin = clock()
            await runner.get_treatment_for_request({}, PAYLOAD)
            samples.append(clock() - begin)
        return summarize(name, samples, clock() - started)
    finally:
        await plugin.close()


def go_json(command: list[str]) -> dict[str, float]:
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    report: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return report


def go_host_bench(plugin: str) -> list[str]:
    """Turing's own client code driving `plugin`, as the Go side of the comparison."""
    request = json.dumps({"payload": {"client": {"id": 4}}})
    return [
        str(locate().plugin_host),
        "--plugin",
        plugin,
        "--runner-config",
        HARDCODED_RUNNER_CONFIG_TEXT,
        "bench",
        "--n",
        str(CALLS),
        "--concurrency",
        "1",
        "--request",
        request,
    ]


def build_python_plugin(directory: str) -> str:
    target = os.path.join(directory, "hardcoded")
    build_hardcoded_plugin(Path(target))
    return target


def main() -> None:
    peers = locate()
    with tempfile.TemporaryDirectory() as scratch:
        python_plugin = build_python_plugin(scratch)
        baseline = from_go(
            "Go host -> Go plugin (baseline)", go_json(go_host_bench(str(peers.hardcoded_plugin)))
        )
        go_to_python = from_go("Go host -> Python plugin", go_json(go_host_bench(python_plugin)))
        python_to_go = asyncio.run(
            python_host(
                "Python host -> Go plugin", PluginConfig(path=str(peers.hardcoded_plugin)), CALLS
            )
        )
        python_to_python = asyncio.run(
            python_host("Python host -> Python plugin", PluginConfig(path=python_plugin), CALLS)
        )
        floor = from_go(
            "raw unix-socket echo, 64 B (floor)",
            go_json([str(peers.echo_bench), "run", "--n", str(CALLS), "--size", "64"]),
        )
        rows = [baseline, python_to_go, python_to_python, go_to_python, floor]
        print(
            f"GetTreatmentForRequest round trips, sequential, {CALLS} calls each, "
            f"{os.cpu_count()} cores"
        )
        print(table(rows, baseline))
        ratio = python_to_go.p50_us / baseline.p50_us
        verdict = "meets" if ratio <= 1.5 else "misses"
        print(
            "goal: Python host -> Go plugin p50 within 1.5x of Go host -> Go plugin: "
            f"{ratio:.2f}x ({verdict})"
        )
        memory.main(str(peers.hardcoded_plugin), python_plugin)
