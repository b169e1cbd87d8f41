"""Leader election on a `coordination.k8s.io/v1` Lease: one replica reconciles, others wait.

kopf has no leader election (its peering pauses operators but holds no lock and
notices a dead peer only after about 60 s), so Turnout follows controller-runtime's
Lease protocol:

* A candidate reads the Lease. It may take it when nobody holds it, when it holds
  it already, or when the Lease has not changed for `leaseDurationSeconds` of this
  process's own clock (not compared with `renewTime`, so clock skew between nodes
  does not matter; a standby that has just started therefore waits one full
  duration before taking over from a holder that died).
* It writes the Lease with the resourceVersion it read: of two replicas that try at
  once, the API server accepts one and answers 409 to the other.
* The leader renews every retry period. When no renewal has succeeded for the renew
  deadline (shorter than the duration) it has lost the Lease: it must stop before a
  standby may take over.
* On a graceful stop the leader releases the Lease (no holder, duration 1 s), so a
  standby takes it on its next look instead of waiting for it to expire.

The Lease is an optimisation, not a fence: a leader that stalls (a long GC pause, a
frozen node) may still write for a moment after a standby took over. Correctness
does not depend on it (versions are numbered under a database lock; applies are
server-side applies of the same objects), only the duplicated work does.

The pure parts (what the Lease says, may I take it, the bodies to write) are
functions; `LeaderElector` adds the API calls and the clock.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from turnout_operator.kube.client import Kube, KubeError

log = logging.getLogger(__name__)

MICROTIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""The API server's MicroTime: RFC 3339 with microseconds."""


class LeadershipLost(Exception):
    """The leader could not renew the Lease in time, or another replica holds it now."""


@dataclass(frozen=True)
class LeaseTimings:
    """controller-runtime's defaults: 15 s duration, 10 s renew deadline, 2 s retry period."""

    duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease says about its holder."""

    holder: str
    duration_seconds: int
    acquire_time: str | None
    renew_time: str | None
    transitions: int
    resource_version: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> LeaseRecord:
        spec = body.get("spec") or {}
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            transitions=int(spec.get("leaseTransitions") or 0),
            resource_version=str(body.get("metadata", {}).get("resourceVersion", "")),
        )


def microtime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(MICROTIME_FORMAT)


def may_take(record: LeaseRecord | None, me: str, unchanged_for: float) -> bool:
    """Whether `me` may write itself into the Lease.

    `unchanged_for` is how long (this process's clock) the Lease has looked exactly as
    it does now. A Lease released on a graceful stop has no holder and is free at once.
    """
    if record is None or not record.holder or record.holder == me:
        return True
    return unchanged_for >= record.duration_seconds


def claimed(
    current: Mapping[str, Any] | None,
    *,
    namespace: str,
    name: str,
    me: str,
    now: datetime,
    duration: float,
) -> dict[str, Any]:
    """The Lease to write to take (or keep) it: holder `me`, renewed `now`.

    Taking it from someone else (or from nobody) sets acquireTime and counts a
    transition; renewing one's own Lease keeps both.
    """
    stamp = microtime(now)
    spec: dict[str, Any] = {
        "holderIdentity": me,
        "leaseDurationSeconds": max(1, math.ceil(duration)),
        "renewTime": stamp,
    }
    metadata: dict[str, Any] = {"namespace": namespace, "name": name}
    if current is None:
        spec.update(acquireTime=stamp, leaseTransitions=0)
    else:
        old = LeaseRecord.from_body(current)
        metadata["resourceVersion"] = old.resource_version
        if old.holder == me:
            spec.update(acquireTime=old.acquire_time or stamp, leaseTransitions=old.transitions)
        else:
            spec.update(acquireTime=stamp, leaseTransitions=old.transitions + 1)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": spec,
    }


def released(current: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The Lease to write when stopping: no holder, a 1 s duration (client-go's release)."""
    old = LeaseRecord.from_body(current)
    meta = current.get("metadata", {})
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "resourceVersion": old.resource_version,
        },
        "spec": {
            "holderIdentity": "",
            "leaseDurationSeconds": 1,
            "acquireTime": microtime(now),
            "renewTime": microtime(now),
            "leaseTransitions": old.transitions,
        },
    }


LeaderListener = Callable[[bool, int], None]
"""Told (is_leader, leaseTransitions) after every look at the Lease (for metrics)."""


