"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, controllers, kwok.

The operator must be tested against a real API server (validation, RBAC, server-side
apply, garbage collection and rollouts all behave in ways a fake would get wrong).
This module starts one from binaries built by ``tools/build-controlplane.sh``:

* etcd keeps its data in /dev/shm without fsync: durability is irrelevant here;
* kube-apiserver serves TLS on 127.0.0.1 with RBAC on and real service-account
  tokens, so permission mistakes in the chart show up as 403s;
* kube-controller-manager runs only the controllers the tests rely on (rollouts,
  ownerReference cascades, namespace deletion, default service accounts);
* kube-scheduler places pods, and kwok plays the kubelet for fake nodes, moving
  pods to Running/Ready so Deployments really become available.

Every process listens on 127.0.0.1 only and is stopped by pid through the
:class:`~devenv.procs.ProcessRegistry`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from devenv.binaries import Binaries
from devenv.certs import Pki, make_pki
from devenv.procs import Process, ProcessRegistry, SubstrateError, free_port, wait_until

# Generous deadlines: on 2 busy cores the apiserver alone can take a minute.
APISERVER_READY_SECONDS = 90.0
COMPONENT_READY_SECONDS = 60.0
NODES_READY_SECONDS = 60.0

# A /16: a /24 runs out at about 250 Services ("range is full").
# Inside 198.18.0.0/15 (reserved for test networks): the real node routes it (devenv.realnode).
SERVICE_CLUSTER_IP_RANGE = "198.19.0.0/16"
POD_CIDR = "10.244.0.0/16"
FAKE_NODE_NAMES = ("kwok-node-0", "kwok-node-1")
# Enough room for many small router replicas per node.
FAKE_NODE_CAPACITY = {"cpu": "32", "memory": "128Gi", "pods": "110"}


@dataclass(frozen=True)
class Profile:
    """How big a control plane to start: the test suite's, or one for thousands of objects."""

    name: str
    node_names: tuple[str, ...]
    pods_per_node: int
    controller_manager_flags: tuple[str, ...] = ()
    scheduler_flags: tuple[str, ...] = ()
    audit: bool = False
    """Write an audit log (metadata of every request but the kubelet's and controllers' own)."""
    apiserver_flags: tuple[str, ...] = ()
    """More kube-apiserver flags, e.g. an admission plugin some distributions enable."""

    def node_capacity(self) -> dict[str, str]:
        return {**FAKE_NODE_CAPACITY, "pods": str(self.pods_per_node)}


DEFAULT_PROFILE = Profile("default", FAKE_NODE_NAMES, pods_per_node=110)
"""The test suite's: two small fake nodes and the components' default client limits."""

SCALE_PROFILE = Profile(
    "scale",
    tuple(f"kwok-node-{index}" for index in range(8)),
    # 8 x 500: room for the floor's and two operator rounds' pods at 1,000 Routers each.
    pods_per_node=500,
    # kube-controller-manager's client defaults to 20 requests/s (burst 30) and 5 workers
    # per controller: 1,000 Deployments then take about four minutes to become available
    # whoever creates them. Raised, the floor measures the API server, not a client limit.
    controller_manager_flags=(
        "--kube-api-qps=1000",
        "--kube-api-burst=2000",
        "--concurrent-deployment-syncs=50",
        "--concurrent-replicaset-syncs=50",
        "--concurrent-gc-syncs=50",
    ),
    scheduler_flags=("--kube-api-qps=1000", "--kube-api-burst=2000"),
    audit=True,
)
"""For `python -m tests.bench scale`: room and client limits for 1,000+ Routers, an audit log."""

# Requests left out of the audit log: the fake kubelet's and the controllers' traffic
# (pods but their lists, nodes, leases, replica sets, endpoints) and health probes. What
# is left is what a client such as the operator asks for.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        # Pod lists are kept: the operator lists a version's new pods while its rollout
        # waits on them, and the scale bench counts those. The controllers' and kwok's
        # informers list pods once each (then watch), so this adds next to nothing.
        {
            "level": "Metadata",
            "verbs": ["list"],
            "resources": [{"group": "", "resources": ["pods"]}],
        },
        {
            "level": "None",
            "resources": [
                {
                    "group": "",
                    "resources": [
                        "pods",
                        "pods/status",
                        "nodes",
                        "nodes/status",
                        "endpoints",
                        "serviceaccounts",
                        "secrets",
                    ],
                },
                {"group": "apps", "resources": ["replicasets", "replicasets/status"]},
                {"group": "discovery.k8s.io", "resources": ["endpointslices"]},
            ],
        },
        # The fake nodes' heartbeats; other Leases (the operator's) are logged.
        {
            "level": "None",
            "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}],
            "namespaces": ["kube-node-lease"],
        },
        {"level": "None", "nonResourceURLs": ["/healthz*", "/readyz*", "/livez*", "/version"]},
        {"level": "Metadata"},
    ],
}

