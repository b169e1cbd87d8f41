"""A readable diff of two versions: their specs and runner configs as YAML, unified.

Pure. Keys are sorted on both sides, so only real differences show.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import ValidationError

from turnout_operator.api import RouterSpec


def as_recorded(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A Router's live spec in the form a version records it (defaults filled in, no
    `suspend`), so that comparing it with a version shows only real differences.
    A spec the models refuse is shown as it is."""
    try:
        model = RouterSpec.model_validate(spec)
    except ValidationError:
        return {key: value for key, value in spec.items() if key != "suspend"}
    return model.model_dump(mode="json", by_alias=True, exclude={"suspend"}, exclude_none=True)


def version_document(router_spec: Any, engine: Mapping[str, Any] | None) -> str:
    """What is compared of one version: the spec, the plugin image and the runner config.

    `engine` None: the Router's current spec, whose runner config is not known yet.
    A config mirrored as a hash (too large for the object) is compared by hash and size.
    """
    parts: list[dict[str, Any]] = [{"spec": router_spec}]
    if engine is not None:
        if "pluginImage" in engine:
            parts.append({"pluginImage": engine["pluginImage"]})
        if "runnerConfig" in engine:
            parts.append({"runnerConfig": engine["runnerConfig"]})
        elif "runnerConfigHash" in engine:
            digest = {"sha256": engine["runnerConfigHash"], "bytes": engine.get("runnerConfigSize")}
            parts.append({"runnerConfig": digest})
    # The spec first, then what the engine made of it; keys sorted inside each.
    return "".join(
        yaml.safe_dump(part, sort_keys=True, allow_unicode=True, width=100) for part in parts
    )


def unified(old: str, new: str, old_label: str, new_label: str, context: int = 3) -> str:
    """The unified diff of two texts; empty when they are equal."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=old_label,
        tofile=new_label,
        n=context,
    )
    return "".join(lines)


def colored(diff: str) -> str:
    """The diff with additions green and removals red (for a terminal)."""
    out = []
    for line in diff.splitlines(keepends=True):
        if line.startswith(("+++", "---")):
            out.append(f"\x1b[1m{line.rstrip(chr(10))}\x1b[0m\n")
        elif line.startswith("+"):
            out.append(f"\x1b[32m{line.rstrip(chr(10))}\x1b[0m\n")
        elif line.startswith("-"):
            out.append(f"\x1b[31m{line.rstrip(chr(10))}\x1b[0m\n")
        elif line.startswith("@@"):
            out.append(f"\x1b[36m{line.rstrip(chr(10))}\x1b[0m\n")
        else:
            out.append(line)
    return "".join(out)
