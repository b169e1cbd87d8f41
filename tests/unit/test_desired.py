"""Version identity and rebuilding a version's objects from its row alone."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
import yaml

from turnout_operator.api import RouterSpec
from turnout_operator.api.engine_config import parse_engines
from turnout_operator.builders import BuildSettings, RouterIdentity
from turnout_operator.builders.desired import (
    desired_objects,
    engine_document,
    scaling_of,
    spec_document,
    version_inputs,
)
from turnout_operator.reconcile.rollout import CONFIG_HASH_ANNOTATION

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
        {"experimentEngine": {"type": "hardcoded", "config": {"experiments": [{"id": "2"}]}}},
        {"fallbackRoute": "b"},
        {"timeout": "3s"},
    ],
)
def test_any_effective_change_is_a_new_hash(change: dict[str, Any]) -> None:
    assert inputs(SPEC).config_hash != inputs({**SPEC, **change}).config_hash


@pytest.mark.parametrize(
    "scale", [{"replicas": 5}, {"autoscaling": {"minReplicas": 2, "maxReplicas": 4}}, {}]
)
def test_the_scale_is_not_part_of_a_version(scale: dict[str, Any]) -> None:
    # A change of replicas alone must scale the Deployment, not roll a new pod template.
    unscaled = {k: v for k, v in SPEC.items() if k != "replicas"}
    assert inputs(SPEC).config_hash == inputs({**unscaled, **scale}).config_hash
    assert not {"replicas", "autoscaling"} & set(inputs({**unscaled, **scale}).spec)


def test_a_rows_objects_take_the_routers_current_scale_and_keep_their_template() -> None:
    made = inputs(SPEC)
    row = engine_document(made, None, {})
    two = desired_objects(IDENTITY, 1, made.spec, row, SETTINGS, scaling_of(SPEC))
    five = desired_objects(IDENTITY, 1, made.spec, row, SETTINGS, {"replicas": 5})
    auto = desired_objects(
        IDENTITY, 1, made.spec, row, SETTINGS, {"autoscaling": {"minReplicas": 2, "maxReplicas": 4}}
    )
    assert (two.deployment["spec"]["replicas"], five.deployment["spec"]["replicas"]) == (2, 5)
    assert "replicas" not in auto.deployment["spec"] and auto.hpa is not None
    templates = [o.deployment["spec"]["template"] for o in (two, five, auto)]
    assert templates[0] == templates[1] == templates[2]
    assert two.configmap == five.configmap == auto.configmap


def test_a_row_recorded_with_a_scale_is_sized_by_the_routers_scale() -> None:
    # Versions recorded before the scale left them carry replicas in their spec document.
    made = inputs(SPEC)
    old_row_spec = {**made.spec, "replicas": 7}
    row = engine_document(made, None, {})
    assert desired_objects(IDENTITY, 1, old_row_spec, row, SETTINGS)
    objects = desired_objects(IDENTITY, 1, old_row_spec, row, SETTINGS, {"replicas": 3})
    assert objects.deployment["spec"]["replicas"] == 3
    assert (
        desired_objects(IDENTITY, 1, old_row_spec, row, SETTINGS, {}).deployment["spec"]["replicas"]
        == 1
    )


def test_scaling_of_reads_the_scale_fields_a_spec_sets() -> None:
    assert scaling_of(SPEC) == {"replicas": 2}
    assert scaling_of({"replicas": None, "autoscaling": {"maxReplicas": 3}}) == {
        "autoscaling": {"maxReplicas": 3}
    }
    assert scaling_of({}) == {}


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
    objects = desired_objects(IDENTITY, 4, made.spec, row_engine, SETTINGS, scaling_of(SPEC))
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


def test_the_spec_document_is_the_camelcase_spec_with_defaults_and_without_nulls() -> None:
    assert inputs(SPEC).spec == {
        "routes": [
            {"id": "a", "endpoint": "http://a/x", "timeout": "5s"},
            {"id": "b", "endpoint": "http://b/x", "timeout": "1s"},
        ],
        "fallbackRoute": "a",
        "trafficRules": [],
        "routeNamePath": "route_name",
        "experimentMappings": [],
        "experimentEngine": {"type": "hardcoded", "config": {"experiments": [{"id": "1"}]}},
        "timeout": "10s",
    }


def test_the_spec_document_is_plain_json_data() -> None:
    # A traffic rule's fieldSource is an enum in the model; the row must hold a plain string.
    rule = {
        "name": "nl",
        "conditions": [{"fieldSource": "header", "field": "X-Country", "values": ["NL"]}],
        "routes": ["b"],
    }
    spec = RouterSpec.model_validate({**SPEC, "trafficRules": [rule]})
    (condition,) = spec_document(spec)["trafficRules"][0]["conditions"]
    assert type(condition["fieldSource"]) is str
    assert yaml.safe_dump(condition, sort_keys=True) == (
        "field: X-Country\nfieldSource: header\noperator: in\nvalues:\n- NL\n"
    )


def test_the_version_hash_is_sha256_of_the_canonical_json() -> None:
    # Recorded versions are found by this hash: its form must not change between releases,
    # or every Router would get a new version when the operator is upgraded.
    canonical = (
        '{"engine":{"livenessPeriodSeconds":7,"pluginImage":"plugin:1","type":"hardcoded"},'
        '"routerImage":"turnout:1",'
        '"spec":{"experimentEngine":{"config":{"experiments":[{"id":"1"}]},"type":"hardcoded"},'
        '"experimentMappings":[],"fallbackRoute":"a","routeNamePath":"route_name",'
        '"routes":[{"endpoint":"http://a/x","id":"a","timeout":"5s"},'
        '{"endpoint":"http://b/x","id":"b","timeout":"1s"}],"timeout":"10s","trafficRules":[]}}'
    )
    made = inputs(SPEC)
    assert made.config_hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert made.router_image == "turnout:1"


def test_the_engine_document_adds_the_configs_to_the_engine_part() -> None:
    row = engine_document(inputs(SPEC), {"experiments": [{"id": "1"}]}, {"runner": 1})
    assert row == {
        "type": "hardcoded",
        "pluginImage": "plugin:1",
        "livenessPeriodSeconds": 7,
        "config": {"experiments": [{"id": "1"}]},
        "runnerConfig": {"runner": 1},
    }


def liveness_line(objects: Any) -> str:
    (line,) = (
        line.strip()
        for line in objects.configmap["data"]["router.yaml"].splitlines()
        if "livenessPeriodSeconds" in line
    )
    return str(line)


def test_a_rows_liveness_period_reaches_the_router_and_defaults_to_turings() -> None:
    made = inputs(SPEC)
    row = engine_document(made, None, None)
    assert liveness_line(desired_objects(IDENTITY, 1, made.spec, row, SETTINGS)) == (
        "livenessPeriodSeconds: 7.0"
    )
    del row["livenessPeriodSeconds"]
    assert liveness_line(desired_objects(IDENTITY, 1, made.spec, row, SETTINGS)) == (
        "livenessPeriodSeconds: 10.0"
    )


def test_rebuilt_service_hpa_and_config_hash() -> None:
    scaled = {k: v for k, v in SPEC.items() if k != "replicas"}
    scaled["autoscaling"] = {"minReplicas": 2, "maxReplicas": 5}
    made = inputs(scaled)
    objects = desired_objects(
        IDENTITY, 2, made.spec, engine_document(made, None, {}), SETTINGS, scaling_of(scaled)
    )
    assert objects.service["kind"] == "Service"
    assert objects.service["metadata"]["name"] == "demo-router"
    assert objects.service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert objects.hpa is not None
    assert objects.hpa["metadata"]["name"] == "demo-router"
    assert objects.hpa["metadata"]["namespace"] == "ns"
    assert objects.hpa["spec"]["minReplicas"] == 2
    assert objects.hpa["spec"]["maxReplicas"] == 5
    # The rollout is judged by this hash: it must be the one in the pod template.
    template = objects.deployment["spec"]["template"]["metadata"]
    assert len(objects.config_hash) == 64
    assert template["annotations"][CONFIG_HASH_ANNOTATION] == objects.config_hash


DIGEST_1 = hashlib.sha256(b"plugin binary one").hexdigest()
DIGEST_2 = hashlib.sha256(b"plugin binary two").hexdigest()


def test_the_plugin_binary_is_part_of_a_version_and_reaches_the_router_config() -> None:
    spec = RouterSpec.model_validate(SPEC)
    one = version_inputs(spec, ENGINE, "turnout:1", DIGEST_1)
    two = version_inputs(spec, ENGINE, "turnout:1", DIGEST_2)
    # The same image reference, another binary behind it: another version.
    assert one.engine["pluginImage"] == two.engine["pluginImage"]
    assert one.config_hash != two.config_hash
    assert one.engine["pluginSha256"] == DIGEST_1
    row_engine = engine_document(one, SPEC["experimentEngine"]["config"], {"a": 1})
    objects = desired_objects(IDENTITY, 3, one.spec, row_engine, SETTINGS)
    router_yaml = yaml.safe_load(objects.configmap["data"]["router.yaml"])
    assert router_yaml["experimentEngine"]["pluginSha256"] == DIGEST_1


def test_rows_recorded_without_a_digest_rebuild_the_same_file() -> None:
    made = inputs(SPEC)
    assert "pluginSha256" not in made.engine
    row_engine = engine_document(made, SPEC["experimentEngine"]["config"], {"a": 1})
    text = desired_objects(IDENTITY, 3, made.spec, row_engine, SETTINGS).configmap["data"]
    assert "pluginSha256" not in text["router.yaml"]
