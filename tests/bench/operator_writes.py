"""The operator's API traffic for N new Routers, made by the bench with no operator running.

What any operator that keeps Turnout's contract must ask of the API server for a new
Router, with the operator's own CPU taken out: the Router created, its ConfigMap,
Service and Deployment server-side applied (owned by the Router), a `Deploying`
status, then, once the Deployment is available, a `Deployed` status, the
RouterVersion mirror and one Event; meanwhile the operator's six watches are read
and thrown away. The time until every Router has its `Deployed` status, against
the floor, is the lowest ratio an operator making these requests could reach on
this machine.

Request bodies come from the operator's own builders, so their sizes and shapes are
the real ones. Responses are read as bytes and not decoded, except the Router's
uid, to keep the bench's own CPU small.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s_client

from turnout_operator.api import Condition, RouterSpec, RouterStatus
from turnout_operator.builders import (
    BuildSettings,
    EngineDeployment,
    RouterIdentity,
    build_configmap,
    build_deployment,
    build_router_config,
    build_service,
)
from turnout_operator.builders.names import MANAGED_BY, MANAGED_BY_LABEL
from turnout_operator.builders.routerversions import routerversion_body
from turnout_operator.reconcile.status import status_body

GROUP, VERSION = "turnout.dev", "v1alpha1"
FIELD_MANAGER = "turnout-operator"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"

# (path prefix, plural, label-selected): what the operator watches in its namespace.
WATCHES = (
    (f"/apis/{GROUP}/{VERSION}", "routers", False),
    (f"/apis/{GROUP}/{VERSION}", "routerversions", True),
    ("/api/v1", "configmaps", True),
    ("/api/v1", "services", True),
    ("/apis/apps/v1", "deployments", True),
    ("/apis/autoscaling/v2", "horizontalpodautoscalers", True),
)


def send(
    api: k8s_client.ApiClient,
    method: str,
    path: str,
    query: list[tuple[str, str]] | None = None,
    content_type: str = "application/json",
    body: dict[str, Any] | None = None,
    read: bool = True,
) -> Any:
    """One request through the client's connection pool; the response undecoded."""
    request = api.param_serialize(
        method,
        path,
        query_params=query or [],
        header_params={"Content-Type": content_type, "Accept": "application/json"},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*request)
    if not read:
        return response
    data = response.read()
    if response.status >= 400:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
    return data


BENCH_SETTINGS = BuildSettings(router_image="turnout:bench")
BENCH_ENGINE = EngineDeployment(
    name="hardcoded", plugin_image="plugin:bench", liveness_period_seconds=10
)


def router_children(identity: RouterIdentity, spec: RouterSpec) -> list[dict[str, Any]]:
    """The ConfigMap, Service and Deployment of a Router's first version, as the operator
    builds them (the floor creates the same objects, without the owner reference)."""
    config = build_router_config(
        identity, spec, 1, BENCH_ENGINE, {"experiments": []}, BENCH_SETTINGS
    )
    return [
        build_configmap(identity, config),
        build_service(identity, BENCH_SETTINGS),
        build_deployment(identity, spec, config, BENCH_ENGINE, BENCH_SETTINGS),
    ]


@dataclass(frozen=True)
class Version:
    """A stored version as the RouterVersion mirror reads it (routerversions.VersionLike)."""

    number: int
    status: str
    error: str | None
    spec: dict[str, Any]
    experiment_engine: dict[str, Any]
    router_image: str
    created_at: datetime
    updated_at: datetime


def _conditions(ready: bool, now: str) -> list[Condition]:
    progressing = ("False", "RolloutComplete") if ready else ("True", "RollingOut")
    return [
        Condition(
            type="ConfigValid",
            status="True",
            reason="Valid",
            observed_generation=1,
            last_transition_time=now,
        ),
        Condition(
            type="EngineAvailable",
            status="True",
            reason="EngineReady",
            observed_generation=1,
            last_transition_time=now,
        ),
        Condition(
            type="Progressing",
            status=progressing[0],
            reason=progressing[1],
            message="1 of 1 pods available" if ready else "version 1: waiting for the rollout",
            observed_generation=1,
            last_transition_time=now,
        ),
        Condition(
            type="Ready",
            status="True" if ready else "False",
            reason="Serving" if ready else "RolloutInProgress",
            message="version 1 is serving" if ready else "version 1 is rolling out",
            observed_generation=1,
            last_transition_time=now,
        ),
    ]


def status_patch(name: str, namespace: str, ready: bool) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = RouterStatus(
        phase="Deployed" if ready else "Deploying",
        observed_generation=1,
        current_version=1,
        deployed_version=1 if ready else None,
        endpoint=f"http://{name}-router.{namespace}.svc.cluster.local:8080",
        replicas=1 if ready else 0,
        message="version 1 is serving" if ready else "version 1: waiting for the rollout",
        conditions=_conditions(ready, now),
    )
    return {"status": status_body(status)}


