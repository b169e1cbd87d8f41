"""The router config file: what the operator writes into a ConfigMap and each router pod reads.

One set of models serves both sides, so the file the operator writes is, by
construction, a file the data plane accepts. The route and traffic-rule models
are also the building blocks of the `Router` custom resource's spec
(`turnout_operator.api`): what a user types in the spec is exactly what the
router gets, with no translation layer where the two could drift apart.

Pure: pydantic and the standard library only (held by an import contract), so
the operator, the router and the CRD generator can all import it.

Field names are camelCase on the wire (YAML/JSON), snake_case in Python.
Turing's router reads the same facts from its `fiber.yml`; the mapping is
`default_route_id` → `fallbackRoute`, `route_name_path` → `routeNamePath`,
`experiment_engine_properties.plugin_binary` → `experimentEngine.pluginBinary`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    model_validator,
)
from pydantic.alias_generators import to_camel

CONFIG_FILE_NAME: Final = "router.yaml"

PLUGIN_MOVED_EXIT_CODE: Final = 3
"""The router's exit code when the plugin binary it finds is not the one whose digest its
config names (the plugin image moved): the operator reads it from the container's
terminated state to name the image in the Router's condition."""
"""The key of the router config in its ConfigMap, and the file name in the pod."""

NOP_ENGINE: Final = "nop"
"""The built-in engine: no experiment, every request goes to the fallback route."""

# Go's time.ParseDuration accepts a sequence of decimal numbers with units; a bare
# "0" is the only unit-less value. Kept to what Go accepts so a duration that
# works in Turing works here.
_DURATION_PART = r"([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)"
DURATION_PATTERN: Final = rf"^({_DURATION_PART})+$"
_DURATION_RE: Final = re.compile(_DURATION_PART)
_UNIT_SECONDS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def duration_seconds(text: str) -> float:
    """Seconds in a Go duration string such as ``"1m30s"`` or ``"250ms"``.

    Raises ValueError naming the accepted form when the text is not one.
    """
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(
            f"{text!r} is not a duration: use a number with a unit, "
            "such as 500ms, 2s or 1m30s (units ns, us, ms, s, m, h)"
        )
    return sum(
        float(match.group(1)) * _UNIT_SECONDS[match.group(3)]
        for match in _DURATION_RE.finditer(text)
    )


DURATION_NOT_POSITIVE: Final = "must be a duration longer than zero"

MAX_DURATION_LENGTH: Final = 32
"""Long enough for any sensible duration; a bound keeps the CRD's CEL cost estimate low."""


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, JsonValue]:
    """One CRD validation rule (`x-kubernetes-validations` entry) evaluated by the API server.

    `fieldPath` (relative to the object the rule sits on) makes the API server
    report the error at that field rather than at the object.
    """
    entry: dict[str, JsonValue] = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def _duration(text: str) -> str:
    if len(text) > MAX_DURATION_LENGTH:
        raise ValueError(f"a duration has at most {MAX_DURATION_LENGTH} characters")
    if duration_seconds(text) <= 0:
        raise ValueError(f"{text!r}: {DURATION_NOT_POSITIVE}")
    return text


# The validator checks everything itself, with messages that say what a duration
# looks like; the schema keys say the same to the API server (pydantic would leave
# constraints that follow a validator out of the JSON schema, and would reword
# them if they came first).
Duration = Annotated[
    str,
    AfterValidator(_duration),
    Field(
        description="A duration such as 500ms, 2s or 1m30s (Go's time.ParseDuration form).",
        json_schema_extra={
            "pattern": DURATION_PATTERN,
            "maxLength": MAX_DURATION_LENGTH,
            # The pattern is checked again first: when it fails, the API server has
            # already said so, and duration() would only add a conversion error.
            "x-kubernetes-validations": [
                cel(
                    f"!self.matches(r'{DURATION_PATTERN}') || duration(self) > duration('0s')",
                    DURATION_NOT_POSITIVE,
                )
            ],
        },
    ),
]


# Route ids become label values, metric labels and response headers.
RouteId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
        description="Route id: letters, digits, '-', '_' or '.', at most 63 characters.",
    ),
]


