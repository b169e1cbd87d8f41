"""Hypothesis strategies for Router manifests that break exactly one rule each.

Every case starts from the same valid Router and changes one thing, chosen so
that it is invalid by construction (not by asking the models): a duration with
no unit, a route id with a space, a number below its minimum, a reference to a
route that is not there. Each case carries the field its error must name.
"""

from __future__ import annotations

import copy
import string
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

ROUTE_IDS = ("control", "treatment-1")


@dataclass(frozen=True)
class InvalidCase:
    rule: str
    field: str
    """The field path the rejection must name, as the API server writes it."""
    manifest: dict[str, Any]


def base_manifest(name: str = "bad") -> dict[str, Any]:
    return {
        "apiVersion": "turnout.dev/v1alpha1",
        "kind": "Router",
        "metadata": {"name": name},
        "spec": {
            "routes": [
                {"id": "control", "endpoint": "http://control.models:8080/predict"},
                {"id": "treatment-1", "endpoint": "http://t1.models:8080/predict"},
            ],
            "fallbackRoute": "control",
        },
    }


def _case(rule: str, field: str, change: Any) -> InvalidCase:
    manifest = base_manifest()
    change(manifest["spec"], manifest["metadata"])
    return InvalidCase(rule, field, manifest)


# --- invalid values, by construction ---

# Text without a digit can never be a duration, a quantity or a number.
_no_digits = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Nd", "No", "Nl")), min_size=1, max_size=20
)
_bad_durations = st.one_of(
    _no_digits,
    st.integers(min_value=0, max_value=10**6).map(str),  # a number without a unit
    st.sampled_from(["0s", "0ms", "0h0m0s", "-1s", "1 s", "1sec", "5d"]),
)
# A route id must start and end with a letter or digit and hold no space.
_bad_route_ids = st.one_of(
    st.just(""),
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=10).map(lambda t: f"-{t}"),
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=10).map(lambda t: f"{t} {t}"),
    st.text(alphabet=string.ascii_lowercase, min_size=64, max_size=80),
)
_valid_route_ids = st.from_regex(r"\A[a-z][a-z0-9]{0,20}\Z").filter(lambda t: t not in ROUTE_IDS)
_bad_endpoints = st.one_of(
    st.just(""),
    st.text(alphabet=string.ascii_letters + "/:.", min_size=1, max_size=30).filter(
        lambda t: not t.startswith(("http://", "https://"))
    ),
    st.just("http://has space/x"),
    st.just("http://" + "a" * 2100),
)
_bad_engine_names = st.one_of(
    st.just(""),
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=10).map(lambda t: f"X{t}"),
    st.text(alphabet=string.ascii_lowercase, min_size=41, max_size=50),
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=10).map(lambda t: f"{t}_"),
)
_bad_quantities = st.one_of(
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=10),
    st.just("1.5 Gi"),
    st.just(""),
)
_non_integers = st.one_of(
    st.text(max_size=5), st.booleans(), st.floats(0.5, 1e6).filter(lambda f: f != int(f))
)
_rule: dict[str, Any] = {
    "name": "r",
    "conditions": [{"fieldSource": "header", "field": "X-Region", "values": ["eu"]}],
    "routes": ["control"],
}


def _set_route(index: int, key: str, value: Any) -> Any:
    def change(spec: dict[str, Any], _: dict[str, Any]) -> None:
        spec["routes"][index][key] = value

    return change


def _set(key: str, value: Any) -> Any:
    def change(spec: dict[str, Any], _: dict[str, Any]) -> None:
        spec[key] = copy.deepcopy(value)

    return change


