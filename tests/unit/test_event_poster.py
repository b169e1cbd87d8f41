"""The Event bodies the operator posts, and the poster's queue, without a server."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from turnout_operator.kube.event_poster import EventPoster, event_body, shorten

pytestmark = pytest.mark.unit

ROUTER = {
    "apiVersion": "turnout.dev/v1alpha1",
    "kind": "Router",
    "namespace": "models",
    "name": "demo",
    "uid": "u1",
}


def test_a_long_message_keeps_its_start_and_end_within_the_api_servers_limit() -> None:
    message = "a" * 600 + "b" * 600
    cut = shorten(message)
    assert len(cut) == 1024
    assert cut.startswith("a" * 510) and cut.endswith("b" * 511) and "..." in cut
    assert shorten("short") == "short"


def test_the_body_is_what_kubectl_describe_reads() -> None:
    body = event_body(
        ROUTER, "Warning", "RolloutFailed", "went wrong", "pod-1", datetime(2026, 12, 5, tzinfo=UTC)
    )
    assert body["involvedObject"] == ROUTER
    assert body["metadata"] == {"namespace": "models", "generateName": "demo."}
    assert (body["type"], body["reason"], body["message"]) == (
        "Warning",
        "RolloutFailed",
        "went wrong",
    )
    assert body["source"] == {"component": "turnout"} and body["reportingComponent"] == "turnout"
    assert body["reportingInstance"] == "pod-1"
    assert body["eventTime"] == "2026-12-05T00:00:00.000000Z" == body["lastTimestamp"]


async def test_events_are_posted_a_few_at_a_time_and_a_failed_one_is_dropped() -> None:
    running = 0
    most = 0
    posted: list[str] = []

    async def post(namespace: str, body: Mapping[str, Any]) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        if body["reason"] == "Bad":
            raise RuntimeError("refused")
        posted.append(body["reason"])

    poster = EventPoster(post, "pod-1", workers=3)
    poster.start()
    for index in range(10):
        poster.post(ROUTER, "Normal", "Bad" if index == 4 else f"R{index}", "m")
    await asyncio.wait_for(poster.flush(), 5)
    await poster.close()
    assert most == 3
    assert sorted(posted) == sorted(f"R{i}" for i in range(10) if i != 4)
