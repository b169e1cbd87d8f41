"""Pytest fixtures for the Go interop peers (a pytest plugin module).

Like the other substrate fixtures, a missing build fails the test instead of
skipping it: a silently skipped interop suite looks exactly like a passing one.
"""

from __future__ import annotations

import pytest

from devenv.gopeers import GoPeers, GoPeersMissing, locate


@pytest.fixture(scope="session")
def gopeers() -> GoPeers:
    """Paths of the Go peers built by ``make tools`` (tests/gopeers/build.sh)."""
    try:
        return locate()
    except GoPeersMissing as exc:
        pytest.fail(str(exc), pytrace=False)
