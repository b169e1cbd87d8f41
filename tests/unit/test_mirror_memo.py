"""When the RouterVersion mirror reads a Router's version rows again (`MirrorMemo`)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from turnout_operator.cache.mirrors import MirrorMemo, Mirrors
from turnout_operator.store import VersionRecord, VersionStatus

pytestmark = pytest.mark.unit

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def record(number: int, status: VersionStatus = VersionStatus.PENDING) -> VersionRecord:
    return VersionRecord(
        number=number,
        status=status,
        error=None,
        config_hash=f"hash-{number}",
        spec={"replicas": number},
        experiment_engine={"type": "nop"},
        router_image="turnout:1",
        created_at=WHEN,
        updated_at=WHEN,
    )


def mirrors(*numbers: int) -> Mirrors:
    return Mirrors(
        numbers=list(numbers),
        bodies=[{"metadata": {"name": f"demo-v{n}"}, "spec": {"version": n}} for n in numbers],
    )


def test_mirrors_are_reused_while_the_reconciler_holds_the_same_record() -> None:
    memo = MirrorMemo()
    current = record(2)
    assert memo.get("u-1", current) is None  # never read
    memo.remember("u-1", current, mirrors(2, 1))
    assert memo.get("u-1", current) == mirrors(2, 1)
    assert memo.get("u-2", current) is None  # another Router


def test_changing_what_was_returned_does_not_change_the_next_answer() -> None:
    memo = MirrorMemo()
    current = record(1)
    memo.remember("u-1", current, mirrors(1))
    got = memo.get("u-1", current)
    assert got is not None
    got.bodies[0]["spec"]["version"] = 7
    got.numbers.append(7)
    assert memo.get("u-1", current) == mirrors(1)


def test_any_new_record_means_reading_again() -> None:
    memo = MirrorMemo()
    current = record(2)
    memo.remember("u-1", current, mirrors(2, 1))
    # Deployed (the reconciler replaces its record after each write it makes) ...
    assert memo.get("u-1", dataclasses.replace(current, status=VersionStatus.DEPLOYED)) is None
    # ... or marked deployed again with the same status (older pending rows may change) ...
    assert memo.get("u-1", dataclasses.replace(current)) is None
    # ... or another version.
    assert memo.get("u-1", record(3)) is None


def test_without_a_record_rows_are_always_read() -> None:
    memo = MirrorMemo()
    current = record(1)
    memo.remember("u-1", current, mirrors(1))
    assert memo.get("u-1", None) is None
    memo.remember("u-1", None, mirrors(1))
    assert memo.get("u-1", current) is None


def test_a_forgotten_router_is_read_again() -> None:
    memo = MirrorMemo()
    current = record(1)
    memo.remember("u-1", current, mirrors(1))
    memo.forget("u-1")
    assert memo.get("u-1", current) is None
