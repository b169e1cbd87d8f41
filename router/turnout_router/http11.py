"""HTTP/1.1 framing for the hot path: requests to upstreams, responses to callers.

The router writes its messages as bytes itself, rather than through a
framework's request and response objects, because building those objects
costs more than everything else a proxied request needs (see docs/router.md).
What is written here is the whole of it: a status line, headers, a body with
its Content-Length. Hop-by-hop headers (RFC 9110 section 7.6.1) are dropped in
both directions; every other header passes through.

Pure: no sockets, event loop or environment (held by an import contract).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

Headers = list[tuple[bytes, bytes]]
"""Header (name, value) pairs in order; names as received."""

HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Rewritten by the router rather than passed on.
# Rewritten by the router rather than passed on; the request id is always the router's.
# Expect is answered by the router itself, which sends the body at once.
_REWRITTEN: Final = frozenset({b"host", b"content-length", b"turing-req-id", b"expect"})
_DROP_UPSTREAM: Final = HOP_BY_HOP | _REWRITTEN
_DROP_DOWNSTREAM: Final = HOP_BY_HOP | {b"content-length", b"turing-req-id"}

_REASONS: Final = {status.value: status.phrase.encode() for status in HTTPStatus}
_STATUS_LINES: Final = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, phrase) for code, phrase in _REASONS.items()
}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d Unknown\r\n" % status


def header_safe(value: str) -> bytes:
    """Text fit for a header value: visible Latin-1 only, so no value can end the header.

    Experiment and treatment names come from the plugin; a CR or LF in one must
    not let it write headers of its own.
    """
    if value.isascii() and value.isprintable():
        return value.encode("ascii")
    return "".join(c if c.isprintable() and ord(c) < 256 else "?" for c in value).encode("latin-1")


def canonical_header_key(name: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey: how Turing's plugins see header names.

    The plugin gets the request's headers as Go's http.Header, whose keys are
    canonical ("x-session-id" becomes "X-Session-Id"); a name with a space or
    other invalid character is left as it is, as Go does.
    """
    if not name or any(not (c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~")) for c in name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A route's URL, split once at start."""

    scheme: str
    host: str
    port: int
    target: bytes
    """Path and query as written on the request line."""
    host_header: bytes


def parse_endpoint(url: str) -> Endpoint:
    """Split an http(s) URL; raises ValueError when it has no host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = (parts.scheme == "http" and port == 80) or (
        parts.scheme == "https" and port == 443
    )
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if default_port else f"{shown}:{port}"
    return Endpoint(parts.scheme, host, port, target.encode(), host_header.encode("idna"))


def upstream_request_head(
    endpoint: Endpoint, headers: Headers, extra: Iterable[tuple[bytes, bytes]], body_length: int
) -> bytes:
    """The request line and headers of the request forwarded to a route (a POST)."""
    parts = [
        b"POST ",
        endpoint.target,
        b" HTTP/1.1\r\nHost: ",
        endpoint.host_header,
        b"\r\nContent-Length: %d\r\n" % body_length,
    ]
    for name, value in headers:
        if name.lower() not in _DROP_UPSTREAM:
            parts += (name, b": ", value, b"\r\n")
    for name, value in extra:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def response(
    status: int,
    headers: Iterable[tuple[bytes, bytes]],
    body: bytes,
    extra: Iterable[tuple[bytes, bytes]] = (),
    *,
    close: bool = False,
) -> bytes:
    """A whole response: upstream headers (hop-by-hop dropped), the router's, the body."""
    parts = [status_line(status)]
    for name, value in headers:
        if name.lower() not in _DROP_DOWNSTREAM:
            parts += (name, b": ", value, b"\r\n")
    for name, value in extra:
        parts += (name, b": ", value, b"\r\n")
    if close:
        parts.append(b"Connection: close\r\n")
    parts += (b"Content-Length: %d\r\n\r\n" % len(body), body)
    return b"".join(parts)


JSON_CONTENT: Final = (b"Content-Type", b"application/json")


def error_body(status: int, message: str, **details: str) -> bytes:
    """The JSON body of every error the router itself answers."""
    document = {"error": {"code": status, "message": message, **details}}
    return json.dumps(document, separators=(",", ":")).encode()


def error_response(
    status: int,
    message: str,
    extra: Iterable[tuple[bytes, bytes]] = (),
    *,
    close: bool = False,
    **details: str,
) -> bytes:
    return response(
        status, (JSON_CONTENT,), error_body(status, message, **details), extra, close=close
    )


_LONG_DIGITS: Final = re.compile(rb"[0-9]{19}")
"""Integers this long may not fit in 64 bits, where orjson reads them as floats."""


def parse_json_body(body: bytes) -> Any:
    """The request body as JSON, exactly as `json.loads` reads it; ValueError if it is not.

    orjson reads a small body in a sixth of the time. It refuses a few texts that
    `json.loads` accepts (NaN and Infinity, lone surrogates, other encodings) and
    reads integers past 64 bits as floats: a body with a run of 19 digits or more
    anywhere, and every text orjson refuses, is read by `json` instead, so what the
    router accepts, and the values it sees, do not depend on the parser.
    """
    if _LONG_DIGITS.search(body) is not None:
        return json.loads(body)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)
