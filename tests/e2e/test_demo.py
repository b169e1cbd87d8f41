"""`make demo`'s program, run as a user runs it: control plane, Postgres, operator, a Router."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