def event_body(identity: RouterIdentity, message: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "metadata": {"namespace": identity.namespace, "generateName": "turnout-event-"},
        "action": "Deployed",
        "reason": "Deployed",
        "type": "Normal",
        "message": message,
        "reportingComponent": "turnout",
        "reportingInstance": "bench",
        "source": {"component": "turnout"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "eventTime": None,
        "involvedObject": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Router",
            "name": identity.name,
            "namespace": identity.namespace,
            "uid": identity.uid,
        },
    }


class DrainedWatches:
    """The operator's watches, opened and read to the end of each chunk, never decoded."""

    def __init__(self, api: k8s_client.ApiClient, namespace: str) -> None:
        self._api = api
        self._namespace = namespace
        self._stop = threading.Event()
        self.bytes_read = 0
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._drain, args=watch, daemon=True) for watch in WATCHES
        ]
        for thread in self._threads:
            thread.start()

    def _drain(self, prefix: str, plural: str, selected: bool) -> None:
        query = [("watch", "true"), ("timeoutSeconds", "60")]
        if selected:
            query.append(("labelSelector", f"{MANAGED_BY_LABEL}={MANAGED_BY}"))
        while not self._stop.is_set():
            try:
                response = send(
                    self._api,
                    "GET",
                    f"{prefix}/namespaces/{self._namespace}/{plural}",
                    query,
                    read=False,
                ).response
                for chunk in response.stream(65536):
                    with self._lock:
                        self.bytes_read += len(chunk)
                    if self._stop.is_set():
                        break
                response.release_conn()
            except Exception:  # a dropped stream: watch again, as an operator would
                time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()


class OperatorWrites:
    """Makes the operator's requests for `count` new Routers and times each to `Deployed`."""

    def __init__(
        self,
        api: k8s_client.ApiClient,
        namespace: str,
        router_body: Callable[[int], dict[str, Any]],
        threads: int,
    ) -> None:
        self._api = api
        self._namespace = namespace
        self._router_body = router_body
        self._identities: dict[str, RouterIdentity] = {}
        self._specs: dict[str, dict[str, Any]] = {}
        self.started: dict[str, float] = {}
        self.deployed: dict[str, float] = {}
        self._finishing = ThreadPoolExecutor(threads)
        self._lock = threading.Lock()

    def _apply(self, path: str, body: dict[str, Any]) -> None:
        send(
            self._api,
            "PATCH",
            path,
            [("fieldManager", FIELD_MANAGER), ("force", "true")],
            APPLY,
            body,
        )

    def _status(self, name: str, ready: bool) -> None:
        send(
            self._api,
            "PATCH",
            f"/apis/{GROUP}/{VERSION}/namespaces/{self._namespace}/routers/{name}/status",
            content_type=MERGE,
            body=status_patch(name, self._namespace, ready),
        )

    def start_one(self, index: int) -> None:
        body = self._router_body(index)
        name = str(body["metadata"]["name"])
        self.started[name] = time.perf_counter()
        created = send(
            self._api,
            "POST",
            f"/apis/{GROUP}/{VERSION}/namespaces/{self._namespace}/routers",
            body=body,
        )
        uid = json.loads(created)["metadata"]["uid"]
        identity = RouterIdentity(namespace=self._namespace, name=name, uid=uid)
        with self._lock:
            self._identities[name] = identity
            self._specs[name] = body["spec"]
        ns = self._namespace
        collections = (
            f"/api/v1/namespaces/{ns}/configmaps",
            f"/api/v1/namespaces/{ns}/services",
            f"/apis/apps/v1/namespaces/{ns}/deployments",
        )
        children = router_children(identity, RouterSpec.model_validate(body["spec"]))
        for path, obj in zip(collections, children, strict=True):
            self._apply(f"{path}/{obj['metadata']['name']}", obj)
        self._status(name, ready=False)

    def available(self, deployment: Any) -> None:
        """A Deployment became available: finish its Router as the operator would."""
        instance = (deployment.metadata.labels or {}).get("app.kubernetes.io/instance")
        if instance is not None:
            self._finishing.submit(self._finish, str(instance))

    def _finish(self, name: str) -> None:
        while name not in self._identities:  # the first requests are still on their way
            time.sleep(0.01)
        identity = self._identities[name]
        self._status(name, ready=True)
        moment = datetime.now(UTC)
        version = Version(
            1,
            "deployed",
            None,
            self._specs[name],
            {"type": "hardcoded"},
            "turnout:bench",
            moment,
            moment,
        )
        mirror = routerversion_body(identity, version, None)
        self._apply(
            f"/apis/{GROUP}/{VERSION}/namespaces/{self._namespace}/routerversions/"
            f"{mirror['metadata']['name']}",
            mirror,
        )
        send(
            self._api,
            "POST",
            f"/api/v1/namespaces/{self._namespace}/events",
            body=event_body(identity, "version 1 recorded; version 1 is serving"),
        )
        with self._lock:
            self.deployed[name] = time.perf_counter()

    def close(self) -> None:
        self._finishing.shutdown(wait=True)