def _cases() -> list[st.SearchStrategy[InvalidCase]]:
    index = st.integers(min_value=0, max_value=1)
    return [
        st.builds(
            lambda i, v: _case("route id", f"spec.routes[{i}].id", _set_route(i, "id", v)),
            index,
            _bad_route_ids,
        ),
        st.builds(
            lambda i, v: _case(
                "route endpoint", f"spec.routes[{i}].endpoint", _set_route(i, "endpoint", v)
            ),
            index,
            _bad_endpoints,
        ),
        st.builds(
            lambda i, v: _case(
                "route timeout", f"spec.routes[{i}].timeout", _set_route(i, "timeout", v)
            ),
            index,
            _bad_durations,
        ),
        st.builds(
            lambda v: _case("spec timeout", "spec.timeout", _set("timeout", v)), _bad_durations
        ),
        st.builds(
            lambda v: _case(
                "engine timeout",
                "spec.experimentEngine.timeout",
                _set("experimentEngine", {"type": "nop", "timeout": v}),
            ),
            _bad_durations,
        ),
        st.just(
            _case(
                "duplicate route ids",
                "spec.routes",
                _set_route(1, "id", "control"),
            )
        ),
        st.builds(
            lambda v: _case("fallback unknown", "spec.fallbackRoute", _set("fallbackRoute", v)),
            _valid_route_ids,
        ),
        st.builds(
            lambda v: _case(
                "traffic rule route unknown",
                "spec.trafficRules",
                _set("trafficRules", [{**_rule, "routes": [v]}]),
            ),
            _valid_route_ids,
        ),
        st.builds(
            lambda v: _case(
                "default rule route unknown",
                "spec.defaultTrafficRule",
                _set("defaultTrafficRule", {"routes": [v]}),
            ),
            _valid_route_ids,
        ),
        st.just(
            _case(
                "route in no traffic rule",
                "spec.trafficRules",
                _set("trafficRules", [_rule]),  # treatment-1 is in no rule, nor the fallback
            )
        ),
        st.builds(
            lambda v: _case(
                "traffic rule field source",
                "spec.trafficRules[0].conditions[0].fieldSource",
                _set(
                    "trafficRules",
                    [{**_rule, "conditions": [{**_rule["conditions"][0], "fieldSource": v}]}],
                ),
            ),
            st.text(max_size=10).filter(lambda t: t not in ("header", "payload")),
        ),
        st.builds(
            lambda v: _case(
                "mapping route unknown",
                "spec.experimentMappings",
                _set(
                    "experimentMappings",
                    [{"experiment": "exp_1", "treatment": "control", "route": v}],
                ),
            ),
            _valid_route_ids,
        ),
        st.just(
            _case(
                "routeNamePath and mappings",
                "spec.routeNamePath",
                lambda spec, _: spec.update(
                    routeNamePath="route_name",
                    experimentMappings=[
                        {"experiment": "exp_1", "treatment": "control", "route": "control"}
                    ],
                ),
            )
        ),
        st.builds(
            lambda v: _case(
                "engine without route selection",
                "spec.experimentEngine",
                _set("experimentEngine", {"type": v}),
            ),
            st.from_regex(r"\A[a-z][a-z0-9]{0,15}\Z").filter(lambda t: t != "nop"),
        ),
        st.builds(
            lambda v: _case(
                "engine name", "spec.experimentEngine.type", _set("experimentEngine", {"type": v})
            ),
            _bad_engine_names,
        ),
        st.builds(
            lambda v: _case("replicas below 0", "spec.replicas", _set("replicas", v)),
            st.integers(max_value=-1, min_value=-(2**31)),
        ),
        st.builds(
            lambda v: _case("replicas not an integer", "spec.replicas", _set("replicas", v)),
            _non_integers,
        ),
        st.builds(
            lambda r, m: _case(
                "replicas and autoscaling",
                "spec.replicas",
                lambda spec, _: spec.update(replicas=r, autoscaling={"maxReplicas": m}),
            ),
            st.integers(0, 100),
            st.integers(1, 100),
        ),
        st.builds(
            lambda low, gap: _case(
                "autoscaling bounds",
                "spec.autoscaling",
                _set("autoscaling", {"minReplicas": low + gap, "maxReplicas": low}),
            ),
            st.integers(1, 1000),
            st.integers(1, 1000),
        ),
        st.builds(
            lambda v: _case(
                "autoscaling target",
                "spec.autoscaling.targetCpuUtilizationPercentage",
                _set("autoscaling", {"maxReplicas": 3, "targetCpuUtilizationPercentage": v}),
            ),
            st.one_of(st.integers(max_value=0), st.integers(min_value=101)).filter(
                lambda v: -(2**62) < v < 2**62
            ),
        ),
        st.builds(
            lambda kind, v: _case(
                "resource quantity",
                f"spec.resources.requests.{kind}",
                _set("resources", {"requests": {kind: v}}),
            ),
            st.sampled_from(["cpu", "memory"]),
            _bad_quantities,
        ),
        st.builds(
            lambda n: _case(
                "too many routes",
                "spec.routes",
                lambda spec, _: spec.update(
                    routes=[{"id": f"r{i}", "endpoint": "http://a.b/c"} for i in range(n)],
                    fallbackRoute="r0",
                ),
            ),
            st.integers(101, 120),
        ),
        st.just(_case("no routes", "spec.routes", lambda spec, _: spec.pop("routes"))),
        st.builds(
            lambda v: _case("name too long", "metadata.name", lambda _, meta: meta.update(name=v)),
            st.from_regex(r"\A[a-z][a-z0-9]{40,61}\Z"),
        ),
    ]


invalid_cases: st.SearchStrategy[InvalidCase] = st.one_of(_cases())
"""One invalid Router manifest per draw, with the rule it breaks and the field to name."""
