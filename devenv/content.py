"""Content keys for slow builds cached outside the repository.

A build is keyed by a hash of everything it reads (file names and contents), so an
unchanged input is never rebuilt and a changed one always is.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parents[1]

PACKAGE_SOURCES: Final = tuple(
    REPO_ROOT / name
    for name in (
        "pyproject.toml",
        "setup.py",
        "README.md",
        "operator/turnout_operator",
        "router/turnout_router",
        "plugin_host",
        "kubectl/turnout_kubectl",
        "packaging/install.sh",
        "packaging/compiled-modules.txt",
        "packaging/check_compiled.py",
    )
)
"""What `packaging/install.sh` reads to build and install Turnout's wheel."""


def cache_home() -> Path:
    """Where slow builds are kept: $TURNOUT_CACHE, default ~/.cache/turnout."""
    return Path(os.environ.get("TURNOUT_CACHE") or Path.home() / ".cache" / "turnout")


def content_key(recipe: str, parts: Iterable[bytes]) -> str:
    """16 hex digits naming `parts` as built by `recipe` (bump it when the way changes)."""
    digest = hashlib.sha256(recipe.encode())
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def tree_bytes(paths: Sequence[Path]) -> Iterable[bytes]:
    """Every file under `paths` (names relative to the repository, contents, sorted)."""
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            yield str(path.relative_to(REPO_ROOT)).encode()
            yield path.read_bytes()
