"""The Router loops: one task per Router, started on first sight, woken by events,
ended by deletion or by the operator stopping."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from turnout_operator.cache import RouterObject
from turnout_operator.runtime.backoff import Backoff
from turnout_operator.runtime.loops import PassOutcome, RouterLoops
from turnout_operator.runtime.wakers import Wakers

pytestmark = pytest.mark.unit

IDLE = 3600.0
"""Requeue after a pass: long enough that only wake-ups cause passes in a test."""


def body(
    name: str, uid: str = "u1", generation: int = 1, deleting: bool = False, version: str = ""
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "namespace": "ns",
        "name": name,
        "uid": uid,
        "generation": generation,
        "resourceVersion": version,
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-11-30T00:00:00Z"
    return {"metadata": meta, "spec": {"g": generation}, "status": {}}


class Passes:
    """Records each pass; a pass can be held open until released."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, bool]] = []
        self.ended: list[str] = []
        self.hold: asyncio.Event | None = None
        self.cancelled = 0
        self.changed = asyncio.Condition()

        self.outcome = PassOutcome(IDLE)
        """What each pass reports."""

    async def run(self, router: RouterObject, first: bool) -> PassOutcome:
        self.seen.append((router.name, router.generation, first))
        async with self.changed:
            self.changed.notify_all()
        if self.hold is not None:
            try:
                await self.hold.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return self.outcome

    async def until(self, count: int) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: len(self.seen) >= count), 5)


def loops_with(passes: Passes) -> RouterLoops:
    return RouterLoops(passes.run, Wakers(), ended=lambda router: passes.ended.append(router.name))


async def test_one_loop_per_router_whose_first_pass_says_so_and_events_wake_it() -> None:
    passes = Passes()
    loops = loops_with(passes)
    loops.observe(None, body("a"))
    loops.observe(None, body("b", uid="u2"))
    await passes.until(2)
    assert sorted(passes.seen) == [("a", 1, True), ("b", 1, True)]
    assert len(loops) == 2

    loops.observe("MODIFIED", body("a", generation=2))
    await passes.until(3)
    await asyncio.sleep(0.05)  # room for a pass that must not happen
    # The same loop, woken, with the body of the event that woke it; no second loop.
    assert passes.seen[2:] == [("a", 2, False)]
    assert len(loops) == 2
    await loops.stop(1.0)


async def test_deletion_ends_the_loop_without_another_pass() -> None:
    passes = Passes()
    loops = loops_with(passes)
    loops.observe(None, body("a"))
    await passes.until(1)
    loops.observe("MODIFIED", body("a", generation=2, deleting=True))
    for _ in range(100):
        if not len(loops):
            break
        await asyncio.sleep(0.01)
    assert len(loops) == 0
    assert passes.seen == [("a", 1, True)]
    assert passes.ended == ["a"]


async def test_halt_lets_the_running_pass_finish_then_cancels_it_after_the_grace() -> None:
    passes = Passes()
    passes.hold = asyncio.Event()
    loops = loops_with(passes)
    loops.observe(None, body("a"))
    await passes.until(1)

    halting = asyncio.ensure_future(loops.halt("ns", "a", grace=5.0))
    await asyncio.sleep(0.05)
    assert not halting.done()  # waits for the pass
    passes.hold.set()
    await asyncio.wait_for(halting, 5)
    assert passes.cancelled == 0 and len(loops) == 0

    passes.hold = asyncio.Event()  # never released: the grace runs out
    loops.observe(None, body("b", uid="u2"))
    await passes.until(2)
    await asyncio.wait_for(loops.halt("ns", "b", grace=0.05), 5)
    assert passes.cancelled == 1 and len(loops) == 0


async def test_stop_ends_every_loop_and_starts_no_new_one() -> None:
    passes = Passes()
    loops = loops_with(passes)
    for index in range(5):
        loops.observe(None, body(f"r{index}", uid=f"u{index}"))
    await passes.until(5)
    await asyncio.wait_for(loops.stop(1.0), 5)
    assert len(loops) == 0
    loops.observe("MODIFIED", body("r0", generation=2))
    await asyncio.sleep(0.05)
    assert len(loops) == 0 and len(passes.seen) == 5


async def test_a_router_made_again_under_the_same_name_gets_a_loop() -> None:
    passes = Passes()
    loops = loops_with(passes)
    loops.observe(None, body("a"))
    await passes.until(1)
    loops.observe("DELETED", body("a"))
    loops.observe("ADDED", body("a", uid="u9"))  # before the old loop has ended
    await passes.until(2)
    assert passes.seen[1][0] == "a"
    assert len(loops) == 1
    await loops.stop(1.0)


