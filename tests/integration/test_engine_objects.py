"""ExperimentEngine objects: what the operator publishes per engine, and what it never shows.

Real operator processes, real plugins (the Python example with passkey-carrying
clients, and the Go port of Turing's example built from Turing's own module), a
real API server. Expected catalogues come from the engine options the test wrote,
not from the code under test.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devenv.cluster import Cluster
from devenv.gopeers import HARDCODED_MANAGER_CONFIG
from devenv.operator import Engine, wait_for
from devenv.procs import child_pids
from tests.substrate.fixtures import admin_login
from tests.substrate.operator_fixtures import ENGINE_OPTIONS, OperatorHarness
from turnout_operator.engines.objects import EngineObjects
from turnout_operator.engines.registry import EngineRegistry
from turnout_operator.kube.client import Kube

pytestmark = pytest.mark.cluster

PASSKEYS = ("pk-Zq8wLr4mT1", "pk-Hv2sXc9nB7")
CLIENTS = [
    {"id": "client-b", "username": "bob", "passkey": PASSKEYS[1]},
    {"id": "client-a", "username": "alice", "passkey": PASSKEYS[0]},
]
IMAGE = "ghcr.io/example/passkey-plugin:1.2.3"


def passkey_options() -> dict[str, Any]:
    options: dict[str, Any] = copy.deepcopy(ENGINE_OPTIONS)
    options["clients"] = CLIENTS
    return options


@pytest.fixture
def engine_names(operators: OperatorHarness) -> Iterator[list[str]]:
    """Unique engine names for the test; their cluster-scoped objects are deleted after."""
    names: list[str] = []
    yield names
    for name in names:
        operators.cluster.kubectl("delete", "experimentengine", name, "--ignore-not-found")


def engine_object(operators: OperatorHarness, name: str) -> dict[str, Any] | None:
    result = operators.cluster.kubectl("get", "experimentengine", name, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def wait_engine(
    operators: OperatorHarness, name: str, predicate: Any, what: str, timeout: float = 120
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body = engine_object(operators, name)
        return body if body and predicate(body.get("status", {})) else None

    found: dict[str, Any] = wait_for(check, timeout, f"{name}: {what}", operators.operator)
    return found


def ready(status: dict[str, Any]) -> str | None:
    for condition in status.get("conditions", []):
        if condition["type"] == "Ready":
            return str(condition["status"])
    return None


def plugin_pid(operator_pid: int, binary_name: str) -> int:
    for pid in child_pids(operator_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f"/plugins/{binary_name}" in cmdline or "passkey_plugin.py" in cmdline:
            return pid
    raise AssertionError(f"no plugin process {binary_name} under {operator_pid}")


def test_engine_objects_show_info_and_catalogue_but_no_passkey(
    operators: OperatorHarness, engine_crd: str, passkey_plugin: Path, engine_names: list[str]
) -> None:
    suffix = secrets.token_hex(3)
    python_name, go_name = f"pk-{suffix}", f"go-{suffix}"
    engine_names += [python_name, go_name]
    operators.start(
        Engine(python_name, passkey_plugin, passkey_options(), image=IMAGE),
        operators.go_engine(go_name),
        env={"TURNOUT_ENGINE_REFRESH_SECONDS": "2"},
    )
    body = wait_engine(
        operators, python_name, lambda s: ready(s) == "True" and "experiments" in s, "catalogue"
    )
    status = body["status"]
    expected_engine = ENGINE_OPTIONS["engine"]
    assert status["engineInfo"] == {
        "name": expected_engine["name"],
        "displayName": expected_engine["display_name"],
        "type": expected_engine["type"],
        "homePageUrl": expected_engine["standard_experiment_manager_config"]["home_page_url"],
    }
    assert status["pluginImage"] == IMAGE
    assert status["restarts"] == 0
    assert status["clients"] == [
        {"id": "client-a", "username": "alice"},
        {"id": "client-b", "username": "bob"},
    ]
    assert status["experiments"] == [
        {
            "id": experiment["id"],
            "name": experiment["name"],
            "clientId": "",
            "variants": experiment["variants"],
        }
        for experiment in ENGINE_OPTIONS["experiments"]
    ]
    assert status["experimentCount"] == len(ENGINE_OPTIONS["experiments"])
    assert status["variables"] == {"experiment": ENGINE_OPTIONS["variables"]}
    assert status["truncated"] is False
    assert body["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "turnout"}

    # Turing's Go example: its base manager lists no clients; one experiment.
    go = wait_engine(operators, go_name, lambda s: "experiments" in s, "catalogue")["status"]
    assert go["engineInfo"]["displayName"] == HARDCODED_MANAGER_CONFIG["engine"]["display_name"]
    assert go["clients"] == []
    assert [e["id"] for e in go["experiments"]] == ["001"]
    assert go["variables"] == {"experiment": HARDCODED_MANAGER_CONFIG["variables"]}

    table = operators.cluster.kubectl("get", "experimentengines", python_name, go_name).stdout
    lines = table.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "READY", "EXPERIMENTS", "AGE"]
    assert lines[1].split()[:4] == [python_name, "standard", "True", "2"]
    assert lines[2].split()[:4] == [go_name, "standard", "True", "1"]

    # Let a few refreshes happen, then look everywhere a passkey could have gone.
    time.sleep(5)
    everything = operators.cluster.kubectl("get", "experimentengines", "-o", "json").stdout
    events = operators.cluster.kubectl("get", "events", "-A", "-o", "json").stdout
    log = operators.operator.log_path.read_text()
    for passkey in PASSKEYS:
        assert passkey not in everything
        assert passkey not in events
        assert passkey not in log
    assert "client-a" in everything  # the search above looks at the real objects


def test_an_idle_engine_costs_no_writes_and_health_changes_show(
    operators: OperatorHarness, engine_crd: str, passkey_plugin: Path, engine_names: list[str]
) -> None:
    name = f"pk-{secrets.token_hex(3)}"
    engine_names.append(name)
    workdir = operators.workdir
    operators.start(
        Engine(name, passkey_plugin, passkey_options(), liveness_period_seconds=1),
        env={"TURNOUT_ENGINE_REFRESH_SECONDS": "1"},
    )
    first = wait_engine(operators, name, lambda s: "experiments" in s, "catalogue")
    version = first["metadata"]["resourceVersion"]
    # Five refresh periods: each reads the catalogue and finds it unchanged.
    time.sleep(5)
    assert engine_object(operators, name)["metadata"]["resourceVersion"] == version  # type: ignore[index]

    # The plugin binary now fails to start, and the running one dies: Ready turns False.
    binary = workdir / "plugins" / name
    good = binary.read_bytes()
    binary.write_text("#!/bin/sh\necho 'no plugin here' >&2\nexit 3\n")
    os.kill(plugin_pid(operators.operator.pid, name), signal.SIGKILL)
    down = wait_engine(operators, name, lambda s: ready(s) == "False", "Ready=False")["status"]
    condition = next(c for c in down["conditions"] if c["type"] == "Ready")
    assert condition["reason"] == "PluginDown"
    assert condition["message"].startswith("the plugin is not running:")
    assert down["experiments"], "the last catalogue stays while the plugin is down"

    # Back: the supervisor's next attempt starts the good binary again.
    binary.write_bytes(good)
    up = wait_engine(operators, name, lambda s: ready(s) == "True", "Ready=True again")["status"]
    assert up["restarts"] == 1
    assert up["lastPing"] >= first["status"]["lastPing"]


async def test_a_clusterwide_operator_deletes_objects_of_engines_it_no_longer_has(
    cluster: Cluster, engine_crd: str
) -> None:
    suffix = secrets.token_hex(3)
    ours, foreign = f"gone-{suffix}", f"foreign-{suffix}"
    for name, labels in ((ours, {"app.kubernetes.io/managed-by": "turnout"}), (foreign, {})):
        body = {
            "apiVersion": "turnout.dev/v1alpha1",
            "kind": "ExperimentEngine",
            "metadata": {"name": name, "labels": labels},
        }
        cluster.kubectl("apply", "-f", "-", input=json.dumps(body))

    def exists(name: str) -> bool:
        found = cluster.kubectl("get", "experimentengine", name, check=False)
        return found.returncode == 0

    kube = Kube(admin_login(cluster))
    try:
        # An operator watching some namespaces leaves every object alone...
        await EngineObjects(kube, EngineRegistry([]), 60, clusterwide=False).run()
        assert exists(ours) and exists(foreign)
        # ...a cluster-wide one deletes its own objects of engines it does not have.
        await EngineObjects(kube, EngineRegistry([]), 60, clusterwide=True).run()
        assert not exists(ours)
        assert exists(foreign)
    finally:
        await kube.close()
        cluster.kubectl("delete", "experimentengine", ours, foreign, "--ignore-not-found")
