"""N Routers applied at once, then left idle: time, memory, database and API cost.

One run, one control plane (the scale profile of the cluster fixture):

1. the floor: the same ConfigMaps, Deployments (plugin initContainer, emptyDir)
   and Services created straight through the API, N at once, until every
   Deployment is available;
2. the operator's requests without an operator (operator_writes.py): the bench
   itself makes, for N new Routers, the requests an operator keeping Turnout's
   contract makes, and reads its watches; the lowest ratio any such operator could
   reach here;
3. per engine (the Go hardcoded plugin, then the Python one): an operator
   watching its own namespace, N Routers created at once, until each is Deployed;
   then one Router's config changed, until its new version is Deployed; then an
   idle window in which the operator should neither write nor call its plugin.

Each phase starts from the same empty cluster: the namespace of the phase before
is deleted and gone first. Left in place, its objects made every later phase
dearer than the floor (the Service IP allocator counts the addresses in use on
each create, the scheduler and kwok keep the old pods, the API server's heap is
larger), so an operator run measured beside them was compared with an easier
floor.

The operator's API requests are counted from the API server's audit log (the
operator's clients identify themselves by user agent: `turnout-operator` for its
own calls, `kopf/...` for kopf's); its plugin calls from its "reconciled" log
lines, which carry the time a pass spent in plugin calls. Usage:

    python -m tests.bench scale [--routers 1000] [--idle-seconds 600] [--engines go,python]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
from kubernetes import client as k8s_client
from kubernetes import watch as k8s_watch

from devenv import binaries as binaries_module
from devenv import gopeers
from devenv.cluster import SCALE_PROFILE, Cluster, start_cluster
from devenv.operator import CRD_FILE, Engine, OperatorConfig, migrate, start_operator, wait_for
from devenv.postgres import start_postgres
from devenv.procs import Process, ProcessRegistry
from devenv.zipapp import build_hardcoded_plugin
from tests.bench.operator_latency import OPTIONS, percentile, spec
from tests.bench.operator_writes import DrainedWatches, OperatorWrites, router_children, send
from turnout_operator.api import RouterSpec
from turnout_operator.builders import (
    RouterIdentity,
)

GROUP, VERSION, PLURAL = "turnout.dev", "v1alpha1", "routers"
CREATE_THREADS = 16
"""Clients creating objects at once, for the floor and the Routers alike."""
DEPLOYED_TIMEOUT = 900.0
NAMESPACE_GONE_TIMEOUT = 600.0
OPERATOR_AGENTS = ("turnout-operator", "kopf/")
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
BENCH_AGENT = "turnout-bench"


# --- measuring ---


@dataclass
class FirstSeen:
    """Watches a kind in a namespace and records when each object first passes a test."""

    list_call: Callable[..., Any]
    args: tuple[Any, ...]
    passes: Callable[[Any], bool]
    name_of: Callable[[Any], str]
    on_first: Callable[[Any], None] | None = None
    """Called (on the watch thread) with each object the first time it passes."""
    seen: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> FirstSeen:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            stream = k8s_watch.Watch()
            try:
                for event in stream.stream(self.list_call, *self.args, timeout_seconds=30):
                    obj = event["object"]
                    if self.passes(obj) and self.name_of(obj) not in self.seen:
                        self.seen[self.name_of(obj)] = time.perf_counter()
                        if self.on_first is not None:
                            self.on_first(obj)
                    if self._stop.is_set():
                        break
            except Exception:  # a dropped stream: watch again (the first sighting stays)
                time.sleep(0.2)
            finally:
                stream.stop()

    def wait(self, names: set[str], timeout: float) -> float:
        wait_for(lambda: names <= self.seen.keys(), timeout, f"{len(names)} objects", interval=0.2)
        return max(self.seen[name] for name in names)

    def stop(self) -> None:
        self._stop.set()


def _stat(raw: str) -> tuple[str, float]:
    """A process's name and CPU seconds so far (user + system) from its /proc stat line."""
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw.rsplit(")", 1)[1].split()
    return name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    return _stat(Path(f"/proc/{pid}/stat").read_text())[1]


def status_mib(pid: int, key: str) -> float:
    """A memory line of /proc/<pid>/status (VmRSS: now, VmHWM: the peak) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def process_cpu() -> dict[int, tuple[str, float]]:
    """Every process's name and CPU seconds so far (user + system), by pid."""
    found: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            found[int(entry.name)] = _stat((entry / "stat").read_text())
        except OSError:  # gone since the listing
            continue
    return found


