"""The engine plugin killed, hung past the call timeout, and replaced by a binary that prints
garbage, each while Routers are changed that need it.

After each fault the changed Routers must say what happened in a condition, the
operator process must keep running, and once the plugin is back (the operator
restarts it; the garbage binary is repaired by the test) every Router converges.
The single-fault cases without load are in tests/integration/test_operator.py
(plugin down, idle Routers) and tests/integration/test_plugin_faults.py (the host).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from devenv.operator import log_records, wait_for
from devenv.procs import child_pids, pid_alive
from tests.chaos.support import (
    SpecHistory,
    exact_numbering,
    fleet_manifest,
    reconcile_failures,
    routers,
    version_rows,
    wait_converged,
)
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.chaos

CALL_TIMEOUT_SECONDS = 2
ROUTERS = 6
GARBAGE = (
    "#!/bin/sh\nprintf 'this is not a plugin handshake\\n\\x00\\xff garbage|||\\n'\nsleep 30\n"
)


def _plugin_pid(h: OperatorHarness) -> int:
    """The engine's plugin process, once the operator runs one."""
    pids: list[int] = wait_for(lambda: child_pids(h.operator.pid), 60, "the plugin process")
    (pid,) = pids
    return pid


def _change(h: OperatorHarness, history: SpecHistory, names: list[str], variant: int) -> None:
    for name in names:
        manifest = fleet_manifest(name, variant)
        h.apply(manifest)
        history.record(name, manifest["spec"])


def _wait_engine_condition(
    h: OperatorHarness, names: list[str], predicate: Any, what: str
) -> dict[str, dict[str, Any]]:
    def check() -> dict[str, dict[str, Any]] | None:
        found: dict[str, dict[str, Any]] = {}
        for name, body in routers(h).items():
            for condition in body.get("status", {}).get("conditions", []):
                if condition["type"] == "EngineAvailable":
                    found[name] = condition
        return found if all(n in found and predicate(found[n]) for n in names) else None

    result: dict[str, dict[str, Any]] = wait_for(check, 90, what, h.operator)
    return result


@contextlib.contextmanager
def _continued_at_exit(pid: int) -> Iterator[None]:
    """A stopped process is let go again at the end, whatever happens."""
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def test_plugin_killed_hung_and_garbage_under_load_then_recovered(
    operators: OperatorHarness,
) -> None:
    h = operators
    h.start(
        h.python_engine(liveness_period_seconds=1),
        env={
            "TURNOUT_PLUGIN_CALL_TIMEOUT": str(CALL_TIMEOUT_SECONDS),
            "TURNOUT_RETRY_SECONDS": "1",
        },
    )
    names = [f"p{index:02d}" for index in range(ROUTERS)]
    history = SpecHistory()
    _change(h, history, names, 0)
    for name in names:
        h.wait_deployed(name, 1)

    # 1. Killed: changes made right after need the manager; the operator restarts it.
    first = _plugin_pid(h)
    os.kill(first, signal.SIGKILL)
    _change(h, history, names[:2], 1)
    wait_converged(h, history.expected_versions(), 90)
    assert _plugin_pid(h) != first

    # 2. Hung (SIGSTOP: it takes connections but never answers) past the call timeout.
    hung = _plugin_pid(h)
    with _continued_at_exit(hung):
        os.kill(hung, signal.SIGSTOP)
        _change(h, history, names[2:4], 1)
        conditions = _wait_engine_condition(
            h,
            names[2:4],
            lambda c: c["status"] == "False",
            "the changed Routers to say the engine is unavailable",
        )
        for name in names[2:4]:
            message = conditions[name]["message"]
            # The call timeout's own words: "no answer from plugin 'hardcoded' within 2s".
            assert message.startswith("engine 'hardcoded' is unavailable: "), message
            assert f"within {CALL_TIMEOUT_SECONDS}s" in message, message
        # Routers whose version is recorded keep serving meanwhile.
        bodies = routers(h)
        for name in names[4:]:
            assert bodies[name]["status"]["phase"] == "Deployed", name
        # The operator replaces a plugin that stops answering its liveness pings.
        wait_for(lambda: not pid_alive(hung), 60, "the hung plugin replaced", h.operator)
    wait_converged(h, history.expected_versions(), 90)

    # 3. Replaced by a binary that prints garbage instead of a handshake.
    binary = h.workdir / "plugins" / "hardcoded"
    good = binary.read_bytes()
    binary.write_text(GARBAGE)
    os.kill(_plugin_pid(h), signal.SIGKILL)
    _change(h, history, names[4:], 1)
    conditions = _wait_engine_condition(
        h,
        names[4:],
        lambda c: c["status"] == "False" and "handshake" in c["message"],
        "the changed Routers to name the bad handshake",
    )
    for name in names[4:]:
        assert conditions[name]["message"].startswith("engine 'hardcoded' is"), conditions[name]
    assert h.operator.alive()
    binary.write_bytes(good)

    expected = history.expected_versions()
    assert expected == {**dict.fromkeys(names, 2)}
    wait_converged(h, expected, 120)
    _wait_engine_condition(
        h, names, lambda c: c["status"] == "True", "every Router to see the engine back"
    )
    assert exact_numbering(history, version_rows(h)) == []
    assert reconcile_failures(log_records(h.operator.log_path)) == []
