"""The chart's monitoring objects, rendered by the real helm, for the monitoring tests.

Rendering goes through `tests.substrate.chart` (the helm `make tools` built), with
`metrics.renderWithoutApi` so `helm template`, which has no cluster to ask, renders them.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.substrate.chart import Rendered, render

RELEASE = "turnout"
NAMESPACE = "turnout-system"
BASE: dict[str, Any] = {"database": {"existingSecret": {"name": "turnout-db"}}}
ALL_ON: dict[str, Any] = {
    "metrics": {
        "renderWithoutApi": True,
        "serviceMonitor": {"enabled": True},
        "podMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
    },
    "grafana": {"dashboards": {"enabled": True}},
}
DOCS = Path(__file__).resolve().parents[2] / "docs"


def merged(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Values layered left to right, nested mappings merged (as helm merges -f files)."""
    out: dict[str, Any] = {}
    for layer in layers:
        _merge(out, layer)
    return out


def _merge(into: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def render_monitoring(
    home: Path, *layers: Mapping[str, Any], namespace: str = NAMESPACE, **kwargs: Any
) -> Rendered:
    return render(
        merged(BASE, ALL_ON, *layers), home, release=RELEASE, namespace=namespace, **kwargs
    )


def rule_groups(rendered: Rendered, *, annotations: bool = True) -> list[dict[str, Any]]:
    """The PrometheusRule's groups as a Prometheus rules file holds them."""
    groups: list[dict[str, Any]] = copy.deepcopy(rendered.one("PrometheusRule")["spec"]["groups"])
    if not annotations:
        for group in groups:
            for rule in group["rules"]:
                rule.pop("annotations", None)
    return groups


def alerts(rendered: Rendered) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in rule_groups(rendered) for rule in group["rules"]}


def write_rules(directory: Path, groups: list[dict[str, Any]]) -> Path:
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def dashboards(rendered: Rendered) -> dict[str, dict[str, Any]]:
    """Each dashboard ConfigMap's JSON, by file name."""
    found: dict[str, dict[str, Any]] = {}
    for config_map in rendered.all("ConfigMap"):
        if "grafana_dashboard" in config_map["metadata"].get("labels", {}):
            for name, text in config_map["data"].items():
                found[name] = json.loads(text)
    return found


def dashboard_queries(dashboard: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every target of every panel."""
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            queries.append((panel["title"], target["expr"]))
    return queries


def runbook_anchors() -> set[str]:
    """The anchors of docs/runbooks.md's headings, as GitHub makes them."""
    anchors = set()
    for line in (DOCS / "runbooks.md").read_text().splitlines():
        heading = re.match(r"#+ (.+)", line)
        if heading:
            anchors.add(re.sub(r"[^a-z0-9 -]", "", heading.group(1).lower()).replace(" ", "-"))
    return anchors


def promtool() -> str:
    """promtool from Debian's `prometheus` package (.ci/run installs it)."""
    found = shutil.which("promtool")
    assert found, "promtool not found: apt-get install prometheus (.ci/run installs it)"
    return found