def cpu_by_process(
    before: dict[int, tuple[str, float]],
    after: dict[int, tuple[str, float]],
    labels: dict[int, str],
) -> Counter[str]:
    """CPU seconds spent between two snapshots, by process name (`labels` names some pids).

    Processes that ended in between are not counted; Postgres backends live as long as
    their pooled connections, kube processes for the whole run.
    """
    spent: Counter[str] = Counter()
    for pid, (name, seconds) in after.items():
        used = seconds - before.get(pid, (name, 0.0))[1]
        if used > 0:
            spent[labels.get(pid, name)] += used
    return spent


class ConnectionSampler:
    """The peak number of connections to the database, sampled twice a second."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend'"
                ).fetchone()
                self.peak = max(self.peak, int(row[0]) if row else 0)
                self._stop.wait(0.5)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.peak


class ApiserverProfiler:
    """CPU profiles of kube-apiserver (its /debug/pprof/profile), one per phase.

    Read them with `go tool pprof -top -cum FILE`. The API server serves them only when
    started with `--profiling=true`, which the scale profile turns on for this.
    """

    def __init__(self, api: k8s_client.ApiClient, directory: Path, seconds: int) -> None:
        self._api = api
        self.directory = directory
        self._seconds = seconds
        self._threads: list[threading.Thread] = []
        directory.mkdir(parents=True, exist_ok=True)

    def capture(self, label: str) -> None:
        """Profile the next `seconds` of the API server into `<label>.pprof`, in the background."""
        thread = threading.Thread(target=self._fetch, args=(label,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _fetch(self, label: str) -> None:
        try:
            data = send(self._api, "GET", "/debug/pprof/profile", [("seconds", str(self._seconds))])
        except RuntimeError as error:
            print(f"kube-apiserver profile {label}: {error}", flush=True)
            return
        (self.directory / f"{label}.pprof").write_bytes(data)

    def wait(self) -> None:
        for thread in self._threads:
            thread.join(timeout=self._seconds + 90)


def audit_records(path: Path, start: int, end: int) -> Iterator[dict[str, Any]]:
    """Audit events written between two offsets of the log."""
    with path.open("rb") as log:
        log.seek(start)
        for line in log.read(end - start).splitlines():
            try:
                yield json.loads(line)
            except ValueError:
                continue


def operator_requests(
    path: Path,
    start: int,
    end: int,
    leases: bool = False,
    by_resource: bool = False,
    agents: tuple[str, ...] = OPERATOR_AGENTS,
) -> Counter[str]:
    """The operator's API requests between two offsets, by verb (or by verb and resource).

    Without `leases`, its leader-election Lease is left out (a cost per operator, not
    per Router); with it, only the Lease requests are counted.
    """
    verbs: Counter[str] = Counter()
    for record in audit_records(path, start, end):
        if not str(record.get("userAgent", "")).startswith(agents):
            continue
        ref = record.get("objectRef", {})
        is_lease = ref.get("resource") == "leases"
        if is_lease == leases:
            key = str(record.get("verb"))
            if by_resource:
                sub = ref.get("subresource")
                key += f" {ref.get('resource')}" + (f"/{sub}" if sub else "")
            verbs[key] += 1
    return verbs


def plugin_passes(log: Path, start: int, end: int) -> int:
    """Passes that called the plugin between two offsets of the operator's log."""
    count = 0
    with log.open("rb") as stream:
        stream.seek(start)
        for line in stream.read(end - start).splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("message") == "reconciled" and record.get("plugin_ms"):
                count += 1
    return count


def size(path: Path | None) -> int:
    return path.stat().st_size if path is not None and path.exists() else 0


# --- the floor ---


def floor_objects(namespace: str, count: int) -> list[list[dict[str, Any]]]:
    sets = []
    for index in range(count):
        identity = RouterIdentity(namespace=namespace, name=f"floor{index}", uid=f"uid-{index}")
        objects = router_children(identity, RouterSpec.model_validate(spec(index)))
        for obj in objects:
            obj["metadata"].pop("ownerReferences", None)
        sets.append(objects)
    return sets


