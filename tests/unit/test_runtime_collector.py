"""The operator's scrape-time series: per-Router readiness and phase, engines up.

Read back through prometheus-client's own text format and parser, as Prometheus reads them.
"""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from turnout_operator.telemetry.metrics import RouterStanding, RuntimeCollector

pytestmark = pytest.mark.unit


def scrape(collector: RuntimeCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_each_router_is_one_ready_and_one_phase_series_labelled_by_namespace_and_name() -> None:
    series = scrape(
        RuntimeCollector(
            lambda: [
                RouterStanding("shop", "a", "Deployed", True),
                RouterStanding("shop", "b", "Failed", True),  # an earlier version serves
                RouterStanding("ads", "a", "Pending", False),
            ],
            dict,
        )
    )
    ready = {k[1]: v for k, v in series.items() if k[0] == "turnout_router_ready"}
    assert ready == {
        (("namespace", "ads"), ("router", "a")): 0.0,
        (("namespace", "shop"), ("router", "a")): 1.0,
        (("namespace", "shop"), ("router", "b")): 1.0,
    }
    phase = {k[1]: v for k, v in series.items() if k[0] == "turnout_router_phase"}
    assert phase == {
        (("namespace", "ads"), ("phase", "Pending"), ("router", "a")): 1.0,
        (("namespace", "shop"), ("phase", "Deployed"), ("router", "a")): 1.0,
        (("namespace", "shop"), ("phase", "Failed"), ("router", "b")): 1.0,
    }
    by_phase = {k[1]: v for k, v in series.items() if k[0] == "turnout_routers"}
    assert by_phase == {
        (("phase", "Deployed"),): 1.0,
        (("phase", "Failed"),): 1.0,
        (("phase", "Pending"),): 1.0,
    }


def test_engines_up_and_restarts_are_read_at_scrape_time() -> None:
    up = {"hardcoded": True, "turing": False}
    collector = RuntimeCollector(list, lambda: {"hardcoded": 2}, engines_up=lambda: up)
    series = scrape(collector)
    assert series[("turnout_engine_up", (("engine", "hardcoded"),))] == 1.0
    assert series[("turnout_engine_up", (("engine", "turing"),))] == 0.0
    assert series[("turnout_plugin_restarts_total", (("engine", "hardcoded"),))] == 2.0
    up["turing"] = True
    assert scrape(collector)[("turnout_engine_up", (("engine", "turing"),))] == 1.0


def test_no_routers_no_per_router_series() -> None:
    series = scrape(RuntimeCollector(list, dict))
    assert not [k for k in series if k[0] in {"turnout_router_ready", "turnout_router_phase"}]
