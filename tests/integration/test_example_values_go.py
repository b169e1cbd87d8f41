"""Each example values file's engine options, handed to Turing's Go plugin itself.

The Go hardcoded plugin is what a platform team deploys from the example file; its
Configure refused the file's `hardcoded` options once (`json: cannot unmarshal object
into Go struct field ManagerConfig.variables of type []manager.Variable`), which only a
real node showed. Here each engine's options go through Configure, then the manager
lists the experiments the file names.
"""

from __future__ import annotations

from typing import Any

import pytest

from devenv.gopeers import GoPeers
from plugin_host import PluginClient, PluginConfig
from tests.example_values import example_engines

pytestmark = pytest.mark.interop

ENGINES = example_engines()


@pytest.mark.parametrize(
    ("path", "name", "options"), ENGINES, ids=[f"{p}:{n}" for p, n, _ in ENGINES]
)
async def test_the_go_plugin_accepts_the_example_options(
    gopeers: GoPeers, path: str, name: str, options: Any
) -> None:
    plugin = await PluginClient.start(
        PluginConfig(path=str(gopeers.hardcoded_plugin), call_timeout=10)
    )
    try:
        manager = await plugin.manager()
        await manager.configure(options)
        assert (await manager.get_engine_info()).name == name
        listed = {experiment.id for experiment in await manager.list_experiments()}
        assert listed == {str(e["id"]) for e in options.get("experiments") or []}
    finally:
        await plugin.close()
