"""Reading a request's unit value, as Turing's request.GetValueFromHTTPRequest does.

* source "header": the header's values joined with ",". The name is looked up
  in its canonical MIME form (Go's http.Header.Values), so "x-unit-id" finds a
  header stored as "X-Unit-Id" (hosts send canonical names; Go's HTTP server
  canonicalizes them). An empty result means the header is missing.
* source "payload": a dot-separated path into the JSON body, resolved with the
  semantics of github.com/buger/jsonparser's Get (which Turing uses): the body
  is not validated first, object keys are compared after unescaping, a path
  element "[N]" indexes an array, and the value comes back as its raw text — a
  string without its quotes and *without* unescaping, a number, boolean, array
  or object as written. `null` gives the empty unit.
* any other source is an error (Turing's HTTP routers support only these two).

Units are bytes: the hash runs over exactly the bytes Go would hash.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

from .gojson import EngineError

__all__ = [
    "canonical_header_key",
    "get_json_value",
    "header_value",
    "payload_value",
    "unit_value",
]

HEADER_SOURCE: Final = "header"
PAYLOAD_SOURCE: Final = "payload"

# ---------------------------------------------------------------------------
# Headers

_TOKEN_BYTES: Final = frozenset(
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def canonical_header_key(name: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey: "x-unit-id" -> "X-Unit-Id".

    A name with any byte that is not a token character is returned unchanged.
    """
    if not name or any(ord(ch) > 0x7F or ord(ch) not in _TOKEN_BYTES for ch in name):
        return name
    out = []
    upper = True
    for ch in name:
        if upper and "a" <= ch <= "z":
            ch = ch.upper()
        elif not upper and "A" <= ch <= "Z":
            ch = ch.lower()
        out.append(ch)
        upper = ch == "-"
    return "".join(out)


def header_value(header: Mapping[str, Sequence[str]] | None, name: str) -> bytes:
    """The header's values joined with ","; EngineError when that is empty."""
    values = (header or {}).get(canonical_header_key(name)) or []
    value = ",".join(values)
    if value == "":
        raise EngineError(f"Field {name} not found in the request header")
    # Strings cross the wire as bytes; give back the bytes the host sent.
    return value.encode("utf-8", "surrogateescape")


# ---------------------------------------------------------------------------
# jsonparser's Get

NOT_EXIST: Final = 0
STRING: Final = 1
NUMBER: Final = 2
OBJECT: Final = 3
ARRAY: Final = 4
BOOLEAN: Final = 5
NULL: Final = 6
UNKNOWN: Final = 7

TYPE_NAMES: Final = {
    NOT_EXIST: "non-existent",
    STRING: "string",
    NUMBER: "number",
    OBJECT: "object",
    ARRAY: "array",
    BOOLEAN: "boolean",
    NULL: "null",
    UNKNOWN: "unknown",
}

_WHITESPACE: Final = frozenset(b" \n\r\t")
_TOKEN_END: Final = frozenset(b" \n\r\t,}]")
_KEY_SCAN: Final = re.compile(rb'["{}\[:]')
_BLOCK_SCAN: Final = {
    (0x7B, 0x7D): re.compile(rb'["{}]'),
    (0x5B, 0x5D): re.compile(rb'["\[\]]'),
}
_ATOI: Final = re.compile(rb"[+-]?[0-9]+")


def _next_token(data: bytes, start: int) -> int:
    """Offset (from start) of the first non-whitespace byte, or -1."""
    for offset in range(start, len(data)):
        if data[offset] not in _WHITESPACE:
            return offset - start
    return -1


def _token_end(data: bytes, start: int) -> int:
    for offset in range(start, len(data)):
        if data[offset] in _TOKEN_END:
            return offset - start
    return len(data) - start


def _string_end(data: bytes, start: int) -> tuple[int, bool]:
    """For data[start:] just after an opening quote: offset past the closing quote, and
    whether a backslash was seen; (-1, ...) when the string never closes."""
    escaped = False
    position = start
    while True:
        quote = data.find(b'"', position)
        if quote == -1:
            return -1, escaped or data.find(b"\\", position) != -1
        if not escaped and data.find(b"\\", position, quote) != -1:
            escaped = True
        if not escaped:
            return quote - start + 1, False
        backslashes = 0
        back = quote - 1
        while back >= start and data[back] == 0x5C:
            backslashes += 1
            back -= 1
        if backslashes % 2 == 0:
            return quote - start + 1, True
        position = quote + 1


