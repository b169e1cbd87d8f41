"""Which running Routers the sweep judges vanished (their DELETED event was missed)."""

from __future__ import annotations

from typing import Any

import pytest

from turnout_operator.cache import RouterObject
from turnout_operator.runtime.deletion import Vanished

pytestmark = pytest.mark.unit


def router(name: str, uid: str) -> RouterObject:
    body: dict[str, Any] = {"metadata": {"namespace": "ns", "name": name, "uid": uid}}
    return RouterObject.from_body(body)


def test_a_router_is_vanished_only_when_missing_from_two_listings_in_a_row() -> None:
    vanished = Vanished()
    a, b, c = router("a", "u1"), router("b", "u2"), router("c", "u3")
    # The listing may lag behind a Router just created: one miss is not enough.
    assert vanished.judge([a, b, c], live_uids={"u1"}) == []
    # b is listed again (it was only late), c is still missing.
    assert vanished.judge([a, b, c], live_uids={"u1", "u2"}) == [c]
    # Missing, listed, missing: never twice in a row.
    assert vanished.judge([a, b], live_uids={"u1"}) == []
    assert vanished.judge([a, b], live_uids={"u1", "u2"}) == []
    assert vanished.judge([a, b], live_uids={"u1"}) == []


def test_a_router_made_again_under_the_same_name_is_judged_by_its_own_uid() -> None:
    vanished = Vanished()
    assert vanished.judge([router("a", "old")], live_uids=set()) == []
    # The name now belongs to a new Router, which the listing has not caught up with.
    assert vanished.judge([router("a", "new")], live_uids=set()) == []
    assert vanished.judge([router("a", "new")], live_uids={"new"}) == []
