"""`make demo`'s program, run as a user runs it: control plane, Postgres, operator, a Router."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devenv.cluster import Cluster
from devenv.procs import child_pids, pid_alive

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_demo_deploys_the_sample_router_and_a_second_version(cluster: object) -> None:
    # `cluster` only makes sure the control plane binaries are built; the demo starts its own.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("KUBECONFIG", "TURNOUT_DATABASE_URL")
    }
    completed = subprocess.run(
        [sys.executable, str(ROOT / "examples/demo.py"), "--exit"],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = completed.stdout
    assert completed.returncode == 0, f"{out}\n{completed.stderr}"
    assert "==> version 1 Deployed" in out
    assert "==> version 2 Deployed" in out
    # kubectl's own table: the Router Deployed at version 2 with its endpoint.
    rows = [line.split() for line in out.splitlines() if line.startswith("sample ")]
    assert rows, out
    last = rows[-1]
    assert last[1:4] == ["Deployed", "2", "hardcoded"]
    assert last[4] == "http://sample-router.turnout-demo.svc.cluster.local/v1/predict"
    assert "deployment.apps/sample-router" in out
    assert "configmap/sample-router-v2" in out


def test_demo_uses_an_existing_cluster_and_database_when_given(
    cluster: Cluster, migrated_database: str
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KUBECONFIG": str(cluster.kubeconfig),
        "TURNOUT_DATABASE_URL": migrated_database,
    }
    completed = subprocess.run(
        [sys.executable, str(ROOT / "examples/demo.py"), "--exit"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = completed.stdout
    assert completed.returncode == 0, f"{out}\n{completed.stderr}"
    assert f"==> using the cluster in KUBECONFIG={cluster.kubeconfig}" in out
    assert "==> using the database in TURNOUT_DATABASE_URL" in out
    assert "starting a local control plane" not in out
    # The Router is in the given cluster, Deployed at version 2.
    router = cluster.kubectl("get", "router", "sample", "-n", "turnout-demo", "-o", "json").stdout
    assert '"deployedVersion": 2' in router


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_stops_everything_the_demo_started(
    cluster: Cluster, stop: signal.Signals
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "TURNOUT_DATABASE_URL")}
    demo = subprocess.Popen(
        [sys.executable, str(ROOT / "examples/demo.py")],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started: list[int] = []
    try:
        assert demo.stdout is not None
        lines = []
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C stops everything"):
                break
        assert lines and lines[-1].startswith("Ctrl-C stops everything"), "".join(lines)
        started = child_pids(demo.pid)
        assert (
            len(started) >= 6
        )  # etcd, apiserver, controllers, scheduler, kwok, postgres, operator
        demo.send_signal(stop)
        rest, _ = demo.communicate(timeout=120)
        assert demo.returncode == 0, rest
        assert "stopping" in rest
        deadline = time.monotonic() + 30
        while any(pid_alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [pid for pid in started if pid_alive(pid)] == []
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        for pid in started:  # whatever a failed run left behind, by pid
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
