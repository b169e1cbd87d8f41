"""Check that every module in packaging/compiled-modules.txt was imported compiled.

    python packaging/check_compiled.py packaging/compiled-modules.txt

Run with the interpreter of the installation to check (install.sh runs it after a
TURNOUT_COMPILE=1 install, and tests/compiled before its tests). Prints each module
and the file it came from; exits 1 if any came from a .py file.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
from pathlib import Path

# Source folders whose name is not part of the module's (pyproject's package-dir).
SOURCE_ROOTS = ("router/", "operator/", "kubectl/")


def module_name(source: str) -> str:
    for root in SOURCE_ROOTS:
        if source.startswith(root):
            source = source[len(root) :]
    return source.removesuffix(".py").replace("/", ".")


def listed_modules(listing: Path) -> list[str]:
    lines = (line.strip() for line in listing.read_text().splitlines())
    return [module_name(line) for line in lines if line and not line.startswith("#")]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    pure = []
    for name in listed_modules(Path(argv[1])):
        path = str(importlib.import_module(name).__file__)
        compiled = path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
        print(f"{name}: {'compiled' if compiled else 'PURE'} ({path})")
        if not compiled:
            pure.append(name)
    if pure:
        print(f"not compiled: {', '.join(pure)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
