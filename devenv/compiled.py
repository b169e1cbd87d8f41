"""Turnout installed with its hot path compiled, the way the image installs it.

`compiled_python()` runs `packaging/install.sh` with TURNOUT_COMPILE=1 into a
virtualenv under $TURNOUT_CACHE/compiled/<key> (the key covers every file the
install reads and the base interpreter), adds the test tools at the versions this
interpreter runs, and returns that virtualenv's python. The first build takes
about two minutes (mypyc, then the C compiler); later calls reuse it. One build is
kept per base interpreter.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

from devenv.content import PACKAGE_SOURCES, REPO_ROOT, cache_home, content_key, tree_bytes

RECIPE: Final = "1"
TEST_TOOLS: Final = (
    "pytest",
    "pytest-asyncio",
    "pytest-timeout",
    "hypothesis",
    "aiohttp",
    "cryptography",
)
"""What the tests that run against the compiled build import beyond Turnout's own needs."""


def cache_root() -> Path:
    return cache_home() / "compiled"


def say(message: str) -> None:
    print(f"compiled: {message}", file=sys.stderr, flush=True)


def base_python(python: str = sys.executable) -> str:
    """The interpreter a virtualenv's `python` was made from (install.sh makes a fresh venv)."""
    probe = "import sys; print(getattr(sys, '_base_executable', sys.executable))"
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    return str(Path(done.stdout.strip()).resolve())


def compiled_python(base: str | None = None) -> Path:
    """The python of a virtualenv with Turnout installed compiled (built on first use),
    made from `base` (default: the interpreter running this)."""
    base = base or base_python()
    tools = [f"{name}=={importlib.metadata.version(name)}" for name in TEST_TOOLS]
    # The README is only the wheel's description: editing it need not rebuild.
    sources = [path for path in PACKAGE_SOURCES if path.name != "README.md"]
    key = content_key(RECIPE, [base.encode(), "\n".join(tools).encode(), *tree_bytes(sources)])
    prefix = cache_root() / key
    python = prefix / "bin" / "python"
    if (prefix / "complete").is_file():
        return python
    if prefix.exists():
        shutil.rmtree(prefix)  # an interrupted build
    prefix.parent.mkdir(parents=True, exist_ok=True)
    for older in prefix.parent.iterdir():
        if (older / "base").is_file() and (older / "base").read_text() == base:
            shutil.rmtree(older, ignore_errors=True)  # an older build from the same base
    say(f"building Turnout with its hot path compiled into {prefix} (about 2 min)")
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(TURNOUT_COMPILE="1", PYTHON=base)
    done = subprocess.run(
        ["sh", str(REPO_ROOT / "packaging" / "install.sh"), str(prefix), str(REPO_ROOT)],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"compiled install failed:\n{done.stdout}\n{done.stderr}")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *tools],
        env=env,
        check=True,
    )
    (prefix / "base").write_text(base)
    (prefix / "complete").write_text(done.stdout)
    say(f"built in {time.monotonic() - started:.0f} s")
    return python
