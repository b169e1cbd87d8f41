"""Builds the Python hardcoded plugin the way users do: `examples/plugins/hardcoded/build.py`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BUILD_SCRIPT = (
    Path(__file__).resolve().parents[1] / "examples" / "plugins" / "hardcoded" / "build.py"
)


def build_hardcoded_plugin(output: Path) -> str:
    """Write the zipapp to `output`; returns what the build printed (path and SHA-256)."""
    done = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), str(output)], check=True, capture_output=True, text=True
    )
    return done.stdout
