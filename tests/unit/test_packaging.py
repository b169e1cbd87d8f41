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
PACKAGES = ("plugin_host", "turnout_operator", "turnout_router", "turnout_kubectl")


@pytest.mark.parametrize("name", PACKAGES)
def test_packages_import_from_their_source_roots(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().is_relative_to(ROOT)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout."""
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
    [built] = out.glob("turnout-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_names(wheel: Path) -> list[str]:
    """The file names inside the wheel."""
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


def test_wheel_installs_the_kubectl_plugin(wheel: Path, wheel_names: list[str]) -> None:
    # kubectl runs `kubectl turnout` as the executable `kubectl-turnout` found on PATH.
    assert "turnout_kubectl/cli.py" in wheel_names
    [entry_points] = [n for n in wheel_names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[console_scripts]\nkubectl-turnout = turnout_kubectl.cli:run\n" in text
