"""Postgres stopped while Routers are created and changed; the data plane serves throughout.

Routers are deployed, then the database stops. Half of them get a new spec and
new Routers are created while it is down; the other half are only woken (an
annotation) and one loses its Service. The affected Routers must say that the
database is unavailable; the untouched ones stay Deployed with their Deployments
unchanged and the Service made again, and a real router process
serving one of them (from its ConfigMap) answers every request. Once the
database is back everything converges without anyone touching a Router.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

from devenv.operator import log_records, wait_for
from devenv.postgres import PostgresServer
from tests.chaos.support import (
    SpecHistory,
    exact_numbering,
    fleet_manifest,
    reconcile_failures,
    routers,
    sizes,
    version_rows,
    wait_converged,
)
from tests.chaos.traffic import Traffic
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.chaos


def _deployments(h: OperatorHarness) -> dict[str, dict[str, Any]]:
    listing = h.kubectl_json("get", "deployments") or {"items": []}
    return {
        item["metadata"]["name"]: {
            "generation": item["metadata"]["generation"],
            "available": item.get("status", {}).get("availableReplicas"),
        }
        for item in listing["items"]
    }


def _says_database_unavailable(status: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Progressing" and c["reason"] == "DatabaseUnavailable"
        for c in status.get("conditions", [])
    )


def test_database_outage_during_reconciles_loses_nothing_and_the_data_plane_serves(
    operators: OperatorHarness, private_database: PostgresServer, seed: int, tmp_path: Path
) -> None:
    h = operators
    size = sizes()
    rng = random.Random(seed)
    names = [f"d{index:02d}" for index in range(size.outage_routers)]
    history = SpecHistory()
    h.start(env={"TURNOUT_RETRY_SECONDS": "1"})
    for name in names:
        manifest = fleet_manifest(name, 0)
        h.apply(manifest)
        history.record(name, manifest["spec"])
    for name in names:
        h.wait_deployed(name, 1)

    changed = sorted(rng.sample(names, len(names) // 2))
    untouched = [name for name in names if name not in changed]
    created = [f"n{index:02d}" for index in range(2)]
    traffic = Traffic.from_configmap(h, f"{untouched[0]}-router-v1", tmp_path / "data-plane")
    traffic.start()
    try:
        deployments_before = _deployments(h)
        outage_start = time.monotonic()
        private_database.stop()
        for name in changed:
            manifest = fleet_manifest(name, 1)
            h.apply(manifest)
            history.record(name, manifest["spec"])
        for name in created:
            manifest = fleet_manifest(name, 0)
            h.apply(manifest)
            history.record(name, manifest["spec"])

        affected = changed + created

        def all_affected_say_so() -> dict[str, dict[str, Any]] | None:
            found = routers(h)
            statuses = [found.get(name, {}).get("status", {}) for name in affected]
            return found if all(map(_says_database_unavailable, statuses)) else None

        bodies = wait_for(
            all_affected_say_so,
            60,
            "every affected Router to say the database is unavailable",
            h.operator,
        )
        for name in changed:
            status = bodies[name]["status"]
            assert status["phase"] == "Pending", name
            assert status["deployedVersion"] == 1, name  # version 1 keeps serving
            assert "database unavailable" in status["message"], name
        for name in created:
            assert bodies[name]["status"]["phase"] == "Pending", name
            assert bodies[name]["status"].get("deployedVersion") is None, name

        # Wake the untouched Routers (an annotation: a pass, no new generation) and delete
        # one's Service: the operator must repair it without the database and leave the
        # Routers Deployed.
        h.cluster.kubectl(
            "annotate", "routers", *untouched, "-n", h.namespace, "chaos.turnout.dev/poke=1"
        )
        h.cluster.kubectl("delete", "service", f"{untouched[-1]}-router", "-n", h.namespace)
        wait_for(
            lambda: h.kubectl_json("get", "service", f"{untouched[-1]}-router"),
            60,
            "the deleted Service made again while the database is down",
            h.operator,
        )
        time.sleep(max(0.0, outage_start + size.outage_seconds - time.monotonic()))
        # Still down: the untouched Routers are as they were, their pods untouched.
        bodies = routers(h)
        for name in untouched:
            status = bodies[name]["status"]
            assert (status["phase"], status["deployedVersion"]) == ("Deployed", 1), name
            assert h.condition(name, "Ready")["status"] == "True", name
        deployments_during = _deployments(h)
        for name in names:
            assert deployments_during[f"{name}-router"] == deployments_before[f"{name}-router"]
        outage_end = time.monotonic()
        private_database.start()

        expected = history.expected_versions()
        assert expected == {**dict.fromkeys(untouched + created, 1), **dict.fromkeys(changed, 2)}
        wait_converged(h, expected, 120)
    finally:
        traffic.stop()

    assert exact_numbering(history, version_rows(h)) == []
    assert reconcile_failures(log_records(h.operator.log_path)) == []
    assert h.operator.alive()
    during = traffic.between(outage_start, outage_end)
    assert len(during) >= size.outage_seconds  # well over one request a second
    assert [a.detail for a in traffic.answers if not a.ok] == []
