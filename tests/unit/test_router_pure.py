"""The router's pure modules: request ids, traffic rules, route selection, framing, config file."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from plugin_host import IncRequest, Metric, RecordGaugeRequest
from turnout_router import http11
from turnout_router.config import RouterConfig, dump_router_config
from turnout_router.configfile import ConfigFileError, parse_router_config
from turnout_router.metrics import PluginMetrics
from turnout_router.requestid import RequestIds
from turnout_router.rules import DEFAULT_RULE, NO_RULES, RuleMatch, TrafficRules, payload_field
from turnout_router.selection import Reason, RouteSelector, route_at_path

pytestmark = pytest.mark.unit


def config(**fields: Any) -> RouterConfig:
    base: dict[str, Any] = {
        "routes": [
            {"id": "control", "endpoint": "http://a:8080/predict"},
            {"id": "treatment-1", "endpoint": "http://b:8080/predict"},
            {"id": "route-a", "endpoint": "http://c:8080/predict"},
        ],
        "fallbackRoute": "control",
        "router": "ns/r",
        "version": 1,
    }
    return RouterConfig.model_validate({**base, **fields})


# ----- request ids -----


def test_a_given_request_id_is_kept() -> None:
    assert RequestIds("p").take_or_mint(b"abc-123") == "abc-123"
    assert RequestIds("p").take_or_mint(b"  abc  ") == "abc"


@pytest.mark.parametrize(
    "given", [None, b"", b"a\r\nX-Injected: 1", b"caf\xc3\xa9", b"x" * 129, b"a b"]
)
def test_a_missing_or_unfit_request_id_is_replaced(given: bytes | None) -> None:
    assert RequestIds("p").take_or_mint(given) == "p-1"


def test_minted_ids_are_unique_and_carry_a_random_prefix() -> None:
    ids = RequestIds()
    minted = {ids.mint() for _ in range(1000)}
    assert len(minted) == 1000
    assert RequestIds().mint() != RequestIds().mint()  # different processes, different prefixes


# ----- traffic rules -----

RULES: list[dict[str, Any]] = [
    {
        "name": "id-country",
        "conditions": [{"fieldSource": "header", "field": "X-Country", "values": ["ID", "SG"]}],
        "routes": ["control", "treatment-1"],
    },
    {
        "name": "gold-tier",
        "conditions": [
            {"fieldSource": "payload", "field": "customer.tier", "values": ["gold", "1"]},
            {"fieldSource": "header", "field": "X-Channel", "values": ["app"]},
        ],
        "routes": ["route-a", "control"],
    },
]


def test_header_condition_matches_case_insensitively_on_the_first_value() -> None:
    rules = TrafficRules(config(trafficRules=RULES, defaultTrafficRule={"routes": ["route-a"]}))
    assert rules.match({"x-country": "SG"}, {}).name == "id-country"
    assert rules.match({"x-country": "sg"}, {}).name == DEFAULT_RULE  # values are exact


def test_every_condition_must_hold_and_payload_numbers_compare_as_text() -> None:
    rules = TrafficRules(config(trafficRules=RULES, defaultTrafficRule={"routes": ["route-a"]}))
    gold = {"customer": {"tier": "gold"}}
    assert rules.match({"x-channel": "app"}, gold) == RuleMatch(
        "gold-tier", frozenset({"route-a", "control"})
    )
    assert rules.match({"x-channel": "web"}, gold).name == DEFAULT_RULE
    assert rules.match({"x-channel": "app"}, {"customer": {"tier": 1}}).name == "gold-tier"
    assert rules.match({"x-channel": "app"}, {"customer": "gold"}).name == DEFAULT_RULE
    assert rules.match({"x-channel": "app"}, ["not", "an", "object"]).name == DEFAULT_RULE


def test_the_first_matching_rule_wins() -> None:
    rules = TrafficRules(config(trafficRules=RULES, defaultTrafficRule={"routes": ["route-a"]}))
    both = rules.match({"x-country": "ID", "x-channel": "app"}, {"customer": {"tier": "gold"}})
    assert both.name == "id-country"


def test_default_routes_without_rules_default_rule_or_with_one() -> None:
    assert TrafficRules(config()).match({}, {}) == RuleMatch(NO_RULES, None)
    assert TrafficRules(config(trafficRules=RULES[:1], defaultTrafficRule={"routes": ["route-a", "control"]})).match({}, {}) == RuleMatch(DEFAULT_RULE, frozenset({"route-a", "control"}))  # fmt: skip
    only_rules = config(
        trafficRules=[{**RULES[0], "routes": ["control", "treatment-1", "route-a"]}]
    )
    assert TrafficRules(only_rules).match({}, {}) == RuleMatch(DEFAULT_RULE, frozenset({"control"}))


def test_payload_field_reads_scalars_only() -> None:
    doc = {"a": {"b": "x", "n": 2.5, "t": True, "o": {}, "z": None}}
    assert payload_field(doc, ("a", "b")) == "x"
    assert payload_field(doc, ("a", "n")) == "2.5"
    assert payload_field(doc, ("a", "t")) == "true"
    assert payload_field(doc, ("a", "o")) is None
    assert payload_field(doc, ("a", "z")) is None
    assert payload_field(doc, ("a", "missing")) is None


# ----- route selection -----

ANY = RuleMatch(NO_RULES, None)


def test_route_name_path_reads_a_string_as_jsonparser_getstring_does() -> None:
    assert route_at_path(b'{"route_name": "route-a"}', ("route_name",)) == "route-a"
    assert route_at_path(b'{"policy": {"route": "x"}}', ("policy", "route")) == "x"
    assert route_at_path(b'{"route_name": 3}', ("route_name",)) is None
    assert route_at_path(b'{"route_name": {"a": 1}}', ("route_name",)) is None
    assert route_at_path(b"not json", ("route_name",)) is None
    assert route_at_path(b"", ("route_name",)) is None


def test_treatment_names_the_route() -> None:
    selector = RouteSelector(config(routeNamePath="route_name"))
    choice = selector.choose("exp_1", "t", b'{"route_name": "treatment-1"}', ANY)
    assert (choice.route, choice.reason, choice.fallback) == (
        "treatment-1",
        Reason.TREATMENT,
        False,
    )


@pytest.mark.parametrize(
    ("treatment_config", "reason"),
    [
        (b'{"foo": "bar"}', Reason.MISSING_ROUTE),
        (b'{"route_name": 7}', Reason.MISSING_ROUTE),
        (b"", Reason.MISSING_ROUTE),
        (b'{"route_name": "nowhere"}', Reason.UNKNOWN_ROUTE),
    ],
)
def test_a_treatment_without_a_usable_route_takes_the_fallback(
    treatment_config: bytes, reason: Reason
) -> None:
    choice = RouteSelector(config(routeNamePath="route_name")).choose(
        "e", "t", treatment_config, ANY
    )
    assert (choice.route, choice.reason) == ("control", reason)


def test_the_traffic_rule_limits_the_treatments_route() -> None:
    selector = RouteSelector(config(routeNamePath="route_name"))
    rule = RuleMatch("r", frozenset({"control", "treatment-1"}))
    assert (
        selector.choose("e", "t", b'{"route_name": "route-a"}', rule).reason
        is Reason.ROUTE_NOT_ALLOWED
    )
    assert selector.choose("e", "t", b'{"route_name": "treatment-1"}', rule).route == "treatment-1"


def test_cached_lookups_give_each_config_its_own_route() -> None:
    selector = RouteSelector(config(routeNamePath="route_name"))
    for _ in range(3):
        assert selector.choose("e", "a", b'{"route_name": "route-a"}', ANY).route == "route-a"
        assert (
            selector.choose("e", "b", b'{"route_name": "treatment-1"}', ANY).route == "treatment-1"
        )


def test_experiment_mappings() -> None:
    selector = RouteSelector(
        config(
            experimentMappings=[
                {"experiment": "exp_1", "treatment": "control", "route": "route-a"},
                {"experiment": "exp_1", "treatment": "treatment-1", "route": "treatment-1"},
            ]
        )
    )
    assert selector.choose("exp_1", "control", b"{}", ANY).route == "route-a"
    assert selector.choose("exp_1", "treatment-1", b"{}", ANY).route == "treatment-1"
    assert selector.choose("exp_2", "control", b"{}", ANY).reason is Reason.MISSING_ROUTE


def test_without_route_selection_every_treatment_takes_the_fallback() -> None:
    choice = RouteSelector(config()).choose("e", "t", b'{"route_name": "route-a"}', ANY)
    assert (choice.route, choice.reason) == ("control", Reason.NO_ROUTE_SELECTION)


# ----- HTTP framing -----


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("x-session-id", "X-Session-Id"),
        ("CONTENT-TYPE", "Content-Type"),
        ("turing-req-id", "Turing-Req-Id"),
        ("a", "A"),
        ("bad header", "bad header"),  # Go leaves names with invalid characters alone
    ],
)
def test_header_names_reach_the_plugin_in_gos_canonical_form(name: str, canonical: str) -> None:
    assert http11.canonical_header_key(name) == canonical


def test_upstream_request_drops_hop_by_hop_and_sets_host_length_and_id() -> None:
    endpoint = http11.parse_endpoint("http://model.models:8080/v1/predict?x=1")
    head = http11.upstream_request_head(
        endpoint,
        [
            (b"Connection", b"keep-alive"),
            (b"Host", b"router"),
            (b"Content-Length", b"999"),
            (b"Turing-Req-ID", b"caller"),
            (b"X-Custom", b"kept"),
            (b"Transfer-Encoding", b"chunked"),
        ],
        [(b"Turing-Req-ID", b"rid")],
        12,
    )
    assert head == (
        b"POST /v1/predict?x=1 HTTP/1.1\r\nHost: model.models:8080\r\nContent-Length: 12\r\n"
        b"X-Custom: kept\r\nTuring-Req-ID: rid\r\n\r\n"
    )


def test_endpoints() -> None:
    assert http11.parse_endpoint("http://a/").host_header == b"a"
    assert http11.parse_endpoint("https://a").port == 443
    assert http11.parse_endpoint("http://[::1]:81/p").host_header == b"[::1]:81"
    with pytest.raises(ValueError):
        http11.parse_endpoint("ftp://a/")


def test_response_framing_and_header_values_from_the_plugin() -> None:
    out = http11.response(
        201,
        [
            (b"Content-Length", b"1"),
            (b"Keep-Alive", b"5"),
            (b"X-A", b"b"),
            (b"Turing-Req-ID", b"up"),
        ],
        b"{}",
        [(b"Turnout-Experiment", http11.header_safe("exp\r\nSet-Cookie: x"))],
    )
    assert out == (
        b"HTTP/1.1 201 Created\r\nX-A: b\r\nTurnout-Experiment: exp??Set-Cookie: x\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )
    assert http11.status_line(599) == b"HTTP/1.1 599 Unknown\r\n"


def test_error_bodies_are_json() -> None:
    response = http11.error_response(413, "too big", route="x")
    head, body = response.split(b"\r\n\r\n", 1)
    assert head.startswith(
        b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: application/json"
    )
    assert json.loads(body) == {"error": {"code": 413, "message": "too big", "route": "x"}}


# ----- the config file -----


def test_the_operators_file_is_read_back_equal() -> None:
    original = config(routeNamePath="route_name")
    text = yaml.safe_dump(dump_router_config(original))
    assert parse_router_config(text, "router.yaml") == original


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("routes: [{id: a, endpoint: 'not a url'}]\nfallbackRoute: a\nrouter: n/r\nversion: 1\n", "routes.0.endpoint"),
        ("routes: [{id: a, endpoint: 'http://x'}]\nfallbackRoute: b\nrouter: n/r\nversion: 1\n", "spec.fallbackRoute"),
        ("routes: [{id: a, endpoint: 'http://x'}]\nfallbackRoute: a\nrouter: n/r\nversion: 1\nserver: {timeout: soon}\n", "server.timeout"),
        ("routes: [{id: a, endpoint: 'http://x'}]\nfallbackRoute: a\nrouter: n/r\n", "version"),
        ("- just\n- a list\n", "mapping"),
        ("routes: [unclosed\n", "not YAML"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_naming_the_field(text: str, named: str) -> None:
    with pytest.raises(ConfigFileError) as refused:
        parse_router_config(text, "/etc/turnout/router.yaml")
    assert named in str(refused.value)
    assert str(refused.value).startswith("/etc/turnout/router.yaml")


def test_engine_budget_and_body_limit_have_defaults() -> None:
    parsed = config(experimentEngine={"name": "e", "pluginBinary": "/p", "runnerConfig": None})
    assert parsed.experiment_engine is not None
    assert parsed.experiment_engine.timeout == "100ms"
    assert parsed.server.max_body_bytes == 1024 * 1024


# ----- the plugin's metrics -----


async def test_plugin_metrics_become_prometheus_metrics() -> None:
    registry = CollectorRegistry()
    metrics = PluginMetrics(registry)
    await metrics.register([Metric("treatments", "counter", "Treatments", ["name"])])
    await metrics.inc(IncRequest("treatments", {"name": "control"}))
    await metrics.inc(IncRequest("treatments", {"wrong": "labels"}))  # dropped, no error
    await metrics.record_gauge(RecordGaugeRequest("cache size", 3.0, None))  # undeclared
    text = generate_latest(registry).decode()
    assert 'turnout_plugin_treatments_total{name="control"} 1.0' in text
    assert "turnout_plugin_cache_size 3.0" in text
