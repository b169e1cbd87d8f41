"""The operator, for real: a Router applied with kubectl becomes a rolled-out Deployment.

Real kube-apiserver and controllers (kwok plays the kubelet), real Postgres, real
plugin processes (the Python example engine, and Turing's own Go plugin code).
Expected values come from the test's own knowledge (the spec it applied, the
plugin's known answers, rows read with plain SQL), never from the operator.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from devenv.operator import Engine, log_records, wait_for
from devenv.postgres import PostgresServer, libpq_url
from devenv.procs import child_pids
from tests.substrate.operator_fixtures import ENGINE_OPTIONS, OperatorHarness

pytestmark = pytest.mark.e2e

EXPERIMENT_CONFIG: dict[str, Any] = {
    "experiments": [{"id": "001", "name": "exp_1"}],
    "variables": {
        "experiment_variables": {"001": [{"name": "client_id", "type": "unit", "required": True}]},
        "config": [
            {"name": "client_id", "required": True, "field": "client.id", "field_source": "payload"}
        ],
    },
}


def router_manifest(
    name: str = "demo", engine: str = "hardcoded", config: Any = None, **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routes": [
            {"id": "control", "endpoint": "http://control.models:8080/predict", "timeout": "2s"},
            {"id": "treatment-1", "endpoint": "http://t1.models:8080/predict", "timeout": "2s"},
        ],
        "fallbackRoute": "control",
        "experimentEngine": {
            "type": engine,
            "config": copy.deepcopy(EXPERIMENT_CONFIG) if config is None else config,
        },
    }
    if engine != "nop":
        body["routeNamePath"] = "route_name"
    body.update(spec)
    return {
        "apiVersion": "turnout.dev/v1alpha1",
        "kind": "Router",
        "metadata": {"name": name},
        "spec": body,
    }


def deployment(h: OperatorHarness, router: str) -> dict[str, Any]:
    body: dict[str, Any] = h.kubectl_json("get", "deployment", f"{router}-router") or {}
    return body


def test_router_is_deployed_with_plugin_init_container_and_a_version_row(
    operators: OperatorHarness,
) -> None:
    h = operators
    h.start()
    h.apply(router_manifest(replicas=2))
    status = h.wait_deployed("demo", 1)

    assert status["currentVersion"] == 1
    assert status["endpoint"] == f"http://demo-router.{h.namespace}.svc.cluster.local/v1/predict"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["ConfigValid"]["status"] == "True"
    assert conditions["EngineAvailable"]["status"] == "True"
    assert status["observedGeneration"] == h.router("demo")["metadata"]["generation"]

    dep = deployment(h, "demo")
    pod = dep["spec"]["template"]["spec"]
    assert dep["spec"]["replicas"] == 2
    assert dep["status"]["availableReplicas"] == 2
    (init,) = pod["initContainers"]
    assert init["name"] == "hardcoded-plugin"
    assert init["image"] == "example.org/turnout/plugin:dev"
    init_env = {e["name"]: e["value"] for e in init["env"]}
    assert init_env == {"PLUGIN_NAME": "hardcoded", "PLUGINS_DIR": "/app/plugins"}
    (router,) = pod["containers"]
    router_env = {e["name"]: e.get("value") for e in router["env"]}
    assert router_env["ROUTER_CONFIG_FILE"] == "/etc/turnout/router.yaml"
    volumes = {v["name"]: v for v in pod["volumes"]}
    plugin_mounts = [m for m in init["volumeMounts"] if m["mountPath"] == "/app/plugins"]
    assert plugin_mounts and "emptyDir" in volumes[plugin_mounts[0]["name"]]
    assert any(m["mountPath"] == "/app/plugins" for m in router["volumeMounts"])

    # The router config the pods read: the spec's routes and the plugin's runner config.
    cm = h.kubectl_json("get", "configmap", "demo-router-v1")
    config = json.loads(json.dumps(__import__("yaml").safe_load(cm["data"]["router.yaml"])))
    assert config["fallbackRoute"] == "control"
    assert [r["id"] for r in config["routes"]] == ["control", "treatment-1"]
    engine = config["experimentEngine"]
    assert engine["pluginBinary"] == "/app/plugins/hardcoded"
    # The hardcoded manager builds the runner config from its options: exp_1's variants.
    (experiment,) = engine["runnerConfig"]["experiments"]
    assert experiment["name"] == "exp_1"
    assert [v["name"] for v in experiment["variants"]] == ["control", "treatment-1"]

    rows = h.version_rows("demo")
    assert [(r["number"], r["status"]) for r in rows] == [(1, "deployed")]
    assert rows[0]["experiment_engine"]["config"] == EXPERIMENT_CONFIG
    assert rows[0]["experiment_engine"]["runnerConfig"] == engine["runnerConfig"]
    assert rows[0]["experiment_engine"]["pluginImage"] == "example.org/turnout/plugin:dev"

    events = h.events("demo")
    reasons = [e["reason"] for e in events]
    # A rollout of seconds is one Event: the good news of its start waits for its end
    # (up to 30 s) and is told with it, each condition where it ended up. A pass that ran
    # before our own status write came back through the watch must not post it again.
    assert reasons == ["Deployed"], reasons
    (message,) = [e["message"] for e in events]
    assert message.startswith("version 1 recorded; version 1 is serving; "), message
    assert "Ready=True: " in message and "Ready=False" not in message, message
    assert all(
        e["source"].get("component") == "turnout" or e.get("reportingComponent") == "turnout"
        for e in h.events("demo")
    )


def test_config_change_makes_version_2_and_revert_reuses_version_1(
    operators: OperatorHarness,
) -> None:
    h = operators
    h.start()
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    hash_1 = deployment(h, "demo")["spec"]["template"]["metadata"]["annotations"][
        "turnout.dev/config-hash"
    ]

    changed = copy.deepcopy(EXPERIMENT_CONFIG)
    changed["experiments"].append({"id": "002", "name": "exp_2"})
    h.patch_spec("demo", {"experimentEngine": {"config": changed}})
    h.wait_deployed("demo", 2)
    dep = deployment(h, "demo")
    assert dep["spec"]["template"]["metadata"]["annotations"]["turnout.dev/config-hash"] != hash_1
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert any(v.get("configMap", {}).get("name") == "demo-router-v2" for v in volumes.values())

    h.patch_spec("demo", {"experimentEngine": {"config": EXPERIMENT_CONFIG}})
    h.wait_deployed("demo", 1)
    rows = h.version_rows("demo")
    assert [(r["number"], r["status"]) for r in rows] == [(1, "deployed"), (2, "undeployed")]
    annotations = deployment(h, "demo")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["turnout.dev/config-hash"] == hash_1


def test_a_change_of_replicas_alone_scales_the_deployment_and_makes_no_version(
    operators: OperatorHarness,
) -> None:
    h = operators
    h.start()
    h.apply(router_manifest(replicas=1))
    h.wait_deployed("demo", 1)
    before = deployment(h, "demo")
    h.patch_spec("demo", {"replicas": 3})
    wait_for(
        lambda: (deployment(h, "demo").get("status") or {}).get("availableReplicas") == 3,
        120,
        "the Deployment to scale to 3",
        h.operator,
    )
    after = deployment(h, "demo")
    # Scaled in place: the same pod template (no new ReplicaSet, no pod replaced).
    assert after["spec"]["replicas"] == 3
    assert after["spec"]["template"] == before["spec"]["template"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert [(r["number"], r["status"]) for r in h.version_rows("demo")] == [(1, "deployed")]
    assert h.router("demo")["status"]["currentVersion"] == 1


def test_invalid_experiment_config_keeps_the_running_version(operators: OperatorHarness) -> None:
    h = operators
    h.start()
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    before = deployment(h, "demo")

    # The hardcoded manager requires experiment variables to name a field source it knows.
    bad = copy.deepcopy(EXPERIMENT_CONFIG)
    bad["variables"]["config"][0]["field_source"] = "cookie"
    h.patch_spec("demo", {"experimentEngine": {"config": bad}})
    status = h.wait_condition("demo", "ConfigValid", "False")
    valid = h.condition("demo", "ConfigValid")
    assert valid["reason"] == "ExperimentConfigInvalid"
    # The plugin's own text: the go-playground validator message Turing's engine gives.
    assert valid["message"] == (
        "spec.experimentEngine.config: engine 'hardcoded' rejected it: "
        "Key: 'TuringExperimentConfig.Variables.Config[0].FieldSource' "
        "Error:Field validation for 'FieldSource' failed on the 'field-src' tag"
    )
    assert status["phase"] == "Failed"
    assert status["deployedVersion"] == 1
    assert h.condition("demo", "Ready")["status"] == "True"  # version 1 still serves
    assert [r["number"] for r in h.version_rows("demo")] == [1]
    after = deployment(h, "demo")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    warnings = [e for e in h.events("demo") if e["type"] == "Warning"]
    assert any(e["reason"] == "ExperimentConfigInvalid" for e in warnings)


def test_unknown_engine_is_reported_on_the_router(operators: OperatorHarness) -> None:
    h = operators
    h.start()
    h.apply(router_manifest(engine="nonexistent"))
    status = h.wait_status("demo", lambda s: s.get("phase") == "Failed", "phase Failed")
    valid = h.condition("demo", "ConfigValid")
    assert valid["status"] == "False"
    assert valid["reason"] == "UnknownEngine"
    assert "'nonexistent' is not configured" in valid["message"]
    assert "nop, hardcoded" in valid["message"]
    assert status.get("deployedVersion") is None
    assert h.version_rows("demo") == []
    assert deployment(h, "demo") == {}


def test_engine_options_never_reach_logs_status_events_or_configmaps(
    operators: OperatorHarness,
) -> None:
    h = operators
    secret = "passkey-7f3c9e1d2b"
    options = {**ENGINE_OPTIONS, "client": {"id": "1", "username": "a", "passkey": secret}}
    h.start(Engine(name="hardcoded", binary=h.python_plugin, options=options))
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    bad = copy.deepcopy(EXPERIMENT_CONFIG)
    bad["variables"]["config"][0]["field_source"] = "cookie"
    h.patch_spec("demo", {"experimentEngine": {"config": bad}})
    h.wait_status("demo", lambda s: s.get("phase") == "Failed", "Failed")
    seen = {
        "operator log": h.operator.log_path.read_text(),
        "status": json.dumps(h.router("demo")),
        "events": json.dumps(h.events("demo")),
        "configmaps": json.dumps(h.kubectl_json("get", "configmaps")),
        "versions": json.dumps(h.version_rows("demo")),
    }
    for where, text in seen.items():
        assert secret not in text, where
    assert "manager configured" in seen["operator log"]  # the plugin's own log lines are there


def test_nop_engine_and_go_plugin_engine(operators: OperatorHarness) -> None:
    h = operators
    h.start(h.python_engine(), h.go_engine())
    h.apply(router_manifest(name="plain", engine="nop", config=None))
    mappings = [
        {"experiment": "exp_1", "treatment": "control", "route": "control"},
        {"experiment": "exp_1", "treatment": "treatment-1", "route": "treatment-1"},
    ]
    go = router_manifest(name="go", engine="turing", experimentMappings=mappings)
    del go["spec"]["routeNamePath"]
    h.apply(go)
    h.wait_deployed("plain", 1)
    h.wait_deployed("go", 1)
    plain_pod = deployment(h, "plain")["spec"]["template"]["spec"]
    assert "initContainers" not in plain_pod or plain_pod["initContainers"] == []
    go_pod = deployment(h, "go")["spec"]["template"]["spec"]
    assert [c["name"] for c in go_pod["initContainers"]] == ["turing-plugin"]
    # Turing's Go manager answered the runner config: the variants it was configured with.
    (row,) = h.version_rows("go")
    (experiment,) = row["experiment_engine"]["runnerConfig"]["experiments"]
    assert [v["name"] for v in experiment["variants"]] == ["control", "treatment-1"]


def test_suspend_removes_the_workload_and_resume_brings_back_the_same_version(
    operators: OperatorHarness,
) -> None:
    h = operators
    h.start()
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    h.patch_spec("demo", {"suspend": True})
    status = h.wait_status("demo", lambda s: s.get("phase") == "Undeployed", "Undeployed")
    assert status.get("endpoint") is None
    assert deployment(h, "demo") == {}
    assert h.kubectl_json("get", "service", "demo-router") is None
    assert [(r["number"], r["status"]) for r in h.version_rows("demo")] == [(1, "undeployed")]

    h.patch_spec("demo", {"suspend": False})
    h.wait_deployed("demo", 1)
    assert [(r["number"], r["status"]) for r in h.version_rows("demo")] == [(1, "deployed")]


def test_drift_is_repaired(operators: OperatorHarness) -> None:
    h = operators
    h.start()
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    first_uid = deployment(h, "demo")["metadata"]["uid"]

    h.cluster.kubectl("delete", "deployment", "demo-router", "-n", h.namespace, "--wait=false")
    h.wait_status(
        "demo",
        lambda s: (
            deployment(h, "demo").get("metadata", {}).get("uid") not in (None, first_uid)
            and s.get("phase") == "Deployed"
        ),
        "the Deployment re-created",
    )
    h.cluster.kubectl(
        "patch",
        "service",
        "demo-router",
        "-n",
        h.namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"ports": [{"name": "http", "port": 9999, "targetPort": "http"}]}}),
    )

    def service_port() -> int:
        service = h.kubectl_json("get", "service", "demo-router") or {}
        ports = service.get("spec", {}).get("ports", [{}])
        return int(ports[0].get("port", 0))

    h.wait_status("demo", lambda s: service_port() == 80, "the Service port restored")
    h.cluster.kubectl("delete", "configmap", "demo-router-v1", "-n", h.namespace)
    h.wait_status(
        "demo",
        lambda s: h.kubectl_json("get", "configmap", "demo-router-v1") is not None,
        "the ConfigMap re-created",
    )
    assert [r["number"] for r in h.version_rows("demo")] == [1]


def test_rollout_that_never_becomes_ready_fails_and_the_previous_version_keeps_serving(
    operators: OperatorHarness,
) -> None:
    h = operators
    h.start(env={"TURNOUT_PROGRESS_DEADLINE_SECONDS": "10"})
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    # No fake node has this much CPU: the new pods stay Pending until the deadline passes.
    h.patch_spec("demo", {"resources": {"requests": {"cpu": "5000"}}})
    status = h.wait_status(
        "demo", lambda s: s.get("phase") == "Failed", "the rollout of version 2 failing", 120
    )
    assert status["currentVersion"] == 2
    assert status["deployedVersion"] == 1
    assert "version 2 failed to roll out" in status["message"]
    assert "ProgressDeadlineExceeded" in status["message"] or "progress" in status["message"]
    assert h.condition("demo", "Ready")["reason"] == "PreviousVersionServing"
    rows = {r["number"]: r for r in h.version_rows("demo")}
    assert rows[1]["status"] == "deployed"
    assert rows[2]["status"] == "failed"
    assert rows[2]["error"]
    # Version 1's template is back and fully available.
    h.wait_status(
        "demo",
        lambda s: (
            deployment(h, "demo")["spec"]["template"]["metadata"]["labels"].get(
                "turnout.dev/version"
            )
            == "1"
            and deployment(h, "demo")["status"].get("availableReplicas") == 1
        ),
        "version 1 restored",
    )
    assert any(e["reason"] == "RolloutFailed" for e in h.events("demo"))
    # Not retried while the spec stays the same.
    assert [r["number"] for r in h.version_rows("demo")] == [1, 2]


def _version_states(h: OperatorHarness, name: str) -> list[tuple[int, str]]:
    return [(r["number"], r["status"]) for r in h.version_rows(name)]


def test_delete_marks_versions_undeployed_and_children_go(operators: OperatorHarness) -> None:
    h = operators
    # No sweep during the test: only the Router's DELETED event can mark its versions.
    h.start(env={"TURNOUT_RESYNC_SECONDS": "3600"})
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    assert "finalizers" not in h.router("demo")["metadata"]
    h.cluster.kubectl("delete", "router", "demo", "-n", h.namespace, "--timeout=60s")
    assert h.router("demo") == {}
    wait_for(
        lambda: _version_states(h, "demo") == [(1, "undeployed")],
        60,
        "version 1 marked undeployed",
        h.operator,
    )
    wait_for(
        lambda: h.kubectl_json("get", "deployment", "demo-router") is None,
        60,
        "the Deployment garbage-collected",
    )


def test_a_router_deleted_while_no_operator_runs_goes_and_the_next_operator_marks_it(
    operators: OperatorHarness,
) -> None:
    """No finalizer holds a Router (or its namespace) while the operator is stopped or
    uninstalled; the next operator's sweep marks its versions."""
    h = operators
    first = h.start(env={"TURNOUT_RESYNC_SECONDS": "2"})
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    first.stop()

    h.cluster.kubectl("delete", "router", "demo", "-n", h.namespace, "--timeout=60s")
    assert h.router("demo") == {}
    assert _version_states(h, "demo") == [(1, "deployed")]  # nobody has marked it yet

    h.start(env={"TURNOUT_RESYNC_SECONDS": "2"}, workdir=h.workdir / "second")
    wait_for(
        lambda: _version_states(h, "demo") == [(1, "undeployed")],
        60,
        "the next operator's sweep to mark version 1 undeployed",
        h.operator,
    )


