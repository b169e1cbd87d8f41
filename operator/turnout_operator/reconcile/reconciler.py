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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

from pydantic import JsonValue, ValidationError

from plugin_host import PluginError, RemoteError
from turnout_operator import builders
from turnout_operator.api import Phase, RouterSpec, RouterStatus
from turnout_operator.api.router import name_problems, spec_error_messages
from turnout_operator.builders import BuildSettings, RouterIdentity
from turnout_operator.builders.desired import (
    DesiredObjects,
    engine_document,
    scaling_key,
    scaling_of,
    version_inputs,
)
from turnout_operator.builders.drift import differs
from turnout_operator.builders.names import ROUTER_LABEL, VERSION_LABEL
from turnout_operator.cache.children import ChildCache
from turnout_operator.cache.compact_record import kept_record
from turnout_operator.cache.desired import DesiredMemo
from turnout_operator.cache.in_sync import InSyncMemo, ObjectKey, Settled
from turnout_operator.cache.packing import Packer
from turnout_operator.engines.catalogue import scrub
from turnout_operator.engines.registry import EngineHandle, EngineRegistry
from turnout_operator.kube.client import Kube, KubeError, ObjectRef
from turnout_operator.reconcile import verdicts
from turnout_operator.reconcile.mirror import VersionMirror
from turnout_operator.reconcile.pacing import Clock, Grace, Holding, Spacing
from turnout_operator.reconcile.rollout import RolloutPhase, reads_pods, rollout_state, with_pods
from turnout_operator.reconcile.status import (
    Check,
    Event,
    Verdict,
    build_status,
    latest_transitions,
    pass_events,
    progress_only,
    same_status,
    status_body,
    transition_events,
)
from turnout_operator.store import (
    RouterRef,
    StoreUnavailableError,
    VersionDraft,
    VersionRecord,
    VersionStatus,
    VersionStore,
)
from turnout_operator.telemetry import metrics
from turnout_operator.telemetry.timings import measure, pass_timings
from turnout_router.config import NOP_ENGINE

log = logging.getLogger(__name__)

EventSink = Callable[["RouterObject", Event], None]
"""Posts one Event about a Router (kopf's poster in the operator)."""

StatusWriter = Callable[[str, str, Mapping[str, Any]], Awaitable[None]]

# How soon to look again at a rollout in progress when no watch event arrives first.
ROLLOUT_POLL_SECONDS = 30.0
PODS_POLL_SECONDS = 5.0
"""While a rollout waits on its new pods: their crashes change nothing the operator watches."""
# A rollout's progress messages are written at most this often per Router; a change of
# phase or of any condition's status or reason is written at once.
PROGRESS_WRITE_SECONDS = 30.0
# A version still rolling out gets its RouterVersion mirror after this long; one whose
# rollout ends sooner is mirrored once, as deployed (or failed).
MIRROR_PENDING_GRACE_SECONDS = 60.0
# The Normal Events of a rollout in progress wait this long for its end, to be posted
# with it as one Event; Warnings are posted at once (and release what waits).
EVENT_HOLD_SECONDS = 30.0


_ROUTERS: Final = Packer()
"""Every Router's spec and status as its loop keeps them between passes (`RouterObject`)."""


@dataclass(frozen=True)
class RouterObject:
    """The parts of a Router body a pass reads.

    Each Router's loop keeps its Router as last seen until the next pass: the spec and
    the status (conditions and all) are kept packed (`packing`: a few hundred bytes
    instead of about 8 KB of dicts) and unpacked, as fresh dicts, when read (once each
    per pass).
    """

    namespace: str
    name: str
    uid: str
    generation: int
    packed_spec: bytes
    packed_status: bytes
    """The spec and the status, packed apart: reading one unpacks only it."""
    resource_version: str = ""

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> RouterObject:
        meta = body.get("metadata", {})
        return cls(
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
            generation=int(meta.get("generation", 0) or 0),
            packed_spec=_ROUTERS.pack("spec", body.get("spec", {}) or {}),
            packed_status=_ROUTERS.pack("status", body.get("status", {}) or {}),
            resource_version=str(meta.get("resourceVersion", "")),
        )

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = _ROUTERS.unpack("spec", self.packed_spec)
        return spec

    @property
    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = _ROUTERS.unpack("status", self.packed_status)
        return status

    @property
    def identity(self) -> RouterIdentity:
        return RouterIdentity(namespace=self.namespace, name=self.name, uid=self.uid)

    @property
    def ref(self) -> RouterRef:
        return RouterRef(namespace=self.namespace, name=self.name, uid=self.uid)


