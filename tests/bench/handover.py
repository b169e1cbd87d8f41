"""Leader hand-over: how long a standby takes to take over, after SIGKILL and after SIGTERM.

Two operator replicas with leader election (the defaults: Lease 15 s, renew deadline
10 s, retry 2 s) on the kwok control plane. Each round stops the leader, changes a
Router at once, and reads from the standby's log when it held the Lease ("became
leader") and when it first reconciled the changed Router; then starts a new standby
for the next round. After SIGKILL the standby must wait for the Lease to expire
(it counts the duration from the last change it saw); after SIGTERM the leader
releases it and the standby takes it on its next look.
"""

from __future__ import annotations

import json
import signal
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from devenv import binaries as binaries_module
from devenv.cluster import Cluster, start_cluster
from devenv.operator import (
    CRD_FILE,
    Engine,
    OperatorConfig,
    log_records,
    migrate,
    start_operator,
    wait_for,
)
from devenv.postgres import start_postgres
from devenv.procs import Process, ProcessRegistry
from devenv.zipapp import build_hardcoded_plugin

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = json.loads((ROOT / "examples/plugins/hardcoded/sample_engine_options.json").read_text())
NAMESPACE = "bench-handover"
ROUNDS = (signal.SIGKILL, signal.SIGKILL, signal.SIGKILL, signal.SIGTERM, signal.SIGTERM)


def router(timeout_s: int) -> dict[str, Any]:
    return {
        "apiVersion": "turnout.dev/v1alpha1",
        "kind": "Router",
        "metadata": {"name": "demo", "namespace": NAMESPACE},
        "spec": {
            "routes": [
                {
                    "id": "control",
                    "endpoint": "http://control.models:8080/p",
                    "timeout": f"{timeout_s}s",
                },
                {"id": "treatment-1", "endpoint": "http://t1.models:8080/p"},
            ],
            "fallbackRoute": "control",
            "routeNamePath": "route_name",
            "experimentEngine": {
                "type": "hardcoded",
                "config": {"experiments": [{"id": "001", "name": "exp_1"}]},
            },
        },
    }


def stamp(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["timestamp"]).timestamp()


def first(process: Process, message: str, **match: Any) -> dict[str, Any] | None:
    for record in log_records(process.log_path):
        if record.get("message") == message and all(record.get(k) == v for k, v in match.items()):
            return record
    return None


class Replicas:
    def __init__(self, registry: ProcessRegistry, cluster: Cluster, database: str, workdir: Path):
        self.registry, self.cluster, self.database, self.workdir = (
            registry,
            cluster,
            database,
            workdir,
        )
        self.plugin = workdir / "hardcoded"
        build_hardcoded_plugin(self.plugin)
        self.count = 0

    def start(self) -> Process:
        self.count += 1
        name = f"replica-{self.count}"
        return start_operator(
            self.registry,
            OperatorConfig(
                kubeconfig=self.cluster.kubeconfig,
                database_url=self.database,
                workdir=self.workdir / name,
                engines=(Engine(name="hardcoded", binary=self.plugin, options=OPTIONS),),
                namespaces=(NAMESPACE,),
                extra_env={"TURNOUT_RETRY_SECONDS": "1"},
            ),
            name=name,
        )


def generation(cluster: Cluster) -> int:
    body = json.loads(
        cluster.kubectl("get", "router", "demo", "-n", NAMESPACE, "-o", "json").stdout
    )
    return int(body["metadata"]["generation"])


def hand_over(
    cluster: Cluster, leader: Process, standby: Process, signum: signal.Signals, index: int
) -> tuple[str, float, float]:
    """Stop the leader and change the Router; seconds until the standby leads and reconciles."""
    stopped_at = time.time()
    leader.popen.send_signal(signum)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(router(index + 2)))
    wanted = generation(cluster)
    became = wait_for(lambda: first(standby, "became leader"), 120, "the standby leads", standby)
    done = wait_for(
        lambda: first(standby, "reconciled", router="demo", generation=wanted),
        120,
        "the changed Router reconciled",
        standby,
    )
    leader.popen.wait(timeout=60)
    return signum.name, stamp(became) - stopped_at, stamp(done) - stopped_at


def main() -> None:
    registry = ProcessRegistry()
    workdir = Path(tempfile.mkdtemp(prefix="turnout-bench-"))
    try:
        cluster = start_cluster(registry, binaries_module.locate(), workdir / "cluster")
        database = start_postgres(registry).url
        migrate(database)
        cluster.kubectl("apply", "--server-side", "-f", str(CRD_FILE))
        cluster.kubectl("wait", "--for=condition=Established", "crd/routers.turnout.dev")
        cluster.kubectl("create", "namespace", NAMESPACE)
        replicas = Replicas(registry, cluster, database, workdir)
        leader = replicas.start()
        wait_for(lambda: first(leader, "became leader"), 60, "the first leader", leader)
        standby = replicas.start()
        wait_for(lambda: first(standby, "waiting for leadership"), 60, "a standby", standby)
        cluster.kubectl("apply", "-f", "-", input=json.dumps(router(2)))
        wait_for(
            lambda: first(leader, "reconciled", router="demo", phase="Deployed"),
            120,
            "demo Deployed",
            leader,
        )

        rows = []
        for index, signum in enumerate(ROUNDS, start=1):
            rows.append(hand_over(cluster, leader, standby, signum, index))
            leader, standby = standby, replicas.start()
            wait_for(lambda s=standby: first(s, "waiting for leadership"), 60, "a standby", standby)

        print("Leader hand-over, two replicas, Lease 15 s / renew deadline 10 s / retry 2 s, kwok")
        print(
            f"{'round':6} {'signal':8} {'-> standby holds Lease s':>25} {'-> first reconcile s':>21}"
        )
        for number, (name, lease_s, reconcile_s) in enumerate(rows, start=1):
            print(f"{number:<6} {name:8} {lease_s:25.2f} {reconcile_s:21.2f}")
        for name in ("SIGKILL", "SIGTERM"):
            mine = [row for row in rows if row[0] == name]
            print(
                f"{name}: median {statistics.median(r[1] for r in mine):.2f} s to the Lease, "
                f"{statistics.median(r[2] for r in mine):.2f} s to the first reconcile "
                f"(max {max(r[2] for r in mine):.2f} s)"
            )
    finally:
        registry.stop_all()


if __name__ == "__main__":
    main()
