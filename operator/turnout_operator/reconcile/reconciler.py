"""One Router, reconciled: validate → engine → version → apply → rollout → status.

Level-triggered and idempotent: every pass starts from the Router as it is now,
the versions in Postgres and the operator's cache of the objects it owns, and
converges them. Running a pass twice, or after a crash half-way through, does no
harm: versions are found by the hash of their inputs before any is created,
applies are server-side applies of the same objects, and the status is written
only when it changed.

Failure handling, in one place:

* an invalid spec, an unknown engine or an experiment config the plugin rejects
  is *permanent* until the spec changes: `ConfigValid=False` with the reason, no
  new version, and whatever is serving keeps serving;
* a plugin or database that is down is *temporary*: a condition says so and the
  pass is retried after `retry_seconds`;
* a rollout that exceeds its progress deadline marks its version failed, restores
  the last deployed version's objects from its row (no plugin call) and leaves
  the Router Failed until its spec changes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from pydantic import JsonValue, ValidationError

from plugin_host import PluginError, RemoteError
from turnout_operator import builders
from turnout_operator.api import Phase, RouterSpec, RouterStatus
from turnout_operator.api.engine_config import EngineConfig
from turnout_operator.api.router import name_problems, spec_error_messages
from turnout_operator.builders import BuildSettings
from turnout_operator.builders.desired import engine_document, version_inputs
from turnout_operator.builders.names import ROUTER_LABEL, VERSION_LABEL
from turnout_operator.cache import ChildWriter, RouterCache, RouterObject
from turnout_operator.engines.catalogue import scrub
from turnout_operator.kube.client import KubeError, ObjectRef
from turnout_operator.reconcile import verdicts
from turnout_operator.reconcile.mirror import VersionMirror
from turnout_operator.reconcile.pacing import Clock
from turnout_operator.reconcile.publish import (
    EventSink,
    Publisher,
    StatusWrites,
    now_rfc3339,
    sooner,
)
from turnout_operator.reconcile.rollout import RolloutPhase, reads_pods, rollout_state, with_pods
from turnout_operator.reconcile.status import Check, Event, Verdict
from turnout_operator.store import (
    RouterRef,
    StoreUnavailableError,
    VersionDraft,
    VersionRecord,
    VersionStatus,
)
from turnout_operator.telemetry import metrics
from turnout_operator.telemetry.timings import measure, pass_timings
from turnout_router.config import NOP_ENGINE

log = logging.getLogger(__name__)

__all__ = ["EventSink", "Reconciler", "RouterObject", "now_rfc3339"]

ROLLOUT_POLL_SECONDS = 30.0
"""How soon to look again at a rollout in progress when no watch event arrives first."""
PODS_POLL_SECONDS = 5.0
"""While a rollout waits on its new pods: their crashes change nothing the operator watches."""


# --- what a pass needs from the world, as the interfaces it calls ---


class RouterApi(StatusWrites, Protocol):
    """The API server, beyond writes of owned objects (`kube.client.Kube`)."""

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]: ...


class Versions(Protocol):
    """The versions store (`store.VersionStore`)."""

    async def find_by_hash(self, router: RouterRef, config_hash: str) -> VersionRecord | None: ...

    async def list_versions(
        self, router: RouterRef, limit: int | None = None
    ) -> list[VersionRecord]: ...

    async def record(
        self, router: RouterRef, draft: VersionDraft
    ) -> tuple[VersionRecord, bool]: ...

    async def mark_deployed(self, router: RouterRef, number: int) -> datetime | None: ...

    async def mark_failed(self, router: RouterRef, number: int, error: str) -> None: ...

    async def mark_undeployed(self, router: RouterRef) -> None: ...


class Manager(Protocol):
    """A configured experiment manager of a running plugin (`plugin_host.ManagerClient`)."""

    async def validate_experiment_config(self, config: Any) -> None: ...

    async def get_experiment_runner_config(self, config: Any) -> bytes: ...


class Engine(Protocol):
    """One configured engine (`engines.registry.EngineHandle`)."""

    config: EngineConfig
    binary_sha256: str | None
    secrets: frozenset[str]

    @property
    def name(self) -> str: ...

    @property
    def last_error(self) -> str | None: ...

    def is_running(self) -> bool: ...

    async def manager(self) -> Any: ...


class Engines(Protocol):
    """The configured engines (`engines.registry.EngineRegistry`)."""

    def get(self, name: str) -> Any: ...

    def names(self) -> list[str]: ...


@dataclass(frozen=True)
class Stop:
    """A pass that ends before deploying: what to report and when to try again."""

    verdict: Verdict
    requeue: float | None


def _number(record: VersionRecord | None) -> int | None:
    return record.number if record is not None else None


def describe_validation_error(error: ValidationError) -> str:
    """Pydantic's errors as 'spec.field: problem' lines, without echoing input values.

    Fields are named as the API server names them (``spec.routes[0].endpoint``), so a
    spec refused by the operator reads like one refused at apply time.
    """
    return "; ".join(spec_error_messages(error))


class Reconciler:
    """Everything one pass needs, created once at startup.

    It reads what it knows of a Router from `cache` (the one door: previous status,
    version record, children plan, owned objects), writes owned objects through
    `writer`, and statuses and Events through its publisher.
    """

    def __init__(
        self,
        *,
        api: RouterApi,
        store: Versions,
        engines: Engines,
        cache: RouterCache,
        writer: ChildWriter,
        build: BuildSettings,
        post_event: EventSink,
        retry_seconds: float,
        clock: Callable[[], str] = now_rfc3339,
        mirror: VersionMirror | None = None,
        monotonic: Clock = time.monotonic,
    ) -> None:
        self.api = api
        self.store = store
        self.engines = engines
        self.cache = cache
        self.writer = writer
        self.build = build
        self.retry_seconds = retry_seconds
        self.mirror = mirror
        """Writes the RouterVersion objects after each pass (None: no mirror)."""
        self.publisher = Publisher(api, cache, post_event, clock=clock, monotonic=monotonic)
        self.phases: dict[str, metrics.RouterStanding] = {}
        """uid → where the Router stood after its last pass (the per-Router and by-phase
        metrics)."""

    @property
    def post_event(self) -> EventSink:
        return self.publisher.post_event

    # --- the pass ---

    async def reconcile(self, router: RouterObject) -> float | None:
        """One pass. Returns seconds until the next pass is due (None: on change or resync)."""
        previous = self.cache.previous(router)
        with pass_timings() as timings:
            verdict, requeue = await self._decide(router, previous)
            changed, deferred = await self.publisher.publish(router, previous, verdict)
            requeue = sooner(requeue, deferred)
            current = self.cache.record(router.uid)
            held = self.publisher.mirror_wait(router.uid, verdict, current)
            requeue = sooner(requeue, held)
            if self.mirror is not None and not held:
                await self.mirror.sync(router.identity, current, sole=self.cache.sole(router.uid))
        self.phases[router.uid] = metrics.RouterStanding(
            router.namespace, router.name, str(verdict.phase), verdict.ready.status is True
        )
        if changed or timings.seconds.get("plugin"):
            log.info(
                "reconciled",
                extra={
                    "namespace": router.namespace,
                    "router": router.name,
                    "generation": router.generation,
                    "phase": str(verdict.phase),
                    "version": verdict.current_version,
                    **timings.as_millis(),
                },
            )
        return requeue

    def own_write(self, router: RouterObject) -> bool:
        """True when `router` is the body this process's last status write made: the
        watch event of that write, which tells the Router's loop nothing new."""
        return self.cache.own_write(router)

    async def _decide(
        self, router: RouterObject, previous: RouterStatus
    ) -> tuple[Verdict, float | None]:
        # The CRD refuses these names; a Router made under an older CRD may still have one,
        # and its objects' names would then be refused one by one.
        if problems := name_problems(router.name):
            return verdicts.rejected(previous, "InvalidSpec", "; ".join(problems)), None
        try:
            spec = RouterSpec.model_validate(router.spec)
        except ValidationError as error:
            return verdicts.rejected(
                previous, "InvalidSpec", describe_validation_error(error)
            ), None
        if spec.suspend:
            return await self._suspend(router, previous)

        engine: Engine | None = None
        if spec.experiment_engine.type != NOP_ENGINE:
            engine = self.engines.get(spec.experiment_engine.type)
            if engine is None:
                return verdicts.rejected(
                    previous,
                    "UnknownEngine",
                    verdicts.unknown_engine_message(
                        spec.experiment_engine.type, self.engines.names()
                    ),
                ), None

        if engine is not None and engine.binary_sha256 is None:
            # The digest of the binary that will validate the version is part of it:
            # start the plugin first (it is read at every start).
            try:
                with measure("plugin"):
                    await engine.manager()
            except PluginError as error:
                return verdicts.engine_down(previous, engine.name, str(error)), self.retry_seconds
        inputs = version_inputs(
            spec,
            engine.config if engine else None,
            self.build.router_image,
            engine.binary_sha256 if engine else None,
        )
        events: list[Event] = []
        try:
            record = self.cache.record(router.uid)
            # A Router that never had a version has none to find (but one that a pass which
            # crashed recorded: `store.record` returns that one rather than a second).
            fresh = record is None and previous.current_version is None
            if not fresh and (record is None or record.config_hash != inputs.config_hash):
                with measure("db"):
                    record = await self.store.find_by_hash(router.ref, inputs.config_hash)
            if record is None:
                answer = await self._ask_engine(engine, spec, previous)
                if isinstance(answer, Stop):
                    return answer.verdict, answer.requeue
                draft = VersionDraft(
                    config_hash=inputs.config_hash,
                    spec=inputs.spec,
                    experiment_engine=engine_document(
                        inputs, spec.experiment_engine.config, answer
                    ),
                    router_image=inputs.router_image,
                )
                with measure("db"):
                    record, created = await self.store.record(router.ref, draft)
                if created:
                    metrics.VERSIONS_CREATED.inc()
                    events.append(
                        Event("Normal", "VersionCreated", f"version {record.number} recorded")
                    )
                self.cache.keep_record(router.uid, record, created=created)
            else:
                self.cache.keep_record(router.uid, record)
            return await self._deploy(router, previous, spec, engine, record, events)
        except StoreUnavailableError as error:
            metrics.DATABASE_ERRORS.inc()
            return verdicts.database_down(previous, str(error)), self.retry_seconds

    async def _ask_engine(
        self, engine: Engine | None, spec: RouterSpec, previous: RouterStatus
    ) -> JsonValue | Stop:
        """The runner config for this spec's experiment, or why the pass stops here."""
        if engine is None:
            return None
        config = spec.experiment_engine.config
        try:
            with measure("plugin"):
                manager: Manager = await engine.manager()
                await manager.validate_experiment_config(cast(Any, config))
                raw = await manager.get_experiment_runner_config(cast(Any, config))
        except RemoteError as error:
            return Stop(
                verdicts.rejected(
                    previous,
                    "ExperimentConfigInvalid",
                    verdicts.config_rejected_message(
                        engine.name, scrub(error.message, engine.secrets)
                    ),
                ),
                None,
            )
        except PluginError as error:
            return Stop(verdicts.engine_down(previous, engine.name, str(error)), self.retry_seconds)
        try:
            runner_config: JsonValue = json.loads(raw) if raw else None
        except ValueError:
            return Stop(
                verdicts.rejected(
                    previous,
                    "EngineError",
                    f"engine {engine.name!r} returned a runner config that is not JSON",
                ),
                None,
            )
        return runner_config

    async def _deploy(
        self,
        router: RouterObject,
        previous: RouterStatus,
        spec: RouterSpec,
        engine: Engine | None,
        record: VersionRecord,
        events: list[Event],
    ) -> tuple[Verdict, float | None]:
        endpoint = builders.endpoint(router.identity, self.build)
        engine_state = self._engine_check(engine)
        already_failed = (
            record.status == VersionStatus.FAILED
            and previous.current_version == record.number
            and previous.observed_generation == router.generation
        )
        if already_failed:
            # This spec's version failed already: keep the last deployed one in place.
            restored = await self._restore_deployed(router, exclude=record.number)
            reason = record.error or "rollout failed"
            return verdicts.rollout_failed(
                record.number, reason, _number(restored), previous, endpoint, engine_state
            ), None

        if self.cache.settled(router.uid) not in (None, record.number):
            self.cache.unsettle(router.uid)  # the spec moved on: settle again once complete
        try:
            deployment, template_hash = await self._ensure(router, record)
        except KubeError as error:
            return verdicts.apply_failed(
                previous, record.number, endpoint, engine_state, error.message
            ), self.retry_seconds
        state = rollout_state(deployment, template_hash)
        if reads_pods(state, deployment, template_hash):
            # One small read: the new pods say at once when they can never start.
            try:
                pods = await self.api.list_pods(
                    router.namespace,
                    f"{VERSION_LABEL}={record.number},{ROUTER_LABEL}={router.name}",
                )
            except KubeError as error:
                log.warning(
                    "pods unreadable", extra={"router": router.name, "error": error.message}
                )
                pods = []
            state = with_pods(state, pods, template_hash)
        if state.phase == RolloutPhase.COMPLETE:
            if (
                record.status != VersionStatus.DEPLOYED
                or self.cache.settled(router.uid) != record.number
            ):
                with measure("db"):
                    stamped = await self.store.mark_deployed(router.ref, record.number)
                self.cache.settle(router.uid, record.number)
                # With the row's own updated_at: the mirror shows it, and an operator
                # started later reads it from the row (a differing one is rewritten).
                self.cache.keep_record(
                    router.uid,
                    dataclasses.replace(
                        record,
                        status=VersionStatus.DEPLOYED,
                        error=None,
                        updated_at=stamped or record.updated_at,
                    ),
                )
            if record.status != VersionStatus.DEPLOYED:
                events.append(
                    Event("Normal", "VersionDeployed", f"version {record.number} is serving")
                )
            await self._collect_configmaps(router, keep={record.number})
            return verdicts.deployed(
                record.number, endpoint, state, engine_state, tuple(events)
            ), None
        if state.phase == RolloutPhase.FAILED:
            with measure("db"):
                await self.store.mark_failed(router.ref, record.number, state.message)
            self.cache.keep_record(
                router.uid,
                dataclasses.replace(record, status=VersionStatus.FAILED, error=state.message),
            )
            restored = await self._restore_deployed(router, exclude=record.number)
            return verdicts.rollout_failed(
                record.number,
                state.message,
                _number(restored),
                previous,
                endpoint,
                engine_state,
                tuple(events),
            ), None
        return verdicts.deploying(
            record.number, endpoint, state, previous, engine_state, tuple(events)
        ), (
            PODS_POLL_SECONDS
            if reads_pods(state, deployment, template_hash)
            else ROLLOUT_POLL_SECONDS
        )

    # --- failed rollouts ---

    async def _restore_deployed(
        self, router: RouterObject, *, exclude: int
    ) -> VersionRecord | None:
        """Re-apply the last deployed version (from its row: no plugin call). None if there is none."""
        with measure("db"):
            candidates = await self.store.list_versions(router.ref)
        for candidate in candidates:
            if candidate.number != exclude and candidate.status == VersionStatus.DEPLOYED:
                await self._ensure(router, candidate)
                return candidate
        return None

    # --- applying objects ---

    async def _ensure(
        self, router: RouterObject, record: VersionRecord
    ) -> tuple[dict[str, Any] | None, str]:
        """Apply each object that is missing or drifted. Returns the Deployment as last
        seen and the config hash its pod template must carry for this version."""
        plan = self.cache.plan(router, record)
        for desired in plan.apply:
            await self.writer.apply(desired)
        for ref in plan.delete:
            await self.writer.delete(ref)
        return self.cache.get(*plan.deployment), plan.config_hash

    async def _collect_configmaps(self, router: RouterObject, keep: set[int]) -> None:
        """Delete ConfigMaps of versions no pod uses any more (rows keep their content)."""
        for body in self.cache.owned("ConfigMap", router.namespace, router.name):
            labels = body.get("metadata", {}).get("labels") or {}
            version = labels.get(VERSION_LABEL)
            if version is not None and version.isdigit() and int(version) not in keep:
                await self.writer.delete(
                    ObjectRef("v1", "ConfigMap", router.namespace, body["metadata"]["name"])
                )

    # --- suspend ---

    async def _suspend(
        self, router: RouterObject, previous: RouterStatus
    ) -> tuple[Verdict, float | None]:
        namespace, name = router.namespace, router.name
        try:
            # Passes of a Router that stays suspended find nothing left and write nothing.
            for ref in (
                ObjectRef("apps/v1", "Deployment", namespace, builders.deployment_name(name)),
                ObjectRef("v1", "Service", namespace, builders.service_name(name)),
                ObjectRef(
                    "autoscaling/v2", "HorizontalPodAutoscaler", namespace, builders.hpa_name(name)
                ),
            ):
                await self.writer.delete_if_present(ref)
            await self._collect_configmaps(router, keep=set())
            if previous.phase != Phase.UNDEPLOYED:
                with measure("db"):
                    await self.store.mark_undeployed(router.ref)
            # Its versions are undeployed now: the next deployment settles them again.
            self.cache.suspend(router.uid)
        except StoreUnavailableError as error:
            metrics.DATABASE_ERRORS.inc()
            return verdicts.database_down(previous, str(error)), self.retry_seconds
        except KubeError as error:
            return verdicts.apply_failed(
                previous, None, None, verdicts.NOT_CHECKED, error.message
            ), self.retry_seconds
        return verdicts.suspended(previous), None

    def _engine_check(self, engine: Engine | None) -> Check:
        if engine is None:
            return verdicts.engine_check(None, True, None)
        return verdicts.engine_check(engine.name, engine.is_running(), engine.last_error)

    # --- deletion and the orphan sweep ---

    def _forget(self, uid: str) -> None:
        self.cache.forget(uid)
        self.publisher.forget(uid)

    async def finalize(self, router: RouterObject) -> None:
        """The Router is gone: its versions stop being deployed (children go by GC)."""
        self._forget(router.uid)
        await self.store.mark_undeployed(router.ref)

    async def sweep(
        self, serving: list[RouterRef], live_uids: set[str], namespaces: list[str]
    ) -> int:
        """Mark undeployed the versions of Routers deleted while the database was down, or
        while no operator ran, or whose deletion this process did not see.

        `serving` must be read from the database before `live_uids` is listed, and the list
        must be a consistent read: a row is written only after its Router was seen, so a
        Router with a row in `serving` existed before the list, and is gone if the list
        lacks it. Only Routers of the watched `namespaces` (empty: all) are judged: the
        database may be shared with operators that watch other namespaces.
        """
        swept = 0
        for ref in serving:
            if ref.uid in live_uids or (namespaces and ref.namespace not in namespaces):
                continue
            self._forget(ref.uid)
            await self.store.mark_undeployed(ref)
            swept += 1
        return swept
