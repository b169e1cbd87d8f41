"""Alembic's entry point: runs the migrations on the connection the caller opened.

:func:`turnout_operator.store.migrate.upgrade` opens the connection, takes the
migration lock and passes the connection in ``config.attributes``; running from a
URL or in "offline" (SQL script) mode is not supported, as nothing needs it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from turnout_operator.store.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "run the versions store migrations through turnout_operator.store.migrate "
        "(or `python -m turnout_operator db upgrade`), which provides the connection"
    )
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
