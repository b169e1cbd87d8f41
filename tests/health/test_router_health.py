"""Router health as the tools read it, over real Routers from a real operator and API server.

Each phase is made for real (a Router deployed, one whose pods can never be scheduled,
one whose config the engine rejects, one suspended, one whose engine's plugin cannot
start), read back from the API server, and judged by the tools themselves: kstatus
(cli-utils, what Flux's health checks and kpt use), Argo CD's Lua health scripts under
gopher-lua (docs/argocd/), and `kubectl wait`. The expected verdicts are the tools'
documented meanings of each phase (docs/health.md), written here by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devenv.operator import Engine
from tests.health.peers import argocd_health, kstatus
from tests.integration.test_operator import router_manifest
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.e2e

REJECTED_CONFIG = {"experiments": [{"id": "999"}]}


def broken_plugin(directory: Path) -> Path:
    """A plugin that exits before its handshake: its engine is never available."""
    path = directory / "broken-plugin"
    path.write_text("#!/bin/sh\necho 'cannot start' >&2\nexit 3\n")
    path.chmod(0o755)
    return path


def routers(h: OperatorHarness) -> dict[str, dict[str, Any]]:
    items = h.kubectl_json("get", "routers")["items"]
    return {item["metadata"]["name"]: item for item in items}


def kubectl_wait(h: OperatorHarness, condition: str, name: str, seconds: int) -> int:
    result = h.cluster.kubectl(
        "wait", f"--for=condition={condition}", f"--timeout={seconds}s",
        "-n", h.namespace, f"router/{name}", check=False,
    )  # fmt: skip
    return result.returncode


def test_each_phase_reads_right_in_kstatus_argo_cd_and_kubectl_wait(
    operators: OperatorHarness, tmp_path: Path
) -> None:
    h = operators
    h.start(h.python_engine(), Engine(name="broken", binary=broken_plugin(tmp_path), options={}))
    h.apply(router_manifest(name="serving"))
    h.apply(router_manifest(name="unschedulable", resources={"requests": {"cpu": "5000"}}))
    h.apply(router_manifest(name="rejected", config=REJECTED_CONFIG))
    h.apply(router_manifest(name="resting", suspend=True))
    h.apply(router_manifest(name="waiting", engine="broken"))
    phases = {
        "serving": "Deployed",
        "unschedulable": "Deploying",
        "rejected": "Failed",
        "resting": "Undeployed",
        "waiting": "Pending",
    }
    for name, phase in phases.items():
        h.wait_status(name, lambda s, p=phase: s.get("phase") == p, f"{name} {phase}")

    objects = routers(h)
    names = list(phases)
    assert all(
        objects[n]["status"]["observedGeneration"] == objects[n]["metadata"]["generation"]
        for n in names
    )
    ks = dict(zip(names, kstatus(*(objects[n] for n in names)), strict=True))
    assert {name: verdict["status"] for name, verdict in ks.items()} == {
        "serving": "Current",
        "unschedulable": "InProgress",
        "rejected": "Failed",
        "resting": "Current",
        "waiting": "InProgress",
    }
    assert "rejected it" in ks["rejected"]["message"]
    assert "is unavailable" in ks["waiting"]["message"]

    argo = dict(zip(names, argocd_health("Router", *(objects[n] for n in names)), strict=True))
    assert {name: verdict["status"] for name, verdict in argo.items()} == {
        "serving": "Healthy",
        "unschedulable": "Progressing",
        "rejected": "Degraded",
        "resting": "Suspended",
        "waiting": "Progressing",
    }
    assert argo["serving"]["message"] == objects["serving"]["status"]["message"]

    # kubectl wait: Ready means a version serves; Reconciling=False that the spec is done.
    assert kubectl_wait(h, "Ready", "serving", 30) == 0
    assert kubectl_wait(h, "Reconciling=False", "serving", 30) == 0
    assert kubectl_wait(h, "Stalled", "rejected", 30) == 0
    # A Router that can never be scheduled never becomes Ready: the wait gives up.
    assert kubectl_wait(h, "Ready", "unschedulable", 2) != 0

    # RouterVersions: serving's version deployed, unschedulable's still pending (a rollout's
    # version is mirrored once it has rolled for a while).
    def versions() -> dict[str, dict[str, Any]]:
        items = h.kubectl_json("get", "routerversions")["items"]
        return {item["spec"]["router"]: item for item in items}

    h.wait_status(
        "unschedulable", lambda s: "unschedulable" in versions(), "the pending RouterVersion"
    )
    mirrored = versions()
    pair = [mirrored["serving"], mirrored["unschedulable"]]
    assert [v["spec"]["status"] for v in pair] == ["deployed", "pending"]
    assert [v["status"] for v in argocd_health("RouterVersion", *pair)] == [
        "Healthy",
        "Progressing",
    ]

    # A spec change nobody has reconciled yet: the operator is stopped, the generation moves.
    h.operator.stop()
    h.patch_spec("serving", {"replicas": 2})
    changed = routers(h)["serving"]
    assert changed["metadata"]["generation"] > changed["status"]["observedGeneration"]
    assert [v["status"] for v in kstatus(changed)] == ["InProgress"]
    assert [v["status"] for v in argocd_health("Router", changed)] == ["Progressing"]
    # kubectl wait skips a condition observed for an older generation.
    assert kubectl_wait(h, "Ready", "serving", 2) != 0


def test_argo_cd_reads_a_failed_router_version_as_degraded_with_its_error(
    operators: OperatorHarness,
) -> None:
    """A failed version takes a rollout deadline; its RouterVersion, read from the API
    server once the operator recorded the failure, is what Argo CD judges."""
    h = operators
    h.start(env={"TURNOUT_PROGRESS_DEADLINE_SECONDS": "10"})
    h.apply(router_manifest(name="doomed", resources={"requests": {"cpu": "5000"}}))
    h.wait_status("doomed", lambda s: s.get("phase") == "Failed", "doomed Failed", 120)

    def failed_version() -> dict[str, Any] | None:
        items = h.kubectl_json("get", "routerversions")["items"]
        found = [i for i in items if i["spec"]["status"] == "failed"]
        return found[0] if found else None

    h.wait_status("doomed", lambda s: failed_version() is not None, "the failed RouterVersion")
    failed = failed_version()
    assert failed is not None
    [verdict] = argocd_health("RouterVersion", failed)
    assert verdict["status"] == "Degraded"
    assert failed["spec"]["error"] in verdict["message"]
    [router_verdict] = kstatus(routers(h)["doomed"])
    assert router_verdict["status"] == "Failed"
    assert "failed to roll out" in router_verdict["message"]
