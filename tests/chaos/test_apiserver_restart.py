"""The API server restarted (same flags, same port, same etcd) under a running operator.

A control plane of the test's own is used, not the session's: restarting the
session's API server would drop the connections of every other fixture and of
tests that may run next to this one, and a failed restart would take the rest
of the session with it. Starting a private one costs a few seconds.

After the restart, changes are made straight away (new specs, a new Router, a
deleted Router, a deleted Deployment): the operator's watches must resume and
miss none of them, with the operator process kept running throughout.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv.cluster import (
    Cluster,
    restart_apiserver,
)
from devenv.gopeers import GoPeers
from devenv.operator import log_records
from devenv.procs import ProcessRegistry
from tests.chaos.support import (
    SpecHistory,
    fleet_manifest,
    private_cluster,
    reconcile_failures,
    wait_converged,
)
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.chaos

NAMESPACE = "chaos"


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[tuple[ProcessRegistry, Cluster]]:
    with private_cluster(tmp_path / "cluster", NAMESPACE) as started:
        yield started


def test_apiserver_restart_watches_resume_and_nothing_is_missed(
    own_cluster: tuple[ProcessRegistry, Cluster],
    migrated_database: str,
    python_plugin: Path,
    gopeers: GoPeers,
    tmp_path: Path,
) -> None:
    registry, cluster = own_cluster
    operators = ProcessRegistry()
    h = OperatorHarness(
        cluster=cluster,
        database_url=migrated_database,
        namespace=NAMESPACE,
        workdir=tmp_path / "operator",
        registry=operators,
        python_plugin=python_plugin,
        go_plugin=gopeers.hardcoded_plugin,
    )
    try:
        # Resync far away: only watch events can bring the changes in time. No leader
        # election: with it, an API server away longer than the Lease's renew deadline
        # (10 s) makes the operator exit to restart as a standby, as controller-runtime's
        # do (docs/operator.md); this test is about kopf's watches resuming in one process.
        h.start(
            env={
                "TURNOUT_RESYNC_SECONDS": "3600",
                "TURNOUT_RETRY_SECONDS": "1",
                "TURNOUT_LEADER_ELECTION": "false",
            }
        )
        history = SpecHistory()
        names = [f"a{index:02d}" for index in range(5)]
        for name in names:
            manifest = fleet_manifest(name, 0)
            h.apply(manifest)
            history.record(name, manifest["spec"])
        for name in names:
            h.wait_deployed(name, 1)
        old_uid = h.kubectl_json("get", "deployment", "a04-router")["metadata"]["uid"]

        restart_apiserver(registry, cluster)

        for name in names[:2]:
            manifest = fleet_manifest(name, 1)
            h.apply(manifest)
            history.record(name, manifest["spec"])
        created = fleet_manifest("a05", 0)
        h.apply(created)
        history.record("a05", created["spec"])
        cluster.kubectl("delete", "router", "a03", "-n", NAMESPACE, "--wait=false")
        del history.applied["a03"]
        cluster.kubectl("delete", "deployment", "a04-router", "-n", NAMESPACE, "--wait=false")

        expected = history.expected_versions()
        assert expected == {"a00": 2, "a01": 2, "a02": 1, "a04": 1, "a05": 1}
        wait_converged(h, expected, 120, deleted=["a03"])
        # The Deployment deleted after the restart was seen and made again.
        new = h.kubectl_json("get", "deployment", "a04-router")
        assert new["metadata"]["uid"] != old_uid
        assert h.operator.alive() and len(h.started) == 1  # the same process throughout
        assert reconcile_failures(log_records(h.operator.log_path)) == []
    finally:
        operators.stop_all()
