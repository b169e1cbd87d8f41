"""The one build step pyproject.toml cannot say: the router's hot path compiled.

With TURNOUT_COMPILE=1 the wheel carries the modules listed in
packaging/compiled-modules.txt compiled by mypyc (C extensions built from the same
typed source); without it the wheel is pure Python. Compiling needs mypy (it brings
mypyc), a C compiler and the interpreter's headers, and the project's dependencies
installed where the build runs, since mypyc type-checks against them:
packaging/install.sh does all of this when TURNOUT_COMPILE=1 is set.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent
MODULE_LIST = HERE / "packaging" / "compiled-modules.txt"


def compiled_sources() -> list[str]:
    lines = (line.strip() for line in MODULE_LIST.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def extensions() -> list[Extension]:
    if os.environ.get("TURNOUT_COMPILE") != "1":
        return []
    from mypyc.build import mypycify  # build-only: present when compiling, never at run time

    return list(mypycify(compiled_sources(), opt_level="3"))


setup(ext_modules=extensions())
