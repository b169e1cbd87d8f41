"""The world one in-process reconcile pass meets, assembled from recorded objects.

The reconciler is built exactly as the operator builds it (`RouterCache`,
`ChildWriter`, `Publisher`, `VersionMirror`), on the interfaces it calls: the API
server (`RecordedApi`), the versions store (`RecordedStore`) and an engine
(`ScriptedEngine`). The API server's part answers with the bodies a real
kube-apiserver gave (`recorded/`, written by `python -m tests.reconcile.record`):
an applied object comes back with every default the server fills in, a Deployment's
status is one the controllers really wrote at that stage of a rollout. Watch events
are delivered to the cache by the test (`deliver`), as the operator's watches do.

What this tier cannot say (how the API server, Postgres and a plugin behave under
the operator) the cluster tiers say; this one covers every decision of a pass fast.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import JsonValue

from plugin_host import PluginStartError, RemoteError
from turnout_operator.api import RouterSpec
from turnout_operator.api.engine_config import EngineConfig, parse_engines
from turnout_operator.builders import BuildSettings, RouterIdentity
from turnout_operator.builders.desired import (
    DesiredObjects,
    desired_objects,
    engine_document,
    scaling_of,
    version_inputs,
)
from turnout_operator.cache import ChildWriter, RouterCache, RouterObject
from turnout_operator.kube.client import KubeError, ObjectRef, RouterGone
from turnout_operator.reconcile.mirror import VersionMirror
from turnout_operator.reconcile.reconciler import Reconciler
from turnout_operator.reconcile.status import Event
from turnout_operator.store import (
    RouterRef,
    StoreUnavailableError,
    VersionDraft,
    VersionRecord,
    VersionStatus,
)

RECORDED = Path(__file__).parent / "recorded"
NAMESPACE = "shop"
ROUTER_NAME = "demo"
BUILD = BuildSettings(router_image="registry.example/turnout:0.1.0")
PLUGIN_SHA256 = "5" * 64
SECRET = "pk-live-0123456789abcdef"
EXPERIMENT_CONFIG: dict[str, JsonValue] = {
    "experiment_id": "exp_1",
    "variants": ["control", "treatment-1"],
}
RUNNER_CONFIG: dict[str, JsonValue] = {"engine": "hardcoded", "experiments": ["exp_1"]}
(ENGINE_CONFIG,) = parse_engines(
    "- name: hardcoded\n"
    "  rpcPlugin: {image: registry.example/hardcoded-plugin:1.0}\n"
    f"  options: {{client_passkey: {SECRET}}}\n"
)
RETRY_SECONDS = 7.0
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def router_manifest(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routes": [
            {"id": "control", "endpoint": "http://control.models:8080/predict", "timeout": "2s"},
            {"id": "treatment-1", "endpoint": "http://t1.models:8080/predict", "timeout": "2s"},
        ],
        "fallbackRoute": "control",
        "routeNamePath": "route_name",
        "experimentEngine": {"type": "hardcoded", "config": copy.deepcopy(EXPERIMENT_CONFIG)},
        **spec,
    }
    return {
        "apiVersion": "turnout.dev/v1alpha1",
        "kind": "Router",
        "metadata": {"name": ROUTER_NAME, "namespace": NAMESPACE},
        "spec": body,
    }


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


def version_row(
    number: int, status: VersionStatus = VersionStatus.PENDING, **spec: Any
) -> VersionRecord:
    """The row the reconciler records for the manifest's spec (changed by `spec`)."""
    router_spec = RouterSpec.model_validate(router_manifest(**spec)["spec"])
    inputs = version_inputs(router_spec, ENGINE_CONFIG, BUILD.router_image, PLUGIN_SHA256)
    return VersionRecord(
        number=number,
        status=status,
        error=None,
        config_hash=inputs.config_hash,
        spec=inputs.spec,
        experiment_engine=engine_document(inputs, EXPERIMENT_CONFIG, RUNNER_CONFIG),
        router_image=inputs.router_image,
        created_at=T0,
        updated_at=T0,
    )


def version_objects(
    identity: RouterIdentity,
    row: VersionRecord,
    progress_deadline_seconds: int | None = None,
    scaling: Mapping[str, Any] | None = None,
) -> DesiredObjects:
    settings = BUILD
    if progress_deadline_seconds is not None:
        settings = dataclasses.replace(BUILD, progress_deadline_seconds=progress_deadline_seconds)
    if scaling is None:
        scaling = scaling_of({**row.spec, **router_manifest()["spec"]})
    return desired_objects(identity, row.number, row.spec, row.experiment_engine, settings, scaling)


