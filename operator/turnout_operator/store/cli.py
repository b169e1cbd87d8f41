"""``db upgrade``: the schema step of an install or upgrade, runnable before the operator.

A Helm hook or an init container runs it with the database URL from a Secret. Its
output lands in pod logs that many people can read, so it prints the database
without the password, and an unreachable database is one clear line and exit code
2 (retry later), not a stack trace.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from turnout_operator.store.errors import StoreUnavailableError
from turnout_operator.store.migrate import current_revision, upgrade
from turnout_operator.store.urls import safe_url

URL_ENV = "TURNOUT_DATABASE_URL"
PROG = "python -m turnout_operator"

EXIT_OK = 0
EXIT_UNAVAILABLE = 2
"""Also argparse's code for a usage error: both mean "nothing was changed"."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Turnout operator commands.")
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    db = groups.add_parser("db", help="the versions database")
    actions = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser(
        "upgrade", help="apply the schema migrations this release needs (safe to repeat)"
    )
    up.add_argument(
        "--database-url",
        default=None,
        help=(
            f"SQLAlchemy or libpq URL of the Postgres database (default: ${URL_ENV}, "
            "which is better for a URL with a password: other users can see command lines)"
        ),
    )
    return parser


def main(argv: Sequence[str]) -> int:
    """Run the command in ``argv`` (without the program name); return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # --help or a usage error; argparse has printed why
        return exc.code if isinstance(exc.code, int) else EXIT_UNAVAILABLE
    url = args.database_url or os.environ.get(URL_ENV)
    if not url:
        print(f"{PROG}: error: no database: pass --database-url or set {URL_ENV}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    try:
        upgrade(url)
        revision = current_revision(url)
    except ValueError as exc:  # a malformed or non-Postgres URL; the message is masked
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except StoreUnavailableError as exc:
        print(f"{PROG}: error: {exc}; nothing was changed", file=sys.stderr)
        return EXIT_UNAVAILABLE
    print(f"versions database {safe_url(url)} is at schema revision {revision}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