async def test_the_echo_of_the_operators_own_write_wakes_nobody_but_is_kept() -> None:
    """A status write comes back as a watch event: no pass for it, yet the next pass
    (woken by something else, here an owned object's event) gets that newest body."""
    passes = Passes()
    wakers = Wakers()
    loops = RouterLoops(
        passes.run, wakers, ended=lambda router: None, echo=lambda r: r.resource_version == "7"
    )
    loops.observe(None, body("a", version="7"))  # first sight starts the loop, echo or not
    await passes.until(1)
    loops.observe("MODIFIED", body("a", generation=2, version="7"))
    await asyncio.sleep(0.05)  # room for a pass that must not happen
    assert len(passes.seen) == 1
    wakers.wake("ns", "a")
    await passes.until(2)
    assert passes.seen[1] == ("a", 2, False)
    loops.observe("MODIFIED", body("a", generation=3, version="8"))
    await passes.until(3)
    assert passes.seen[2] == ("a", 3, False)
    await loops.stop(1.0)


async def test_the_old_routers_deletion_seen_after_the_new_one_leaves_the_new_loop_running() -> (
    None
):
    """kopf handles each uid's events apart: the DELETED event of a Router deleted and
    made again under the same name may be handled after the new Router's first event."""
    passes = Passes()
    loops = loops_with(passes)
    loops.observe(None, body("a"))
    await passes.until(1)
    loops.observe("ADDED", body("a", uid="u9", generation=1))
    await passes.until(2)
    loops.observe("DELETED", body("a"))  # uid u1, the old Router
    await asyncio.wait_for(loops.halt("ns", "a", grace=1.0, uid="u1"), 5)
    assert len(loops) == 1
    assert [router.uid for router in loops.routers()] == ["u9"]
    loops.observe("MODIFIED", body("a", uid="u9", generation=2))
    await passes.until(3)  # still woken: the loop goes on
    assert passes.seen[2] == ("a", 2, False)
    await loops.stop(1.0)


async def test_routers_lists_the_running_ones_and_not_those_being_deleted() -> None:
    passes = Passes()
    loops = loops_with(passes)
    loops.observe(None, body("a"))
    loops.observe(None, body("b", uid="u2"))
    await passes.until(2)
    loops.observe("MODIFIED", body("b", uid="u2", generation=2, deleting=True))
    assert [(router.name, router.uid) for router in loops.routers()] == [("a", "u1")]
    await loops.stop(1.0)


async def settle() -> None:
    """Room for passes that must not happen (the loops run on this event loop)."""
    for _ in range(20):
        await asyncio.sleep(0.005)


async def test_a_pass_that_finds_the_router_gone_ends_the_loop_and_runs_the_deletion_once() -> None:
    passes = Passes()
    passes.outcome = PassOutcome(0.0, gone=True)
    gone: list[str] = []
    wakers = Wakers()
    loops = RouterLoops(
        passes.run, wakers, ended=lambda router: None, gone=lambda r: gone.append(r.uid)
    )
    loops.observe(None, body("a"))
    await passes.until(1)
    for _ in range(100):
        if not len(loops):
            break
        await asyncio.sleep(0.01)
    # Events of its children (deleted by the garbage collector) start nothing again.
    wakers.wake("ns", "a")
    await settle()
    assert len(loops) == 0 and loops.routers() == []
    assert gone == ["u1"] and len(passes.seen) == 1


async def test_a_router_made_again_while_its_pass_found_the_old_one_gone_keeps_a_loop() -> None:
    passes = Passes()
    passes.hold = asyncio.Event()
    passes.outcome = PassOutcome(0.0, gone=True)
    gone: list[str] = []
    loops = RouterLoops(
        passes.run, Wakers(), ended=lambda router: None, gone=lambda r: gone.append(r.uid)
    )
    loops.observe(None, body("a"))
    await passes.until(1)
    loops.observe("ADDED", body("a", uid="u9"))  # while the pass over u1 runs
    passes.outcome = PassOutcome(IDLE)
    passes.hold.set()
    await passes.until(2)
    # The pass over u1 reported IDLE here (the outcome changed before it returned); the
    # second pass is the new Router's, in the same loop.
    assert [router.uid for router in loops.routers()] == ["u9"]
    await loops.stop(1.0)


