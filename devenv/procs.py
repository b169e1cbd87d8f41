"""Background processes of the test substrate: started with logs to a file, stopped by pid.

Every server the tests need (etcd, kube-apiserver, Postgres, ...) is a child process
of the pytest run. They are tracked in a :class:`ProcessRegistry` so that they are
all stopped at session end, in reverse start order, even when a test or a fixture
failed half-way. Processes are only ever signalled by their own pid: other people's
processes on the same machine (another test run, a developer's cluster) are never
touched.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


class SubstrateError(RuntimeError):
    """A piece of the test substrate could not be started or is missing."""


_handed_out: set[int] = set()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now and not handed out before.

    The kernel picks it; there is a small window before the server binds it, which
    is acceptable for a test machine and far less flaky than fixed port numbers. A
    port is never returned twice, so two servers started together cannot collide.
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def primary_gid(user: str) -> int:
    """The login group of ``user``, for running a child as that account."""
    return pwd.getpwnam(user).pw_gid


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, for error messages that explain a failed start."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Process:
    """One running child process and where its output goes."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: signal.Signals = signal.SIGTERM
    """Signal asking for a clean shutdown (Postgres wants SIGINT for a fast one)."""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def stop(self, grace_seconds: float = 15.0) -> None:
        """Ask the process to exit, then kill it if it does not within the grace period."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, self.stop_signal)
        try:
            self.popen.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=grace_seconds)

    def ensure_running(self) -> None:
        """Raise with the log tail if the process has already exited."""
        code = self.popen.poll()
        if code is not None:
            raise SubstrateError(
                f"{self.name} (pid {self.pid}) exited with code {code}; "
                f"log {self.log_path}:\n{self.log_tail()}"
            )


@dataclass
class ProcessRegistry:
    """Starts processes and stops all of them, newest first, exactly once."""

    processes: list[Process] = field(default_factory=list)
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    """Extra teardown steps (removing data dirs) run after the processes stop."""

    def __post_init__(self) -> None:
        # Session fixtures normally stop everything; this covers an interpreter
        # that exits without running them (e.g. a crash in pytest's own teardown).
        atexit.register(self.stop_all)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> Process:
        """Start ``argv`` with stdout and stderr appended to ``log_path``.

        ``user`` runs the process as another account (Postgres refuses root). The
        child gets its own session so that a Ctrl-C in the terminal reaches pytest,
        which then stops the children in order, rather than killing them all at once.
        """
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log: IO[bytes] = log_path.open("ab")
        try:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                # The account's own group, and none of ours (root's), as a login would.
                user=user,
                group=primary_gid(user) if user else None,
                extra_groups=[] if user else None,
                start_new_session=True,
            )
        except OSError as exc:
            raise SubstrateError(f"cannot start {name} ({argv[0]}): {exc}") from exc
        finally:
            log.close()
        process = Process(name=name, popen=popen, log_path=log_path, stop_signal=stop_signal)
        self.processes.append(process)
        return process

    def add_cleanup(self, cleanup: Callable[[], None]) -> None:
        self.cleanups.append(cleanup)

    def stop_all(self) -> None:
        """Stop every process (newest first), then run cleanups; never raises."""
        while self.processes:
            process = self.processes.pop()
            with contextlib.suppress(Exception):
                process.stop()
        while self.cleanups:
            cleanup = self.cleanups.pop()
            with contextlib.suppress(Exception):
                cleanup()


def wait_until(
    what: str,
    check: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.25,
    watch: Sequence[Process] = (),
) -> None:
    """Poll ``check`` until it returns True; fail after ``timeout`` seconds.

    ``watch`` lists processes whose early death should end the wait at once with
    their log, instead of waiting out the whole deadline.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        for process in watch:
            process.ensure_running()
        try:
            if check():
                return
        except Exception as exc:  # the server is not up yet; remember why
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            logs = "".join(f"\n--- {p.name} log {p.log_path}:\n{p.log_tail()}" for p in watch)
            raise SubstrateError(
                f"timed out after {timeout:.0f} s waiting for {what}{detail}{logs}"
            )
        time.sleep(interval)


def child_pids(pid: int) -> list[int]:
    """The direct children of a process, from /proc (for checking what it started)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def pid_alive(pid: int) -> bool:
    """True while the process runs; a zombie is gone for every purpose but its exit status."""
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
