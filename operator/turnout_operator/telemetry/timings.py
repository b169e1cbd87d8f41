"""Where a reconcile pass spends its time: plugin calls, the database, the API server.

A pass opens a `Timings` with `pass_timings()`; code anywhere below measures a
block with `measure("db")`. A context variable carries the current pass, so the
measuring sites need no extra parameter, and measuring outside a pass is a no-op.
The totals go into the operator's one log line per pass that changed something,
which is what the benchmark reads.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

_current: ContextVar[Timings | None] = ContextVar("turnout_timings", default=None)


@dataclass
class Timings:
    started: float = field(default_factory=time.perf_counter)
    seconds: dict[str, float] = field(default_factory=dict)

    def total(self) -> float:
        return time.perf_counter() - self.started

    def as_millis(self) -> dict[str, float]:
        spent = {f"{name}_ms": round(value * 1000, 2) for name, value in self.seconds.items()}
        spent["total_ms"] = round(self.total() * 1000, 2)
        return spent


@contextlib.contextmanager
def pass_timings() -> Iterator[Timings]:
    timings = Timings()
    token = _current.set(timings)
    try:
        yield timings
    finally:
        _current.reset(token)


@contextlib.contextmanager
def measure(category: str) -> Iterator[None]:
    timings = _current.get()
    if timings is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        timings.seconds[category] = timings.seconds.get(category, 0.0) + (
            time.perf_counter() - started
        )