@dataclass
class Result:
    label: str
    total: float
    latencies: list[float]
    rss_mib: float = 0.0
    rss_start_mib: float = 0.0
    rss_idle_mib: float = 0.0
    cpu: float = 0.0
    db_connections: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    change_seconds: float = 0.0
    solo_change_seconds: float = 0.0
    idle_writes: int = 0
    idle_requests: Counter[str] = field(default_factory=Counter)
    idle_plugin_passes: int = 0
    idle_lease_requests: Counter[str] = field(default_factory=Counter)
    plugin_passes: int = 0
    requests_by_resource: Counter[str] = field(default_factory=Counter)
    cpu_by_process: Counter[str] = field(default_factory=Counter)
    """CPU seconds of every process on the machine while the objects were applied."""
    change_requests_by_resource: Counter[str] = field(default_factory=Counter)
    """The operator's requests while one Router's config change rolled out."""
    idle_requests_by_resource: Counter[str] = field(default_factory=Counter)


POD_LISTS = "list pods"
"""The operator lists a version's new pods while its rollout waits on them (every
PODS_POLL_SECONDS, 5 s, reconcile/reconciler.py): the key of those requests by resource."""


def available_deployments(
    api: k8s_client.ApiClient, namespace: str, on_first: Callable[[Any], None] | None = None
) -> FirstSeen:
    """When each Deployment of the namespace first has an available replica."""
    return FirstSeen(
        k8s_client.AppsV1Api(api).list_namespaced_deployment,
        (namespace,),
        lambda d: bool(d.status and (d.status.available_replicas or 0) >= 1),
        lambda d: str(d.metadata.name),
        on_first=on_first,
    ).start()


def measure_floor(
    api: k8s_client.ApiClient,
    namespace: str,
    count: int,
    profiler: ApiserverProfiler | None = None,
) -> Result:
    core, apps = k8s_client.CoreV1Api(api), k8s_client.AppsV1Api(api)
    sets = floor_objects(namespace, count)
    watcher = available_deployments(api, namespace)
    started: dict[str, float] = {}

    def create(objects: list[dict[str, Any]]) -> None:
        name = objects[2]["metadata"]["name"]
        started[name] = time.perf_counter()
        core.create_namespaced_config_map(namespace, objects[0])
        core.create_namespaced_service(namespace, objects[1])
        apps.create_namespaced_deployment(namespace, objects[2])

    cpu_before = process_cpu()
    began = time.perf_counter()
    if profiler is not None:
        profiler.capture(namespace)
    with ThreadPoolExecutor(CREATE_THREADS) as pool:
        list(pool.map(create, sets))
    done = watcher.wait(set(started), DEPLOYED_TIMEOUT)
    watcher.stop()
    return Result(
        "floor (no operator)",
        done - began,
        [watcher.seen[name] - started[name] for name in started],
        cpu_by_process=cpu_by_process(cpu_before, process_cpu(), {os.getpid(): "bench"}),
    )


def measure_operator_writes(
    api: k8s_client.ApiClient,
    namespace: str,
    count: int,
    audit: Path | None,
    profiler: ApiserverProfiler | None = None,
) -> Result:
    """The operator's requests for `count` new Routers, made by the bench (no operator)."""
    audit_start = size(audit)
    writes = OperatorWrites(
        api, namespace, lambda index: router_body(index, "hardcoded"), CREATE_THREADS
    )
    watches = DrainedWatches(api, namespace)
    watcher = available_deployments(api, namespace, on_first=writes.available)
    cpu_before = process_cpu()
    began = time.perf_counter()
    if profiler is not None:
        profiler.capture(namespace)
    with ThreadPoolExecutor(CREATE_THREADS) as pool:
        list(pool.map(writes.start_one, range(count)))
    wait_for(lambda: len(writes.deployed) >= count, DEPLOYED_TIMEOUT, f"{count} Routers Deployed")
    done = max(writes.deployed.values())
    spent = cpu_by_process(cpu_before, process_cpu(), {os.getpid(): "bench"})
    watcher.stop()
    watches.stop()
    writes.close()
    return Result(
        "operator's requests only",
        done - began,
        [writes.deployed[name] - writes.started[name] for name in writes.started],
        cpu_by_process=spent,
        requests_by_resource=(
            operator_requests(
                audit, audit_start, size(audit), by_resource=True, agents=(BENCH_AGENT,)
            )
            if audit
            else Counter()
        ),
    )


def delete_namespace(api: k8s_client.ApiClient, namespace: str) -> float:
    """Delete a phase's namespace; seconds until it and everything in it are gone."""
    core = k8s_client.CoreV1Api(api)
    began = time.perf_counter()
    core.delete_namespace(namespace)

    def gone() -> bool:
        try:
            core.read_namespace(namespace)
        except k8s_client.ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    wait_for(gone, NAMESPACE_GONE_TIMEOUT, f"namespace {namespace} deleted", interval=1.0)
    return time.perf_counter() - began


