"""Writes that can wait do wait: a rollout's progress and its version's mirror.

A new Router's status is written when its phase or a condition changes, and a
rollout's progress messages at most every 30 seconds; its RouterVersion is
written once, as deployed, when the rollout ends within a minute. Observed from
outside: a watch on the Router counts the statuses the API server stored, and the
RouterVersion's `metadata.generation` counts the writes of its spec.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes import watch as k8s_watch

from devenv.operator import wait_for
from tests.integration.test_operator import router_manifest
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.e2e

PROGRESS_WRITE_SECONDS = 30  # docs/operator.md, "Status"


class StatusWatch:
    """Every distinct status of one Router the API server reports, in order."""

    def __init__(self, h: OperatorHarness, name: str) -> None:
        self.statuses: list[dict[str, Any]] = []
        self._api = h.cluster.api_client()
        self._custom = k8s_client.CustomObjectsApi(self._api)
        self._namespace, self._name = h.namespace, name
        listing = self._custom.list_namespaced_custom_object(
            "turnout.dev", "v1alpha1", h.namespace, "routers"
        )
        self._since = listing["metadata"]["resourceVersion"]
        self._watch = k8s_watch.Watch()
        self._stopped = False
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._follow()
        except Exception as error:  # closing the client at stop() ends the stream
            if not self._stopped:
                self.error = error

    def _follow(self) -> None:
        for event in self._watch.stream(
            self._custom.list_namespaced_custom_object,
            "turnout.dev",
            "v1alpha1",
            self._namespace,
            "routers",
            field_selector=f"metadata.name={self._name}",
            resource_version=self._since,
            timeout_seconds=300,
        ):
            status = event["object"].get("status") or {}
            if status and (not self.statuses or self.statuses[-1] != status):
                self.statuses.append(status)

    def stop(self) -> None:
        self._stopped = True
        self._watch.stop()
        self._thread.join(timeout=30)
        self._api.close()


def _time(status: dict[str, Any], kind: str) -> datetime:
    condition = next(c for c in status["conditions"] if c["type"] == kind)
    return datetime.fromisoformat(condition["lastTransitionTime"].replace("Z", "+00:00"))


def test_a_rollout_writes_phases_at_once_and_progress_at_most_every_30_seconds(
    operators: OperatorHarness,
) -> None:
    h = operators
    h.start()
    statuses = StatusWatch(h, "demo")
    try:
        # Three pods: the rollout passes through several progress steps (pods created,
        # then available one by one), each a status the operator could write.
        h.apply(router_manifest(replicas=3))
        h.wait_deployed("demo", 1)
        wait_for(
            lambda: statuses.statuses and statuses.statuses[-1]["phase"] == "Deployed",
            60,
            "the watch to report Deployed",
            h.operator,
        )
    finally:
        statuses.stop()
    assert statuses.error is None, statuses.error
    phases = [status["phase"] for status in statuses.statuses]
    assert phases[0] == "Deploying" and phases[-1] == "Deployed"
    assert set(phases) == {"Deploying", "Deployed"}
    # The rollout's length, from the API server's own record of the conditions.
    rollout = _time(statuses.statuses[-1], "Ready") - _time(statuses.statuses[0], "Progressing")
    progress_writes = len(statuses.statuses) - 2
    assert progress_writes <= rollout.total_seconds() // PROGRESS_WRITE_SECONDS, [
        s["message"] for s in statuses.statuses
    ]


def test_a_version_that_rolls_out_at_once_is_mirrored_once_as_deployed(
    operators: OperatorHarness,
) -> None:
    h = operators
    h.start()
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    mirror = wait_for(
        lambda: h.kubectl_json("get", "routerversion", "demo-v1"), 60, "demo-v1", h.operator
    )
    assert mirror["spec"]["status"] == "deployed"
    # Its spec was written once: a pending mirror later updated would be generation 2.
    assert mirror["metadata"]["generation"] == 1
