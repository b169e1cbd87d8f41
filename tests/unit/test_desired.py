"""Version identity and rebuilding a version's objects from its row alone."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from turnout_operator.api import RouterSpec
from turnout_operator.builders import BuildSettings, RouterIdentity
from turnout_operator.desired import desired_objects, engine_document, version_inputs
from turnout_operator.engine_config import parse_engines

pytestmark = pytest.mark.unit

SPEC: dict[str, Any] = {
    "routes": [
        {"id": "a", "endpoint": "http://a/x"},
        {"id": "b", "endpoint": "http://b/x", "timeout": "1s"},
    ],
    "fallbackRoute": "a",
    "routeNamePath": "route_name",
    "experimentEngine": {"type": "hardcoded", "config": {"experiments": [{"id": "1"}]}},
    "replicas": 2,
}
(ENGINE,) = parse_engines(
    "- name: hardcoded\n  rpcPlugin: {image: plugin:1, livenessPeriodSeconds: 7}\n"
    "  options: {passkey: s3cr3t}\n"
)
IDENTITY = RouterIdentity(namespace="ns", name="demo", uid="u-1")
SETTINGS = BuildSettings(router_image="turnout:1")


def inputs(spec: dict[str, Any], image: str = "turnout:1") -> Any:
    return version_inputs(RouterSpec.model_validate(spec), ENGINE, image)


def test_equal_specs_have_equal_hashes_whatever_the_key_order() -> None:
    reordered = dict(reversed(list(copy.deepcopy(SPEC).items())))
    assert inputs(SPEC).config_hash == inputs(reordered).config_hash


def test_suspend_is_not_part_of_a_version() -> None:
    assert inputs(SPEC).config_hash == inputs({**SPEC, "suspend": True}).config_hash
    assert "suspend" not in inputs({**SPEC, "suspend": True}).spec


@pytest.mark.parametrize(
    "change",
    [
        {"replicas": 3},
        {"experimentEngine": {"type": "hardcoded", "config": {"experiments": [{"id": "2"}]}}},
        {"fallbackRoute": "b"},
        {"timeout": "3s"},
    ],
)
def test_any_effective_change_is_a_new_hash(change: dict[str, Any]) -> None:
    assert inputs(SPEC).config_hash != inputs({**SPEC, **change}).config_hash


def test_router_image_and_plugin_image_are_part_of_a_version() -> None:
    assert inputs(SPEC).config_hash != inputs(SPEC, image="turnout:2").config_hash
    (other,) = parse_engines("- name: hardcoded\n  rpcPlugin: {image: plugin:2}\n")
    changed = version_inputs(RouterSpec.model_validate(SPEC), other, "turnout:1")
    assert changed.config_hash != inputs(SPEC).config_hash


def test_the_engine_part_holds_no_option_value() -> None:
    part = inputs(SPEC).engine
    assert part == {"type": "hardcoded", "pluginImage": "plugin:1", "livenessPeriodSeconds": 7}


def test_objects_rebuilt_from_a_row_match_the_version() -> None:
    made = inputs(SPEC)
    runner = {"experiments": [{"name": "exp_1"}]}
    row_engine = engine_document(made, SPEC["experimentEngine"]["config"], runner)
    objects = desired_objects(IDENTITY, 4, made.spec, row_engine, SETTINGS)
    assert objects.configmap["metadata"]["name"] == "demo-router-v4"
    pod = objects.deployment["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["hardcoded-plugin"]
    assert pod["initContainers"][0]["image"] == "plugin:1"
    assert objects.deployment["spec"]["replicas"] == 2
    assert objects.hpa is None
    assert "runnerConfig" in objects.configmap["data"]["router.yaml"]
    assert "exp_1" in objects.configmap["data"]["router.yaml"]


def test_nop_rows_rebuild_without_a_plugin() -> None:
    nop = {k: v for k, v in SPEC.items() if k not in ("experimentEngine", "routeNamePath")}
    made = version_inputs(RouterSpec.model_validate(nop), None, "turnout:1")
    assert made.engine == {"type": "nop"}
    objects = desired_objects(IDENTITY, 1, made.spec, engine_document(made, None, None), SETTINGS)
    assert "initContainers" not in objects.deployment["spec"]["template"]["spec"]
