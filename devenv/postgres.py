"""A throwaway Postgres server per test session, or the one named by the environment.

The versions store is tested against real Postgres (locking, sequences, constraint
errors are where the bugs are). A private cluster from the Debian package starts in
about a second: data dir in memory, fsync off, TCP on 127.0.0.1 only, its unix
socket inside its own temp dir. Set ``TURNOUT_TEST_DATABASE_URL`` to use an existing
server instead (a SQLAlchemy URL, ``postgresql+psycopg://user:pass@host:port/db``).

Postgres refuses to run as root, so when the tests run as root the server runs as
the ``postgres`` account the Debian package creates, in a directory it owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

from devenv.procs import (
    Process,
    ProcessRegistry,
    SubstrateError,
    free_port,
    primary_gid,
    wait_until,
)

URL_ENV = "TURNOUT_TEST_DATABASE_URL"
PG_BIN_ENV = "TURNOUT_PG_BIN"
DATABASE = "turnout"
SUPERUSER = "postgres"
READY_SECONDS = 60.0


@dataclass(frozen=True)
class Postgres:
    """Where the session's database is."""

    url: str
    """SQLAlchemy URL, ``postgresql+psycopg://...``."""

    @property
    def conninfo(self) -> str:
        """The same address as a libpq URL, for psycopg directly."""
        return libpq_url(self.url)


def libpq_url(sqlalchemy_url: str) -> str:
    """``postgresql+psycopg://...`` → ``postgresql://...`` (what libpq understands)."""
    scheme, sep, rest = sqlalchemy_url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {sqlalchemy_url!r}")
    return f"{scheme.split('+', 1)[0]}://{rest}"


def find_bin_dir() -> Path:
    """The Postgres server binaries: $TURNOUT_PG_BIN, else the newest Debian install."""
    override = os.environ.get(PG_BIN_ENV)
    if override:
        return Path(override)
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if installed:
        return installed[-1].parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise SubstrateError(
        "no Postgres server binaries found (install the `postgresql` package, "
        f"set {PG_BIN_ENV}, or set {URL_ENV} to an existing server)"
    )


def _run_as(user: str | None, argv: list[str], cwd: Path) -> None:
    result = subprocess.run(
        argv,
        cwd=cwd,
        user=user,
        group=primary_gid(user) if user else None,
        extra_groups=[] if user else None,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SubstrateError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr}")


def _scratch_dir(owner: str | None) -> Path:
    """A private dir in memory (/dev/shm) if possible, owned by the server's account."""
    shm = Path("/dev/shm")
    parent = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    root = Path(tempfile.mkdtemp(prefix="turnout-pg-", dir=parent))
    if owner:
        account = pwd.getpwnam(owner)
        os.chown(root, account.pw_uid, account.pw_gid)
    return root


def _can_connect(conninfo: str) -> bool:
    with psycopg.connect(conninfo, connect_timeout=3) as conn:
        conn.execute("select 1")
    return True


@dataclass
class PostgresServer:
    """A private server this process started, which a test may stop and start again.

    Restarting keeps the data directory and the port, so clients that hold the URL
    can reconnect: this is how the versions store's outage handling is tested.
    """

    registry: ProcessRegistry
    bin_dir: Path
    user: str | None
    root: Path
    port: int
    process: Process | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the test database."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def admin_conninfo(self) -> str:
        """libpq URL of the maintenance database, for CREATE/DROP DATABASE."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the server on its data directory and wait until it accepts connections."""
        if self.process is not None and self.process.alive():
            return
        self.process = self.registry.start(
            "postgres",
            [
                str(self.bin_dir / "postgres"),
                "-D",
                str(self.root / "data"),
                "-p",
                str(self.port),
                "-k",
                str(self.root / "sock"),
                "-c",
                "listen_addresses=127.0.0.1",
                # Durability is pointless for test data and fsync dominates small writes.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                # Operators, test clients and concurrency tests each hold a few connections.
                "-c",
                "max_connections=200",
            ],
            self.root / "postgres.log",
            cwd=self.root,
            user=self.user,
            # SIGINT is Postgres' "fast" shutdown: roll back clients and exit now.
            stop_signal=signal.SIGINT,
        )
        wait_until(
            "postgres to accept connections",
            lambda: _can_connect(self.admin_conninfo),
            timeout=READY_SECONDS,
            watch=[self.process],
        )

    def stop(self) -> None:
        """Fast shutdown (clients are disconnected); returns once the server has exited."""
        if self.process is not None:
            self.process.stop()


def start_postgres_server(registry: ProcessRegistry) -> PostgresServer:
    """initdb a fresh cluster, start it on a free loopback port, create the test database."""
    bin_dir = find_bin_dir()
    # Postgres will not run as root; drop to the package's account when we are root.
    user = SUPERUSER if os.geteuid() == 0 else None
    root = _scratch_dir(user)
    registry.add_cleanup(lambda: shutil.rmtree(root, ignore_errors=True))

    _run_as(
        user,
        [
            str(bin_dir / "initdb"),
            f"--pgdata={root / 'data'}",
            f"--username={SUPERUSER}",
            "--auth=trust",  # loopback only, throwaway data
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ],
        cwd=root,
    )
    _run_as(user, ["mkdir", "-m", "0700", str(root / "sock")], cwd=root)

    server = PostgresServer(
        registry=registry, bin_dir=bin_dir, user=user, root=root, port=free_port()
    )
    server.start()
    with psycopg.connect(server.admin_conninfo, autocommit=True) as conn:
        conn.execute(f'create database "{DATABASE}"')
    return server


def start_postgres(registry: ProcessRegistry) -> Postgres:
    """A fresh private server with the test database; see :func:`start_postgres_server`."""
    return Postgres(url=start_postgres_server(registry).url)


def session_postgres(registry: ProcessRegistry) -> Postgres:
    """The configured server if $TURNOUT_TEST_DATABASE_URL is set, else a fresh one."""
    configured = os.environ.get(URL_ENV)
    if configured:
        return Postgres(url=configured)
    return start_postgres(registry)
