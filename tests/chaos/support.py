"""What every chaos test shares: sizes, the seed, a fleet of Routers and the global invariants.

The invariants are checked from outside the operator: version rows with plain SQL,
objects by listing what carries the managed-by label, and the expected version of
each Router from the sequence of distinct specs the test itself applied.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import yaml

from devenv import binaries as binaries_module
from devenv.cluster import (
    DEFAULT_PROFILE,
    Cluster,
    Profile,
    start_cluster,
    wait_for_default_service_account,
)
from devenv.postgres import libpq_url
from devenv.procs import ProcessRegistry
from tests.integration.test_operator import router_manifest
from tests.substrate.fixtures import ROUTER_CRD_FILE, ROUTER_CRD_NAME, ROUTER_VERSION_CRD_NAME
from tests.substrate.operator_fixtures import OperatorHarness

SEED_ENV = "TURNOUT_CHAOS_SEED"
SCALE_ENV = "TURNOUT_CHAOS_SCALE"
"""`ci` (default; what `make test` runs) or `full` (`python -m tests.bench chaos`)."""


@dataclass(frozen=True)
class Sizes:
    routers: int
    """Routers created and changed while the operator is killed."""
    kills: int
    """SIGKILLs of the operator during that load."""
    outage_seconds: float
    """How long Postgres stays down."""
    outage_routers: int
    """Routers deployed before the database outage (the data plane serves one of them)."""
    invalid_specs: int
    """Generated invalid Router specs."""
    invalid_judged: int
    """Of those, how many are also created under a CRD that checks nothing."""


SIZES = {
    "ci": Sizes(
        routers=30,
        kills=4,
        outage_seconds=10,
        outage_routers=6,
        invalid_specs=200,
        invalid_judged=40,
    ),
    "full": Sizes(
        routers=100,
        kills=10,
        outage_seconds=30,
        outage_routers=20,
        invalid_specs=1000,
        invalid_judged=200,
    ),
}


def sizes() -> Sizes:
    scale = os.environ.get(SCALE_ENV, "ci")
    if scale not in SIZES:
        raise ValueError(f"{SCALE_ENV} must be one of {sorted(SIZES)}, not {scale!r}")
    return SIZES[scale]


def chaos_seed() -> int:
    text = os.environ.get(SEED_ENV)
    return int(text) if text else random.SystemRandom().randrange(2**32)


MANAGED_BY = "app.kubernetes.io/managed-by=turnout"


def fleet_manifest(name: str, variant: int) -> dict[str, Any]:
    """Router ``name`` with spec ``variant``: distinct variants give distinct specs.

    The variant is the treatment route's timeout, so every variant is valid, needs
    the engine's manager for a new version, and differs from every other.
    """
    manifest = router_manifest(name=name)
    manifest["spec"]["routes"][1]["timeout"] = f"{variant + 2}s"
    return manifest


@dataclass
class SpecHistory:
    """The specs a test applied to each Router, in order; the expected version numbers."""

    applied: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def record(self, name: str, spec: dict[str, Any]) -> None:
        self.applied.setdefault(name, []).append(copy.deepcopy(spec))

    def distinct(self, name: str) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        for spec in self.applied[name]:
            if spec not in seen:
                seen.append(spec)
        return seen

    def expected_version(self, name: str) -> int:
        """Versions are numbered by first appearance: a spec seen before keeps its number."""
        return self.distinct(name).index(self.applied[name][-1]) + 1

    def expected_versions(self) -> dict[str, int]:
        return {name: self.expected_version(name) for name in self.applied}


def version_rows(h: OperatorHarness) -> dict[str, list[tuple[int, str]]]:
    """Every Router's (number, status) rows in the test's namespace, by plain SQL."""
    with psycopg.connect(libpq_url(h.database_url), connect_timeout=5) as conn:
        rows = conn.execute(
            """
            select r.name, v.number, v.status
            from router_versions v join routers r on r.id = v.router_id
            where r.namespace = %s
            order by r.name, v.number
            """,
            (h.namespace,),
        ).fetchall()
    found: dict[str, list[tuple[int, str]]] = {}
    for name, number, status in rows:
        found.setdefault(name, []).append((number, status))
    return found


def routers(h: OperatorHarness) -> dict[str, dict[str, Any]]:
    listing = h.kubectl_json("get", "routers") or {"items": []}
    return {item["metadata"]["name"]: item for item in listing["items"]}


def managed_objects(h: OperatorHarness) -> dict[str, set[str]]:
    """Names of the ConfigMaps, Deployments and Services that carry the managed-by label."""
    listing = h.kubectl_json("get", "configmaps,deployments,services", "-l", MANAGED_BY) or {
        "items": []
    }
    found: dict[str, set[str]] = {"ConfigMap": set(), "Deployment": set(), "Service": set()}
    for item in listing["items"]:
        found[item["kind"]].add(item["metadata"]["name"])
    return found


def problems(
    h: OperatorHarness, expected: dict[str, int], deleted: Iterable[str] = ()
) -> list[str]:
    """Every way the namespace differs from converged; empty when it has converged.

    Converged: each Router Deployed at the version its spec implies, versions
    numbered 1..n with no gap or duplicate, the expected one `deployed` and none
    `pending`, and exactly one ConfigMap (of that version), Deployment and Service
    per Router, nothing else with the label. Routers in ``deleted`` are gone and all
    their versions `undeployed`.
    """
    found: list[str] = []
    bodies = routers(h)
    rows = version_rows(h)
    for name, version in sorted(expected.items()):
        status = bodies.get(name, {}).get("status", {})
        if (status.get("phase"), status.get("deployedVersion")) != ("Deployed", version):
            found.append(
                f"{name}: phase {status.get('phase')} at version "
                f"{status.get('deployedVersion')}, expected Deployed at {version}"
            )
        numbers = [number for number, _ in rows.get(name, [])]
        if numbers != list(range(1, len(numbers) + 1)) or len(numbers) < version:
            found.append(f"{name}: version numbers {numbers}, expected 1..n with n >= {version}")
        statuses = dict(rows.get(name, []))
        if statuses.get(version) != "deployed":
            found.append(f"{name}: version {version} is {statuses.get(version)}, not deployed")
        others = {n: s for n, s in statuses.items() if n != version and s != "undeployed"}
        if others:
            found.append(f"{name}: other versions not undeployed: {others}")
    for name in deleted:
        if name in bodies:
            found.append(f"{name}: still exists")
        live = {n: s for n, s in rows.get(name, []) if s != "undeployed"}
        if live:
            found.append(f"{name}: deleted, but versions not undeployed: {live}")
    extra_rows = set(rows) - set(expected) - set(deleted)
    if extra_rows:
        found.append(f"version rows of Routers never applied: {sorted(extra_rows)}")
    objects = managed_objects(h)
    wanted = {
        "ConfigMap": {f"{name}-router-v{version}" for name, version in expected.items()},
        "Deployment": {f"{name}-router" for name in expected},
        "Service": {f"{name}-router" for name in expected},
    }
    for kind, names in wanted.items():
        if objects[kind] - names:
            found.append(f"orphaned {kind}s: {sorted(objects[kind] - names)}")
        if names - objects[kind]:
            found.append(f"missing {kind}s: {sorted(names - objects[kind])}")
    return found


def wait_converged(
    h: OperatorHarness, expected: dict[str, int], timeout: float, deleted: Iterable[str] = ()
) -> None:
    """Until `problems` finds none; fails with what is still wrong (never passes by timing out)."""
    deadline = time.monotonic() + timeout
    while True:
        h.operator.ensure_running()
        found = problems(h, expected, deleted)
        if not found:
            return
        if time.monotonic() > deadline:
            shown = "\n".join(found[:40])
            raise AssertionError(
                f"not converged after {timeout:.0f}s ({len(found)} problems):\n{shown}"
            )
        time.sleep(1)


def exact_numbering(history: SpecHistory, rows: dict[str, list[tuple[int, str]]]) -> list[str]:
    """Each Router has exactly as many versions as distinct specs were applied to it.

    Holds when the test waited for each spec to be recorded before replacing it.
    """
    return [
        f"{name}: {len(rows.get(name, []))} versions for {len(history.distinct(name))} distinct specs"
        for name in history.applied
        if len(rows.get(name, [])) != len(history.distinct(name))
    ]


def reconcile_failures(records: Iterable[dict[str, Any]]) -> list[str]:
    """Tracebacks of passes that raised (the loop survives them, but they are bugs)."""
    return [
        f"{r.get('router')}: {r.get('exc_info') or r.get('exception') or r}"
        for r in records
        if r.get("message") == "reconcile failed"
    ]


def open_crd() -> dict[str, Any]:
    """The Router CRD with a schema that accepts anything: a CRD older than the operator."""
    crd: dict[str, Any] = yaml.safe_load(ROUTER_CRD_FILE.read_text())
    for version in crd["spec"]["versions"]:
        version["schema"] = {
            "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        }
    return crd


@contextlib.contextmanager
def private_cluster(
    workdir: Path,
    namespace: str,
    crd: dict[str, Any] | None = None,
    profile: Profile = DEFAULT_PROFILE,
) -> Iterator[tuple[ProcessRegistry, Cluster]]:
    """A control plane of the test's own with the Router CRD (or ``crd``) and a namespace.

    For faults that must not reach the session's cluster (an API server restart)
    or a CRD other than the committed one. Stopped when the block ends.
    """
    registry = ProcessRegistry()
    try:
        cluster = start_cluster(registry, binaries_module.locate(), workdir, profile)
        cluster.kubectl(
            "apply",
            "-f",
            "-",
            input=yaml.safe_dump(crd or yaml.safe_load(ROUTER_CRD_FILE.read_text())),
        )
        # The operator mirrors versions into RouterVersions: that CRD is always the committed one.
        cluster.kubectl(
            "apply", "-f", str(ROUTER_CRD_FILE.parent / f"{ROUTER_VERSION_CRD_NAME}.yaml")
        )
        for name in (ROUTER_CRD_NAME, ROUTER_VERSION_CRD_NAME):
            cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}")
        cluster.kubectl("create", "namespace", namespace)
        wait_for_default_service_account(cluster, namespace)
        yield registry, cluster
    finally:
        registry.stop_all()


AUDITED = dataclasses.replace(
    DEFAULT_PROFILE,
    name="audited",
    audit=True,
    # Batches reach the file within a second: a test reads the log soon after acting.
    apiserver_flags=("--audit-log-batch-max-wait=1s",),
)
"""The test suite's control plane with an audit log of every client's requests."""

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
OPERATOR_AGENT = "turnout-operator"
"""The User-Agent of the operator's own requests (kube.USER_AGENT)."""


