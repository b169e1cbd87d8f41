"""What the operator keeps per Router, structure by structure, measured with tracemalloc.

`python -m tests.bench memory_per_router [--routers N]`: pure and repeatable (no
cluster, no database). It builds, for N Routers, what the operator's own
structures hold once every Router is deployed and idle, using the real builders
and realistic bodies (a Deployment as the API server returns it: defaults filled
in, managedFields of two managers, a status with conditions), and prints the
bytes each structure holds per Router (traced allocations after the structure
was filled, minus those before, all in the same run), then the CPU time of the
calls made on every watch event and every pass.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import itertools
import json
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from devenv.gopeers import HARDCODED_RUNNER_CONFIG_TEXT
from tests.bench.operator_latency import spec
from turnout_operator.api import RouterSpec, RouterStatus
from turnout_operator.api.engine_config import parse_engines
from turnout_operator.builders import BuildSettings, RouterIdentity, endpoint
from turnout_operator.builders.desired import engine_document, version_inputs
from turnout_operator.builders.routerversions import routerversion_body
from turnout_operator.cache import RouterObject
from turnout_operator.cache.children import ChildCache
from turnout_operator.cache.compact_record import kept_record
from turnout_operator.cache.desired import DesiredMemo
from turnout_operator.cache.mirrors import MirrorMemo, Mirrors
from turnout_operator.reconcile import verdicts
from turnout_operator.reconcile.rollout import RolloutPhase, RolloutState
from turnout_operator.reconcile.status import build_status, status_body
from turnout_operator.store import VersionRecord, VersionStatus

NAMESPACE = "bench"
SETTINGS = BuildSettings(router_image="ghcr.io/turnout/router:0.1.0")
(ENGINE,) = parse_engines(
    "- name: hardcoded\n  rpcPlugin: {image: ghcr.io/turnout/hardcoded-plugin:0.1.0}\n"
)
RUNNER_CONFIG = json.loads(HARDCODED_RUNNER_CONFIG_TEXT)
MOMENT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
STAMP = "2026-11-30T09:00:00Z"


# --- bodies as the API server returns them ---


def _fields(value: Any) -> Any:
    """managedFields' fieldsV1 for `value`, shaped as the API server writes it."""
    if isinstance(value, dict):
        return {f"f:{key}": _fields(item) for key, item in value.items()}
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for index, item in enumerate(value):
            if isinstance(item, dict) and "name" in item:
                out['k:{"name":"' + str(item["name"]) + '"}'] = {".": {}, **_fields(item)}
            else:
                out[f"i:{index}"] = _fields(item)
        return out
    return {}


def served(obj: dict[str, Any], index: int, status: dict[str, Any] | None = None) -> dict[str, Any]:
    """`obj` as applied by the operator and returned by the API server."""
    body = json.loads(json.dumps(obj))
    meta = body["metadata"]
    managed = [
        {
            "manager": "turnout",
            "operation": "Apply",
            "apiVersion": body["apiVersion"],
            "time": STAMP,
            "fieldsType": "FieldsV1",
            "fieldsV1": _fields({k: v for k, v in body.items() if k not in ("apiVersion", "kind")}),
        }
    ]
    if status is not None:
        managed.append(
            {
                "manager": "kube-controller-manager",
                "operation": "Update",
                "apiVersion": body["apiVersion"],
                "time": STAMP,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": _fields(status)},
                "subresource": "status",
            }
        )
        body["status"] = status
    meta.update(
        {
            "uid": f"0b5c{index:04d}-7a1e-4c2f-9d3b-{index:012d}",
            "resourceVersion": str(100_000 + index),
            "generation": 1,
            "creationTimestamp": STAMP,
            "managedFields": managed,
        }
    )
    return body


