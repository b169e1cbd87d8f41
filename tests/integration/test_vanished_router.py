"""A Router whose deletion the operator never saw: the sweep ends its loop and marks its
versions undeployed, from one look (the database read first, then a consistent list).

The operator's runtime runs in this process against the real API server and Postgres,
and the test hands it the Router's events instead of kopf's watch, so the test decides
which event is missed. Expected states are read with kubectl and plain SQL.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import psycopg
import pytest

from devenv.cluster import Cluster
from devenv.postgres import libpq_url
from tests.integration.test_operator import router_manifest
from tests.substrate.fixtures import admin_login
from turnout_operator.cache import RouterObject
from turnout_operator.engines.registry import EngineRegistry
from turnout_operator.kube.client import Kube
from turnout_operator.reconcile.status import Event
from turnout_operator.runtime.operator import Runtime
from turnout_operator.runtime.settings import OperatorSettings
from turnout_operator.store import VersionStore

pytestmark = [pytest.mark.cluster, pytest.mark.db]


def version_states(database_url: str, namespace: str, name: str) -> list[tuple[int, str]]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "select v.number, v.status from router_versions v join routers r"
            " on r.id = v.router_id where r.namespace = %s and r.name = %s order by v.number",
            (namespace, name),
        ).fetchall()
    return [(number, status) for number, status in rows]


async def test_the_sweep_ends_the_loop_of_a_router_whose_deletion_was_missed(
    cluster: Cluster, router_crd: str, migrated_database: str, namespace: str
) -> None:
    settings = OperatorSettings(
        database_url=migrated_database, namespaces=namespace, resync_seconds=3600
    )
    engines = EngineRegistry.from_configs([], settings.plugins_dir, settings.plugin_call_timeout)
    events: list[Event] = []

    def post_event(router: RouterObject, event: Event) -> None:
        events.append(event)

    runtime = Runtime(
        settings,
        engines,
        VersionStore.connect(migrated_database),
        Kube(login=admin_login(cluster)),
        post_event,
    )
    try:
        manifest = router_manifest(engine="nop")
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
        body: dict[str, Any] = json.loads(
            cluster.kubectl("get", "router", "demo", "-n", namespace, "-o", "json").stdout
        )
        runtime.loops.observe(None, body)
        for _ in range(600):
            if version_states(migrated_database, namespace, "demo"):
                break
            await asyncio.sleep(0.1)
        (number, state), *_ = version_states(migrated_database, namespace, "demo")
        assert number == 1 and state != "undeployed"

        # Deleted, and the runtime is never told: the DELETED event is missed.
        cluster.kubectl("delete", "router", "demo", "-n", namespace, "--timeout=60s")
        # The database knew it before the list was made, the list lacks it: it is gone.
        await runtime.sweep()
        assert len(runtime.loops) == 0
        assert runtime.loops.routers() == []
        assert version_states(migrated_database, namespace, "demo") == [(1, "undeployed")]
    finally:
        await runtime.loops.stop(1.0)
        await runtime.close()
