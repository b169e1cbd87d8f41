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


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The file names inside the wheel built from this checkout."""
    out = tmp_path_factory.mktemp("wheel")
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
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = out.glob("turnout-*.whl")
    return zipfile.ZipFile(wheel).namelist()


def test_wheel_holds_the_same_top_level_packages(wheel_names: list[str]) -> None:
    top_level = {
        name.split("/")[0] for name in wheel_names if not name.split("/")[0].endswith(".dist-info")
    }
    assert top_level == set(PACKAGES)
    for package in PACKAGES:
        assert f"{package}/py.typed" in wheel_names
        # Subpackages too: setuptools takes only the packages it is told about.
        source = Path(importlib.import_module(package).__file__ or "").parent
        for init in source.rglob("__init__.py"):
            assert f"{package}/{init.relative_to(source).as_posix()}" in wheel_names


def test_wheel_carries_the_versions_store_migrations(wheel_names: list[str]) -> None:
    # Alembic reads these files at run time: an installed operator without them
    # could not create its schema.
    source = ROOT / "operator" / "turnout_operator" / "store"
    expected = {
        f"turnout_operator/store/{path.relative_to(source).as_posix()}"
        for path in (source / "migrations").rglob("*.py")
    }
    assert "turnout_operator/store/migrations/env.py" in expected
    assert any("/migrations/versions/r0001_" in name for name in expected)
    assert expected <= set(wheel_names)
    assert "turnout_operator/store/cli.py" in wheel_names
