"""Brings a database's schema to the version this code needs, with Alembic configured in code.

The operator image carries no ``alembic.ini``: the migration scripts live inside the
package and are found next to this module, and the database comes from the caller.
Several operator replicas (or an init job racing the operator) may upgrade at once,
so each run holds a Postgres advisory lock for its whole transaction; Postgres runs
DDL transactionally, so a failed upgrade leaves the schema as it was.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from turnout_operator.store.errors import is_unavailable, unavailable
from turnout_operator.store.urls import store_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD = "head"
BASE = "base"

# An arbitrary constant shared by every Turnout build: "only one schema change at a time".
_MIGRATION_LOCK_KEY = 0x7475726E6F7574  # "turnout"
CONNECT_TIMEOUT_SECONDS = 10


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _run(url: str, action: str, revision: str) -> None:
    parsed = store_url(url)
    engine = create_engine(
        parsed,
        poolclass=NullPool,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    )
    try:
        with engine.begin() as connection:
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
            config = _config()
            config.attributes["connection"] = connection
            if action == "upgrade":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
    except (DBAPIError, OSError) as exc:
        if is_unavailable(exc):
            raise unavailable(exc, parsed) from exc
        raise
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = HEAD) -> None:
    """Apply every migration up to ``revision`` (the newest by default).

    Raises :class:`StoreUnavailableError` when the database cannot be reached.
    """
    _run(url, "upgrade", revision)


def downgrade(url: str, revision: str = BASE) -> None:
    """Undo migrations down to ``revision`` (``"base"``: an empty schema). For tests and
    for stepping back a release; it drops the versions' data with the tables."""
    _run(url, "downgrade", revision)


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    parsed = store_url(url)
    engine = create_engine(
        parsed, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    )
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except (DBAPIError, OSError) as exc:
        if is_unavailable(exc):
            raise unavailable(exc, parsed) from exc
        raise
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision this code ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return head


__all__ = [
    "BASE",
    "HEAD",
    "current_revision",
    "downgrade",
    "head_revision",
    "upgrade",
]