OLD_FINALIZER = "turnout.dev/finalizer"
"""The finalizer earlier releases put on every Router."""


def test_routers_left_with_the_old_finalizer_are_released_and_their_versions_marked(
    operators: OperatorHarness,
) -> None:
    """An upgrade: Routers made by a release that put a finalizer on them, one of them
    deleted while no operator ran (held by that finalizer)."""
    h = operators
    first = h.start()
    h.apply(router_manifest(name="kept"))
    h.apply(router_manifest(name="doomed"))
    h.wait_deployed("kept", 1)
    h.wait_deployed("doomed", 1)
    first.stop()
    for name in ("kept", "doomed"):
        h.cluster.kubectl(
            "patch", "router", name, "-n", h.namespace, "--type=merge",
            "-p", json.dumps({"metadata": {"finalizers": [OLD_FINALIZER]}}),
        )  # fmt: skip
    h.cluster.kubectl("delete", "router", "doomed", "-n", h.namespace, "--wait=false")
    held = h.router("doomed")["metadata"]
    assert held["finalizers"] == [OLD_FINALIZER] and held.get("deletionTimestamp")

    # No sweep during the test: only the DELETED events can mark the versions.
    h.start(env={"TURNOUT_RESYNC_SECONDS": "3600"}, workdir=h.workdir / "second")
    wait_for(lambda: h.router("doomed") == {}, 60, "the held Router released", h.operator)
    wait_for(
        lambda: _version_states(h, "doomed") == [(1, "undeployed")],
        60,
        "the released Router's version marked undeployed",
        h.operator,
    )
    # The Router not being deleted loses the finalizer too, and keeps serving.
    wait_for(
        lambda: "finalizers" not in h.router("kept")["metadata"],
        60,
        "the old finalizer removed from the kept Router",
        h.operator,
    )
    assert h.status("kept")["phase"] == "Deployed"
    assert _version_states(h, "kept") == [(1, "deployed")]
    h.cluster.kubectl("delete", "router", "kept", "-n", h.namespace, "--timeout=60s")
    wait_for(
        lambda: _version_states(h, "kept") == [(1, "undeployed")],
        60,
        "the kept Router's version marked undeployed once deleted",
        h.operator,
    )


