"""The operator's /metrics and /healthz, scraped from a real operator after real work.

Expected values are independent facts: the Routers the test created, version rows
counted with plain SQL, plugin calls the test caused, a plugin process it killed
by pid, a database it froze with SIGSTOP.
"""

from __future__ import annotations

import copy
import os
import signal
import urllib.error
import urllib.request
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devenv.operator import log_records, wait_for
from devenv.postgres import PostgresServer, libpq_url
from devenv.procs import child_pids, free_port
from tests.integration.test_operator import EXPERIMENT_CONFIG, router_manifest
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.e2e

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except (urllib.error.URLError, OSError) as error:  # not listening (yet)
        return 0, str(error)


def count_versions(h: OperatorHarness) -> int:
    with psycopg.connect(libpq_url(h.database_url)) as conn:
        row = conn.execute(
            "select count(*) from router_versions v join routers r on r.id = v.router_id "
            "where r.namespace = %s",
            (h.namespace,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def plugin_calls(samples: Samples, method: str, result: str = "ok") -> float:
    return value(
        samples, "turnout_plugin_calls_total", engine="hardcoded", method=method, result=result
    )


def test_metrics_count_what_the_operator_did(operators: OperatorHarness) -> None:
    h = operators
    port = free_port()
    h.start(env={"TURNOUT_METRICS_PORT": str(port)})
    for index in range(3):
        h.apply(router_manifest(name=f"r{index}"))
    for index in range(3):
        h.wait_deployed(f"r{index}", 1)
    changed: dict[str, Any] = copy.deepcopy(EXPERIMENT_CONFIG)
    changed["experiments"].append({"id": "002", "name": "exp_2"})
    h.patch_spec("r0", {"experimentEngine": {"config": changed}})
    h.wait_deployed("r0", 2)
    # A config the plugin rejects: one more Validate call, answered with an error.
    h.patch_spec("r2", {"experimentEngine": {"config": {"experiments": [{"id": "999"}]}}})
    h.wait_condition("r2", "ConfigValid", "False")

    samples = scrape(port)
    versions = count_versions(h)
    assert versions == 4
    assert value(samples, "turnout_versions_created_total") == versions
    assert value(samples, "turnout_routers", phase="Deployed") == 2
    assert value(samples, "turnout_routers", phase="Failed") == 1  # r2: rejected config
    # One Validate and one GetExperimentRunnerConfig per version; none for known specs.
    assert plugin_calls(samples, "ValidateExperimentConfig") == versions
    assert plugin_calls(samples, "GetExperimentRunnerConfig") == versions
    assert plugin_calls(samples, "ValidateExperimentConfig", "remote_error") >= 1
    assert plugin_calls(samples, "Configure") == 1  # at the plugin's start
    assert plugin_calls(samples, "GetEngineInfo") == 1
    histogram = value(
        samples,
        "turnout_plugin_call_duration_seconds_count",
        engine="hardcoded",
        method="GetExperimentRunnerConfig",
    )
    assert histogram == versions
    passes = sum(value(samples, "turnout_reconciles_total", result=r) for r in ("ok", "retry"))
    assert passes >= 5  # at least one per Router and change
    assert value(samples, "turnout_reconciles_total", result="error") == 0
    assert value(samples, "turnout_reconcile_duration_seconds_count") == passes
    assert value(samples, "turnout_leader") == 1
    assert value(samples, "turnout_lease_transitions") == 0  # the first holder
    assert value(samples, "turnout_plugin_restarts_total", engine="hardcoded") == 0

    # Kill the plugin by pid: the supervisor starts it again, and says so.
    (plugin_pid,) = child_pids(h.operator.pid)
    os.kill(plugin_pid, signal.SIGKILL)
    wait_for(
        lambda: value(scrape(port), "turnout_plugin_restarts_total", engine="hardcoded") == 1,
        60,
        "the plugin restart counted",
        h.operator,
    )
    (new_pid,) = wait_for(lambda: child_pids(h.operator.pid), 30, "a new plugin", h.operator)
    assert new_pid != plugin_pid
    samples = scrape(port)
    assert plugin_calls(samples, "Configure") == 2  # configured again after the restart


def test_database_errors_are_counted(
    operators: OperatorHarness, private_database: PostgresServer
) -> None:
    h = operators
    port = free_port()
    h.start(env={"TURNOUT_METRICS_PORT": str(port)})
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    assert value(scrape(port), "turnout_database_errors_total") == 0
    private_database.stop()
    h.patch_spec("demo", {"fallbackRoute": "treatment-1"})
    h.wait_status("demo", lambda s: "database unavailable" in s.get("message", ""), "database down")
    samples = scrape(port)
    assert value(samples, "turnout_database_errors_total") >= 1
    assert value(samples, "turnout_reconciles_total", result="retry") >= 1
    private_database.start()


def test_standby_serves_metrics_and_healthz(operators: OperatorHarness) -> None:
    h = operators
    leader = h.start()
    wait_for(lambda: h.kubectl_json("get", "lease", "turnout-operator"), 60, "the Lease", leader)
    metrics_port, liveness_port = free_port(), free_port()
    h.start(
        env={
            "TURNOUT_METRICS_PORT": str(metrics_port),
            "TURNOUT_LIVENESS_PORT": str(liveness_port),
        },
        workdir=h.workdir / "standby",
    )
    status = wait_for(lambda: healthz(liveness_port)[0] == 200, 60, "standby /healthz", h.operator)
    assert status
    assert '"standby"' in healthz(liveness_port)[1]
    samples = scrape(metrics_port)
    assert value(samples, "turnout_leader") == 0
    assert ("turnout_reconciles_total", frozenset({("result", "ok")})) not in samples


def test_healthz_fails_while_a_frozen_database_wedges_a_pass(
    operators: OperatorHarness, private_database: PostgresServer
) -> None:
    """A database that stops answering without an error (SIGSTOP) hangs a pass for good."""
    h = operators
    port = free_port()
    h.start(env={"TURNOUT_LIVENESS_PORT": str(port), "TURNOUT_LIVENESS_STALL_SECONDS": "5"})
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    assert healthz(port)[0] == 200
    process = private_database.process
    assert process is not None
    # The server and every backend (one process per connection) stop answering; the
    # kernel keeps the connections open, so nothing fails: calls just never return.
    frozen = [process.pid, *child_pids(process.pid)]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        h.patch_spec("demo", {"fallbackRoute": "treatment-1"})
        code, _ = wait_for(
            lambda: (lambda r: r if r[0] == 500 else None)(healthz(port)),
            90,
            "/healthz to fail",
            h.operator,
        )
        assert code == 500
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    h.wait_deployed("demo", 2)
    wait_for(lambda: healthz(port)[0] == 200, 60, "/healthz to recover", h.operator)
    wedged = [
        r for r in log_records(h.operator.log_path) if r.get("message") == "operator is wedged"
    ]
    assert wedged and "running for" in wedged[0]["problem"]
