"""kopf keeps no diff base of a Router: nothing stored on it, nothing copied per event."""

from __future__ import annotations

import kopf
import pytest

from turnout_operator.runtime.kopf_storage import NoDiffBase

pytestmark = pytest.mark.unit

BODY = kopf.Body(
    {
        "apiVersion": "turnout.dev/v1alpha1",
        "kind": "Router",
        "metadata": {"name": "demo", "namespace": "ns", "labels": {"a": "b"}},
        "spec": {"replicas": 2, "routes": [{"id": "a"}]},
        "status": {"phase": "Deployed"},
    }
)


def test_no_essence_is_built_from_the_body() -> None:
    # kopf's default copies spec, labels and annotations of every body it sees.
    assert NoDiffBase().build(body=BODY) == {}
    assert NoDiffBase().build(body=BODY, extra_fields=["status.phase"]) == {}


def test_no_diff_base_is_found_or_stored() -> None:
    storage = NoDiffBase()
    patch = kopf.Patch()
    storage.store(body=BODY, patch=patch, essence=kopf.BodyEssence({"spec": {"replicas": 2}}))
    assert not patch
    assert storage.fetch(body=BODY) is None
