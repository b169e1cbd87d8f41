"""A real Prometheus (Debian's) scrapes a real operator and real routers on loopback and
evaluates the chart's own rules, rendered with short `for:` values.

Scrape targets are labelled as the chart's ServiceMonitor and PodMonitor label them
(`job`, `namespace`, `pod`, `router`), with `honor_labels` for the operator as the
ServiceMonitor sets it. Then:

* every metric name and label the alerts use, and every dashboard query, returns data
  from what Prometheus scraped (no query that silently returns nothing);
* breaking things fires the matching alert: a rollout that never becomes ready, a config
  the engine rejects, an engine whose plugin cannot start, the plugin killed (in the
  operator and in a router), an engine budget exceeded by a slow plugin, a route whose
  upstream refuses connections; the healthy Router does not alert.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from devenv.gopeers import GoPeers
from devenv.operator import Engine, wait_for
from devenv.procs import Process, child_pids, free_port
from tests.cases.treatments import runner_config
from tests.integration.test_operator import router_manifest
from tests.monitoring.chart_objects import (
    NAMESPACE,
    alerts,
    dashboard_queries,
    dashboards,
    render_monitoring,
    rule_groups,
    write_rules,
)
from tests.substrate.operator_fixtures import OperatorHarness
from tests.substrate.router_process import RouterProcess, closed_port_url

pytestmark = pytest.mark.e2e

SHORT = "5s"
WITH_FOR = (
    "operatorDown", "leaderMissing", "reconcileErrors", "databaseErrors", "engineUnavailable",
    "routerNotReady", "routerFailed", "rolloutStuck", "fallbackHigh", "routerErrors",
    "routerLatency", "engineBudget", "routerPluginDown",
)  # fmt: skip
TEST_RULES: dict[str, Any] = {
    "metrics": {
        "prometheusRule": {
            "rateWindow": "30s",
            **{name: {"for": SHORT} for name in WITH_FOR},
            # One restart is enough here; the shipped threshold is tested by promtool.
            "pluginRestarts": {"threshold": 0, "window": "5m"},
            # The slow router's requests wait out its 50 ms engine budget.
            "routerLatency": {"for": SHORT, "threshold": 0.04},
            "routerPluginRestarts": {"threshold": 0, "window": "5m"},
        }
    }
}
METRIC = re.compile(r"\b(turnout_[a-z0-9_]+|up)\b(\{[^}]*\})?")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|on)\s*\(([^)]*)\)")


# --- loopback upstream, Prometheus, traffic ---


class _Answer(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/predict"
    server.shutdown()
    server.server_close()


@pytest.fixture
def routers() -> Iterator[list[RouterProcess]]:
    started: list[RouterProcess] = []
    yield started
    for router in started:
        router.stop()


class Prometheus:
    def __init__(self, process: Process, port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def firing(self) -> list[dict[str, str]]:
        return [
            alert["labels"] for alert in self.api("alerts")["alerts"] if alert["state"] == "firing"
        ]

    def wait_firing(self, alertname: str, **labels: str) -> dict[str, str]:
        def found() -> dict[str, str] | None:
            for alert in self.firing():
                if alert["alertname"] == alertname and labels.items() <= alert.items():
                    return alert
            return None

        what = f"{alertname} {labels} firing"
        result: dict[str, str] = wait_for(found, 180, what, self.process)
        return result


def start_prometheus(
    h: OperatorHarness, directory: Path, operator_port: int, targets: dict[str, int]
) -> Prometheus:
    rules = write_rules(directory, rule_groups(render_monitoring(directory / "helm", TEST_RULES)))
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                # The ServiceMonitor's job is the Service's name; honorLabels as it sets.
                "job_name": "turnout",
                "honor_labels": True,
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{operator_port}"],
                        "labels": {"namespace": NAMESPACE, "pod": "turnout-0"},
                    }
                ],
            },
            {
                # The PodMonitor's target labels, its relabelings included (router).
                "job_name": f"{NAMESPACE}/turnout-routers",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{port}"],
                        "labels": {"namespace": h.namespace, "router": name, "pod": f"{name}-0"},
                    }
                    for name, port in targets.items()
                ],
            },
        ],
    }
    assert shutil.which("prometheus"), "no prometheus: apt-get install prometheus (.ci/run does)"
    config_file = directory / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = free_port()
    process = h.registry.start(
        "prometheus",
        [
            "prometheus",
            f"--config.file={config_file}",
            f"--storage.tsdb.path={directory / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        directory / "prometheus.log",
    )
    prometheus = Prometheus(process, port)

    def ready() -> bool:
        try:
            targets_up = prometheus.api("targets")["activeTargets"]
        except OSError:
            return False
        return len(targets_up) == 1 + len(targets) and all(t["health"] == "up" for t in targets_up)

    wait_for(ready, 120, "Prometheus up with every target scraped", process)
    return prometheus


class Traffic:
    """Requests to each router until stopped (rate-based alerts need a steady flow)."""

    def __init__(self, routers: list[RouterProcess]) -> None:
        self._routers = routers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.sent = 0

    def _run(self) -> None:
        unit = 0
        while not self._stop.is_set():
            for router in self._routers:
                unit += 1
                body = json.dumps({"client": {"id": unit % 100}}).encode()
                request = urllib.request.Request(
                    f"{router.url}/v1/predict", data=body, method="POST",
                    headers={"Content-Type": "application/json"},
                )  # fmt: skip
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        response.read()
                except urllib.error.HTTPError as error:  # 5xx are the point for one route
                    error.read()
                except OSError:
                    pass
                self.sent += 1
            self._stop.wait(0.02)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def hardcoded_plugin(pid: int) -> bool:
    try:
        return b"hardcoded" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


# --- what the rules and dashboards ask for ---


def selectors(expr: str) -> list[tuple[str, list[str]]]:
    """(metric, label names in its matchers) of every selector in ``expr``."""
    return [(m.group(1), MATCHER.findall(m.group(2) or "")) for m in METRIC.finditer(expr)]


def grouping_labels(expr: str) -> set[str]:
    return {
        label.strip() for group in GROUPING.findall(expr) for label in group.split(",") if label
    }


def missing_names_and_labels(prometheus: Prometheus, exprs: list[str]) -> list[str]:
    """Every metric of the expressions scraped, and every label they match or group on
    present on a series of that metric (or, for grouping, of one of its metrics)."""
    problems = []
    for expr in exprs:
        found = selectors(expr)
        for metric, labels in found:
            if not prometheus.query(metric):
                problems.append(f"{metric}: no series ({expr})")
            for label in labels:
                if not prometheus.query(f'{metric}{{{label}!=""}}'):
                    problems.append(f"{metric}: no label {label} ({expr})")
        for label in grouping_labels(expr):
            if not any(prometheus.query(f'{metric}{{{label}!=""}}') for metric, _ in found):
                problems.append(f"label {label}: on none of {[m for m, _ in found]} ({expr})")
    return problems


def dashboard_exprs(rendered_dashboards: dict[str, Any], namespace: str) -> list[tuple[str, str]]:
    """(panel, expr) with the dashboard variables as a user would pick them."""
    out = []
    for name, dashboard in rendered_dashboards.items():
        for title, expr in dashboard_queries(dashboard):
            concrete = (
                expr.replace("$__rate_interval", "30s")
                .replace("$namespace", namespace)
                .replace("$router", ".*")
            )
            out.append((f"{name}: {title}", concrete))
    return out


# --- the test ---


def test_prometheus_scrapes_the_operator_and_routers_and_the_alerts_fire(
    operators: OperatorHarness,
    gopeers: GoPeers,
    upstream: str,
    routers: list[RouterProcess],
    tmp_path: Path,
) -> None:
    h = operators
    operator_port = free_port()
    # A second engine whose plugin exits before its handshake: never available.
    broken = tmp_path / "broken-plugin"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    h.start(
        h.python_engine(),
        Engine(name="broken", binary=broken, options={}),
        env={"TURNOUT_METRICS_PORT": str(operator_port)},
    )
    h.apply(router_manifest(name="checkout"))
    # No fake node has this much CPU: the pods stay Pending, the rollout never completes.
    h.apply(router_manifest(name="stuck", resources={"requests": {"cpu": "5000"}}))
    # A config the engine rejects: Failed.
    h.apply(router_manifest(name="rejected", config={"experiments": [{"id": "999"}]}))
    h.wait_deployed("checkout", 1)
    h.wait_status("stuck", lambda s: s.get("phase") == "Deploying", "stuck Deploying")
    h.wait_status("rejected", lambda s: s.get("phase") == "Failed", "rejected Failed")

    def router_config(name: str, treatment_url: str, timeout: str) -> dict[str, Any]:
        return {
            "routes": [
                {"id": "control", "endpoint": upstream, "timeout": "5s"},
                {"id": "treatment-1", "endpoint": treatment_url, "timeout": "5s"},
            ],
            "fallbackRoute": "control",
            "routeNamePath": "route_name",
            "router": f"{h.namespace}/{name}",
            "version": 1,
            "experimentEngine": {
                "name": "hardcoded",
                "pluginBinary": str(gopeers.hardcoded_plugin),
                "runnerConfig": runner_config(),
                "timeout": timeout,
            },
        }

    for name, config, env in [
        # treatment-1's upstream refuses connections: its requests answer 502.
        ("checkout", router_config("checkout", closed_port_url(), "1s"), {}),
        # The plugin sleeps 200 ms per treatment; the budget is 50 ms.
        ("slow", router_config("slow", upstream, "50ms"), {"TURNOUT_TEST_FAULT": "slow=200ms"}),
    ]:
        directory = tmp_path / name
        directory.mkdir()
        routers.append(RouterProcess(config, directory, env=env).start())
    targets = {"checkout": routers[0].port, "slow": routers[1].port}
    prometheus = start_prometheus(h, tmp_path, operator_port, targets)

    with Traffic(routers) as traffic:
        # The plugins, killed by pid: the operator's manager of the hardcoded engine (the
        # broken engine's plugin comes and goes) and the checkout router's runner.
        operator_plugin = wait_for(
            lambda: [p for p in child_pids(h.operator.pid) if hardcoded_plugin(p)],
            60,
            "the hardcoded engine's plugin process",
            h.operator,
        )[0]
        os.kill(operator_plugin, signal.SIGKILL)
        (router_plugin,) = routers[0].plugin_pids()
        os.kill(router_plugin, signal.SIGKILL)

        expected = [
            ("TurnoutRouterRolloutStuck", {"namespace": h.namespace, "router": "stuck"}),
            ("TurnoutRouterFailed", {"namespace": h.namespace, "router": "rejected"}),
            ("TurnoutEngineUnavailable", {"engine": "broken"}),
            ("TurnoutRouterNotReady", {"namespace": h.namespace, "router": "stuck"}),
            ("TurnoutPluginRestarts", {"engine": "hardcoded"}),
            ("TurnoutRouterPluginRestarts", {"router": "checkout", "pod": "checkout-0"}),
            ("TurnoutRouterErrorsHigh", {"router": "checkout"}),
            ("TurnoutRouterFallbackHigh", {"router": "slow", "reason": "engine-timeout"}),
            ("TurnoutRouterEngineBudgetNearlySpent", {"router": "slow"}),
            ("TurnoutRouterLatencyHigh", {"router": "slow"}),
        ]
        for alertname, labels in expected:
            prometheus.wait_firing(alertname, **labels)
        # Their annotations expand (a template error would be shown in the text).
        for alert in prometheus.api("alerts")["alerts"]:
            annotations = alert["annotations"]
            assert alert["labels"]["alertname"].lower() in annotations["runbook_url"]
            for key in ("summary", "description"):
                assert "<error" not in annotations[key] and "{{" not in annotations[key], alert

        # Every name and label of every alert, and every dashboard query, has data.
        rendered = render_monitoring(tmp_path / "helm-check", TEST_RULES)
        problems = missing_names_and_labels(
            prometheus, [rule["expr"] for rule in alerts(rendered).values()]
        )
        assert not problems, "\n".join(problems)
        queries = dashboard_exprs(dashboards(rendered), h.namespace)

        def empty_queries() -> list[str]:
            return [f"{panel}: {expr}" for panel, expr in queries if not prometheus.query(expr)]

        last: list[list[str]] = []

        def all_have_data() -> bool:
            last.append(empty_queries())
            return not last[-1]

        try:
            wait_for(all_have_data, 60, "every dashboard query with data", prometheus.process)
        except Exception:
            pytest.fail("dashboard queries without data:\n" + "\n".join(last[-1]))
        problems = missing_names_and_labels(prometheus, [expr for _, expr in queries])
        assert not problems, "\n".join(problems)
        assert traffic.sent > 0

    # The healthy parts do not alert.
    firing = prometheus.firing()
    assert not [
        a
        for a in firing
        if a["alertname"] == "TurnoutEngineUnavailable" and a["engine"] != "broken"
    ], firing
    quiet = {"TurnoutOperatorDown", "TurnoutOperatorLeaderMissing", "TurnoutReconcileErrors"}
    assert not [a for a in firing if a["alertname"] in quiet], firing
    assert not [
        a
        for a in firing
        if a.get("router") == "checkout"
        and a["alertname"] in {"TurnoutRouterNotReady", "TurnoutRouterRolloutStuck"}
    ], firing
    assert not [a for a in firing if a.get("router") == "slow" and "Errors" in a["alertname"]]

    # The operator stopped: no replica answers a scrape.
    h.operator.stop()
    prometheus.wait_firing("TurnoutOperatorDown")
