"""Every gob vector Go's encoder wrote decodes here to exactly the value Go's decoder gives.

The vectors and Go's decoded values are the committed copy of `gob-vectors
--detailed` (tests/gob_reference.py says how it is made; an interop test keeps
it equal to the Go tool's output).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from plugin_host import gob
from tests.gob_reference import SCHEMAS, case_mismatches, decode_case, load_fixture, typed

pytestmark = pytest.mark.unit

VECTORS = load_fixture()
TYPED = sorted(name for name, case in VECTORS.items() if typed(case))
TIME_CASES = sorted(name for name, case in VECTORS.items() if case["types"] == ["time.Time"])
# Go's nanoseconds below a microsecond do not fit a datetime: those cases are checked apart.
# So are zones west of UTC with seconds in their offset: Go writes them as
# (offset/60 truncated, offset%60 as a signed byte) but reads the byte back
# unsigned, so its own decoder gets another offset than it encoded.
WHOLE_MICROSECOND_TIMES = [
    name
    for name in TIME_CASES
    if VECTORS[name]["tagged"][0]["time"]["nanos"] % 1000 == 0
    and VECTORS[name]["hex"][-34:-32] != "10"  # not a version 2 (seconds) form
]
SECONDS_OFFSET_TIMES = [name for name in TIME_CASES if VECTORS[name]["hex"][-34:-32] == "10"]


def test_the_vectors_cover_what_they_must() -> None:
    assert len(VECTORS) >= 150 and len(TYPED) >= 130
    times = [VECTORS[name]["tagged"][0]["time"] for name in TIME_CASES]
    assert any(t["zero"] for t in times)  # the zero time
    assert any(t["offset"] > 0 for t in times) and any(t["offset"] < 0 for t in times)
    assert any(t["offset"] % 60 for t in times)  # an offset with seconds (binary version 2)
    assert min(t["unix"] for t in times) < -62_000_000_000  # year 1
    assert max(t["unix"] for t in times) > 253_000_000_000  # year 9999


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_go_vector_decodes_generically_to_gos_value(name: str) -> None:
    assert case_mismatches(VECTORS[name], generic=True) == []


@pytest.mark.parametrize("name", TYPED)
def test_go_vector_decodes_as_our_type_to_gos_value(name: str) -> None:
    assert case_mismatches(VECTORS[name], generic=False) == []


def go_time(tagged: dict[str, Any]) -> dt.datetime:
    """The datetime Go describes, built from its fields without the codec under test."""
    zone = dt.UTC if tagged["utc"] else dt.timezone(dt.timedelta(seconds=tagged["offset"]))
    instant = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
        seconds=tagged["unix"], microseconds=tagged["nanos"] // 1000
    )
    return instant.astimezone(zone)


def go_marshal_binary(case: dict[str, Any]) -> bytes:
    """time.Time's MarshalBinary bytes, as the last bytes of Go's message."""
    raw = bytes.fromhex(case["hex"])
    size = 16 if raw[-16] == 2 and raw[-17] == 16 else 15
    assert raw[-size - 1] == size  # the GobEncoder's byte count
    return raw[-size:]


@pytest.mark.parametrize("name", WHOLE_MICROSECOND_TIMES)
def test_time_binary_form_is_gos_bytes(name: str) -> None:
    case = VECTORS[name]
    tagged = case["tagged"][0]["time"]
    assert gob.TIME.encode(go_time(tagged)).hex(" ") == go_marshal_binary(case).hex(" ")


def test_time_cases_with_nanoseconds_still_encode_gos_seconds_and_zone() -> None:
    # Sub-microsecond digits are lost, the rest of the binary form is Go's.
    checked = 0
    for name in TIME_CASES:
        case = VECTORS[name]
        tagged = case["tagged"][0]["time"]
        if tagged["nanos"] % 1000 == 0:
            continue
        ours = gob.TIME.encode(go_time(tagged))
        go = go_marshal_binary(case)
        assert (ours[:9], ours[13:]) == (go[:9], go[13:]), name
        nanos = int.from_bytes(go[9:13], "big")
        assert int.from_bytes(ours[9:13], "big") == nanos - nanos % 1000, name
        checked += 1
    assert checked >= 2
    assert len(WHOLE_MICROSECOND_TIMES) >= 8


def test_offsets_with_seconds_encode_what_go_decodes() -> None:
    # Version 2 binary form: int16 minutes, then one byte of seconds that Go's
    # UnmarshalBinary adds *unsigned*. We write floor(offset/60) and the
    # non-negative rest, which Go reads back as the exact offset; for a zone
    # west of UTC Go's own encoder writes a negative byte and misreads it
    # (its decoded offset, in the vectors, differs from the one it encoded).
    assert len(SECONDS_OFFSET_TIMES) >= 2
    for name in SECONDS_OFFSET_TIMES:
        case = VECTORS[name]
        tagged = case["tagged"][0]["time"]
        ours = gob.TIME.encode(go_time(tagged))
        assert ours[0] == 2 and len(ours) == 16, name
        minutes = int.from_bytes(ours[13:15], "big", signed=True)
        assert minutes * 60 + ours[15] == tagged["offset"], name  # Go's reading of our bytes
        go = go_marshal_binary(case)
        assert gob.TIME.decode(go).utcoffset() == dt.timedelta(seconds=tagged["offset"]), name
        if tagged["offset"] >= 0:
            assert ours == go, name


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_go_vector_fed_byte_by_byte_decodes_the_same(name: str) -> None:
    # A value whose interface brings a new type spans two messages (Go ends the
    # first after the definition): a decoder fed part of it must wait and then
    # take it whole, definitions included.
    case = VECTORS[name]
    decoder = gob.Decoder()
    values: list[Any] = []
    for byte in bytes.fromhex(case["hex"]):
        decoder.feed(bytes([byte]))
        value = decoder.next_value(None)
        while value is not gob.Decoder.NEED_MORE:
            values.append(value)
            value = decoder.next_value(None)
    assert not decoder.messages_pending()
    assert values == decode_case(case, generic=True)


# Typed cases whose bytes from us differ from Go's, and why; every other typed
# case must encode to exactly Go's bytes (with type ids numbered from Go's 64).
# Go numbers a slice's or map's element types before the container and names
# unnamed containers ("[]manager.Variant", "map[string]string"); we number in
# the order we meet types and leave such names empty. Both only change the
# type definitions: ids are per connection and names are informational.
DEFINITIONS_DIFFER = {
    "clients_empty", "experiment", "experiment_empty_variant_name", "experiment_no_variants",
    "experiments", "experiments_empty", "experiments_nil", "get_treatment_request",
    "get_treatment_request_empty_header", "get_treatment_request_multi_value_header",
    "get_treatment_request_zero", "http_header", "inc", "inc_no_labels",
    "measure_duration_ms_since", "measure_duration_ms_since_1900",
    "measure_duration_ms_since_far_future_west", "measure_duration_ms_since_ist", "metric",
    "metrics", "multi_collector_calls", "multi_get_treatment_call", "multi_helper_register_call",
    "record_gauge", "record_gauge_zero_value", "variables", "variables_map",
    "variables_map_empty", "variables_map_empty_list",
}  # fmt: skip
# Go's nanoseconds below a microsecond, and a zone Go itself misencodes (above).
TIME_DIFFERS = {
    "time_utc",
    "time_offset_negative",
    "time_year_9999_last",
    "time_minus_seconds_offset",
    "struct_time",
}


@pytest.mark.parametrize("name", sorted(set(TYPED) - DEFINITIONS_DIFFER - TIME_DIFFERS))
def test_our_encoding_of_gos_value_is_gos_bytes(name: str) -> None:
    case = VECTORS[name]
    encoder = gob.Encoder()
    encoder._next_id = 64  # Go 1.26 numbers user types from 64, we from 65
    values = decode_case(case, generic=False)
    encoded = b"".join(
        encoder.encode(SCHEMAS[type_name], value)
        for type_name, value in zip(case["types"], values, strict=True)
    )
    assert encoded.hex(" ") == bytes.fromhex(case["hex"]).hex(" ")


def test_the_byte_for_byte_exceptions_are_few() -> None:
    assert set(TYPED) >= DEFINITIONS_DIFFER | TIME_DIFFERS
    assert len(set(TYPED) - DEFINITIONS_DIFFER - TIME_DIFFERS) >= 95
