"""The router's hot path compiled with mypyc passes the tests the pure modules pass.

The image builds Turnout with TURNOUT_COMPILE=1 (packaging/install.sh): the modules
in packaging/compiled-modules.txt become C extensions. Compiled code checks declared
types at run time and refuses monkeypatching and interpreted subclasses, so it can
fail where the same Python passes. Here the build the image makes is installed into
a virtualenv (devenv.compiled), every listed module is checked to load compiled, and
the protocol's and the router's tests run against it, in a copy of the repository
without the package sources so that nothing can import the pure modules instead.
The pure modules stay the reference: `make test` runs these same tests on them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from devenv.compiled import compiled_python
from devenv.content import REPO_ROOT
from devenv.zipapp import build_hardcoded_plugin

pytestmark = [pytest.mark.compiled, pytest.mark.timeout(1800)]

PACKAGE_SOURCES = ("operator", "router", "kubectl", "plugin_host")
"""Left out of the copy: the tests must import the installed, compiled modules."""

TESTS = (
    # gob against Go's own bytes, the hand-written encoders against the generic one
    "tests/unit/test_gob.py",
    "tests/unit/test_gob_edges.py",
    "tests/unit/test_gob_fast_structs.py",
    "tests/unit/test_gob_go_vectors.py",
    "tests/unit/test_yamux_coalescing.py",
    "tests/unit/test_yamux_netrpc.py",
    "tests/unit/test_router_pure.py",
    "tests/unit/test_router_server.py",
    "tests/unit/test_router_metrics_tally.py",
    "tests/unit/test_router_drain.py",
    # real Go peers (go-plugin, Turing's module) and real plugin processes
    "tests/integration/test_gob_conformance.py",
    "tests/integration/test_python_host_go_plugin.py",
    "tests/integration/test_plugin_faults.py",
    "tests/integration/test_metrics_collector.py",
    # the router process with Go and Python plugins, slow callers, workers
    "tests/integration/test_router.py",
    "tests/integration/test_router_workers.py",
    "tests/integration/test_router_drain.py",
)


@pytest.fixture(scope="module")
def python() -> Path:
    return compiled_python()


_SKIPPED = shutil.ignore_patterns(".git", ".venv", "build", "__pycache__", "*.egg-info")


def _ignore(directory: str, entries: list[str]) -> set[str]:
    ignored = set(_SKIPPED(directory, entries))
    if Path(directory) == REPO_ROOT:
        ignored |= set(PACKAGE_SOURCES) & set(entries)
    return ignored


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository without its package sources."""
    copy = tmp_path_factory.mktemp("compiled") / "repo"
    shutil.copytree(REPO_ROOT, copy, ignore=_ignore)
    return copy


def _env(checkout: Path, python: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(python.parent), env.get("PATH", "")])
    env["PYTHONPATH"] = str(checkout)
    return env


def _run(python: Path, checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python args...` in the copy, with the compiled installation first."""
    return subprocess.run(
        [str(python), *args],
        cwd=checkout,
        env=_env(checkout, python),
        capture_output=True,
        text=True,
    )


def test_every_listed_module_loads_compiled(python: Path, checkout: Path) -> None:
    done = _run(python, checkout, "packaging/check_compiled.py", "packaging/compiled-modules.txt")
    assert done.returncode == 0, done.stdout + done.stderr
    listed = [line for line in done.stdout.splitlines() if ": compiled (" in line]
    assert len(listed) >= 10, done.stdout
    for line in listed:
        assert str(checkout) not in line  # from the installation, never a source copy
    said = _run(
        python, checkout, "-c", "from turnout_router.hotpath import hot_path; print(hot_path())"
    )
    assert said.returncode == 0, said.stderr
    assert said.stdout.strip() == "compiled"  # what the router's start line says


def test_the_router_and_protocol_tests_pass_compiled(
    python: Path, checkout: Path, tmp_path: Path
) -> None:
    # The Python plugin is built from the sources, as users build it; the copy has none.
    zipapp = tmp_path / "hardcoded"
    build_hardcoded_plugin(zipapp)
    env = _env(checkout, python)
    env["TURNOUT_TEST_PYTHON_PLUGIN"] = str(zipapp)
    done = subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q", *TESTS],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
    )
    tail = done.stdout[-6000:] + done.stderr[-3000:]
    assert done.returncode == 0, tail
    summary = done.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 100, summary
    assert "failed" not in summary and "error" not in summary, summary
