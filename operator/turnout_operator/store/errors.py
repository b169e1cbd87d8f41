"""Which database failures mean "the database is not there", and how to say so safely.

The operator must treat an unreachable database as a reason to retry later with a
condition that says so, not as a bug with a stack trace. That needs one decision,
made in one place, about which of the many exceptions psycopg, SQLAlchemy and the
OS raise mean "unavailable", and a message that can go into an Event or a log
without the password.
"""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from turnout_operator.store.urls import passwords_in, safe_url, scrub


class StoreUnavailableError(Exception):
    """The versions database cannot be reached, or the connection was lost.

    The message names the database without its password and is safe to show to
    users. Retrying later is the remedy; the store reconnects by itself.
    """


class UnknownVersionError(LookupError):
    """A status change named a router or version number the store does not hold."""


# SQLSTATE classes that mean "no usable connection", as opposed to a bad statement:
# 08 connection exception, 28 invalid authorization, 3D no such database,
# 53 insufficient resources (too many connections), 57P shutdown / not yet started.
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "28", "3D", "53", "57P")


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot be reached or the connection died."""
    if isinstance(exc, OSError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        return is_unavailable(exc.orig) if exc.orig is not None else False
    if isinstance(exc, psycopg.OperationalError):
        # psycopg raises OperationalError without a SQLSTATE for failures on the client
        # side of the socket (refused, reset, closed); deadlocks and cancellations are
        # OperationalErrors too, but carry their own codes and are not outages.
        sqlstate = exc.sqlstate
        return sqlstate is None or sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES)
    # psycopg's "the connection is closed" when a dead connection is used again.
    return isinstance(exc, psycopg.InterfaceError)


def unavailable(exc: BaseException, url: URL) -> StoreUnavailableError:
    """A :class:`StoreUnavailableError` for ``exc`` whose message holds no password."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    # libpq's messages run over several lines ("Is the server running ...?"); the
    # first says what happened.
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    reason = lines[0] if lines else type(cause).__name__
    reason = scrub(reason, passwords_in(url))
    return StoreUnavailableError(f"versions database {safe_url(url)} is unavailable: {reason}")
