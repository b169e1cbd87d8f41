"""`python -m turnout_operator`: run the operator, migrate the database, print the CRD.

python -m turnout_operator              # run (same as `run`)
python -m turnout_operator db upgrade   # apply the database migrations
python -m turnout_operator crd          # print the Router CRD as YAML
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from pydantic import ValidationError


def _run() -> int:
    from turnout_operator.runtime import footprint

    footprint.keep_out()  # before kopf, which imports the official client when it can
    import kopf

    from turnout_operator.runtime.settings import OperatorSettings

    try:
        settings = OperatorSettings()  # type: ignore[call-arg]
    except ValidationError as error:
        for problem in error.errors(include_input=False, include_url=False):
            field = ".".join(str(part) for part in problem["loc"])
            print(f"turnout: TURNOUT_{field.upper()}: {problem['msg']}", file=sys.stderr)
        return 2
    kopf.configure(
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.PLAIN,
        verbose=False,
    )
    logging.getLogger().setLevel(logging.INFO)
    # One line per probe of /healthz (every few seconds, by the kubelet) says nothing.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # kopf logs "Handler ... succeeded." for every watch event of every object it hands
    # over (thousands a minute while Routers roll out); Turnout logs what its passes do.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    import turnout_operator.runtime.handlers  # noqa: F401 - registers the handlers
    from turnout_operator.runtime import lifecycle

    code: int = asyncio.run(lifecycle.run(settings))
    return code


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="python -m turnout_operator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", nargs="?", default="run", choices=["run", "db", "crd"])
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parsed = parser.parse_args(args)
    if parsed.command == "db":
        from turnout_operator.store.cli import main as db_main

        code: int = db_main(["db", *parsed.rest])
        return code
    if parsed.command == "crd":
        from turnout_operator.api.crd import main as crd_main

        crd_main()
        return 0
    return _run()


if __name__ == "__main__":
    sys.exit(main())
