"""Router examples, valid and invalid, that the models and the API server must judge alike.

One table feeds a unit test (pydantic models) and a cluster test (`kubectl apply`
against the real API server with the generated CRD): if the CRD's schema or CEL
rules drift from the models, one of the two fails for the same row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from turnout_operator.api.router import (
    AUTOSCALING_BOUNDS,
    ENGINE_WITHOUT_ROUTE_SELECTION,
    NAME_NOT_DNS_LABEL,
    NAME_TOO_LONG,
    REPLICAS_AND_AUTOSCALING,
)
from turnout_router.config import (
    DEFAULT_RULE_ROUTE_UNKNOWN,
    DURATION_NOT_POSITIVE,
    FALLBACK_NOT_A_ROUTE,
    MAPPING_ROUTE_UNKNOWN,
    ROUTE_IDS_NOT_UNIQUE,
    ROUTE_NAME_PATH_AND_MAPPINGS,
    ROUTE_NOT_IN_ANY_RULE,
    RULE_ROUTE_UNKNOWN,
)

DEFAULT_NAME = "example"


def route(route_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": route_id, "endpoint": f"http://{route_id}.models:8080/predict", **extra}


def spec(**changes: Any) -> dict[str, Any]:
    """A valid spec (routes a and b, fallback a) with fields changed; None removes a field."""
    base: dict[str, Any] = {"routes": [route("a"), route("b")], "fallbackRoute": "a"}
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def rule(*routes: str, name: str = "country") -> dict[str, Any]:
    return {
        "name": name,
        "conditions": [{"fieldSource": "header", "field": "X-Country", "values": ["id", "sg"]}],
        "routes": list(routes),
    }


MAPPINGS = [
    {"experiment": "exp", "treatment": "control", "route": "a"},
    {"experiment": "exp", "treatment": "treatment-1", "route": "b"},
]
ENGINE = {"type": "hardcoded", "config": {"experiments": ["exp"]}}


@dataclass(frozen=True)
class InvalidRouter:
    id: str
    spec: dict[str, Any]
    expected: str
    """Text both the models' and the API server's error contain: the field, or the whole rule message."""
    name: str = DEFAULT_NAME


@dataclass(frozen=True)
class ValidRouter:
    id: str
    spec: dict[str, Any]
    name: str = DEFAULT_NAME


INVALID_ROUTERS: list[InvalidRouter] = [
    InvalidRouter("missing-routes", spec(routes=None), "spec.routes"),
    InvalidRouter("empty-routes", spec(routes=[]), "spec.routes"),
    InvalidRouter(
        "too-many-routes",
        spec(routes=[route(f"r{index}") for index in range(101)], fallbackRoute="r0"),
        "spec.routes",
    ),
    InvalidRouter("missing-fallback", spec(fallbackRoute=None), "spec.fallbackRoute"),
    InvalidRouter(
        "endpoint-not-http",
        spec(routes=[route("a", endpoint="ftp://a.models/predict")]),
        "spec.routes[0].endpoint",
    ),
    InvalidRouter(
        "endpoint-with-space",
        spec(routes=[route("a"), route("b", endpoint="http://b models/predict")]),
        "spec.routes[1].endpoint",
    ),
    InvalidRouter("route-id-bad", spec(routes=[route("a"), route("b c")]), "spec.routes[1].id"),
    InvalidRouter(
        "duplicate-route-ids", spec(routes=[route("a"), route("a")]), ROUTE_IDS_NOT_UNIQUE
    ),
    InvalidRouter("fallback-not-a-route", spec(fallbackRoute="c"), FALLBACK_NOT_A_ROUTE),
    InvalidRouter(
        "rule-route-unknown", spec(trafficRules=[rule("a", "b", "c")]), RULE_ROUTE_UNKNOWN
    ),
    InvalidRouter(
        "route-in-no-rule-with-default-rule",
        spec(trafficRules=[rule("a")], defaultTrafficRule={"routes": ["a"]}),
        ROUTE_NOT_IN_ANY_RULE,
    ),
    # Without a default rule the fallback route (a) is covered, but b is not.
    InvalidRouter(
        "route-in-no-rule-without-default-rule",
        spec(routes=[route("a"), route("b"), route("c")], trafficRules=[rule("c")]),
        ROUTE_NOT_IN_ANY_RULE,
    ),
    InvalidRouter(
        "default-rule-route-unknown",
        spec(defaultTrafficRule={"routes": ["a", "z"]}),
        DEFAULT_RULE_ROUTE_UNKNOWN,
    ),
    InvalidRouter(
        "rule-without-conditions",
        spec(trafficRules=[{**rule("a", "b"), "conditions": []}]),
        "spec.trafficRules[0].conditions",
    ),
    InvalidRouter(
        "condition-field-source-unknown",
        spec(
            trafficRules=[
                {
                    **rule("a", "b"),
                    "conditions": [{"fieldSource": "cookie", "field": "x", "values": ["1"]}],
                }
            ]
        ),
        "spec.trafficRules[0].conditions[0].fieldSource",
    ),
    InvalidRouter(
        "mapping-route-unknown",
        spec(
            experimentEngine=ENGINE,
            experimentMappings=[{"experiment": "exp", "treatment": "t", "route": "nowhere"}],
        ),
        MAPPING_ROUTE_UNKNOWN,
    ),
    InvalidRouter(
        "route-name-path-and-mappings",
        spec(experimentEngine=ENGINE, routeNamePath="route_name", experimentMappings=MAPPINGS),
        ROUTE_NAME_PATH_AND_MAPPINGS,
    ),
    InvalidRouter(
        "engine-without-route-selection",
        spec(experimentEngine=ENGINE),
        ENGINE_WITHOUT_ROUTE_SELECTION,
    ),
    InvalidRouter(
        "engine-name-not-a-label",
        spec(experimentEngine={"type": "Hard_Coded"}, routeNamePath="route_name"),
        "spec.experimentEngine.type",
    ),
    InvalidRouter(
        "replicas-and-autoscaling",
        spec(replicas=2, autoscaling={"maxReplicas": 4}),
        REPLICAS_AND_AUTOSCALING,
    ),
    InvalidRouter(
        "min-replicas-above-max",
        spec(autoscaling={"minReplicas": 5, "maxReplicas": 4}),
        AUTOSCALING_BOUNDS,
    ),
    InvalidRouter(
        "autoscaling-without-max",
        spec(autoscaling={"minReplicas": 2}),
        "spec.autoscaling.maxReplicas",
    ),
    InvalidRouter(
        "memory-not-a-quantity",
        spec(resources={"limits": {"memory": "lots"}}),
        "spec.resources.limits.memory",
    ),
    InvalidRouter("negative-replicas", spec(replicas=-1), "spec.replicas"),
    InvalidRouter("duration-in-words", spec(timeout="5 seconds"), "spec.timeout"),
    InvalidRouter("duration-without-unit", spec(timeout="10"), "spec.timeout"),
    InvalidRouter(
        "route-duration-without-unit",
        spec(routes=[route("a", timeout="10"), route("b")]),
        "spec.routes[0].timeout",
    ),
    InvalidRouter("duration-zero", spec(timeout="0s"), DURATION_NOT_POSITIVE),
    InvalidRouter(
        "engine-timeout-without-unit",
        spec(experimentEngine={"type": "nop", "timeout": "100"}),
        "spec.experimentEngine.timeout",
    ),
    InvalidRouter("unknown-field", spec(colour="blue"), "spec.colour"),
    InvalidRouter("name-too-long", spec(), NAME_TOO_LONG, name="r" * 41),
    InvalidRouter("name-starts-with-digit", spec(), NAME_NOT_DNS_LABEL, name="1router"),
    InvalidRouter("name-with-dot", spec(), NAME_NOT_DNS_LABEL, name="my.router"),
]


def _large_config() -> dict[str, Any]:
    """A free-form experiment config with nesting, arrays, every JSON type and odd keys."""
    return {
        "client": {"id": "1", "username": "turing", "passkey": "not-a-secret"},
        "experiments": [
            {
                "name": f"exp-{index}",
                "variants": [
                    {"name": "control", "weight": 0.5},
                    {"name": "treatment", "weight": 0.5},
                ],
                "segments": {"country": ["id", "sg", "th"], "platform": {"os": ["android", "ios"]}},
                "enabled": index % 2 == 0,
                "owner": None,
                "start": "2026-01-01T00:00:00Z",
            }
            for index in range(40)
        ],
        "variables": {"experiment_variables": {"exp-0": [{"name": "x", "required": True}]}},
        "empty": {},
        "nothing": [],
        "numbers": [0, -1, 2**53, 1.5, 1e-9],
        "sparse": [1, None, {"inner": None}],
        "keys with spaces and.dots": {"UPPER": "case", "ünïcode": "✓"},
    }


LARGE_CONFIG = _large_config()


def without_null_members(value: Any) -> Any:
    """The value with every object member whose value is null removed (list items stay).

    Client-side `kubectl apply` reads a null member as "delete this field", so such
    members never reach the API server; server-side apply and create keep them.
    """
    if isinstance(value, dict):
        return {key: without_null_members(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_null_members(item) for item in value]
    return value


VALID_ROUTERS: list[ValidRouter] = [
    ValidRouter("minimal", spec()),
    ValidRouter("one-route", spec(routes=[route("a")])),
    ValidRouter("longest-name", spec(), name="r" * 40),
    ValidRouter(
        "everything",
        spec(
            routes=[route("a", timeout="250ms"), route("b", timeout="1m30s"), route("c")],
            trafficRules=[rule("a", "b"), rule("c", name="mobile")],
            defaultTrafficRule={"routes": ["a"]},
            experimentEngine={"type": "hardcoded", "config": {"treatment": "a"}},
            routeNamePath="policy.route",
            autoscaling={"minReplicas": 2, "maxReplicas": 5, "targetCpuUtilizationPercentage": 60},
            resources={"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
            timeout="1.5s",
            suspend=True,
        ),
    ),
    # No default rule: the fallback route counts as covered.
    ValidRouter("rules-cover-all-but-fallback", spec(trafficRules=[rule("b")])),
    ValidRouter(
        "default-rule-lists-every-route",
        spec(trafficRules=[rule("a", "b")], defaultTrafficRule={"routes": ["a", "b"]}),
    ),
    ValidRouter("mappings", spec(experimentEngine=ENGINE, experimentMappings=MAPPINGS)),
    ValidRouter(
        "large-free-form-config",
        spec(
            experimentEngine={"type": "hardcoded", "config": LARGE_CONFIG},
            routeNamePath="route_name",
        ),
    ),
    ValidRouter("zero-replicas", spec(replicas=0)),
]
