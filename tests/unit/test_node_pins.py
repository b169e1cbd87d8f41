"""The real node's kubelet and kube-proxy are built from the control plane's Kubernetes.

tools/node/kubernetes is a module of its own (so adding node tools leaves the control
plane's cache key alone), but it must pin the same k8s.io/kubernetes and the same
replace lines: a kubelet of another version than the API server would be a skew no
user runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def pins(go_mod: Path) -> tuple[str, list[str]]:
    lines = [line.strip() for line in go_mod.read_text().splitlines()]
    (kubernetes,) = [line.split()[1] for line in lines if line.startswith("k8s.io/kubernetes ")]
    replaces = sorted(line for line in lines if line.startswith("replace "))
    return kubernetes, replaces


def test_the_node_module_pins_the_control_planes_kubernetes() -> None:
    control_plane = pins(TOOLS / "controlplane" / "kubernetes" / "go.mod")
    node = pins(TOOLS / "node" / "kubernetes" / "go.mod")
    assert node == control_plane
    assert node[0].startswith("v1.")


def test_the_node_module_builds_kubelet_and_kube_proxy() -> None:
    text = (TOOLS / "node" / "kubernetes" / "go.mod").read_text()
    tools = text[text.index("tool (") :]
    assert "k8s.io/kubernetes/cmd/kubelet" in tools
    assert "k8s.io/kubernetes/cmd/kube-proxy" in tools
