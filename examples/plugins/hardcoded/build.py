#!/usr/bin/env python3
"""Build the hardcoded engine plugin: one executable file, a Python zipapp.

    python3 examples/plugins/hardcoded/build.py [OUTPUT]

OUTPUT defaults to build/hardcoded at the repository root. The file starts
with `#!/usr/bin/env python3` and holds the `hardcoded` package, a copy of
`plugin_host` and a top-level `__main__.py`; both packages use only the
standard library, so it runs on any Python >= 3.11 with nothing installed.
Copy it to ${PLUGINS_DIR}/${PLUGIN_NAME} and a go-plugin host can start it.

The build is reproducible: entries are sorted, timestamps and permissions
fixed, and only `.py` sources go in (no bytecode, which would depend on the
building interpreter). The same sources give the same bytes, and the SHA-256
printed at the end can be pinned by the host (PluginConfig.sha256).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent.parent
PACKAGES = {
    "hardcoded": HERE / "hardcoded",
    "plugin_host": REPO_ROOT / "plugin_host",
}
DEFAULT_OUTPUT = REPO_ROOT / "build" / "hardcoded"
SHEBANG = b"#!/usr/bin/env python3\n"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
MINIMUM_PYTHON = (3, 11)

# Runs first, under whatever `python3` is on PATH: keep it valid for old Pythons.
ENTRY_POINT = f'''\
"""The hardcoded experiment engine plugin (a zipapp): serves Turing's plugin protocol."""
import sys

if sys.version_info < {MINIMUM_PYTHON!r}:
    sys.stderr.write(
        "this experiment engine plugin needs Python {".".join(map(str, MINIMUM_PYTHON))} or newer "
        "on PATH as python3, found " + sys.version.split()[0] + "\\n"
    )
    raise SystemExit(1)

from hardcoded.__main__ import main

main()
'''


def sources() -> Iterator[tuple[str, Path]]:
    """(name in the archive, file) for every module, sorted by name."""
    found: list[tuple[str, Path]] = []
    for package, directory in PACKAGES.items():
        if not (directory / "__init__.py").is_file():
            raise SystemExit(f"{directory} is not a package")
        for path in directory.rglob("*.py"):
            relative = path.relative_to(directory)
            if "__pycache__" in relative.parts:
                continue
            found.append((f"{package}/{relative.as_posix()}", path))
    yield from sorted(found)


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # unix, so the mode below is meaningful
    info.external_attr = (0o100644 & 0xFFFF) << 16
    return info


def build(output: Path) -> str:
    """Write the zipapp to `output` (atomically, mode 0755); return its SHA-256."""
    output.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".hardcoded-", dir=output.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(SHEBANG)
            with zipfile.ZipFile(file, "w", compresslevel=9) as archive:
                archive.writestr(_entry("__main__.py"), ENTRY_POINT)
                for name, path in sources():
                    archive.writestr(_entry(name), path.read_bytes())
        os.chmod(temporary, 0o755)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return hashlib.sha256(output.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "output",
        nargs="?",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"where to write the plugin (default: {DEFAULT_OUTPUT})",
    )
    args = parser.parse_args(argv)
    digest = build(args.output.resolve())
    print(f"{args.output} sha256:{digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