def test_operator_killed_mid_reconcile_converges_without_duplicate_versions(
    operators: OperatorHarness,
) -> None:
    h = operators
    first = h.start()
    for index in range(5):
        h.apply(router_manifest(name=f"r{index}"))
    # Kill it while it is still working through the Routers.
    h.wait_status("r0", lambda s: bool(s.get("currentVersion")), "a first version recorded")
    first.popen.send_signal(signal.SIGKILL)
    first.popen.wait(timeout=30)
    # One pass at a time: the limit on concurrent passes must not hold any Router back.
    h.start(env={"TURNOUT_MAX_CONCURRENT_PASSES": "1"})
    for index in range(5):
        h.wait_deployed(f"r{index}", 1)
        assert [r["number"] for r in h.version_rows(f"r{index}")] == [1]


def _log_messages(h: OperatorHarness, process_index: int) -> list[dict[str, Any]]:
    return log_records(h.started[process_index].log_path)


def test_a_restarted_operator_finds_its_routers_as_they_were_and_writes_nothing(
    operators: OperatorHarness,
) -> None:
    h = operators
    first = h.start()
    for index in range(3):
        h.apply(router_manifest(name=f"r{index}"))
    for index in range(3):
        h.wait_deployed(f"r{index}", 1)
    first.stop()
    versions_before = {f"r{i}": h.router(f"r{i}")["metadata"]["resourceVersion"] for i in range(3)}

    h.start(workdir=h.workdir / "second")
    wait_for(
        lambda: (
            {
                r.get("router")
                for r in _log_messages(h, 1)
                if r.get("message") == "router loop started"
            }
            >= {"r0", "r1", "r2"}
        ),
        60,
        "the restarted operator's first pass over every Router",
        h.operator,
    )
    messages = _log_messages(h, 1)
    loaded = [r for r in messages if r.get("message") == "owned objects loaded"]
    # 3 Routers x (ConfigMap, Deployment, Service, RouterVersion)
    assert loaded and loaded[0]["objects"] == 12
    written = ("applied", "reconciled", "router versions mirrored")
    assert [r for r in messages if r.get("message") in written] == []
    # Not even the status was written again.
    for name, version in versions_before.items():
        assert h.router(name)["metadata"]["resourceVersion"] == version


