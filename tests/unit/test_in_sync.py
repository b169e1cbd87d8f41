"""The memo of objects found in sync, and the cache's fingerprint of what an object asks for."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from turnout_operator.cache.children import ChildCache
from turnout_operator.cache.in_sync import InSyncMemo, ObjectKey, Settled

pytestmark = pytest.mark.unit

DEPLOYMENT: ObjectKey = ("Deployment", "ns", "a-router")
CONFIGMAP: ObjectKey = ("ConfigMap", "ns", "a-router-v1")
HPA: ObjectKey = ("HorizontalPodAutoscaler", "ns", "a-router")


def deployment(version: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "namespace": "ns",
            "name": "a-router",
            "resourceVersion": version,
            "generation": 1,
            "labels": {"turnout.dev/router": "a"},
            "managedFields": [{"manager": "turnout"}],
        },
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "router"}]}}},
        "status": {"observedGeneration": 1, "replicas": 0},
    }
    for path, value in changes.items():
        target = body
        *parents, last = path.split("__")
        for parent in parents:
            target = target[parent]
        target[last] = value
    return body


def test_a_status_change_keeps_the_intent_and_a_spec_or_label_change_does_not() -> None:
    cache = ChildCache()
    cache.observe("ADDED", deployment("5"))
    first = cache.intent(*DEPLOYMENT)
    assert first is not None
    progressed = deployment("6", status={"observedGeneration": 1, "availableReplicas": 1})
    cache.observe("MODIFIED", progressed)
    assert cache.intent(*DEPLOYMENT) == first  # only the status (and resourceVersion) moved
    cache.observe("MODIFIED", deployment("7", spec__replicas=3, metadata__generation=2))
    assert cache.intent(*DEPLOYMENT) != first
    relabelled = deployment("8")
    relabelled["metadata"]["labels"] = {"turnout.dev/router": "a", "edited": "by hand"}
    cache.observe("MODIFIED", relabelled)
    assert cache.intent(*DEPLOYMENT) not in (None, first)
    cache.observe("DELETED", deployment("9"))
    assert cache.intent(*DEPLOYMENT) is None


def test_an_object_is_known_in_sync_only_at_the_same_intent_and_source() -> None:
    memo = InSyncMemo()
    assert not memo.known("u1", CONFIGMAP, 11, "v1")
    memo.found("u1", CONFIGMAP, 11, "v1")
    assert memo.known("u1", CONFIGMAP, 11, "v1")
    assert not memo.known("u1", CONFIGMAP, 12, "v1")  # changed since
    assert not memo.known("u1", CONFIGMAP, 11, "v2")  # wanted from another version
    assert not memo.known("u2", CONFIGMAP, 11, "v1")
    assert not memo.known("u1", CONFIGMAP, None, "v1")  # gone
    memo.found("u1", DEPLOYMENT, None, "v1")  # nothing to remember for an absent object
    assert not memo.known("u1", DEPLOYMENT, None, "v1")


def test_a_settled_router_stays_settled_until_an_object_changes_appears_or_its_source_moves() -> (
    None
):
    memo = InSyncMemo()
    intents: dict[ObjectKey, int | None] = {CONFIGMAP: 1, DEPLOYMENT: 2, HPA: None}
    settled = Settled(
        source="v1",
        present=((CONFIGMAP, 1), (DEPLOYMENT, 2)),
        absent=(HPA,),
        config_hash="abc",
        deployment=DEPLOYMENT,
    )
    memo.settle("u1", settled)
    assert memo.settled("u1", "v1", intents.get) == settled
    assert memo.settled("u1", "v2", intents.get) is None
    for key, value in ((DEPLOYMENT, 3), (CONFIGMAP, None), (HPA, 4)):
        changed = copy.copy(intents)
        changed[key] = value
        assert memo.settled("u1", "v1", changed.get) is None, key
    memo.unsettle("u1")
    assert memo.settled("u1", "v1", intents.get) is None
    memo.settle("u1", settled)
    memo.forget("u1")
    assert memo.settled("u1", "v1", intents.get) is None
