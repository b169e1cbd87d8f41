"""Routers on a real node: what a user's first requests and rollouts cost.

`python -m tests.bench realnode` (root; see docs/real-node.md). Three measurements:

1. Router apply -> first request routed through its Service (ClusterIP), over 10
   Routers applied one at a time: p50 and p99.
2. Requests/s and p50 latency through the Router's ClusterIP (kube-proxy, the pod
   network) and straight to its pod, one keep-alive client per thread, with the CPU
   time the router pod and the client spent beside each.
3. A rollout (config change) under a steady mixed keep-alive/new-connection load:
   failed requests (the goal is 0) and p99 during the rollout against steady state.
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from devenv import binaries as binaries_module
from devenv.cluster import FAKE_NODE_NAMES, start_cluster
from devenv.gopeers import locate as locate_gopeers
from devenv.operator import CRD_FILE, Engine, OperatorConfig, migrate, start_operator, wait_for
from devenv.postgres import start_postgres
from devenv.procs import ProcessRegistry
from devenv.realnode.images import build_images
from devenv.realnode.node import NODE_NAME, REAL_NODE_TAINT, start_real_node, unsupported_reason
from tests.realnode.load import Load
from tests.realnode.support import (
    EXPERIMENT_CONFIG,
    apply,
    post,
    router_manifest,
    service_url,
    start_upstream,
)
from tests.substrate.operator_fixtures import ENGINE_OPTIONS

NAMESPACE = "bench"
ROUTERS = 10
THROUGHPUT_SECONDS = 10.0
THREADS = 4


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def first_routed(url: str, started: float, limit: float = 300.0) -> float:
    while time.monotonic() - started < limit:
        try:
            if post(url, 1, "first", timeout=2)[0] == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer in {limit} s")


def container_cpu_seconds(pod_uid: str) -> float:
    """User+system CPU of a pod's cgroup (cgroup v1 cpuacct), in seconds."""
    for path in Path("/sys/fs/cgroup/cpuacct/kubepods").rglob(f"pod{pod_uid}/cpuacct.usage"):
        return int(path.read_text()) / 1e9
    return float("nan")


def hammer(url: str, seconds: float) -> tuple[int, list[float], float]:
    """Keep-alive requests from THREADS threads: count, latencies, client CPU seconds."""
    host_port = url.split("/")[2]
    host, _, port = host_port.partition(":")
    path = "/" + url.split("/", 3)[3]
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    body = json.dumps({"client": {"id": 7}})

    def worker() -> None:
        connection = http.client.HTTPConnection(host, int(port or 80), timeout=10)
        mine: list[float] = []
        while time.monotonic() < stop:
            started = time.monotonic()
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            connection.getresponse().read()
            mine.append(time.monotonic() - started)
        connection.close()
        with lock:
            latencies.extend(mine)

    cpu = time.process_time()
    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), latencies, time.process_time() - cpu