async def test_failed_passes_back_off_and_wake_ups_do_not_cut_the_wait_short() -> None:
    passes = Passes()
    passes.outcome = PassOutcome(0.0, failed=True)
    wakers = Wakers()
    told: list[tuple[int, float]] = []
    loops = RouterLoops(
        passes.run,
        wakers,
        ended=lambda router: None,
        backoff=Backoff(base=0.01, cap=IDLE),
        backing_off=lambda router, failures, wait: told.append((failures, wait)),
    )
    loops.observe(None, body("a"))
    # 0.01, 0.02, 0.04, 0.08 s: four passes in about 0.15 s, then a wait of 0.16 s...
    await passes.until(5)
    assert told[:4] == [(1, 0.01), (2, 0.02), (3, 0.04), (4, 0.08)]
    # ...which a storm of wake-ups (its own objects' events, its status echoes) does not
    # shorten: by the doubling, a few more passes at most, not one per wake-up.
    count = len(passes.seen)
    for _ in range(200):
        wakers.wake("ns", "a")
        loops.observe("MODIFIED", body("a", version="9"))  # same generation
        await asyncio.sleep(0.001)
    assert len(passes.seen) - count <= 2
    assert loops.failing[("ns", "a")] >= 5
    await loops.stop(1.0)


async def test_a_new_generation_cuts_the_backoff_short_and_success_resets_it() -> None:
    passes = Passes()
    passes.outcome = PassOutcome(0.0, failed=True)
    told: list[int] = []
    loops = RouterLoops(
        passes.run,
        Wakers(),
        ended=lambda router: None,
        backoff=Backoff(base=IDLE, cap=IDLE),  # a wait no test outlasts
        backing_off=lambda router, failures, wait: told.append(failures),
    )
    loops.observe(None, body("a"))
    await passes.until(1)
    await settle()
    assert len(passes.seen) == 1 and told == [1]
    passes.outcome = PassOutcome(IDLE)
    loops.observe("MODIFIED", body("a", generation=2))  # the user's fix
    await passes.until(2)
    assert passes.seen[1] == ("a", 2, False)
    await settle()  # the pass has returned
    assert ("ns", "a") not in loops.failing
    await loops.stop(1.0)


async def test_deletion_ends_a_backoff() -> None:
    passes = Passes()
    passes.outcome = PassOutcome(0.0, failed=True)
    loops = RouterLoops(
        passes.run, Wakers(), ended=lambda router: None, backoff=Backoff(base=IDLE, cap=IDLE)
    )
    loops.observe(None, body("a"))
    await passes.until(1)
    await asyncio.wait_for(loops.halt("ns", "a", grace=IDLE, uid="u1"), 5)
    assert len(loops) == 0 and len(passes.seen) == 1


async def test_a_relist_returns_the_routers_it_no_longer_holds_and_their_loops_end() -> None:
    passes = Passes()
    loops = loops_with(passes)
    for name, uid in (("a", "u1"), ("b", "u2"), ("c", "u3")):
        loops.observe(None, body(name, uid=uid))
    loops.observe(
        None,
        {
            **body("x", uid="u8"),
            "metadata": {**body("x")["metadata"], "namespace": "other", "uid": "u8"},
        },
    )
    await passes.until(4)
    # During the gap: b deleted, c deleted and made again (a new uid), d created.
    gone = loops.relisted("ns", [body("a", uid="u1"), body("c", uid="u9"), body("d", uid="u4")])
    assert sorted((router.name, router.uid) for router in gone) == [("b", "u2"), ("c", "u3")]
    await passes.until(6)  # c's loop goes on with the new Router, d's loop starts
    for _ in range(100):
        if len(loops) == 4:
            break
        await asyncio.sleep(0.01)
    assert sorted((r.namespace, r.name, r.uid) for r in loops.routers()) == [
        ("ns", "a", "u1"),
        ("ns", "c", "u9"),
        ("ns", "d", "u4"),
        ("other", "x", "u8"),  # another namespace's list says nothing of it
    ]
    assert "b" in passes.ended
    await loops.stop(1.0)


async def test_no_pass_starts_while_paused_and_the_blocked_ones_run_on_resume() -> None:
    passes = Passes()
    wakers = Wakers()
    loops = RouterLoops(passes.run, wakers, ended=lambda router: None)
    loops.observe(None, body("a"))
    await passes.until(1)
    loops.pause("ns")
    loops.observe("MODIFIED", body("a", generation=2))
    wakers.wake("ns", "a")
    await settle()
    assert len(passes.seen) == 1
    # A Router deleted during the pause never gets its pass.
    assert loops.relisted("ns", []) and len(passes.seen) == 1
    loops.observe(None, body("b", uid="u2"))  # listed: its loop starts, and waits too
    await settle()
    assert len(passes.seen) == 1
    loops.resume("ns")
    await passes.until(2)
    assert passes.seen[1:] == [("b", 1, True)]
    await loops.stop(1.0)
