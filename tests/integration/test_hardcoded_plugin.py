"""The hardcoded engine as shipped: the zipapp built by build.py, started as a real
plugin process and called through go-plugin's net/rpc protocol by `plugin_host`.

Expected answers are computed here independently (FNV-1a, float32 shares) or
are Turing's own vectors; the plugin's code is not imported.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from devenv.zipapp import build_hardcoded_plugin
from plugin_host import (
    Client,
    Engine,
    Experiment,
    PluginClient,
    PluginConfig,
    RemoteError,
    StandardExperimentManagerConfig,
    Treatment,
    Variable,
    Variant,
)

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = ROOT / "examples" / "plugins" / "hardcoded"
OPTIONS = (PLUGIN_DIR / "sample_engine_options.json").read_bytes()
EXPERIMENT_CONFIG = (PLUGIN_DIR / "sample_experiment_config.json").read_bytes()

NO_UNIT = "no experiment configured for the unit"

# GetExperimentRunnerConfig for the two samples, as Go's json.Marshal writes it.
RUNNER_CONFIG = (
    b'{"experiments":[{"id":"001","name":"exp_1","client_id":"",'
    b'"variants":[{"name":"control"},{"name":"treatment-1"}],'
    b'"segmentation_configuration":{"name":"client_id","source":"payload","value":"client.id"},'
    b'"variants_configuration":{"control":{"traffic":0.85,"treatment_configuration":'
    b'{"foo":"bar","route_name":"control"}},"treatment-1":{"traffic":0.15,"treatment_configuration":'
    b'{"bar":"baz","route_name":"treatment-1"}}}},'
    b'{"id":"002","name":"exp_2","client_id":"","variants":[{"name":"a"},{"name":"b"}],'
    b'"segmentation_configuration":{"name":"session_id","source":"header","value":"X-Session-Id"},'
    b'"variants_configuration":{"a":{"traffic":0.5005,"treatment_configuration":{"route_name":"route-a"}},'
    b'"b":{"traffic":0.4995,"treatment_configuration":{"route_name":"route-b"}}}}]}'
)

# Turing's runner_test.go config and cases (treatment configs come back with their spacing).
TURING_RUNNER_CONFIG = (
    b'{"experiments": [{"id": "001", "name": "exp_1",'
    b' "variants": [{"name": "control"}, {"name": "treatment-1"}],'
    b' "segmentation_configuration": {"name": "client_id", "source": "payload", "value": "client.id"},'
    b' "variants_configuration": {'
    b'"control": {"traffic": 0.85, "treatment_configuration": {"foo": "bar"}},'
    b' "treatment-1": {"traffic": 0.15, "treatment_configuration": {"bar": "baz"}}}}]}'
)
TURING_CASES = [
    (b'{"client": {"id": 4}}', Treatment("exp_1", "control", b'{"foo": "bar"}')),
    (b'{"client": {"id": 7}}', Treatment("exp_1", "treatment-1", b'{"bar": "baz"}')),
]


# ----- an independent reference for the sample configs -----


def _fnv1a(data: bytes) -> int:
    value = 2166136261
    for byte in data:
        value = ((value ^ byte) * 16777619) % 2**32
    return value


def _float32(x: float) -> float:
    result: float = struct.unpack("f", struct.pack("f", x))[0]
    return result


SAMPLE_EXPERIMENTS = [
    # (experiment, where the unit is, variants largest first with treatment configs)
    (
        "exp_1",
        ("payload", "client"),
        [
            ("control", 0.85, b'{"foo":"bar","route_name":"control"}'),
            ("treatment-1", 0.15, b'{"bar":"baz","route_name":"treatment-1"}'),
        ],
    ),
    (
        "exp_2",
        ("header", "X-Session-Id"),
        [("a", 0.5005, b'{"route_name":"route-a"}'), ("b", 0.4995, b'{"route_name":"route-b"}')],
    ),
]


def expected_treatment(header: dict[str, list[str]], payload: dict[str, object]) -> Treatment:
    for experiment, (source, key), variants in SAMPLE_EXPERIMENTS:
        if source == "payload":
            client = payload.get(key)
            if not isinstance(client, dict) or "id" not in client:
                continue
            unit = json.dumps(client["id"]).strip('"').encode()
        else:
            if not header.get(key):
                continue
            unit = ",".join(header[key]).encode()
        bucket = _fnv1a(unit) % 10000
        total = 0
        for name, traffic, config in variants:
            total += int(_float32(_float32(traffic) * 10000))
            if bucket <= total:
                return Treatment(experiment, name, config)
    raise AssertionError("every sample request has a unit")


# ----- fixtures -----


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("hardcoded-plugin") / "hardcoded"
    build_hardcoded_plugin(output)
    return output


def plugin_config(path: Path) -> PluginConfig:
    # `#!/usr/bin/env python3` must find a Python >= 3.11: put this interpreter's first.
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return PluginConfig(path=str(path), env={"PATH": search}, call_timeout=20)


# ----- the file -----


def test_build_is_a_reproducible_executable_zipapp(tmp_path: Path) -> None:
    first, second = tmp_path / "one" / "hardcoded", tmp_path / "two" / "hardcoded"
    printed = build_hardcoded_plugin(first)
    build_hardcoded_plugin(second)
    data = first.read_bytes()
    assert data == second.read_bytes()
    assert data.startswith(b"#!/usr/bin/env python3\n")
    assert os.access(first, os.X_OK)
    assert first.stat().st_mode & 0o777 == 0o755
    assert hashlib.sha256(data).hexdigest() in printed
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
    assert names == sorted(names[:1]) + sorted(names[1:])
    assert "__main__.py" in names
    assert {"hardcoded/__init__.py", "hardcoded/__main__.py", "hardcoded/runner.py"} <= set(names)
    assert {"plugin_host/__init__.py", "plugin_host/server.py", "plugin_host/gob.py"} <= set(names)
    assert not [name for name in names if name.endswith(".pyc") or "__pycache__" in name]


def test_started_by_hand_it_says_it_is_a_plugin(plugin_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "EXPERIMENTS_PLUGIN"}
    env["PATH"] = plugin_config(plugin_path).env["PATH"]
    done = subprocess.run(
        [str(plugin_path)], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 1
    assert "This binary is a plugin" in done.stderr


# ----- manager -----


async def test_manager_before_configure(plugin_path: Path) -> None:
    async with await PluginClient.start(plugin_config(plugin_path)) as plugin:
        manager = await plugin.manager()
        assert await manager.is_cache_enabled() is True
        assert await manager.list_experiments() == []
        assert await manager.list_variables_for_experiments([Experiment(id="001")]) == {}
        with pytest.raises(RemoteError, match="not configured"):
            await manager.get_engine_info()
        with pytest.raises(RemoteError, match="not configured"):
            await manager.validate_experiment_config(EXPERIMENT_CONFIG)


async def test_manager_methods(plugin_path: Path) -> None:
    async with await PluginClient.start(plugin_config(plugin_path)) as plugin:
        manager = await plugin.manager()
        await manager.configure(OPTIONS)

        assert await manager.get_engine_info() == Engine(
            name="hardcoded",
            display_name="Hardcoded (example)",
            type="standard",
            standard_experiment_manager_config=StandardExperimentManagerConfig(
                client_selection_enabled=False,
                experiment_selection_enabled=True,
                home_page_url="",
            ),
            custom_experiment_manager_config=None,
        )
        await manager.validate_experiment_config(EXPERIMENT_CONFIG)
        assert await manager.get_experiment_runner_config(EXPERIMENT_CONFIG) == RUNNER_CONFIG
        assert await manager.is_cache_enabled() is True
        assert await manager.list_clients() == []

        experiments = [
            Experiment(
                id="001", name="exp_1", variants=[Variant("control"), Variant("treatment-1")]
            ),
            Experiment(id="002", name="exp_2", variants=[Variant("a"), Variant("b")]),
        ]
        assert await manager.list_experiments() == experiments
        assert (
            await manager.list_experiments_for_client(Client(id="1", username="u")) == experiments
        )
        assert await manager.list_variables_for_client(Client(id="1", username="u")) == []
        assert await manager.list_variables_for_experiments(
            [Experiment(id="002"), Experiment(id="404")]
        ) == {"002": [Variable(name="session_id", required=True, type="unit")]}


async def test_manager_errors(plugin_path: Path) -> None:
    async with await PluginClient.start(plugin_config(plugin_path)) as plugin:
        manager = await plugin.manager()
        await manager.configure(OPTIONS)

        async def error_of(call: object) -> str:
            with pytest.raises(RemoteError) as caught:
                await call  # type: ignore[misc]
            return caught.value.message

        # A failed Configure answers Go's JSON error and keeps the previous options.
        assert await error_of(manager.configure(b'{"engine": {"name": 1}}')) == (
            "json: cannot unmarshal number into Go struct field Engine.engine.name of type string"
        )
        assert await error_of(manager.configure(b'{"engine": ')) == "unexpected end of JSON input"
        assert (await manager.get_engine_info()).name == "hardcoded"

        assert await error_of(manager.validate_experiment_config({"experiments": []})) == (
            "Expected at least 1 experiment in the configuration"
        )
        assert await error_of(
            manager.validate_experiment_config(
                {
                    "experiments": [{"id": "001", "name": "exp_1"}],
                    "variables": {
                        "config": [{"name": "u", "required": True, "field_source": "cookie"}]
                    },
                }
            )
        ) == (
            "Key: 'TuringExperimentConfig.Variables.Config[0].Field' Error:Field validation for"
            " 'Field' failed on the 'required_with' tag\n"
            "Key: 'TuringExperimentConfig.Variables.Config[0].FieldSource' Error:Field validation for"
            " 'FieldSource' failed on the 'field-src' tag"
        )
        assert await error_of(manager.validate_experiment_config(b"{,}")) == (
            "invalid character ',' looking for beginning of object key string"
        )
        assert await error_of(manager.get_experiment_runner_config(b'{"experiments": {}}')) == (
            "json: cannot unmarshal object into Go struct field TuringExperimentConfig.experiments"
            " of type []manager.Experiment"
        )

        # A manager without a standard config cannot validate.
        await manager.configure({"engine": {"name": "bare", "type": "standard"}})
        assert await error_of(manager.validate_experiment_config(EXPERIMENT_CONFIG)) == (
            "Missing Standard Engine configuration"
        )


# ----- runner -----


async def test_runner_methods_and_errors(plugin_path: Path) -> None:
    async with await PluginClient.start(plugin_config(plugin_path)) as plugin:
        runner = await plugin.runner()
        with pytest.raises(RemoteError) as caught:
            await runner.get_treatment_for_request({}, b'{"client": {"id": 4}}')
        assert caught.value.message == NO_UNIT

        with pytest.raises(RemoteError) as caught:
            await runner.configure(
                b'{"experiments": [{"variants_configuration": {"a": {"traffic": "x"}}}]}'
            )
        assert caught.value.message == (
            "json: cannot unmarshal string into Go struct field TreatmentConfig.experiments"
            ".variants_configuration.traffic of type float32"
        )

        await runner.configure(TURING_RUNNER_CONFIG)
        for payload, expected in TURING_CASES:
            assert await runner.get_treatment_for_request({}, payload) == expected

        await runner.configure(RUNNER_CONFIG)
        assert await runner.get_treatment_for_request({}, b'{"client": {"id": 492}}') == Treatment(
            "exp_1", "control", b'{"foo":"bar","route_name":"control"}'
        )
        assert await runner.get_treatment_for_request(
            {"X-Session-Id": ["session-10794"]}, b"{}"
        ) == Treatment("exp_2", "a", b'{"route_name":"route-a"}')  # bucket 5005: float32 share
        assert (
            await runner.get_treatment_for_request({"X-Session-Id": ["session-1322"]}, b"not json")
        ).name == "b"
        with pytest.raises(RemoteError) as caught:
            await runner.get_treatment_for_request({"X-Other": ["1"]}, b'{"client": {}}')
        assert caught.value.message == NO_UNIT


async def test_concurrent_treatments_each_get_their_own_answer(plugin_path: Path) -> None:
    requests: list[tuple[dict[str, list[str]], dict[str, object]]] = []
    for index in range(64):
        if index % 3 == 0:
            requests.append(({"X-Session-Id": [f"session-{index * 131}"]}, {}))
        elif index % 3 == 1:
            requests.append(({}, {"client": {"id": index * 7919}}))
        else:  # both: the payload's experiment comes first
            requests.append(({"X-Session-Id": [f"s{index}"]}, {"client": {"id": f"user-{index}"}}))
    requests[0] = ({"X-Session-Id": ["session-10794"]}, {})
    requests[1] = ({}, {"client": {"id": 10076}})

    async with await PluginClient.start(plugin_config(plugin_path)) as plugin:
        manager = await plugin.manager()
        await manager.configure(OPTIONS)
        runner = await plugin.runner()
        await runner.configure(await manager.get_experiment_runner_config(EXPERIMENT_CONFIG))
        answers = await asyncio.gather(
            *(
                runner.get_treatment_for_request(header, json.dumps(payload).encode())
                for header, payload in requests
            )
        )

    expected = [expected_treatment(header, payload) for header, payload in requests]
    assert answers == expected
    assert {answer.name for answer in answers} == {"control", "treatment-1", "a", "b"}
