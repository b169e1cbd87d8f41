"""The gob codec against Go's own bytes, round trips, and hostile input."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin_host import gob, wire
from plugin_host.errors import ProtocolError

pytestmark = pytest.mark.unit

# Bytes produced by Go's encoding/gob (fresh encoders; ids start at 65 in a fresh process).
GO_REQUEST_DISPENSE = bytes.fromhex(
    "2fff81030101075265717565737401ff82000102010d536572766963654d6574686f64010c00010353657101060000"
    "0017ff82011244697370656e7365722e44697370656e736500"
)
GO_GET_TREATMENT_REQUEST = bytes.fromhex(
    "46ff87030101134765745472656174"
    "6d656e745265717565737401ff880001030106486561646572"
    "01ff8c0001075061796c6f6164010a0001074f7074696f6e7301ff8e000000"
    "17ff8b0401010648656164657201ff8c00010c01ff8a0000"
    "0cff89020102ff8a00010c0000"
    "35ff8d0301011347657454726561746d656e744f7074696f6e7301ff8e0001010"
    "10f547572696e67526571756573744944010c000000"
    "14ff8801010141010162"
    "01027b7d01010269640000"
)
GO_TREATMENT = bytes.fromhex(
    "3eff85030101095472656174"
    "6d656e7401ff86000103010e4578706572696d656e744e616d65010c00"
    "01044e616d65010c000106436f6e666967010a000000"
    "0dff86010165010174"
    "01027b7d00"
)

REQUEST = gob.Struct(
    "Request", (gob.Field("ServiceMethod", gob.STRING), gob.Field("Seq", gob.UINT))
)


def decode_all(data: bytes, expected: gob.GoType | None) -> Any:
    decoder = gob.Decoder()
    decoder.feed(data)
    value = decoder.next_value(expected)
    assert not decoder.messages_pending()
    return value


def roundtrip(gotype: gob.GoType, value: Any) -> Any:
    return decode_all(gob.Encoder().encode(gotype, value), gotype)


# ---------------------------------------------------------------------------
# Go's bytes


def test_request_header_matches_go_bytes() -> None:
    encoded = gob.Encoder().encode(REQUEST, {"ServiceMethod": "Dispenser.Dispense", "Seq": 0})
    assert encoded == GO_REQUEST_DISPENSE


def test_second_value_on_one_encoder_omits_the_definition() -> None:
    encoder = gob.Encoder()
    encoder.encode(REQUEST, {"ServiceMethod": "X", "Seq": 0})
    assert (
        encoder.encode(REQUEST, {"ServiceMethod": "X", "Seq": 1}).hex(" ")
        == "08 ff 82 01 01 58 01 01 00"
    )


@pytest.mark.parametrize(
    ("gotype", "value", "hexbytes"),
    [
        (gob.INTERFACE, None, "03 10 00 00"),
        (gob.BOOL, True, "03 02 00 01"),
        (gob.UINT, 1, "03 06 00 01"),
        (gob.INT, -129, "05 04 00 fe 01 01"),
        (gob.UINT, 256, "05 06 00 fe 01 00"),
        (gob.FLOAT, 17.0, "05 08 00 fe 31 40"),
        (gob.BYTES, b'{"a":1}', "0a 0a 00 07 7b 22 61 22 3a 31 7d"),
    ],
)
def test_singletons_match_go_bytes(gotype: gob.GoType, value: Any, hexbytes: str) -> None:
    assert gob.Encoder().encode(gotype, value).hex(" ") == hexbytes
    assert decode_all(bytes.fromhex(hexbytes), gotype) == value


def test_empty_struct_matches_go_shape() -> None:
    # Go: 0a ff 83 03 01 02 ff 84 00 00 00 03 ff 84 00 (its ids were 66/-66; ours start at 65).
    assert (
        gob.Encoder().encode(wire.EMPTY, {}).hex(" ")
        == "0a ff 81 03 01 02 ff 82 00 00 00 03 ff 82 00"
    )


def test_decodes_go_get_treatment_request_with_forward_type_references() -> None:
    request = decode_all(GO_GET_TREATMENT_REQUEST, wire.GET_TREATMENT_REQUEST)
    assert request == wire.GetTreatmentRequest({"A": ["b"]}, b"{}", wire.GetTreatmentOptions("id"))


def test_decodes_go_treatment() -> None:
    assert decode_all(GO_TREATMENT, wire.TREATMENT) == wire.Treatment("e", "t", b"{}")


def test_generic_decoding_keeps_go_field_names() -> None:
    assert decode_all(GO_TREATMENT, None) == {"ExperimentName": "e", "Name": "t", "Config": b"{}"}


# ---------------------------------------------------------------------------
# Struct rules


@dataclass
class Inner:
    a: int = 0


@dataclass
class Outer:
    name: str = ""
    inner: Inner = field(default_factory=Inner)
    maybe: Inner | None = None
    tags: dict[str, str] | None = None
    items: list[int] = field(default_factory=list)


INNER = gob.Struct("Inner", (gob.Field("A", gob.INT, "a"),), Inner)
OUTER = gob.Struct(
    "Outer",
    (
        gob.Field("Name", gob.STRING, "name"),
        gob.Field("Inner", INNER, "inner"),
        gob.Field("Maybe", INNER, "maybe", pointer=True),
        gob.Field("Tags", gob.Map(gob.STRING, gob.STRING), "tags"),
        gob.Field("Items", gob.Slice(gob.INT), "items"),
    ),
    Outer,
)


def test_zero_fields_are_omitted_but_nested_structs_are_sent() -> None:
    encoded = gob.Encoder().encode(OUTER, Outer())
    # The value message: length, type id 65, then only field 1 (Inner) as an empty
    # struct (delta 2, terminator), then Outer's terminator.
    assert encoded.endswith(bytes.fromhex("05 ff 82 02 00 00"))
    assert roundtrip(OUTER, Outer()) == Outer()


def test_pointer_presence_and_empty_maps_survive() -> None:
    value = Outer(name="n", maybe=Inner(0), tags={}, items=[0, 0])
    assert roundtrip(OUTER, value) == value


def test_fields_match_by_name_unknown_skipped_missing_zero() -> None:
    sender = gob.Struct(
        "Other",
        (
            gob.Field("Extra", gob.Slice(gob.STRING)),
            gob.Field("Name", gob.STRING),
            gob.Field("Z", INNER),
        ),
    )
    data = gob.Encoder().encode(sender, {"Extra": ["x"], "Name": "kept", "Z": Inner(3)})
    assert decode_all(data, OUTER) == Outer(name="kept")


def test_type_mismatch_is_a_clear_error() -> None:
    sender = gob.Struct("Outer", (gob.Field("Name", gob.INT),))
    data = gob.Encoder().encode(sender, {"Name": 5})
    with pytest.raises(
        gob.GobValueError, match=r"Outer\.Name: type mismatch: int on the wire, string locally"
    ):
        decode_all(data, OUTER)


def test_time_values_roundtrip_with_zones() -> None:
    when = dt.datetime(2026, 11, 28, 4, 5, 6, 123456, tzinfo=dt.UTC)
    request = wire.MeasureDurationMsSinceRequest("k", when, {"a": "b"})
    assert roundtrip(wire.MEASURE_DURATION_REQUEST, request) == request
    india = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    decoded = roundtrip(
        wire.MEASURE_DURATION_REQUEST, wire.MeasureDurationMsSinceRequest("k", india)
    )
    assert decoded.starttime == india
    assert decoded.starttime.utcoffset() == dt.timedelta(hours=5, minutes=30)


def test_interface_values_roundtrip() -> None:
    value = gob.InterfaceValue("main.T", INNER, Inner(7))
    holder = gob.Struct("H", (gob.Field("V", gob.INTERFACE),))
    decoded = roundtrip(holder, {"V": value})
    assert decoded["V"].name == "main.T"
    assert decoded["V"].value == {"A": 7}


def test_failed_encode_leaves_the_encoder_usable() -> None:
    encoder = gob.Encoder()
    with pytest.raises(gob.GobError):
        encoder.encode(OUTER, Outer(name=5))  # type: ignore[arg-type]
    decoder = gob.Decoder()
    decoder.feed(encoder.encode(OUTER, Outer(name="ok")))
    assert decoder.next_value(OUTER) == Outer(name="ok")


def test_turing_types_roundtrip() -> None:
    engine = wire.Engine(
        "e",
        "E",
        "standard",
        wire.StandardExperimentManagerConfig(True, False, "http://x"),
        wire.CustomExperimentManagerConfig(wire.RemoteUI("n", "u", "c"), "schema"),
    )
    assert roundtrip(wire.ENGINE, engine) == engine
    experiments = [wire.Experiment("1", "exp", "c", [wire.Variant("a"), wire.Variant("b")])]
    assert roundtrip(wire.EXPERIMENTS, experiments) == experiments
    variables = {"exp": [wire.Variable("country", True, "unit")]}
    assert roundtrip(wire.VARIABLES_BY_EXPERIMENT, variables) == variables
    metric = wire.Metric("m", "histogram", "d", ["a"], [0.5, 1.0])
    assert roundtrip(wire.METRICS, [metric]) == [metric]


# ---------------------------------------------------------------------------
# Property tests

int64s = st.integers(-(1 << 63), (1 << 63) - 1)
uint64s = st.integers(0, (1 << 64) - 1)
floats = st.floats(allow_nan=False)
texts = st.text(max_size=40)


@settings(max_examples=300)
@given(int64s)
def test_int_roundtrip(value: int) -> None:
    assert roundtrip(gob.INT, value) == value


@settings(max_examples=300)
@given(uint64s)
def test_uint_roundtrip(value: int) -> None:
    assert roundtrip(gob.UINT, value) == value


@given(floats)
def test_float_roundtrip(value: float) -> None:
    assert roundtrip(gob.FLOAT, value) == value


@given(st.lists(st.builds(wire.Variable, texts, st.booleans(), texts), max_size=8))
def test_struct_slice_roundtrip(value: list[wire.Variable]) -> None:
    assert roundtrip(wire.VARIABLES, value) == value


@given(
    st.builds(
        wire.GetTreatmentRequest,
        st.dictionaries(texts, st.lists(texts, max_size=3), max_size=5) | st.none(),
        st.binary(max_size=64),
        st.builds(wire.GetTreatmentOptions, texts),
    )
)
def test_get_treatment_request_roundtrip(value: wire.GetTreatmentRequest) -> None:
    # As in Go, a nil map (None) is omitted and an empty map is sent: both survive.
    assert roundtrip(wire.GET_TREATMENT_REQUEST, value) == value


@given(st.dictionaries(texts, st.dictionaries(texts, floats, max_size=3), max_size=4))
def test_nested_map_roundtrip(value: dict[str, dict[str, float]]) -> None:
    gotype = gob.Map(gob.STRING, gob.Map(gob.STRING, gob.FLOAT))
    assert roundtrip(gotype, value) == value


@given(st.lists(int64s, min_size=3, max_size=3))
def test_array_roundtrip(value: list[int]) -> None:
    assert roundtrip(gob.Array(gob.INT, 3), value) == value


# ---------------------------------------------------------------------------
# Hostile input: only ProtocolError, never a hang or a huge allocation


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_protocol_errors(data: bytes) -> None:
    decoder = gob.Decoder()
    decoder.feed(data)
    for expected in (None, wire.GET_TREATMENT_REQUEST):
        try:
            while decoder.next_value(expected) is not gob.Decoder.NEED_MORE:
                pass
        except ProtocolError:
            return


VALID_STREAM = GO_REQUEST_DISPENSE + GO_GET_TREATMENT_REQUEST


@settings(max_examples=500)
@given(st.data())
def test_mutated_go_bytes_raise_only_protocol_errors(data: st.DataObject) -> None:
    raw = bytearray(VALID_STREAM)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    decoder = gob.Decoder()
    decoder.feed(bytes(raw))
    try:
        decoder.next_value(REQUEST)
        decoder.next_value(wire.GET_TREATMENT_REQUEST)
    except ProtocolError:
        pass


def test_oversized_message_is_refused_before_buffering() -> None:
    decoder = gob.Decoder(gob.Limits(max_message_bytes=1024))
    decoder.feed(bytes.fromhex("fc 40 00 00 00"))  # claims 1 GiB
    with pytest.raises(gob.GobError, match="exceeds the limit"):
        decoder.next_value(None)


def test_huge_element_count_is_refused() -> None:
    # A []int claiming 2^40 elements in a 20-byte message.
    encoder = gob.Encoder()
    valid = encoder.encode(gob.Slice(gob.INT), [1])
    definition_length = valid[0] + 1
    value = bytearray([0xFF, 0x82, 0x00, 0xFB, 0x01, 0x00, 0x00, 0x00, 0x00, 0x02])
    stream = valid[:definition_length] + bytes([len(value)]) + bytes(value)
    with pytest.raises(gob.GobError, match="cannot fit"):
        decode_all(stream, gob.Slice(gob.INT))


def test_deep_nesting_is_refused() -> None:
    gotype: gob.GoType = gob.INT
    value: Any = 1
    for _ in range(70):
        gotype = gob.Slice(gotype)
        value = [value]
    data = gob.Encoder().encode(gotype, value)
    with pytest.raises(gob.GobError, match="deeper than"):
        decode_all(data, None)


def test_duplicate_type_definition_is_refused() -> None:
    encoded = gob.Encoder().encode(REQUEST, {"ServiceMethod": "x", "Seq": 0})
    definition = encoded[: encoded[0] + 1]
    decoder = gob.Decoder()
    decoder.feed(definition + definition)
    with pytest.raises(gob.GobError, match="duplicate type"):
        decoder.next_value(REQUEST)


def test_partial_messages_wait_for_more() -> None:
    decoder = gob.Decoder()
    for byte in GO_REQUEST_DISPENSE[:-1]:
        decoder.feed(bytes([byte]))
        assert decoder.next_value(REQUEST) is gob.Decoder.NEED_MORE
    decoder.feed(GO_REQUEST_DISPENSE[-1:])
    assert decoder.next_value(REQUEST) == {"ServiceMethod": "Dispenser.Dispense"}


def test_non_utf8_strings_survive_a_roundtrip() -> None:
    # HTTP header values may carry obs-text bytes; Go strings hold them as is.
    raw = b"caf\xe9 \xff"
    message = bytes([0x03 + len(raw) - 1 + 1, 0x0C, 0x00, len(raw)]) + raw
    text = decode_all(message, gob.STRING)
    assert gob.Encoder().encode(gob.STRING, text) == message


def test_empty_struct_amplification_is_bounded() -> None:
    # Each struct{} element is one byte on the wire but an object in memory.
    gotype = gob.Slice(wire.EMPTY)
    data = gob.Encoder().encode(gotype, [{}] * 2000)
    decoder = gob.Decoder(gob.Limits(max_values=1000))
    decoder.feed(data)
    with pytest.raises(gob.GobError, match="more than 1000 values"):
        decoder.next_value(None)


def test_any_encode_failure_is_a_gob_error_and_rolled_back() -> None:
    encoder = gob.Encoder()
    with pytest.raises(gob.GobError):
        encoder.encode(gob.Slice(gob.FLOAT), [10**400])  # float() overflows
    fresh = gob.Encoder().encode(gob.Slice(gob.FLOAT), [1.0])
    assert encoder.encode(gob.Slice(gob.FLOAT), [1.0]) == fresh
