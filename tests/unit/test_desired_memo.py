"""Reusing a Router's child objects while its version is unchanged (`DesiredMemo`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from turnout_operator.api import RouterSpec
from turnout_operator.api.engine_config import parse_engines
from turnout_operator.builders import BuildSettings, RouterIdentity
from turnout_operator.builders.desired import (
    desired_objects,
    engine_document,
    version_inputs,
)
from turnout_operator.cache.desired import DesiredMemo

pytestmark = pytest.mark.unit

(ENGINE,) = parse_engines("- name: hardcoded\n  rpcPlugin: {image: plugin:1}\n")
IDENTITY = RouterIdentity(namespace="ns", name="demo", uid="u-1")
SETTINGS = BuildSettings(router_image="turnout:1")


def row(replicas: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A version row's hash, spec and engine documents for a spec with `replicas`."""
    spec = RouterSpec.model_validate(
        {
            "routes": [{"id": "a", "endpoint": "http://a/x"}],
            "fallbackRoute": "a",
            "routeNamePath": "route_name",
            "experimentEngine": {"type": "hardcoded", "config": {"x": 1}},
            "replicas": replicas,
        }
    )
    inputs = version_inputs(spec, ENGINE, SETTINGS.router_image)
    return inputs.config_hash, inputs.spec, engine_document(inputs, {"x": 1}, {"runner": True})


def fresh(
    number: int,
    replicas: int,
    identity: RouterIdentity = IDENTITY,
    settings: BuildSettings = SETTINGS,
) -> dict[str, Any]:
    _, spec, engine = row(replicas)
    return dataclasses.asdict(
        desired_objects(identity, number, spec, engine, settings, {"replicas": replicas})
    )


def memo_objects(
    memo: DesiredMemo,
    number: int,
    replicas: int,
    identity: RouterIdentity = IDENTITY,
    settings: BuildSettings = SETTINGS,
) -> dict[str, Any]:
    config_hash, spec, engine = row(replicas)
    built = memo.objects(
        identity, number, config_hash, lambda: (spec, engine), settings, {"replicas": replicas}
    )
    return dataclasses.asdict(built)


def test_the_same_version_gives_the_objects_built_from_its_row() -> None:
    memo = DesiredMemo()
    first = memo_objects(memo, 1, replicas=2)
    again = memo_objects(memo, 1, replicas=2)
    assert first == again == fresh(1, replicas=2)
    assert again["deployment"]["spec"]["replicas"] == 2
    assert len(memo) == 1


def test_a_new_scale_of_the_same_version_is_built_again_with_the_same_template() -> None:
    memo = DesiredMemo()
    two = memo_objects(memo, 1, replicas=2)
    three = memo_objects(memo, 1, replicas=3)
    assert three == fresh(1, replicas=3)
    assert three["deployment"]["spec"]["replicas"] == 3
    assert three["deployment"]["spec"]["template"] == two["deployment"]["spec"]["template"]
    assert three["configmap"] == two["configmap"]


def test_a_new_version_is_built_again() -> None:
    memo = DesiredMemo()
    memo_objects(memo, 1, replicas=2)
    assert memo_objects(memo, 2, replicas=3) == fresh(2, replicas=3)
    # The version number alone (a spec changed back to an earlier one) is a new version.
    assert memo_objects(memo, 3, replicas=3) == fresh(3, replicas=3)
    assert len(memo) == 1


def test_another_identity_or_image_is_built_again() -> None:
    memo = DesiredMemo()
    memo_objects(memo, 1, replicas=2)
    renamed = dataclasses.replace(IDENTITY, name="other")
    assert memo_objects(memo, 1, 2, identity=renamed) == fresh(1, 2, identity=renamed)
    image = dataclasses.replace(SETTINGS, router_image="turnout:2")
    assert memo_objects(memo, 1, 2, identity=renamed, settings=image) == fresh(
        1, 2, identity=renamed, settings=image
    )


def test_changing_what_was_returned_does_not_change_the_next_answer() -> None:
    memo = DesiredMemo()
    config_hash, spec, engine = row(2)
    first = memo.objects(IDENTITY, 1, config_hash, lambda: (spec, engine), SETTINGS)
    first.deployment["spec"]["replicas"] = 99
    second = memo.objects(IDENTITY, 1, config_hash, lambda: (spec, engine), SETTINGS)
    second.configmap["data"].clear()
    third = memo.objects(IDENTITY, 1, config_hash, lambda: (spec, engine), SETTINGS)
    assert dataclasses.asdict(third) == dataclasses.asdict(
        desired_objects(IDENTITY, 1, spec, engine, SETTINGS)
    )


def test_an_unchanged_version_does_not_read_its_row_again() -> None:
    memo = DesiredMemo()
    config_hash, spec, engine = row(2)
    reads: list[int] = []

    def documents() -> tuple[dict[str, Any], dict[str, Any]]:
        reads.append(1)
        return spec, engine

    for _ in range(3):
        built = memo.objects(IDENTITY, 1, config_hash, documents, SETTINGS)
        assert dataclasses.asdict(built) == dataclasses.asdict(
            desired_objects(IDENTITY, 1, spec, engine, SETTINGS)
        )
    assert len(reads) == 1
    memo.objects(IDENTITY, 2, config_hash, documents, SETTINGS)
    assert len(reads) == 2


def test_a_forgotten_router_has_no_entry() -> None:
    memo = DesiredMemo()
    memo_objects(memo, 1, replicas=2)
    memo.forget(IDENTITY.uid)
    assert len(memo) == 0
