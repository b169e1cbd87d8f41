"""One set of module names for imports, for the built wheel and for the type checker."""

from __future__ import annotations

import importlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("plugin_host", "turnout_operator", "turnout_router")


@pytest.mark.parametrize("name", PACKAGES)
def test_packages_import_from_their_source_roots(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().is_relative_to(ROOT)


def test_wheel_holds_the_same_top_level_packages(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("turnout-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {
        name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")
    }
    assert top_level == set(PACKAGES)
    for package in PACKAGES:
        assert f"{package}/py.typed" in names
        # Subpackages too: setuptools takes only the packages it is told about.
        source = Path(importlib.import_module(package).__file__ or "").parent
        for init in source.rglob("__init__.py"):
            assert f"{package}/{init.relative_to(source).as_posix()}" in names
