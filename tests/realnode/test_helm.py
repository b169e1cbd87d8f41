"""`helm install --wait` of the chart on the real node, with the built images and every
example values file: the operator pod Ready as shipped, each engine's initContainer
copied its plugin, the migration Job ran, and the admission webhook served by that pod
refuses an invalid experiment config at `kubectl apply` with the plugin's own message,
through the real Service.

Pods reach the API server through the `kubernetes` Service and Postgres at the real
node's host address (`RealNode.expose`: a relay to loopback).
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

from devenv.cluster import Cluster
from devenv.procs import ProcessRegistry, SubstrateError, wait_until
from devenv.realnode.images import Images
from devenv.realnode.node import HOST_ADDRESS, RealNode
from tests.example_values import example_values_files

pytestmark = pytest.mark.realnode

CHART = Path(__file__).resolve().parents[2] / "manifests"
RELEASE_NAMESPACE = "turnout-system"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "helm" / "values.yaml"


@pytest.fixture(scope="module")
def exposed(cluster: Cluster, on_real_node: RealNode, migrated_database: str) -> Iterator[str]:
    """The database URL as pods see it."""
    parts = urlsplit(migrated_database)
    registry = ProcessRegistry()
    api_port = int(cluster.server.rsplit(":", 1)[1])
    on_real_node.expose(registry, [api_port, parts.port or 5432])
    netloc = parts.netloc.replace(parts.hostname or "127.0.0.1", HOST_ADDRESS)
    try:
        yield urlunsplit(parts._replace(netloc=netloc))
    finally:
        registry.stop_all()


def overrides(values: dict[str, Any], images: Images) -> dict[str, Any]:
    """The example's engines with the built images, the built Turnout image."""
    repository, _, tag = images.turnout.rpartition(":")
    engines = copy.deepcopy(values.get("experimentEngines") or [])
    for engine in engines:
        name = engine["name"]
        image = images.python_plugin if name == "hardcoded" else images.turing_style_plugin
        engine.setdefault("rpcPlugin", {})["image"] = image
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "experimentEngines": engines,
    }


HELM_WAIT_SECONDS = 180
"""helm install --wait's limit: well inside the test's own (300 s), so that a release that
never becomes ready fails with helm's words and the operator pods' state, not a timeout."""
KOPF_STARTED = "Activity 'startup' succeeded"
LOG_WAIT_SECONDS = 120.0


def operator_log(cluster: Cluster, pod: str) -> str:
    done = cluster.kubectl(
        "logs", pod, "-n", RELEASE_NAMESPACE, "-c", "operator", "--tail=-1", check=False
    )
    return done.stdout if done.returncode == 0 else f"(kubectl logs failed: {done.stderr})"