# Only what the tests need: rollouts, cascading deletes, namespace deletion, and the
# `default` ServiceAccount that pod admission requires in every namespace.
CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    # The Helm chart's migration hook is a Job; helm waits for it to complete (kwok
    # completes Job pods).
    "job-controller",
)


@dataclass(frozen=True)
class Cluster:
    """A running test control plane and the ways to talk to it."""

    server: str
    """The apiserver URL, https://127.0.0.1:<port>."""
    kubeconfig: Path
    """A self-contained kubeconfig (certificates embedded) for an admin identity."""
    binaries: Binaries
    pki: Pki
    workdir: Path
    """Logs, certificates and tool caches of this session."""
    audit_log: Path | None = None
    """The API server's audit log (JSON lines), when the profile asks for one."""

    def tool_env(self) -> dict[str, str]:
        """Environment for kubectl/helm: this cluster, and caches kept out of $HOME."""
        env = dict(os.environ)
        env.update(
            KUBECONFIG=str(self.kubeconfig),
            KUBECACHEDIR=str(self.workdir / "kube-cache"),
            HELM_CACHE_HOME=str(self.workdir / "helm" / "cache"),
            HELM_CONFIG_HOME=str(self.workdir / "helm" / "config"),
            HELM_DATA_HOME=str(self.workdir / "helm" / "data"),
        )
        return env

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run the kubectl built with the control plane (same version) against this cluster."""
        return self._run(self.binaries.kubectl, args, input=input, check=check, timeout=timeout)

    def helm(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 300.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run the built helm against this cluster."""
        return self._run(self.binaries.helm, args, input=input, check=check, timeout=timeout)

    def _run(
        self,
        binary: Path,
        args: tuple[str, ...],
        *,
        input: str | None,
        check: bool,
        timeout: float,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(binary), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.tool_env(),
            timeout=timeout,
        )
        if check and result.returncode != 0:
            # CalledProcessError's message omits stderr, which is what explains a failure.
            raise SubstrateError(
                f"{binary.name} {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stderr}{result.stdout}"
            )
        return result

    def api_client(self) -> k8s_client.ApiClient:
        """A new client of the official Python library for this cluster; close it when done."""
        # The config loader is not annotated, unlike the generated client.
        api: k8s_client.ApiClient = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig)
        )
        return api

    def get_json(self, path: str) -> Any:
        """GET a raw API path (``/version``, ``/readyz?verbose``) as the admin."""
        return json.loads(_https_get(self.server + path, self.pki))


# --- raw HTTP, used before any client library can be pointed at the server ---


def _admin_ssl_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
    return context


def _https_get(url: str, pki: Pki) -> str:
    with urllib.request.urlopen(url, context=_admin_ssl_context(pki), timeout=5) as response:
        body: bytes = response.read()
        return body.decode()


def _etcd_healthy(client_url: str) -> bool:
    with urllib.request.urlopen(client_url + "/health", timeout=5) as response:
        return bool(json.loads(response.read()).get("health") == "true")


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    with urllib.request.urlopen(url, context=context, timeout=5) as response:
        return bool(response.status == 200)


# --- the processes ---


def _data_dir(prefix: str) -> Path:
    """A scratch dir in memory when the machine has /dev/shm; disk otherwise."""
    shm = Path("/dev/shm")
    parent = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def start_etcd(registry: ProcessRegistry, binaries: Binaries, logs: Path) -> str:
    """Start a single-member etcd and return its client URL once it is healthy."""
    data_dir = _data_dir("turnout-etcd-")
    registry.add_cleanup(lambda: shutil.rmtree(data_dir, ignore_errors=True))
    client_url = f"http://127.0.0.1:{free_port()}"
    peer_url = f"http://127.0.0.1:{free_port()}"
    process = registry.start(
        "etcd",
        [
            str(binaries.etcd),
            "--name=turnout",
            f"--data-dir={data_dir}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=turnout={peer_url}",
            # Test data is thrown away; fsync would only slow every write.
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ],
        logs / "etcd.log",
    )
    wait_until(
        "etcd /health",
        lambda: _etcd_healthy(client_url),
        timeout=COMPONENT_READY_SECONDS,
        watch=[process],
    )
    return client_url


def audit_flags(workdir: Path) -> tuple[list[str], Path]:
    """kube-apiserver flags for a metadata-level audit log in ``workdir``, and its path."""
    policy = workdir / "audit-policy.yaml"
    policy.write_text(yaml.safe_dump(AUDIT_POLICY, sort_keys=False))
    log = workdir / "logs" / "audit.log"
    return [
        f"--audit-policy-file={policy}",
        f"--audit-log-path={log}",
        "--audit-log-format=json",
        # Batches, not a synchronous write per request: the log must not slow the server.
        "--audit-log-mode=batch",
        # The log is read by offsets: it must not be rotated (at 100 MB by default) mid-run.
        "--audit-log-maxsize=100000",
    ], log