def _deploy_then_break_the_engine(h: OperatorHarness) -> Callable[[], None]:
    """Router demo Deployed, then its engine's plugin breaks for good; returns the repair.

    The binary is replaced by one that is not a plugin and the running process is
    killed, so every restart the supervisor tries fails.
    """
    h.start(h.python_engine(liveness_period_seconds=1))
    binary = h.workdir / "plugins" / "hardcoded"
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    good = binary.read_bytes()
    binary.write_text("#!/bin/sh\necho 'plugin store unreachable' >&2\nexit 3\n")
    (plugin_pid,) = child_pids(h.operator.pid)
    os.kill(plugin_pid, signal.SIGKILL)

    def repair() -> None:
        binary.write_bytes(good)

    return repair


def test_plugin_down_then_back(operators: OperatorHarness) -> None:
    h = operators
    repair = _deploy_then_break_the_engine(h)
    changed = copy.deepcopy(EXPERIMENT_CONFIG)
    changed["experiments"].append({"id": "002", "name": "exp_2"})
    h.patch_spec("demo", {"experimentEngine": {"config": changed}})
    status = h.wait_condition("demo", "EngineAvailable", "False")
    engine = h.condition("demo", "EngineAvailable")
    assert "engine 'hardcoded' is unavailable" in engine["message"]
    assert status["phase"] == "Pending"
    assert status["deployedVersion"] == 1  # version 1 keeps serving meanwhile
    assert h.condition("demo", "Ready")["reason"] == "PreviousVersionServing"

    # The plugin is back: the change goes through without anyone touching the Router.
    repair()
    h.wait_deployed("demo", 2, timeout=120)
    assert [r["number"] for r in h.version_rows("demo")] == [1, 2]
    assert h.condition("demo", "EngineAvailable")["status"] == "True"


