"""Routers on real pods: images built from the repository's Dockerfiles, the plugin copied
by its initContainer, requests through the Router's ClusterIP (kube-proxy) reaching the
upstream pod the treatment names, and no request lost while versions change.

The operator runs on the host (as in the e2e tier) with the built router image and
plugin images; everything it deploys runs on the real node. Expected routes come from
tests/cases/treatments.py (FNV-1a and the traffic shares, recomputed by hand).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from devenv.operator import Engine, wait_for
from devenv.realnode.images import Images
from devenv.realnode.node import RealNode
from tests.cases.treatments import reference_variant
from tests.realnode.load import Load
from tests.realnode.support import (
    EXPERIMENT_CONFIG,
    apply,
    post,
    router_manifest,
    service_url,
    wait_routed,
)
from tests.substrate.operator_fixtures import ENGINE_OPTIONS, OperatorHarness

pytestmark = pytest.mark.realnode

UNITS = range(1, 201)
KUBECTL_TURNOUT = Path(sys.executable).parent / "kubectl-turnout"


def start_operator(h: OperatorHarness, images: Images, plugin_image: str) -> None:
    # The operator validates with the very binary the image carries (router pods check
    # its SHA-256 before starting it): the zipapp for the Python image, else Go's.
    binary = h.python_plugin if plugin_image == images.python_plugin else h.go_plugin
    engine = Engine(name="hardcoded", binary=binary, options=ENGINE_OPTIONS, image=plugin_image)
    h.start(engine, env={"TURNOUT_ROUTER_IMAGE": images.turnout})


def serving_version_1(h: OperatorHarness, images: Images, upstreams: dict[str, str]) -> str:
    """An operator with the Go plugin's image, Router `demo` Deployed at version 1 and
    answering through its Service: that Service's URL."""
    start_operator(h, images, images.go_plugin)
    apply(h.cluster, h.namespace, router_manifest("demo", upstreams))
    h.wait_deployed("demo", 1)
    url = service_url(h.cluster, h.namespace, "demo-router")
    wait_routed(url, "version 1 to answer")
    return url


def pod_of(h: OperatorHarness, router: str) -> dict[str, Any]:
    pods = h.kubectl_json("get", "pods", "-l", f"turnout.dev/router={router}")["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running"]
    assert running, pods
    return dict(running[0])


@pytest.mark.parametrize("plugin", ["go_plugin", "python_plugin", "turing_style_plugin"])
def test_requests_through_the_cluster_ip_reach_the_upstream_the_treatment_names(
    operators: OperatorHarness,
    realnode_images: Images,
    upstreams: dict[str, str],
    plugin: str,
) -> None:
    h = operators
    start_operator(h, realnode_images, getattr(realnode_images, plugin))
    apply(h.cluster, h.namespace, router_manifest("demo", upstreams))
    h.wait_deployed("demo", 1)

    pod = pod_of(h, "demo")
    assert pod["spec"]["nodeName"] == "turnout-real-node"
    (init,) = pod["status"]["initContainerStatuses"]
    assert init["name"] == "hardcoded-plugin"
    assert init["state"]["terminated"]["exitCode"] == 0  # the plugin was copied
    (router,) = pod["status"]["containerStatuses"]
    assert router["ready"] and router["restartCount"] == 0

    url = service_url(h.cluster, h.namespace, "demo-router")
    wait_routed(url, "the Router's Service to answer")
    for unit in UNITS:
        request_id = f"req-{uuid.uuid4()}"
        status, headers, body = post(url, unit, request_id)
        expected = reference_variant(unit)
        assert status == 200
        assert (body["route"], headers["Turnout-Route"]) == (expected, expected), unit
        assert headers["Turnout-Route-Reason"] == "treatment"
        assert body["requestId"] == request_id  # Turing-Req-ID reached the upstream
        assert headers["Turing-Req-ID"] == request_id


