"""`make demo`: the plugin part of Turnout's flow, end to end, on this machine.

A Python host loads Turing's Go hardcoded plugin and the Python port of it,
asks each manager for a runner config, configures each runner and asks both for
treatments of the same units. The operator, which will run this flow on a local
control plane, does not exist yet: the demo says so and exits non-zero.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from devenv.gopeers import (
    HARDCODED_MANAGER_CONFIG,
    HARDCODED_ROUTER_EXPERIMENT_CONFIG,
    locate,
)
from devenv.zipapp import build_hardcoded_plugin
from plugin_host import PluginClient, PluginConfig


async def run_engine(label: str, path: str, units: list[int]) -> list[str]:
    async with await PluginClient.start(PluginConfig(path=path, call_timeout=10)) as plugin:
        manager = await plugin.manager()
        await manager.configure(HARDCODED_MANAGER_CONFIG)
        engine = await manager.get_engine_info()
        await manager.validate_experiment_config(HARDCODED_ROUTER_EXPERIMENT_CONFIG)
        runner_config = await manager.get_experiment_runner_config(
            HARDCODED_ROUTER_EXPERIMENT_CONFIG
        )
        runner = await plugin.runner()
        await runner.configure(runner_config)
        names = []
        for unit in units:
            payload = json.dumps({"client": {"id": unit}}).encode()
            treatment = await runner.get_treatment_for_request({}, payload)
            names.append(treatment.name)
        print(f"{label:28} engine={engine.name!r} pid={plugin.process.pid} treatments={names}")
        return names


def main() -> int:
    units = [1, 4, 7, 42, 1234, 99999]
    with tempfile.TemporaryDirectory() as scratch:
        python_plugin = str(Path(scratch) / "hardcoded")
        print(build_hardcoded_plugin(Path(python_plugin)), end="")
        go = asyncio.run(
            run_engine("Go plugin (Turing's code)", str(locate().hardcoded_plugin), units)
        )
        python = asyncio.run(run_engine("Python plugin (zipapp)", python_plugin, units))
    print("same treatments from both plugins:", go == python)
    print(
        "\nThe operator (Router CRD, reconcile, router pods) is not built yet; "
        "this demo covers the plugin host only.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
