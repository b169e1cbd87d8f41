"""A Go host using Turing's own plugin/rpc client code, loading the Python hardcoded plugin.

The same calls go to the Go port (served by Turing's own code) and to the Python
plugin; the answers must be identical, errors included.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devenv.gopeers import (
    HARDCODED_MANAGER_CONFIG,
    HARDCODED_ROUTER_EXPERIMENT_CONFIG,
    HARDCODED_RUNNER_CONFIG_TEXT,
    GoPeers,
)
from devenv.zipapp import build_hardcoded_plugin
from plugin_host import PluginClient, PluginConfig, RemoteError
from tests.allocation_reference import (
    EDGE_TRAFFIC,
    NO_VARIANT,
    TURING_TRAFFIC,
    edge_cases,
    runner_config,
)

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def python_plugin(tmp_path_factory: pytest.TempPathFactory) -> str:
    target = tmp_path_factory.mktemp("plugins") / "hardcoded"
    build_hardcoded_plugin(target)
    return str(target)


def run_go_host(
    gopeers: GoPeers, plugin: str, script: list[dict[str, Any]], *extra: str
) -> list[dict[str, Any]]:
    lines = "".join(json.dumps(call) + "\n" for call in script)
    completed = subprocess.run(
        [
            str(gopeers.plugin_host),
            "--plugin",
            plugin,
            "--timeout",
            "20s",
            *extra,
            "call",
            "--script",
            "-",
        ],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
    )
    answers = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    for answer in answers:
        answer.pop("us", None)
    return [answer for answer in answers if "call" in answer]


EVERY_METHOD: list[dict[str, Any]] = [
    {"call": "plugin.Ping"},
    {"call": "manager.Configure", "arg": HARDCODED_MANAGER_CONFIG},
    {"call": "manager.GetEngineInfo"},
    {"call": "manager.IsCacheEnabled"},
    {"call": "manager.ListClients"},
    {"call": "manager.ListExperiments"},
    {"call": "manager.ListExperimentsForClient", "arg": {"ID": "c1", "Username": "u"}},
    {"call": "manager.ListVariablesForClient", "arg": {"ID": "c1"}},
    {"call": "manager.ListVariablesForExperiments", "arg": [{"ID": "001"}, {"ID": "nope"}]},
    {"call": "manager.ValidateExperimentConfig", "arg": HARDCODED_ROUTER_EXPERIMENT_CONFIG},
    {"call": "manager.ValidateExperimentConfig", "arg": {"experiments": "not-a-list"}},
    {"call": "manager.ValidateExperimentConfig", "arg_text": "{not json"},
    {"call": "manager.GetExperimentRunnerConfig", "arg": HARDCODED_ROUTER_EXPERIMENT_CONFIG},
    {"call": "manager.GetExperimentRunnerConfig", "arg_text": "[]"},
    {"call": "runner.Configure", "arg_text": HARDCODED_RUNNER_CONFIG_TEXT},
    {
        "call": "runner.GetTreatmentForRequest",
        "arg": {"payload": {"client": {"id": 4}}, "requestId": "r1"},
    },
    {"call": "runner.GetTreatmentForRequest", "arg": {"payload": {"client": {"id": 7}}}},
    {"call": "runner.GetTreatmentForRequest", "arg": {"payload": {"client": {"id": "abc"}}}},
    {"call": "runner.GetTreatmentForRequest", "arg": {"payload": {}}},
    {"call": "runner.GetTreatmentForRequest", "arg": {"payload": "not json"}},
    {"call": "runner.Configure", "arg_text": "{broken"},
]


def test_every_method_answers_exactly_like_the_go_plugin(
    gopeers: GoPeers, python_plugin: str
) -> None:
    from_go = run_go_host(gopeers, str(gopeers.hardcoded_plugin), EVERY_METHOD)
    from_python = run_go_host(gopeers, python_plugin, EVERY_METHOD)
    assert len(from_go) == len(EVERY_METHOD)
    assert from_python == from_go
    by_call = {answer["i"]: answer for answer in from_python}
    assert by_call[2]["result"]["name"] == "plugin-example"
    assert by_call[15]["ok"] and by_call[15]["result"]["Name"] == "control"
    assert by_call[15]["config_text"] == '{"foo": "bar"}'
    assert by_call[16]["result"]["Name"] == "treatment-1"
    assert by_call[18] == {
        **by_call[18],
        "ok": False,
        "error": "no experiment configured for the unit",
    }
    assert not by_call[10]["ok"] and not by_call[20]["ok"]


PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


def run_go_host_events(
    gopeers: GoPeers, plugin: str, script: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every line the Go host prints, call answers and collector events alike, in order."""
    lines = "".join(json.dumps(call) + "\n" for call in script)
    completed = subprocess.run(
        [
            str(gopeers.plugin_host),
            *("--plugin", plugin, "--timeout", "20s", "--connect", "broker"),
            *("call", "--script", "-"),
        ],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def metrics_plugin(tmp_path_factory: pytest.TempPathFactory) -> str:
    # The Go host starts a plugin with no arguments: a script that runs ours.
    launcher = tmp_path_factory.mktemp("plugins") / "metrics-plugin"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} {PLUGINS / 'metrics_plugin.py'}\n")
    launcher.chmod(0o755)
    return str(launcher)


