"""Whether this router runs its hot path compiled (the image's build) or as Python.

The image compiles the modules in packaging/compiled-modules.txt with mypyc; a
source install runs them as Python. The start line says which, so a profile or a
number can be read against the right build.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from typing import Final

REQUEST_PATH: Final = ("turnout_router.server", "turnout_router.proxy", "plugin_host.gob")
"""Three modules every request passes through, found without importing them."""


def hot_path() -> str:
    """ "compiled", "python", or "partly compiled" (a broken build: some modules are)."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    compiled = []
    for name in REQUEST_PATH:
        spec = importlib.util.find_spec(name)
        compiled.append(spec is not None and str(spec.origin or "").endswith(suffixes))
    if all(compiled):
        return "compiled"
    return "partly compiled" if any(compiled) else "python"
