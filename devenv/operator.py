"""Run Turnout's operator as a local process against a cluster and a database.

Used by the integration tests, the benchmarks and `make demo` alike. The
operator runs exactly as in its pod — `python -m turnout_operator` with
`TURNOUT_*` settings — except that the plugins directory is a local folder into
which we copy the engines' binaries, as their initContainers would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devenv.procs import Process, ProcessRegistry, SubstrateError

REPO_ROOT = Path(__file__).resolve().parents[1]
CRD_FILE = REPO_ROOT / "crds" / "routers.turnout.dev.yaml"


@dataclass(frozen=True)
class Engine:
    """One engine to configure: its name, the plugin executable to copy, its options."""

    name: str
    binary: Path
    options: Mapping[str, Any]
    image: str = "example.org/turnout/plugin:dev"
    liveness_period_seconds: int = 10


def install_plugins(plugins_dir: Path, engines: Sequence[Engine]) -> None:
    """Copy each engine's binary to ``plugins_dir/<name>``, as the initContainers do."""
    plugins_dir.mkdir(parents=True, exist_ok=True)
    for engine in engines:
        target = plugins_dir / engine.name
        shutil.copyfile(engine.binary, target)
        target.chmod(0o755)


def engines_document(engines: Sequence[Engine]) -> list[dict[str, Any]]:
    """The engines file, in the shape of Helm's experimentEngines values."""
    return [
        {
            "name": engine.name,
            "type": "rpc-plugin",
            "rpcPlugin": {
                "image": engine.image,
                "livenessPeriodSeconds": engine.liveness_period_seconds,
            },
            "options": dict(engine.options),
        }
        for engine in engines
    ]


def write_engines_file(path: Path, engines: Sequence[Engine]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(engines_document(engines), sort_keys=False))
    path.chmod(0o600)  # options hold credentials
    return path


def python_env() -> dict[str, str]:
    """This interpreter's environment with the repository's source roots importable."""
    env = dict(os.environ)
    roots = [
        str(REPO_ROOT / "operator"),
        str(REPO_ROOT / "router"),
        str(REPO_ROOT / "kubectl"),
        str(REPO_ROOT),
    ]
    env["PYTHONPATH"] = os.pathsep.join([*roots, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def migrate(database_url: str) -> None:
    """`python -m turnout_operator db upgrade` against ``database_url``."""
    result = subprocess.run(
        [sys.executable, "-m", "turnout_operator", "db", "upgrade"],
        env={**python_env(), "TURNOUT_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise SubstrateError(f"db upgrade failed:\n{result.stderr}{result.stdout}")


@dataclass(frozen=True)
class OperatorConfig:
    kubeconfig: Path
    database_url: str
    workdir: Path
    engines: tuple[Engine, ...] = ()
    namespaces: tuple[str, ...] = ()
    router_image: str = "turnout:dev"
    extra_env: Mapping[str, str] | None = None


def start_operator(
    registry: ProcessRegistry, config: OperatorConfig, name: str = "operator"
) -> Process:
    """Start the operator; returns once its process runs (not once it has reconciled)."""
    plugins_dir = config.workdir / "plugins"
    install_plugins(plugins_dir, config.engines)
    engines_file = write_engines_file(config.workdir / "engines.yaml", config.engines)
    env = python_env()
    env.update(
        KUBECONFIG=str(config.kubeconfig),
        TURNOUT_DATABASE_URL=config.database_url,
        TURNOUT_ENGINES_FILE=str(engines_file),
        TURNOUT_PLUGINS_DIR=str(plugins_dir),
        TURNOUT_NAMESPACES=",".join(config.namespaces),
        TURNOUT_ROUTER_IMAGE=config.router_image,
        TURNOUT_LOG_FORMAT="json",
        TURNOUT_LIVENESS_PORT="0",
        TURNOUT_METRICS_PORT="0",
    )
    if config.namespaces:
        # The Lease lives beside what the operator watches: operators of different tests
        # (each watching its own namespace) must not wait for one another's Lease.
        env["TURNOUT_LEASE_NAMESPACE"] = config.namespaces[0]
    env.update(config.extra_env or {})
    return registry.start(
        name,
        [sys.executable, "-m", "turnout_operator"],
        config.workdir / f"{name}.log",
        env=env,
        cwd=REPO_ROOT,
    )


def wait_for(
    predicate: Any, timeout: float, what: str, process: Process | None = None, interval: float = 0.2
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` and the log."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise SubstrateError(
                f"{process.name} exited while waiting for {what}:\n{process.log_tail()}"
            )
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    tail = f"\n{process.name} log:\n{process.log_tail(60)}" if process is not None else ""
    raise SubstrateError(
        f"timed out after {timeout:.0f}s waiting for {what}; last: {json.dumps(last, default=str)[:2000]}{tail}"
    )


def log_records(path: Path) -> list[dict[str, Any]]:
    """The operator's JSON log lines as records (other lines, if any, left out)."""
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records
