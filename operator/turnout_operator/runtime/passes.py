"""How many reconcile passes run at once, and which waiting pass goes next.

At most `limit` passes run together (`TURNOUT_MAX_CONCURRENT_PASSES`). When more
wait, a Router that has had its first pass goes before Routers still waiting for
theirs. A first pass is the expensive one (plugin calls, a new version, three
applies); the passes that follow are mostly cheap (a rollout that finished, a
change). In plain arrival order, 1,000 Routers applied at once or loaded by a
restarting operator would make every finished rollout, and any change a user
makes meanwhile, wait behind all the first passes; with this order they don't.
Within each group, passes go in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator


class PassLimit:
    """A semaphore whose waiters are served follow-ups first, then first passes."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.running = 0
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, future in self._waiting if not future.done())

    @contextlib.asynccontextmanager
    async def slot(self, *, first: bool) -> AsyncIterator[None]:
        """Hold one of the `limit` slots for a pass; `first` for a Router's first pass."""
        await self._acquire(first)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, first: bool) -> None:
        if self.running < self.limit and not self._waiting:
            self.running += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (1 if first else 0, next(self._order), future))
        try:
            await future  # _release hands its slot over: `running` already counts us
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # handed a slot just as we were cancelled: pass it on
            raise

    def _release(self) -> None:
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)  # the slot goes to this waiter
                return
        self.running -= 1
