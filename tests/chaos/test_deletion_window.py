"""Routers deleted while the operator cannot see it happen, on a busy machine.

The window these tests open on purpose: a Router deleted while the operator's watch is
reconnecting (an API server restart) or while leadership changes hands. Before the
informer (informer.py), such a deletion went unseen and the Router's loop re-applied
its children several times a second for as long as the operator ran.

Checked from outside: the namespace converges (docs/operator.md's invariants), the
deleted Routers' versions are undeployed with the sweep far away (one hour: only the
event, the re-list or the pass that finds its Router gone can have done it), and the
API server's audit log shows no write by the operator to a deleted Router's objects
once the deletion was observable, past the one pass that may have been running then.

The second test keeps a Router failing every pass while its own objects' events wake
it all the time, and counts its writes over a minute from the audit log: bounded by
the per-Router backoff, not by how fast the loop could go.
"""

from __future__ import annotations

import copy
import functools
import json
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devenv.cluster import Cluster, restart_apiserver
from devenv.gopeers import GoPeers
from devenv.operator import log_records, wait_for
from devenv.procs import ProcessRegistry
from tests.chaos.support import (
    AUDITED,
    OPERATOR_AGENT,
    SpecHistory,
    audited_writes,
    chaos_seed,
    cpu_burner,
    fleet_manifest,
    private_cluster,
    reconcile_failures,
    router_objects,
    wait_converged,
)
from tests.substrate.fixtures import ROUTER_CRD_FILE
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.chaos

NAMESPACE = "window"
IN_FLIGHT_SECONDS = 5.0
"""After a deletion is observable, a pass already running may still finish its writes;
none may start later than this (the watch event ends the loop, or the next pass finds
the Router gone)."""
BASE_SECONDS = 0.05
CAP_SECONDS = 8.0
WINDOW_SECONDS = 60.0


@pytest.fixture
def audited(tmp_path: Path) -> Iterator[tuple[ProcessRegistry, Cluster]]:
    with private_cluster(tmp_path / "cluster", NAMESPACE, profile=AUDITED) as started:
        yield started


def harness(
    cluster: Cluster, database: str, python_plugin: Path, gopeers: GoPeers, workdir: Path
) -> OperatorHarness:
    return OperatorHarness(
        cluster=cluster,
        database_url=database,
        namespace=NAMESPACE,
        workdir=workdir,
        registry=ProcessRegistry(),
        python_plugin=python_plugin,
        go_plugin=gopeers.hardcoded_plugin,
    )


def retried(cluster: Cluster, *args: str) -> None:
    """A kubectl command, sent again until the API server takes it (it may be restarting)."""
    deadline = time.monotonic() + 120
    while True:
        result = cluster.kubectl(*args, check=False)
        if result.returncode == 0 or "NotFound" in result.stderr:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"kubectl {' '.join(args)} kept failing: {result.stderr}")
        time.sleep(0.2)


class Chaos:
    """Changes made at random moments while the API server restarts; records when each
    deletion became observable."""

    def __init__(self, h: OperatorHarness, rng: random.Random) -> None:
        self.h = h
        self.rng = rng
        self.history = SpecHistory()
        self.deleted: dict[str, float] = {}
        """Router name → when the test saw it gone (epoch seconds)."""
        self.created = 0

    def create(self) -> None:
        name = f"n{self.created:02d}"
        self.created += 1
        self._apply(fleet_manifest(name, 0))

    def _apply(self, manifest: dict[str, Any]) -> None:
        deadline = time.monotonic() + 120
        while True:
            result = self.h.cluster.kubectl(
                "apply", "-n", NAMESPACE, "-f", "-", input=json.dumps(manifest), check=False
            )
            if result.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"apply kept failing: {result.stderr}")
            time.sleep(0.2)
        self.history.record(manifest["metadata"]["name"], manifest["spec"])

    def change(self, name: str) -> None:
        variant = len(self.history.distinct(name))
        self._apply(fleet_manifest(name, variant % 3))

    def delete(self, name: str) -> None:
        retried(self.h.cluster, "delete", "router", name, "-n", NAMESPACE, "--timeout=120s")
        self.deleted[name] = time.time()
        self.history.applied.pop(name, None)

    def live(self) -> list[str]:
        return sorted(self.history.applied)

    def actions(self, deletes: int, changes: int, creates: int) -> list[Callable[[], None]]:
        live = self.live()
        doomed = self.rng.sample(live, deletes)
        changed = self.rng.sample([n for n in live if n not in doomed], changes)
        chosen: list[Callable[[], None]] = [functools.partial(self.delete, n) for n in doomed]
        chosen += [functools.partial(self.change, n) for n in changed]
        chosen += [self.create for _ in range(creates)]
        self.rng.shuffle(chosen)
        return chosen

    def around(self, disruption: Callable[[], object], actions: list[Callable[[], None]]) -> None:
        """Run `actions` at random moments in the first seconds of `disruption`."""
        errors: list[BaseException] = []

        def act(action: Callable[[], None], delay: float) -> None:
            time.sleep(delay)
            try:
                action()
            except BaseException as error:  # reported below, in the test's thread
                errors.append(error)

        threads = [
            threading.Thread(target=act, args=(action, self.rng.uniform(0.0, 3.0)))
            for action in actions
        ]
        for thread in threads:
            thread.start()
        disruption()
        for thread in threads:
            thread.join(timeout=300)
        if errors:
            raise errors[0]


