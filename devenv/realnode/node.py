"""Start and stop a real node: containerd + runc, kubelet, kube-proxy and a CNI bridge.

Registered to the local control plane (`devenv.cluster`), it runs real containers from
images built here (`images`). Everything it makes lives in a scratch tree, except what
cannot be moved (the kubelet's device-plugins directory, /var/log/containers, the
shims' sockets under /run/containerd, cgroups and iptables chains); `RealNode.stop`
removes all of it, and `host_state` is what a test compares before and after.

Addresses: pods on 198.18.0.0/24 (bridge `turnout0`, gateway 198.18.0.1), Services
on 198.19.0.0/16 (the control plane's range): 198.18.0.0/15 is reserved for test
networks. Pods get a route to 198.18.0.0/15 only and no default route, and the bridge
does no masquerading: nothing in a pod can reach past this machine.

Root is needed, and one kubelet per machine at a time. `unsupported_reason` says in one
line why this machine cannot run one, for tests to report as not run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from devenv.certs import issue_serving_cert
from devenv.cluster import Cluster, start_component
from devenv.procs import Process, ProcessRegistry, SubstrateError, free_port, wait_until
from devenv.realnode.images import PAUSE_IMAGE, say

NODE_NAME: Final = "turnout-real-node"
REAL_NODE_TAINT: Final = "turnout.dev/real-node"
BRIDGE: Final = "turnout0"
POD_SUBNET: Final = "198.18.0.0/24"
GATEWAY: Final = "198.18.0.1"
SERVICE_RANGE: Final = "198.19.0.0/16"
TEST_NETWORKS: Final = "198.18.0.0/15"
HOST_ADDRESS: Final = "198.18.255.254"
"""This machine as pods see it (on `lo`): the relay to the API server and Postgres."""
CNI_BIN: Final = Path("/usr/lib/cni")
NODE_READY_SECONDS: Final = 120.0
PODS_GONE_SECONDS: Final = 90.0
UNMOVABLE: Final = (Path("/var/lib/kubelet/device-plugins"), Path("/var/log/containers"))
CGROUP_ROOT: Final = Path("/sys/fs/cgroup")


def node_binaries_dir() -> Path:
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [str(repo / "tools" / "build-node.sh"), "--print-dir"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(done.stdout.strip()) / "bin"


def unsupported_reason() -> str | None:
    """Why this machine cannot run a real node, in one line; None when it can."""
    if os.geteuid() != 0:
        return "a real node needs root (kubelet, containerd, bridges and iptables)"
    if not (CGROUP_ROOT / "memory").is_dir() and not (CGROUP_ROOT / "cgroup.controllers").exists():
        return "no cgroup hierarchy under /sys/fs/cgroup"
    for tool in ("containerd", "ctr", "runc", "podman", "iptables", "ip", "debootstrap", "gcc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install the packages .ci/run lists)"
    if not (CNI_BIN / "bridge").exists():
        return f"no CNI plugins in {CNI_BIN} (Debian's containernetworking-plugins)"
    if not (node_binaries_dir() / "kubelet").exists():
        return "kubelet is not built (make tools builds it: tools/build-node.sh)"
    if Path(f"/sys/class/net/{BRIDGE}").exists():
        return f"bridge {BRIDGE} exists: another real node runs on this machine"
    return None


# --- what the node leaves on the host ---


def _lines(*argv: str) -> list[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True)
    return done.stdout.splitlines() if done.returncode == 0 else []


def _chains() -> set[str]:
    found: set[str] = set()
    for tool in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            for line in _lines(tool, "-t", table, "-S"):
                if line.startswith("-N "):
                    found.add(f"{tool}/{table}/{line.split()[1]}")
    return found


def _cgroups() -> set[str]:
    found: set[str] = set()
    if not CGROUP_ROOT.is_dir():
        return found
    for controller in CGROUP_ROOT.iterdir():
        for name in ("kubepods", "kubepods.slice"):
            if (controller / name).exists():
                found.add(str(controller / name))
    return found


SCRATCH_PREFIX: Final = "turnout-realnode-"
"""The scratch tree's name starts so; every process of a node names it (the shims
their containerd's socket in it)."""


