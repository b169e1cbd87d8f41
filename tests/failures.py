"""Telling a transport failure from a call that merely ran out of time.

`CallTimeoutError` is a `TransportError`, so `pytest.raises(TransportError)`
also passes when a crash went unnoticed and the call waited for its deadline.
Crash tests give calls a deadline far beyond the test's own needs and check the
error is a transport failure that is not a timeout: no clock reading decides.
"""

from __future__ import annotations

from plugin_host import CallTimeoutError, TransportError

# Longer than any crash takes to notice, shorter than pytest-timeout's hang guard.
LONG_CALL_TIMEOUT = 120.0


def assert_failed_on_the_transport(error: BaseException) -> None:
    assert isinstance(error, TransportError), repr(error)
    assert not isinstance(error, CallTimeoutError), (
        f"the call ended on its deadline, not on the failure: {error!r}"
    )