@dataclass(frozen=True)
class Stop:
    """A pass that ends before deploying: what to report and when to try again."""

    verdict: Verdict
    requeue: float | None


def _revision(resource_version: str) -> int | None:
    """A resourceVersion as a number, to tell an older body from a newer one.

    Kubernetes calls resourceVersions opaque; the API server hands out etcd's revision,
    a number that only grows. Where it is not a number, nothing is assumed.
    """
    return int(resource_version) if resource_version.isdigit() else None


def _number(record: VersionRecord | None) -> int | None:
    return record.number if record is not None else None


def _object_key(body: Mapping[str, Any]) -> ObjectKey:
    meta = body["metadata"]
    return (body["kind"], meta["namespace"], meta["name"])


def _sooner(first: float | None, second: float | None) -> float | None:
    """The earlier of two delays, where None means no delay is due."""
    if first is None or second is None:
        return first if second is None else second
    return min(first, second)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_validation_error(error: ValidationError) -> str:
    """Pydantic's errors as 'spec.field: problem' lines, without echoing input values.

    Fields are named as the API server names them (``spec.routes[0].endpoint``), so a
    spec refused by the operator reads like one refused at apply time.
    """
    return "; ".join(spec_error_messages(error))


def previous_status(raw: Mapping[str, Any]) -> RouterStatus:
    """The status as last written; an unreadable one (edited by hand) counts as empty."""
    try:
        return RouterStatus.model_validate(raw)
    except ValidationError:
        return RouterStatus()


