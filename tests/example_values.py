"""Every example Helm values file in the repository, and the engines each configures.

Shared by the unit test (the example plugin's parser, which mirrors Go's encoding/json)
and the interop test (Turing's Go plugin itself): the README calls these files
complete, so each engine's options must be what its plugin's Configure accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def example_values_files() -> list[Path]:
    """Values files a user is pointed at: examples/ and the chart's own defaults."""
    found = sorted((ROOT / "examples").rglob("*values*.yaml"))
    return [*found, ROOT / "manifests" / "values.yaml"]


def engines_with_options(path: Path) -> list[tuple[str, Any]]:
    """(engine name, options) of each experiment engine the file lists with options."""
    values = yaml.safe_load(path.read_text()) or {}
    return [
        (str(engine["name"]), engine["options"])
        for engine in values.get("experimentEngines") or []
        if engine.get("options") is not None
    ]


def example_engines() -> list[tuple[str, str, Any]]:
    """(file relative to the repository, engine name, options) over every example file."""
    return [
        (str(path.relative_to(ROOT)), name, options)
        for path in example_values_files()
        for name, options in engines_with_options(path)
    ]
