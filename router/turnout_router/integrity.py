"""The plugin that serves is the plugin that validated: the binary's digest, checked once
by the router's parent before any worker starts.

Each worker's plugin_host checks the digest again before every start of the plugin; this
check is what turns a moved plugin image into a container that exits at once, in its own
words (kubectl and the operator read them from the container's terminated state), instead
of a pod that only stays unready.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from pathlib import Path

from turnout_router.config import EngineRuntime


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as binary:
        for block in iter(lambda: binary.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def moved_plugin(engine: EngineRuntime | None) -> str | None:
    """Why the plugin binary is not the validated one, or None when it is (or when the
    config names no digest, or no plugin: an unreadable binary is the plugin host's to
    report, as before, with the fallback route serving)."""
    if engine is None or engine.plugin_sha256 is None:
        return None
    path = Path(engine.plugin_binary)
    try:
        found = file_sha256(path)
    except OSError:
        return None
    if hmac.compare_digest(found, engine.plugin_sha256):
        return None
    return (
        f"plugin {engine.name} at {path}: its SHA-256 is {found}, but this Router version "
        f"was validated with {engine.plugin_sha256}; the plugin image now holds another binary"
    )


def write_termination_message(path: Path, message: str) -> None:
    """Write `message` where the kubelet reads a container's last words, if that file
    exists (outside Kubernetes it does not; the log line says the same)."""
    if path.exists():
        with contextlib.suppress(OSError):
            path.write_text(message)
