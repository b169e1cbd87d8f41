"""The cache of owned objects: what it returns, and which Router each object belongs to."""

from __future__ import annotations

from typing import Any

import pytest

from turnout_operator.builders.names import ROUTER_LABEL, VERSION_LABEL
from turnout_operator.cache.children import ChildCache

pytestmark = pytest.mark.unit


def configmap(name: str, router: str | None, version: int = 1, **extra: Any) -> dict[str, Any]:
    labels = {VERSION_LABEL: str(version)}
    if router is not None:
        labels[ROUTER_LABEL] = router
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "namespace": "ns",
            "name": name,
            "labels": labels,
            "managedFields": [{"manager": "turnout", "fieldsV1": {"f:data": {}}}],
            **extra,
        },
        "data": {"config.yaml": "routes: []\n"},
    }


def names(bodies: list[dict[str, Any]]) -> list[str]:
    return [body["metadata"]["name"] for body in bodies]


def test_get_returns_the_body_without_managed_fields_and_a_copy_each_time() -> None:
    cache = ChildCache()
    assert cache.observe("ADDED", configmap("a-v1", "a")) == ("ns", "a")
    first = cache.get("ConfigMap", "ns", "a-v1")
    assert first == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "namespace": "ns",
            "name": "a-v1",
            "labels": {VERSION_LABEL: "1", ROUTER_LABEL: "a"},
        },
        "data": {"config.yaml": "routes: []\n"},
    }
    assert first is not None
    first["data"]["config.yaml"] = "changed by a caller"
    second = cache.get("ConfigMap", "ns", "a-v1")
    assert second is not None and second["data"] == {"config.yaml": "routes: []\n"}
    assert cache.get("ConfigMap", "ns", "missing") is None
    assert cache.get("Service", "ns", "a-v1") is None


def test_owned_by_follows_adds_label_changes_deletes_and_forgets() -> None:
    cache = ChildCache()
    cache.observe(None, configmap("a-v1", "a"))
    cache.observe("ADDED", configmap("a-v2", "a", version=2))
    cache.observe("ADDED", configmap("b-v1", "b"))
    cache.observe("ADDED", configmap("loose", None))
    cache.observe("ADDED", {**configmap("a-svc", "a"), "kind": "Service"})
    assert names(cache.owned_by("ConfigMap", "ns", "a")) == ["a-v1", "a-v2"]
    assert names(cache.owned_by("Service", "ns", "a")) == ["a-svc"]
    assert names(cache.owned_by("ConfigMap", "other", "a")) == []

    # Relabelled to another Router: it moves; unlabelled: it belongs to none.
    cache.observe("MODIFIED", configmap("a-v2", "b", version=2))
    assert names(cache.owned_by("ConfigMap", "ns", "a")) == ["a-v1"]
    assert names(cache.owned_by("ConfigMap", "ns", "b")) == ["a-v2", "b-v1"]
    cache.observe("MODIFIED", configmap("b-v1", None))
    assert names(cache.owned_by("ConfigMap", "ns", "b")) == ["a-v2"]
    assert cache.get("ConfigMap", "ns", "b-v1") is not None

    cache.observe("DELETED", configmap("a-v1", "a"))
    cache.forget("ConfigMap", "ns", "a-v2")
    assert names(cache.owned_by("ConfigMap", "ns", "a")) == []
    assert names(cache.owned_by("ConfigMap", "ns", "b")) == []
    assert cache.get("ConfigMap", "ns", "a-v1") is None
    assert len(cache) == 3  # b-v1, loose and the Service


def test_remember_stores_what_an_apply_returned() -> None:
    cache = ChildCache()
    cache.observe("ADDED", configmap("a-v1", "a", resourceVersion="5"))
    cache.remember(configmap("a-v1", "a", resourceVersion="9"))
    stored = cache.get("ConfigMap", "ns", "a-v1")
    assert stored is not None and stored["metadata"]["resourceVersion"] == "9"
    assert names(cache.owned_by("ConfigMap", "ns", "a")) == ["a-v1"]


def test_an_apply_answer_older_than_the_watch_events_does_not_replace_them() -> None:
    """The apply's answer (rollout not started) can come after the watch event of the
    finished rollout; the cache must keep the finished one, or the Router waits for a
    resync to see it."""
    cache = ChildCache()
    cache.observe("ADDED", configmap("a-v1", "a", resourceVersion="12", uid="x"))
    cache.remember(configmap("a-v1", "a", resourceVersion="9"))
    owner = cache.observe("MODIFIED", configmap("a-v1", "a", resourceVersion="11"))
    assert owner == ("ns", "a")  # the owner is still woken
    stored = cache.get("ConfigMap", "ns", "a-v1")
    assert stored is not None and stored["metadata"]["resourceVersion"] == "12"
    assert names(cache.owned_by("ConfigMap", "ns", "a")) == ["a-v1"]


def test_a_deleted_object_made_again_is_stored_whatever_its_version_was() -> None:
    cache = ChildCache()
    cache.observe("ADDED", configmap("a-v1", "a", resourceVersion="20"))
    cache.observe("DELETED", configmap("a-v1", "a", resourceVersion="21"))
    cache.observe("ADDED", configmap("a-v1", "a", resourceVersion="3"))
    stored = cache.get("ConfigMap", "ns", "a-v1")
    assert stored is not None and stored["metadata"]["resourceVersion"] == "3"
    cache.forget("ConfigMap", "ns", "a-v1")
    cache.observe("ADDED", configmap("a-v1", "a", resourceVersion="1"))
    assert cache.get("ConfigMap", "ns", "a-v1") is not None


def test_bodies_without_a_numeric_version_are_stored_as_they_come() -> None:
    cache = ChildCache()
    cache.observe("ADDED", configmap("a-v1", "a", resourceVersion="7"))
    cache.remember(configmap("a-v1", "a", note="no version"))
    stored = cache.get("ConfigMap", "ns", "a-v1")
    assert stored is not None and stored["metadata"].get("note") == "no version"


def test_the_watch_event_of_a_body_held_already_wakes_nobody() -> None:
    """An apply's answer is remembered; its own watch event, same resourceVersion,
    brings nothing new, while a later change or the deletion still wakes the owner."""
    cache = ChildCache()
    cache.remember(configmap("a-v1", "a", resourceVersion="9"))
    assert cache.observe("ADDED", configmap("a-v1", "a", resourceVersion="9")) is None
    assert cache.observe("MODIFIED", configmap("a-v1", "a", resourceVersion="10")) == ("ns", "a")
    assert cache.observe("MODIFIED", configmap("a-v1", "a", resourceVersion="10")) is None
    assert cache.observe("DELETED", configmap("a-v1", "a", resourceVersion="10")) == ("ns", "a")
    assert cache.get("ConfigMap", "ns", "a-v1") is None
