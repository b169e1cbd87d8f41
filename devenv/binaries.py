"""Where the Go-built control plane binaries are, as decided by the build script.

The cache key (pinned versions plus a hash of the tools modules' go.mod/go.sum) is
computed only in ``tools/build-controlplane.sh``; this module asks it with
``--print-dir`` so the tests can never pick binaries built from other pins.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from devenv.procs import SubstrateError

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = REPO_ROOT / "tools" / "build-controlplane.sh"

NAMES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "helm",
)


@dataclass(frozen=True)
class Binaries:
    """Paths of one complete, cached build of the control plane tools."""

    root: Path

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    def path(self, name: str) -> Path:
        return self.bin_dir / name

    @property
    def etcd(self) -> Path:
        return self.path("etcd")

    @property
    def kube_apiserver(self) -> Path:
        return self.path("kube-apiserver")

    @property
    def kube_controller_manager(self) -> Path:
        return self.path("kube-controller-manager")

    @property
    def kube_scheduler(self) -> Path:
        return self.path("kube-scheduler")

    @property
    def kubectl(self) -> Path:
        return self.path("kubectl")

    @property
    def kwok(self) -> Path:
        return self.path("kwok")

    @property
    def helm(self) -> Path:
        return self.path("helm")

    @property
    def kwok_stages(self) -> Path:
        """The kwok stage config (node-initialize, node-heartbeat, pod-*) from kwok's module."""
        return self.root / "kwok-stages.yaml"

    def versions(self) -> dict[str, str]:
        """Pinned versions of this build, by group: kubernetes, etcd, kwok, helm."""
        pairs = (line.split() for line in (self.root / "versions.txt").read_text().splitlines())
        return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def cache_dir() -> Path:
    """The cache dir the build script uses for the current pins (it may not exist yet)."""
    try:
        out = subprocess.run(
            ["bash", str(BUILD_SCRIPT), "--print-dir"],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        stderr = getattr(exc, "stderr", "") or ""
        raise SubstrateError(
            f"cannot ask {BUILD_SCRIPT} for the cache dir: {exc}\n{stderr}"
        ) from exc
    return Path(out.stdout.strip())


def locate() -> Binaries:
    """The built binaries for the current pins, or a clear error saying how to build them."""
    root = cache_dir()
    binaries = Binaries(root)
    missing = [name for name in NAMES if not binaries.path(name).is_file()]
    if not (root / "complete").is_file() or missing or not binaries.kwok_stages.is_file():
        raise SubstrateError(
            f"control plane binaries are not built for the current pins (expected in {root}; "
            f"missing: {', '.join(missing) or 'build marker'}). Run `make tools` "
            "(or ./tools/build.sh) once; a cold build takes about 10 minutes on 2 cores."
        )
    return binaries
