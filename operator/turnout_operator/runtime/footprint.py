"""What the operator process holds: the packages it loaded and its resident size.

The operator talks to the API server over aiohttp (`kube.py`) and logs in with
kopf's own readers (`credentials.py`); the official client library is installed
beside it for the kubectl plugin, not for the operator. kopf imports that library
whenever it is installed (for its model classes and its default login handler), so
`keep_out()` marks it absent before kopf is first imported: kopf then takes its pure
code paths, and an import of it anywhere in the process fails at once instead of
costing tens of MiB unnoticed. The startup log line lists what was loaded.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

KEPT_OUT: Final = ("kubernetes",)
"""Installed for the kubectl plugin and the tests; never loaded by the operator process."""


def keep_out(packages: tuple[str, ...] = KEPT_OUT) -> None:
    """Make `import <package>` fail in this process (a None entry in sys.modules)."""
    for name in packages:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]


def loaded_packages() -> list[str]:
    """Top-level packages imported so far, the standard library left out."""
    names = {
        name.partition(".")[0] for name, module in list(sys.modules.items()) if module is not None
    }
    return sorted(
        name for name in names if name not in sys.stdlib_module_names and not name.startswith("_")
    )


def rss_mib() -> float | None:
    """This process's resident size (VmRSS), where /proc tells it."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None
