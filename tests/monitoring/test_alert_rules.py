"""The chart's PrometheusRule, checked and unit-tested by promtool.

`promtool check rules` parses every expression and annotation template; `promtool test
rules` runs alerts_test.yaml, which feeds each alert series that must fire it and
series that must not, against the rules rendered with the chart's default thresholds.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.monitoring.chart_objects import (
    alerts,
    promtool,
    render_monitoring,
    rule_groups,
    runbook_anchors,
    write_rules,
)

pytestmark = pytest.mark.packaging

HERE = Path(__file__).parent
UNIT_TESTS = HERE / "alerts_test.yaml"
ALERTS = {
    "TurnoutOperatorDown", "TurnoutOperatorLeaderMissing", "TurnoutReconcileErrors",
    "TurnoutDatabaseErrors", "TurnoutPluginRestarts", "TurnoutEngineUnavailable",
    "TurnoutRouterNotReady", "TurnoutRouterFailed", "TurnoutRouterRolloutStuck",
    "TurnoutRouterFallbackHigh", "TurnoutRouterErrorsHigh", "TurnoutRouterLatencyHigh",
    "TurnoutRouterEngineBudgetNearlySpent", "TurnoutRouterPluginRestarts",
    "TurnoutRouterPluginDown",
}  # fmt: skip
"""What the issue asked for, spelled out here rather than read from the chart."""


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_rendered_rules(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, rule_groups(render_monitoring(tmp_path / "helm")))
    result = run_promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout, result.stdout


def test_every_alert_fires_and_stays_quiet_as_its_unit_tests_say(tmp_path: Path) -> None:
    write_rules(tmp_path, rule_groups(render_monitoring(tmp_path / "helm"), annotations=False))
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    result = run_promtool("test", "rules", str(tmp_path / UNIT_TESTS.name))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout


def test_every_alert_has_a_case_that_fires_it_and_one_that_does_not() -> None:
    cases = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in cases:
        for check in case["alert_rule_test"]:
            (fires if check["exp_alerts"] else quiet).add(check["alertname"])
    assert fires == ALERTS
    assert quiet == ALERTS


def test_the_chart_renders_every_alert_with_a_runbook_section(tmp_path: Path) -> None:
    rendered = alerts(render_monitoring(tmp_path / "helm"))
    assert set(rendered) == ALERTS
    anchors = runbook_anchors()
    for name, rule in rendered.items():
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/runbooks.md#{name.lower()}", url
        assert name.lower() in anchors, f"docs/runbooks.md has no section {name}"
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert rule["labels"]["severity"] in {"warning", "critical"}


def test_thresholds_windows_and_disabled_alerts_come_from_the_values(tmp_path: Path) -> None:
    rendered = alerts(
        render_monitoring(
            tmp_path / "helm",
            {
                "metrics": {
                    "prometheusRule": {
                        "disabled": ["TurnoutRouterLatencyHigh"],
                        "rateWindow": "2m",
                        "routerErrors": {"threshold": 0.2, "for": "1m", "severity": "page"},
                        "fallbackHigh": {"reasons": ["engine-error"]},
                        "additionalAlertLabels": {"team": "experiments"},
                        "runbookBaseUrl": "https://docs.example/runbooks",
                    }
                }
            },
        )
    )
    assert "TurnoutRouterLatencyHigh" not in rendered
    errors = rendered["TurnoutRouterErrorsHigh"]
    assert errors["for"] == "1m"
    assert errors["labels"] == {"severity": "page", "team": "experiments"}
    assert "> 0.2" in errors["expr"] and "[2m]" in errors["expr"]
    assert 'reason=~"engine-error"' in rendered["TurnoutRouterFallbackHigh"]["expr"]
    assert (
        rendered["TurnoutOperatorDown"]["annotations"]["runbook_url"]
        == "https://docs.example/runbooks#turnoutoperatordown"
    )
