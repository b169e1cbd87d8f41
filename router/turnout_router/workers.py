"""The router pod's parent process: N workers on one port, kept running, drained together.

Python runs one thread of Python at a time, so one process serves from one
core whatever the pod pays for. The parent starts N copies of the router
(`python -m turnout_router` with ROUTER_WORKER_INDEX set), each with its own
plugin process under its own supervisor, each listening on the same port with
SO_REUSEPORT: the kernel spreads new connections over the workers' listeners,
with no accept lock and no hand-off through the parent.

What the parent keeps for the whole pod:

* the port: it binds it first (SO_REUSEPORT, never listening), which reserves
  it between workers' restarts and resolves port 0 to one number for all;
* readiness: a `PodState` file with one slot per worker; the pod is ready only
  when every slot is, whichever worker the probe reaches;
* metrics: a Prometheus multiprocess directory, so a scrape that reaches any
  worker reports the sum over all of them (`metrics`);
* replacement: a worker that exits while the pod is not stopping is started
  again, with a backoff when it keeps dying young;
* SIGTERM (and SIGINT): forwarded to every worker, each of which drains as a
  single router does; the parent exits once they all have, 0 if all did cleanly;
* orphans: a worker killed outright takes its plugin with it (the kernel's death
  signal), and that plugin is re-parented to the nearest subreaper: PID 1 in a
  container, which is this parent. The parent declares itself a subreaper (so it is
  the same outside a container) and reaps every child that is not a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from turnout_router.cpus import CgroupFormatError, limit_from_cfs, limit_from_cpu_max, workers_for
from turnout_router.hotpath import hot_path
from turnout_router.podstate import PodState

log = logging.getLogger("turnout_router")

LISTENING_LINE: Final = b"listening\n"
"""What a worker writes to its stdout (a pipe to the parent) once its listener is bound."""

_YOUNG_SECONDS: Final = 10.0
"""A worker that dies sooner than this after its start counts toward the restart backoff."""
_MAX_BACKOFF_SECONDS: Final = 5.0
_REAP_INTERVAL_SECONDS: Final = 1.0
"""How often the parent looks for orphans that died (a worker's death also triggers a look)."""
_PR_SET_CHILD_SUBREAPER: Final = 36
_KILL_AFTER_GRACE_SECONDS: Final = 30.0
"""Past the drain grace, how long the parent waits for a worker before SIGKILL. Generous:
a worker's drain may include more than the grace (waiting for endpoints to drop the pod
first), and in a pod the kubelet's own SIGKILL at the termination grace period comes
sooner; this only keeps a hung worker from outliving the parent elsewhere."""


# ----- how many workers


def cgroup_cpu_limit(
    root: Path = Path("/sys/fs/cgroup"), proc: Path = Path("/proc")
) -> float | None:
    """The CPU limit of this process's cgroup (v2, else v1), or None when there is none.

    In a container the cgroup file system is the container's own, so its root
    files are the limit; outside one, the process's cgroup path from
    /proc/self/cgroup and each of its ancestors are read, and the tightest wins.
    """
    limits: list[float] = []
    for directory in _cgroup_dirs(root, proc, v2=True):
        text = _read(directory / "cpu.max")
        if text is not None:
            limit = limit_from_cpu_max(text)
            if limit is not None:
                limits.append(limit)
    if not limits:
        for directory in _cgroup_dirs(root, proc, v2=False):
            quota, period = (
                _read(directory / "cpu.cfs_quota_us"),
                _read(directory / "cpu.cfs_period_us"),
            )
            if quota is not None and period is not None:
                limit = limit_from_cfs(quota, period)
                if limit is not None:
                    limits.append(limit)
    return min(limits) if limits else None


def _cgroup_dirs(root: Path, proc: Path, *, v2: bool) -> list[Path]:
    bases = [root] if v2 else [root / "cpu,cpuacct", root / "cpu"]
    relative = ""
    for line in (_read(proc / "self" / "cgroup") or "").splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if (v2 and hierarchy == "0" and controllers == "") or (
            not v2 and "cpu" in controllers.split(",")
        ):
            relative = path.strip("/")
            break
    found: list[Path] = []
    for base in bases:
        parts = relative.split("/") if relative else []
        while True:
            candidate = base.joinpath(*parts)
            if candidate not in found:
                found.append(candidate)
            if not parts:
                break
            parts.pop()
    return found


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def default_workers() -> int:
    """Workers for this container: its CPU limit rounded up, or the CPUs it may run on."""
    try:
        limit = cgroup_cpu_limit()
    except CgroupFormatError as exc:
        log.warning(
            "cgroup CPU limit unreadable; using the CPUs available", extra={"error": str(exc)}
        )
        limit = None
    return workers_for(limit, len(os.sched_getaffinity(0)))


# ----- orphans


def become_subreaper() -> bool:
    """Ask the kernel to re-parent orphaned descendants to this process (Linux)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    return bool(prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def child_pids(proc: Path = Path("/proc/self")) -> set[int]:
    """Pids of this process's children, whichever of its threads they belong to."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for task in (proc / "task").iterdir():
            text = _read(task / "children") or ""
            found.update(int(pid) for pid in text.split())
    return found


def reap_orphans(workers: set[int]) -> list[int]:
    """Reap every child that has exited and is not one of `workers` (whose exit codes
    belong to the parent's own waits); the pids reaped."""
    reaped: list[int] = []
    for pid in child_pids() - workers:
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        if done == pid:
            reaped.append(pid)
    return reaped


# ----- the parent


@dataclass
class _Slot:
    index: int
    process: asyncio.subprocess.Process | None = None
    started: float = 0.0
    young_deaths: int = 0
    exit_codes: list[int] = field(default_factory=list)


class WorkerParent:
    """Starts, replaces and stops the workers of one router pod."""

    def __init__(
        self,
        workers: int,
        host: str,
        port: int,
        shutdown_grace_seconds: float,
        environment: dict[str, str],
    ) -> None:
        self.workers = workers
        self.host = host
        self.port = port
        self.grace = shutdown_grace_seconds
        self._environment = environment
        self._state_dir = Path(tempfile.mkdtemp(prefix="turnout-router-"))
        self.metrics_dir = self._state_dir / "metrics"
        self.metrics_dir.mkdir()
        self.pod = PodState.create(self._state_dir / "ready", workers)
        self._slots = [_Slot(index) for index in range(workers)]
        self._stopping = False
        self._reserved: socket.socket | None = None
        self._listening: dict[int, asyncio.Event] = {i: asyncio.Event() for i in range(workers)}
        self._spawning = 0
        self._orphans_wake = asyncio.Event()
        self.restarts = 0

    def _reserve_port(self) -> int:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        reserved = socket.socket(family, socket.SOCK_STREAM)
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reserved.bind((self.host, self.port))
        self._reserved = reserved
        return int(reserved.getsockname()[1])

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT, then drain every worker; the exit code of the pod."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            self.port = self._reserve_port()
        except OSError as exc:
            log.error(
                "cannot bind the router's port",
                extra={"host": self.host, "port": self.port, "error": str(exc)},
            )
            self.close()
            return 1
        subreaper = become_subreaper()
        reaper = asyncio.create_task(self._reap_orphans())
        tasks = [asyncio.create_task(self._keep(slot)) for slot in self._slots]
        listening: asyncio.Future[Any] = asyncio.gather(
            *(event.wait() for event in self._listening.values())
        )
        stopped: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        await asyncio.wait({listening, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if listening.done():
            log.info(
                "router listening",
                extra={
                    "host": self.host,
                    "port": self.port,
                    "workers": self.workers,
                    "hot_path": hot_path(),
                },
            )
        else:
            listening.cancel()
        await stopped
        self._stopping = True
        log.info("stopping workers", extra={"workers": self.workers})
        self._signal_all(signal.SIGTERM)
        try:
            async with asyncio.timeout(self.grace + _KILL_AFTER_GRACE_SECONDS):
                await asyncio.gather(*tasks)
        except TimeoutError:
            log.error("workers did not stop within the grace period; killing them")
            self._signal_all(signal.SIGKILL)
            await asyncio.gather(*tasks, return_exceptions=True)
        clean = all(slot.exit_codes[-1:] == [0] for slot in self._slots)
        reaper.cancel()
        self._reap_now()
        self.close()
        log.info(
            "router stopped",
            extra={"clean": clean, "worker_restarts": self.restarts, "subreaper": subreaper},
        )
        return 0 if clean else 1

    def _signal_all(self, signum: int) -> None:
        for slot in self._slots:
            process = slot.process
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signum)

    async def _reap_orphans(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_REAP_INTERVAL_SECONDS):
                    await self._orphans_wake.wait()
            self._orphans_wake.clear()
            self._reap_now()

    def _reap_now(self) -> None:
        if self._spawning:
            return  # a child being started is not yet known as a worker; look again later
        workers = {slot.process.pid for slot in self._slots if slot.process is not None}
        for pid in reap_orphans(workers):
            log.info("reaped an orphaned process", extra={"pid": pid})

    def stopping(self) -> bool:
        """True once SIGTERM (or SIGINT) arrived: workers that exit are not replaced."""
        return self._stopping

    def _worker_environment(self, index: int) -> dict[str, str]:
        return {
            **self._environment,
            "ROUTER_WORKER_INDEX": str(index),
            "ROUTER_WORKERS": str(self.workers),
            "ROUTER_PORT": str(self.port),
            "ROUTER_STATE_DIR": str(self._state_dir),
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
        }

    async def _keep(self, slot: _Slot) -> None:
        """Run the worker of `slot` until the pod stops, replacing it when it dies."""
        while not self.stopping():
            self._spawning += 1
            try:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "turnout_router",
                    env=self._worker_environment(slot.index),
                    stdout=asyncio.subprocess.PIPE,
                    stdin=asyncio.subprocess.DEVNULL,
                )
                slot.process, slot.started = process, time.monotonic()
            finally:
                self._spawning -= 1
            if self.stopping():  # SIGTERM arrived while it was being started
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
            assert process.stdout is not None
            line = await process.stdout.readline()
            if line == LISTENING_LINE:
                self._listening[slot.index].set()
            code = await process.wait()
            slot.exit_codes.append(code)
            self._orphans_wake.set()  # its plugin dies with it, re-parented here
            if self.stopping():
                return
            self.pod.set(slot.index, False, f"worker {slot.index} exited with code {code}")
            self._forget_worker(slot.index)
            young = time.monotonic() - slot.started < _YOUNG_SECONDS
            slot.young_deaths = slot.young_deaths + 1 if young else 0
            delay = min(_MAX_BACKOFF_SECONDS, 0.25 * (2**slot.young_deaths)) if young else 0.0
            log.error(
                "worker exited; starting another",
                extra={"worker": slot.index, "pid": process.pid, "code": code, "delay": delay},
            )
            self.restarts += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    while not self.stopping():
                        await asyncio.sleep(0.05)

    def _forget_worker(self, index: int) -> None:
        # Live gauges of a dead worker must not be reported; its counters stay, so
        # the pod's counters do not go backwards when a worker is replaced (the new
        # worker of the same index continues them).
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(index, str(self.metrics_dir))  # type: ignore[no-untyped-call]

    def worker_pids(self) -> list[int]:
        return [s.process.pid for s in self._slots if s.process and s.process.returncode is None]

    def close(self) -> None:
        self.pod.close()
        if self._reserved is not None:
            self._reserved.close()
        shutil.rmtree(self._state_dir, ignore_errors=True)