def test_python_plugin_dials_back_the_go_hosts_collector_and_its_calls_arrive(
    gopeers: GoPeers, metrics_plugin: str
) -> None:
    script = [
        {"call": "runner.RegisterMetricsCollector"},
        {"call": "runner.GetTreatmentForRequest", "arg": {"payload": {}}},
    ]
    lines = run_go_host_events(gopeers, metrics_plugin, script)
    for line in lines:
        line.pop("us", None)
        if isinstance(line.get("request"), dict):
            line["request"].pop("ElapsedMs", None)  # depends on the clock
    # What the Go host's collector and registration helper received, as Go printed it.
    assert lines == [
        {
            "event": "helper.Register",
            "request": [
                {
                    "Name": "treatments_total",
                    "Type": "counter",
                    "Description": "Treatments given",
                    "Labels": ["experiment", "treatment"],
                    "Buckets": None,
                },
                {
                    "Name": "latency_ms",
                    "Type": "histogram",
                    "Description": "",
                    "Labels": ["experiment"],
                    "Buckets": [0.5, 1, 2.5],
                },
            ],
        },
        {
            "event": "collector.RecordGauge",
            "request": {"Key": "ready", "Value": 0.25, "Labels": {"plugin": "metrics"}},
        },
        {"i": 0, "call": "runner.RegisterMetricsCollector", "ok": True, "result": None},
        {
            "event": "collector.Inc",
            "request": {"Key": "treatments_total", "Labels": {"experiment": "e", "treatment": "t"}},
        },
        {
            "event": "collector.MeasureDurationMsSince",
            "request": {
                "Key": "latency_ms",
                "Starttime": "2031-07-08T09:10:11.123456+05:30",
                "Labels": {"experiment": "e"},
            },
        },
        {
            "i": 1,
            "call": "runner.GetTreatmentForRequest",
            "ok": True,
            "result": {"ExperimentName": "e", "Name": "t", "Config": {}},
            "config_text": "{}",
        },
    ]


def test_hardcoded_python_plugin_accepts_the_go_hosts_collector(
    gopeers: GoPeers, python_plugin: str
) -> None:
    script = [
        {"call": "runner.Configure", "arg_text": HARDCODED_RUNNER_CONFIG_TEXT},
        {"call": "runner.RegisterMetricsCollector"},
        {"call": "runner.GetTreatmentForRequest", "arg": {"payload": {"client": {"id": 4}}}},
    ]
    answers = run_go_host(gopeers, python_plugin, script, "--connect", "broker")
    assert [answer["ok"] for answer in answers] == [True, True, True], answers


def unit_script(
    units: list[int], config: str = HARDCODED_RUNNER_CONFIG_TEXT
) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = [{"call": "runner.Configure", "arg_text": config}]
    calls += [
        {"call": "runner.GetTreatmentForRequest", "arg": {"payload": {"client": {"id": unit}}}}
        for unit in units
    ]
    return calls


def test_random_units_get_the_same_treatments_from_both_plugins(
    gopeers: GoPeers, python_plugin: str
) -> None:
    rng = random.Random(20261128)
    units = [rng.randrange(10**12) for _ in range(1500)]
    from_go = run_go_host(gopeers, str(gopeers.hardcoded_plugin), unit_script(units))
    from_python = run_go_host(gopeers, python_plugin, unit_script(units))
    assert from_python == from_go
    names = {answer["result"]["Name"] for answer in from_go[1:]}
    assert names == {"control", "treatment-1"}  # both branches of the allocation are exercised


EDGE_CONFIGS = pytest.mark.parametrize(
    "traffic", [TURING_TRAFFIC, EDGE_TRAFFIC], ids=["turing-shares", "float32-edge-shares"]
)


