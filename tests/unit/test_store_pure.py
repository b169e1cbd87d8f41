"""The versions store's pure parts: URL handling and masking, what JSONB can hold, which
errors mean "unavailable", and the command line's usage errors."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from turnout_operator.store.cli import main as cli_main
from turnout_operator.store.errors import is_unavailable, unavailable
from turnout_operator.store.records import check_storable
from turnout_operator.store.urls import passwords_in, safe_url, scrub, store_url

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://u:s3cret@db:5432/turnout",
            "postgresql+psycopg://u:***@db:5432/turnout",
        ),
        ("postgresql://u:p%40ss@db/turnout", "postgresql://u:***@db/turnout"),
        (
            "postgresql://u@db/turnout?password=s3cret&sslmode=require",
            "postgresql://u@db/turnout?password=***&sslmode=require",
        ),
        ("postgresql://u@db/turnout", "postgresql://u@db/turnout"),
        ("not a url s3cret", "<unparsable database URL>"),
        ("postgresql://u:s3cret@db:notaport/turnout", "<unparsable database URL>"),
    ],
)
def test_safe_url_never_shows_the_password(url: str, shown: str) -> None:
    assert safe_url(url) == shown


def test_passwords_are_scrubbed_in_every_spelling() -> None:
    secrets = passwords_in("postgresql://u:p%40ss+w@db/turnout?password=other")
    assert {"p@ss+w", "p%40ss%2Bw", "other"} <= set(secrets)
    message = "auth failed for p@ss+w, p%40ss%2Bw and other"
    assert scrub(message, secrets) == "auth failed for ***, *** and ***"
    assert passwords_in("postgresql://u@db/turnout") == ()
    assert passwords_in("garbage") == ()


@pytest.mark.parametrize(
    "url", ["postgresql://u@db/x", "postgres://u@db/x", "postgresql+psycopg://u@db/x"]
)
def test_postgres_urls_get_the_psycopg_driver(url: str) -> None:
    assert store_url(url).drivername == "postgresql+psycopg"
    assert store_url(url).database == "x"


@pytest.mark.parametrize(
    "url", ["sqlite:///x.db", "postgresql+asyncpg://u:s3cret@db/x", "mysql://u:s3cret@db/x"]
)
def test_other_databases_and_drivers_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="psycopg") as caught:
        store_url(url)
    assert "s3cret" not in str(caught.value)


def test_an_unparsable_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as caught:
        store_url("postgresql://u:s3cret@db:port/x")
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, -0.0, 1e16, 2**70, None, True, "é", {"b": []}]},
        {"big": 9007199254740993},  # an int past 2**53 is kept exactly (numeric)
    ],
)
def test_json_values_that_round_trip_are_accepted(value: object) -> None:
    check_storable(value)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"a": "x\x00"}, r"\$\.a"),
        ({"a\x00": 1}, r"\$\.<key>"),
        ({"a": ["\ud800"]}, r"\$\.a\[0\]: .*not valid Unicode"),
        ({"\udfff": 1}, r"\$\.<key>: .*not valid Unicode"),
        ({"a": [float("nan")]}, r"\$\.a\[0\]"),
        ({"a": float("inf")}, r"\$\.a"),
        ({"a": 4.180459390389019e16}, r"would come back as 41804593903890190"),
        ({"a": 1e300}, r"would come back as 1000"),
        ({"a": (1, 2)}, r"tuple is not a JSON value"),
        ({1: "a"}, r"keys must be strings"),
        ({"a": {1, 2}}, r"set is not a JSON value"),
    ],
)
def test_values_jsonb_would_change_or_refuse_are_named(value: object, where: str) -> None:
    with pytest.raises(ValueError, match=where):
        check_storable(value)


def operational(message: str, sqlstate: str | None = None) -> psycopg.OperationalError:
    """A psycopg error as the driver raises it, with the SQLSTATE the server sent."""
    if sqlstate is None:
        return psycopg.OperationalError(message)
    cls = psycopg.errors.lookup(sqlstate)
    assert issubclass(cls, psycopg.OperationalError)
    return cls(message)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (operational("connection refused"), True),
        (operational("terminating connection due to administrator command", "57P01"), True),
        (operational("too many connections", "53300"), True),
        (operational("password authentication failed", "28P01"), True),
        (operational("deadlock detected", "40P01"), False),
        (operational("canceling statement due to statement timeout", "57014"), False),
        (psycopg.InterfaceError("the connection is closed"), True),
        (ConnectionResetError(), True),
        (OperationalError("SELECT 1", {}, operational("server closed the connection")), True),
        (
            IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key")),
            False,
        ),
        (ValueError("not a database error"), False),
    ],
)
def test_which_errors_mean_the_database_is_unavailable(exc: Exception, expected: bool) -> None:
    assert is_unavailable(exc) is expected


def test_the_unavailable_message_is_one_line_without_the_password() -> None:
    url = make_url("postgresql+psycopg://turnout:s3cret@db:5432/turnout")
    cause = OperationalError(
        "SELECT 1",
        {},
        operational(
            'connection to server at "db" failed: s3cret rejected\n\tIs the server running?'
        ),
    )
    message = str(unavailable(cause, url))
    assert message == (
        "versions database postgresql+psycopg://turnout:***@db:5432/turnout is unavailable: "
        'connection to server at "db" failed: *** rejected'
    )


def test_db_upgrade_refuses_a_url_it_cannot_use_without_echoing_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli_main(["db", "upgrade", "--database-url", "mysql://u:s3cret@db/x"]) == 2
    err = capsys.readouterr().err
    assert "s3cret" not in err and "psycopg" in err


def test_unknown_commands_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["db", "drop"]) == 2
    assert cli_main([]) == 2
    assert "usage:" in capsys.readouterr().err
