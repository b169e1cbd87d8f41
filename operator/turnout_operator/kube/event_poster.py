"""Posts the operator's Kubernetes Events about Routers, a few at a time, in the background.

A pass must not wait for its Events, and a thousand Routers rolling out at once must
not open a connection per Event: Events go into a queue that a few workers empty
(EVENT_POSTERS at once, over the API client's shared connections). An Event that
cannot be posted is logged and dropped, as client-go's recorder does: Events are
a courtesy to the user, never a reason to fail or retry a pass.

The body is the core/v1 Event `kubectl describe` and `kubectl get events` read, with
`reportingComponent` and `source.component` set to `turnout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

log = logging.getLogger(__name__)

EVENT_POSTERS: Final = 8
"""Events posted at once."""
QUEUE_LIMIT: Final = 10_000
"""Events waiting at most; beyond it new ones are dropped (and logged), not piled up."""
MAX_MESSAGE: Final = 1024
"""The API server refuses longer Event messages; longer ones keep their start and end."""
COMPONENT: Final = "turnout"

Post = Callable[[str, Mapping[str, Any]], Awaitable[None]]
"""Creates one Event in a namespace (`Kube.post_event`)."""


def shorten(message: str, limit: int = MAX_MESSAGE) -> str:
    """`message` cut to `limit` characters, keeping its start and its end."""
    if len(message) <= limit:
        return message
    cut = "..."
    head = (limit - len(cut)) // 2
    tail = limit - len(cut) - head
    return message[:head] + cut + message[-tail:]


def event_body(
    involved: Mapping[str, str],
    type_: str,
    reason: str,
    message: str,
    instance: str,
    now: datetime,
) -> dict[str, Any]:
    """The Event about the object `involved` (apiVersion, kind, namespace, name, uid)."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"namespace": involved["namespace"], "generateName": f"{involved['name']}."},
        "involvedObject": dict(involved),
        "type": type_,
        "reason": reason,
        "message": shorten(message),
        "action": reason,
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
        "source": {"component": COMPONENT},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "eventTime": stamp,
        "count": 1,
    }


class EventPoster:
    """A queue of Events and the workers that post them; `start` it, `close` it."""

    def __init__(self, post: Post, instance: str, workers: int = EVENT_POSTERS) -> None:
        self._post = post
        self._instance = instance
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._work()) for _ in range(self._workers)]

    def post(self, involved: Mapping[str, str], type_: str, reason: str, message: str) -> None:
        """Queue one Event; never waits."""
        body = event_body(involved, type_, reason, message, self._instance, datetime.now(UTC))
        try:
            self._queue.put_nowait(body)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("event dropped: too many waiting", extra={"reason": reason})

    async def flush(self) -> None:
        """Until every queued Event has been posted or dropped."""
        await self._queue.join()

    async def close(self, grace: float = 2.0) -> None:
        """Post what waits, for up to `grace` seconds, then stop the workers."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self.flush()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _work(self) -> None:
        while True:
            body = await self._queue.get()
            try:
                await self._post(body["metadata"]["namespace"], body)
            except Exception as error:  # an Event is never worth failing for
                log.warning(
                    "event not posted",
                    extra={
                        "namespace": body["metadata"]["namespace"],
                        "router": body["involvedObject"].get("name"),
                        "reason": body["reason"],
                        "error": str(error),
                    },
                )
            finally:
                self._queue.task_done()
