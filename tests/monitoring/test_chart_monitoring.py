"""The chart's ServiceMonitor, PodMonitor and dashboards as `helm template` renders them.

The selectors are checked against the objects they must select, built by the same code
that makes them in a cluster: the chart's own Service, and a router Deployment from the
operator's builders. Whether the API server accepts them is
tests/monitoring/test_monitoring_api.py's job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.monitoring.chart_objects import (
    BASE,
    NAMESPACE,
    dashboard_queries,
    dashboards,
    merged,
    render_monitoring,
)
from tests.substrate.chart import render, template
from turnout_operator.api.router import RouterSpec
from turnout_operator.builders import BuildSettings, RouterIdentity, build_deployment
from turnout_operator.builders.objects import METRICS_PATH, METRICS_PORT_NAME
from turnout_operator.builders.router_config import build_router_config

pytestmark = pytest.mark.packaging

MONITORING_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


def router_pod_template() -> dict[str, Any]:
    identity = RouterIdentity(namespace="shop", name="checkout", uid="u-1")
    spec = RouterSpec.model_validate(
        {"routes": [{"id": "a", "endpoint": "http://a.shop:8080/"}], "fallbackRoute": "a"}
    )
    settings = BuildSettings(router_image="turnout:test")
    config = build_router_config(identity, spec, 3, None, None, settings)
    template: dict[str, Any] = build_deployment(identity, spec, config, None, settings)["spec"][
        "template"
    ]
    return template


def kinds(rendered_objects: list[dict[str, Any]]) -> set[str]:
    return {obj["kind"] for obj in rendered_objects}


def test_nothing_monitoring_is_rendered_by_default(tmp_path: Path) -> None:
    rendered = render(BASE, tmp_path)
    assert not kinds(rendered.objects) & MONITORING_KINDS
    assert not dashboards(rendered)


def test_enabled_objects_need_the_api_or_render_without_api(tmp_path: Path) -> None:
    enabled = {
        "metrics": {
            "serviceMonitor": {"enabled": True},
            "podMonitor": {"enabled": True},
            "prometheusRule": {"enabled": True},
        }
    }
    values = merged(BASE, enabled)
    without_api = template(values, tmp_path / "a")
    assert without_api.returncode == 0, without_api.stderr
    assert "monitoring.coreos.com" not in without_api.stdout
    # helm template's --api-versions plays an API server that serves these kinds.
    only_servicemonitors = render(
        values, tmp_path / "b", extra=["--api-versions", "monitoring.coreos.com/v1/ServiceMonitor"]
    )
    assert kinds(only_servicemonitors.objects) & MONITORING_KINDS == {"ServiceMonitor"}
    all_kinds = [
        arg
        for kind in sorted(MONITORING_KINDS)
        for arg in ("--api-versions", f"monitoring.coreos.com/v1/{kind}")
    ]
    assert kinds(render(values, tmp_path / "c", extra=all_kinds).objects) >= MONITORING_KINDS
    forced = render(merged(values, {"metrics": {"renderWithoutApi": True}}), tmp_path / "d")
    assert kinds(forced.objects) >= MONITORING_KINDS


def test_the_servicemonitor_selects_the_charts_service_by_its_metrics_port(tmp_path: Path) -> None:
    rendered = render_monitoring(
        tmp_path,
        {
            "metrics": {
                "serviceMonitor": {
                    "interval": "15s",
                    "scrapeTimeout": "10s",
                    "labels": {"release": "prometheus"},
                    "relabelings": [{"targetLabel": "cluster", "replacement": "eu-1"}],
                }
            }
        },
    )
    monitor = rendered.one("ServiceMonitor")
    service = rendered.one("Service")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["port"] == "metrics"
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("15s", "10s")
    assert endpoint["honorLabels"] is True
    assert endpoint["relabelings"] == [{"targetLabel": "cluster", "replacement": "eu-1"}]


def test_the_podmonitor_selects_the_router_pods_the_operator_builds(tmp_path: Path) -> None:
    rendered = render_monitoring(
        tmp_path,
        {
            "watchNamespaces": ["shop", "ads"],
            "metrics": {"podMonitor": {"relabelings": [{"action": "labeldrop", "regex": "x"}]}},
        },
    )
    monitor = rendered.one("PodMonitor")
    pod = router_pod_template()
    pod_labels = pod["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["shop", "ads"]}
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    [container] = pod["spec"]["containers"]
    assert endpoint["port"] == METRICS_PORT_NAME
    assert METRICS_PORT_NAME in {port["name"] for port in container["ports"]}
    assert endpoint["path"] == METRICS_PATH
    # Prometheus's pod discovery names a label turnout.dev/router
    # __meta_kubernetes_pod_label_turnout_dev_router.
    relabeled = {
        rule["targetLabel"]: pod_labels[
            rule["sourceLabels"][0]
            .removeprefix("__meta_kubernetes_pod_label_")
            .replace("turnout_dev_", "turnout.dev/")
        ]
        for rule in endpoint["relabelings"]
        if "sourceLabels" in rule
    }
    assert relabeled == {"router": "checkout", "version": "3"}
    assert endpoint["relabelings"][-1] == {"action": "labeldrop", "regex": "x"}


def test_the_podmonitor_watches_every_namespace_when_the_operator_does(tmp_path: Path) -> None:
    rendered = render_monitoring(tmp_path, {"rbac": {"clusterWide": True}})
    assert rendered.one("PodMonitor")["spec"]["namespaceSelector"] == {"any": True}


def test_dashboards_are_configmaps_for_the_grafana_sidecar(tmp_path: Path) -> None:
    rendered = render_monitoring(
        tmp_path,
        {"grafana": {"dashboards": {"namespace": "monitoring", "folder": "Turnout"}}},
    )
    maps = [m for m in rendered.all("ConfigMap") if "grafana_dashboard" in m["metadata"]["labels"]]
    assert {m["metadata"]["name"] for m in maps} == {
        "turnout-dashboard-fleet",
        "turnout-dashboard-router",
    }
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["namespace"] == "monitoring"
        assert config_map["metadata"]["annotations"] == {"grafana_folder": "Turnout"}
    found = dashboards(rendered)
    router = found["turnout-router.json"]
    variables = {v["name"]: v for v in router["templating"]["list"]}
    assert {"datasource", "namespace", "router"} <= set(variables)
    # The per-Router view shows the chosen Router only.
    for title, expr in dashboard_queries(router):
        assert 'router=~"$router"' in expr and 'namespace=~"$namespace"' in expr, title
    for dashboard in found.values():
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), dashboard["uid"]


def test_the_values_schema_refuses_bad_monitoring_values(tmp_path: Path) -> None:
    for bad, words in [
        ({"metrics": {"serviceMonitor": {"interval": "soon"}}}, "interval"),
        ({"metrics": {"prometheusRule": {"fallbackHigh": {"reasons": ["boredom"]}}}}, "reasons"),
        ({"metrics": {"prometheusRule": {"routerErrors": {"threshold": -1}}}}, "threshold"),
        ({"metrics": {"podMonitor": {"enable": True}}}, "enable"),
    ]:
        result = template(merged(BASE, bad), tmp_path / words)
        assert result.returncode != 0, bad
        assert words in result.stderr, result.stderr