def test_a_change_of_replicas_alone_replaces_no_pod(
    operators: OperatorHarness, realnode_images: Images, upstreams: dict[str, str]
) -> None:
    h = operators
    start_operator(h, realnode_images, realnode_images.go_plugin)
    apply(h.cluster, h.namespace, router_manifest("demo", upstreams, replicas=1))
    h.wait_deployed("demo", 1)
    first = pod_of(h, "demo")["metadata"]["uid"]
    h.patch_spec("demo", {"replicas": 2})

    def two_ready() -> bool:
        dep = h.kubectl_json("get", "deployment", "demo-router")
        return bool((dep.get("status") or {}).get("readyReplicas") == 2)

    wait_for(two_ready, 120, "two router pods", h.operator)
    uids = {
        p["metadata"]["uid"]
        for p in h.kubectl_json("get", "pods", "-l", "turnout.dev/router=demo")["items"]
    }
    assert first in uids and len(uids) == 2  # scaled: the first pod stayed
    assert [r["number"] for r in h.version_rows("demo")] == [1]


def test_a_plugin_image_whose_copy_fails_fails_fast_in_its_own_words_and_v1_keeps_serving(
    operators: OperatorHarness, realnode_images: Images, upstreams: dict[str, str]
) -> None:
    h = operators
    good = Engine(
        name="hardcoded",
        binary=h.go_plugin,
        options=ENGINE_OPTIONS,
        image=realnode_images.go_plugin,
    )
    # An engine whose image does not copy a plugin: Turnout's own image, whose command
    # (the operator) exits at once for want of a database URL.
    broken = Engine(
        name="broken", binary=h.go_plugin, options=ENGINE_OPTIONS, image=realnode_images.turnout
    )
    h.start(good, broken, env={"TURNOUT_ROUTER_IMAGE": realnode_images.turnout})
    apply(h.cluster, h.namespace, router_manifest("demo", upstreams))
    h.wait_deployed("demo", 1)
    url = service_url(h.cluster, h.namespace, "demo-router")
    wait_routed(url, "version 1 to answer")

    h.patch_spec("demo", {"experimentEngine": {"type": "broken"}})
    status = h.wait_status(
        "demo",
        lambda s: s.get("currentVersion") == 2 and s.get("phase") != "Deploying",
        "version 2 to be judged",
        180,
    )
    assert status.get("deployedVersion") == 1, status
    messages = " ".join(c.get("message", "") for c in status.get("conditions", []))
    assert "the new pods cannot start" in messages, status
    assert "initContainer broken-plugin" in messages, status
    assert "TURNOUT_DATABASE_URL" in messages or "database" in messages.lower(), status
    for unit in range(1, 21):
        assert post(url, unit, f"r{unit}")[1]["Turnout-Route"] == reference_variant(unit)


def test_a_router_image_that_crashes_fails_fast_in_its_own_words_and_v1_keeps_serving(
    operators: OperatorHarness, realnode_images: Images, upstreams: dict[str, str]
) -> None:
    """An operator upgraded to a router image that cannot start (the image is part of a
    version's identity, so the Router gets version 2): under a steady load, not one
    request fails, every answer comes from version 1, and the Router says that version 2
    failed in the router's own words, as soon as its pod crashed twice (not after the
    Deployment's 10-minute progress deadline)."""
    h = operators
    url = serving_version_1(h, realnode_images, upstreams)

    load = Load(url).start()
    try:
        wait_for(load.versions, 60, "the load to be answered", h.operator)
        h.operator.stop()
        engine = Engine(
            name="hardcoded",
            binary=h.go_plugin,
            options=ENGINE_OPTIONS,
            image=realnode_images.go_plugin,
        )
        h.start(engine, env={"TURNOUT_ROUTER_IMAGE": realnode_images.crashing_router})
        status = h.wait_status(
            "demo",
            lambda s: s.get("currentVersion") == 2 and s.get("phase") != "Deploying",
            "version 2 to be judged by its crashing pod (its progress deadline is 600 s)",
            120,
        )
        judged_at = time.monotonic()
        wait_for(lambda: load.versions_since(judged_at), 60, "answers after the verdict")
    finally:
        load.stop()
    assert status.get("deployedVersion") == 1, status
    conditions = {c["type"]: c for c in status.get("conditions", [])}
    failed = [c for c in conditions.values() if c.get("reason") == "RolloutFailed"]
    assert failed, status
    message = failed[0]["message"]
    assert "the new pods cannot start" in message, message
    assert "container router" in message, message
    # The router's own last words (its log, by FallbackToLogsOnError): the setting it refused.
    assert "event_loop" in message and "no-such-loop" in message, message
    assert "no progress" not in message, message  # judged by the pod, not the deadline
    assert load.failures == [], f"{len(load.failures)} of {load.sent} failed: {load.failures[:10]}"
    assert set(load.versions()) == {"1"}, load.versions()
    new_pods = h.kubectl_json("get", "pods", "-l", "turnout.dev/router=demo,turnout.dev/version=2")
    restarts = [
        c["restartCount"] for p in new_pods["items"] for c in p["status"]["containerStatuses"]
    ]
    assert restarts and min(restarts) >= 1, new_pods  # it did crash, and was restarted