class Model(BaseModel):
    """Base of every config model: camelCase aliases, no unknown fields, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


# Upper bounds on lists and strings. Real routers stay far below them; the API
# server needs them to bound the cost of the CRD's CEL rules (it refuses a CRD
# whose rules could cost too much on an unbounded list), and pydantic enforces
# the same bounds so both sides accept the same specs.
MAX_ROUTES: Final = 100
MAX_TRAFFIC_RULES: Final = 50
MAX_CONDITIONS: Final = 20
MAX_CONDITION_VALUES: Final = 100
MAX_EXPERIMENT_MAPPINGS: Final = 500
MAX_URL_LENGTH: Final = 2048
MAX_TEXT_LENGTH: Final = 253
"""Header names, dot paths, condition values, experiment and treatment names."""


class Route(Model):
    """An upstream the router can send a request to."""

    id: RouteId = Field(description="Unique name of the route within the router.")
    endpoint: str = Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        pattern=r"^https?://[^\s]+$",
        description="Full URL the request is forwarded to, e.g. http://model-a.models:8080/predict.",
    )
    timeout: Duration = Field(
        default="5s",
        description="How long the router waits for this route's response (default 5s).",
    )


class FieldSource(StrEnum):
    """Where a traffic-rule condition reads its field."""

    HEADER = "header"
    PAYLOAD = "payload"


class Condition(Model):
    """One test a request must pass for a traffic rule to apply."""

    field_source: FieldSource = Field(
        description="'header' (an HTTP header name) or 'payload' (a dot path into the JSON body)."
    )
    field: str = Field(
        min_length=1,
        max_length=MAX_TEXT_LENGTH,
        description="Header name, or dot path into the JSON body such as customer.country.",
    )
    operator: Literal["in"] = Field(
        default="in", description="'in': the field's value is one of `values`."
    )
    values: list[Annotated[str, Field(max_length=MAX_TEXT_LENGTH)]] = Field(
        min_length=1,
        max_length=MAX_CONDITION_VALUES,
        description="Values that satisfy the condition.",
    )


class TrafficRule(Model):
    """Requests that pass every condition may only go to these routes."""

    name: str = Field(min_length=1, max_length=63, description="Name of the rule (in metrics).")
    conditions: list[Condition] = Field(
        min_length=1, max_length=MAX_CONDITIONS, description="All must hold for the rule to apply."
    )
    routes: list[RouteId] = Field(
        min_length=1,
        max_length=MAX_ROUTES,
        description="Ids of the routes a matching request may take.",
    )


class DefaultTrafficRule(Model):
    """Routes for requests that match no traffic rule."""

    routes: list[RouteId] = Field(
        min_length=1,
        max_length=MAX_ROUTES,
        description="Ids of the routes a request that matches no rule may take.",
    )


class ExperimentMapping(Model):
    """An experiment's treatment that sends its requests to a route."""

    experiment: str = Field(
        min_length=1, max_length=MAX_TEXT_LENGTH, description="Experiment name in the treatment."
    )
    treatment: str = Field(
        min_length=1, max_length=MAX_TEXT_LENGTH, description="Treatment name in the treatment."
    )
    route: RouteId = Field(description="Id of the route for this treatment.")


# Cross-field rules: each message starts with the field it is about. routing_problems()
# checks them in Python and ROUTING_VALIDATIONS states them in CEL for the CRD; both
# use these constants, so the API server and the operator say the same thing.
ROUTE_IDS_NOT_UNIQUE: Final = "spec.routes: route ids must be unique"
FALLBACK_NOT_A_ROUTE: Final = "spec.fallbackRoute: must be the id of one of spec.routes"
RULE_ROUTE_UNKNOWN: Final = "spec.trafficRules: every route of a rule must be one of spec.routes"
DEFAULT_RULE_ROUTE_UNKNOWN: Final = (
    "spec.defaultTrafficRule: every route must be one of spec.routes"
)
ROUTE_NOT_IN_ANY_RULE: Final = (
    "spec.trafficRules: every route must be in a traffic rule or the default rule"
)
ROUTE_NAME_PATH_AND_MAPPINGS: Final = (
    "spec.routeNamePath: use either routeNamePath or experimentMappings"
)
MAPPING_ROUTE_UNKNOWN: Final = "spec.experimentMappings: every route must be one of spec.routes"

