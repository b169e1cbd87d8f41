"""Pytest fixtures that run Turnout's operator for real against the session's servers.

Each test gets its own operator process, watching only the test's namespace, so
tests can kill, restart or misconfigure it without touching others. The Router
CRD is installed once per session from the committed `crds/` file (what users
install), and the database is migrated once with `python -m turnout_operator db upgrade`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devenv.cluster import Cluster
from devenv.gopeers import HARDCODED_MANAGER_CONFIG, GoPeers
from devenv.operator import Engine, OperatorConfig, migrate, start_operator, wait_for
from devenv.postgres import PostgresServer, libpq_url, start_postgres_server
from devenv.procs import Process, ProcessRegistry
from devenv.zipapp import build_hardcoded_plugin

REPO_ROOT = Path(__file__).resolve().parents[2]
ENGINE_OPTIONS = json.loads(
    (REPO_ROOT / "examples" / "plugins" / "hardcoded" / "sample_engine_options.json").read_text()
)


@pytest.fixture(scope="session")
def migrated_database(postgres_url: str) -> str:
    migrate(postgres_url)
    return postgres_url


@pytest.fixture(scope="session")
def python_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example hardcoded engine, packaged as one executable (zipapp).

    TURNOUT_TEST_PYTHON_PLUGIN names one built already: tests/compiled runs tests in
    a copy of the repository without the package sources the build packs.
    """
    prebuilt = os.environ.get("TURNOUT_TEST_PYTHON_PLUGIN")
    if prebuilt:
        return Path(prebuilt)
    path = tmp_path_factory.mktemp("python-plugin") / "hardcoded"
    build_hardcoded_plugin(path)
    return path


@dataclass
class OperatorHarness:
    """Starts operators for one test and reads what they did."""

    cluster: Cluster
    database_url: str
    namespace: str
    workdir: Path
    registry: ProcessRegistry
    python_plugin: Path
    go_plugin: Path
    started: list[Process] = field(default_factory=list)

    def python_engine(self, name: str = "hardcoded", **kwargs: Any) -> Engine:
        return Engine(name=name, binary=self.python_plugin, options=ENGINE_OPTIONS, **kwargs)

    def go_engine(self, name: str = "turing", **kwargs: Any) -> Engine:
        return Engine(name=name, binary=self.go_plugin, options=HARDCODED_MANAGER_CONFIG, **kwargs)

    def start(
        self, *engines: Engine, env: dict[str, str] | None = None, workdir: Path | None = None
    ) -> Process:
        extra = {"TURNOUT_RESYNC_SECONDS": "30", "TURNOUT_RETRY_SECONDS": "1", **(env or {})}
        process = start_operator(
            self.registry,
            OperatorConfig(
                kubeconfig=self.cluster.kubeconfig,
                database_url=self.database_url,
                workdir=workdir or self.workdir,
                engines=engines or (self.python_engine(),),
                namespaces=(self.namespace,),
                extra_env=extra,
            ),
            name=f"operator-{len(self.started)}",
        )
        self.started.append(process)
        return process

    @property
    def operator(self) -> Process:
        return self.started[-1]

    # --- reading the cluster ---

    def kubectl_json(self, *args: str) -> Any:
        result = self.cluster.kubectl(*args, "-n", self.namespace, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def router(self, name: str) -> dict[str, Any]:
        body: dict[str, Any] = self.kubectl_json("get", "router", name) or {}
        return body

    def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.router(name).get("status", {})
        return status

    def condition(self, name: str, kind: str) -> dict[str, Any]:
        for condition in self.status(name).get("conditions", []):
            if condition["type"] == kind:
                return dict(condition)
        return {}

    def apply(self, manifest: dict[str, Any]) -> None:
        self.cluster.kubectl("apply", "-n", self.namespace, "-f", "-", input=json.dumps(manifest))

    def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        self.cluster.kubectl(
            "patch",
            "router",
            name,
            "-n",
            self.namespace,
            "--type=merge",
            "-p",
            json.dumps({"spec": spec}),
        )

    def wait_status(
        self,
        name: str,
        predicate: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float = 180,
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            status = self.status(name)
            return status if status and predicate(status) else None

        result: dict[str, Any] = wait_for(check, timeout, what, self.operator)
        return result

    def wait_condition(
        self, name: str, kind: str, status: str, timeout: float = 180
    ) -> dict[str, Any]:
        """Wait until condition `kind` has `status`; returns the whole Router status."""
        return self.wait_status(
            name,
            lambda s: any(
                c["type"] == kind and c["status"] == status for c in s.get("conditions", [])
            ),
            f"router {name}: {kind}={status}",
            timeout,
        )

    def wait_deployed(self, name: str, version: int, timeout: float = 180) -> dict[str, Any]:
        return self.wait_status(
            name,
            lambda s: s.get("phase") == "Deployed" and s.get("deployedVersion") == version,
            f"router {name} Deployed at version {version}",
            timeout,
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        listing = self.kubectl_json(
            "get",
            "events",
            "--field-selector",
            f"involvedObject.name={name},involvedObject.kind=Router",
        ) or {"items": []}
        return list(listing["items"])

    # --- reading the database directly (not through the code under test) ---

    def version_rows(self, name: str) -> list[dict[str, Any]]:
        with psycopg.connect(libpq_url(self.database_url)) as conn:
            rows = conn.execute(
                """
                select v.number, v.status, v.error, v.config_hash, v.spec, v.experiment_engine
                from router_versions v join routers r on r.id = v.router_id
                where r.namespace = %s and r.name = %s
                order by v.number
                """,
                (self.namespace, name),
            ).fetchall()
        return [
            {
                "number": row[0],
                "status": row[1],
                "error": row[2],
                "config_hash": row[3],
                "spec": row[4],
                "experiment_engine": row[5],
            }
            for row in rows
        ]


@pytest.fixture
def operators(
    cluster: Cluster,
    router_crd: str,
    migrated_database: str,
    namespace: str,
    python_plugin: Path,
    gopeers: GoPeers,
    tmp_path: Path,
) -> Iterator[OperatorHarness]:
    registry = ProcessRegistry()
    harness = OperatorHarness(
        cluster=cluster,
        database_url=migrated_database,
        namespace=namespace,
        workdir=tmp_path,
        registry=registry,
        python_plugin=python_plugin,
        go_plugin=gopeers.hardcoded_plugin,
    )
    try:
        yield harness
    finally:
        registry.stop_all()


@pytest.fixture
def private_database(operators: OperatorHarness) -> Iterator[PostgresServer]:
    """A Postgres of the test's own, migrated, that the test may stop and start again.

    The harness's operators use it instead of the session's database.
    """
    registry = ProcessRegistry()
    try:
        server = start_postgres_server(registry)
        migrate(server.url)
        operators.database_url = server.url
        yield server
    finally:
        registry.stop_all()