def leader_of(h: OperatorHarness) -> str:
    lease = h.kubectl_json("get", "lease", "turnout-operator", "-n", NAMESPACE)
    return str(lease["spec"]["holderIdentity"]) if lease else ""


@pytest.mark.timeout(900)  # two operators, three API server restarts, on a busy machine
def test_routers_deleted_around_apiserver_restarts_and_a_handover_leave_nothing_behind(
    audited: tuple[ProcessRegistry, Cluster],
    migrated_database: str,
    python_plugin: Path,
    gopeers: GoPeers,
    tmp_path: Path,
) -> None:
    registry, cluster = audited
    h = harness(cluster, migrated_database, python_plugin, gopeers, tmp_path / "operator")
    rng = random.Random(chaos_seed())
    # Leadership survives an API server restart (renewal may fail for up to 30 s); it
    # changes hands only when the test stops the leader. Resync and sweep an hour away.
    env = {
        "TURNOUT_RESYNC_SECONDS": "3600",
        "TURNOUT_RETRY_SECONDS": "2",
        "TURNOUT_LEASE_NAMESPACE": NAMESPACE,
        "TURNOUT_LEASE_DURATION_SECONDS": "40",
        "TURNOUT_LEASE_RENEW_DEADLINE_SECONDS": "30",
        "TURNOUT_LEASE_RETRY_SECONDS": "1",
    }
    try:
        with cpu_burner():
            first = h.start(env={**env, "HOSTNAME": "first"}, workdir=tmp_path / "first")
            chaos = Chaos(h, rng)
            for index in range(8):
                chaos._apply(fleet_manifest(f"a{index:02d}", 0))
            for name in chaos.live():
                h.wait_deployed(name, 1, timeout=240)
            second = h.start(env={**env, "HOSTNAME": "second"}, workdir=tmp_path / "second")
            wait_for(
                lambda: leader_of(h).startswith("first_"), 60, "the first operator leads", first
            )

            for _ in range(2):
                chaos.around(
                    lambda: restart_apiserver(registry, cluster),
                    chaos.actions(deletes=2, changes=1, creates=1),
                )

            def hand_over() -> None:
                first.popen.send_signal(signal.SIGTERM)
                first.popen.wait(timeout=120)

            chaos.around(hand_over, chaos.actions(deletes=1, changes=1, creates=1))
            wait_for(
                lambda: leader_of(h).startswith("second_"), 120, "the second operator leads", second
            )
            chaos.around(
                lambda: restart_apiserver(registry, cluster),
                chaos.actions(deletes=1, changes=1, creates=0),
            )

            expected = chaos.history.expected_versions()
            wait_converged(h, expected, 240, deleted=list(chaos.deleted))
        time.sleep(3)  # the audit log's last batch (flushed every second)
        writes = [w for w in audited_writes(cluster) if w.agent.startswith(OPERATOR_AGENT)]
        late = [
            f"{name}: {w.verb} {w.resource}/{w.name} {w.received - gone:+.1f} s after deletion"
            for name, gone in chaos.deleted.items()
            for w in writes
            if router_objects(w, name) and w.received > gone + IN_FLIGHT_SECONDS
        ]
        for name, gone in sorted(chaos.deleted.items()):
            after = [w for w in writes if router_objects(w, name) and w.received > gone]
            print(f"{name}: {len(after)} operator writes after its deletion was observable")
        assert late == [], "\n".join(late)
        assert len(chaos.deleted) == 6
        for operator in (first, second):
            assert reconcile_failures(log_records(operator.log_path)) == []
    finally:
        h.registry.stop_all()


