"""The chart's ServiceMonitor, PodMonitor and PrometheusRule, accepted by a real API server
that serves the Prometheus operator's own CRDs (tests/monitoring/crds.py).

The CRDs' OpenAPI schemas are what a cluster with the Prometheus operator checks; a field
misspelt or misplaced in a template is refused here (the refusal is tested too, so a
cluster that accepted anything would fail this test).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devenv.cluster import Cluster
from tests.monitoring.chart_objects import render_monitoring
from tests.monitoring.crds import monitoring_crds
from tests.substrate.chart import CHART_DIR

pytestmark = pytest.mark.cluster

KINDS = ("ServiceMonitor", "PodMonitor", "PrometheusRule")


@pytest.fixture(scope="module")
def monitoring_api(cluster: Cluster) -> Iterator[Cluster]:
    files = monitoring_crds()
    for path in files:
        cluster.kubectl("apply", "--server-side", "-f", str(path))
    for path in files:
        name = yaml.safe_load(path.read_text())["metadata"]["name"]
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}")
    yield cluster


def chart_objects(home: Path, namespace: str, **values: Any) -> list[dict[str, Any]]:
    rendered = render_monitoring(
        home, {"watchNamespaces": [namespace], **values}, namespace=namespace
    )
    return [obj for obj in rendered.objects if obj["kind"] in KINDS]


def create(cluster: Cluster, obj: dict[str, Any], *extra: str) -> Any:
    return cluster.kubectl(
        "create", "-o", "json", *extra, "-f", "-", input=json.dumps(obj), check=False
    )


def contains(stored: Any, written: Any) -> bool:
    """Every field of ``written`` is in ``stored`` with the same value."""
    if isinstance(written, dict):
        return isinstance(stored, dict) and all(
            key in stored and contains(stored[key], value) for key, value in written.items()
        )
    if isinstance(written, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(written)
            and all(contains(s, w) for s, w in zip(stored, written, strict=True))
        )
    return bool(stored == written)


def test_the_api_server_accepts_every_monitoring_object_of_the_chart(
    monitoring_api: Cluster, namespace: str, tmp_path: Path
) -> None:
    objects = chart_objects(
        tmp_path,
        namespace,
        metrics={
            "serviceMonitor": {
                "labels": {"release": "prometheus"},
                "relabelings": [{"targetLabel": "cluster", "replacement": "eu-1"}],
                "metricRelabelings": [
                    {"action": "drop", "sourceLabels": ["__name__"], "regex": "python_.*"}
                ],
            },
            "podMonitor": {"scrapeTimeout": "10s"},
        },
    )
    assert sorted(obj["kind"] for obj in objects) == sorted(KINDS)
    for obj in objects:
        dry = create(monitoring_api, obj, "--dry-run=server")
        assert dry.returncode == 0, f"{obj['kind']} refused: {dry.stderr}"
        made = create(monitoring_api, obj)
        assert made.returncode == 0, f"{obj['kind']} refused: {made.stderr}"
        stored = json.loads(made.stdout)
        # Nothing dropped by the schema's pruning (the server may add defaults).
        assert contains(stored["spec"], obj["spec"]), (obj["kind"], stored["spec"])


def test_a_misplaced_field_is_refused_by_the_crds_schema(
    monitoring_api: Cluster, namespace: str, tmp_path: Path
) -> None:
    [monitor] = [o for o in chart_objects(tmp_path, namespace) if o["kind"] == "PodMonitor"]
    monitor["spec"]["podMetricsEndpoints"][0]["relabelings"][0]["action"] = "explode"
    refused = create(monitoring_api, monitor, "--dry-run=server")
    assert refused.returncode != 0
    assert "action" in refused.stderr, refused.stderr


def test_helm_renders_the_objects_when_the_api_server_serves_their_kinds(
    monitoring_api: Cluster, namespace: str, tmp_path: Path
) -> None:
    """`.Capabilities.APIVersions` as helm reads it from a real API server: with the CRDs
    installed the enabled objects render without `renderWithoutApi`, and the release
    notes carry no warning."""
    values = tmp_path / "values.json"
    values.write_text(
        json.dumps(
            {
                "database": {"existingSecret": {"name": "db"}},
                "watchNamespaces": [namespace],
                "metrics": {
                    "serviceMonitor": {"enabled": True},
                    "podMonitor": {"enabled": True},
                    "prometheusRule": {"enabled": True},
                },
            }
        )
    )
    result = monitoring_api.helm(
        "install", "turnout", str(CHART_DIR), "-n", namespace, "-f", str(values),
        "--dry-run=server",
    )  # fmt: skip
    manifest = result.stdout
    for kind in KINDS:
        assert f"kind: {kind}\n" in manifest, kind
    assert "was left out" not in manifest
    assert "NOTES:" in manifest