# --- the operator ---


def router_body(index: int, engine: str) -> dict[str, Any]:
    body_spec = spec(index)
    body_spec["experimentEngine"]["type"] = engine
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Router",
        "metadata": {"name": f"r{index}"},
        "spec": body_spec,
    }


def deployed(obj: dict[str, Any]) -> bool:
    return bool(obj.get("status", {}).get("phase") == "Deployed")


def measure_operator(
    cluster: Cluster,
    api: k8s_client.ApiClient,
    operator: Process,
    conninfo: str,
    namespace: str,
    engine: str,
    count: int,
    idle_seconds: float,
    profiler: ApiserverProfiler | None = None,
) -> Result:
    custom = k8s_client.CustomObjectsApi(api)
    audit = cluster.audit_log
    watcher = FirstSeen(
        custom.list_namespaced_custom_object,
        (GROUP, VERSION, namespace, PLURAL),
        deployed,
        lambda r: str(r["metadata"]["name"]),
    ).start()
    # One Router alone first: its config change is what a change among N is compared with.
    solo = {**router_body(count, engine), "metadata": {"name": "solo"}}
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, solo)
    wait_for(
        lambda: deployed(
            custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "solo")
        ),
        120,
        "solo Deployed",
        interval=0.05,
    )
    solo_change = change_one(custom, namespace, "solo", count)
    sampler = ConnectionSampler(conninfo)
    rss_start = status_mib(operator.pid, "VmRSS")
    started: dict[str, float] = {}

    def create(index: int) -> None:
        name = f"r{index}"
        started[name] = time.perf_counter()
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, router_body(index, engine)
        )

    audit_start, log_start, cpu_start = (
        size(audit),
        size(operator.log_path),
        cpu_seconds(operator.pid),
    )
    cpu_before = process_cpu()
    began = time.perf_counter()
    if profiler is not None:
        profiler.capture(namespace)
    with ThreadPoolExecutor(CREATE_THREADS) as pool:
        list(pool.map(create, range(count)))
    done = watcher.wait(set(started), DEPLOYED_TIMEOUT)
    watcher.stop()
    cpu = cpu_seconds(operator.pid) - cpu_start
    cpu_spent = cpu_by_process(
        cpu_before, process_cpu(), {os.getpid(): "bench", operator.pid: "operator"}
    )
    connections = sampler.stop()
    audit_done, log_done = size(audit), size(operator.log_path)
    result = Result(
        f"operator, {engine}",
        done - began,
        [watcher.seen[name] - started[name] for name in started],
        cpu=cpu,
        rss_start_mib=rss_start,
        db_connections=connections,
        requests=operator_requests(audit, audit_start, audit_done) if audit else Counter(),
        requests_by_resource=(
            operator_requests(audit, audit_start, audit_done, by_resource=True)
            if audit
            else Counter()
        ),
        plugin_passes=plugin_passes(operator.log_path, log_start, log_done),
        cpu_by_process=cpu_spent,
    )

    result.solo_change_seconds = solo_change
    change_start = size(audit)
    result.change_seconds = change_one(custom, namespace, f"r{count // 2}", count // 2)
    time.sleep(5)  # the change's own status writes settle before the idle window opens
    if audit:
        result.change_requests_by_resource = operator_requests(
            audit, change_start, size(audit), by_resource=True
        )

    audit_idle, log_idle = size(audit), size(operator.log_path)
    time.sleep(idle_seconds)
    if audit:
        result.idle_requests = operator_requests(audit, audit_idle, size(audit))
        result.idle_requests_by_resource = operator_requests(
            audit, audit_idle, size(audit), by_resource=True
        )
        result.idle_lease_requests = operator_requests(audit, audit_idle, size(audit), leases=True)
        result.idle_writes = sum(
            n for verb, n in result.idle_requests.items() if verb in WRITE_VERBS
        )
    result.idle_plugin_passes = plugin_passes(operator.log_path, log_idle, size(operator.log_path))
    result.rss_mib = status_mib(operator.pid, "VmHWM")
    result.rss_idle_mib = status_mib(operator.pid, "VmRSS")
    return result


def change_one(custom: k8s_client.CustomObjectsApi, namespace: str, name: str, index: int) -> float:
    """Change one Router's experiment config; seconds until its new version is Deployed."""
    before = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    version = int(before.get("status", {}).get("currentVersion") or 0)
    patch = {
        "spec": {
            "experimentEngine": {"config": spec(index + 100_000)["experimentEngine"]["config"]}
        }
    }
    began = time.perf_counter()
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch)

    def new_version_deployed() -> bool:
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        status = obj.get("status", {})
        return deployed(obj) and int(status.get("currentVersion") or 0) > version

    wait_for(new_version_deployed, 120, f"{name} changed and Deployed", interval=0.02)
    return time.perf_counter() - began


