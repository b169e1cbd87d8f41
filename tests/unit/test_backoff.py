"""The per-Router backoff's delays, against the doubling computed by hand."""

from __future__ import annotations

import pytest

from turnout_operator.runtime.backoff import Backoff

pytestmark = pytest.mark.unit


def test_delays_double_from_the_base_up_to_the_cap() -> None:
    backoff = Backoff(base=0.05, cap=60.0)
    assert [backoff.delay(n) for n in range(0, 4)] == [0.0, 0.05, 0.1, 0.2]
    assert backoff.delay(11) == 51.2
    assert backoff.delay(12) == 60.0
    assert backoff.delay(10_000) == 60.0  # no overflow however long it fails


def test_a_base_above_the_cap_or_not_positive_is_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(base=2.0, cap=1.0)
    with pytest.raises(ValueError):
        Backoff(base=0.0, cap=1.0)