def attempts_within(window: float, base: float, cap: float) -> int:
    """Passes a Router failing every time makes in `window` seconds, when each failure
    waits base, 2·base, 4·base, ... up to cap (and the passes themselves take no time)."""
    count, elapsed, wait = 1, 0.0, base
    while elapsed + wait <= window:
        elapsed += wait
        count += 1
        wait = min(cap, wait * 2)
    return count


def test_attempts_within_counts_the_doubling_by_hand() -> None:
    # 0, .05, .15, .35, .75, 1.55, 3.15, 6.35, 12.75 (wait 6.4), then every 8 s:
    # 20.75, 28.75, 36.75, 44.75, 52.75 -> 14 passes within 60 s.
    assert attempts_within(60.0, 0.05, 8.0) == 14
    assert attempts_within(0.0, 0.05, 8.0) == 1


@pytest.mark.timeout(600)
def test_a_router_that_fails_every_pass_writes_at_its_backoffs_pace_whatever_wakes_it(
    tmp_path: Path,
    migrated_database: str,
    python_plugin: Path,
    gopeers: GoPeers,
) -> None:
    # A CRD whose status schema refuses every phase: each pass's status write fails (the
    # kind of persistent failure a bug, or a CRD older than the operator, causes).
    crd = copy.deepcopy(open_crd_with_refusing_status())
    with private_cluster(tmp_path / "cluster", NAMESPACE, crd=crd, profile=AUDITED) as started:
        _, cluster = started
        h = harness(cluster, migrated_database, python_plugin, gopeers, tmp_path / "operator")
        try:
            with cpu_burner():
                operator = h.start(
                    env={
                        "TURNOUT_RESYNC_SECONDS": "3600",
                        "TURNOUT_RETRY_BASE_SECONDS": str(BASE_SECONDS),
                        "TURNOUT_RETRY_SECONDS": str(CAP_SECONDS),
                        "TURNOUT_LEADER_ELECTION": "false",
                    }
                )
                h.apply(fleet_manifest("stuck", 0))
                wait_for(
                    lambda: h.kubectl_json("get", "deployment", "stuck-router"),
                    120,
                    "the failing Router's Deployment",
                    operator,
                )
                # Its own objects change all the time: each change is a watch event that
                # wakes its loop (before the fix, each woke a pass that wrote again).
                started_at = time.time()
                touches = 0
                while time.time() - started_at < WINDOW_SECONDS:
                    cluster.kubectl(
                        "annotate",
                        "deployment",
                        "stuck-router",
                        "-n",
                        NAMESPACE,
                        f"test/touch={touches}",
                        "--overwrite",
                    )
                    touches += 1
                time.sleep(3)  # the audit log's last batch
            status_writes = [
                w
                for w in audited_writes(cluster)
                if w.agent.startswith(OPERATOR_AGENT)
                and w.resource == "routers"
                and w.name == "stuck"
                and started_at <= w.received <= started_at + WINDOW_SECONDS
            ]
            others = [
                w
                for w in audited_writes(cluster)
                if w.agent.startswith(OPERATOR_AGENT)
                and router_objects(w, "stuck")
                and w.resource != "routers"
                and started_at <= w.received <= started_at + WINDOW_SECONDS
            ]
            bound = attempts_within(WINDOW_SECONDS, BASE_SECONDS, CAP_SECONDS)
            print(  # shown with -s: the numbers behind the verdict
                f"failing Router: {len(status_writes)} status writes and {len(others)} other "
                f"writes in {WINDOW_SECONDS:.0f} s with {touches} wake-ups (backoff allows {bound})"
            )
            assert touches >= 30, f"only {touches} wake-ups: the test did not stress the loop"
            assert 1 <= len(status_writes) <= bound, (
                f"{len(status_writes)} status writes in {WINDOW_SECONDS:.0f} s with {touches} "
                f"wake-ups; the backoff allows {bound}"
            )
            assert others == [], f"children written again: {others[:5]}"
            logged = [
                r
                for r in log_records(operator.log_path)
                if r.get("message") == "router pass failed; backing off"
            ]
            assert logged and max(int(r["failures"]) for r in logged) >= 5
        finally:
            h.registry.stop_all()


def open_crd_with_refusing_status() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(ROUTER_CRD_FILE.read_text())
    for version in crd["spec"]["versions"]:
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        status["properties"]["phase"]["enum"] = ["NoSuchPhase"]
    return crd
