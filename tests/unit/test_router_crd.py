"""The Router models and the CRD generated from them: same rules, same messages, no drift.

The API server's side of the same examples is in tests/integration/test_router_crd.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from tests.cases.routers import (
    INVALID_ROUTERS,
    VALID_ROUTERS,
    InvalidRouter,
    ValidRouter,
    route,
    spec,
)
from turnout_operator.api.crd import build_crd, crd_yaml, router_schema
from turnout_operator.api.router import (
    AUTOSCALING_BOUNDS,
    RouterSpec,
    name_problems,
    spec_error_messages,
)
from turnout_router.config import ROUTE_IDS_NOT_UNIQUE, cel, duration_seconds

pytestmark = pytest.mark.unit

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "routers.turnout.dev.yaml"


def model_messages(name: str, spec_data: dict[str, Any]) -> list[str]:
    """Every message the models give for a Router with this name and spec."""
    messages = name_problems(name)
    try:
        RouterSpec.model_validate(spec_data)
    except ValidationError as error:
        messages += spec_error_messages(error)
    return messages


def schema_nodes(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node under ``node`` with a readable path."""
    if not isinstance(node, dict):
        return
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from schema_nodes(child, f"{path}.{name}")
    if "items" in node:
        yield from schema_nodes(node["items"], f"{path}[]")


def cel_messages() -> set[str]:
    return {
        rule["message"]
        for _, node in schema_nodes(router_schema())
        for rule in node.get("x-kubernetes-validations", [])
    }


@pytest.mark.parametrize("case", INVALID_ROUTERS, ids=lambda case: case.id)
def test_models_refuse_invalid_router_naming_the_field(case: InvalidRouter) -> None:
    messages = model_messages(case.name, case.spec)
    assert any(case.expected in message for message in messages), messages


@pytest.mark.parametrize("case", VALID_ROUTERS, ids=lambda case: case.id)
def test_models_accept_valid_router(case: ValidRouter) -> None:
    assert model_messages(case.name, case.spec) == []


@pytest.mark.parametrize(
    ("changes", "messages"),
    [
        # A cross-field rule's message already names its field: given as it is.
        ({"routes": [route("a"), route("a")]}, [ROUTE_IDS_NOT_UNIQUE]),
        # Every problem is told, the ones after a cross-field rule's too.
        (
            {"autoscaling": {"minReplicas": 3, "maxReplicas": 2}, "timeout": "soon"},
            [
                AUTOSCALING_BOUNDS,
                "spec.timeout: 'soon' is not a duration: use a number with a unit, "
                "such as 500ms, 2s or 1m30s (units ns, us, ms, s, m, h)",
            ],
        ),
        (
            {"routes": [route("a"), route("b", endpoint="ftp://b")], "replicas": -1},
            [
                "spec.routes[1].endpoint: String should match pattern '^https?://[^\\s]+$'",
                "spec.replicas: Input should be greater than or equal to 0",
            ],
        ),
    ],
)
def test_model_messages_whole(changes: dict[str, Any], messages: list[str]) -> None:
    assert model_messages("example", spec(**changes)) == messages


def test_a_duration_has_at_most_32_characters() -> None:
    longest = "0001h0001m0001s0001ms0001us001ns"
    assert len(longest) == 32
    assert model_messages("example", spec(timeout=longest)) == []
    assert model_messages("example", spec(timeout="0" + longest)) == [
        "spec.timeout: a duration has at most 32 characters"
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2s", 2.0), ("250ms", 0.25), ("1m30s", 90.0), ("1h", 3600.0), ("1.5us", 1.5e-6)],
)
def test_duration_seconds(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


def test_cel_rule_entries() -> None:
    assert cel("self.a <= self.b", "spec.a: at most b", ".a") == {
        "rule": "self.a <= self.b",
        "message": "spec.a: at most b",
        "fieldPath": ".a",
    }
    assert cel("self.a > 0", "spec.a: positive") == {
        "rule": "self.a > 0",
        "message": "spec.a: positive",
    }


def test_every_crd_rule_has_an_invalid_example() -> None:
    """Each CEL rule's message is the expected text of some row, so both sides are checked on it."""
    expected = {case.expected for case in INVALID_ROUTERS}
    assert cel_messages() - expected == set()


def test_committed_crd_is_what_the_models_generate() -> None:
    assert CRD_FILE.read_text(encoding="utf-8") == crd_yaml(), (
        f"{CRD_FILE} differs from the models: run `make crds` and commit the result"
    )
    assert yaml.safe_load(CRD_FILE.read_text(encoding="utf-8")) == build_crd()


def test_schema_is_structural() -> None:
    for path, node in schema_nodes(router_schema()):
        assert not {"$ref", "$defs", "anyOf", "oneOf", "allOf", "title", "const"} & node.keys(), (
            path
        )
        assert "additionalProperties" not in node, path
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields") is True, path
        assert node.get("default", "absent") is not None, path
        if node.get("type") == "object" and "properties" not in node:
            assert path == ".metadata", path


def test_free_form_engine_config_is_kept_as_written() -> None:
    config = router_schema()["properties"]["spec"]["properties"]["experimentEngine"]["properties"][
        "config"
    ]
    assert config["x-kubernetes-preserve-unknown-fields"] is True
    assert "type" not in config  # any JSON value, as pydantic's JsonValue
    assert "free-form" in config["description"]


def test_every_spec_list_is_bounded_for_cel_cost() -> None:
    spec_schema = router_schema()["properties"]["spec"]
    for path, node in schema_nodes(spec_schema, "spec"):
        if node.get("type") == "array":
            assert "maxItems" in node, path


def test_bounds_are_the_same_in_the_models() -> None:
    too_many_mappings = [
        {"experiment": "exp", "treatment": f"t{index}", "route": "a"} for index in range(501)
    ]
    messages = model_messages(
        "example",
        spec(experimentEngine={"type": "x"}, experimentMappings=too_many_mappings),
    )
    assert any(message.startswith("spec.experimentMappings: ") for message in messages), messages


def test_names_printer_columns_and_subresources() -> None:
    version = build_crd()["spec"]["versions"][0]
    names = build_crd()["spec"]["names"]
    assert names["shortNames"] == ["rt"] and names["categories"] == ["turnout"]
    assert version["subresources"] == {"status": {}}
    columns = {column["name"]: column for column in version["additionalPrinterColumns"]}
    assert {name: column["jsonPath"] for name, column in columns.items()} == {
        "Phase": ".status.phase",
        "Version": ".status.deployedVersion",
        "Engine": ".spec.experimentEngine.type",
        "Endpoint": ".status.endpoint",
        "Age": ".metadata.creationTimestamp",
        "Current": ".status.currentVersion",
        "Replicas": ".status.replicas",
        "Message": ".status.message",
    }
    wide_only = {name for name, column in columns.items() if column.get("priority") == 1}
    assert wide_only == {"Current", "Replicas", "Message"}
