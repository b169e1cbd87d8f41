"""The pass limit: how many run at once, and who goes next."""

from __future__ import annotations

import asyncio

import pytest

from turnout_operator.runtime.passes import PassLimit

pytestmark = pytest.mark.unit


async def run_in_order(limit: PassLimit, arrivals: list[tuple[str, bool]]) -> list[str]:
    """Hold every slot, queue `arrivals` (name, first) in that order, then let them run."""
    started: list[str] = []
    gate = asyncio.Event()

    async def holder() -> None:
        async with limit.slot(first=False):
            await gate.wait()

    async def one(name: str, first: bool) -> None:
        async with limit.slot(first=first):
            started.append(name)
            await asyncio.sleep(0)

    holders = [asyncio.create_task(holder()) for _ in range(limit.limit)]
    await asyncio.sleep(0)
    tasks = []
    for name, first in arrivals:
        tasks.append(asyncio.create_task(one(name, first)))
        await asyncio.sleep(0)  # queued in this order
    assert started == [] and limit.waiting == len(arrivals)
    gate.set()
    await asyncio.gather(*holders, *tasks)
    return started


async def test_routers_past_their_first_pass_go_before_first_passes() -> None:
    order = await run_in_order(
        PassLimit(1),
        [("new-a", True), ("new-b", True), ("done-c", False), ("new-d", True), ("done-e", False)],
    )
    assert order == ["done-c", "done-e", "new-a", "new-b", "new-d"]


async def test_never_more_than_the_limit_at_once() -> None:
    limit = PassLimit(3)
    running, peak = 0, 0

    async def one(first: bool) -> None:
        nonlocal running, peak
        async with limit.slot(first=first):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.001)
            running -= 1

    await asyncio.gather(*(one(index % 2 == 0) for index in range(40)))
    assert peak == 3
    assert limit.running == 0 and limit.waiting == 0


async def test_a_cancelled_waiter_gives_up_its_place_and_loses_no_slot() -> None:
    limit = PassLimit(1)
    order: list[str] = []
    gate = asyncio.Event()

    async def holder() -> None:
        async with limit.slot(first=False):
            await gate.wait()

    async def one(name: str) -> None:
        async with limit.slot(first=False):
            order.append(name)

    held = asyncio.create_task(holder())
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(one("cancelled"))
    later = asyncio.create_task(one("later"))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(held, later)
    assert cancelled.cancelled()
    assert order == ["later"]
    assert limit.running == 0
    async with limit.slot(first=True):
        assert limit.running == 1


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        PassLimit(0)


async def test_a_waiter_cancelled_just_as_it_is_handed_the_slot_passes_it_on() -> None:
    limit = PassLimit(1)
    held = limit.slot(first=False)
    await held.__aenter__()
    entered: list[str] = []

    async def one() -> None:
        async with limit.slot(first=True):
            entered.append("waiter")

    waiter = asyncio.create_task(one())
    await asyncio.sleep(0)
    assert limit.waiting == 1
    await held.__aexit__(None, None, None)  # the slot goes to the waiter...
    waiter.cancel()  # ...which is cancelled before it runs
    await asyncio.gather(waiter, return_exceptions=True)
    assert entered == []
    assert limit.running == 0
