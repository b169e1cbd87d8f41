"""Fixtures of the real-node tests: the node, its images, and pods placed on it.

The node is started once per session, on the session's control plane, when the first
real-node test asks for it. Where the machine cannot run one, every real-node test is
reported as skipped with the one-line reason (`pytest -ra` prints it): never silently
green. While a real-node module runs, the kwok nodes are cordoned and the real node's
taint is lifted, so that the pods of the Routers it applies (which name no node) land on it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devenv.cluster import FAKE_NODE_NAMES, Cluster
from devenv.gopeers import GoPeers
from devenv.procs import ProcessRegistry
from devenv.realnode.images import Images, build_images
from devenv.realnode.node import (
    NODE_NAME,
    REAL_NODE_TAINT,
    RealNode,
    start_real_node,
    unsupported_reason,
)
from tests.realnode.support import start_upstream
from tests.substrate.operator_fixtures import OperatorHarness


@pytest.fixture(scope="session")
def realnode_images(gopeers: GoPeers) -> Images:
    reason = unsupported_reason()
    if reason is not None:
        pytest.skip(f"real node not run: {reason}")
    return build_images(gopeers.hardcoded_plugin)


@pytest.fixture(scope="session")
def real_node(cluster: Cluster, realnode_images: Images) -> Iterator[RealNode]:
    registry = ProcessRegistry()
    node = start_real_node(registry, cluster, realnode_images.archives)
    try:
        yield node
    finally:
        node.stop()
        registry.stop_all()


@pytest.fixture(scope="module")
def on_real_node(cluster: Cluster, real_node: RealNode) -> Iterator[RealNode]:
    """New pods go to the real node for this module (kwok nodes cordoned meanwhile)."""
    for name in FAKE_NODE_NAMES:
        cluster.kubectl("cordon", name)
    cluster.kubectl("taint", "node", NODE_NAME, f"{REAL_NODE_TAINT}:NoSchedule-")
    try:
        yield real_node
    finally:
        cluster.kubectl("taint", "node", NODE_NAME, f"{REAL_NODE_TAINT}:NoSchedule", check=False)
        for name in FAKE_NODE_NAMES:
            cluster.kubectl("uncordon", name, check=False)


@pytest.fixture
def upstreams(
    operators: OperatorHarness, realnode_images: Images, on_real_node: RealNode
) -> dict[str, str]:
    """Two upstream pods (routes control and treatment-1) behind ClusterIP Services on the
    real node; their URLs by route."""
    return {
        name: start_upstream(operators.cluster, operators.namespace, name, realnode_images.turnout)
        for name in ("control", "treatment-1")
    }