@dataclass(frozen=True)
class AuditedWrite:
    """One write the audit log recorded."""

    received: float
    """When the API server received it (seconds since the epoch)."""
    verb: str
    resource: str
    subresource: str
    namespace: str
    name: str
    agent: str


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def audited_writes(cluster: Cluster) -> list[AuditedWrite]:
    """Every completed write in the cluster's audit log, in the order received."""
    assert cluster.audit_log is not None, "start the cluster with an audit log (AUDITED)"
    writes: list[AuditedWrite] = []
    for line in cluster.audit_log.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("stage") != "ResponseComplete" or entry.get("verb") not in WRITE_VERBS:
            continue
        ref = entry.get("objectRef") or {}
        writes.append(
            AuditedWrite(
                received=_epoch(entry["requestReceivedTimestamp"]),
                verb=entry["verb"],
                resource=ref.get("resource", ""),
                subresource=ref.get("subresource", ""),
                namespace=ref.get("namespace", ""),
                name=ref.get("name", ""),
                agent=entry.get("userAgent", ""),
            )
        )
    return sorted(writes, key=lambda write: write.received)


def router_objects(write: AuditedWrite, router: str) -> bool:
    """Whether `write` is to the Router `router` itself or one of the objects it owns."""
    if write.resource == "routers":
        return write.name == router
    if write.resource == "routerversions":
        return write.name.startswith(f"{router}-v")
    return write.name == f"{router}-router" or write.name.startswith(f"{router}-router-v")


@contextlib.contextmanager
def cpu_burner(cores: int = 2) -> Iterator[list[int]]:
    """Keep `cores` cores busy at the lowest priority while the block runs (a busy machine,
    as CI's may be). Yields the burners' pids; they are stopped by pid at the end."""
    burners = [
        subprocess.Popen(
            ["nice", "-n", "19", sys.executable, "-c", "while True: pass"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(cores)
    ]
    try:
        yield [burner.pid for burner in burners]
    finally:
        for burner in burners:
            burner.kill()
            burner.wait(timeout=30)
