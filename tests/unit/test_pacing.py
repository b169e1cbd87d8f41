"""Writes that can wait: spacing per key and a grace period per value, on a hand-set clock."""

from __future__ import annotations

import pytest

from turnout_operator.reconcile.pacing import Grace, Holding, Spacing

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_first_write_of_a_key_never_waits() -> None:
    spacing = Spacing(30.0, Clock())
    assert spacing.wait("a") == 0.0


def test_a_write_makes_the_next_one_of_that_key_wait_the_rest_of_the_interval() -> None:
    clock = Clock()
    spacing = Spacing(30.0, clock)
    spacing.wrote("a")
    clock.now += 12.0
    assert spacing.wait("a") == pytest.approx(18.0)
    assert spacing.wait("b") == 0.0  # keys are apart
    clock.now += 18.0
    assert spacing.wait("a") == 0.0
    clock.now += 100.0
    assert spacing.wait("a") == 0.0  # never negative


def test_a_forgotten_key_starts_afresh() -> None:
    clock = Clock()
    spacing = Spacing(30.0, clock)
    spacing.wrote("a")
    spacing.forget("a")
    assert spacing.wait("a") == 0.0


def test_grace_counts_from_when_the_value_was_first_seen() -> None:
    clock = Clock()
    grace = Grace(60.0, clock)
    assert grace.remaining("a", 2) == pytest.approx(60.0)
    clock.now += 45.0
    assert grace.remaining("a", 2) == pytest.approx(15.0)
    clock.now += 15.0
    assert grace.remaining("a", 2) == 0.0
    clock.now += 5.0
    assert grace.remaining("a", 2) == 0.0


def test_a_new_value_restarts_the_grace_and_forget_drops_it() -> None:
    clock = Clock()
    grace = Grace(60.0, clock)
    grace.remaining("a", 2)
    clock.now += 59.0
    assert grace.remaining("a", 3) == pytest.approx(60.0)  # version 3 rolls out now
    clock.now += 30.0
    grace.forget("a")
    assert grace.remaining("a", 3) == pytest.approx(60.0)


def test_holding_releases_what_it_holds_in_order_and_says_when_it_is_due() -> None:
    clock = Clock()
    holding: Holding[str] = Holding(30.0, clock)
    assert holding.hold("a", []) == 0.0  # nothing held: nothing waits
    assert holding.release("a") == []
    assert holding.hold("a", ["recorded", "rolling"]) == pytest.approx(30.0)
    clock.now += 10.0
    assert holding.hold("a", []) == pytest.approx(20.0)  # counted from the first item
    assert holding.hold("a", ["progress"]) == pytest.approx(20.0)
    assert holding.hold("b", ["other"]) == pytest.approx(30.0)
    clock.now += 25.0
    assert holding.hold("a", []) == 0.0
    assert holding.release("a") == ["recorded", "rolling", "progress"]
    assert holding.release("a") == []
    holding.forget("b")
    assert holding.release("b") == []
