"""The router reads request bodies with orjson, falling back to json: what it accepts
and the values it sees must be exactly what `json.loads` gives (the reference)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from turnout_router.http11 import parse_json_body

pytestmark = pytest.mark.unit

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 and 1.0 differ here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


@given(documents, st.booleans())
def test_any_document_reads_as_json_reads_it(document: Any, ascii_only: bool) -> None:
    text = json.dumps(document, ensure_ascii=ascii_only).encode()
    assert same(parse_json_body(text), json.loads(text))


@pytest.mark.parametrize(
    "text",
    [
        b"NaN",
        b'{"x": Infinity, "y": -Infinity}',
        b"123456789012345678901234567890",
        b'{"id": -99999999999999999999}',
        b'"\\ud800"',
        b"1e400",
        b'{"a": 1, "a": 2}',
        '{"k": "\u00e9"}'.encode("utf-16"),
        b'  {"padded": true}  ',
    ],
)
def test_texts_orjson_refuses_or_reads_differently_read_as_json_reads_them(text: bytes) -> None:
    assert same(parse_json_body(text), json.loads(text))


@pytest.mark.parametrize(
    "text", [b"", b"{", b"\xff\xfe\xfd", b"{'single': 1}", b"[1,]", b"01", b"\x00"]
)
def test_what_json_refuses_is_refused_with_a_value_error(text: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        parse_json_body(text)