def test_no_request_is_lost_through_a_config_change_a_scale_and_a_rollback(
    operators: OperatorHarness, realnode_images: Images, upstreams: dict[str, str]
) -> None:
    h = operators
    url = serving_version_1(h, realnode_images, upstreams)

    load = Load(url).start()
    try:
        changed = copy.deepcopy(EXPERIMENT_CONFIG)
        changed["experiments"].append({"id": "002", "name": "exp_2"})
        wait_for(load.versions, 60, "the load to be answered", h.operator)
        change_at = time.monotonic()
        h.patch_spec("demo", {"experimentEngine": {"config": changed}})
        h.wait_deployed("demo", 2)
        wait_for(lambda: only_pods_of(h, "demo", 2, 1), 120, "version 1's pods gone", h.operator)
        v2_only_at = time.monotonic()
        wait_for(lambda: load.versions_since(v2_only_at), 60, "answers from version 2", h.operator)
        h.patch_spec("demo", {"replicas": 2})
        wait_for(lambda: only_pods_of(h, "demo", 2, 2), 120, "two pods of version 2", h.operator)
        rollback_at = time.monotonic()
        rollback = subprocess.run(
            [
                str(KUBECTL_TURNOUT),
                "rollback",
                "demo",
                "-n",
                h.namespace,
                "--kubeconfig",
                str(h.cluster.kubeconfig),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert rollback.returncode == 0, rollback.stderr
        h.wait_deployed("demo", 1)
        wait_for(lambda: only_pods_of(h, "demo", 1, 2), 120, "version 1's pods only", h.operator)
        v1_again_at = time.monotonic()
        wait_for(lambda: load.versions_since(v1_again_at), 60, "answers from version 1", h.operator)
    finally:
        load.stop()
    assert load.sent > 200
    assert load.failures == [], f"{len(load.failures)} of {load.sent} failed: {load.failures[:10]}"
    # Every answer names version 1 or 2, and they came in order: only version 1 before
    # the change, only version 2 once version 1's pods were gone (until the rollback),
    # only version 1 once the rollback's pods were all there was. The windows are cut by
    # the test's own marks, after each state was observed: an order, not a duration.
    seen = load.versions()
    assert set(seen) <= {"1", "2"} and seen["1"] and seen["2"], seen
    assert set(load.versions_since(0, change_at)) == {"1"}, load.versions_since(0, change_at)
    assert set(load.versions_since(v2_only_at, rollback_at)) == {"2"}
    assert set(load.versions_since(v1_again_at)) == {"1"}, load.versions_since(v1_again_at)


def only_pods_of(h: OperatorHarness, router: str, version: int, count: int) -> bool:
    """All of the Router's pods (terminating ones included) are `count` ready pods of `version`."""
    pods = h.kubectl_json("get", "pods", "-l", f"turnout.dev/router={router}")["items"]
    versions = [p["metadata"]["labels"].get("turnout.dev/version") for p in pods]
    ready = [c for p in pods for c in p["status"].get("containerStatuses", []) if c.get("ready")]
    return versions == [str(version)] * count and len(ready) == count


def test_a_deleted_router_leaves_nothing_of_it_on_the_node(
    operators: OperatorHarness,
    realnode_images: Images,
    upstreams: dict[str, str],
    on_real_node: RealNode,
) -> None:
    h = operators
    start_operator(h, realnode_images, realnode_images.go_plugin)
    apply(h.cluster, h.namespace, router_manifest("demo", upstreams, replicas=2))
    h.wait_deployed("demo", 1)
    router_pods = [
        p["metadata"]["uid"]
        for p in h.kubectl_json("get", "pods", "-l", "turnout.dev/router=demo")["items"]
    ]
    assert len(router_pods) == 2
    selector = f'labels."io.kubernetes.pod.uid"=={router_pods[0]}'
    assert on_real_node.ctr("containers", "ls", "-q", selector).stdout.split()  # the query works
    h.cluster.kubectl("delete", "router", "demo", "-n", h.namespace, "--wait=true")

    def gone() -> bool:
        objects = h.kubectl_json(
            "get",
            "pods,services,configmaps,deployments,replicasets",
            "-l",
            "turnout.dev/router=demo",
        )
        return not objects["items"]

    wait_for(gone, 120, "the Router's pods, Service and ConfigMaps to go", h.operator)
    pods = h.kubectl_json("get", "pods")["items"]
    assert sorted(p["metadata"]["labels"]["app"] for p in pods) == [
        "upstream-control",
        "upstream-treatment-1",
    ]

    def containers_of_router_pods() -> list[str]:
        found: list[str] = []
        for uid in router_pods:
            selector = f'labels."io.kubernetes.pod.uid"=={uid}'
            found += on_real_node.ctr("containers", "ls", "-q", selector).stdout.split()
        return found

    # The kubelet removes the containers (and sandboxes) of deleted pods.
    wait_for(
        lambda: not containers_of_router_pods(),
        180,
        "the router pods' containers to be removed from the node",
        h.operator,
    )


PLUGIN_PIDS = """
import os, signal, sys
# The pod's router container sees its own processes only: the plugin is the one whose
# command is the copied binary (under PLUGINS_DIR). With "kill", each is SIGKILLed.
plugins = os.environ["PLUGINS_DIR"]
found = []
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read().split(b"\\0")[0].decode()
        except OSError:
            continue
        if command.startswith(plugins + "/"):
            found.append(int(entry))
for pid in found:
    if sys.argv[1:] == ["kill"]:
        os.kill(pid, signal.SIGKILL)
print(" ".join(map(str, sorted(found))))
"""


def plugin_pids(h: OperatorHarness, pod: str, *, kill: bool = False) -> list[int]:
    """The plugin processes in a router pod (pids as the pod sees them), read, and killed
    if asked, from inside the pod with `kubectl exec` (the image has python, no `kill`)."""
    done = h.cluster.kubectl(
        "exec",
        pod,
        "-n",
        h.namespace,
        "-c",
        "router",
        "--",
        "python",
        "-c",
        PLUGIN_PIDS,
        *(["kill"] if kill else []),
    )
    return [int(pid) for pid in done.stdout.split()]


def startup_lines(h: OperatorHarness, pod: str) -> list[dict[str, Any]]:
    """The router container's JSON log lines, read with `kubectl logs`."""
    done = h.cluster.kubectl("logs", pod, "-n", h.namespace, "-c", "router")
    lines: list[dict[str, Any]] = []
    for line in done.stdout.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def test_a_killed_plugin_means_fallback_then_treatments_again_without_a_pod_restart(
    operators: OperatorHarness, realnode_images: Images, upstreams: dict[str, str]
) -> None:
    h = operators
    url = serving_version_1(h, realnode_images, upstreams)
    pod = pod_of(h, "demo")
    name = pod["metadata"]["name"]
    # The API server reaches the kubelet: the router's own startup line, through kubectl logs.
    listening = [r for r in startup_lines(h, name) if r.get("message") == "router listening"]
    assert listening and listening[0]["workers"] >= 1, startup_lines(h, name)
    # The image's build: the hot path compiled (Dockerfile, TURNOUT_COMPILE=1).
    assert listening[0]["hot_path"] == "compiled", listening[0]
    # One plugin per router worker (as many as the pod's CPUs): all of them killed, from
    # inside the pod (kubectl exec), as a user debugging it would.
    killed = plugin_pids(h, name, kill=True)
    assert len(killed) == listening[0]["workers"], killed

    reasons: list[str] = []

    def treated_again() -> bool:
        unit = len(reasons) + 1
        status, headers, body = post(url, unit, f"k{unit}")
        assert status == 200 and body["route"] in ("control", "treatment-1")
        reasons.append(headers["Turnout-Route-Reason"])
        return reasons[-1] == "treatment" and any(r != "treatment" for r in reasons)

    wait_for(treated_again, 120, "fallback, then treatments again", h.operator, interval=0.05)
    again_pids = plugin_pids(h, name)
    assert again_pids and not set(again_pids) & set(killed)  # new plugin processes
    again = pod_of(h, "demo")
    assert again["metadata"]["uid"] == pod["metadata"]["uid"]
    assert again["status"]["containerStatuses"][0]["restartCount"] == 0
