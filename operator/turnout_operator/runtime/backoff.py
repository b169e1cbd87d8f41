"""How long a Router whose passes keep failing waits before its next pass.

Pure. A pass that fails (an exception, or a dependency that was unavailable) is
retried after an exponentially growing delay, per Router, as controller-runtime's
rate-limited work queue does: the first retry comes almost at once (a conflict or a
dropped connection usually clears by then), each failure in a row doubles the
wait, up to a ceiling. A pass that succeeds starts the count again.

The delay is what bounds a Router's API writes whatever goes wrong: while it runs,
the Router's loop ignores watch events on the Router's own objects and its status
(they are what a failing pass tends to cause), and only a new generation of the
Router (a user's change) or its deletion cuts the wait short.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Exponential delays: `base` after the first failure, doubling, at most `cap`."""

    base: float
    cap: float

    def __post_init__(self) -> None:
        if not 0 < self.base <= self.cap:
            raise ValueError("backoff needs 0 < base <= cap")

    def delay(self, failures: int) -> float:
        """Seconds to wait after `failures` failed passes in a row (0: none failed)."""
        if failures <= 0:
            return 0.0
        # 2**60 seconds is past any cap; the exponent is bounded so the float stays finite.
        return min(self.cap, self.base * 2.0 ** min(failures - 1, 60))
