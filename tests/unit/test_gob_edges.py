"""The gob decoder at its edges: framing, limits at their exact bounds, type
mismatches, interface values, and the exact text of each error (what a plugin
author reads when a value does not decode)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from plugin_host import gob, wire
from tests.gob_reference import load_fixture

pytestmark = pytest.mark.unit


def frame(body: bytes) -> bytes:
    out = bytearray()
    gob.encode_uint(out, len(body))
    return bytes(out) + body


def decode(
    data: bytes, expected: gob.GoType | None = None, limits: gob.Limits | None = None
) -> Any:
    decoder = gob.Decoder(limits)
    decoder.feed(data)
    value = decoder.next_value(expected)
    assert not decoder.messages_pending()
    return value


def error(data: bytes, expected: gob.GoType | None = None, limits: gob.Limits | None = None) -> str:
    with pytest.raises(gob.GobError) as caught:
        decode(data, expected, limits)
    return str(caught.value)


def encoded(gotype: gob.GoType, value: Any) -> bytes:
    return gob.Encoder().encode(gotype, value)


HOLDER = gob.Struct("H", (gob.Field("V", gob.INTERFACE),))
# The definition message of HOLDER as our encoder sends it (id 65).
HOLDER_DEFINITION = encoded(HOLDER, {})[:-4]


def holder_value(interface_bytes: bytes) -> bytes:
    """A value message of HOLDER whose field V is the given interface encoding."""
    return HOLDER_DEFINITION + frame(b"\xff\x82\x01" + interface_bytes + b"\x00")


# ---------------------------------------------------------------------------
# Framing


def test_holder_helpers_make_what_the_encoder_makes() -> None:
    value = {"V": gob.InterfaceValue("string", gob.STRING, "x")}
    assert encoded(HOLDER, value) == holder_value(b"\x06string\x0c\x03\x00\x01x")


@pytest.mark.parametrize("partial", ["fe 01", "f8 00 00 00", "fe", "05 01 02"])
def test_a_partial_length_or_message_waits_for_more(partial: str) -> None:
    decoder = gob.Decoder()
    decoder.feed(bytes.fromhex(partial))
    assert decoder.next_value(None) is gob.Decoder.NEED_MORE


@pytest.mark.parametrize("head", ["80", "81", "f7", "f7 00 00 00 00 00 00 00 00 00"])
def test_a_length_of_more_than_eight_bytes_fails_at_once(head: str) -> None:
    first = bytes.fromhex(head)[0]
    assert error(bytes.fromhex(head)) == f"bad uint length byte 0x{first:02x}"


def test_empty_message() -> None:
    assert error(b"\x00") == "empty message"


def test_message_size_limit_is_inclusive() -> None:
    message = encoded(gob.INT, 1)  # 03 04 00 02: a 3-byte message
    assert decode(message, gob.INT, gob.Limits(max_message_bytes=3)) == 1
    assert error(message, gob.INT, gob.Limits(max_message_bytes=2)) == (
        "message of 3 bytes exceeds the limit of 2"
    )


# ---------------------------------------------------------------------------
# Numbers


def test_uint_error_texts() -> None:
    assert error(frame(b"\x04\x00")) == "unexpected end of message"
    assert error(frame(b"\x04\x00\xfe\x01")) == "unexpected end of message in uint"
    assert error(frame(b"\x04\x00\x80")) == "bad uint length byte 0x80"
    assert error(frame(b"\x04\x00\xf7" + bytes(9))) == "bad uint length byte 0xf7"


def test_uint_lengths_one_to_eight_bytes() -> None:
    assert decode(frame(b"\x06\x00\x7f"), gob.UINT) == 127
    assert decode(frame(b"\x06\x00\xff\x80"), gob.UINT) == 128
    assert decode(frame(b"\x06\x00\xf8" + bytes.fromhex("0102030405060708")), gob.UINT) == (
        0x0102030405060708
    )


# ---------------------------------------------------------------------------
# Values: ids, deltas, leftovers


def test_value_framing_error_texts() -> None:
    assert error(frame(b"\x00")) == "bad type id 0 for a value"
    assert error(frame(b"\x04\x01\x02")) == "corrupted data: non-zero delta for singleton"
    assert error(frame(b"\x04\x00\x02\x05")) == "1 bytes left over after a value"
    # Ids 9-15 are reserved: never a struct, never a value.
    assert error(frame(b"\x12\x01")) == "unknown type id 9"
    assert error(frame(b"\x12\x00")) == "unknown type id 9"


def test_field_with_type_id_zero() -> None:
    sender = gob.Struct("S", (gob.Field("A", gob.INT),))
    data = bytearray(encoded(sender, {"A": 1}))
    # The definition's field list ends "01 04 00 00 00": make the field's type id 0.
    at = data.index(bytes.fromhex("01 04 00 00 00"))
    data[at + 1] = 0x00
    assert error(bytes(data)) == "bad type id 0"


def test_depth_limit_is_inclusive() -> None:
    nested = gob.Slice(gob.Slice(gob.INT))  # the ints are at depth 2
    data = encoded(nested, [[1]])
    assert decode(data, nested, gob.Limits(max_depth=2)) == [[1]]
    assert error(data, nested, gob.Limits(max_depth=1)) == "value nested deeper than 1"
    by_map = gob.Map(gob.STRING, gob.Map(gob.STRING, gob.INT))  # keys and values at depth 2
    data = encoded(by_map, {"a": {"b": 1}})
    assert decode(data, by_map, gob.Limits(max_depth=2)) == {"a": {"b": 1}}
    assert error(data, by_map, gob.Limits(max_depth=1)) == "value nested deeper than 1"


def test_values_limit_is_inclusive() -> None:
    data = encoded(gob.Slice(gob.INT), [1, 2, 3])  # the slice and three ints: 4 values
    assert decode(data, None, gob.Limits(max_values=4)) == [1, 2, 3]
    assert error(data, None, gob.Limits(max_values=3)) == "more than 3 values in one message"


# ---------------------------------------------------------------------------
# Type mismatches


def test_mismatch_texts() -> None:
    assert (
        error(encoded(HOLDER, {}), gob.STRING)
        == "type mismatch: struct H on the wire, string locally"
    )
    assert error(encoded(wire.EMPTY, {}), gob.STRING) == (
        "type mismatch: struct ? on the wire, string locally"
    )
    assert error(encoded(gob.INTERFACE, None), gob.STRING) == (
        "type mismatch: interface on the wire, string locally"
    )
    assert error(encoded(gob.TIME, gob.ZERO_TIME), gob.STRING) == (
        "type mismatch: GobEncoder Time on the wire, string locally"
    )
    assert error(encoded(gob.Slice(gob.INT), [1]), gob.Map(gob.STRING, gob.STRING)) == (
        "type mismatch: slice on the wire, map[string]string locally"
    )
    assert error(encoded(gob.Slice(gob.INT), [1, 2]), gob.Array(gob.INT, 2)) == (
        "type mismatch: slice on the wire, [2]int locally"
    )
    assert error(encoded(gob.Array(gob.INT, 2), [1, 2]), gob.Slice(gob.INT)) == (
        "type mismatch: array on the wire, []int locally"
    )
    assert error(encoded(gob.Array(gob.INT, 3), [1, 2, 3]), gob.Array(gob.INT, 2)) == (
        "array length 3 on the wire, 2 locally"
    )
    assert error(encoded(gob.Map(gob.STRING, gob.INT), {}), gob.Slice(gob.INT)) == (
        "type mismatch: map on the wire, []int locally"
    )
    assert error(encoded(gob.Map(gob.INT, gob.STRING), {1: "a"}), wire.STRING_MAP) == (
        "type mismatch: int on the wire, string locally"
    )


def test_array_sent_with_the_wrong_count() -> None:
    data = encoded(gob.Array(gob.INT, 3), [1, 2, 3])
    value = frame(bytes.fromhex("ff 82 00 03 02 04 06"))
    assert data.endswith(value)
    short = data[: -len(value)] + frame(bytes.fromhex("ff 82 00 02 02 04"))
    assert error(short) == "array of length 3 sent with 2 elements"


def test_map_counts_and_keys() -> None:
    data = encoded(gob.Map(gob.STRING, gob.INT), {"a": 1})
    value = frame(bytes.fromhex("ff 82 00 01 01 61 02"))
    assert data.endswith(value)
    # Three entries claimed, three bytes left: each entry takes at least two.
    lying = data[: -len(value)] + frame(bytes.fromhex("ff 82 00 03 01 61 02"))
    assert error(lying) == "3 map entries cannot fit in 3 bytes"
    keyed_by_slice = gob.Map(gob.Slice(gob.INT), gob.INT)
    assert error(encoded(keyed_by_slice, {(1,): 2})) == "map key is not hashable"


# ---------------------------------------------------------------------------
# Interface values


@pytest.mark.parametrize(
    ("name", "gotype", "value"),
    [
        ("bool", gob.BOOL, True),
        ("int", gob.INT, -3),
        ("uint", gob.UINT, 3),
        ("float64", gob.FLOAT, 2.5),
        ("[]uint8", gob.BYTES, b"\x01"),
        ("string", gob.STRING, "x"),
        ("complex128", gob.COMPLEX, 1 - 2j),
    ],
)
def test_interface_values_keep_their_kind(name: str, gotype: gob.GoType, value: Any) -> None:
    decoded = decode(encoded(HOLDER, {"V": gob.InterfaceValue(name, gotype, value)}))["V"]
    assert decoded == gob.InterfaceValue(name, gotype, value)
    # What we decoded encodes back to the same bytes.
    assert encoded(HOLDER, {"V": decoded}) == encoded(
        HOLDER, {"V": gob.InterfaceValue(name, gotype, value)}
    )


def test_interface_holding_a_struct_decodes_generically() -> None:
    inner = gob.Struct("Inner", (gob.Field("B", gob.STRING),))
    decoded = decode(encoded(HOLDER, {"V": gob.InterfaceValue("main.Inner", inner, {"B": "b"})}))
    assert decoded["V"].name == "main.Inner" and decoded["V"].value == {"B": "b"}


def test_top_level_interface_value_fills_its_message() -> None:
    data = encoded(gob.INTERFACE, gob.InterfaceValue("string", gob.STRING, "x"))
    assert decode(data, gob.INTERFACE) == gob.InterfaceValue("string", gob.STRING, "x")


def test_interface_error_texts() -> None:
    # name "string", concrete id 6, byte count 2, but the value needs 3 bytes
    assert error(holder_value(b"\x06string\x0c\x02\x00\x02ab")) == (
        "length 2 runs past the end of the message"
    )
    assert error(holder_value(b"\x06string\x0c\x09\x00\x01x")) == (
        "interface value runs past the end of the message"
    )
    assert error(holder_value(b"\x06string\x0c\x03\x01\x01x")) == (
        "corrupted data: non-zero delta in interface value"
    )
    assert error(holder_value(b"\x01x\x12\x01\x01")) == "unknown type id 9"


def test_interface_depth_limit_is_inclusive() -> None:
    data = encoded(HOLDER, {"V": gob.InterfaceValue("string", gob.STRING, "x")})
    # struct at depth 0, the interface at 1, its string at 2
    assert decode(data, None, gob.Limits(max_depth=2))["V"].value == "x"
    assert error(data, None, gob.Limits(max_depth=1)) == "value nested deeper than 1"


# ---------------------------------------------------------------------------
# Encoding errors


@pytest.mark.parametrize(
    ("gotype", "value", "text"),
    [
        (gob.STRING, 5, "expected str, got int"),
        (gob.INT, "5", "expected int, got str"),
        (gob.UINT, 1.5, "expected int, got float"),
        (gob.BYTES, "s", "expected bytes, got str"),
    ],
)
def test_encoding_the_wrong_python_type(gotype: gob.GoType, value: Any, text: str) -> None:
    with pytest.raises(gob.GobError) as caught:
        encoded(gotype, value)
    assert str(caught.value) == text


def test_bool_false_and_complex_bytes() -> None:
    assert encoded(gob.BOOL, False).hex(" ") == "03 02 00 00"
    assert decode(encoded(gob.COMPLEX, 1.5 - 17j), gob.COMPLEX) == 1.5 - 17j


# ---------------------------------------------------------------------------
# time.Time's binary form


def time_form(version: int, seconds: int, nanos: int, minutes: int, extra: bytes = b"") -> bytes:
    return (
        bytes([version])
        + seconds.to_bytes(8, "big", signed=True)
        + nanos.to_bytes(4, "big", signed=True)
        + minutes.to_bytes(2, "big", signed=True)
        + extra
    )


def time_error(data: bytes) -> str:
    with pytest.raises(gob.GobError) as caught:
        gob.TIME.decode(data)
    return str(caught.value)


def test_time_binary_form_errors() -> None:
    good = time_form(1, 63_000_000_000, 0, -1)
    assert gob.TIME.decode(good).tzinfo is dt.UTC
    assert time_error(good[:14]) == "time.Time: bad binary form of 14 bytes"
    assert time_error(time_form(2, 63_000_000_000, 0, -1)) == (
        "time.Time: bad binary form of 15 bytes"
    )
    assert time_error(time_form(1, 63_000_000_000, 0, 60, b"\x01")) == (
        "time.Time: bad binary form of 16 bytes"
    )
    assert time_error(time_form(3, 63_000_000_000, 0, -1)) == (
        "time.Time: bad binary form of 15 bytes"
    )
    assert gob.TIME.decode(time_form(1, 63_000_000_000, 999_999_999, -1)).microsecond == 999_999
    assert time_error(time_form(1, 63_000_000_000, 1_000_000_000, -1)) == (
        "time.Time: nanoseconds out of range"
    )
    assert time_error(time_form(1, 63_000_000_000, -1, -1)) == "time.Time: nanoseconds out of range"
    assert time_error(time_form(1, 2**62, 0, -1)) == (
        "time.Time: outside the range Python can represent"
    )
    assert time_error(time_form(1, 63_000_000_000, 0, 1440)) == "time.Time: bad zone offset"


def test_time_encoding_needs_an_aware_datetime() -> None:
    for value in (dt.datetime(2024, 1, 1), "2024-01-01"):
        with pytest.raises(gob.GobError) as caught:
            gob.TIME.encode(value)
        assert str(caught.value) == "time.Time values must be timezone-aware datetimes"


def test_a_zone_at_utc_that_is_not_utc_is_offset_zero() -> None:
    # Go writes offset -1 only for time.UTC; any other zone at +00:00 is 0 minutes.
    london_winter = dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(0), "GMT"))
    assert gob.TIME.encode(london_winter)[-2:] == b"\x00\x00"
    assert gob.TIME.encode(london_winter.replace(tzinfo=dt.UTC))[-2:] == b"\xff\xff"


def test_zero_time_is_left_out_of_a_struct() -> None:
    request = wire.MeasureDurationMsSinceRequest("k")
    assert encoded(wire.MEASURE_DURATION_REQUEST, request).endswith(
        frame(bytes.fromhex("ff 82 01 01 6b 00"))
    )


# ---------------------------------------------------------------------------
# Type definitions from the peer


def definition(body: str) -> bytes:
    """A definition message for type id 65 (ff 81 is int -65)."""
    return frame(bytes.fromhex("ff 81 " + body))


def test_definition_error_texts() -> None:
    assert error(definition("08 00")) == "bad wireType field 7"
    assert error(definition("")) == "unexpected end of message"
    assert error(definition("00")) == "empty wireType"
    # a SliceT {CommonType{Id: 65}, Elem int}, then an ArrayT too
    assert error(definition("02 01 02 ff 82 00 01 04 00 01 00 00")) == (
        "wireType with more than one variant set"
    )
    assert error(definition("02 01 02 ff 82 00 02 04 00 00")) == (
        "bad field 2 in a slice type definition"
    )
    assert error(definition("05 01 02 ff 82 00 01 04 00 00")) == (
        "bad field 1 in a gob type definition"
    )
    assert error(definition("02 01 03 00 00 00")) == "bad CommonType field 2"
    assert error(definition("01 01 02 ff 82 00 01 04 01 01 00 00")) == "negative array length"
    assert error(frame(bytes.fromhex("7d 02 01 04 00 00"))) == "type id 63 is reserved"
    assert error(definition("02 01 02 ff 82 00 01 04 00 00 01")) == (
        "extra data in buffer after a type definition"
    )


def test_zero_length_array_is_a_type() -> None:
    assert decode(encoded(gob.Array(gob.INT, 0), []), gob.Array(gob.INT, 0)) == []


def test_struct_definition_field_counts() -> None:
    three = gob.Struct("T", tuple(gob.Field(name, gob.INT) for name in "ABC"))
    data = encoded(three, {"A": 1})
    assert decode(data, None, gob.Limits(max_struct_fields=3)) == {"A": 1}
    assert error(data, None, gob.Limits(max_struct_fields=2)) == "struct definition with 3 fields"
    # Two fields claimed, the message ends after them: no room for the terminators.
    assert error(definition("03 01 02 ff 82 00 01 02 00 00")) == "unexpected end of message"
    # fieldType{Name omitted, Id int}: a field with no name; then {Name "A", Id omitted}
    nameless = definition("03 01 02 ff 82 00 01 01 02 04 00 00 00") + frame(b"\xff\x82\x01\x02\x00")
    assert decode(nameless) == {"": 1}
    idless = definition("03 01 02 ff 82 00 01 01 01 01 41 00 00 00") + frame(
        b"\xff\x82\x01\x02\x00"
    )
    assert error(idless) == "bad type id 0"
    assert error(definition("03 01 02 ff 82 00 01 01 03 00 00 00")) == "bad fieldType field 2"


def test_type_definition_limit_is_inclusive() -> None:
    pair = gob.Struct("P", (gob.Field("A", gob.Slice(gob.INT)),))  # two definitions
    data = encoded(pair, {"A": [1]})
    assert decode(data, None, gob.Limits(max_types=2)) == {"A": [1]}
    assert error(data, None, gob.Limits(max_types=1)) == "more than 1 type definitions"


def test_a_value_waiting_for_its_second_message_counts_its_types_once() -> None:
    # Go's WithIface{V: Inner{..}}: three types, the value split over two messages.
    go_bytes = bytes.fromhex(load_fixture()["struct_iface_struct"]["hex"])
    assert decode(go_bytes, None, gob.Limits(max_types=3))["V"].value == {"B": "in", "C": [1]}
    decoder = gob.Decoder(gob.Limits(max_types=3))
    decoder.feed(go_bytes[:-1])
    assert decoder.next_value(None) is gob.Decoder.NEED_MORE
    assert decoder.messages_pending()
    decoder.feed(go_bytes[-1:])
    assert decoder.next_value(None)["V"].value == {"B": "in", "C": [1]}
    assert not decoder.messages_pending()
    decoder = gob.Decoder(gob.Limits(max_types=3))
    for byte in go_bytes:
        decoder.feed(bytes([byte]))
        value = decoder.next_value(None)
    assert value["V"].value == {"B": "in", "C": [1]}


# ---------------------------------------------------------------------------
# Structs


def test_struct_error_texts() -> None:
    anonymous = gob.Struct("", (gob.Field("A", gob.INT),))
    local = gob.Struct("L", (gob.Field("A", gob.STRING),))
    assert error(encoded(anonymous, {"A": 1}), local) == (
        "struct.A: type mismatch: int on the wire, string locally"
    )
    # field delta 2 where the struct has one field
    assert error(HOLDER_DEFINITION + frame(b"\xff\x82\x02\x00\x00")) == (
        "field number 1 out of range in struct H"
    )

    def only_positional(a: int) -> int:
        return a

    strict = gob.Struct("S", (gob.Field("A", gob.INT),), only_positional)
    message = error(encoded(anonymous, {"A": 1}), strict)
    assert message.startswith("cannot build S: "), message


def test_a_struct_declared_here_decodes_to_its_factory() -> None:
    @dataclasses.dataclass
    class Point:
        x: int = 0

    point = gob.Struct("Point", (gob.Field("X", gob.INT, "x"),), Point)
    assert point.by_name["X"].py_name == "x"
    assert decode(encoded(point, Point(3)), point) == Point(3)


def test_struct_field_depths_are_inclusive() -> None:
    holder = gob.Struct("S", (gob.Field("A", gob.Slice(gob.INT)),))  # ints at depth 2
    other = gob.Struct("S", (gob.Field("B", gob.INT),))  # A is unknown there: skipped
    data = encoded(holder, {"A": [1]})
    for local, path in ((holder, "S.A: "), (other, "")):
        decode(data, local, gob.Limits(max_depth=2))
        assert error(data, local, gob.Limits(max_depth=1)) == f"{path}value nested deeper than 1"


@pytest.mark.parametrize(
    ("field_type", "value"),
    [(gob.STRING, "x"), (gob.INT, -3), (gob.UINT, 7), (gob.BYTES, b"\x00b"), (gob.BOOL, True)],
)
def test_scalar_fields_of_a_local_struct_keep_the_limits(field_type: gob.Basic, value: Any) -> None:
    """Scalar fields of a struct known here decode inline: at the same depth and value
    counts, with the same words, as every other value."""
    inner = gob.Struct("In", (gob.Field("A", field_type), gob.Field("B", field_type)))
    outer = gob.Struct("Out", (gob.Field("I", inner),))  # A and B at depth 2
    data = encoded(outer, {"I": {"A": value, "B": value}})
    assert decode(data, outer, gob.Limits(max_depth=2)) == {"I": {"A": value, "B": value}}
    assert decode(data, None, gob.Limits(max_depth=2)) == {"I": {"A": value, "B": value}}
    expected = "Out.I: In.A: value nested deeper than 1"
    assert error(data, outer, gob.Limits(max_depth=1)) == expected
    # Out, I, A, B: four values.
    assert decode(data, outer, gob.Limits(max_values=4)) == {"I": {"A": value, "B": value}}
    expected = "Out.I: In.B: more than 3 values in one message"
    assert error(data, outer, gob.Limits(max_values=3)) == expected
    assert error(data, None, gob.Limits(max_values=3)) == "more than 3 values in one message"


def test_a_string_field_longer_than_its_message_is_refused_in_its_words() -> None:
    local = gob.Struct("S", (gob.Field("A", gob.STRING),))
    data = bytearray(encoded(local, {"A": "abc"}))
    assert data.endswith(b"\x01\x03abc\x00")  # field 0, length 3, the bytes, end of struct
    data[-5] = 5  # the 3 bytes, the end marker, and one byte more than the message holds
    for expected in (local, None):
        assert error(bytes(data), expected).endswith("length 5 runs past the end of the message")
    assert error(bytes(data), local) == "S.A: length 5 runs past the end of the message"


def test_a_scalar_field_of_another_kind_here_is_refused_in_its_words() -> None:
    sender = gob.Struct("S", (gob.Field("A", gob.STRING),))
    local = gob.Struct("S", (gob.Field("A", gob.INT),))
    data = encoded(sender, {"A": "x"})
    assert error(data, local) == "S.A: type mismatch: string on the wire, int locally"


def test_map_key_depth_is_counted() -> None:
    by_array = gob.Map(gob.Array(gob.INT, 1), gob.INT)  # the key's int at depth 2
    data = encoded(by_array, {(5,): 1})
    assert error(data, None, gob.Limits(max_depth=1)) == "value nested deeper than 1"
    assert error(data, None, gob.Limits(max_depth=2)) == "map key is not hashable"


def test_interface_concrete_id_zero_and_generic_kinds() -> None:
    assert error(holder_value(b"\x01x\x00\x01\x00")) == "bad type id 0"
    inner = gob.Struct("Inner", (gob.Field("B", gob.STRING),))
    decoded = decode(encoded(HOLDER, {"V": gob.InterfaceValue("main.Inner", inner, {"B": "b"})}))
    assert decoded["V"].type is gob.INTERFACE  # a struct's declaration is not known here
    assert error(encoded(gob.INT, 1), gob.INTERFACE) == (
        "type mismatch: int on the wire, interface{} locally"
    )


# ---------------------------------------------------------------------------
# Encoding


def test_encoding_error_texts() -> None:
    cases: list[tuple[gob.GoType, Any, str]] = [
        (gob.UINT, -1, "uint out of range: -1"),
        (gob.UINT, 2**64, f"uint out of range: {2**64}"),
        (gob.INT, 2**63, f"int out of range: {2**63}"),
        (
            gob.Slice(gob.FLOAT),
            [10**400],
            "cannot encode []float: int too large to convert to float",
        ),
        (gob.Array(gob.INT, 3), None, "array needs 3 elements, got 0"),
        (gob.Array(gob.INT, 3), [1], "array needs 3 elements, got 1"),
        (gob.INTERFACE, "x", "interface values must be None or a named InterfaceValue"),
        (
            gob.INTERFACE,
            gob.InterfaceValue("", gob.INT, 1),
            "interface values must be None or a named InterfaceValue",
        ),
    ]
    for gotype, value, text in cases:
        with pytest.raises(gob.GobError) as caught:
            encoded(gotype, value)
        assert str(caught.value) == text


def test_a_nil_struct_value_encodes_as_an_empty_one() -> None:
    anonymous = gob.Struct("", (gob.Field("A", gob.INT),))
    assert encoded(anonymous, None) == encoded(anonymous, {})


def test_type_names_are_sent() -> None:
    for gotype, value in [
        (gob.Slice(gob.INT, "Ints"), [1]),
        (gob.Array(gob.INT, 1, "Ints"), [1]),
        (gob.Map(gob.STRING, gob.INT, "Ints"), {}),
        (gob.GobEncoded("Ints", lambda v: b"", lambda b: None, lambda v: False), 0),
    ]:
        assert b"\x04Ints" in encoded(gotype, value)


def test_a_nameless_gob_encoder_type_is_named_empty() -> None:
    nameless = gob.GobEncoded("", lambda v: b"\x01", lambda b: b, lambda v: False)
    assert error(encoded(nameless, 0), gob.STRING) == (
        "type mismatch: GobEncoder  on the wire, string locally"
    )


@pytest.mark.parametrize(
    ("length", "prefix"),
    [(0, b"\x00"), (127, b"\x7f"), (128, b"\xff\x80"), (255, b"\xff\xff"), (256, b"\xfe\x01\x00")],
)
def test_string_and_bytes_lengths_on_both_sides_of_one_byte(length: int, prefix: bytes) -> None:
    """The gob spec's uint: under 128 one byte, else the byte count negated and the value
    big-endian (written out here by hand, not by the encoder)."""
    for encode, value in (
        (gob.encode_string, "a" * length),
        (gob.encode_bytes, b"a" * length),
    ):
        out = bytearray()
        encode(out, value)  # type: ignore[operator]
        assert bytes(out) == prefix + b"a" * length