def node_processes() -> dict[int, str]:
    """Processes whose command line names a node's scratch tree, by pid."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"/{SCRATCH_PREFIX}" in command:
            found[int(entry.name)] = command.strip()
    return found


def host_state() -> dict[str, set[str]]:
    """What a node adds to the host and must take away: processes, mounts, cgroups, links,
    addresses, routes, iptables chains, network namespaces, the unmovable directories."""
    mounts = {
        " ".join(line.split()[3:5])
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    }
    netns = Path("/run/netns")
    return {
        "processes": {f"{pid} {command}" for pid, command in node_processes().items()},
        "mounts": mounts,
        "cgroups": _cgroups(),
        "links": {line.split()[0] for line in _lines("ip", "-br", "link")},
        "addresses": set(_lines("ip", "-br", "addr")),
        "routes": set(_lines("ip", "route")),
        "chains": _chains(),
        "netns": {p.name for p in netns.iterdir()} if netns.is_dir() else set(),
        "directories": {str(p) for p in UNMOVABLE if p.exists()},
    }


# --- configuration files ---


def containerd_config(root: Path) -> str:
    cri = '[plugins."io.containerd.grpc.v1.cri"]'
    return f"""version = 2
root = "{root}/containerd/root"
state = "{root}/containerd/state"
[grpc]
  address = "{root}/containerd/containerd.sock"
[ttrpc]
  address = "{root}/containerd/containerd.sock.ttrpc"
{cri}
  sandbox_image = "{PAUSE_IMAGE}"
  # No CAP_SYS_RESOURCE on these machines: oom_score_adj may only be raised.
  restrict_oom_score_adj = true
  disable_apparmor = true
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  {cri[:-1]}.containerd]
    default_runtime_name = "runc"
    snapshotter = "overlayfs"
    {cri[:-1]}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      {cri[:-1]}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  {cri[:-1]}.cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{root}/cni/net.d"
