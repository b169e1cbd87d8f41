"""The session's Postgres answers through both psycopg and SQLAlchemy URLs."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy

from devenv.postgres import libpq_url

pytestmark = pytest.mark.db


def test_postgres_answers_through_psycopg(postgres_url: str) -> None:
    with psycopg.connect(libpq_url(postgres_url)) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        row = conn.execute("show server_version_num").fetchone()
    assert row is not None
    # The versions store relies on features of Postgres 13 and later.
    assert int(row[0]) >= 130000


def test_the_url_works_with_sqlalchemy(postgres_url: str) -> None:
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(sqlalchemy.text("select version()")).scalar_one()
    finally:
        engine.dispose()
    assert version.startswith("PostgreSQL")