def main() -> None:
    reason = unsupported_reason()
    if reason is not None:
        print(f"realnode bench not run: {reason}")
        return
    registry = ProcessRegistry()
    workdir = Path(tempfile.mkdtemp(prefix="turnout-bench-realnode-"))
    try:
        started = time.monotonic()
        peers = locate_gopeers()
        images = build_images(peers.hardcoded_plugin)
        images_seconds = time.monotonic() - started
        cluster = start_cluster(registry, binaries_module.locate(), workdir / "cluster")
        database = start_postgres(registry).url
        migrate(database)
        for crd in ("routers.turnout.dev", "routerversions.turnout.dev"):
            cluster.kubectl("apply", "--server-side", "-f", str(CRD_FILE.parent / f"{crd}.yaml"))
            cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}")
        node_started = time.monotonic()
        node = start_real_node(registry, cluster, images.archives)
        node_seconds = time.monotonic() - node_started
        for name in FAKE_NODE_NAMES:
            cluster.kubectl("cordon", name)
        cluster.kubectl("taint", "node", NODE_NAME, f"{REAL_NODE_TAINT}:NoSchedule-")
        cluster.kubectl("create", "namespace", NAMESPACE)
        engine = Engine(
            name="hardcoded",
            binary=peers.hardcoded_plugin,
            options=ENGINE_OPTIONS,
            image=images.go_plugin,
        )
        operator = start_operator(
            registry,
            OperatorConfig(
                kubeconfig=cluster.kubeconfig,
                database_url=database,
                workdir=workdir,
                engines=(engine,),
                namespaces=(NAMESPACE,),
                router_image=images.turnout,
            ),
        )
        wait_for(
            lambda: "Activity 'startup' succeeded" in operator.log_path.read_text(),
            120,
            "operator startup",
            operator,
        )
        routes = {
            name: start_upstream(cluster, NAMESPACE, name, images.turnout)
            for name in ("control", "treatment-1")
        }

        # 1. apply -> first routed request
        firsts: list[float] = []
        for index in range(ROUTERS):
            name = f"r{index}"
            began = time.monotonic()
            apply(cluster, NAMESPACE, router_manifest(name, routes))
            while (
                cluster.kubectl(
                    "get", "service", f"{name}-router", "-n", NAMESPACE, check=False
                ).returncode
                != 0
            ):
                time.sleep(0.05)
            firsts.append(first_routed(service_url(cluster, NAMESPACE, f"{name}-router"), began))
            cluster.kubectl("delete", "router", name, "-n", NAMESPACE, "--wait=false")

        # 2. ClusterIP against the pod
        apply(cluster, NAMESPACE, router_manifest("demo", routes))
        url = service_url(cluster, NAMESPACE, "demo-router")
        first_routed(url, time.monotonic())
        pods = json.loads(
            cluster.kubectl(
                "get", "pods", "-n", NAMESPACE, "-l", "turnout.dev/router=demo", "-o", "json"
            ).stdout
        )["items"]
        running = [
            p for p in pods if p["status"].get("podIP") and p["status"].get("phase") == "Running"
        ]
        pod = running[0]
        direct = f"http://{pod['status']['podIP']}:8080/v1/predict"
        rows: list[tuple[str, float, float, float, float]] = []
        for label, target in (("through the ClusterIP", url), ("straight to the pod", direct)):
            cpu_before = container_cpu_seconds(pod["metadata"]["uid"])
            count, latencies, client_cpu = hammer(target, THROUGHPUT_SECONDS)
            router_cpu = container_cpu_seconds(pod["metadata"]["uid"]) - cpu_before
            rows.append(
                (
                    label,
                    count / THROUGHPUT_SECONDS,
                    statistics.median(latencies) * 1000,
                    router_cpu,
                    client_cpu,
                )
            )

        # 3. rollout under load
        steady = Load(url).start()
        time.sleep(5)
        steady.stop()
        during = Load(url).start()
        changed = copy.deepcopy(EXPERIMENT_CONFIG)
        changed["experiments"].append({"id": "002", "name": "exp_2"})
        rollout_started = time.monotonic()
        cluster.kubectl(
            "patch",
            "router",
            "demo",
            "-n",
            NAMESPACE,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"experimentEngine": {"config": changed}}}),
        )

        def only_new_pods() -> bool:
            listing: dict[str, Any] = json.loads(
                cluster.kubectl(
                    "get", "pods", "-n", NAMESPACE, "-l", "turnout.dev/router=demo", "-o", "json"
                ).stdout
            )
            versions = [
                p["metadata"]["labels"].get("turnout.dev/version") for p in listing["items"]
            ]
            return versions == ["2"]

        wait_for(only_new_pods, 180, "version 2's pod alone", operator)
        rollout_seconds = time.monotonic() - rollout_started
        during.stop()
        del node

        print(
            f"Routers on a real node ({os.cpu_count()} cores; images {images_seconds:.0f} s, "
            f"node start {node_seconds:.1f} s)"
        )
        print(
            f"apply -> first request routed through the Service, {ROUTERS} Routers one at a time:"
            f" p50 {statistics.median(firsts):.2f} s, p99 {percentile(firsts, 0.99):.2f} s"
        )
        print(f"{'case':26} {'req/s':>8} {'p50 ms':>8} {'router CPU s':>13} {'client CPU s':>13}")
        for label, rate, p50, router_cpu, client_cpu in rows:
            print(f"{label:26} {rate:8.0f} {p50:8.2f} {router_cpu:13.2f} {client_cpu:13.2f}")
        added = rows[0][2] - rows[1][2]
        print(
            f"kube-proxy and the pod network add {added:.2f} ms at p50 "
            f"({THREADS} keep-alive clients, {THROUGHPUT_SECONDS:.0f} s each)"
        )
        print(
            f"rollout under load ({during.workers} clients, half keep-alive, "
            f"{rollout_seconds:.1f} s to the new pod alone): "
            f"{len(during.failures)} failed of {during.sent}; "
            f"p99 {percentile(during.latencies, 0.99) * 1000:.1f} ms during vs "
            f"{percentile(steady.latencies, 0.99) * 1000:.1f} ms steady"
        )
        for failure in during.failures[:5]:
            print(f"  {failure}")
    finally:
        registry.stop_all()
