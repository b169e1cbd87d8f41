"""Memory: resident size of a plugin process, and what each connected plugin costs the host."""

from __future__ import annotations

import asyncio
import resource
from pathlib import Path

from devenv.gopeers import HARDCODED_RUNNER_CONFIG_TEXT
from plugin_host import PluginClient, PluginConfig

PLUGINS_PER_RUN = 8


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def measure(label: str, path: str) -> str:
    before = rss_kib()
    plugins = [await PluginClient.start(PluginConfig(path=path)) for _ in range(PLUGINS_PER_RUN)]
    try:
        for plugin in plugins:
            runner = await plugin.runner()
            await runner.configure(HARDCODED_RUNNER_CONFIG_TEXT)
            for _ in range(200):
                await runner.get_treatment_for_request({}, b'{"client": {"id": 4}}')
        host_per_plugin = (rss_kib() - before) / PLUGINS_PER_RUN
        plugin_rss = sum(rss_kib(plugin.process.pid) for plugin in plugins) / PLUGINS_PER_RUN
    finally:
        for plugin in plugins:
            await plugin.close()
    return f"{label:34} plugin RSS {plugin_rss / 1024:7.1f} MiB   host cost per plugin {host_per_plugin:7.0f} KiB"


def main(go_plugin: str, python_plugin: str) -> None:
    print(f"\nMemory, {PLUGINS_PER_RUN} plugins at once, each configured and called 200 times")
    print(asyncio.run(measure("Go hardcoded plugin", go_plugin)))
    print(asyncio.run(measure("Python hardcoded plugin (zipapp)", python_plugin)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"host process peak RSS over the whole benchmark: {peak / 1024:.1f} MiB")
