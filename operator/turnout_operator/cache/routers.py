"""The one door to what the operator knows of each Router between passes.

A pass asks here, as a controller-runtime reconciler asks its cache-backed client,
and never sees how the answers are kept:

* `previous`: the Router's status as last written, counting this process's own
  writes that the watch has not delivered yet;
* `record`, `sole`, `settled`: the Router's current version row, whether it is the
  Router's only version, and which version's rows this process last settled;
* `plan`: which of the Router's objects to apply or delete, drift decided;
* `get`, `owned`: owned objects as last seen;
* `mirrors`, `mirrors_known`: the RouterVersion mirrors last built and checked.

What a pass learns comes back through the `keep_*`, `wrote_status`, `settle`
methods; owned objects are written through `writer.ChildWriter`. How it is all kept
(packed bodies, compact records, memos of what was built and found in sync) is the
business of the modules beside this one.

Two rules clear it, stated once (`_VersionScope`): `suspend` forgets everything known
of the Router's version (its objects are deleted and its rows marked undeployed:
the next deployment starts afresh); `forget` (the Router is gone) forgets everything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from pydantic import ValidationError

from turnout_operator.api import RouterStatus
from turnout_operator.builders import BuildSettings, hpa_name
from turnout_operator.builders.desired import scaling_key, scaling_of
from turnout_operator.builders.drift import differs
from turnout_operator.cache.children import ChildCache
from turnout_operator.cache.compact_record import kept_record
from turnout_operator.cache.desired import DesiredMemo
from turnout_operator.cache.in_sync import InSyncMemo, ObjectKey, Settled
from turnout_operator.cache.mirrors import MirrorMemo, Mirrors
from turnout_operator.cache.router_object import RouterObject
from turnout_operator.kube.client import ObjectRef
from turnout_operator.store import VersionRecord

Value = TypeVar("Value")


class _PerRouter(Protocol):
    def forget(self, uid: str) -> None: ...


Memo = TypeVar("Memo", bound=_PerRouter)


class _Keyed(Generic[Value]):
    """One value per Router (its uid)."""

    def __init__(self) -> None:
        self._values: dict[str, Value] = {}

    def get(self, uid: str) -> Value | None:
        return self._values.get(uid)

    def put(self, uid: str, value: Value) -> None:
        self._values[uid] = value

    def forget(self, uid: str) -> None:
        self._values.pop(uid, None)


@dataclass(frozen=True)
class ChildrenPlan:
    """What a pass must write for a Router's objects to be as its version wants them."""

    apply: tuple[dict[str, Any], ...]
    """Desired bodies missing or drifted, the ConfigMap first (new pods mount it)."""
    delete: tuple[ObjectRef, ...]
    """Objects that must not exist and do (an HPA while autoscaling is off)."""
    config_hash: str
    """The router config's hash the Deployment's pod template must carry."""
    deployment: ObjectKey

    @property
    def writes(self) -> bool:
        return bool(self.apply or self.delete)


def previous_status(raw: Mapping[str, Any]) -> RouterStatus:
    """The status as last written; an unreadable one (edited by hand) counts as empty."""
    try:
        return RouterStatus.model_validate(raw)
    except ValidationError:
        return RouterStatus()


def _revision(resource_version: str) -> int | None:
    """A resourceVersion as a number, to tell an older body from a newer one.

    Kubernetes calls resourceVersions opaque; the API server hands out etcd's revision,
    a number that only grows. Where it is not a number, nothing is assumed.
    """
    return int(resource_version) if resource_version.isdigit() else None


def _object_key(body: Mapping[str, Any]) -> ObjectKey:
    meta = body["metadata"]
    return (body["kind"], meta["namespace"], meta["name"])