def test_database_down_then_back_loses_and_duplicates_nothing(
    operators: OperatorHarness, private_database: PostgresServer
) -> None:
    h = operators
    h.start()
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)

    private_database.stop()
    changed = copy.deepcopy(EXPERIMENT_CONFIG)
    changed["experiments"].append({"id": "002", "name": "exp_2"})
    h.patch_spec("demo", {"experimentEngine": {"config": changed}})
    status = h.wait_status(
        "demo",
        lambda s: s.get("phase") == "Pending" and "database unavailable" in s.get("message", ""),
        "Pending on the database",
    )
    assert status["deployedVersion"] == 1
    assert h.condition("demo", "Ready")["reason"] == "PreviousVersionServing"
    assert h.condition("demo", "Progressing")["reason"] == "DatabaseUnavailable"
    assert "password" not in status["message"]

    private_database.start()
    h.wait_deployed("demo", 2, timeout=120)
    rows = h.version_rows("demo")
    assert [(r["number"], r["status"]) for r in rows] == [(1, "undeployed"), (2, "deployed")]
    assert rows[1]["experiment_engine"]["config"] == changed


def test_a_router_deleted_while_the_database_is_down_has_its_versions_marked_once_it_is_back(
    operators: OperatorHarness, private_database: PostgresServer
) -> None:
    h = operators
    h.start(env={"TURNOUT_RESYNC_SECONDS": "2"})
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)

    private_database.stop()
    # Nothing waits for the database: the Router goes at once.
    h.cluster.kubectl("delete", "router", "demo", "-n", h.namespace, "--timeout=60s")
    assert h.router("demo") == {}
    # Its children go by their ownerReferences (the garbage collector).
    wait_for(
        lambda: h.kubectl_json("get", "deployment", "demo-router") is None,
        60,
        "the Deployment garbage-collected",
    )
    warnings = wait_for(
        lambda: [e for e in h.events("demo") if e["reason"] == "VersionsNotMarked"],
        60,
        "a VersionsNotMarked Event",
        h.operator,
    )
    assert warnings[0]["type"] == "Warning"

    private_database.start()
    wait_for(
        lambda: _version_states(h, "demo") == [(1, "undeployed")],
        60,
        "the sweep to mark version 1 undeployed",
        h.operator,
    )


