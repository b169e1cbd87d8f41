"""Traffic rules: which routes a request may take, from its headers and JSON payload.

Turing's traffic rules, with its one operator, `in`: a rule applies when every
condition holds; the first rule that applies names the routes the request may
take; a request that matches none gets the default rule's routes (or, without a
default rule, only the fallback route). With no rules at all every route is
allowed. The treatment then picks one of the allowed routes (`selection`).

Header conditions read the header's first value, as Go's `http.Header.Get` does
in Turing; payload conditions read a dot path into the JSON body and compare
strings as they are and numbers and booleans as their JSON text, so
`customer.tier in ["1"]` matches both `"1"` and `1`.

The config is compiled once at start: lookups are frozensets and split paths.

Pure: no sockets, event loop or environment (held by an import contract).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from turnout_router.config import FieldSource, RoutingRules

DEFAULT_RULE: Final = "default"
"""The rule name in metrics and headers when no rule applied."""
NO_RULES: Final = "none"
"""The rule name when the router has no traffic rules."""


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """The rule that applied and the routes it allows (None: every route)."""

    name: str
    routes: frozenset[str] | None


def payload_field(payload: Any, path: tuple[str, ...]) -> str | None:
    """The value at a split dot path as text, or None when absent or not a scalar."""
    value = payload
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return None


@dataclass(frozen=True, slots=True)
class _Condition:
    from_header: bool
    header: str
    path: tuple[str, ...]
    values: frozenset[str]

    def holds(self, headers: Mapping[str, str], payload: Any) -> bool:
        if self.from_header:
            value: str | None = headers.get(self.header)
        else:
            value = payload_field(payload, self.path)
        return value is not None and value in self.values


@dataclass(frozen=True, slots=True)
class _Rule:
    match: RuleMatch
    conditions: tuple[_Condition, ...]


class TrafficRules:
    """The compiled traffic rules of one router config."""

    __slots__ = ("_default", "_rules", "needs_payload")

    def __init__(self, config: RoutingRules) -> None:
        self._rules = tuple(
            _Rule(
                RuleMatch(rule.name, frozenset(rule.routes)),
                tuple(
                    _Condition(
                        from_header=condition.field_source is FieldSource.HEADER,
                        header=condition.field.lower(),
                        path=tuple(condition.field.split(".")),
                        values=frozenset(condition.values),
                    )
                    for condition in rule.conditions
                ),
            )
            for rule in config.traffic_rules
        )
        if not self._rules:
            self._default = RuleMatch(NO_RULES, None)
        elif config.default_traffic_rule is not None:
            self._default = RuleMatch(DEFAULT_RULE, frozenset(config.default_traffic_rule.routes))
        else:
            self._default = RuleMatch(DEFAULT_RULE, frozenset({config.fallback_route}))
        self.needs_payload = any(
            not condition.from_header for rule in self._rules for condition in rule.conditions
        )
        """Whether any condition reads the JSON body."""

    def match(self, headers: Mapping[str, str], payload: Any) -> RuleMatch:
        """The first rule whose conditions all hold, or the default.

        `headers` maps lower-case names to the first value; `payload` is the parsed body.
        """
        for rule in self._rules:
            if all(condition.holds(headers, payload) for condition in rule.conditions):
                return rule.match
        return self._default
