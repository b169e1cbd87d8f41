"""Which route a request takes, from the treatment the engine assigned.

Two ways to name the route, as in Turing's standard ensembler:

* `routeNamePath`: a dot path into the treatment's config whose value is the
  route id. Turing reads it with jsonparser's `GetString(config, path...)`: the
  value must be a JSON string; a number, an object or an absent key does not
  name a route.
* `experimentMappings`: the (experiment, treatment) pair names the route.

Everything that does not yield a usable route sends the request to the
fallback route, and the `reason` says why (a response header and a metric
label): no engine, an engine error, timeout or outage, a treatment without the
path, a route id that is not a route of this router, or a route the traffic
rule does not allow.

Treatment configs repeat (an experiment has a handful of variants), so the
route found in a config is cached by the config's bytes: the JSON is parsed
once per distinct config, not once per request.

Pure: no sockets, event loop or environment (held by an import contract).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from turnout_router.config import RoutingRules
from turnout_router.rules import RuleMatch


class Reason(StrEnum):
    """Why the request took its route: `treatment`, or why the fallback was used."""

    TREATMENT = "treatment"
    NO_ENGINE = "no-engine"
    ENGINE_ERROR = "engine-error"
    ENGINE_TIMEOUT = "engine-timeout"
    ENGINE_UNAVAILABLE = "engine-unavailable"
    NO_ROUTE_SELECTION = "no-route-selection"
    MISSING_ROUTE = "missing-route"
    UNKNOWN_ROUTE = "unknown-route"
    ROUTE_NOT_ALLOWED = "route-not-allowed"


@dataclass(frozen=True, slots=True)
class Choice:
    """The route a request takes and why."""

    route: str
    reason: Reason

    @property
    def fallback(self) -> bool:
        return self.reason is not Reason.TREATMENT


_CACHE_LIMIT: Final = 4096
"""Distinct treatment configs remembered; a plugin that embeds per-request data in
its configs would otherwise grow the cache without bound."""


def route_at_path(config: bytes, path: tuple[str, ...]) -> str | None:
    """The string at `path` in the JSON document `config`, or None (jsonparser.GetString)."""
    try:
        value: object = json.loads(config)
    except ValueError:
        return None
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value if isinstance(value, str) else None


class RouteSelector:
    """The compiled route selection of one router config."""

    __slots__ = ("_by_config", "_fallback", "_known", "_mappings", "_path")

    def __init__(self, config: RoutingRules) -> None:
        self._fallback = config.fallback_route
        self._known = frozenset(route.id for route in config.routes)
        self._path = (
            tuple(config.route_name_path.split(".")) if config.route_name_path is not None else None
        )
        self._mappings = {
            (mapping.experiment, mapping.treatment): mapping.route
            for mapping in config.experiment_mappings
        }
        self._by_config: dict[bytes, str | None] = {}

    @property
    def fallback_route(self) -> str:
        return self._fallback

    def fallback(self, reason: Reason) -> Choice:
        return Choice(self._fallback, reason)

    def named_route(self, experiment: str, treatment: str, config: bytes) -> str | None:
        """The route id the treatment names, or None when it names none."""
        if self._path is not None:
            try:
                return self._by_config[config]
            except KeyError:
                route = route_at_path(config, self._path)
                if len(self._by_config) >= _CACHE_LIMIT:
                    self._by_config.clear()
                self._by_config[config] = route
                return route
        return self._mappings.get((experiment, treatment))

    def choose(self, experiment: str, treatment: str, config: bytes, rule: RuleMatch) -> Choice:
        """The route for an assigned treatment, within what the traffic rule allows."""
        if self._path is None and not self._mappings:
            return Choice(self._fallback, Reason.NO_ROUTE_SELECTION)
        route = self.named_route(experiment, treatment, config)
        if route is None:
            return Choice(self._fallback, Reason.MISSING_ROUTE)
        if route not in self._known:
            return Choice(self._fallback, Reason.UNKNOWN_ROUTE)
        if rule.routes is not None and route not in rule.routes:
            return Choice(self._fallback, Reason.ROUTE_NOT_ALLOWED)
        return Choice(route, Reason.TREATMENT)
