"""Pytest fixtures for the real control plane and Postgres (a pytest plugin module).

Servers are session-scoped because starting them costs tens of seconds; isolation
between tests comes from a fresh namespace (or database objects) per test instead.
When the binaries are missing the fixtures fail, they do not skip: a silently
skipped integration suite looks exactly like a passing one.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Callable, Iterator

import kopf
import psycopg
import pytest
import sqlalchemy
from kubernetes import client as k8s_client
from kubernetes.client import ApiException

from devenv import binaries as binaries_module
from devenv.binaries import REPO_ROOT
from devenv.cluster import Cluster, start_cluster, wait_for_default_service_account
from devenv.postgres import libpq_url, session_postgres
from devenv.procs import ProcessRegistry

# DNS-1123 labels are at most 63 characters; leave room for the random suffix.
_NAMESPACE_PREFIX_LENGTH = 48

ROUTER_CRD_FILE = REPO_ROOT / "crds" / "routers.turnout.dev.yaml"
"""The committed CRD, what users install (a unit test keeps it equal to the models)."""
ROUTER_CRD_NAME = "routers.turnout.dev"
ROUTER_VERSION_CRD_NAME = "routerversions.turnout.dev"
# A deadline for polling only: the CRD is usually Established within a second.
_CRD_ESTABLISHED_SECONDS = 60


@pytest.fixture(scope="session")
def substrate_processes() -> Iterator[ProcessRegistry]:
    """Every server process of the session; all are stopped by pid when it ends."""
    registry = ProcessRegistry()
    try:
        yield registry
    finally:
        registry.stop_all()


@pytest.fixture(scope="session")
def cluster(
    substrate_processes: ProcessRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Cluster:
    """The session's control plane: apiserver, controllers, scheduler, kwok and 2 fake nodes.

    Logs, certificates and the kubeconfig live in pytest's temp dir (the last few
    runs are kept, which is where to look when a test fails).
    """
    binaries = binaries_module.locate()
    workdir = tmp_path_factory.mktemp("cluster")
    return start_cluster(substrate_processes, binaries, workdir)


@pytest.fixture(scope="session")
def postgres_url(substrate_processes: ProcessRegistry) -> str:
    """SQLAlchemy URL (``postgresql+psycopg://...``) of the session's Postgres database."""
    return session_postgres(substrate_processes).url


@pytest.fixture(scope="session")
def router_crd(cluster: Cluster) -> str:
    """The committed CRDs (Router and RouterVersion), installed with `kubectl apply` and
    Established; the Router CRD's name.

    Applying fails when the API server refuses the CRD, for instance when the
    estimated cost of its CEL rules is over the limit.
    """
    for name in (ROUTER_CRD_NAME, ROUTER_VERSION_CRD_NAME):
        cluster.kubectl(
            "apply", "--server-side", "-f", str(ROUTER_CRD_FILE.parent / f"{name}.yaml")
        )
    for name in (ROUTER_CRD_NAME, ROUTER_VERSION_CRD_NAME):
        cluster.kubectl(
            "wait",
            "--for=condition=Established",
            f"--timeout={_CRD_ESTABLISHED_SECONDS}s",
            f"customresourcedefinition/{name}",
        )
    return ROUTER_CRD_NAME


@pytest.fixture
def empty_database_url(postgres_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of its own for one test, empty, on the session's server; dropped after.

    Schema tests (migrations up and down) and store tests that count rows need a
    database nobody else writes to.
    """
    with scratch_database(postgres_url, request.node.name) as url:
        yield url


@contextlib.contextmanager
def scratch_database(server_url: str, label: str) -> Iterator[str]:
    """Create a uniquely named database on the server of ``server_url``; drop it after."""
    base = sqlalchemy.engine.make_url(server_url)
    slug = re.sub(r"[^a-z0-9_]+", "_", label.lower()).strip("_")[:40]
    name = f"t_{slug}_{secrets.token_hex(4)}"
    admin = libpq_url(base.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            # FORCE (Postgres 13+) ends sessions a failed test left behind.
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def kube_api(cluster: Cluster) -> Iterator[k8s_client.ApiClient]:
    """An ApiClient of the official library for the session cluster, as cluster admin."""
    with cluster.api_client() as api:
        yield api


def admin_login(cluster: Cluster) -> Callable[[], kopf.ConnectionInfo]:
    """Credentials for the operator's own client (`turnout_operator.kube.client.Kube`): cluster admin."""

    def login() -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(
            server=cluster.server,
            ca_path=str(cluster.pki.ca_cert),
            certificate_path=str(cluster.pki.admin_cert),
            private_key_path=str(cluster.pki.admin_key),
        )

    return login


def namespace_name(test_name: str) -> str:
    """A valid, unique namespace name that still says which test made it."""
    slug = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:_NAMESPACE_PREFIX_LENGTH]
    return f"t-{slug.strip('-')}-{secrets.token_hex(3)}"


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, ready for pods; deleted (not awaited) afterwards."""
    name = namespace_name(request.node.name)
    with cluster.api_client() as api:
        core = k8s_client.CoreV1Api(api)
        core.create_namespace(
            k8s_client.V1Namespace(
                metadata=k8s_client.V1ObjectMeta(name=name, labels={"turnout.dev/test": "true"})
            )
        )
        try:
            # Pod admission rejects pods until the `default` ServiceAccount exists.
            wait_for_default_service_account(cluster, name)
            yield name
        finally:
            # Deletion finishes in the background: waiting for it would slow every test,
            # and the namespace's unique name keeps the next test unaffected.
            try:
                core.delete_namespace(name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
