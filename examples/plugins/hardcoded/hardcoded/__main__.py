"""Run the hardcoded engine as a go-plugin net/rpc plugin (started by Turnout or Turing)."""

from __future__ import annotations

import sys

MINIMUM_PYTHON = (3, 11)


def main() -> None:
    if sys.version_info < MINIMUM_PYTHON:
        sys.stderr.write(
            "the hardcoded experiment engine plugin needs Python "
            f"{'.'.join(map(str, MINIMUM_PYTHON))} or newer, not {sys.version.split()[0]}\n"
        )
        raise SystemExit(1)

    from plugin_host import serve

    from .manager import HardcodedExperimentManager
    from .runner import HardcodedExperimentRunner

    serve(manager=HardcodedExperimentManager(), runner=HardcodedExperimentRunner())


if __name__ == "__main__":
    main()
