"""The operator killed with SIGKILL at random points while Routers are created and changed.

Every Router goes through three specs: created with spec 0, changed to spec 1,
then half go back to spec 0 (which must reuse version 1) and half on to spec 2.
The changes are applied in batches; after random batches, at a random moment,
the operator is killed and a new one started. Before a Router's spec is
replaced the test waits for the previous one to be recorded (plain SQL), so the
expected version of every Router follows from the specs applied alone.
"""

from __future__ import annotations

import random
import signal
import time

import pytest

from devenv.operator import log_records, wait_for
from tests.chaos.support import (
    SpecHistory,
    exact_numbering,
    fleet_manifest,
    problems,
    reconcile_failures,
    routers,
    sizes,
    version_rows,
    wait_converged,
)
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.chaos

BATCH = 10
# How long after a batch the kill may land: the operator is busy with it meanwhile.
KILL_DELAY_SECONDS = (0.0, 2.0)


def test_sigkill_at_random_points_converges_with_no_duplicates_orphans_or_pending_rows(
    operators: OperatorHarness, seed: int
) -> None:
    h = operators
    size = sizes()
    rng = random.Random(seed)
    names = [f"r{index:03d}" for index in range(size.routers)]
    history = SpecHistory()
    # Routers go back to spec 0 or on to spec 2, chosen by the seed.
    final_variant = {name: rng.choice((0, 2)) for name in names}

    steps: list[list[tuple[str, int]]] = []
    for variant_of in (lambda _: 0, lambda _: 1, final_variant.__getitem__):
        for start in range(0, len(names), BATCH):
            steps.append([(name, variant_of(name)) for name in names[start : start + BATCH]])
    kills_after: dict[int, list[float]] = {}
    for _ in range(size.kills):
        kills_after.setdefault(rng.randrange(len(steps)), []).append(
            rng.uniform(*KILL_DELAY_SECONDS)
        )

    # Spread the passes over several processes at once: more in flight when a kill lands.
    env = {"TURNOUT_RETRY_SECONDS": "1"}
    h.start(env=env)
    kills = 0
    for index, step in enumerate(steps):
        for name, variant in step:
            if name in history.applied:
                _wait_recorded(h, history, name)
            manifest = fleet_manifest(name, variant)
            h.apply(manifest)
            history.record(name, manifest["spec"])
        for delay in kills_after.get(index, []):
            time.sleep(delay)
            victim = h.operator
            victim.popen.send_signal(signal.SIGKILL)
            victim.popen.wait(timeout=30)
            kills += 1
            # Only reported: how much work the dead operator left behind.
            unsettled = [
                name
                for name, body in routers(h).items()
                if body.get("status", {}).get("phase") != "Deployed"
                or body["status"].get("observedGeneration") != body["metadata"]["generation"]
            ]
            print(f"kill {kills} after batch {index}: {len(unsettled)} Routers not settled")
            h.start(env=env, workdir=h.workdir / f"after-kill-{kills}")
    assert kills == size.kills

    expected = history.expected_versions()
    # Independent of the operator: 0 → 1 → 0 is version 1, 0 → 1 → 2 is version 3.
    assert expected == {name: 1 if final_variant[name] == 0 else 3 for name in names}
    wait_converged(h, expected, 60 + 3 * size.routers)
    assert problems(h, expected) == []
    assert exact_numbering(history, version_rows(h)) == []
    for process in h.started:
        assert reconcile_failures(log_records(process.log_path)) == [], process.log_path
    assert h.operator.alive()


def _wait_recorded(h: OperatorHarness, history: SpecHistory, name: str) -> None:
    """Until the Router's last applied spec has a version row (by plain SQL)."""
    count = len(history.distinct(name))
    wait_for(
        lambda: len(version_rows(h).get(name, [])) >= count,
        120,
        f"{name}: its spec recorded as version {count}",
        h.operator,
    )
