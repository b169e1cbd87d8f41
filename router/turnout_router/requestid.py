"""The request id: taken from the caller's `Turing-Req-ID` header or minted here.

Turing's router assigns every request an id and sends it to the routes and back
in the `Turing-Req-Id` header, so upstream logs and the caller's logs can be
joined. Callers that already have an id (a gateway, a retry) keep it.

Minting must cost next to nothing: it happens on every request without an id.
A UUID4 costs a trip to the system's random source per request; instead each
process draws 64 random bits once and appends a counter, which is unique per
process and, with the random part, across pods.

Pure: no sockets, event loop or environment (held by an import contract).
"""

from __future__ import annotations

import itertools
import re
import secrets
from typing import Final

HEADER: Final = "Turing-Req-ID"
"""Turing's header name (HTTP header names are case-insensitive)."""
HEADER_KEY: Final = b"turing-req-id"
"""The header name as the server keys headers: lower case bytes."""

MAX_LENGTH: Final = 128
"""A longer given id is replaced: it would bloat logs and every upstream request."""


# Visible ASCII only: the id is echoed in headers and logs, where control
# characters or non-ASCII text could break the framing or the log line.
_VISIBLE: Final = re.compile(rb"[\x21-\x7e]{1,%d}" % MAX_LENGTH)


def _acceptable(value: bytes) -> bool:
    return _VISIBLE.fullmatch(value) is not None


class RequestIds:
    """Mints ids of the form ``<16 hex digits>-<counter>``; keeps acceptable given ones."""

    __slots__ = ("_counter", "_prefix")

    def __init__(self, prefix: str | None = None) -> None:
        self._prefix = prefix if prefix is not None else secrets.token_hex(8)
        self._counter = itertools.count(1)

    def mint(self) -> str:
        return f"{self._prefix}-{next(self._counter)}"

    def take_or_mint(self, given: bytes | None) -> str:
        """The caller's id when it is acceptable, otherwise a fresh one."""
        if given is not None and _acceptable(given.strip()):
            return given.strip().decode("ascii")
        return self.mint()
