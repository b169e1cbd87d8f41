"""A host process that starts a plugin, prints its pid, then waits to be killed."""

import asyncio
import sys

from plugin_host import PluginClient, PluginConfig


async def main() -> None:
    plugin = await PluginClient.start(PluginConfig(path=sys.argv[1]))
    print(plugin.process.pid, flush=True)
    await asyncio.sleep(3600)


asyncio.run(main())
