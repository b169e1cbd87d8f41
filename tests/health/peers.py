"""kstatus and Argo CD's Lua interpreter, as the health tests run them.

Both come from `tests/healthpeers` (built from the Go module proxy by its build.sh,
cached by content): `kstatus` prints cli-utils' verdict on objects (what Flux's health
checks and kpt read), `argolua` runs an Argo CD health script with gopher-lua, the
interpreter Argo CD embeds.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

from devenv.binaries import REPO_ROOT

BUILD = REPO_ROOT / "tests" / "healthpeers" / "build.sh"
ARGOCD = REPO_ROOT / "docs" / "argocd" / "turnout.dev"


@functools.cache
def bin_dir() -> Path:
    result = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"tests/healthpeers/build.sh failed:\n{result.stderr}"
    return Path(result.stdout.strip().splitlines()[-1])


def _run(argv: list[str], objects: list[dict[str, Any]]) -> list[dict[str, str]]:
    result = subprocess.run(
        argv, input=json.dumps(objects), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"{argv[0]} failed: {result.stderr}"
    verdicts: list[dict[str, str]] = json.loads(result.stdout)
    return verdicts


def kstatus(*objects: dict[str, Any]) -> list[dict[str, str]]:
    """kstatus's {status, message} for each object (Current, InProgress, Failed, ...)."""
    return _run([str(bin_dir() / "kstatus")], list(objects))


def argocd_health(kind: str, *objects: dict[str, Any]) -> list[dict[str, str]]:
    """Argo CD's {status, message} for each object, from docs/argocd/turnout.dev/<kind>."""
    script = ARGOCD / kind / "health.lua"
    return _run([str(bin_dir() / "argolua"), str(script)], list(objects))
