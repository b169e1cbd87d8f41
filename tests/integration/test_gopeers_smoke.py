"""The Go interop peers themselves: handshake, cookie check, every manager and
runner method through Turing's own client and server code, the test faults,
the benchmarks and the gob vectors."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devenv.gopeers import (
    HARDCODED_MANAGER_CONFIG,
    HARDCODED_ROUTER_EXPERIMENT_CONFIG,
    HARDCODED_RUNNER_CONFIG_TEXT,
    HARDCODED_TREATMENT_CASES,
    PLUGIN_ENV,
    GoPeers,
    fnv1a_32,
)

pytestmark = pytest.mark.interop

HANDSHAKE = re.compile(r"^1\|1\|unix\|(/[^|]+)\|netrpc\|$")
NOT_A_PLUGIN = "This binary is a plugin. These are not meant to be executed directly."


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TURNOUT_TEST_", "PLUGIN_"))}
    env.pop("EXPERIMENTS_PLUGIN", None)
    env.update(extra)
    return env


def host(
    gopeers: GoPeers,
    *calls: str,
    flags: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    expect_rc: int = 0,
) -> list[dict[str, Any]]:
    """Runs plugin-host against the Go plugin and returns its JSON lines."""
    proc = subprocess.run(
        [
            str(gopeers.plugin_host),
            "--plugin",
            str(gopeers.hardcoded_plugin),
            "--log-level",
            "warn",
            *flags,
            "call",
            *calls,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(**(env or {})),
    )
    assert proc.returncode == expect_rc, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def answers(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "call" in line]


def test_plugin_prints_go_plugin_handshake(gopeers: GoPeers) -> None:
    proc = subprocess.Popen(
        [str(gopeers.hardcoded_plugin)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(**PLUGIN_ENV),
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "no handshake line within 20 s"
        line = proc.stdout.readline().decode()
        match = HANDSHAKE.match(line.strip())
        assert match, line
        assert Path(match.group(1)).is_socket()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_plugin_without_cookie_refuses_to_run(gopeers: GoPeers) -> None:
    proc = subprocess.run(
        [str(gopeers.hardcoded_plugin)], capture_output=True, text=True, timeout=30, env=_env()
    )
    assert proc.returncode == 1
    assert NOT_A_PLUGIN in proc.stderr
    assert proc.stdout == ""


def test_go_host_calls_every_method_of_the_go_plugin(gopeers: GoPeers) -> None:
    router_cfg = json.dumps(HARDCODED_ROUTER_EXPERIMENT_CONFIG)
    lines = answers(
        host(
            gopeers,
            "manager.Configure", json.dumps(HARDCODED_MANAGER_CONFIG),
            "manager.GetEngineInfo",
            "manager.ValidateExperimentConfig", router_cfg,
            "manager.ValidateExperimentConfig", '{"experiments": []}',
            "manager.GetExperimentRunnerConfig", router_cfg,
            "manager.IsCacheEnabled",
            "manager.ListClients",
            "manager.ListExperiments",
            "manager.ListExperimentsForClient", '{"id": "1", "username": "u"}',
            "manager.ListVariablesForClient", '{"id": "1", "username": "u"}',
            "manager.ListVariablesForExperiments", '[{"id": "001"}, {"id": "002"}]',
            "plugin.Ping",
        )
    )  # fmt: skip
    by_index = {line["i"]: line for line in lines}
    assert [line["call"] for line in lines][:2] == ["manager.Configure", "manager.GetEngineInfo"]
    assert by_index[0]["ok"] is True
    assert by_index[1]["result"] == {
        "name": "plugin-example",
        "display_name": "Plugin Example",
        "type": "standard",
        "standard_experiment_manager_config": {
            "client_selection_enabled": False,
            "experiment_selection_enabled": True,
            "home_page_url": "",
        },
    }
    assert by_index[2] == {**by_index[2], "ok": True, "result": None}
    assert by_index[3]["ok"] is False
    assert by_index[3]["error"] == "Expected at least 1 experiment in the configuration"
    assert by_index[4]["result_text"] == (
        '{"experiments":[{"id":"001","name":"exp_1","client_id":"",'
        '"variants":[{"name":"control"},{"name":"treatment-1"}],'
        '"segmentation_configuration":{"name":"client_id","source":"payload","value":"client.id"},'
        '"variants_configuration":{"control":{"traffic":0.85,"treatment_configuration":{"foo":"bar"}},'
        '"treatment-1":{"traffic":0.15,"treatment_configuration":{"bar":"baz"}}}}]}'
    )
    assert by_index[5]["result"] is True
    assert by_index[6]["result"] == []
    experiment = {
        "id": "001",
        "name": "exp_1",
        "client_id": "",
        "variants": [{"name": "control"}, {"name": "treatment-1"}],
    }
    assert by_index[7]["result"] == [experiment]
    assert by_index[8]["result"] == [experiment]
    assert by_index[9]["result"] == []
    assert by_index[10]["result"] == {"001": [{"name": "client", "required": True, "type": "unit"}]}
    assert by_index[11] == {**by_index[11], "ok": True}

    # The runner, configured with what the manager produced.
    runner_cfg = by_index[4]["result_text"]
    treatments = answers(
        host(
            gopeers,
            "runner.Configure", runner_cfg,
            "runner.GetTreatmentForRequest", '{"payload": {"client": {"id": 4}}, "requestId": "r-1"}',
            "runner.GetTreatmentForRequest", '{"payload": {"client": {"id": 7}}}',
            "runner.GetTreatmentForRequest", '{"payload": {}}',
        )
    )  # fmt: skip
    assert treatments[0]["ok"] is True
    assert [(t["result"]["ExperimentName"], t["result"]["Name"]) for t in treatments[1:3]] == [
        ("exp_1", "control"),
        ("exp_1", "treatment-1"),
    ]
    assert treatments[3]["error"] == "no experiment configured for the unit"


@pytest.mark.parametrize(("payload", "expected"), HARDCODED_TREATMENT_CASES)
def test_runner_answers_turing_test_vectors(
    gopeers: GoPeers, payload: str, expected: tuple[str, str, str] | str
) -> None:
    # --runner-config dispenses the runner through Turing's EngineFactory.
    [line] = answers(
        host(
            gopeers,
            "runner.GetTreatmentForRequest",
            json.dumps({"payload": payload}),
            flags=("--runner-config", HARDCODED_RUNNER_CONFIG_TEXT),
        )
    )
    if isinstance(expected, str):
        assert line["ok"] is False
        assert line["error"] == expected
    else:
        assert line["ok"] is True
        experiment, name, config_text = expected
        assert line["result"]["ExperimentName"] == experiment
        assert line["result"]["Name"] == name
        assert line["config_text"] == config_text


def _unit_in_bucket(bucket: int) -> str:
    for i in range(10_000_000):
        unit = f"u{i}"
        if fnv1a_32(unit.encode()) % 10000 == bucket:
            return unit
    raise AssertionError(f"no unit for bucket {bucket}")


def test_runner_does_traffic_arithmetic_in_float32(gopeers: GoPeers) -> None:
    # uint32(float32(0.5005) * 10000) is 5005; in float64 it would be 5004.
    cfg = {
        "experiments": [
            {
                "id": "e",
                "name": "exp",
                "segmentation_configuration": {"name": "u", "source": "header", "value": "X-Unit"},
                "variants_configuration": {
                    "a": {"traffic": 0.5005, "treatment_configuration": {"v": "a"}},
                    "b": {"traffic": 0.4995, "treatment_configuration": {"v": "b"}},
                },
            }
        ]
    }
    at_edge, past_edge = _unit_in_bucket(5005), _unit_in_bucket(5006)
    lines = answers(
        host(
            gopeers,
            "runner.GetTreatmentForRequest", json.dumps({"header": {"x-unit": at_edge}}),
            "runner.GetTreatmentForRequest", json.dumps({"header": {"X-Unit": past_edge}}),
            flags=("--runner-config", json.dumps(cfg)),
        )
    )  # fmt: skip
    assert [line["result"]["Name"] for line in lines] == ["a", "b"]


def test_metrics_collector_registration_and_callbacks(gopeers: GoPeers) -> None:
    lines = host(
        gopeers,
        "runner.RegisterMetricsCollector",
        "runner.GetTreatmentForRequest", '{"payload": {"client": {"id": 4}}}',
        flags=("--runner-config", HARDCODED_RUNNER_CONFIG_TEXT),
        env={"TURNOUT_TEST_METRICS": "1"},
    )  # fmt: skip
    events = [line["event"] for line in lines if "event" in line]
    assert events == [
        "helper.Register",
        "collector.RecordGauge",
        "collector.Inc",
        "collector.MeasureDurationMsSince",
    ]
    assert all(line["ok"] for line in answers(lines))
    register = next(line for line in lines if line.get("event") == "helper.Register")
    assert {m["Type"] for m in register["request"]} == {"counter", "histogram", "gauge"}
    inc = next(line for line in lines if line.get("event") == "collector.Inc")
    assert inc["request"]["Labels"] == {"experiment": "exp_1", "treatment": "control"}

    # Without TURNOUT_TEST_METRICS the plugin is served by Turing's pinned rpc.Serve,
    # whose runner has no such method.
    [line] = answers(
        host(gopeers, "runner.RegisterMetricsCollector", flags=("--connect", "broker"))
    )
    assert line["error"] == "rpc: can't find method Plugin.RegisterMetricsCollector"


def test_fault_hang_times_out_and_later_calls_still_work(gopeers: GoPeers) -> None:
    lines = answers(
        host(
            gopeers,
            "runner.GetTreatmentForRequest", '{"payload": {"client": {"id": 4}}}',
            "plugin.Ping",
            flags=("--runner-config", HARDCODED_RUNNER_CONFIG_TEXT, "--timeout", "500ms"),
            env={"TURNOUT_TEST_FAULT": "hang"},
        )
    )  # fmt: skip
    assert lines[0]["ok"] is False
    assert lines[0]["timeout"] is True
    assert lines[1]["ok"] is True


def test_fault_crash_mid_call(gopeers: GoPeers) -> None:
    # The second GetTreatmentForRequest crashes the plugin (set in the runner config).
    cfg = json.loads(HARDCODED_RUNNER_CONFIG_TEXT)
    cfg["fault"] = "crash@GetTreatmentForRequest#2"
    request = '{"payload": {"client": {"id": 4}}}'
    lines = answers(
        host(
            gopeers,
            "runner.GetTreatmentForRequest", request,
            "runner.GetTreatmentForRequest", request,
            "runner.GetTreatmentForRequest", request,
            flags=("--runner-config", json.dumps(cfg)),
        )
    )  # fmt: skip
    assert lines[0]["ok"] is True
    # Which error Go's client reports for the call in flight depends on whether
    # net/rpc or yamux notices the closed connection first.
    assert lines[1]["ok"] is False
    assert lines[1]["error"] in ("unexpected EOF", "session shutdown")
    # The next call finds the connection closed; again either layer may say so first.
    assert lines[2]["ok"] is False
    assert lines[2]["error"] in ("connection is shut down", "session shutdown")


def test_fault_error_and_startup_exit(gopeers: GoPeers) -> None:
    [line] = answers(
        host(
            gopeers,
            "manager.IsCacheEnabled",
            env={"TURNOUT_TEST_FAULT": "error=nope@IsCacheEnabled"},
        )
    )
    assert line == {**line, "ok": False, "error": "nope"}

    lines = host(gopeers, "plugin.Ping", env={"TURNOUT_TEST_FAULT": "startup-exit"}, expect_rc=1)
    assert lines[0]["call"] == "connect"
    assert lines[0]["ok"] is False
    # go-plugin v1.4.3 reports either, depending on which it notices first.
    assert (
        "plugin exited before we could connect" in lines[0]["error"]
        or "Unrecognized remote plugin message: \n" in lines[0]["error"]
    )


def test_benchmarks_print_stats(gopeers: GoPeers) -> None:
    proc = subprocess.run(
        [
            str(gopeers.plugin_host),
            "--plugin", str(gopeers.hardcoded_plugin),
            "--runner-config", HARDCODED_RUNNER_CONFIG_TEXT,
            "--log-level", "warn",
            "bench", "--n", "300", "--warmup", "10", "--concurrency", "2",
            "--request", '{"payload": {"client": {"id": 7}}}',
        ],
        capture_output=True, text=True, timeout=60, env=_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["ok"] is True
    assert stats["n"] == 300
    assert 0 < stats["p50_us"] <= stats["p99_us"]
    assert stats["calls_per_s"] > 0

    proc = subprocess.run(
        [str(gopeers.echo_bench), "--n", "300", "--warmup", "10"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    echo = json.loads(proc.stdout)
    assert echo["kind"] == "echo-bench"
    assert echo["n"] == 300
    assert 0 < echo["p50_us"] <= echo["p99_us"]


# Bytes that do not depend on process-wide gob type ids (protocol notes, appendix).
KNOWN_VECTORS = {
    "nil_interface": "03100000",
    "bool_true": "03020001",
    "dispense_reply": "03060001",
    "raw_message": "0a0a00077b2261223a317d",
    "int_neg129": "050400fe0101",
    "uint_256": "050600fe0100",
    "float64_17": "050800fe3140",
}


def test_gob_vectors_are_json_and_decode_round_trips(gopeers: GoPeers) -> None:
    proc = subprocess.run(
        [str(gopeers.gob_vectors), "--detailed"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    vectors = json.loads(proc.stdout)
    for name in (
        "engine_standard", "engine_minimal", "client", "experiment", "variable", "experiments",
        "variables_map", "treatment", "get_treatment_request", "get_treatment_options",
        "rpc_request", "rpc_response", "measure_duration_ms_since", "record_gauge", "inc",
        "metrics", "int_max", "int_min", "uint64_max", "float64_1e300", "string_unicode", "bytes",
        "struct_nested", "struct_zero_fields_omitted", "struct_empty_map", "array_3int",
        "ptr_to_zero_struct", "time_utc", "time_offset_0530", "struct_empty",
        "multi_two_requests", "multi_get_treatment_call",
    ):  # fmt: skip
        assert re.fullmatch(r"([0-9a-f]{2})+", vectors[name]["hex"]), name
    for name, expected in KNOWN_VECTORS.items():
        assert vectors[name]["hex"] == expected, name
    assert vectors["time_offset_0530"]["values"] == ["2024-01-02T08:34:05+05:30"]

    lines = [json.dumps({"types": case["types"], "hex": case["hex"]}) for case in vectors.values()]
    proc = subprocess.run(
        [str(gopeers.gob_vectors), "decode"],
        input="\n".join(lines),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    decoded = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(decoded) == len(vectors)
    for case, result in zip(vectors.values(), decoded, strict=True):
        assert result["ok"], result
        assert result["values"] == case["decoded"]

    # The plain form maps names to hex.
    plain = json.loads(
        subprocess.run(
            [str(gopeers.gob_vectors)], capture_output=True, text=True, timeout=120, check=True
        ).stdout
    )
    assert plain["bool_true"] == "03020001"
    assert set(plain) == set(vectors)