def served_deployment(obj: dict[str, Any], index: int) -> dict[str, Any]:
    body = json.loads(json.dumps(obj))
    body["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "1"
    body_spec = body["spec"]
    body_spec.setdefault("revisionHistoryLimit", 10)
    body_spec.setdefault("progressDeadlineSeconds", 600)
    body_spec.setdefault(
        "strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%"}}
    )
    pod = body_spec["template"]["spec"]
    pod.setdefault("restartPolicy", "Always")
    pod.setdefault("terminationGracePeriodSeconds", 30)
    pod.setdefault("dnsPolicy", "ClusterFirst")
    pod.setdefault("securityContext", {})
    pod.setdefault("schedulerName", "default-scheduler")
    for container in pod.get("containers", []):
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("imagePullPolicy", "IfNotPresent")
        for port in container.get("ports", []):
            port.setdefault("protocol", "TCP")
    replicas = int(body_spec.get("replicas", 1))
    condition = {
        "lastUpdateTime": STAMP,
        "lastTransitionTime": STAMP,
    }
    status = {
        "observedGeneration": 1,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                **condition,
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
            },
            {
                "type": "Progressing",
                "status": "True",
                **condition,
                "reason": "NewReplicaSetAvailable",
                "message": f'ReplicaSet "{obj["metadata"]["name"]}-7d9f8c6b5d" has '
                "successfully progressed.",
            },
        ],
    }
    return served(body, index, status)


def served_service(obj: dict[str, Any], index: int) -> dict[str, Any]:
    body = json.loads(json.dumps(obj))
    body_spec = body["spec"]
    body_spec.update(
        {
            "clusterIP": f"10.96.{index // 250}.{index % 250 + 1}",
            "clusterIPs": [f"10.96.{index // 250}.{index % 250 + 1}"],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
            "sessionAffinity": "None",
        }
    )
    body_spec.setdefault("type", "ClusterIP")
    return served(body, index, {"loadBalancer": {}})


# --- one Router's state ---


class Router:
    """Everything built for one Router, before any structure keeps it."""

    def __init__(self, index: int) -> None:
        self.identity = RouterIdentity(namespace=NAMESPACE, name=f"r{index}", uid=f"uid-{index}")
        router_spec = RouterSpec.model_validate(spec(index))
        inputs = version_inputs(router_spec, ENGINE, SETTINGS.router_image)
        self.record = VersionRecord(
            number=1,
            status=VersionStatus.DEPLOYED,
            error=None,
            config_hash=inputs.config_hash,
            spec=inputs.spec,
            experiment_engine=engine_document(
                inputs, router_spec.experiment_engine.config, RUNNER_CONFIG
            ),
            router_image=inputs.router_image,
            created_at=MOMENT,
            updated_at=MOMENT,
        )
        self.mirror = routerversion_body(self.identity, self.record, None)
        self.documents = lambda: (self.record.spec, self.record.experiment_engine)
        memo = DesiredMemo()
        objects = memo.objects(
            self.identity,
            1,
            inputs.config_hash,
            self.documents,
            SETTINGS,
        )
        verdict = verdicts.deployed(
            1,
            endpoint(self.identity, SETTINGS),
            RolloutState(RolloutPhase.COMPLETE, "1 of 1 replicas ready", 1),
            verdicts.engine_check("hardcoded", True, None),
            (),
        )
        status = status_body(build_status(RouterStatus(), verdict, 1, STAMP))
        self.router = served(
            {
                "apiVersion": "turnout.dev/v1alpha1",
                "kind": "Router",
                "metadata": {"namespace": NAMESPACE, "name": self.identity.name},
                "spec": spec(index),
            },
            index,
            status,
        )
        self.children = [
            served(objects.configmap, index),
            served_service(objects.service, index),
            served_deployment(objects.deployment, index),
            served(self.mirror, index),
        ]


def traced(fill: Callable[[], object]) -> tuple[int, object]:
    """Bytes `fill`'s result holds (traced, after a collection) and the result, kept alive."""
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    kept = fill()
    gc.collect()
    return tracemalloc.get_traced_memory()[0] - before, kept


