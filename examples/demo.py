"""`make demo`: Turnout's main job on this machine, end to end.

1. a Kubernetes control plane on loopback (etcd, kube-apiserver, controllers,
   kwok's fake nodes) — or the cluster in $KUBECONFIG; where this machine can run
   one (root, docs/real-node.md), a real node too: the router pods and two upstream
   pods run for real, from images built here, and requests go through the Router's
   Service (TURNOUT_DEMO_NODE=kwok keeps to the fake nodes);
2. a throwaway Postgres — or the database in $TURNOUT_DATABASE_URL;
3. the example "hardcoded" engine, the Python plugin packaged as one executable,
   copied where the operator's initContainer would put it;
4. the operator (`python -m turnout_operator`), a sample Router applied with
   kubectl, Deployed at version 1;
5. a change to the experiment config: version 2 rolls out.

Then it waits for Ctrl-C (or exits with --exit) and stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from devenv import binaries as binaries_module
from devenv.cluster import Cluster, start_cluster
from devenv.operator import CRD_FILE, Engine, OperatorConfig, migrate, start_operator, wait_for
from devenv.postgres import start_postgres
from devenv.procs import ProcessRegistry, SubstrateError
from devenv.zipapp import build_hardcoded_plugin

DEMO_UNITS = range(1, 7)

EXAMPLES = Path(__file__).resolve().parent
SAMPLE_ROUTER = EXAMPLES / "routers" / "sample-router.yaml"
ENGINE_OPTIONS = EXAMPLES / "plugins" / "hardcoded" / "sample_engine_options.json"
NAMESPACE = "turnout-demo"


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


class ExistingCluster:
    """kubectl against the cluster in $KUBECONFIG, with the same interface the demo uses."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.kubectl_bin = binaries_module.locate().kubectl

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> Any:
        import subprocess

        result = subprocess.run(
            [str(self.kubectl_bin), *args],
            input=input,
            capture_output=True,
            text=True,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
            timeout=120,
        )
        if check and result.returncode != 0:
            raise SubstrateError(f"kubectl {' '.join(args)}: {result.stderr}")
        return result


def router_status(cluster: Any) -> dict[str, Any]:
    result = cluster.kubectl("get", "router", "sample", "-n", NAMESPACE, "-o", "json", check=False)
    if result.returncode != 0:
        return {}
    status: dict[str, Any] = json.loads(result.stdout).get("status", {})
    return status


def wait_deployed(cluster: Any, version: int, operator: Any) -> dict[str, Any]:
    def deployed() -> dict[str, Any] | None:
        status = router_status(cluster)
        if status.get("phase") == "Failed":
            raise SubstrateError(f"the Router failed: {status.get('message')}")
        ok = status.get("phase") == "Deployed" and status.get("deployedVersion") == version
        return status if ok else None

    started = time.monotonic()
    status: dict[str, Any] = wait_for(deployed, 180, f"version {version} Deployed", operator)
    step(f"version {version} Deployed in {time.monotonic() - started:.1f}s")
    return status


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both end the demo through its cleanup.

    A shell that starts the demo in the background leaves SIGINT ignored, and Python's
    default SIGTERM exits without cleanup: either would leave the servers running.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def start_real_pods(
    registry: ProcessRegistry, cluster: Cluster
) -> tuple[str, str, dict[str, str]] | None:
    """A real node with the built images and two upstream pods, where the machine can.

    Returns the plugin image, the router image and the upstream URL of each route;
    None (kwok's fake nodes only) with the reason printed, where it cannot.
    """
    from devenv.cluster import FAKE_NODE_NAMES
    from devenv.gopeers import locate as locate_gopeers
    from devenv.realnode.images import build_images
    from devenv.realnode.node import (
        NODE_NAME,
        REAL_NODE_TAINT,
        start_real_node,
        unsupported_reason,
    )
    from tests.realnode.support import start_upstream

    reason = unsupported_reason()
    if os.environ.get("TURNOUT_DEMO_NODE") == "kwok":
        reason = "TURNOUT_DEMO_NODE=kwok"
    if reason is not None:
        step(f"router pods on kwok's fake nodes only (no real node: {reason})")
        return None
    step("building the images (Debian-made bases, Dockerfile, plugin.Dockerfile; cached)")
    images = build_images(locate_gopeers().hardcoded_plugin)
    step("starting a real node (containerd, runc, kubelet, kube-proxy, CNI on 198.18.0.0/15)")
    start_real_node(registry, cluster, images.archives)
    for name in FAKE_NODE_NAMES:
        cluster.kubectl("cordon", name)
    cluster.kubectl("taint", "node", NODE_NAME, f"{REAL_NODE_TAINT}:NoSchedule-")
    step("starting two upstream pods (control, treatment-1) behind their Services")
    routes = {
        name: start_upstream(cluster, NAMESPACE, name, images.turnout)
        for name in ("control", "treatment-1")
    }
    return images.python_plugin, images.turnout, routes


