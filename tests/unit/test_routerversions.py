"""RouterVersion objects built from version rows, and their CRD (pure)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from turnout_operator.api.routerversion_crd import build_crd, crd_yaml
from turnout_operator.builders import RouterIdentity
from turnout_operator.builders.routerversions import (
    CHANGE_LIMIT,
    describe_change,
    engine_snapshot,
    routerversion_body,
    to_prune,
)

pytestmark = pytest.mark.unit

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "routerversions.turnout.dev.yaml"
IDENTITY = RouterIdentity(namespace="team-a", name="checkout", uid="u-1")
ROUTES = [
    {"id": "control", "endpoint": "http://c", "timeout": "2s"},
    {"id": "t1", "endpoint": "http://t1", "timeout": "2s"},
]


@dataclass(frozen=True)
class Row:
    number: int
    spec: dict[str, Any] = field(
        default_factory=lambda: {"routes": ROUTES, "fallbackRoute": "control", "timeout": "10s"}
    )
    experiment_engine: dict[str, Any] = field(
        default_factory=lambda: {"type": "hardcoded", "pluginImage": "img:1", "config": {"a": 1}}
    )
    status: str = "deployed"
    error: str | None = None
    router_image: str = "turnout:0.1.0"
    created_at: datetime = datetime(2026, 3, 1, 12, 0, 5, 900000, tzinfo=UTC)
    updated_at: datetime = datetime(2026, 3, 1, 14, 30, 0, tzinfo=timezone(timedelta(hours=2)))


def test_committed_crd_is_what_the_models_generate() -> None:
    assert CRD_FILE.read_text(encoding="utf-8") == crd_yaml(), (
        f"{CRD_FILE} differs from the models: run `make crds` and commit the result"
    )
    crd = yaml.safe_load(CRD_FILE.read_text(encoding="utf-8"))
    assert crd == build_crd()
    (version,) = crd["spec"]["versions"]
    shown = [c["name"] for c in version["additionalPrinterColumns"] if "priority" not in c]
    assert shown == ["Router", "Version", "Status", "Engine", "Age"]
    assert crd["spec"]["scope"] == "Namespaced"


def test_body_mirrors_the_row_owned_by_and_labelled_with_its_router() -> None:
    row = Row(3, status="failed", error="deadline exceeded")
    body = routerversion_body(IDENTITY, row, Row(2))
    assert body == {
        "apiVersion": "turnout.dev/v1alpha1",
        "kind": "RouterVersion",
        "metadata": {
            "name": "checkout-v3",
            "namespace": "team-a",
            "labels": {
                "app.kubernetes.io/name": "turnout-router",
                "app.kubernetes.io/instance": "checkout",
                "app.kubernetes.io/managed-by": "turnout",
                "app.kubernetes.io/component": "version",
                "turnout.dev/router": "checkout",
                "turnout.dev/version": "3",
            },
            "ownerReferences": [
                {
                    "apiVersion": "turnout.dev/v1alpha1",
                    "kind": "Router",
                    "name": "checkout",
                    "uid": "u-1",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "router": "checkout",
            "version": 3,
            "status": "failed",
            "createdAt": "2026-03-01T12:00:05Z",
            "updatedAt": "2026-03-01T12:30:00Z",
            "routerSpec": row.spec,
            "experimentEngine": {"type": "hardcoded", "pluginImage": "img:1", "config": {"a": 1}},
            "change": "no change",
            "error": "deadline exceeded",
        },
    }
    assert "error" not in routerversion_body(IDENTITY, Row(1), None)["spec"]


def test_large_configs_are_mirrored_as_hash_and_size() -> None:
    runner = {"experiments": ["x" * 50]}
    text = json.dumps(runner, sort_keys=True, separators=(",", ":")).encode()
    engine = {
        "type": "e",
        "config": {"k": "v"},
        "runnerConfig": runner,
        "livenessPeriodSeconds": 10,
    }
    assert engine_snapshot(engine, limit=len(text)) == {
        "type": "e",
        "config": {"k": "v"},
        "runnerConfig": runner,
    }
    assert engine_snapshot(engine, limit=len(text) - 1) == {
        "type": "e",
        "config": {"k": "v"},
        "runnerConfigHash": hashlib.sha256(text).hexdigest(),
        "runnerConfigSize": len(text),
    }
    small = engine_snapshot({"type": "nop", "config": {"long": "y" * 30}}, limit=20)
    assert set(small) == {"type", "configHash", "configSize"}
    assert engine_snapshot({"type": "nop", "config": None, "runnerConfig": None}) == {"type": "nop"}


def spec_with(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"routes": ROUTES, "fallbackRoute": "control", "timeout": "10s"}
    spec.update(changes)
    return {k: v for k, v in spec.items() if v is not None}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (spec_with(), spec_with(timeout="20s"), "timeout: 10s → 20s"),
        (spec_with(), spec_with(replicas=2), "replicas: set to 2"),
        (spec_with(replicas=2), spec_with(), "replicas removed"),
        (
            spec_with(),
            spec_with(routes=[ROUTES[0], {"id": "t2", "endpoint": "http://t2"}]),
            "routes +t2 -t1",
        ),
        (
            spec_with(),
            spec_with(routes=[ROUTES[0], {**ROUTES[1], "timeout": "3s"}]),
            "routes ~t1",
        ),
        (spec_with(), spec_with(routes=list(reversed(ROUTES))), "routes reordered"),
        (
            spec_with(experimentEngine={"type": "a", "config": {"x": 1}}),
            spec_with(experimentEngine={"type": "b", "config": {"x": 2}}),
            "experimentEngine.config changed; experimentEngine.type: a → b",
        ),
        (spec_with(), spec_with(autoscaling={"maxReplicas": 3}), "autoscaling added"),
        (
            spec_with(trafficRules=[]),
            spec_with(trafficRules=[{"name": "r"}]),
            "trafficRules changed",
        ),
    ],
)
def test_change_says_what_differs_from_the_previous_version(
    old: dict[str, Any], new: dict[str, Any], expected: str
) -> None:
    assert describe_change(Row(1, spec=old), Row(2, spec=new)) == expected


def test_change_of_images_and_first_version() -> None:
    assert describe_change(None, Row(1)) == "first version"
    engine_2 = {"type": "hardcoded", "pluginImage": "img:2", "config": {"a": 1}}
    assert (
        describe_change(Row(1), Row(2, experiment_engine=engine_2)) == "plugin image: img:1 → img:2"
    )
    assert (
        describe_change(Row(1), Row(2, router_image="turnout:0.2.0"))
        == "router image: turnout:0.1.0 → turnout:0.2.0"
    )
    moved = {**Row(1).experiment_engine, "pluginSha256": "b" * 64}
    before = {**Row(1).experiment_engine, "pluginSha256": "a" * 64}
    assert describe_change(Row(1, experiment_engine=before), Row(2, experiment_engine=moved)) == (
        f"plugin binary behind img:1 changed: sha256 {'a' * 12} → {'b' * 12}"
    )
    engine_3 = {**Row(1).experiment_engine, "livenessPeriodSeconds": 5}
    assert describe_change(Row(1), Row(2, experiment_engine=engine_3)) == "engine settings changed"


def test_a_long_change_is_cut_to_one_short_line() -> None:
    old = spec_with(**{f"k{i}": "a" for i in range(40)})
    new = spec_with(**{f"k{i}": "b" for i in range(40)})
    text = describe_change(Row(1, spec=old), Row(2, spec=new))
    assert len(text) == CHANGE_LIMIT and text.endswith("…") and text.startswith("k0: a → b; ")


def test_prune_names_mirrors_outside_the_newest_k() -> None:
    def mirror(name: str, version: str | None) -> dict[str, Any]:
        labels = {"turnout.dev/version": version} if version is not None else {}
        return {"metadata": {"name": name, "labels": labels}}

    existing = [
        mirror("r-v1", "1"),
        mirror("r-v9", "9"),
        mirror("r-v10", "10"),
        mirror("odd", None),
    ]
    assert to_prune(existing, keep=[9, 10]) == ["odd", "r-v1"]
    assert to_prune(existing, keep=[1, 9, 10]) == ["odd"]
