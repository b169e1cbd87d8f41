"""The chaos tier at full size: 100 Routers and 10 SIGKILLs, a 30 s database outage,
1,000 generated invalid specs (`make test` runs the same tests smaller; see docs/testing.md).

Runs `pytest -m chaos tests/chaos` with TURNOUT_CHAOS_SCALE=full and prints how
long each test took; the tests' own assertions decide pass or fail. Set
TURNOUT_CHAOS_SEED to replay a run (each failure prints the seed it used).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    env = {**os.environ, "TURNOUT_CHAOS_SCALE": "full"}
    print("chaos tier, full size (TURNOUT_CHAOS_SCALE=full)")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-m",
            "chaos",
            "tests/chaos",
            "-q",
            "--durations=0",
            "-o",
            "timeout=1800",
        ],
        cwd=ROOT,
        env=env,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(completed.returncode)
