"""Hand-written struct encoders (gob.Struct.encode_fields) write exactly what the generic
encoder writes: the net/rpc request header and GetTreatmentRequest, sent on every call."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin_host import gob, wire
from plugin_host.netrpc import REQUEST
from plugin_host.wire import GetTreatmentOptions, GetTreatmentRequest

pytestmark = pytest.mark.unit

GENERIC_REQUEST = gob.Struct("Request", REQUEST.fields)
GENERIC_GET_TREATMENT = gob.Struct(
    "GetTreatmentRequest", wire.GET_TREATMENT_REQUEST_FIELDS, GetTreatmentRequest
)
text = st.text(max_size=40)


def twice(gotype: gob.Struct, value: object) -> list[bytes]:
    # Twice: the first message carries the type definitions, the second only the value.
    encoder = gob.Encoder()
    return [encoder.encode(gotype, value), encoder.encode(gotype, value)]


@given(st.text(max_size=60), st.integers(min_value=0, max_value=2**64 - 1))
def test_request_header(method: str, seq: int) -> None:
    value = {"ServiceMethod": method, "Seq": seq}
    assert twice(REQUEST, value) == twice(GENERIC_REQUEST, value)


@given(
    st.none() | st.dictionaries(text, st.lists(text, max_size=3), max_size=5),
    st.binary(max_size=300),
    st.none() | st.builds(GetTreatmentOptions, text),
)
def test_get_treatment_request(
    header: dict[str, list[str]] | None, payload: bytes, options: GetTreatmentOptions | None
) -> None:
    value = GetTreatmentRequest(header, payload, options)
    assert twice(wire.GET_TREATMENT_REQUEST, value) == twice(GENERIC_GET_TREATMENT, value)


@pytest.mark.parametrize("value", [{}, {"ServiceMethod": "A.B"}, {"Seq": 3}, None])
def test_request_header_with_fields_missing(value: dict[str, object] | None) -> None:
    assert twice(REQUEST, value) == twice(GENERIC_REQUEST, value)


def test_a_wrong_type_is_still_a_gob_error() -> None:
    with pytest.raises(gob.GobError):
        gob.Encoder().encode(wire.GET_TREATMENT_REQUEST, GetTreatmentRequest({"a": [1]}))  # type: ignore[list-item]