def _version_status(h: OperatorHarness, namespace: str, name: str) -> list[str]:
    with psycopg.connect(libpq_url(h.database_url)) as conn:
        rows = conn.execute(
            "select v.status from router_versions v join routers r on r.id = v.router_id"
            " where r.namespace = %s and r.name = %s order by v.number",
            (namespace, name),
        ).fetchall()
    return [row[0] for row in rows]


def test_the_sweep_judges_only_routers_of_the_namespaces_it_watches(
    operators: OperatorHarness,
) -> None:
    """The database may be shared with operators watching other namespaces."""
    h = operators
    h.start(env={"TURNOUT_RESYNC_SECONDS": "2"})
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    # Two deployed rows of Routers this operator cannot see: one of its own namespace
    # (deleted while it was away), one of a namespace it does not watch.
    elsewhere = f"elsewhere-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(h.database_url)) as conn:
        for namespace in (h.namespace, elsewhere):
            router_id = conn.execute(
                "insert into routers (namespace, name, uid) values (%s, 'copy', %s) returning id",
                (namespace, str(uuid.uuid4())),
            ).fetchone()
            assert router_id is not None
            conn.execute(
                "insert into router_versions"
                " (router_id, number, status, config_hash, spec, experiment_engine, router_image)"
                " select %s, v.number, 'deployed', v.config_hash, v.spec, v.experiment_engine,"
                " v.router_image from router_versions v join routers r on r.id = v.router_id"
                " where r.namespace = %s and r.name = 'demo'",
                (router_id[0], h.namespace),
            )
    wait_for(
        lambda: _version_status(h, h.namespace, "copy") == ["undeployed"],
        60,
        "the sweep to mark the deleted Router of the watched namespace undeployed",
        h.operator,
    )
    assert _version_status(h, elsewhere, "copy") == ["deployed"]


def test_idle_routers_learn_that_their_engine_went_down_and_came_back(
    operators: OperatorHarness,
) -> None:
    h = operators
    repair = _deploy_then_break_the_engine(h)
    # Nobody touches the Router: the operator notices on its own.
    status = h.wait_condition("demo", "EngineAvailable", "False")
    engine = h.condition("demo", "EngineAvailable")
    assert engine["reason"] == "PluginDown"
    assert engine["message"].startswith("engine 'hardcoded' is not running: ")
    assert status["phase"] == "Deployed"  # version 1 keeps serving: its pods run their own plugin
    assert h.condition("demo", "Ready")["status"] == "True"
    assert any(e["reason"] == "PluginDown" and e["type"] == "Warning" for e in h.events("demo"))

    repair()
    h.wait_condition("demo", "EngineAvailable", "True", timeout=120)
    assert [r["number"] for r in h.version_rows("demo")] == [1]
