"""The real node starts, runs a pod behind a Service, and its stop leaves the host as it
found it: no process (containerd's shims included), container, mount, cgroup, bridge,
veth, address, route, iptables chain or network namespace of its own remains.

It starts and stops a node of its own, so it runs before the session's node exists
(this file sorts first in tests/realnode: keep its name first); with a node already running it is reported as
not run, with that reason.
"""

from __future__ import annotations

import json

import pytest

from devenv.cluster import Cluster
from devenv.procs import ProcessRegistry, wait_until
from devenv.realnode.images import Images
from devenv.realnode.node import NODE_NAME, REAL_NODE_TAINT, host_state, start_real_node
from devenv.realnode.node import unsupported_reason as node_unsupported
from tests.realnode.support import RESTRICTED, UPSTREAM_SERVER, apply

pytestmark = pytest.mark.realnode


def test_a_stopped_node_leaves_nothing_behind(
    cluster: Cluster, realnode_images: Images, namespace: str
) -> None:
    reason = node_unsupported()
    if reason is not None:
        pytest.skip(f"real node not run: {reason}")
    before = host_state()
    registry = ProcessRegistry()
    node = start_real_node(registry, cluster, realnode_images.archives)
    try:
        labels = {"app": "lifecycle"}
        apply(
            cluster,
            namespace,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "lifecycle", "labels": labels},
                "spec": {
                    "nodeName": NODE_NAME,
                    "tolerations": [{"key": REAL_NODE_TAINT, "effect": "NoSchedule"}],
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "server",
                            "image": realnode_images.turnout,
                            "imagePullPolicy": "Never",
                            "command": ["python", "-c", UPSTREAM_SERVER],
                            "env": [{"name": "ROUTE_NAME", "value": "control"}],
                            "securityContext": RESTRICTED,
                        }
                    ],
                },
            },
        )
        apply(
            cluster,
            namespace,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "lifecycle"},
                "spec": {"selector": labels, "ports": [{"port": 8080}]},
            },
        )

        def running() -> bool:
            done = cluster.kubectl("get", "pod", "lifecycle", "-n", namespace, "-o", "json")
            return bool(json.loads(done.stdout)["status"].get("phase") == "Running")

        wait_until("the pod to run on the real node", running, timeout=120, interval=0.5)
        during = host_state()
        assert during["links"] - before["links"], "no bridge or veth was made"
        assert during["chains"] - before["chains"], "kube-proxy made no chain"
        shims = [p for p in during["processes"] - before["processes"] if "containerd-shim" in p]
        assert shims, "no containerd shim seen: the process check would see nothing"
    finally:
        node.stop()
        registry.stop_all()
    after = host_state()
    left = {
        kind: sorted(after[kind] - before[kind]) for kind in after if after[kind] - before[kind]
    }
    assert left == {}
