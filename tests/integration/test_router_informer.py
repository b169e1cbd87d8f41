"""The Routers' informer and the status write's uid precondition, against the real API server.

The informer runs in this process with real Router loops whose passes only record
what they are given, so the test decides when the watch is away: it stops the
informer (the watch gap), changes the cluster, and starts a new run, whose list must
find what the gap hid. The API server restart itself is the chaos tier's
(tests/chaos/test_deletion_window.py).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from devenv.cluster import Cluster
from tests.integration.test_operator import router_manifest
from tests.substrate.fixtures import admin_login
from turnout_operator.cache import RouterObject
from turnout_operator.kube.client import Kube, RouterGone
from turnout_operator.runtime.informer import RouterInformer
from turnout_operator.runtime.loops import PassOutcome, RouterLoops
from turnout_operator.runtime.wakers import Wakers

pytestmark = pytest.mark.cluster

IDLE = 3600.0


def apply_router(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    manifest = router_manifest(engine="nop")
    manifest["metadata"]["name"] = name
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    body: dict[str, Any] = json.loads(
        cluster.kubectl("get", "router", name, "-n", namespace, "-o", "json").stdout
    )
    return body


async def eventually(what: str, check: Any, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")


async def test_the_status_write_names_the_uid_and_a_gone_router_is_told_apart(
    cluster: Cluster, router_crd: str, namespace: str
) -> None:
    kube = Kube(login=admin_login(cluster))
    try:
        old = apply_router(cluster, namespace, "r1")
        old_uid = old["metadata"]["uid"]
        written = await kube.patch_router_status(namespace, "r1", old_uid, {"phase": "Pending"})
        assert written["status"]["phase"] == "Pending"

        cluster.kubectl("delete", "router", "r1", "-n", namespace, "--timeout=60s")
        with pytest.raises(RouterGone):
            await kube.patch_router_status(namespace, "r1", old_uid, {"phase": "Deployed"})

        new = apply_router(cluster, namespace, "r1")  # the name, another Router
        assert new["metadata"]["uid"] != old_uid
        with pytest.raises(RouterGone):
            await kube.patch_router_status(namespace, "r1", old_uid, {"phase": "Deployed"})
        after: dict[str, Any] = json.loads(
            cluster.kubectl("get", "router", "r1", "-n", namespace, "-o", "json").stdout
        )
        assert after["metadata"]["uid"] == new["metadata"]["uid"]
        assert (after.get("status") or {}).get("phase") != "Deployed"  # never written
    finally:
        await kube.close()


async def test_a_list_after_a_watch_gap_finds_the_routers_deleted_meanwhile(
    cluster: Cluster, router_crd: str, namespace: str
) -> None:
    seen: list[tuple[str, str]] = []

    async def run_pass(router: RouterObject, first: bool) -> PassOutcome:
        seen.append((router.name, router.uid))
        return PassOutcome(IDLE)

    deleted: list[tuple[str, str]] = []

    async def on_deleted(router: RouterObject) -> None:
        deleted.append((router.name, router.uid))

    loops = RouterLoops(run_pass, Wakers(), ended=lambda router: None)
    kube = Kube(login=admin_login(cluster))
    bodies = {name: apply_router(cluster, namespace, name) for name in ("a", "b", "c")}
    uids = {name: body["metadata"]["uid"] for name, body in bodies.items()}
    informer = RouterInformer(kube, namespace, loops, on_deleted)
    running = asyncio.ensure_future(informer.run())
    try:
        await eventually("the three Routers' first passes", lambda: len(seen) == 3)
        # Watched: a deletion arrives as an event.
        cluster.kubectl("delete", "router", "c", "-n", namespace, "--timeout=60s")
        await eventually("c's deletion", lambda: deleted == [("c", uids["c"])])

        # The watch goes away; meanwhile b is deleted, a deleted and made again, d created.
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        loops.pause(namespace)  # what the informer does when its watch breaks
        cluster.kubectl("delete", "router", "a", "b", "-n", namespace, "--timeout=60s")
        new_a = apply_router(cluster, namespace, "a")["metadata"]["uid"]
        apply_router(cluster, namespace, "d")
        await asyncio.sleep(0.2)
        assert len(seen) == 3  # nothing runs during the gap

        running = asyncio.ensure_future(informer.run())
        await eventually("the deletions hidden by the gap", lambda: len(deleted) == 3)
        assert sorted(deleted[1:]) == [("a", uids["a"]), ("b", uids["b"])]
        await eventually("a's and d's passes", lambda: len(seen) == 5)
        assert {name for name, _ in seen[3:]} == {"a", "d"}
        assert ("a", new_a) in seen
        assert sorted((r.name, r.uid) for r in loops.routers())[0] == ("a", new_a)
        assert {r.name for r in loops.routers()} == {"a", "d"}
        assert informer.lists == 2
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await loops.stop(1.0)
        await informer.close()
        await kube.close()