def _block_end(data: bytes, start: int, open_sym: int, close_sym: int) -> int:
    """Offset past the block starting at data[start], or -1."""
    scan = _BLOCK_SCAN[(open_sym, close_sym)]
    level = 0
    position = start
    while True:
        match = scan.search(data, position)
        if match is None:
            return -1
        position = match.start()
        c = data[position]
        if c == 0x22:
            end, _ = _string_end(data, position + 1)
            if end == -1:
                return -1
            position += end + 1
            continue
        if c == open_sym:
            level += 1
        else:
            level -= 1
            if level == 0:
                return position - start + 1
        position += 1


def _decode_single_escape(data: bytes, start: int) -> int:
    """The \\uXXXX at data[start:], or -1."""
    if len(data) - start < 6:
        return -1
    hex_digits = data[start + 2 : start + 6]
    if not all(c in b"0123456789abcdefABCDEF" for c in hex_digits):
        return -1
    return int(hex_digits, 16)


def _encode_rune(rune: int) -> bytes:
    if 0xD800 <= rune <= 0xDFFF or rune > 0x10FFFF:
        return "\ufffd".encode()
    return chr(rune).encode()


_BACKSLASH_ESCAPES: Final = {
    0x22: b'"',
    0x5C: b"\\",
    0x2F: b"/",
    0x62: b"\b",
    0x66: b"\f",
    0x6E: b"\n",
    0x72: b"\r",
    0x74: b"\t",
}


def _unescape(data: bytes) -> bytes | None:
    """jsonparser.Unescape: None for an invalid escape."""
    first = data.find(b"\\")
    if first == -1:
        return data
    out = bytearray(data[:first])
    position = first
    while position < len(data):
        if len(data) - position < 2:
            return None
        escape = data[position + 1]
        if escape in _BACKSLASH_ESCAPES:
            out += _BACKSLASH_ESCAPES[escape]
            position += 2
        elif escape == 0x75:  # u
            rune = _decode_single_escape(data, position)
            if rune == -1:
                return None
            if rune <= 0xFFFF and not 0xD800 <= rune <= 0xDFFF:
                out += _encode_rune(rune)
                position += 6
            else:
                low = _decode_single_escape(data, position + 6)
                if low == -1 or low < 0xDC00:
                    return None
                out += _encode_rune(0x10000 + ((rune - 0xD800) << 10) + (low - 0xDC00))
                position += 12
        else:
            return None
        following = data.find(b"\\", position)
        if following == -1:
            out += data[position:]
            break
        out += data[position:following]
        position = following
    return bytes(out)


def _atoi(text: bytes) -> int | None:
    """Go's strconv.Atoi: optional sign and decimal digits, within int64."""
    if _ATOI.fullmatch(text) is None:
        return None
    value = int(text)
    if not -(2**63) <= value < 2**63:
        return None
    return value


def _array_each(data: bytes) -> list[tuple[bytes, int, int]]:
    """jsonparser.ArrayEach over data (which starts with "["): (value, type, offset) per element.

    Stops silently at the first malformed element, as Go's callers see it.
    """
    elements: list[tuple[bytes, int, int]] = []
    if not data:
        return elements
    first = _next_token(data, 0)
    if first == -1:
        return elements
    offset = first + 1
    skip = _next_token(data, offset)
    if skip == -1:
        return elements
    offset += skip
    if data[offset] == 0x5D:
        return elements
    while True:
        value, value_type, end, error = _internal_get(data[offset:], ())
        if error:
            return elements
        if end == 0:
            break
        if value_type != NOT_EXIST:
            elements.append((value, value_type, offset + end - len(value)))
        offset += end
        skip = _next_token(data, offset)
        if skip == -1:
            return elements
        offset += skip
        if data[offset] == 0x5D:
            break
        if data[offset] != 0x2C:
            return elements
        offset += 1
    return elements