class Reconciler:
    """Everything one pass needs, created once at startup."""

    def __init__(
        self,
        *,
        kube: Kube,
        store: VersionStore,
        engines: EngineRegistry,
        cache: ChildCache,
        build: BuildSettings,
        post_event: EventSink,
        retry_seconds: float,
        clock: Callable[[], str] = now_rfc3339,
        mirror: VersionMirror | None = None,
        monotonic: Clock = time.monotonic,
    ) -> None:
        self.kube = kube
        self.store = store
        self.engines = engines
        self.cache = cache
        self.build = build
        self.post_event = post_event
        self.retry_seconds = retry_seconds
        self.clock = clock
        self.mirror = mirror
        """Writes the RouterVersion objects after each pass (None: no mirror)."""
        # uid → (resourceVersion of our last status write, the status written). A pass woken
        # before the watch delivers that write still holds an older body; it must build on
        # what was written, or it would write again and repeat the transition Events.
        self._written: dict[str, tuple[int, RouterStatus]] = {}
        self.phases: dict[str, metrics.RouterStanding] = {}
        """uid → where the Router stood after its last pass (the per-Router and by-phase
        metrics)."""
        # uid → the version whose rows this process last settled (mark_deployed): a
        # Router whose spec moved to another version, or that this process has not
        # settled yet (a restart), is settled again so replaced pending rows are marked.
        self._settled: dict[str, int] = {}
        # uid → the version this process last found for the Router's spec, with the status
        # it wrote since: a pass over an unchanged spec reads nothing from the database,
        # so a database outage leaves Routers nobody changes as they are. Kept compact
        # (`kept_record`): its documents are read only when objects are built again.
        self._records: dict[str, VersionRecord] = {}
        self._desired = DesiredMemo()
        """uid → the child objects last built for the Router (reused while its version stays)."""
        # uid → child key → (resourceVersion, what it was built from) of each child last
        # found in sync: an object unchanged since, compared with the same desired object,
        # is in sync still, so most passes skip the comparison (and parsing the cached body).
        self._in_sync = InSyncMemo()
        self._first_made: set[str] = set()
        """uids of Routers whose version 1 this process created and whose record has been
        that version since: their only version (the mirror need not read the rows)."""
        self._progress = Spacing(PROGRESS_WRITE_SECONDS, monotonic)
        """uid → when its status was last written (progress-only changes wait for it)."""
        self._rolling = Grace(MIRROR_PENDING_GRACE_SECONDS, monotonic)
        """uid → since when its current version has been rolling out (mirrored later)."""
        self._held: Holding[Event] = Holding(EVENT_HOLD_SECONDS, monotonic)
        """uid → Normal Events of a rollout in progress, posted with its end."""

    # --- the pass ---

    async def reconcile(self, router: RouterObject) -> float | None:
        """One pass. Returns seconds until the next pass is due (None: on change or resync)."""
        previous = self._previous(router)
        with pass_timings() as timings:
            verdict, requeue = await self._decide(router, previous)
            changed, deferred = await self._publish(router, previous, verdict)
            requeue = _sooner(requeue, deferred)
            held = self._mirror_held(router.uid, verdict)
            requeue = _sooner(requeue, held)
            if self.mirror is not None and not held:
                await self.mirror.sync(
                    router.identity,
                    self._records.get(router.uid),
                    sole=router.uid in self._first_made,
                )
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

        engine: EngineHandle | None = None
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
            record = self._records.get(router.uid)
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
                    if record.number == 1:
                        self._first_made.add(router.uid)
            if record.number != 1:
                self._first_made.discard(router.uid)
            self._records[router.uid] = kept_record(record)
            return await self._deploy(router, previous, spec, engine, record, events)
        except StoreUnavailableError as error:
            metrics.DATABASE_ERRORS.inc()
            return verdicts.database_down(previous, str(error)), self.retry_seconds

    async def _ask_engine(
        self, engine: EngineHandle | None, spec: RouterSpec, previous: RouterStatus
    ) -> JsonValue | Stop:
        """The runner config for this spec's experiment, or why the pass stops here."""
        if engine is None:
            return None
        config = spec.experiment_engine.config
        try:
            with measure("plugin"):
                manager = await engine.manager()
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
        engine: EngineHandle | None,
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

        if self._settled.get(router.uid, record.number) != record.number:
            del self._settled[router.uid]  # the spec moved on: settle again once complete
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
                pods = await self.kube.list_pods(
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
            if record.status != VersionStatus.DEPLOYED or self._settled.get(router.uid) != (
                record.number
            ):
                with measure("db"):
                    stamped = await self.store.mark_deployed(router.ref, record.number)
                self._settled[router.uid] = record.number
                # With the row's own updated_at: the mirror shows it, and an operator
                # started later reads it from the row (a differing one is rewritten).
                self._records[router.uid] = kept_record(
                    dataclasses.replace(
                        record,
                        status=VersionStatus.DEPLOYED,
                        error=None,
                        updated_at=stamped or record.updated_at,
                    )
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
            self._records[router.uid] = kept_record(
                dataclasses.replace(record, status=VersionStatus.FAILED, error=state.message)
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

    def _objects_of(self, router: RouterObject, record: VersionRecord) -> DesiredObjects:
        settings = dataclasses.replace(self.build, router_image=record.router_image)
        return self._desired.objects(
            router.identity,
            record.number,
            record.config_hash,
            lambda: (record.spec, record.experiment_engine),
            settings,
            scaling_of(router.spec),  # the scale is the Router's now, not the version's
        )

    async def _ensure(
        self, router: RouterObject, record: VersionRecord
    ) -> tuple[dict[str, Any] | None, str]:
        """Apply each object that is missing or drifted. Returns the Deployment as last
        seen and the config hash its pod template must carry for this version."""
        # The objects are built from the Router's identity and this version's row alone
        # (and settings fixed for the process's lifetime), at the Router's current scale.
        source = (
            f"{router.uid}/{record.number}/{record.config_hash}/{record.router_image}"
            f"/{scaling_key(scaling_of(router.spec))}"
        )
        settled = self._in_sync.settled(router.uid, source, lambda key: self.cache.intent(*key))
        if settled is not None:
            return self.cache.get(*settled.deployment), settled.config_hash
        self._in_sync.unsettle(router.uid)
        objects = self._objects_of(router, record)
        wanted = [objects.configmap, objects.service, objects.deployment]  # ConfigMap first:
        if objects.hpa is not None:  # pods of the new template mount it
            wanted.append(objects.hpa)
        applied = [await self._apply_if_drifted(router.uid, desired, source) for desired in wanted]
        absent: tuple[ObjectKey, ...] = ()
        if objects.hpa is None:
            hpa = ("HorizontalPodAutoscaler", router.namespace, builders.hpa_name(router.name))
            absent = (hpa,)
            applied.append(await self._delete_if_present("autoscaling/v2", *hpa))
        deployment = _object_key(objects.deployment)
        if not any(applied):
            # All found as wanted: the next passes need not build the objects while none
            # of them changes what it asks for.
            present = tuple((key, self.cache.intent(*key)) for key in map(_object_key, wanted))
            if all(intent is not None for _, intent in present):
                self._in_sync.settle(
                    router.uid,
                    Settled(
                        source=source,
                        present=cast(tuple[tuple[ObjectKey, int], ...], present),
                        absent=absent,
                        config_hash=objects.config_hash,
                        deployment=deployment,
                    ),
                )
        return self.cache.get(*deployment), objects.config_hash

    async def _apply_if_drifted(self, uid: str, desired: dict[str, Any], source: str) -> bool:
        """Apply `desired` if the cached object is missing or differs; True when applied."""
        meta = desired["metadata"]
        key = _object_key(desired)
        intent = self.cache.intent(*key)
        if self._in_sync.known(uid, key, intent, source):
            return False
        actual = self.cache.get(*key)
        if not differs(desired, actual):
            self._in_sync.found(uid, key, intent, source)
            return False
        try:
            applied = await self.kube.apply(desired)
        except KubeError as error:
            if desired["kind"] != "Service" or error.status != 422:
                raise
            # A hand-edited Service port cannot be applied back: the port number is part
            # of the list's merge key, so the API server sees two ports named http.
            # Services are cheap to replace; Deployments are never replaced this way.
            await self._delete("v1", "Service", meta["namespace"], meta["name"])
            applied = await self.kube.apply(desired)
        self.cache.remember(applied)
        log.info(
            "applied",
            extra={"kind": desired["kind"], "namespace": meta["namespace"], "object": meta["name"]},
        )
        return True

    async def _delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        await self.kube.delete(ObjectRef(api_version, kind, namespace, name))
        self.cache.forget(kind, namespace, name)

    async def _delete_if_present(
        self, api_version: str, kind: str, namespace: str, name: str
    ) -> bool:
        """Delete an object the cache knows of; no API call for one that is already gone."""
        if self.cache.get(kind, namespace, name) is None:
            return False
        await self._delete(api_version, kind, namespace, name)
        return True

    async def _collect_configmaps(self, router: RouterObject, keep: set[int]) -> None:
        """Delete ConfigMaps of versions no pod uses any more (rows keep their content)."""
        for body in self.cache.owned_by("ConfigMap", router.namespace, router.name):
            labels = body.get("metadata", {}).get("labels") or {}
            version = labels.get(VERSION_LABEL)
            if version is not None and version.isdigit() and int(version) not in keep:
                await self._delete("v1", "ConfigMap", router.namespace, body["metadata"]["name"])

    # --- suspend ---

    async def _suspend(
        self, router: RouterObject, previous: RouterStatus
    ) -> tuple[Verdict, float | None]:
        namespace, name = router.namespace, router.name
        try:
            # Passes of a Router that stays suspended find nothing left and write nothing.
            await self._delete_if_present(
                "apps/v1", "Deployment", namespace, builders.deployment_name(name)
            )
            await self._delete_if_present("v1", "Service", namespace, builders.service_name(name))
            await self._delete_if_present(
                "autoscaling/v2", "HorizontalPodAutoscaler", namespace, builders.hpa_name(name)
            )
            await self._collect_configmaps(router, keep=set())
            if previous.phase != Phase.UNDEPLOYED:
                with measure("db"):
                    await self.store.mark_undeployed(router.ref)
            # Its versions are undeployed now: the next deployment settles them again.
            self._settled.pop(router.uid, None)
            self._records.pop(router.uid, None)
            self._desired.forget(router.uid)
            self._in_sync.forget(router.uid)
            self._first_made.discard(router.uid)
        except StoreUnavailableError as error:
            metrics.DATABASE_ERRORS.inc()
            return verdicts.database_down(previous, str(error)), self.retry_seconds
        except KubeError as error:
            return verdicts.apply_failed(
                previous, None, None, verdicts.NOT_CHECKED, error.message
            ), self.retry_seconds
        return verdicts.suspended(previous), None

    def _engine_check(self, engine: EngineHandle | None) -> Check:
        if engine is None:
            return verdicts.engine_check(None, True, None)
        return verdicts.engine_check(engine.name, engine.is_running(), engine.last_error)

    # --- status and Events ---

    def own_write(self, router: RouterObject) -> bool:
        """True when `router` is the body this process's last status write made: the
        watch event of that write, which tells the Router's loop nothing new."""
        written = self._written.get(router.uid)
        return written is not None and _revision(router.resource_version) == written[0]

    def _previous(self, router: RouterObject) -> RouterStatus:
        written = self._written.get(router.uid)
        if written is not None:
            seen = _revision(router.resource_version)
            if seen is not None and seen < written[0]:
                return written[1]  # the body predates our last write
            del self._written[router.uid]
        return previous_status(router.status)

    async def _publish(
        self, router: RouterObject, previous: RouterStatus, verdict: Verdict
    ) -> tuple[bool, float | None]:
        """Write the status if it changed and post Events.

        Returns whether the status was written, and when what waits (a progress-only
        change, a rollout's held Events) is due (None: nothing waits).
        """
        new = build_status(previous, verdict, router.generation, self.clock())
        changed = not same_status(previous, new)
        deferred: float | None = None
        if changed and not verdict.events and progress_only(previous, new):
            deferred = self._progress.wait(router.uid) or None
            changed = deferred is None  # a progress step that waits has no Event either
        if changed:
            # Raises RouterGone for a Router deleted (or made again) since it was seen: the
            # loop then ends and the deletion path runs (loops.py).
            stored = await self.kube.patch_router_status(
                router.namespace, router.name, router.uid, status_body(new)
            )
            self._progress.wrote(router.uid)
            revision = _revision(str(stored.get("metadata", {}).get("resourceVersion", "")))
            if revision is not None:
                self._written[router.uid] = (revision, new)
        events = [*verdict.events, *transition_events(previous, new)]
        if verdict.phase == Phase.DEPLOYING and all(e.type == "Normal" for e in events):
            wait = self._held.hold(router.uid, events)
            if wait > 0:
                return changed, _sooner(deferred, wait)
            events = []  # held, and due now: released below with the rest
        for event in pass_events(latest_transitions([*self._held.release(router.uid), *events])):
            self.post_event(router, event)
        return changed, deferred

    def _mirror_held(self, uid: str, verdict: Verdict) -> float | None:
        """Seconds the mirror of a version still rolling out waits (None: mirror now)."""
        record = self._records.get(uid)
        if (
            verdict.phase != Phase.DEPLOYING
            or record is None
            or record.status != VersionStatus.PENDING
        ):
            self._rolling.forget(uid)
            return None
        return self._rolling.remaining(uid, record.number) or None

    # --- deletion and the orphan sweep ---

    def _forget(self, uid: str) -> None:
        self._written.pop(uid, None)
        self._progress.forget(uid)
        self._rolling.forget(uid)
        self._held.forget(uid)
        self._settled.pop(uid, None)
        self._records.pop(uid, None)
        self._desired.forget(uid)
        self._in_sync.forget(uid)
        self._first_made.discard(uid)
        if self.mirror is not None:
            self.mirror.forget(uid)

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