def start_apiserver(
    registry: ProcessRegistry,
    binaries: Binaries,
    pki: Pki,
    etcd_url: str,
    workdir: Path,
    extra_flags: list[str] | None = None,
) -> tuple[str, Process]:
    """Start kube-apiserver on a free loopback port; return its URL once /readyz is ok."""
    port = free_port()
    server = f"https://127.0.0.1:{port}"
    process = registry.start(
        "kube-apiserver",
        [
            str(binaries.kube_apiserver),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={workdir / 'apiserver-certs'}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            # RBAC only, as in a real cluster, so the chart's RBAC is tested for real.
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--allow-privileged=true",
            # This plugin taints every new Node not-ready until the node-lifecycle
            # controller clears it; that controller is not run (it would mark the fake
            # nodes unreachable between kwok heartbeats), so the taint would stay.
            "--disable-admission-plugins=TaintNodesByCondition",
            # The `kubernetes` Service cannot have a loopback endpoint (validation
            # rejects 127.0.0.0/8) and no pod here could reach it anyway.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            # kubectl logs/exec/port-forward reach a real node's kubelet (devenv.realnode):
            # the API server shows the session CA's client cert and checks the kubelet's
            # serving cert against the same CA, at the node's InternalIP (its Hostname
            # resolves nowhere here). kwok's nodes are never called this way.
            f"--kubelet-client-certificate={pki.kubelet_client_cert}",
            f"--kubelet-client-key={pki.kubelet_client_key}",
            f"--kubelet-certificate-authority={pki.ca_cert}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            *(extra_flags or []),
        ],
        workdir / "logs" / "kube-apiserver.log",
    )
    context = _admin_ssl_context(pki)
    wait_until(
        "kube-apiserver /readyz",
        lambda: _http_ok(server + "/readyz", context),
        timeout=APISERVER_READY_SECONDS,
        interval=0.5,
        watch=[process],
    )
    return server, process


def restart_apiserver(registry: ProcessRegistry, cluster: Cluster) -> Process:
    """Stop kube-apiserver and start it again with the same flags, port and etcd.

    For tests of what clients do when the API server goes away and comes back:
    their connections and watches drop, and the server returns at the same
    address with the same data. Returns once /readyz answers ok again.
    """
    (old,) = [p for p in registry.processes if p.name == "kube-apiserver" and p.alive()]
    args = old.popen.args
    assert isinstance(args, list)  # ProcessRegistry.start passes a list
    argv = [str(arg) for arg in args]
    old.stop()
    registry.processes.remove(old)
    new = registry.start("kube-apiserver", argv, old.log_path)
    context = _admin_ssl_context(cluster.pki)
    wait_until(
        "kube-apiserver /readyz after a restart",
        lambda: _http_ok(cluster.server + "/readyz", context),
        timeout=APISERVER_READY_SECONDS,
        interval=0.5,
        watch=[new],
    )
    return new


def write_kubeconfig(path: Path, server: str, pki: Pki) -> None:
    """A kubeconfig with the certificates embedded, so it works from any directory."""

    def b64(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "turnout-test",
                "cluster": {"server": server, "certificate-authority-data": b64(pki.ca_cert)},
            }
        ],
        "users": [
            {
                "name": "turnout-admin",
                "user": {
                    "client-certificate-data": b64(pki.admin_cert),
                    "client-key-data": b64(pki.admin_key),
                },
            }
        ],
        "contexts": [
            {
                "name": "turnout-test",
                "context": {"cluster": "turnout-test", "user": "turnout-admin"},
            }
        ],
        "current-context": "turnout-test",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


def _serving_flags(kubeconfig: Path, pki: Pki, port: int) -> list[str]:
    """Flags shared by controller-manager and scheduler: /healthz on loopback TLS.

    No delegated authentication: nothing but the readiness probe calls these ports,
    and /healthz is always allowed.
    """
    return [
        f"--kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
    ]


def start_component(
    registry: ProcessRegistry,
    name: str,
    binary: Path,
    extra_flags: list[str],
    kubeconfig: Path,
    pki: Pki,
    logs: Path,
) -> Process:
    """Start kube-controller-manager or kube-scheduler and wait for its /healthz."""
    port = free_port()
    process = registry.start(
        name,
        [str(binary), *_serving_flags(kubeconfig, pki, port), *extra_flags],
        logs / f"{name}.log",
    )
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    wait_until(
        f"{name} /healthz",
        lambda: _http_ok(f"https://127.0.0.1:{port}/healthz", context),
        timeout=COMPONENT_READY_SECONDS,
        interval=0.5,
        watch=[process],
    )
    return process