@EDGE_CONFIGS
def test_go_host_gets_the_same_treatments_on_every_variant_edge(
    gopeers: GoPeers, python_plugin: str, traffic: dict[str, float]
) -> None:
    # Units in each variant's last bucket and the buckets on either side, found
    # with a reference written apart from the plugin; Go's plugin is the judge.
    cases = edge_cases(traffic)
    script = unit_script([unit for _, unit, _ in cases], runner_config(traffic))
    from_go = run_go_host(gopeers, str(gopeers.hardcoded_plugin), script)
    from_python = run_go_host(gopeers, python_plugin, script)
    expected = [
        {"ok": False, "error": NO_VARIANT}
        if name is None
        else {"ok": True, "name": name, "config_text": json.dumps({"variant": name})}
        for _, _, name in cases
    ]

    def answers(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert raw[0]["ok"], raw[0]  # Configure
        return [
            {"ok": False, "error": answer["error"]}
            if not answer["ok"]
            else {
                "ok": True,
                "name": answer["result"]["Name"],
                "config_text": answer["config_text"],
            }
            for answer in raw[1:]
        ]

    assert answers(from_go) == expected
    assert answers(from_python) == expected
    assert from_python == from_go


@EDGE_CONFIGS
async def test_python_host_gets_the_same_treatments_on_every_variant_edge(
    gopeers: GoPeers, python_plugin: str, traffic: dict[str, float]
) -> None:
    cases = edge_cases(traffic)

    async def treatments(path: str) -> list[str | None]:
        async with await PluginClient.start(PluginConfig(path=path)) as plugin:
            runner = await plugin.runner()
            await runner.configure(runner_config(traffic).encode())
            names: list[str | None] = []
            for _, unit, _ in cases:
                payload = json.dumps({"client": {"id": unit}}).encode()
                try:
                    treatment = await runner.get_treatment_for_request({}, payload)
                except RemoteError as exc:
                    assert exc.message == NO_VARIANT
                    names.append(None)
                else:
                    assert treatment.config == json.dumps({"variant": treatment.name}).encode()
                    names.append(treatment.name)
            return names

    expected = [name for _, _, name in cases]
    assert await treatments(str(gopeers.hardcoded_plugin)) == expected
    assert await treatments(python_plugin) == expected


async def test_python_host_sees_the_same_treatments_from_both_plugins(
    gopeers: GoPeers, python_plugin: str
) -> None:
    rng = random.Random(7)
    payloads = [
        json.dumps({"client": {"id": str(rng.randrange(10**9))}}).encode() for _ in range(1000)
    ]

    async def treatments(path: str) -> list[tuple[str, str, bytes]]:
        async with await PluginClient.start(PluginConfig(path=path)) as plugin:
            runner = await plugin.runner()
            await runner.configure(HARDCODED_RUNNER_CONFIG_TEXT)
            answers = await asyncio.gather(
                *(runner.get_treatment_for_request({}, p) for p in payloads)
            )
            return [(t.experiment_name, t.name, t.config) for t in answers]

    assert await treatments(python_plugin) == await treatments(str(gopeers.hardcoded_plugin))


async def test_zipapp_runs_on_a_bare_system_python(python_plugin: str) -> None:
    # No virtualenv, no inherited environment: PATH is /bin:/usr/bin, so the
    # shebang finds the system python3, which has none of the project installed.
    config = PluginConfig(path=python_plugin, inherit_env=False)
    async with await PluginClient.start(config) as plugin:
        runner = await plugin.runner()
        await runner.configure(HARDCODED_RUNNER_CONFIG_TEXT)
        treatment = await runner.get_treatment_for_request({}, b'{"client": {"id": 4}}')
        assert treatment.name == "control"
        interpreter = Path(f"/proc/{plugin.process.pid}/exe").resolve()
        assert interpreter != Path(sys.executable).resolve()  # not the test's own Python


def test_go_host_reaches_the_python_plugin_over_tcp(gopeers: GoPeers, python_plugin: str) -> None:
    # The Go host passes its environment on; the plugin's debug log names its address.
    env = {**os.environ, "PLUGIN_TRANSPORT": "tcp", "TURNOUT_PLUGIN_LOG_LEVEL": "debug"}
    completed = subprocess.run(
        [
            str(gopeers.plugin_host),
            "--plugin",
            python_plugin,
            "--log-level",
            "debug",
            "call",
            "runner.Configure",
            HARDCODED_RUNNER_CONFIG_TEXT,
            "runner.GetTreatmentForRequest",
            json.dumps({"payload": {"client": {"id": 7}}}),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    answers = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    assert answers[1]["ok"] and answers[1]["result"]["Name"] == "treatment-1", completed.stderr
    assert '"network": "tcp"' in completed.stderr and '"address": "127.0.0.1:' in completed.stderr
