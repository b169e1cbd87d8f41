"""Turnout's Python host against the Go hardcoded plugin served by Turing's own plugin/rpc code."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest

from devenv.gopeers import (
    HARDCODED_MANAGER_CONFIG,
    HARDCODED_ROUTER_EXPERIMENT_CONFIG,
    HARDCODED_RUNNER_CONFIG_TEXT,
    HARDCODED_TREATMENT_CASES,
    GoPeers,
)
from plugin_host import (
    Client,
    Experiment,
    GetTreatmentOptions,
    PluginClient,
    PluginConfig,
    RemoteError,
    RunnerClient,
)

pytestmark = pytest.mark.interop


@pytest.fixture
async def go_plugin(gopeers: GoPeers) -> AsyncIterator[PluginClient]:
    plugin = await PluginClient.start(
        PluginConfig(path=str(gopeers.hardcoded_plugin), call_timeout=10)
    )
    yield plugin
    await plugin.close()


async def configured_runner(
    plugin: PluginClient, config: str = HARDCODED_RUNNER_CONFIG_TEXT
) -> RunnerClient:
    runner = await plugin.runner()
    await runner.configure(config)
    return runner


async def test_ping_and_every_manager_method(go_plugin: PluginClient) -> None:
    await go_plugin.ping()
    manager = await go_plugin.manager()
    await manager.configure(HARDCODED_MANAGER_CONFIG)

    engine = await manager.get_engine_info()
    assert (engine.name, engine.display_name, engine.type) == (
        "plugin-example",
        "Plugin Example",
        "standard",
    )
    assert engine.standard_experiment_manager_config is not None
    assert engine.standard_experiment_manager_config.experiment_selection_enabled is True
    assert engine.custom_experiment_manager_config is None

    await manager.validate_experiment_config(HARDCODED_ROUTER_EXPERIMENT_CONFIG)
    runner_config = json.loads(
        await manager.get_experiment_runner_config(HARDCODED_ROUTER_EXPERIMENT_CONFIG)
    )
    assert runner_config["experiments"][0]["name"] == "exp_1"
    assert runner_config["experiments"][0]["segmentation_configuration"]["value"] == "client.id"

    assert await manager.is_cache_enabled() is True  # BaseStandardExperimentManager says so
    assert await manager.list_clients() == []
    experiments = await manager.list_experiments()
    assert [(e.id, e.name, [v.name for v in e.variants]) for e in experiments] == [
        ("001", "exp_1", ["control", "treatment-1"])
    ]
    assert [e.name for e in await manager.list_experiments_for_client(Client(id="c1"))] == ["exp_1"]
    assert await manager.list_variables_for_client(Client(id="c1")) == []
    variables = await manager.list_variables_for_experiments([Experiment(id="001")])
    assert [(v.name, v.required, v.type) for v in variables["001"]] == [("client", True, "unit")]


def go_host_error(gopeers: GoPeers, *call: str) -> str:
    """The error text Turing's own client code gets from the Go plugin for one manager call."""
    completed = subprocess.run(
        [
            *(str(gopeers.plugin_host), "--plugin", str(gopeers.hardcoded_plugin)),
            *("--manager-config", json.dumps(HARDCODED_MANAGER_CONFIG), "call", *call),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    [answer] = [json.loads(line) for line in completed.stdout.splitlines()]
    assert answer["ok"] is False, answer
    error: str = answer["error"]
    return error


async def test_manager_errors_come_back_as_remote_errors(
    gopeers: GoPeers, go_plugin: PluginClient
) -> None:
    manager = await go_plugin.manager()
    await manager.configure(HARDCODED_MANAGER_CONFIG)
    with pytest.raises(RemoteError) as caught:
        await manager.validate_experiment_config({"experiments": "not-a-list"})
    # Turing's own text, passed through unchanged: what the Go host gets for the same call.
    go_text = go_host_error(
        gopeers, "manager.ValidateExperimentConfig", json.dumps({"experiments": "not-a-list"})
    )
    assert go_text == (
        "json: cannot unmarshal string into Go struct field "
        "TuringExperimentConfig.experiments of type []manager.Experiment"
    )
    assert caught.value.message == go_text
    assert caught.value.method == "Plugin.ValidateExperimentConfig"
    assert str(caught.value) == f"Plugin.ValidateExperimentConfig: {go_text}"
    # The connection is still good after a plugin-level error.
    assert (await manager.get_engine_info()).name == "plugin-example"


async def test_unknown_plugin_name_is_refused(go_plugin: PluginClient) -> None:
    with pytest.raises(RemoteError, match="unknown plugin type: nope"):
        await go_plugin.dispense("nope")


@pytest.mark.parametrize(("payload", "expected"), HARDCODED_TREATMENT_CASES)
async def test_treatments_match_turing_vectors(
    go_plugin: PluginClient, payload: str, expected: tuple[str, str, str] | str
) -> None:
    runner = await configured_runner(go_plugin)
    options = GetTreatmentOptions(turing_request_id="req-1")
    if isinstance(expected, str):
        with pytest.raises(RemoteError, match=expected):
            await runner.get_treatment_for_request({}, payload.encode(), options)
        return
    treatment = await runner.get_treatment_for_request({}, payload.encode(), options)
    assert (treatment.experiment_name, treatment.name, treatment.config.decode()) == expected


async def test_64_concurrent_calls_on_one_connection(go_plugin: PluginClient) -> None:
    runner = await configured_runner(go_plugin)
    units = list(range(64))

    async def ask(unit: int) -> str:
        treatment = await runner.get_treatment_for_request(
            {}, json.dumps({"client": {"id": unit}}).encode()
        )
        return treatment.name

    concurrent = await asyncio.gather(*(ask(unit) for unit in units))
    sequential = [await ask(unit) for unit in units]
    assert concurrent == sequential
    assert {"control", "treatment-1"} == set(concurrent)


async def test_many_plugins_at_once(gopeers: GoPeers) -> None:
    plugins = await asyncio.gather(
        *(PluginClient.start(PluginConfig(path=str(gopeers.hardcoded_plugin))) for _ in range(4))
    )
    try:
        await asyncio.gather(*(plugin.ping() for plugin in plugins))
        assert len({plugin.process.pid for plugin in plugins}) == 4
    finally:
        await asyncio.gather(*(plugin.close() for plugin in plugins))


async def test_close_quits_the_plugin(gopeers: GoPeers) -> None:
    plugin = await PluginClient.start(PluginConfig(path=str(gopeers.hardcoded_plugin)))
    code = await plugin.close()
    assert plugin.process.exited
    # Quit, not SIGKILL, ended it: Turing's plugin returns from Serve and exits 0.
    assert code == 0


def random_payloads(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"client": {"id": rng.randrange(10**9)}} for _ in range(count)]
