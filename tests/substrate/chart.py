"""Render and install Turnout's Helm chart (`manifests/`) with the helm built with the control plane.

`helm template` needs no cluster: the chart tests render it with chosen values and read
the objects back as dicts. Values go to helm as a JSON file (JSON is YAML, and it keeps
YAML 1.1's surprises, such as `y` read as a boolean, out of the tests' inputs).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devenv import binaries
from devenv.binaries import REPO_ROOT

CHART_DIR = REPO_ROOT / "manifests"


def helm_env(home: Path) -> dict[str, str]:
    """Environment for helm with its cache, config and data kept under ``home``."""
    env = dict(os.environ)
    env.update(
        HELM_CACHE_HOME=str(home / "cache"),
        HELM_CONFIG_HOME=str(home / "config"),
        HELM_DATA_HOME=str(home / "data"),
    )
    env.pop("KUBECONFIG", None)
    return env


def write_values(path: Path, values: Mapping[str, Any]) -> Path:
    path.write_text(json.dumps(values))
    return path


@dataclass(frozen=True)
class Rendered:
    """The objects `helm template` printed, in order."""

    objects: list[dict[str, Any]]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj.get("kind") == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [obj for obj in self.all(kind) if name is None or obj["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def secret_data(self, name: str) -> dict[str, str]:
        """A rendered Secret's data, decoded."""
        secret = self.one("Secret", name)
        return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


@functools.cache
def helm_binary() -> Path:
    """The helm built by `make tools` (a clear error naming `make tools` when it is missing)."""
    return binaries.locate().helm


def run_helm(args: Sequence[str], home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm_binary()), *args],
        capture_output=True,
        text=True,
        env=helm_env(home),
        timeout=120,
    )


def template(
    values: Mapping[str, Any],
    home: Path,
    *,
    release: str = "turnout",
    namespace: str = "turnout-system",
    extra: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """`helm template` of the chart with ``values``; the completed process, failed or not."""
    home.mkdir(parents=True, exist_ok=True)
    values_file = write_values(home / "values.json", values)
    return run_helm(
        ["template", release, str(CHART_DIR), "-n", namespace, "-f", str(values_file), *extra],
        home,
    )


def render(values: Mapping[str, Any], home: Path, **kwargs: Any) -> Rendered:
    """The objects the chart renders with ``values``; fails with helm's message if it refuses."""
    result = template(values, home, **kwargs)
    assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
    return Rendered([doc for doc in yaml.safe_load_all(result.stdout) if doc])