class LeaderElector:
    """Takes, keeps and releases the Lease for this process."""

    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        name: str,
        identity: str,
        timings: LeaseTimings,
        listener: LeaderListener | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timings = timings
        self._listener = listener
        self._clock = clock
        self._wall = wall
        self._observed: tuple[str, str, str | None] | None = None
        self._observed_at = 0.0
        self._renewed_at = 0.0
        self._announced_holder: str | None = None
        self._body: dict[str, Any] | None = None
        self.is_leader = False

    def _observe(self, record: LeaseRecord) -> float:
        """Remember when the Lease last changed; returns for how long it has not."""
        key = (record.holder, record.resource_version, record.renew_time)
        now = self._clock()
        if key != self._observed:
            self._observed, self._observed_at = key, now
        return now - self._observed_at

    def _tell(self, record: LeaseRecord | None) -> None:
        if self._listener is not None:
            self._listener(self.is_leader, record.transitions if record else 0)

    async def _try_once(self, timeout: float) -> bool:
        """One look at the Lease; writes it when this process may hold it. True when it does."""
        current = await self.kube.get_lease(self.namespace, self.name, timeout)
        record = LeaseRecord.from_body(current) if current is not None else None
        unchanged_for = self._observe(record) if record is not None else 0.0
        if not may_take(record, self.identity, unchanged_for):
            assert record is not None
            self.is_leader = False
            self._tell(record)
            if record.holder != self._announced_holder:
                self._announced_holder = record.holder
                log.info(
                    "waiting for leadership",
                    extra={
                        "lease": f"{self.namespace}/{self.name}",
                        "holder": record.holder,
                        "identity": self.identity,
                    },
                )
            return False
        body = claimed(
            current,
            namespace=self.namespace,
            name=self.name,
            me=self.identity,
            now=self._wall(),
            duration=self.timings.duration,
        )
        written = await self.kube.write_lease(body, timeout)
        self._body = written
        record = LeaseRecord.from_body(written)
        self._observe(record)
        self._renewed_at = self._clock()
        self.is_leader = True
        self._tell(record)
        return True

    async def acquire(self) -> None:
        """Return once this process holds the Lease (a standby waits here)."""
        while True:
            try:
                if await self._try_once(self.timings.retry_period):
                    record = LeaseRecord.from_body(self._body or {})
                    log.info(
                        "became leader",
                        extra={
                            "lease": f"{self.namespace}/{self.name}",
                            "identity": self.identity,
                            "transitions": record.transitions,
                        },
                    )
                    return
            except KubeError as error:
                if not error.conflict:  # a conflict: another replica was quicker
                    log.warning("lease not readable", extra={"error": error.message})
            except Exception as error:  # the API server may be briefly unreachable
                log.warning("lease not readable", extra={"error": str(error)})
            await asyncio.sleep(self.timings.retry_period)

    async def keep(self) -> None:
        """Renew the Lease every retry period; raise `LeadershipLost` when that fails.

        Never returns normally: it runs beside the operator until cancelled.
        """
        while True:
            await asyncio.sleep(self.timings.retry_period)
            left = self.timings.renew_deadline - (self._clock() - self._renewed_at)
            try:
                renewed = await asyncio.wait_for(
                    self._try_once(max(0.1, min(self.timings.retry_period, left))),
                    timeout=max(0.1, left),
                )
            except Exception as error:  # KubeError, a timeout, the API server unreachable
                renewed = False
                log.warning("lease renewal failed", extra={"error": str(error)})
            if not renewed and self._observed and self._observed[0] not in ("", self.identity):
                self.is_leader = False
                raise LeadershipLost(f"the Lease is held by {self._observed[0]} now")
            since = self._clock() - self._renewed_at
            if not renewed and since >= self.timings.renew_deadline:
                self.is_leader = False
                self._tell(None)
                raise LeadershipLost(f"the Lease was not renewed for {since:.1f}s")

    async def release(self) -> None:
        """Give the Lease up (graceful stop), if this process still holds it."""
        if not self.is_leader:
            return
        self.is_leader = False
        try:
            current = await self.kube.get_lease(
                self.namespace, self.name, self.timings.retry_period
            )
            if current is None or LeaseRecord.from_body(current).holder != self.identity:
                return
            await self.kube.write_lease(released(current, self._wall()), self.timings.retry_period)
            log.info("released leadership", extra={"lease": f"{self.namespace}/{self.name}"})
        except Exception as error:  # it expires on its own
            log.warning("lease not released", extra={"error": str(error)})
        self._tell(None)
