"""The operator's change map (its package docstring) names every module, in its folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import turnout_operator

pytestmark = pytest.mark.unit

PACKAGE = Path(turnout_operator.__file__).parent


def modules_by_folder() -> dict[str, set[str]]:
    """folder ("" for the top) → the modules (and subpackages) it holds."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if path.name == "__init__.py" or relative.parts[0] == "__pycache__":
            continue
        folder = relative.parts[0] if len(relative.parts) > 1 else ""
        # A package inside a folder (store/migrations) is named as one entry.
        name = relative.parts[1] if len(relative.parts) > 2 else relative.stem
        found.setdefault(folder, set()).add(name.removesuffix(".py"))
    return found


def named_in_map() -> dict[str, set[str]]:
    """folder → the module names the change map gives under that folder's heading."""
    doc = turnout_operator.__doc__ or ""
    sections = re.split(r"^`(\w+)/`:", doc, flags=re.MULTILINE)
    named: dict[str, set[str]] = {"": set(re.findall(r"^`(\w+)`:", sections[0], re.MULTILINE))}
    for folder, text in zip(sections[1::2], sections[2::2], strict=True):
        named[folder] = set(re.findall(r"`(\w+)`", text))
    return named


def test_every_module_is_named_under_its_folder() -> None:
    named = named_in_map()
    missing = {
        f"{folder}/{module}" if folder else module
        for folder, modules in modules_by_folder().items()
        for module in modules
        if module not in named.get(folder, set())
    }
    assert missing == set(), f"add to the change map in {PACKAGE / '__init__.py'}"


def test_the_map_names_no_module_that_does_not_exist() -> None:
    found = modules_by_folder()
    for folder, modules in named_in_map().items():
        if folder == "":
            assert modules <= found[""]
            continue
        assert folder in found, f"the map names a folder {folder}/ that does not exist"
        # Names in backticks that are not modules are classes the text mentions.
        stray = {m for m in modules if m.islower() and m not in found[folder]}
        assert stray == set(), f"{folder}/ has no module(s) {sorted(stray)}"
