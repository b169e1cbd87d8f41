"""Records, from a real control plane, the objects the in-process reconcile tier starts from.

    PYTHONPATH=. .venv/bin/python -m tests.reconcile.record

Starts the same control plane as the cluster tiers (kube-apiserver, controllers,
scheduler, kwok), installs the CRDs, and writes to `tests/reconcile/recorded/`:

* `router.json`: a Router as the API server returns it after a create (uid,
  generation, resourceVersion, defaults of the CRD);
* `applied-<kind>.json`: each child object of version 1 as the API server answers
  its server-side apply (every default it fills in);
* `deployment-complete.json`: the Deployment once version 1's pods are available;
* `deployment-progressing.json`: the Deployment rolling out version 2 (new pods not
  available yet);
* `deployment-failed.json`, `pods-pending.json`: a version whose pods can never be
  scheduled, after its progress deadline passed, and those pods.

Only this module talks to a server; the tier's tests read the files.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from devenv import binaries as binaries_module
from devenv.cluster import Cluster, start_cluster, wait_for_default_service_account
from devenv.procs import ProcessRegistry
from tests.reconcile.world import (
    BUILD,
    NAMESPACE,
    RECORDED,
    ROUTER_NAME,
    router_manifest,
    version_objects,
    version_row,
)
from turnout_operator.cache import RouterObject

DEADLINE_SECONDS = 5
UNSCHEDULABLE_CPU = "5000"
VOLATILE_METADATA = ("managedFields",)


def _kubectl_json(cluster: Cluster, *args: str, body: Any | None = None) -> Any:
    result = cluster.kubectl(*args, "-o", "json", input=json.dumps(body) if body else None)
    return json.loads(result.stdout)


def _apply(cluster: Cluster, body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = _kubectl_json(
        cluster,
        "apply",
        "--server-side",
        "--field-manager=turnout",
        "--force-conflicts",
        "-f",
        "-",
        body=body,
    )
    return answer


def _get(cluster: Cluster, kind: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = _kubectl_json(cluster, "get", kind, name, "-n", NAMESPACE)
    return body


def _wait(what: str, check: Any, seconds: float = 180.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (found := check()) is not None:
            return found
        time.sleep(0.5)
    raise TimeoutError(f"not seen within {seconds:.0f} s: {what}")


def _write(name: str, body: Any) -> None:
    if isinstance(body, dict):
        body.get("metadata", {}).pop("managedFields", None)
    (RECORDED / name).write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")
    print(f"recorded {name}")


def record(cluster: Cluster) -> None:
    root = binaries_module.REPO_ROOT
    for crd in ("routers.turnout.dev", "routerversions.turnout.dev"):
        cluster.kubectl("apply", "--server-side", "-f", str(root / "crds" / f"{crd}.yaml"))
        cluster.kubectl("wait", "--for=condition=Established", f"customresourcedefinition/{crd}")
    cluster.kubectl("create", "namespace", NAMESPACE)
    wait_for_default_service_account(cluster, NAMESPACE)
    router = _kubectl_json(cluster, "create", "-n", NAMESPACE, "-f", "-", body=router_manifest())
    _write("router.json", router)

    identity = RouterObject.from_body(router).identity
    first = version_objects(identity, version_row(1))
    applied = {
        kind: _apply(cluster, body)
        for kind, body in (
            ("configmap", first.configmap),
            ("service", first.service),
            ("deployment", first.deployment),
        )
    }
    for kind, body in applied.items():
        _write(f"applied-{kind}.json", body)

    def complete() -> dict[str, Any] | None:
        body = _get(cluster, "deployment", f"{ROUTER_NAME}-router")
        status = body.get("status", {})
        done = (
            status.get("observedGeneration") == body["metadata"]["generation"]
            and status.get("updatedReplicas") == status.get("replicas") == 1
            and status.get("availableReplicas") == 1
        )
        return body if done else None

    _write("deployment-complete.json", _wait("version 1 available", complete))

    scaled = {"autoscaling": {"minReplicas": 1, "maxReplicas": 3}}
    hpa = version_objects(identity, version_row(1), scaling=scaled).hpa
    assert hpa is not None
    _write("applied-hpa.json", _apply(cluster, hpa))

    failing = version_objects(
        identity,
        version_row(2, resources={"requests": {"cpu": UNSCHEDULABLE_CPU}}),
        progress_deadline_seconds=DEADLINE_SECONDS,
    )
    _apply(cluster, failing.configmap)
    _apply(cluster, failing.deployment)

    def progressing() -> dict[str, Any] | None:
        body = _get(cluster, "deployment", f"{ROUTER_NAME}-router")
        status = body.get("status", {})
        conditions = {c.get("type"): c.get("reason") for c in status.get("conditions", [])}
        rolling = (
            status.get("observedGeneration") == body["metadata"]["generation"]
            and conditions.get("Progressing") == "ReplicaSetUpdated"
        )
        return body if rolling else None

    _write("deployment-progressing.json", _wait("version 2 rolling out", progressing))

    def failed() -> dict[str, Any] | None:
        body = _get(cluster, "deployment", f"{ROUTER_NAME}-router")
        conditions = body.get("status", {}).get("conditions", [])
        stuck = any(c.get("reason") == "ProgressDeadlineExceeded" for c in conditions)
        return body if stuck else None

    _write("deployment-failed.json", _wait("version 2 past its progress deadline", failed))
    pods = _kubectl_json(cluster, "get", "pods", "-n", NAMESPACE, "-l", "turnout.dev/version=2")
    _write("pods-pending.json", pods["items"])


def main() -> None:
    RECORDED.mkdir(exist_ok=True)
    registry = ProcessRegistry()
    try:
        with tempfile.TemporaryDirectory(prefix="turnout-record-") as scratch:
            cluster = start_cluster(registry, binaries_module.locate(), Path(scratch))
            record(cluster)
    finally:
        registry.stop_all()
    print(f"written to {RECORDED}; BUILD image {BUILD.router_image}")


if __name__ == "__main__":
    main()