def list_operator_pods(cluster: Cluster, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`kubectl get pods -o json` of the release's operator pods."""
    return cluster.kubectl(
        "get",
        "pods",
        "-n",
        RELEASE_NAMESPACE,
        "-l",
        "app.kubernetes.io/component=operator",
        "-o",
        "json",
        check=check,
    )


def operator_pods(cluster: Cluster) -> str:
    """Each operator pod's container states and the end of its last crashed container's log
    (kubectl logs --previous), for a failure message."""
    listing = list_operator_pods(cluster, check=False)
    if listing.returncode != 0:
        return f"\n(no operator pods: {listing.stderr})"
    lines: list[str] = []
    for pod in json.loads(listing.stdout)["items"]:
        name = pod["metadata"]["name"]
        for status in pod["status"].get("containerStatuses", []):
            lines.append(f"{name}: restarts {status['restartCount']}, {status.get('state')}")
        previous = cluster.kubectl(
            "logs", name, "-n", RELEASE_NAMESPACE, "-c", "operator", "--previous", check=False
        )
        lines += [f"  {line}" for line in previous.stdout.splitlines()[-5:]]
    return "\n" + "\n".join(lines)


def wait_for_log(cluster: Cluster, pods: list[str], text: str, what: str) -> str:
    """The first of `pods` whose operator container logged `text`; fails with their
    logs' ends if none has within LOG_WAIT_SECONDS."""
    logs: dict[str, str] = {}

    def found() -> bool:
        for pod in pods:
            logs[pod] = operator_log(cluster, pod)
        return any(text in log for log in logs.values())

    try:
        wait_until(what, found, timeout=LOG_WAIT_SECONDS, interval=1.0)
    except SubstrateError:
        ends = {name: log.splitlines()[-8:] for name, log in logs.items()}
        pytest.fail(f"no operator pod logged {text!r}: {json.dumps(ends, indent=1)}")
    return next(name for name, log in logs.items() if text in log)


@pytest.mark.parametrize(
    "values_file", [EXAMPLE, *[p for p in example_values_files() if p != EXAMPLE]], ids=str
)
def test_helm_install_with_the_built_images_and_the_example_values(
    cluster: Cluster,
    realnode_images: Images,
    exposed: str,
    values_file: Path,
    tmp_path: Path,
) -> None:
    values = yaml.safe_load(values_file.read_text()) or {}
    namespaces = {RELEASE_NAMESPACE, *values.get("watchNamespaces", [])}
    for namespace in sorted(namespaces):
        cluster.kubectl("create", "namespace", namespace, check=False)
    cluster.kubectl(
        "create",
        "secret",
        "generic",
        "turnout-db",
        "-n",
        RELEASE_NAMESPACE,
        f"--from-literal=url={exposed}",
        check=False,
    )
    extra = tmp_path / "images.json"
    extra.write_text(json.dumps(overrides(values, realnode_images)))
    try:
        result = cluster.helm(
            "install",
            "turnout",
            str(CHART),
            "-n",
            RELEASE_NAMESPACE,
            "-f",
            str(values_file),
            "-f",
            str(extra),
            "--set",
            "database.existingSecret.name=turnout-db",
            "--wait",
            "--timeout",
            f"{HELM_WAIT_SECONDS}s",
            check=False,
            timeout=HELM_WAIT_SECONDS + 100,
        )
        assert result.returncode == 0, result.stderr + result.stdout + operator_pods(cluster)
        pods = json.loads(list_operator_pods(cluster).stdout)["items"]
        assert pods
        for pod in pods:
            assert pod["spec"]["nodeName"] == "turnout-real-node"
            inits = {s["name"]: s for s in pod["status"].get("initContainerStatuses", [])}
            for engine in values.get("experimentEngines") or []:
                state = inits[f"{engine['name']}-plugin"]["state"]["terminated"]
                assert state["exitCode"] == 0, state  # the plugin was copied
            assert all(s["ready"] for s in pod["status"]["containerStatuses"])
            assert all(s["restartCount"] == 0 for s in pod["status"]["containerStatuses"])
        # Ready says little: a standby is Ready while it waits for the Lease. The one that
        # takes it starts kopf, which is what failed as uid 65532 with no passwd entry: its
        # log (kubectl logs, through the kubelet) must say kopf started.
        names = [p["metadata"]["name"] for p in pods]
        leader = wait_for_log(cluster, names, KOPF_STARTED, "an operator pod to start kopf")
        assert leader in names

        # The webhook, served by the operator pod through its Service, answers with the
        # plugin's own words (examples set failurePolicy Ignore: a webhook that could not
        # be reached would let these through).
        watched = (values.get("watchNamespaces") or [RELEASE_NAMESPACE])[0]
        engines = [e["name"] for e in values.get("experimentEngines") or []]
        cases = [("optimizely", {"experiments": [{"id": "1"}]}, "is not configured")]
        if engines:
            cases.append((engines[0], {"experiments": []}, "Expected at least 1 experiment"))
        for engine, config, words in cases:
            bad = {
                "apiVersion": "turnout.dev/v1alpha1",
                "kind": "Router",
                "metadata": {"name": "refused", "namespace": watched},
                "spec": {
                    "routes": [{"id": "control", "endpoint": "http://control:8080/p"}],
                    "fallbackRoute": "control",
                    "routeNamePath": "route_name",
                    "experimentEngine": {"type": engine, "config": config},
                },
            }
            refused = cluster.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
            assert refused.returncode != 0, refused.stdout
            assert 'admission webhook "routers.turnout.dev" denied' in refused.stderr, (
                refused.stderr
            )
            assert words in refused.stderr, refused.stderr
    finally:
        cluster.helm("uninstall", "turnout", "-n", RELEASE_NAMESPACE, "--wait", check=False)