"""


def cni_config(root: Path) -> dict[str, Any]:
    return {
        "cniVersion": "0.4.0",
        "name": "turnout",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "isDefaultGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": GATEWAY}]],
                    # Test networks only: no default route, no way off the machine.
                    "routes": [{"dst": TEST_NETWORKS}],
                    "dataDir": str(root / "cni" / "ipam"),
                },
            }
        ],
    }


def kubelet_config(root: Path, cluster: Cluster, socket: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "oomScoreAdj": 0,
        # The API server calls the kubelet (kubectl logs, exec) at the node's InternalIP,
        # the bridge's gateway: an address of this machine that only it and its pods
        # reach. A loopback address would do only if the node's Hostname resolved to it.
        "address": GATEWAY,
        "port": free_port(),
        # Signed by the cluster's CA for that address: the API server checks it.
        "tlsCertFile": str(root / "kubelet-serving" / "kubelet.crt"),
        "tlsPrivateKeyFile": str(root / "kubelet-serving" / "kubelet.key"),
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": free_port(),
        "readOnlyPort": 0,
        "podLogsDir": str(root / "pod-logs"),
        "clusterDNS": [],
        "makeIPTablesUtilChains": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "imageMinimumGCAge": "87600h",
        "evictionHard": {
            "memory.available": "1Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        # Callers must show a client cert of the cluster's CA (only the admin's and the
        # API server's exist; pods have none, and tokens are not accepted); each one so
        # authenticated may do anything. Webhook authorization (a SubjectAccessReview per
        # call, through the API server) would check the same two identities for nothing
        # on a node that only this machine reaches.
        "authentication": {
            "x509": {"clientCAFile": str(cluster.pki.ca_cert)},
            "webhook": {"enabled": False},
            "anonymous": {"enabled": False},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "containerRuntimeEndpoint": f"unix://{socket}",
        "serializeImagePulls": False,
        "syncFrequency": "5s",
        "fileCheckFrequency": "60s",
        "nodeStatusUpdateFrequency": "5s",
        "shutdownGracePeriod": "0s",
        # Only pods of tests that ask for the real node land on it (`REAL_NODE_TAINT`).
        "registerWithTaints": [{"key": REAL_NODE_TAINT, "effect": "NoSchedule"}],
    }


def kube_proxy_config(cluster: Cluster) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(cluster.kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "mode": "iptables",
        "clusterCIDR": POD_SUBNET,
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": f"127.0.0.1:{free_port()}",
        "metricsBindAddress": f"127.0.0.1:{free_port()}",
        # Change no sysctl of the host.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "nodePortAddresses": ["127.0.0.1/32"],
        "iptables": {"minSyncPeriod": "0s", "syncPeriod": "30s"},
    }


# --- the node ---


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True)
    if check and done.returncode != 0:
        raise SubstrateError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done


@dataclass
class RealNode:
    cluster: Cluster
    root: Path
    socket: Path
    processes: list[Process]
    before: dict[str, set[str]]
    made_dirs: list[Path] = field(default_factory=list)
    stopped: bool = False

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run("ctr", "--address", str(self.socket), "-n", "k8s.io", *args, check=check)

    def import_images(self, archives: tuple[Path, ...]) -> None:
        for archive in archives:
            self.ctr("images", "import", "--no-unpack", str(archive))

    def expose(self, registry: ProcessRegistry, ports: list[int]) -> None:
        """Let pods reach 127.0.0.1's `ports` at HOST_ADDRESS, and the API server through
        the `kubernetes` Service (whose endpoints the control plane leaves empty)."""
        relay = registry.start(
            "relay",
            [sys.executable, "-m", "devenv.realnode.relay", HOST_ADDRESS, *map(str, ports)],
            self.cluster.workdir / "logs" / "relay.log",
            cwd=Path(__file__).resolve().parents[2],
        )
        self.processes.append(relay)
        api_port = int(self.cluster.server.rsplit(":", 1)[1])
        slice_ = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kubernetes-real-node",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "kubernetes"},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [HOST_ADDRESS], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": api_port, "protocol": "TCP"}],
        }
        self.cluster.kubectl("apply", "-f", "-", input=json.dumps(slice_))
        wait_until(
            "the relay to listen",
            lambda: "relaying" in relay.log_path.read_text(),
            timeout=30,
            interval=0.1,
            watch=[relay],
        )

    def stop(self) -> None:
        """Take away everything the node made (see the module doc); safe to call twice."""
        if self.stopped:
            return
        self.stopped = True
        steps: list[tuple[str, Callable[[], None]]] = [
            ("delete pods", self._delete_pods),
            ("stop processes", self._stop_processes),
            ("containers", self._remove_containers),
            ("shims", self._stop_shims),
            ("mounts", self._unmount),
            ("cgroups", self._remove_cgroups),
            ("network", self._remove_network),
            ("chains", self._remove_chains),
            ("files", self._remove_files),
        ]
        for name, step in steps:
            try:
                step()
            except Exception as error:  # go on: a later step may still clean its part
                say(f"stop: {name}: {error}")

    def _delete_pods(self) -> None:
        """Pods first, through the API: the kubelet stops them and CNI releases addresses."""
        selector = f"spec.nodeName={NODE_NAME}"
        self.cluster.kubectl(
            "delete",
            "pods",
            "-A",
            "--field-selector",
            selector,
            "--grace-period=1",
            "--wait=false",
            check=False,
        )
        deadline = time.monotonic() + PODS_GONE_SECONDS
        while time.monotonic() < deadline:
            left = self.cluster.kubectl(
                "get", "pods", "-A", "--field-selector", selector, "-o", "name", check=False
            ).stdout.split()
            running = self.ctr("tasks", "ls", "-q", check=False).stdout.split()
            if not left and not running:
                break
            time.sleep(0.5)
        self.cluster.kubectl("delete", "node", NODE_NAME, "--wait=false", check=False)

    def _stop_processes(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                process.stop()

    def _remove_containers(self) -> None:
        # containerd is stopped by now: whatever task is left is killed through runc.
        state = Path("/run/containerd/runc/k8s.io")
        for container in sorted(state.iterdir()) if state.is_dir() else []:
            _run("runc", "--root", str(state), "delete", "--force", container.name, check=False)
        for shim_dir in (
            Path("/run/containerd/io.containerd.runtime.v2.task/k8s.io"),
            Path("/run/containerd/runc/k8s.io"),
        ):
            self._unmount_under(shim_dir)
            shutil.rmtree(shim_dir, ignore_errors=True)

    def _stop_shims(self) -> None:
        """containerd's shims are daemons of their own (re-parented to init): they outlive
        containerd and each names this node's socket. Stopped by pid, SIGKILL past 5 s."""
        address = str(self.socket)
        shims = [pid for pid, command in node_processes().items() if address in command]
        for pid in shims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(pid) for pid in shims):
            time.sleep(0.1)
        for pid in shims:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def _unmount_under(self, top: Path) -> None:
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(str(top))), reverse=True):
            _run("umount", "-l", mount, check=False)

    def _unmount(self) -> None:
        self._unmount_under(self.root)
        netns = Path("/run/netns")
        for name in self._new("netns"):
            _run("umount", str(netns / name), check=False)
            with contextlib.suppress(OSError):
                (netns / name).unlink()

    def _new(self, kind: str) -> set[str]:
        return host_state()[kind] - self.before[kind]

    def _remove_cgroups(self) -> None:
        for top in sorted(self._new("cgroups")):
            for directory in sorted(
                (p for p in Path(top).rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)
            ):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            with contextlib.suppress(OSError):
                Path(top).rmdir()

    def _remove_network(self) -> None:
        _run("ip", "link", "del", BRIDGE, check=False)
        _run("ip", "addr", "del", f"{HOST_ADDRESS}/32", "dev", "lo", check=False)
        self.cluster.kubectl(
            "delete",
            "endpointslice",
            "kubernetes-real-node",
            "-n",
            "default",
            "--ignore-not-found",
            check=False,
        )
        for link in self._new("links"):
            if link.startswith("veth"):
                _run("ip", "link", "del", link.split("@")[0], check=False)

    def _remove_chains(self) -> None:
        proxy = node_binaries_dir() / "kube-proxy"
        _run(str(proxy), "--cleanup", check=False)
        new = sorted(self._new("chains"))
        # Rules elsewhere that jump to a new chain (the kubelet's KUBE-FIREWALL is jumped
        # to from INPUT and OUTPUT) go first: a chain still referenced cannot be deleted.
        for entry in new:
            tool, table, chain = entry.split("/")
            for rule in _lines(tool, "-t", table, "-S"):
                words = rule.split()
                if words[:1] == ["-A"] and words[-2:] == ["-j", chain] and words[1] != chain:
                    _run(tool, "-t", table, "-D", *words[1:], check=False)
        for entry in new:
            tool, table, chain = entry.split("/")
            _run(tool, "-t", table, "-F", chain, check=False)
        for entry in new:
            tool, table, chain = entry.split("/")
            _run(tool, "-t", table, "-X", chain, check=False)

    def _remove_files(self) -> None:
        for directory in self.made_dirs:
            shutil.rmtree(directory, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_node_ready(cluster: Cluster, processes: list[Process]) -> None:
    def ready() -> bool:
        done = cluster.kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
        if done.returncode != 0:
            return False
        conditions = json.loads(done.stdout).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    wait_until(
        "the real node to be Ready",
        ready,
        timeout=NODE_READY_SECONDS,
        interval=0.5,
        watch=processes,
    )


def start_real_node(
    registry: ProcessRegistry, cluster: Cluster, archives: tuple[Path, ...]
) -> RealNode:
    """Start containerd, kubelet and kube-proxy; import `archives`; return once Ready.

    The node is tainted (REAL_NODE_TAINT): only tests that lift it run pods on it.
    """
    reason = unsupported_reason()
    if reason is not None:
        raise SubstrateError(reason)
    started = time.monotonic()
    before = host_state()
    root = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    made = [p for p in UNMOVABLE if not p.exists()]
    bins = node_binaries_dir()
    logs = cluster.workdir / "logs"
    node = RealNode(cluster, root, root / "containerd" / "containerd.sock", [], before, made)
    registry.add_cleanup(node.stop)
    try:
        for sub in ("containerd", "cni/net.d", "cni/ipam", "kubelet", "pod-logs"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        # The bridge before any pod: the host routes Service addresses through it, from
        # the gateway address, so that pods can answer (they have no route elsewhere).
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
        _run("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        _run("ip", "link", "set", BRIDGE, "up")
        _run("ip", "route", "add", SERVICE_RANGE, "dev", BRIDGE, "src", GATEWAY)
        _run("ip", "addr", "add", f"{HOST_ADDRESS}/32", "dev", "lo")

        (root / "containerd.toml").write_text(containerd_config(root))
        (root / "cni" / "net.d" / "10-turnout.conflist").write_text(json.dumps(cni_config(root)))
        containerd = registry.start(
            "containerd",
            ["containerd", "--config", str(root / "containerd.toml")],
            logs / "containerd.log",
        )
        node.processes.append(containerd)
        wait_until("containerd", node.socket.exists, timeout=60, interval=0.2, watch=[containerd])
        wait_until(
            "containerd to answer",
            lambda: node.ctr("version", check=False).returncode == 0,
            timeout=60,
            interval=0.2,
            watch=[containerd],
        )
        node.import_images(archives)

        issue_serving_cert(
            cluster.pki,
            root / "kubelet-serving" / "kubelet.crt",
            root / "kubelet-serving" / "kubelet.key",
            NODE_NAME,
            [NODE_NAME, GATEWAY],
        )
        (root / "kubelet.yaml").write_text(
            yaml.safe_dump(kubelet_config(root, cluster, node.socket))
        )
        kubelet = registry.start(
            "kubelet",
            [
                str(bins / "kubelet"),
                f"--config={root / 'kubelet.yaml'}",
                f"--kubeconfig={cluster.kubeconfig}",
                f"--root-dir={root / 'kubelet'}",
                f"--cert-dir={root / 'kubelet' / 'pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={GATEWAY}",
                "--v=1",
            ],
            logs / "kubelet.log",
        )
        node.processes.append(kubelet)
        (root / "kube-proxy.yaml").write_text(yaml.safe_dump(kube_proxy_config(cluster)))
        proxy = registry.start(
            "kube-proxy",
            [str(bins / "kube-proxy"), f"--config={root / 'kube-proxy.yaml'}", "--v=1"],
            logs / "kube-proxy.log",
        )
        node.processes.append(proxy)
        # kube-proxy needs EndpointSlices, and pods with a token need kube-root-ca.crt; the
        # kwok-only control plane runs no controller for either (thousands of Routers'
        # Services and namespaces would cost it for nothing), so the real node brings its own.
        endpoints = start_component(
            registry,
            "kube-controller-manager-endpointslices",
            cluster.binaries.kube_controller_manager,
            [
                "--controllers=endpointslice-controller,root-ca-certificate-publisher-controller",
                # Pods with a service-account token mount the CA from kube-root-ca.crt.
                f"--root-ca-file={cluster.pki.ca_cert}",
            ],
            cluster.kubeconfig,
            cluster.pki,
            logs,
        )
        node.processes.append(endpoints)
        _wait_node_ready(cluster, node.processes)
    except BaseException:
        node.stop()
        raise
    say(f"real node Ready in {time.monotonic() - started:.1f} s")
    return node