def _search_keys(data: bytes, keys: Sequence[bytes]) -> int:
    """jsonparser's searchKeys: offset just past the ":" of the path's last key, or -1."""
    key_level = 0
    level = 0
    position = 0
    size = len(data)
    depth = len(keys)
    last_matched = True
    if depth == 0:
        return 0
    while position < size:
        match = _KEY_SCAN.search(data, position)
        if match is None:
            return -1
        position = match.start()
        c = data[position]
        if c == 0x22:
            position += 1
            key_begin = position
            end, key_escaped = _string_end(data, position)
            if end == -1:
                return -1
            position += end
            key_end = position - 1
            value_offset = _next_token(data, position)
            if value_offset == -1:
                return -1
            position += value_offset
            if data[position] == 0x3A:
                if level < 1:
                    return -1
                key: bytes | None = data[key_begin:key_end]
                if key_escaped:
                    key = _unescape(data[key_begin:key_end])
                    if key is None:
                        return -1
                if level <= depth:
                    if key == keys[level - 1]:
                        last_matched = True
                        if key_level == level - 1:
                            key_level += 1
                            if key_level == depth:
                                return position + 1
                    else:
                        last_matched = False
                else:
                    return -1
            else:
                position -= 1
        elif c == 0x7B:
            if not last_matched:
                end = _block_end(data, position, 0x7B, 0x7D)
                if end == -1:
                    return -1
                position += end - 1
            else:
                level += 1
        elif c == 0x7D:
            level -= 1
            if level == key_level:
                key_level -= 1
        elif c == 0x5B:
            # Where Go would index out of range and panic (an empty path element),
            # treat the element as "not an index" instead.
            wanted = keys[level] if key_level == level and 0 <= level < depth else b""
            if wanted[:1] == b"[":
                if len(wanted) < 3 or wanted[-1:] != b"]":
                    return -1
                index = _atoi(wanted[1:-1])
                if index is None:
                    return -1
                found: bytes | None = None
                found_offset = 0
                for current, (value, value_type, offset) in enumerate(_array_each(data[position:])):
                    if current == index:
                        found, found_offset = value, offset
                        if value_type == STRING:
                            found_offset -= 2
                            start = position + found_offset
                            found = data[start : start + len(value) + 2]
                if found is None:
                    return -1
                sub_index = _search_keys(found, keys[level + 1 :])
                if sub_index < 0:
                    return -1
                return position + found_offset + sub_index
            skip = _block_end(data, position, 0x5B, 0x5D)
            if skip == -1:
                return -1
            position += skip - 1
        else:  # a ":" outside a key: malformed
            return -1
        position += 1
    return -1


def _get_type(data: bytes, offset: int) -> tuple[bytes, int, int, bool]:
    """jsonparser's getType: (value, type, end offset, failed)."""
    c = data[offset]
    if c == 0x22:
        end, _ = _string_end(data, offset + 1)
        if end == -1:
            return b"", STRING, offset, True
        stop = offset + end + 1
        return data[offset:stop], STRING, stop, False
    if c in (0x5B, 0x7B):
        end = _block_end(data, offset, c, c + 2)
        if end == -1:
            return b"", ARRAY if c == 0x5B else OBJECT, offset, True
        stop = offset + end
        return data[offset:stop], ARRAY if c == 0x5B else OBJECT, stop, False
    stop = offset + _token_end(data, offset)
    value = data[offset:stop]
    if c in b"tf":
        if value not in (b"true", b"false"):
            return b"", UNKNOWN, offset, True
        return value, BOOLEAN, stop, False
    if c in b"un":
        if value != b"null":
            return b"", UNKNOWN, offset, True
        return value, NULL, stop, False
    if c in b"0123456789-":
        return value, NUMBER, stop, False
    return b"", UNKNOWN, offset, True


def _internal_get(data: bytes, keys: Sequence[bytes]) -> tuple[bytes, int, int, bool]:
    """jsonparser's internalGet: (value, type, end offset, failed)."""
    offset = 0
    if keys:
        offset = _search_keys(data, keys)
        if offset == -1:
            return b"", NOT_EXIST, -1, True
    skip = _next_token(data, offset)
    if skip == -1:
        return b"", NOT_EXIST, -1, True
    offset += skip
    value, value_type, end, failed = _get_type(data, offset)
    if failed:
        return value, value_type, end, True
    if value_type == STRING:
        value = value[1:-1]
    return value, value_type, end, False


def get_json_value(data: bytes, *keys: str) -> tuple[bytes, int]:
    """jsonparser.Get(data, keys...) as Turing reads it: (value, type), errors folded into both.

    Like Turing, this ignores Get's error: a string, array or object that never
    closes gives an empty value of that type; a path that is not found gives
    NOT_EXIST.
    """
    value, value_type, _, _ = _internal_get(data, [key.encode("utf-8") for key in keys])
    return value, value_type


def payload_value(payload: bytes, path: str) -> bytes:
    """The value at a dot-separated path of a JSON payload; EngineError when there is none."""
    value, value_type = get_json_value(payload, *path.split("."))
    if value_type in (STRING, NUMBER, BOOLEAN, ARRAY, OBJECT):
        return value
    if value_type == NULL:
        return b""
    if value_type == NOT_EXIST:
        raise EngineError(f"Field {path} not found in the request payload: Key path not found")
    raise EngineError(
        f"Field {path} can not be parsed as string value, unsupported type: {TYPE_NAMES[value_type]}"
    )


def unit_value(
    header: Mapping[str, Sequence[str]] | None, payload: bytes, source: str, field: str
) -> bytes:
    """A request's unit value for a segmenter (source, field); EngineError when there is none."""
    if source == PAYLOAD_SOURCE:
        return payload_value(payload, field)
    if source == HEADER_SOURCE:
        return header_value(header, field)
    raise EngineError(f"Unrecognized field source {source}")
