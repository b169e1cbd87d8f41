"""The Prometheus operator's CRDs (ServiceMonitor, PodMonitor, PrometheusRule), from its Go module.

The module zip the Go module proxy serves holds the CRD YAMLs under
example/prometheus-operator-crd/. They are copied out of the module cache into
$TURNOUT_CACHE/monitoring-crds/<version>/ once per version; `go` verifies the module
against go.sum's checksum database as for any module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Final

MODULE: Final = "github.com/prometheus-operator/prometheus-operator"
VERSION: Final = "v0.85.0"
KINDS: Final = ("servicemonitors", "podmonitors", "prometheusrules")


def cache_root() -> Path:
    return Path(os.environ.get("TURNOUT_CACHE", Path.home() / ".cache" / "turnout"))


def monitoring_crds(version: str = VERSION) -> list[Path]:
    """The three CRD files, fetched through the Go module proxy on first use."""
    dest = cache_root() / "monitoring-crds" / version
    files = [dest / f"monitoring.coreos.com_{kind}.yaml" for kind in KINDS]
    if all(path.is_file() for path in files):
        return files
    go = shutil.which("go")
    assert go, "no 'go' on PATH: the monitoring CRDs come from the Go module proxy"
    result = subprocess.run(
        [go, "mod", "download", "-json", f"{MODULE}@{version}"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
        cwd=tempfile.gettempdir(),
    )
    info = json.loads(result.stdout or "{}")
    assert result.returncode == 0 and "Dir" in info, (
        f"go mod download {MODULE}@{version} failed: {info.get('Error') or result.stderr}"
    )
    source = Path(info["Dir"]) / "example" / "prometheus-operator-crd"
    staging = Path(tempfile.mkdtemp(dir=dest.parent if dest.parent.exists() else None))
    try:
        for path in files:
            shutil.copyfile(source / path.name, staging / path.name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return files