def show_requests(cluster: Any) -> None:
    """A handful of requests through the Router's Service: each unit's treatment and route."""
    from tests.realnode.support import post, service_url, wait_routed

    url = service_url(cluster, NAMESPACE, "sample-router")
    wait_routed(url, "the Router's Service to answer")
    step(f"POST {url} for a few units (client.id in the payload)")
    for unit in DEMO_UNITS:
        _, headers, _ = post(url, unit, f"demo-{unit}")
        treatment = headers.get("Turnout-Treatment", "-")
        experiment = headers.get("Turnout-Experiment", "-")
        print(
            f"  client {unit}: {experiment}/{treatment} -> route {headers['Turnout-Route']} "
            f"({headers['Turnout-Route-Reason']})",
            flush=True,
        )


def main() -> int:
    _stop_on_signals()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--exit", action="store_true", help="stop everything once version 2 is Deployed"
    )
    args = parser.parse_args()

    registry = ProcessRegistry()
    workdir = Path(tempfile.mkdtemp(prefix="turnout-demo-"))
    try:
        kubeconfig_env = os.environ.get("KUBECONFIG")
        cluster: Cluster | ExistingCluster
        if kubeconfig_env:
            step(f"using the cluster in KUBECONFIG={kubeconfig_env}")
            cluster = ExistingCluster(Path(kubeconfig_env))
            kubeconfig = Path(kubeconfig_env)
        else:
            step("starting a local control plane (etcd, kube-apiserver, controllers, kwok)")
            started = time.monotonic()
            cluster = start_cluster(registry, binaries_module.locate(), workdir / "cluster")
            kubeconfig = cluster.kubeconfig
            step(f"control plane ready in {time.monotonic() - started:.1f}s")

        database_url = os.environ.get("TURNOUT_DATABASE_URL")
        if database_url:
            step("using the database in TURNOUT_DATABASE_URL")
        else:
            step("starting a throwaway Postgres")
            database_url = start_postgres(registry).url
        step("migrating the versions database (python -m turnout_operator db upgrade)")
        migrate(database_url)

        step("installing the CRDs (crds/)")
        crds = (
            "routers.turnout.dev",
            "routerversions.turnout.dev",
            "experimentengines.turnout.dev",
        )
        for crd in crds:
            cluster.kubectl("apply", "--server-side", "-f", str(CRD_FILE.parent / f"{crd}.yaml"))
            cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")

        step("packaging the example plugin (examples/plugins/hardcoded) as one executable")
        plugin = workdir / "hardcoded"
        print(build_hardcoded_plugin(plugin), end="")

        cluster.kubectl("create", "namespace", NAMESPACE, check=False)
        real = start_real_pods(registry, cluster) if isinstance(cluster, Cluster) else None
        engine_image = "ghcr.io/turnout/hardcoded-plugin:0.1.0"
        router_image = "turnout:dev"
        manifest = yaml.safe_load(SAMPLE_ROUTER.read_text())
        if real is not None:
            engine_image, router_image, routes = real
            for route in manifest["spec"]["routes"]:
                route["endpoint"] = routes[route["id"]]

        step(f"starting the operator (logs: {workdir / 'operator.log'})")
        operator = start_operator(
            registry,
            OperatorConfig(
                kubeconfig=kubeconfig,
                database_url=database_url,
                workdir=workdir,
                engines=(
                    Engine(
                        name="hardcoded",
                        binary=plugin,
                        options=json.loads(ENGINE_OPTIONS.read_text()),
                        image=engine_image,
                    ),
                ),
                namespaces=(NAMESPACE,),
                router_image=router_image,
            ),
        )

        step(f"kubectl apply -n {NAMESPACE} -f {SAMPLE_ROUTER.relative_to(EXAMPLES.parent)}")
        print(
            cluster.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=json.dumps(manifest)).stdout,
            end="",
        )
        wait_deployed(cluster, 1, operator)
        print(cluster.kubectl("get", "routers", "-n", NAMESPACE, "-o", "wide").stdout, end="")
        if real is not None:
            show_requests(cluster)

        step("changing the experiment config (adds exp_2): a new version rolls out")
        router = yaml.safe_load(SAMPLE_ROUTER.read_text())
        config = router["spec"]["experimentEngine"]["config"]
        config["experiments"].append({"id": "002", "name": "exp_2"})
        patch = {"spec": {"experimentEngine": {"config": config}}}
        cluster.kubectl(
            "patch", "router", "sample", "-n", NAMESPACE, "--type=merge", "-p", json.dumps(patch)
        )
        wait_deployed(cluster, 2, operator)
        print(cluster.kubectl("get", "routers", "-n", NAMESPACE, "-o", "wide").stdout, end="")
        if real is not None:
            show_requests(cluster)
        print(cluster.kubectl("get", "experimentengines").stdout, end="")
        print(
            cluster.kubectl(
                "get",
                "deployments,services,configmaps",
                "-n",
                NAMESPACE,
                "-l",
                "turnout.dev/router=sample",
            ).stdout,
            end="",
        )

        if args.exit:
            step("done")
            return 0
        print()
        print("Poke at it in another terminal:")
        print(f"  export KUBECONFIG={kubeconfig}")
        print(f"  kubectl describe router sample -n {NAMESPACE}")
        print(
            f"  kubectl edit router sample -n {NAMESPACE}   # change the spec, watch the versions"
        )
        print("Ctrl-C stops everything this demo started.")
        while operator.alive():
            time.sleep(1)
        print(operator.log_tail(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
        return 0
    except SubstrateError as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1
    finally:
        registry.stop_all()


if __name__ == "__main__":
    sys.exit(main())