class RouterCache:
    def __init__(self, build: BuildSettings) -> None:
        self.children = ChildCache()
        """Every owned object as last seen (fed by the watches: `observe`)."""
        self._build = build
        self._version_scope: list[_PerRouter] = []
        self._router_scope: list[_PerRouter] = []
        # Each memo is declared once, with its scope: `suspend` and `forget` clear them all.
        self._records = self._version(_Keyed[VersionRecord]())
        """The version this process last found or recorded for the Router's spec, with the
        status it wrote since (compact: its documents are read only when objects are
        built again). A pass over an unchanged spec reads nothing from the database."""
        self._settled = self._version(_Keyed[int]())
        """The version whose rows this process last settled (mark_deployed)."""
        self._sole = self._version(_Keyed[bool]())
        """Routers whose version 1 this process created and whose record has been that
        version since: their only version (the mirror need not read the rows)."""
        self._desired = self._version(DesiredMemo())
        self._in_sync = self._version(InSyncMemo())
        self._mirrors = self._version(MirrorMemo())
        self._mirrors_checked = self._version(_Keyed[tuple[VersionRecord, tuple[Any, ...]]]())
        """The record and the mirrors' keys and resourceVersions when last found in sync."""
        self._written = self._router(_Keyed[tuple[int, RouterStatus]]())
        """The resourceVersion of this process's last status write and the status written:
        a pass woken before the watch delivers it builds on what was written."""

    def _version(self, memo: Memo) -> Memo:
        self._version_scope.append(memo)
        return memo

    def _router(self, memo: Memo) -> Memo:
        self._router_scope.append(memo)
        return memo

    # --- the watches feed it ---

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> tuple[str, str] | None:
        """A watch event on an owned object; the (namespace, Router) to wake, if any."""
        return self.children.observe(event_type, body)

    # --- the Router's status ---

    def previous(self, router: RouterObject) -> RouterStatus:
        written = self._written.get(router.uid)
        if written is not None:
            seen = _revision(router.resource_version)
            if seen is not None and seen < written[0]:
                return written[1]  # the body predates our last write
            self._written.forget(router.uid)
        return previous_status(router.status)

    def own_write(self, router: RouterObject) -> bool:
        """True when `router` is the body this process's last status write made."""
        written = self._written.get(router.uid)
        return written is not None and _revision(router.resource_version) == written[0]

    def wrote_status(self, uid: str, stored: Mapping[str, Any], status: RouterStatus) -> None:
        revision = _revision(str(stored.get("metadata", {}).get("resourceVersion", "")))
        if revision is not None:
            self._written.put(uid, (revision, status))

    # --- the Router's version ---

    def record(self, uid: str) -> VersionRecord | None:
        return self._records.get(uid)

    def sole(self, uid: str) -> bool:
        return bool(self._sole.get(uid))

    def keep_record(self, uid: str, record: VersionRecord, *, created: bool = False) -> None:
        """The Router's current version as found, recorded (`created`) or written."""
        if record.number != 1:
            self._sole.forget(uid)
        elif created:
            self._sole.put(uid, True)
        self._records.put(uid, kept_record(record))

    def settled(self, uid: str) -> int | None:
        return self._settled.get(uid)

    def settle(self, uid: str, number: int) -> None:
        self._settled.put(uid, number)

    def unsettle(self, uid: str) -> None:
        self._settled.forget(uid)

    # --- the Router's objects ---

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.children.get(kind, namespace, name)

    def owned(self, kind: str, namespace: str, router: str) -> list[dict[str, Any]]:
        return self.children.owned_by(kind, namespace, router)

    def plan(self, router: RouterObject, record: VersionRecord) -> ChildrenPlan:
        """What to write for the Router's objects to be `record`'s, at the Router's scale.

        The objects are built from the Router's identity and the version's row alone
        (and settings fixed for the process's lifetime); while none of that changes and
        every object is as last found, nothing is built or compared.
        """
        uid = router.uid
        scaling = scaling_of(router.spec)  # the scale is the Router's now, not the version's
        source = f"{uid}/{record.number}/{record.config_hash}/{record.router_image}/{scaling_key(scaling)}"
        settled = self._in_sync.settled(uid, source, lambda key: self.children.intent(*key))
        if settled is not None:
            return ChildrenPlan((), (), settled.config_hash, settled.deployment)
        self._in_sync.unsettle(uid)
        objects = self._desired.objects(
            router.identity,
            record.number,
            record.config_hash,
            lambda: (record.spec, record.experiment_engine),
            dataclasses.replace(self._build, router_image=record.router_image),
            scaling,
        )
        wanted = [objects.configmap, objects.service, objects.deployment]
        if objects.hpa is not None:
            wanted.append(objects.hpa)
        apply = tuple(body for body in wanted if self._drifted(uid, body, source))
        absent: tuple[ObjectKey, ...] = ()
        delete: tuple[ObjectRef, ...] = ()
        if objects.hpa is None:
            hpa = ("HorizontalPodAutoscaler", router.namespace, hpa_name(router.name))
            absent = (hpa,)
            if self.children.get(*hpa) is not None:
                delete = (ObjectRef("autoscaling/v2", *hpa),)
        deployment = _object_key(objects.deployment)
        if not apply and not delete:
            # All found as wanted: the next passes need not build the objects while none
            # of them changes what it asks for.
            present = tuple((key, self.children.intent(*key)) for key in map(_object_key, wanted))
            if all(intent is not None for _, intent in present):
                self._in_sync.settle(
                    uid,
                    Settled(
                        source=source,
                        present=cast(tuple[tuple[ObjectKey, int], ...], present),
                        absent=absent,
                        config_hash=objects.config_hash,
                        deployment=deployment,
                    ),
                )
        return ChildrenPlan(apply, delete, objects.config_hash, deployment)

    def _drifted(self, uid: str, desired: dict[str, Any], source: str) -> bool:
        key = _object_key(desired)
        intent = self.children.intent(*key)
        if self._in_sync.known(uid, key, intent, source):
            return False
        if differs(desired, self.children.get(*key)):
            return True
        self._in_sync.found(uid, key, intent, source)
        return False

    # --- the Router's RouterVersion mirrors ---

    def mirror_signature(self, kind: str, namespace: str, router: str) -> tuple[Any, ...]:
        """The mirrors' keys and resourceVersions, parsing none: equal signatures mean
        none of them was added, removed or changed in between."""
        return self.children.owned_versions(kind, namespace, router)

    def mirrors_known(
        self, uid: str, current: VersionRecord | None, signature: tuple[Any, ...]
    ) -> bool:
        """True when the mirrors were found in sync at this record and signature."""
        known = self._mirrors_checked.get(uid)
        return known is not None and known[0] is current and known[1] == signature

    def mirrors_checked(
        self, uid: str, current: VersionRecord | None, signature: tuple[Any, ...] | None
    ) -> None:
        """The mirrors were found in sync (`signature`), or not (None)."""
        if signature is None or current is None:
            self._mirrors_checked.forget(uid)
        else:
            self._mirrors_checked.put(uid, (current, signature))

    def mirrors(self, uid: str, current: VersionRecord | None) -> Mirrors | None:
        return self._mirrors.get(uid, current)

    def keep_mirrors(self, uid: str, current: VersionRecord | None, mirrors: Mirrors) -> None:
        self._mirrors.remember(uid, current, mirrors)

    # --- clearing ---

    def suspend(self, uid: str) -> None:
        """The Router's objects are gone and its versions undeployed: forget its version."""
        for memo in self._version_scope:
            memo.forget(uid)

    def forget(self, uid: str) -> None:
        """The Router is gone."""
        for memo in (*self._version_scope, *self._router_scope):
            memo.forget(uid)