def per_call(call: Callable[[], object], repeat: int) -> float:
    """Microseconds per call, best of three runs of `repeat` calls."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            call()
        best = min(best, time.perf_counter() - start)
    return best / repeat * 1e6


def run(count: int) -> None:
    routers = [Router(index) for index in range(count)]

    tracemalloc.start()

    wire = [[json.dumps(body).encode() for body in router.children] for router in routers]

    def fill_cache() -> ChildCache:
        # Each body parsed anew, as a watch event delivers it: what the cache keeps of it
        # (names in its keys too) is counted, the rest is freed once observed.
        cache = ChildCache()
        for bodies in wire:
            for raw in bodies:
                cache.observe("ADDED", json.loads(raw))
        return cache

    def fill_records() -> dict[str, Any]:
        # Fresh copies, as read from the database: the reconciler keeps what the store returns.
        records: dict[str, Any] = {}
        for router in routers:
            record = router.record
            documents = json.loads(json.dumps([record.spec, record.experiment_engine]))
            fresh = dataclasses.replace(record, spec=documents[0], experiment_engine=documents[1])
            records[router.identity.uid] = kept_record(fresh)
        return records

    def fill_desired() -> DesiredMemo:
        memo = DesiredMemo()
        for router in routers:
            record = router.record
            memo.objects(
                router.identity, record.number, record.config_hash, router.documents, SETTINGS
            )
        return memo

    routers_wire = [json.dumps(router.router).encode() for router in routers]

    def fill_latest() -> dict[tuple[str, str], RouterObject]:
        # The Routers' loops keep each Router as last seen (`loops.RouterLoops._latest`).
        latest = {}
        for raw in routers_wire:
            router = RouterObject.from_body(json.loads(raw))
            latest[router.namespace, router.name] = router
        return latest

    def fill_mirror() -> MirrorMemo:
        memo = MirrorMemo()
        for router in routers:
            # The record itself is counted under the version records (the same object).
            memo.remember(
                router.identity.uid, router.record, Mirrors(numbers=[1], bodies=[router.mirror])
            )
        return memo

    print(f"\nOperator memory per Router, {count} Routers (tracemalloc, bytes per Router)")
    kept: list[object] = []
    total = 0
    for label, fill in (
        ("ChildCache (ConfigMap, Service, Deployment, RouterVersion)", fill_cache),
        ("version records (Reconciler._records)", fill_records),
        ("DesiredMemo", fill_desired),
        ("MirrorMemo", fill_mirror),
        ("Routers as last seen (RouterLoops._latest)", fill_latest),
    ):
        size, structure = traced(fill)
        kept.append(structure)
        total += size
        print(f"  {label:60} {size / count:9,.0f}")
    print(f"  {'total':60} {total / count:9,.0f}")

    tracemalloc.stop()

    cache, records, memo = kept[0], kept[1], kept[2]
    assert isinstance(cache, ChildCache) and isinstance(memo, DesiredMemo)
    assert isinstance(records, dict)
    router = routers[0]
    deployment = router.children[2]
    name = deployment["metadata"]["name"]
    record = records[router.identity.uid]
    versions = itertools.count(10**9)

    def observe_newer() -> None:
        # Each a newer resourceVersion: the body held already is skipped at once.
        meta = {**deployment["metadata"], "resourceVersion": str(next(versions))}
        cache.observe("MODIFIED", {**deployment, "metadata": meta})

    print("\nCPU per call (microseconds)")
    print(
        f"  {'ChildCache.observe(Deployment), a newer version':60} {per_call(observe_newer, 2000):9.1f}"
    )
    print(
        f"  {'ChildCache.get(Deployment)':60} {per_call(lambda: cache.get('Deployment', NAMESPACE, name), 2000):9.1f}"
    )
    print(
        f"  {'ChildCache.resource_version(Deployment)':60} {per_call(lambda: cache.resource_version('Deployment', NAMESPACE, name), 20000):9.2f}"
    )

    def memo_hit() -> object:
        return memo.objects(
            router.identity,
            record.number,
            record.config_hash,
            lambda: (record.spec, record.experiment_engine),
            SETTINGS,
        )

    router_raw = routers_wire[0]

    def router_pass() -> object:
        kept = RouterObject.from_body(json.loads(router_raw))
        return kept.spec, kept.status

    print(
        f"  {'Router event parsed and kept, spec + status read (one pass)':60} "
        f"{per_call(router_pass, 2000):9.1f}"
    )
    print(f"  {'DesiredMemo.objects, unchanged version':60} {per_call(memo_hit, 2000):9.1f}")
    print(
        f"  {'record spec + engine document read':60} {per_call(lambda: (record.spec, record.experiment_engine), 2000):9.1f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench memory_per_router")
    parser.add_argument("--routers", type=int, default=1000)
    run(parser.parse_args(argv).routers)