# `self` is the spec. Optional lists may be absent (has()); required ones are always there.
ROUTING_VALIDATIONS: Final[tuple[dict[str, JsonValue], ...]] = (
    cel(
        "self.routes.all(r, self.routes.exists_one(o, o.id == r.id))",
        ROUTE_IDS_NOT_UNIQUE,
        ".routes",
    ),
    cel(
        "self.routes.exists(r, r.id == self.fallbackRoute)",
        FALLBACK_NOT_A_ROUTE,
        ".fallbackRoute",
    ),
    # sets.contains, not t.routes.all(id, self.routes.exists(...)): the API server
    # estimates the nested loops at 1.7 times its cost limit at the maximum sizes
    # (50 rules of 100 routes against 100 routes) and refuses the CRD. (cel.bind,
    # to list the ids once, is not in the CRD rules' CEL environment.)
    cel(
        "!has(self.trafficRules) || self.trafficRules.all(t, "
        "sets.contains(self.routes.map(r, r.id), t.routes))",
        RULE_ROUTE_UNKNOWN,
        ".trafficRules",
    ),
    cel(
        "!has(self.defaultTrafficRule) || "
        "self.defaultTrafficRule.routes.all(id, self.routes.exists(r, r.id == id))",
        DEFAULT_RULE_ROUTE_UNKNOWN,
        ".defaultTrafficRule",
    ),
    # Without a default rule, a request that matches no rule goes to the fallback
    # route, so the fallback route counts as covered.
    cel(
        "!has(self.trafficRules) || size(self.trafficRules) == 0 || self.routes.all(r, "
        "self.trafficRules.exists(t, r.id in t.routes) || "
        "(has(self.defaultTrafficRule) ? r.id in self.defaultTrafficRule.routes "
        ": r.id == self.fallbackRoute))",
        ROUTE_NOT_IN_ANY_RULE,
        ".trafficRules",
    ),
    cel(
        "!has(self.routeNamePath) || !has(self.experimentMappings) "
        "|| size(self.experimentMappings) == 0",
        ROUTE_NAME_PATH_AND_MAPPINGS,
        ".routeNamePath",
    ),
    cel(
        "!has(self.experimentMappings) || "
        "self.experimentMappings.all(m, self.routes.exists(r, r.id == m.route))",
        MAPPING_ROUTE_UNKNOWN,
        ".experimentMappings",
    ),
)


class RoutingRules(Model):
    """Routes and how one is picked: shared by the Router spec and the router config file.

    The cross-field rules here are also CRD validation rules (ROUTING_VALIDATIONS),
    so the API server refuses a bad Router at `kubectl apply` time with the same
    field named.
    """

    routes: list[Route] = Field(
        min_length=1, max_length=MAX_ROUTES, description="The upstreams this router can use."
    )
    fallback_route: RouteId = Field(
        description=(
            "Id of the route used when no experiment decides: engine nop, an engine error or "
            "timeout, or a treatment that names no known route. Turing calls it default_route_id."
        )
    )
    traffic_rules: list[TrafficRule] = Field(
        default_factory=list,
        max_length=MAX_TRAFFIC_RULES,
        description=(
            "Optional rules that restrict which routes a request may take. When there are "
            "rules, every route must be in one of them or in defaultTrafficRule."
        ),
    )
    default_traffic_rule: DefaultTrafficRule | None = Field(
        default=None,
        description="Routes for requests matching no traffic rule (default: the fallback route).",
    )
    route_name_path: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TEXT_LENGTH,
        description=(
            "Dot path into the treatment's config whose value is the route id, e.g. "
            "route_name or policy.route. Exclusive with experimentMappings."
        ),
    )
    experiment_mappings: list[ExperimentMapping] = Field(
        default_factory=list,
        max_length=MAX_EXPERIMENT_MAPPINGS,
        description=(
            "Experiment/treatment pairs and the route each sends requests to. "
            "Exclusive with routeNamePath."
        ),
    )

    @model_validator(mode="after")
    def _routes_are_consistent(self) -> RoutingRules:
        for problem in routing_problems(self):
            raise ValueError(problem)
        return self