def _fill_defaults(sent: Any, answered: Any) -> Any:
    """`sent` with every key the server added to an object of its kind (from `answered`)."""
    if isinstance(sent, dict) and isinstance(answered, dict):
        filled = {key: _fill_defaults(value, answered.get(key)) for key, value in sent.items()}
        for key, value in answered.items():
            if key not in sent and key not in ("status", "metadata"):
                filled[key] = copy.deepcopy(value)
        return filled
    if isinstance(sent, list) and isinstance(answered, list) and len(sent) == len(answered):
        return [_fill_defaults(a, b) for a, b in zip(sent, answered, strict=True)]
    return copy.deepcopy(sent)


Key = tuple[str, str, str]


class RecordedApi:
    """The API server's side of a pass, answering as the recorded server did."""

    def __init__(self, router: dict[str, Any]) -> None:
        self.routers: dict[str, dict[str, Any]] = {router["metadata"]["name"]: router}
        """Every Router of the namespace by name (the first is the test's)."""
        self.main = router["metadata"]["name"]
        self.objects: dict[Key, dict[str, Any]] = {}
        self.writes: list[tuple[str, str, str]] = []
        """(verb, kind, name) of every write, in order."""
        self.refuse: dict[str, KubeError] = {}
        """kind → the error its writes get."""
        self.rollout = "progressing"
        """The recorded stage of the Deployment's rollout (`roll`)."""
        self.pods: list[dict[str, Any]] = []
        self.pod_reads = 0
        self.gone = False
        self._revisions = itertools.count(int(router["metadata"]["resourceVersion"]) + 1)

    @property
    def router(self) -> dict[str, Any]:
        return self.routers[self.main]

    @router.setter
    def router(self, body: dict[str, Any]) -> None:
        self.routers[self.main] = body

    def _stamp(self, body: dict[str, Any], previous: dict[str, Any] | None) -> None:
        meta = body["metadata"]
        meta["resourceVersion"] = str(next(self._revisions))
        meta["uid"] = previous["metadata"]["uid"] if previous else f"uid-{meta['name']}"
        meta["creationTimestamp"] = "2026-01-02T03:04:05Z"
        if body["kind"] == "Deployment":
            # As the API server answers: the status is the controllers' last, which has
            # not seen a new generation yet (a new object has none).
            generation = previous["metadata"].get("generation", 1) if previous else 1
            if previous is not None and previous.get("spec") != body.get("spec"):
                generation += 1
            meta["generation"] = generation
            body["status"] = copy.deepcopy(previous.get("status", {})) if previous else {}

    def _set_rollout(self, deployment: dict[str, Any]) -> None:
        status = copy.deepcopy(recorded(f"deployment-{self.rollout}.json").get("status", {}))
        status["observedGeneration"] = deployment["metadata"]["generation"]
        deployment["status"] = status

    def roll(self, stage: str) -> dict[str, Any]:
        """The Deployment's controllers reach `stage` (a recorded one); its new body."""
        self.rollout = stage
        key = next(k for k in self.objects if k[0] == "Deployment")
        deployment = self.objects[key]
        deployment["metadata"]["resourceVersion"] = str(next(self._revisions))
        self._set_rollout(deployment)
        return copy.deepcopy(deployment)

    def edit(self, kind: str, name: str, change: dict[str, Any]) -> dict[str, Any]:
        """Someone edits an object by hand; its new body."""
        body = self.objects[(kind, NAMESPACE, name)]
        _merge(body, change)
        body["metadata"]["resourceVersion"] = str(next(self._revisions))
        return copy.deepcopy(body)

    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        kind, meta = obj["kind"], obj["metadata"]
        if kind in self.refuse:
            raise self.refuse[kind]
        key = (kind, meta["namespace"], meta["name"])
        answered = _recorded_answer(kind)
        body = _fill_defaults(dict(obj), answered) if answered else copy.deepcopy(dict(obj))
        self._stamp(body, self.objects.get(key))
        self.objects[key] = body
        self.writes.append(("apply", kind, meta["name"]))
        return copy.deepcopy(body)

    async def replace(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        key = (obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])
        body = copy.deepcopy(dict(obj))
        self._stamp(body, self.objects.get(key))
        self.objects[key] = body
        self.writes.append(("replace", obj["kind"], obj["metadata"]["name"]))
        return copy.deepcopy(body)

    async def delete(self, ref: ObjectRef) -> bool:
        if ref.kind in self.refuse:
            raise self.refuse[ref.kind]
        held = self.objects.get((ref.kind, ref.namespace, ref.name))
        if held is not None and held["apiVersion"] != ref.api_version:
            # The URL is built from the apiVersion: another one names no such resource.
            raise KubeError(404, "the server could not find the requested resource")
        self.writes.append(("delete", ref.kind, ref.name))
        return self.objects.pop((ref.kind, ref.namespace, ref.name), None) is not None

    async def patch_router_status(
        self, namespace: str, name: str, uid: str, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        router = self.routers.get(name)
        if self.gone or router is None or uid != router["metadata"]["uid"]:
            raise RouterGone(404, f'routers.turnout.dev "{name}" not found')
        self.writes.append(("status", "Router", name))
        router["status"] = copy.deepcopy(dict(status))
        router["metadata"]["resourceVersion"] = str(next(self._revisions))
        return copy.deepcopy(router)

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The pods whose labels match `selector` (equality terms joined by commas)."""
        self.pod_reads += 1
        wanted = dict(term.split("=", 1) for term in selector.split(","))
        return [
            copy.deepcopy(pod)
            for pod in self.pods
            if all(pod["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
        ]


def _merge(target: dict[str, Any], change: Mapping[str, Any]) -> None:
    for key, value in change.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _recorded_answer(kind: str) -> dict[str, Any] | None:
    path = RECORDED / f"applied-{kind.lower()}.json"
    if kind == "HorizontalPodAutoscaler":
        path = RECORDED / "applied-hpa.json"
    return json.loads(path.read_text()) if path.exists() else None


class RecordedStore:
    """The versions store's rows for the pass's Routers, with the store's rules."""

    def __init__(self) -> None:
        self.rows: dict[str, list[VersionRecord]] = {}
        self.down = False
        self.calls: list[str] = []

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.down:
            raise StoreUnavailableError("the versions database is unreachable (connection refused)")

    def _set(self, router: RouterRef, number: int, **changes: Any) -> None:
        rows = self.rows[router.uid]
        rows[number - 1] = dataclasses.replace(rows[number - 1], **changes)

    async def find_by_hash(self, router: RouterRef, config_hash: str) -> VersionRecord | None:
        self._call("find_by_hash")
        rows = self.rows.get(router.uid, [])
        return next((row for row in rows if row.config_hash == config_hash), None)

    async def list_versions(
        self, router: RouterRef, limit: int | None = None
    ) -> list[VersionRecord]:
        self._call("list_versions")
        newest = list(reversed(self.rows.get(router.uid, [])))
        return newest[:limit] if limit is not None else newest

    async def record(self, router: RouterRef, draft: VersionDraft) -> tuple[VersionRecord, bool]:
        self._call("record")
        rows = self.rows.setdefault(router.uid, [])
        for row in rows:
            if row.config_hash == draft.config_hash:
                return row, False
        row = VersionRecord(
            number=len(rows) + 1,
            status=VersionStatus.PENDING,
            error=None,
            config_hash=draft.config_hash,
            spec=draft.spec,
            experiment_engine=draft.experiment_engine,
            router_image=draft.router_image,
            created_at=T0,
            updated_at=T0,
        )
        rows.append(row)
        return row, True

    async def mark_deployed(self, router: RouterRef, number: int) -> datetime | None:
        self._call("mark_deployed")
        for row in self.rows[router.uid]:
            if row.number != number and row.status in (
                VersionStatus.DEPLOYED,
                VersionStatus.PENDING,
            ):
                self._set(router, row.number, status=VersionStatus.UNDEPLOYED)
        if self.rows[router.uid][number - 1].status == VersionStatus.DEPLOYED:
            return None
        stamped = datetime(2026, 1, 2, 3, 5, 0, tzinfo=UTC)
        self._set(router, number, status=VersionStatus.DEPLOYED, error=None, updated_at=stamped)
        return stamped

    async def mark_failed(self, router: RouterRef, number: int, error: str) -> None:
        self._call("mark_failed")
        self._set(router, number, status=VersionStatus.FAILED, error=error)

    async def mark_undeployed(self, router: RouterRef) -> None:
        self._call("mark_undeployed")
        for row in self.rows.get(router.uid, []):
            if row.status in (VersionStatus.DEPLOYED, VersionStatus.PENDING):
                self._set(router, row.number, status=VersionStatus.UNDEPLOYED)


class ScriptedEngine:
    """One configured engine whose plugin answers as the test says."""

    def __init__(self, config: EngineConfig = ENGINE_CONFIG) -> None:
        self.config = config
        self.binary_sha256: str | None = PLUGIN_SHA256
        self.secrets = frozenset({SECRET})
        self.answer: str = "ok"
        """ok, reject (the plugin refuses the config, quoting the passkey), down, not-json."""
        self.asked = 0
        self.configs: list[Any] = []
        """Each experiment config the plugin was asked to validate."""
        self._last_error: str | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def last_error(self) -> str | None:
        return self._last_error

    def is_running(self) -> bool:
        return self.answer != "down"

    async def manager(self) -> ScriptedEngine:
        if self.answer == "down":
            self._last_error = "plugin exited with status 3"
            raise PluginStartError("hardcoded: plugin exited with status 3 before the handshake")
        self.binary_sha256 = PLUGIN_SHA256
        return self

    async def validate_experiment_config(self, config: Any) -> None:
        self.asked += 1
        self.configs.append(config)
        if self.answer == "reject":
            raise RemoteError(
                "ValidateExperimentConfig", f"unknown experiment (client passkey {SECRET})"
            )

    async def get_experiment_runner_config(self, config: Any) -> bytes:
        self.configs.append(config)
        if self.answer == "not-json":
            return b"{not json"
        return json.dumps(RUNNER_CONFIG).encode()


class Engines:
    def __init__(self, *engines: ScriptedEngine) -> None:
        self._engines = {engine.name: engine for engine in engines}

    def get(self, name: str) -> ScriptedEngine | None:
        return self._engines.get(name)

    def names(self) -> list[str]:
        return sorted(self._engines)


class World:
    """One Router, the reconciler the operator would build for it, and what it meets."""

    def __init__(self, router: dict[str, Any] | None = None, mirror_limit: int = 3) -> None:
        body = copy.deepcopy(router if router is not None else recorded("router.json"))
        self.api = RecordedApi(body)
        self.store = RecordedStore()
        self.engine = ScriptedEngine()
        self.events: list[Event] = []
        self.now = 1000.0
        self.cache = RouterCache(BUILD)
        writer = ChildWriter(self.api, self.cache.children)
        self.reconciler = Reconciler(
            api=self.api,
            store=self.store,
            engines=Engines(self.engine),
            cache=self.cache,
            writer=writer,
            build=BUILD,
            post_event=lambda router, event: self.events.append(event),
            retry_seconds=RETRY_SECONDS,
            clock=lambda: "2026-01-02T03:04:05Z",
            mirror=VersionMirror(self.store, self.cache, writer, mirror_limit),
            monotonic=lambda: self.now,
        )

    @property
    def router(self) -> RouterObject:
        """The Router as its loop last saw it."""
        return RouterObject.from_body(self.api.router)

    def change_spec(self, **spec: Any) -> None:
        """A user changes the spec: a new generation."""
        meta = self.api.router["metadata"]
        self.api.router["spec"] = {**self.api.router["spec"], **spec}
        meta["generation"] = int(meta["generation"]) + 1
        meta["resourceVersion"] = str(next(self.api._revisions))

    def deliver(self, *bodies: dict[str, Any], event: str = "MODIFIED") -> None:
        """Watch events of owned objects reach the cache."""
        for body in bodies:
            self.cache.observe(event, body)

    def add_router(self, name: str, **spec: Any) -> dict[str, Any]:
        """Another Router in the namespace, as the API server would return it."""
        body: dict[str, Any] = copy.deepcopy(recorded("router.json"))
        body["metadata"].update(name=name, uid=f"uid-router-{name}")
        body["spec"] = {**body["spec"], **spec}
        self.api.routers[name] = body
        return body

    async def run(self, seen: dict[str, Any] | None = None) -> float | None:
        """One pass over the Router as its loop last saw it (`seen`: an older body); the
        writes it made are in `api.writes`."""
        self.api.writes.clear()
        self.api.pod_reads = 0
        self.store.calls.clear()
        self.events.clear()
        router = RouterObject.from_body(seen) if seen is not None else self.router
        return await self.reconciler.reconcile(router)

    @property
    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.api.router.get("status", {})
        return status

    def condition(self, kind: str) -> dict[str, Any]:
        return next(c for c in self.status.get("conditions", []) if c["type"] == kind)

    def deployment(self) -> dict[str, Any]:
        return self.api.objects[("Deployment", NAMESPACE, f"{ROUTER_NAME}-router")]