def start_kwok(
    registry: ProcessRegistry, binaries: Binaries, kubeconfig: Path, logs: Path
) -> Process:
    """Start kwok, which acts as the kubelet of the fake nodes (those annotated
    `kwok.x-k8s.io/node: fake`), and leaves a real node (devenv.realnode) to its kubelet."""
    return registry.start(
        "kwok",
        [
            str(binaries.kwok),
            f"--kubeconfig={kubeconfig}",
            f"--config={binaries.kwok_stages}",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--cidr={POD_CIDR}",
            "--node-ip=127.0.0.1",
            f"--server-address=127.0.0.1:{free_port()}",
        ],
        logs / "kwok.log",
    )


def fake_node(name: str, capacity: dict[str, str] = FAKE_NODE_CAPACITY) -> k8s_client.V1Node:
    """A Node that kwok manages; it has no taints, so ordinary pods land on it."""
    return k8s_client.V1Node(
        api_version="v1",
        kind="Node",
        metadata=k8s_client.V1ObjectMeta(
            name=name,
            annotations={"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            labels={
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        ),
        status=k8s_client.V1NodeStatus(capacity=dict(capacity), allocatable=dict(capacity)),
    )


def _name(obj: Any) -> str | None:
    """metadata.name of an API object (the typed client marks metadata optional)."""
    return obj.metadata.name if obj.metadata else None


def _node_ready(node: k8s_client.V1Node) -> bool:
    conditions = (node.status.conditions if node.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def create_fake_nodes(
    cluster: Cluster, watch: list[Process], profile: Profile = DEFAULT_PROFILE
) -> None:
    """Register the fake nodes and wait until kwok reports them Ready."""
    with cluster.api_client() as api:
        core = k8s_client.CoreV1Api(api)
        for name in profile.node_names:
            core.create_node(fake_node(name, profile.node_capacity()))

        def all_ready() -> bool:
            nodes = core.list_node().items
            ready = {_name(n) for n in nodes if _node_ready(n)}
            return ready >= set(profile.node_names)

        wait_until("fake nodes Ready", all_ready, timeout=NODES_READY_SECONDS, watch=watch)


def wait_for_default_service_account(
    cluster: Cluster, namespace: str, watch: list[Process] | None = None
) -> None:
    """Pods are rejected until the namespace's `default` ServiceAccount exists."""
    with cluster.api_client() as api:
        core = k8s_client.CoreV1Api(api)

        def exists() -> bool:
            names = {_name(sa) for sa in core.list_namespaced_service_account(namespace).items}
            return "default" in names

        wait_until(
            f"ServiceAccount {namespace}/default",
            exists,
            timeout=COMPONENT_READY_SECONDS,
            watch=watch or [],
        )


def start_cluster(
    registry: ProcessRegistry,
    binaries: Binaries,
    workdir: Path,
    profile: Profile = DEFAULT_PROFILE,
) -> Cluster:
    """Start the whole control plane; return once nodes are Ready and controllers work."""
    started = time.monotonic()
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pki = make_pki(workdir / "pki")

    etcd_url = start_etcd(registry, binaries, logs)
    apiserver_flags: list[str] = list(profile.apiserver_flags)
    audit_log: Path | None = None
    if profile.audit:
        flags, audit_log = audit_flags(workdir)
        apiserver_flags += flags
    server, apiserver = start_apiserver(registry, binaries, pki, etcd_url, workdir, apiserver_flags)
    kubeconfig = workdir / "kubeconfig"
    write_kubeconfig(kubeconfig, server, pki)
    cluster = Cluster(
        server=server,
        kubeconfig=kubeconfig,
        binaries=binaries,
        pki=pki,
        workdir=workdir,
        audit_log=audit_log,
    )

    controller_manager = start_component(
        registry,
        "kube-controller-manager",
        binaries.kube_controller_manager,
        [
            f"--controllers={','.join(CONTROLLERS)}",
            f"--root-ca-file={pki.ca_cert}",
            *profile.controller_manager_flags,
        ],
        kubeconfig,
        pki,
        logs,
    )
    scheduler = start_component(
        registry,
        "kube-scheduler",
        binaries.kube_scheduler,
        list(profile.scheduler_flags),
        kubeconfig,
        pki,
        logs,
    )
    kwok = start_kwok(registry, binaries, kubeconfig, logs)
    everything = [apiserver, controller_manager, scheduler, kwok]

    create_fake_nodes(cluster, everything, profile)
    wait_for_default_service_account(cluster, "default", everything)
    _record_startup(workdir, time.monotonic() - started)
    return cluster


def _record_startup(workdir: Path, seconds: float) -> None:
    """Leave the startup time next to the logs: slow starts are the usual CI complaint."""
    with contextlib.suppress(OSError):
        (workdir / "startup-seconds").write_text(f"{seconds:.1f}\n")
