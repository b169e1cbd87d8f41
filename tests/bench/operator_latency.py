"""Apply → Deployed latency of one Router, on the kwok control plane, against its floor.

Twenty Routers are applied one at a time (each waits for the previous to be
Deployed). For each: the wall time from the create call until the status says
Deployed, and, from the operator's "reconciled" log lines, the time its passes
spent in plugin calls, the database and the API server. The floor, measured in
the same run: the same ConfigMap, Deployment and Service created straight
through the API (no operator) until the Deployment is available.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client

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
from devenv.procs import ProcessRegistry
from devenv.zipapp import build_hardcoded_plugin
from tests.bench.memory import rss_kib
from turnout_operator.api import RouterSpec
from turnout_operator.builders import (
    BuildSettings,
    EngineDeployment,
    RouterIdentity,
    build_configmap,
    build_deployment,
    build_router_config,
    build_service,
)

ROUTERS = 20
ROOT = Path(__file__).resolve().parents[2]
OPTIONS = json.loads((ROOT / "examples/plugins/hardcoded/sample_engine_options.json").read_text())
NAMESPACE = "bench"


def spec(index: int) -> dict[str, Any]:
    return {
        "routes": [
            {"id": "control", "endpoint": "http://control.models:8080/p"},
            {"id": "treatment-1", "endpoint": "http://t1.models:8080/p"},
        ],
        "fallbackRoute": "control",
        "routeNamePath": "route_name",
        "experimentEngine": {
            "type": "hardcoded",
            "config": {
                "experiments": [{"id": "001", "name": "exp_1"}],
                "variables": {
                    "experiment_variables": {
                        "001": [{"name": "client_id", "type": "unit", "required": True}]
                    },
                    "config": [
                        {
                            "name": "client_id",
                            "required": True,
                            "field": f"client.id{index}",
                            "field_source": "payload",
                        }
                    ],
                },
            },
        },
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def reconciled_lines(log: Path) -> list[dict[str, Any]]:
    return [record for record in log_records(log) if record.get("message") == "reconciled"]


def measure_operator(cluster: Cluster, api: k8s_client.ApiClient, log: Path) -> list[float]:
    custom = k8s_client.CustomObjectsApi(api)
    latencies = []
    for index in range(ROUTERS):
        name = f"r{index}"
        body = {
            "apiVersion": "turnout.dev/v1alpha1",
            "kind": "Router",
            "metadata": {"name": name},
            "spec": spec(index),
        }
        started = time.perf_counter()
        custom.create_namespaced_custom_object(
            "turnout.dev", "v1alpha1", NAMESPACE, "routers", body
        )

        def deployed(name: str = name) -> bool:
            obj = custom.get_namespaced_custom_object(
                "turnout.dev", "v1alpha1", NAMESPACE, "routers", name
            )
            return bool(obj.get("status", {}).get("phase") == "Deployed")

        wait_for(deployed, 120, f"{name} Deployed", interval=0.01)
        latencies.append(time.perf_counter() - started)
    return latencies


def measure_floor(api: k8s_client.ApiClient) -> list[float]:
    """The same objects, created directly: what the control plane alone takes."""
    core, apps = k8s_client.CoreV1Api(api), k8s_client.AppsV1Api(api)
    settings = BuildSettings(router_image="turnout:bench")
    engine = EngineDeployment(
        name="hardcoded", plugin_image="plugin:bench", liveness_period_seconds=10
    )
    latencies = []
    for index in range(ROUTERS):
        identity = RouterIdentity(namespace=NAMESPACE, name=f"floor{index}", uid=f"uid-{index}")
        router_spec = RouterSpec.model_validate(spec(index))
        config = build_router_config(
            identity, router_spec, 1, engine, {"experiments": []}, settings
        )
        objects = [
            build_configmap(identity, config),
            build_service(identity, settings),
            build_deployment(identity, router_spec, config, engine, settings),
        ]
        for obj in objects:
            obj["metadata"].pop("ownerReferences", None)
        started = time.perf_counter()
        core.create_namespaced_config_map(NAMESPACE, objects[0])
        core.create_namespaced_service(NAMESPACE, objects[1])
        apps.create_namespaced_deployment(NAMESPACE, objects[2])
        name = objects[2]["metadata"]["name"]

        def available(name: str = name) -> bool:
            status = apps.read_namespaced_deployment_status(name, NAMESPACE).status
            return bool(status.available_replicas and status.available_replicas >= 1)

        wait_for(available, 120, f"{name} available", interval=0.01)
        latencies.append(time.perf_counter() - started)
    return latencies


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
        plugin = workdir / "hardcoded"
        build_hardcoded_plugin(plugin)
        operator = start_operator(
            registry,
            OperatorConfig(
                kubeconfig=cluster.kubeconfig,
                database_url=database,
                workdir=workdir,
                engines=(Engine(name="hardcoded", binary=plugin, options=OPTIONS),),
                namespaces=(NAMESPACE,),
            ),
        )
        with cluster.api_client() as api:
            wait_for(
                lambda: "Activity 'startup' succeeded" in operator.log_path.read_text(),
                60,
                "operator startup",
                operator,
            )
            floor = measure_floor(api)
            latencies = measure_operator(cluster, api, operator.log_path)
        rss = rss_kib(operator.pid)
        passes = reconciled_lines(operator.log_path)
        share = {
            key: sum(p.get(f"{key}_ms", 0.0) for p in passes) for key in ("plugin", "db", "api")
        }
        total_pass_ms = sum(p.get("total_ms", 0.0) for p in passes)
        print(f"Apply -> Deployed, {ROUTERS} Routers one at a time, {os.cpu_count()} cores, kwok")
        print(f"{'case':44} {'p50 ms':>9} {'p99 ms':>9} {'mean ms':>9}")
        for label, values in (
            ("operator: Router apply -> Deployed", latencies),
            ("floor: objects created directly -> available", floor),
        ):
            print(
                f"{label:44} {statistics.median(values) * 1000:9.0f} "
                f"{percentile(values, 0.99) * 1000:9.0f} {statistics.mean(values) * 1000:9.0f}"
            )
        ratio = statistics.median(latencies) / statistics.median(floor)
        print(f"operator p50 / floor p50: {ratio:.2f}x")
        print(
            f"time inside the operator's passes ({len(passes)} passes that changed something): "
            f"{total_pass_ms:.0f} ms in all; plugin {share['plugin']:.0f} ms, "
            f"database {share['db']:.0f} ms, API server {share['api']:.0f} ms"
        )
        total = sum(latencies) * 1000
        print(
            "share of the apply->Deployed wall time: "
            f"plugin {share['plugin'] / total:.1%}, database {share['db'] / total:.1%}, "
            f"API server {share['api'] / total:.1%} (the rest: the rollout itself and watch delays)"
        )
        p50 = statistics.median(latencies)
        print(f"goal: p50 <= 2 s: {p50:.2f} s ({'meets' if p50 <= 2 else 'misses'})")
        print(f"operator RSS with {ROUTERS} Routers: {rss / 1024:.1f} MiB")
    finally:
        registry.stop_all()


if __name__ == "__main__":
    main()
