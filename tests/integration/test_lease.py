"""Leader election against the real API server: two electors, one Lease.

The electors run in this process with a clock the test moves, so "the Lease has
not changed for its whole duration" is a fact the test sets, not a wait.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from devenv.cluster import Cluster
from tests.substrate.fixtures import admin_login
from turnout_operator.kube.client import Kube, KubeError
from turnout_operator.runtime.leader import (
    LeaderElector,
    LeadershipLost,
    LeaseRecord,
    LeaseTimings,
    claimed,
)

pytestmark = pytest.mark.cluster

LEASE = "turnout-operator"
TIMINGS = LeaseTimings(duration=15, renew_deadline=10, retry_period=0.05)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def kube(cluster: Cluster) -> AsyncIterator[Kube]:
    client = Kube(admin_login(cluster))
    try:
        yield client
    finally:
        await client.close()


def elector(kube: Kube, namespace: str, identity: str, clock: Clock) -> LeaderElector:
    return LeaderElector(
        kube, namespace=namespace, name=LEASE, identity=identity, timings=TIMINGS, clock=clock
    )


def lease(cluster: Cluster, namespace: str) -> dict[str, object]:
    result = cluster.kubectl("get", "lease", LEASE, "-n", namespace, "-o", "jsonpath={.spec}")
    spec: dict[str, object] = json.loads(result.stdout)
    return spec


async def test_one_holder_then_takeover_after_expiry_then_release(
    cluster: Cluster, namespace: str, kube: Kube
) -> None:
    clock = Clock()
    a = elector(kube, namespace, "a_1", clock)
    b = elector(kube, namespace, "b_2", clock)

    await a.acquire()  # no Lease yet: created with a as holder
    spec = lease(cluster, namespace)
    assert spec["holderIdentity"] == "a_1"
    assert spec["leaseDurationSeconds"] == 15
    assert spec["leaseTransitions"] == 0

    # b sees a holder that renews: it may not take the Lease, however often it looks.
    assert await b._try_once(5) is False
    clock.now += 14
    assert await b._try_once(5) is False
    assert await a._try_once(5) is True  # a renews: the Lease changed
    assert await b._try_once(5) is False  # b sees the change: its wait starts again
    clock.now += 14
    assert await b._try_once(5) is False
    assert lease(cluster, namespace)["holderIdentity"] == "a_1"

    # a stops renewing (it died); once the Lease is unchanged for 15 s, b takes it.
    clock.now += 1
    assert await b._try_once(5) is True
    spec = lease(cluster, namespace)
    assert spec["holderIdentity"] == "b_2"
    assert spec["leaseTransitions"] == 1

    # a, if it was only stalled, finds out on its next renewal and must stop.
    with pytest.raises(LeadershipLost, match="held by b_2"):
        await a.keep()

    # b stops gracefully: the Lease is released and a new replica takes it at its first look.
    await b.release()
    spec = lease(cluster, namespace)
    assert spec["holderIdentity"] in ("", None)
    c = elector(kube, namespace, "c_3", Clock())
    assert await c._try_once(5) is True
    assert lease(cluster, namespace)["leaseTransitions"] == 2


async def test_two_writers_of_the_same_read_one_wins(
    cluster: Cluster, namespace: str, kube: Kube
) -> None:
    await elector(kube, namespace, "a_1", Clock()).acquire()
    read = await kube.get_lease(namespace, LEASE, 5)
    assert read is not None
    now = datetime.now(UTC)
    first = claimed(read, namespace=namespace, name=LEASE, me="b_2", now=now, duration=15)
    second = claimed(read, namespace=namespace, name=LEASE, me="c_3", now=now, duration=15)
    await kube.write_lease(first, 5)
    with pytest.raises(KubeError) as error:
        await kube.write_lease(second, 5)
    assert error.value.conflict
    current = await kube.get_lease(namespace, LEASE, 5)
    assert current is not None and LeaseRecord.from_body(current).holder == "b_2"


async def test_a_leader_that_cannot_renew_gives_up_after_the_renew_deadline(
    cluster: Cluster, namespace: str, kube: Kube
) -> None:
    clock = Clock()
    a = LeaderElector(
        kube,
        namespace=namespace,
        name=LEASE,
        identity="a_1",
        timings=LeaseTimings(duration=15, renew_deadline=10, retry_period=0.05),
        clock=clock,
    )
    await a.acquire()
    # Every renewal fails from now on (the elector looks for the Lease in a namespace that
    # does not exist, so each write is refused), and 10 s pass on its clock.
    a.namespace = f"{namespace}-gone"
    clock.now += 10
    with pytest.raises(LeadershipLost, match="not renewed for 10"):
        await a.keep()
