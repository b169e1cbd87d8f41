"""Database URLs: which driver the store uses, and how a URL is shown to people.

The URL usually carries the database password. Every message the store or its
command line prints names the database through :func:`safe_url`, so that a log line,
a Kubernetes Event or a failed ``db upgrade`` never shows the password.
"""

from __future__ import annotations

from urllib.parse import quote, quote_plus

from sqlalchemy.engine import URL, make_url

DRIVER = "postgresql+psycopg"
"""psycopg 3 serves both the asyncio repository and the (synchronous) migrations."""

_POSTGRES_SCHEMES = {"postgresql", "postgres", DRIVER}
_MASK = "***"
# libpq also takes the password as a query parameter (?password=...).
_SECRET_QUERY_KEYS = {"password"}


def store_url(url: str) -> URL:
    """Parse ``url`` and pin the psycopg 3 driver.

    Plain ``postgresql://`` and ``postgres://`` URLs (what libpq, ``psql`` and most
    hosted Postgres offerings hand out) are accepted and get the driver added; any
    other driver or database is refused, since the store relies on Postgres
    features (row locks, JSONB, ON CONFLICT, triggers).
    """
    try:
        parsed = make_url(url)
    except Exception:  # parser errors may quote the URL, password included
        raise ValueError(f"not a database URL: {safe_url(url)}") from None
    if parsed.drivername not in _POSTGRES_SCHEMES:
        raise ValueError(
            f"the versions store needs Postgres through psycopg 3 ({DRIVER}://...), "
            f"got {parsed.drivername}://"
        )
    return parsed.set(drivername=DRIVER)


def safe_url(url: str | URL) -> str:
    """``url`` with its password (also one given as a query parameter) replaced by ``***``."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except Exception:
        # Without a parse there is no telling where the password is; show nothing of it.
        return "<unparsable database URL>"
    # A placeholder of URL-safe characters, swapped for the mask after rendering,
    # because the renderer would percent-encode "***" in a query.
    placeholder = "turnoutmaskedpassword"
    query = {
        key: (placeholder if key.lower() in _SECRET_QUERY_KEYS else value)
        for key, value in parsed.query.items()
    }
    rendered = parsed.set(query=query).render_as_string(hide_password=True)
    return rendered.replace(placeholder, _MASK)


def passwords_in(url: str | URL) -> tuple[str, ...]:
    """Every form in which ``url`` carries a password, for scrubbing driver messages.

    Both the decoded and the percent-encoded spelling are listed: a message may
    quote either.
    """
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except Exception:
        return ()
    found: list[str] = []
    if parsed.password:
        found.append(str(parsed.password))
    for key, value in parsed.query.items():
        if key.lower() in _SECRET_QUERY_KEYS:
            found.extend([value] if isinstance(value, str) else value)
    spellings = {
        form
        for secret in found
        if secret
        for form in (secret, quote(secret, safe=""), quote_plus(secret))
    }
    # Longest first, so that a secret containing another is masked whole.
    return tuple(sorted(spellings, key=len, reverse=True))


def scrub(message: str, secrets: tuple[str, ...]) -> str:
    """``message`` with every occurrence of each secret replaced by ``***``."""
    for secret in secrets:
        message = message.replace(secret, _MASK)
    return message