# --- the run ---


def engine_binaries(workdir: Path) -> dict[str, Path]:
    python_plugin = workdir / "hardcoded.pyz"
    build_hardcoded_plugin(python_plugin)
    return {"go": gopeers.locate().hardcoded_plugin, "python": python_plugin}


def run(
    routers: int,
    idle_seconds: float,
    engines: list[str],
    extra_env: dict[str, str],
    keep: bool,
    profile_seconds: int = 0,
) -> None:
    registry = ProcessRegistry()
    workdir = Path(tempfile.mkdtemp(prefix="turnout-scale-"))
    results: list[Result] = []
    try:
        profile = SCALE_PROFILE
        if profile_seconds:
            # The last of a repeated flag wins: this overrides the control plane's default.
            profile = replace(
                profile, apiserver_flags=(*profile.apiserver_flags, "--profiling=true")
            )
        cluster = start_cluster(registry, binaries_module.locate(), workdir / "cluster", profile)
        postgres = start_postgres(registry)
        migrate(postgres.url)
        # Every CRD in the chart's folder: Routers and the RouterVersion mirrors.
        cluster.kubectl("apply", "--server-side", "-f", str(CRD_FILE.parent))
        cluster.kubectl("wait", "--for=condition=Established", "crd", "--all")
        plugins = engine_binaries(workdir)
        with cluster.api_client() as api:
            api.user_agent = BENCH_AGENT
            profiler = (
                ApiserverProfiler(api, workdir / "apiserver-profiles", profile_seconds)
                if profile_seconds
                else None
            )
            cluster.kubectl("create", "namespace", "floor")
            results.append(measure_floor(api, "floor", routers, profiler))
            cleared = delete_namespace(api, "floor")
            print(f"namespace floor deleted in {cleared:.0f} s", flush=True)
            cluster.kubectl("create", "namespace", "requests")
            results.append(
                measure_operator_writes(api, "requests", routers, cluster.audit_log, profiler)
            )
            previous = "requests"
            for name in engines:
                cleared = delete_namespace(api, previous)
                print(f"namespace {previous} deleted in {cleared:.0f} s", flush=True)
                namespace = f"bench-{name}"
                cluster.kubectl("create", "namespace", namespace)
                run_dir = workdir / name
                operator = start_operator(
                    registry,
                    OperatorConfig(
                        kubeconfig=cluster.kubeconfig,
                        database_url=postgres.url,
                        workdir=run_dir,
                        engines=(Engine(name="hardcoded", binary=plugins[name], options=OPTIONS),),
                        namespaces=(namespace,),
                        extra_env=extra_env,
                    ),
                    name=f"operator-{name}",
                )
                wait_for(
                    lambda log=operator.log_path: "Activity 'startup' succeeded" in log.read_text(),
                    120,
                    "operator startup",
                    operator,
                )
                results.append(
                    measure_operator(
                        cluster,
                        api,
                        operator,
                        postgres.conninfo,
                        namespace,
                        "hardcoded",
                        routers,
                        idle_seconds,
                        profiler,
                    )
                )
                results[-1].label = f"operator, {name} plugin"
                operator.stop()
                previous = namespace
        report(routers, idle_seconds, results)
        if profiler is not None:
            profiler.wait()
            print(
                f"kube-apiserver CPU profiles (the first {profile_seconds} s of each phase) in "
                f"{profiler.directory}: go tool pprof -top -cum FILE"
            )
    finally:
        registry.stop_all()
        if keep:
            print(f"logs, audit log and operator logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def verbs(counter: Counter[str]) -> str:
    return " ".join(f"{verb}={n}" for verb, n in sorted(counter.items())) or "-"


def report(routers: int, idle_seconds: float, results: list[Result]) -> None:
    floor = results[0].total
    print(
        f"Scale: {routers} Routers applied at once ({CREATE_THREADS} clients), "
        f"{os.cpu_count()} cores, kwok scale profile; idle window {idle_seconds:.0f} s"
    )
    header = (
        f"{'case':26} {'N':>5} {'all s':>7} {'floor s':>7} {'ratio':>6} {'p50 s':>7} "
        f"{'p99 s':>7} {'RSS MiB':>8} {'CPU s':>6} {'DB conn':>7} {'change s':>8}"
    )
    print(header)
    for result in results:
        operator = result.cpu > 0
        print(
            f"{result.label:26} {routers:5d} {result.total:7.1f} {floor:7.1f} "
            f"{result.total / floor:6.2f} {statistics.median(result.latencies):7.1f} "
            f"{percentile(result.latencies, 0.99):7.1f} "
            + (
                f"{result.rss_mib:8.1f} {result.cpu:6.1f} {result.db_connections:7d} "
                f"{result.change_seconds:8.2f}"
                if operator
                else f"{'-':>8} {'-':>6} {'-':>7} {'-':>8}"
            )
        )
    for result in results:
        top = ", ".join(f"{name} {s:.1f}" for name, s in result.cpu_by_process.most_common(8))
        total = sum(result.cpu_by_process.values())
        print(
            f"{result.label}: CPU s while applying, {total:.1f} of {os.cpu_count() or 1} cores x "
            f"{result.total:.1f} s = {(os.cpu_count() or 1) * result.total:.1f}: {top}"
        )
    for result in results:
        if result.cpu == 0:
            if result.requests_by_resource:
                made = ", ".join(
                    f"{key} {n / routers:.2f}"
                    for key, n in result.requests_by_resource.most_common()
                    if not key.startswith(("watch", "list"))
                )
                print(f"{result.label}: requests per Router made by the bench: {made}")
            continue
        idle_minutes = idle_seconds / 60
        per_router_minute = result.idle_writes / routers / idle_minutes if idle_minutes else 0.0
        print(
            f"{result.label}: RSS {result.rss_start_mib:.1f} MiB before the Routers, "
            f"peak {result.rss_mib:.1f} MiB, {result.rss_idle_mib:.1f} MiB at the end of the idle window"
        )
        print(
            f"{result.label}: a config change Deployed in {result.solo_change_seconds:.2f} s "
            f"with one Router, {result.change_seconds:.2f} s among {routers + 1}"
        )
        print(
            f"{result.label}: API requests while applying: {verbs(result.requests)} "
            f"({sum(result.requests.values()) / routers:.1f} per Router); "
            f"passes that called the plugin: {result.plugin_passes}"
        )
        per_router = ", ".join(
            f"{key} {n / routers:.2f}" for key, n in result.requests_by_resource.most_common()
        )
        print(f"{result.label}: API requests per Router while applying, by resource: {per_router}")
        print(
            f"{result.label}: pod lists (new pods read while a rollout waits on them): "
            f"{result.requests_by_resource[POD_LISTS]} while applying "
            f"({result.requests_by_resource[POD_LISTS] / routers:.2f} per Router), "
            f"{result.change_requests_by_resource[POD_LISTS]} for the one config change, "
            f"{result.idle_requests_by_resource[POD_LISTS]} while idle"
        )
        print(
            f"{result.label}: idle {idle_seconds:.0f} s: API requests {verbs(result.idle_requests)}, "
            f"writes {result.idle_writes} ({per_router_minute:.4f} per Router per minute), "
            f"passes that called the plugin {result.idle_plugin_passes}; "
            f"the operator's leader Lease: {verbs(result.idle_lease_requests)}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench scale", description=__doc__)
    parser.add_argument("--routers", type=int, default=100, help="Routers to apply at once")
    parser.add_argument(
        "--idle-seconds", type=float, default=60.0, help="idle window after all are Deployed"
    )
    parser.add_argument("--engines", default="go,python", help="go, python or both")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        help="TURNOUT_X=value passed to the operator (repeatable), e.g. to compare settings",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (logs, audit log)"
    )
    parser.add_argument(
        "--apiserver-profile-seconds",
        type=int,
        default=0,
        metavar="S",
        help="take a CPU profile of kube-apiserver over the first S seconds of each phase "
        "(kept in the work directory: use with --keep)",
    )
    args = parser.parse_args(argv)
    extra_env = dict(item.split("=", 1) for item in args.env)
    run(
        args.routers,
        args.idle_seconds,
        args.engines.split(","),
        extra_env,
        args.keep,
        args.apiserver_profile_seconds,
    )


if __name__ == "__main__":
    main()
