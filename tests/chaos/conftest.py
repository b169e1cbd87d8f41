"""Chaos tests draw their random points from one seed, printed with every failure."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.chaos.support import SEED_ENV, chaos_seed


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    """The run's seed (env ``TURNOUT_CHAOS_SEED``, else a fresh one); reported on failure."""
    value = chaos_seed()
    request.node.chaos_seed = value
    return value


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    value = getattr(item, "chaos_seed", None)
    if report.failed and value is not None:
        report.sections.append(("chaos seed", f"rerun with {SEED_ENV}={value}"))
    return report