def routing_problems(rules: RoutingRules) -> list[str]:
    """Every cross-field problem, each message starting with the field it is about.

    The same rules exist as CEL expressions in the CRD (ROUTING_VALIDATIONS), with
    the same messages.
    """
    problems: list[str] = []
    ids = [route.id for route in rules.routes]
    known = set(ids)
    if len(known) != len(ids):
        problems.append(ROUTE_IDS_NOT_UNIQUE)
    if rules.fallback_route not in known:
        problems.append(FALLBACK_NOT_A_ROUTE)
    if any(not set(rule.routes) <= known for rule in rules.traffic_rules):
        problems.append(RULE_ROUTE_UNKNOWN)
    if (
        rules.default_traffic_rule is not None
        and not set(rules.default_traffic_rule.routes) <= known
    ):
        problems.append(DEFAULT_RULE_ROUTE_UNKNOWN)
    if rules.traffic_rules:
        covered = {route for rule in rules.traffic_rules for route in rule.routes}
        if rules.default_traffic_rule is not None:
            covered |= set(rules.default_traffic_rule.routes)
        else:
            covered.add(rules.fallback_route)
        if not known <= covered:
            problems.append(ROUTE_NOT_IN_ANY_RULE)
    if rules.route_name_path is not None and rules.experiment_mappings:
        problems.append(ROUTE_NAME_PATH_AND_MAPPINGS)
    if any(mapping.route not in known for mapping in rules.experiment_mappings):
        problems.append(MAPPING_ROUTE_UNKNOWN)
    return problems


class EngineRuntime(Model):
    """The experiment engine as a router pod runs it: where the plugin is and its config."""

    name: str = Field(min_length=1, description="Engine name from the operator's engines file.")
    plugin_binary: str = Field(min_length=1, description="Path of the plugin executable.")
    liveness_period_seconds: float = Field(
        default=10.0, gt=0, description="Seconds between plugin health checks."
    )
    runner_config: JsonValue = Field(
        description="What the engine's manager returned; handed to the runner's Configure."
    )
    timeout: Duration = Field(
        default="100ms",
        description=(
            "Time budget of one GetTreatmentForRequest call; past it the request takes the "
            "fallback route. Turing has none: a slow engine there eats the whole router timeout."
        ),
    )
    plugin_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description=(
            "SHA-256 (hex) of the plugin binary the operator validated this version with. The "
            "router starts only a binary with this digest; with another it exits with "
            "PLUGIN_MOVED_EXIT_CODE, naming both digests, and the pod never becomes ready. "
            "Omitted from the file when unknown (versions recorded before it existed)."
        ),
    )


class ServerConfig(Model):
    """How the router serves."""

    port: int = Field(default=8080, ge=1, le=65535)
    path: str = Field(default="/v1/predict", pattern=r"^/")
    timeout: Duration = Field(
        default="10s", description="Upper bound on a whole request through the router."
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1,
        description="Largest request body accepted; a larger one is answered 413 (default 1 MiB).",
    )


class RouterConfig(RoutingRules):
    """The whole router config file (`router.yaml` in the ConfigMap)."""

    router: str = Field(min_length=1, description="namespace/name of the Router.")
    version: int = Field(ge=1, description="Router version this config belongs to.")
    experiment_engine: EngineRuntime | None = Field(
        default=None, description="The engine, or none for nop (fallback route always)."
    )
    server: ServerConfig = Field(default_factory=ServerConfig)


def load_router_config(data: Any) -> RouterConfig:
    """Validate a parsed router config file (YAML or JSON); errors name the field."""
    return RouterConfig.model_validate(data)


def dump_router_config(config: RouterConfig) -> dict[str, Any]:
    """The wire form: camelCase keys, defaults included so the file says everything.

    Fields added later that are unset are left out, so a version recorded before
    them keeps its file byte for byte (its ConfigMap is immutable).
    """
    document = config.model_dump(mode="json", by_alias=True)
    engine = document.get("experimentEngine")
    if isinstance(engine, dict) and engine.get("pluginSha256") is None:
        del engine["pluginSha256"]
    return document
