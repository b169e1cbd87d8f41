"""The operator's footprint before any Router: resident memory once it has started.

The real operator process (`python -m turnout_operator`, as in its pod) is started
against the kwok control plane with one engine (the Go hardcoded plugin) and no
Router, several times; for each start, its VmRSS a few seconds after kopf's startup
activity succeeded (its watches are open by then) and the peak so far (VmHWM).

    python -m tests.bench operator_startup
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from devenv import binaries as binaries_module
from devenv import gopeers
from devenv.cluster import start_cluster
from devenv.operator import CRD_FILE, Engine, OperatorConfig, migrate, start_operator, wait_for
from devenv.postgres import start_postgres
from devenv.procs import ProcessRegistry
from tests.bench.operator_latency import OPTIONS

STARTS = 3
SETTLE_SECONDS = 5.0
"""After the startup activity: kopf opens its watches and lists what they cover."""
NAMESPACE = "footprint"


def status_mib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


def main() -> None:
    registry = ProcessRegistry()
    workdir = Path(tempfile.mkdtemp(prefix="turnout-footprint-"))
    try:
        cluster = start_cluster(registry, binaries_module.locate(), workdir / "cluster")
        postgres = start_postgres(registry)
        migrate(postgres.url)
        cluster.kubectl("apply", "--server-side", "-f", str(CRD_FILE.parent))
        cluster.kubectl("wait", "--for=condition=Established", "crd", "--all")
        cluster.kubectl("create", "namespace", NAMESPACE)
        engine = Engine(name="hardcoded", binary=gopeers.locate().hardcoded_plugin, options=OPTIONS)
        rss: list[float] = []
        peak: list[float] = []
        for index in range(STARTS):
            operator = start_operator(
                registry,
                OperatorConfig(
                    kubeconfig=cluster.kubeconfig,
                    database_url=postgres.url,
                    workdir=workdir / f"operator-{index}",
                    engines=(engine,),
                    namespaces=(NAMESPACE,),
                ),
                name=f"operator-{index}",
            )
            wait_for(
                lambda log=operator.log_path: "Activity 'startup' succeeded" in log.read_text(),
                120,
                "operator startup",
                operator,
            )
            time.sleep(SETTLE_SECONDS)
            rss.append(status_mib(operator.pid, "VmRSS"))
            peak.append(status_mib(operator.pid, "VmHWM"))
            operator.stop()
        print(f"Operator footprint before any Router ({STARTS} starts, one engine, no Router)")
        print("VmRSS MiB: " + " ".join(f"{value:.1f}" for value in rss))
        print(
            f"VmRSS median {statistics.median(rss):.1f} MiB, VmHWM median {statistics.median(peak):.1f} MiB"
        )
    finally:
        registry.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
