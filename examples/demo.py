"""`make demo`: Turnout's main job on this machine, end to end.

1. a Kubernetes control plane on loopback (etcd, kube-apiserver, controllers,
   kwok's fake nodes) — or the cluster in $KUBECONFIG;
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

        step(f"starting the operator (logs: {workdir / 'operator.log'})")
        cluster.kubectl("create", "namespace", NAMESPACE, check=False)
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
                        image="ghcr.io/turnout/hardcoded-plugin:0.1.0",
                    ),
                ),
                namespaces=(NAMESPACE,),
            ),
        )

        step(f"kubectl apply -n {NAMESPACE} -f {SAMPLE_ROUTER.relative_to(EXAMPLES.parent)}")
        print(cluster.kubectl("apply", "-n", NAMESPACE, "-f", str(SAMPLE_ROUTER)).stdout, end="")
        wait_deployed(cluster, 1, operator)
        print(cluster.kubectl("get", "routers", "-n", NAMESPACE, "-o", "wide").stdout, end="")

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
