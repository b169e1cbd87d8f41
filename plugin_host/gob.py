"""Go's encoding/gob, the subset net/rpc plugins exchange, as a pure codec.

No maintained Python implementation exists, and go-plugin's net/rpc protocol is
gob all the way down. This module knows nothing of sockets: an `Encoder` turns
values into framed messages, a `Decoder` is fed bytes and hands back values.
Both keep the per-connection type registry gob requires: a type definition is
sent once per encoder and remembered for the decoder's lifetime.

Values are described by *local* types (`GoType`) the way a Go program declares
them; the wire carries the sender's own type definitions and the decoder
matches the two the way Go does (struct fields by name, unknown wire fields
skipped, missing ones left at their zero value). Decoding is defensive: every
limit in `Limits` is checked before memory is committed, and every malformed
input raises `GobError`, never anything else.
"""

from __future__ import annotations

import builtins
import datetime as dt
import struct as _struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from plugin_host.errors import ProtocolError


class GobError(ProtocolError):
    """The gob stream is malformed, too large, or does not match the local type."""


class GobValueError(GobError):
    """One value could not be decoded; the stream itself is still in step.

    net/rpc answers such a request with an error and keeps the connection.
    """


# ---------------------------------------------------------------------------
# Local types


class GoType:
    """A Go type as the local program declares it."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Basic(GoType):
    """One of gob's predefined scalar kinds (`kind` is the predefined type id)."""

    kind: int
    name: str


BOOL: Final = Basic(1, "bool")
INT: Final = Basic(2, "int")
UINT: Final = Basic(3, "uint")
FLOAT: Final = Basic(4, "float")
BYTES: Final = Basic(5, "[]byte")
STRING: Final = Basic(6, "string")
COMPLEX: Final = Basic(7, "complex")


@dataclass(frozen=True, slots=True)
class Interface(GoType):
    """`interface{}`: decodes to None (nil) or an `InterfaceValue`."""


INTERFACE: Final = Interface()


@dataclass(frozen=True, slots=True)
class Slice(GoType):
    elem: GoType
    name: str = ""


@dataclass(frozen=True, slots=True)
class Array(GoType):
    elem: GoType
    length: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class Map(GoType):
    key: GoType
    elem: GoType
    name: str = ""


@dataclass(frozen=True, slots=True)
class Field:
    """A struct field: its Go name (what the wire matches on) and its Python attribute.

    `pointer` marks a `*Struct` field: Python None means a nil pointer (omitted
    on the wire), anything else is sent even when all its fields are zero.
    """

    go_name: str
    type: GoType
    attr: str = ""
    pointer: bool = False

    @property
    def py_name(self) -> str:
        return self.attr or self.go_name


class Struct(GoType):
    """A Go struct. With a `factory` values are objects built by `factory(**attrs)`
    and read with `getattr`; without one they are dicts keyed by Go field name.

    Struct types compare by identity: two declarations are two Go types.
    """

    __slots__ = ("by_name", "encode_fields", "factory", "fields", "name")

    def __init__(
        self,
        name: str,
        fields: tuple[Field, ...],
        factory: Callable[..., Any] | None = None,
        *,
        encode_fields: Callable[[bytearray, Any], None] | None = None,
    ) -> None:
        self.name = name
        self.fields = fields
        self.factory = factory
        self.by_name: Mapping[str, Field] = {f.go_name: f for f in fields}
        self.encode_fields = encode_fields
        """Optional hand-written encoder of a value's fields (deltas, values, the final 0),
        for structs on a hot path; it must write exactly what the generic encoder writes
        (tests compare the two). The generic encoder walks the field list for every value."""

    def __repr__(self) -> str:
        return f"Struct({self.name!r})"


@dataclass(frozen=True, slots=True)
class GobEncoded(GoType):
    """A type with its own binary form (Go's GobEncoder), such as `time.Time`."""

    name: str
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]
    is_zero: Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class InterfaceValue:
    """A non-nil interface value: the name it was registered under, its type and value."""

    name: str
    type: GoType
    value: Any


# ---------------------------------------------------------------------------
# time.Time (a GobEncoder: MarshalBinary, version 1 or 2)

_GO_EPOCH: Final = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
ZERO_TIME: Final = _GO_EPOCH


def _encode_time(value: Any) -> bytes:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise GobError("time.Time values must be timezone-aware datetimes")
    offset = value.utcoffset() or dt.timedelta(0)
    utc = value.astimezone(dt.UTC)
    delta = utc - _GO_EPOCH
    seconds = delta.days * 86400 + delta.seconds
    nanos = delta.microseconds * 1000
    if value.tzinfo is dt.UTC:
        offset_minutes, offset_seconds = -1, 0
    else:
        total = int(offset.total_seconds())
        offset_minutes, offset_seconds = divmod(total, 60)
    if offset_seconds:
        return _struct.pack(">BqihB", 2, seconds, nanos, offset_minutes, offset_seconds)
    return _struct.pack(">Bqih", 1, seconds, nanos, offset_minutes)


def _decode_time(data: bytes) -> dt.datetime:
    if len(data) not in (15, 16) or data[0] not in (1, 2) or (data[0] == 2) != (len(data) == 16):
        raise GobError(f"time.Time: bad binary form of {len(data)} bytes")
    _, seconds, nanos, offset_minutes = _struct.unpack(">Bqih", data[:15])
    offset_seconds = data[15] if len(data) == 16 else 0
    if not 0 <= nanos < 1_000_000_000:
        raise GobError("time.Time: nanoseconds out of range")
    try:
        utc = _GO_EPOCH + dt.timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError as exc:
        raise GobError("time.Time: outside the range Python can represent") from exc
    if offset_minutes == -1:
        return utc
    try:
        zone = dt.timezone(dt.timedelta(minutes=offset_minutes, seconds=offset_seconds))
        return utc.astimezone(zone)
    except (ValueError, OverflowError) as bad_zone:
        raise GobError("time.Time: bad zone offset") from bad_zone


def _time_is_zero(value: Any) -> bool:
    return isinstance(value, dt.datetime) and value == _GO_EPOCH


TIME: Final = GobEncoded("Time", _encode_time, _decode_time, _time_is_zero)


# ---------------------------------------------------------------------------
# Limits


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what a peer may make the decoder do. Defaults suit plugin RPC."""

    max_message_bytes: int = 64 * 1024 * 1024
    """Largest single gob message accepted (Go's own limit is 1-8 GiB)."""
    max_depth: int = 64
    """Deepest nesting of structs, slices, maps and interfaces in one value."""
    max_types: int = 4096
    """Type definitions one connection may send."""
    max_struct_fields: int = 1024
    """Fields in one struct type definition."""
    max_values: int = 1_000_000
    """Values (elements, entries, fields) decoded from one message: an empty
    struct costs one byte on the wire but a whole object in memory."""


# ---------------------------------------------------------------------------
# Primitive encoding

_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
_UINT64_MAX: Final = (1 << 64) - 1


def encode_uint(out: bytearray, value: int) -> None:
    if value < 128:
        if value < 0:
            raise GobError(f"uint out of range: {value}")
        out.append(value)
        return
    if value > _UINT64_MAX:
        raise GobError(f"uint out of range: {value}")
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    out.append(256 - len(raw))
    out += raw


def encode_int(out: bytearray, value: int) -> None:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise GobError(f"int out of range: {value}")
    encode_uint(out, (value << 1) if value >= 0 else ((~value << 1) | 1))


def _float_bits(value: float) -> int:
    # Go sends the IEEE-754 bits byte-reversed, so small exponents compress.
    bits: int = _struct.unpack("<Q", _struct.pack(">d", value))[0]
    return bits


def _bits_float(bits: int) -> float:
    value: float = _struct.unpack(">d", _struct.pack("<Q", bits))[0]
    return value


# ---------------------------------------------------------------------------
# Wire types (the peer's type definitions)

_BOOTSTRAP_LIMIT: Final = 64  # Go refuses user type ids below this.
FIRST_USER_ID: Final = 65


@dataclass(slots=True)
class WireType:
    """A type definition received from the peer."""

    kind: str  # "struct" | "slice" | "array" | "map" | "gob" (GobEncoder/Binary/Text)
    name: str = ""
    elem: int = 0
    key: int = 0
    length: int = 0
    fields: list[tuple[str, int]] = field(default_factory=list)


_WIRE_KINDS: Final = {0: "array", 1: "slice", 2: "struct", 3: "map", 4: "gob", 5: "gob", 6: "gob"}

# The predefined definitions of the wireType machinery itself (ids 16-23).
_PREDEFINED: Final[dict[int, WireType]] = {
    16: WireType(
        "struct",
        "wireType",
        fields=[
            ("ArrayT", 17),
            ("SliceT", 19),
            ("StructT", 20),
            ("MapT", 23),
            ("GobEncoderT", 18),
            ("BinaryMarshalerT", 18),
            ("TextMarshalerT", 18),
        ],
    ),
    17: WireType("struct", "arrayType", fields=[("CommonType", 18), ("Elem", 2), ("Len", 2)]),
    18: WireType("struct", "CommonType", fields=[("Name", 6), ("Id", 2)]),
    19: WireType("struct", "sliceType", fields=[("CommonType", 18), ("Elem", 2)]),
    20: WireType("struct", "structType", fields=[("CommonType", 18), ("Field", 22)]),
    21: WireType("struct", "fieldType", fields=[("Name", 6), ("Id", 2)]),
    22: WireType("slice", "[]fieldType", elem=21),
    23: WireType("struct", "mapType", fields=[("CommonType", 18), ("Key", 2), ("Elem", 2)]),
}


# ---------------------------------------------------------------------------
# Encoder


class Encoder:
    """Encodes values for one connection direction; sends each type definition once."""

    def __init__(self) -> None:
        self._ids: dict[GoType, int] = {}
        self._next_id = FIRST_USER_ID
        self._early_definitions = bytearray()

    def encode(self, gotype: GoType, value: Any) -> bytes:
        """Return the framed messages (type definitions first) for one top-level value.

        On failure nothing is remembered, so the next value sends its definitions.
        """
        saved = self.checkpoint()
        try:
            return self._encode(gotype, value)
        except Exception as exc:  # any failure: OverflowError, a bad attribute, ...
            self.rollback(saved)
            if isinstance(exc, GobError):
                raise
            raise GobError(f"cannot encode {_describe(gotype)}: {exc}") from exc

    def checkpoint(self) -> int:
        """The registry as it is now; `rollback` returns to it when encoded bytes are dropped."""
        return self._next_id

    def rollback(self, saved: int) -> None:
        """Forget definitions encoded since `saved`: their bytes never reached the peer."""
        if self._next_id != saved:
            self._ids = {
                gotype: type_id for gotype, type_id in self._ids.items() if type_id < saved
            }
            self._next_id = saved

    def _encode(self, gotype: GoType, value: Any) -> bytes:
        out = bytearray()
        self._send_definitions(out, gotype)
        self._early_definitions = out
        body = bytearray()
        type_id = self._type_id(gotype)
        encode_int(body, type_id)
        if isinstance(gotype, Struct):
            self._encode_struct(body, gotype, value)
        else:
            body.append(0)  # singleton: field delta 0
            self._encode_value(body, gotype, value)
        _frame(out, body)
        return bytes(out)

    # -- type registry ------------------------------------------------------

    def _type_id(self, gotype: GoType) -> int:
        if isinstance(gotype, Basic):
            return gotype.kind
        if isinstance(gotype, Interface):
            return 8
        return self._ids[gotype]

    def _send_definitions(self, out: bytearray, gotype: GoType) -> None:
        pending: list[GoType] = []
        self._assign_ids(gotype, pending)
        for new_type in pending:
            body = bytearray()
            encode_int(body, -self._ids[new_type])
            self._encode_wire_type(body, new_type)
            _frame(out, body)

    def _assign_ids(self, gotype: GoType, pending: list[GoType]) -> None:
        if isinstance(gotype, Basic | Interface) or gotype in self._ids:
            return
        self._ids[gotype] = self._next_id
        self._next_id += 1
        pending.append(gotype)
        if isinstance(gotype, Slice | Array):
            self._assign_ids(gotype.elem, pending)
        elif isinstance(gotype, Map):
            self._assign_ids(gotype.key, pending)
            self._assign_ids(gotype.elem, pending)
        elif isinstance(gotype, Struct):
            for struct_field in gotype.fields:
                self._assign_ids(struct_field.type, pending)

    def _encode_wire_type(self, out: bytearray, gotype: GoType) -> None:
        # wireType is itself a struct: (field delta, value)* 0. Its one set field
        # holds a struct whose first field is CommonType{Name, Id}.
        type_id = self._ids[gotype]

        def common(name: str) -> None:
            out.append(1)  # CommonType is field 0 of every xxxType
            if name:
                out.append(1)
                _encode_string(out, name)
                out.append(1)
            else:
                out.append(2)
            encode_int(out, type_id)
            out.append(0)

        if isinstance(gotype, Array):
            out.append(1)  # ArrayT
            common(gotype.name)
            out.append(1)
            encode_int(out, self._type_id(gotype.elem))
            out.append(1)
            encode_int(out, gotype.length)
            out.append(0)
        elif isinstance(gotype, Slice):
            out.append(2)  # SliceT
            common(gotype.name)
            out.append(1)
            encode_int(out, self._type_id(gotype.elem))
            out.append(0)
        elif isinstance(gotype, Struct):
            out.append(3)  # StructT
            common(gotype.name)
            if gotype.fields:
                out.append(1)
                encode_uint(out, len(gotype.fields))
                for struct_field in gotype.fields:
                    out.append(1)
                    _encode_string(out, struct_field.go_name)
                    out.append(1)
                    encode_int(out, self._type_id(struct_field.type))
                    out.append(0)
            out.append(0)
        elif isinstance(gotype, Map):
            out.append(4)  # MapT
            common(gotype.name)
            out.append(1)
            encode_int(out, self._type_id(gotype.key))
            out.append(1)
            encode_int(out, self._type_id(gotype.elem))
            out.append(0)
        elif isinstance(gotype, GobEncoded):
            out.append(5)  # GobEncoderT
            common(gotype.name)
            out.append(0)
        else:  # pragma: no cover - Basic and Interface are predefined
            raise GobError(f"no definition for {gotype!r}")
        out.append(0)

    # -- values -------------------------------------------------------------

    def _encode_struct(self, out: bytearray, gotype: Struct, value: Any) -> None:
        if gotype.encode_fields is not None:
            gotype.encode_fields(out, value)
            return
        last = -1
        as_dict = gotype.factory is None
        for index, struct_field in enumerate(gotype.fields):
            if as_dict:
                item = value.get(struct_field.go_name) if value is not None else None
            else:
                item = getattr(value, struct_field.py_name)
            if _omitted(struct_field, item):
                continue
            encode_uint(out, index - last)
            last = index
            self._encode_value(out, struct_field.type, item)
        out.append(0)

    def _encode_value(self, out: bytearray, gotype: GoType, value: Any) -> None:
        if isinstance(gotype, Basic):
            _encode_basic(out, gotype.kind, value)
        elif isinstance(gotype, Struct):
            self._encode_struct(out, gotype, value)
        elif isinstance(gotype, Slice):
            items = value or ()
            encode_uint(out, len(items))
            for item in items:
                self._encode_value(out, gotype.elem, item)
        elif isinstance(gotype, Array):
            items = list(value) if value is not None else []
            if len(items) != gotype.length:
                raise GobError(f"array needs {gotype.length} elements, got {len(items)}")
            encode_uint(out, gotype.length)
            for item in items:
                self._encode_value(out, gotype.elem, item)
        elif isinstance(gotype, Map):
            entries = value or {}
            encode_uint(out, len(entries))
            for key, item in entries.items():
                self._encode_value(out, gotype.key, key)
                self._encode_value(out, gotype.elem, item)
        elif isinstance(gotype, Interface):
            self._encode_interface(out, value)
        elif isinstance(gotype, GobEncoded):
            _encode_bytes(out, gotype.encode(value))
        else:  # pragma: no cover
            raise GobError(f"cannot encode {gotype!r}")

    def _encode_interface(self, out: bytearray, value: Any) -> None:
        if value is None:
            out.append(0)
            return
        if not isinstance(value, InterfaceValue) or not value.name:
            raise GobError("interface values must be None or a named InterfaceValue")
        _encode_string(out, value.name)
        # As in Go, the concrete type's definitions go out as messages of their
        # own, ahead of the message that holds this value.
        self._send_definitions(self._early_definitions, value.type)
        encode_int(out, self._type_id(value.type))
        inner = bytearray()
        if isinstance(value.type, Struct):
            self._encode_struct(inner, value.type, value.value)
        else:
            inner.append(0)
            self._encode_value(inner, value.type, value.value)
        encode_uint(out, len(inner))
        out += inner


def _omitted(struct_field: Field, value: Any) -> bool:
    """Gob leaves zero values out of structs; nested struct values are always sent."""
    if value is None:
        return True
    gotype = struct_field.type
    if isinstance(gotype, Struct):
        return False
    if isinstance(gotype, Basic):
        return not value
    if isinstance(gotype, Slice):
        return len(value) == 0
    if isinstance(gotype, GobEncoded):
        return gotype.is_zero(value)
    return False  # maps (non-nil, even empty), arrays, non-nil interfaces


def _encode_basic(out: bytearray, kind: int, value: Any) -> None:
    if kind == 6:
        if not isinstance(value, str):
            raise GobError(f"expected str, got {type(value).__name__}")
        _encode_string(out, value)
    elif kind == 2:
        if not isinstance(value, int):
            raise GobError(f"expected int, got {type(value).__name__}")
        encode_int(out, value)
    elif kind == 3:
        if not isinstance(value, int):
            raise GobError(f"expected int, got {type(value).__name__}")
        encode_uint(out, value)
    elif kind == 1:
        out.append(1 if value else 0)
    elif kind == 4:
        encode_uint(out, _float_bits(float(value)))
    elif kind == 5:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise GobError(f"expected bytes, got {type(value).__name__}")
        _encode_bytes(out, bytes(value))
    elif kind == 7:
        number = complex(value)
        encode_uint(out, _float_bits(number.real))
        encode_uint(out, _float_bits(number.imag))
    else:  # pragma: no cover
        raise GobError(f"unknown basic kind {kind}")


def _encode_string(out: bytearray, value: str) -> None:
    raw = value.encode("utf-8", "surrogateescape")
    length = len(raw)
    if length < 128:  # the usual case, without encode_uint's call (a router sends ~8 a request)
        out.append(length)
    else:
        encode_uint(out, length)
    out += raw


def _encode_bytes(out: bytearray, value: bytes) -> None:
    length = len(value)
    if length < 128:
        out.append(length)
    else:
        encode_uint(out, length)
    out += value


# Public names for the hand-written struct encoders (Struct.encode_fields) of other modules.
encode_string: Final = _encode_string
encode_bytes: Final = _encode_bytes


def _frame(out: bytearray, body: bytearray) -> None:
    encode_uint(out, len(body))
    out += body


# ---------------------------------------------------------------------------
# Decoder


class _Reader:
    """A cursor over one message; every read is bounds-checked."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def uint(self) -> int:
        pos = self.pos
        if pos >= self.end:
            raise GobError("unexpected end of message")
        first = self.data[pos]
        if first < 128:
            self.pos = pos + 1
            return first
        count = 256 - first
        if count > 8:
            raise GobError(f"bad uint length byte 0x{first:02x}")
        stop = pos + 1 + count
        if stop > self.end:
            raise GobError("unexpected end of message in uint")
        self.pos = stop
        return int.from_bytes(self.data[pos + 1 : stop], "big")

    def int(self) -> int:
        raw = self.uint()
        return ~(raw >> 1) if raw & 1 else raw >> 1

    def raw(self, count: builtins.int) -> bytes:
        stop = self.pos + count
        if count < 0 or stop > self.end:
            raise GobError(f"length {count} runs past the end of the message")
        chunk = self.data[self.pos : stop]
        self.pos = stop
        return bytes(chunk)

    def string(self) -> str:
        # Go strings may hold any bytes; surrogate escapes keep them exactly, so
        # they survive a round trip (and hash the same as in Go).
        return self.raw(self.uint()).decode("utf-8", "surrogateescape")


_FieldPlan = tuple[str, str | None, int, "GoType | None", int]
"""A wire field's name, the local field's Python name (None: not here, skipped), the
wire type id, the local type, and the scalar kind decoded inline (0: by `_decode`)."""

_FAST_KINDS: Final = frozenset({1, 2, 3, 5, 6})
"""bool, int, uint, []byte and string: the scalars a struct field decodes inline."""


class _Incomplete(Exception):
    """A value continues in a message that has not arrived yet."""


class Decoder:
    """Decodes the values of one connection direction.

    Feed it bytes with `feed`; `next_value` returns the next value (consuming any
    type definitions in front of it) or `NEED_MORE` until a whole message is there.
    """

    NEED_MORE: Final = object()

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._wire: dict[int, WireType] = dict(_PREDEFINED)
        self._buffer = bytearray()
        self._received_types = 0
        self._values_left = self.limits.max_values
        # The frames taken and the types defined while decoding the current value,
        # given back if the value turns out to continue in a message not yet here.
        self._frames: list[bytes] = []
        self._new_types: list[int] = []
        self._plans: dict[tuple[int, int], tuple[WireType, Struct, list[_FieldPlan]]] = {}

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_value(self, expected: GoType | None) -> Any:
        """Decode the next value as `expected` (None: decode generically, e.g. to skip it)."""
        while True:
            self._frames, self._new_types = [], []
            message = self._next_message()
            if message is None:
                return Decoder.NEED_MORE
            reader = _Reader(message)
            type_id = reader.int()
            if type_id < 0:
                self._receive_type(reader, -type_id)
                if reader.remaining():
                    raise GobError("extra data in buffer after a type definition")
                continue
            self._values_left = self.limits.max_values
            try:
                return self._decode_top(reader, type_id, expected)
            except _Incomplete:
                self._buffer[:0] = b"".join(self._frames)
                for new_type in self._new_types:
                    del self._wire[new_type]
                self._received_types -= len(self._new_types)
                return Decoder.NEED_MORE
            except GobValueError:
                raise
            except GobError as exc:
                raise GobValueError(str(exc)) from None

    def messages_pending(self) -> bool:
        return bool(self._buffer)

    def _next_message(self) -> bytes | None:
        buffer = self._buffer
        if not buffer:
            return None
        head = _Reader(bytes(buffer[:9]))
        try:
            length = head.uint()
        except GobError:
            if len(buffer) >= 9 or (buffer[0] >= 128 and 256 - buffer[0] > 8):
                raise
            return None
        if length > self.limits.max_message_bytes:
            raise GobError(
                f"message of {length} bytes exceeds the limit of {self.limits.max_message_bytes}"
            )
        if length == 0:
            raise GobError("empty message")
        start = head.pos
        if len(buffer) < start + length:
            return None
        message = bytes(buffer[start : start + length])
        self._frames.append(bytes(buffer[: start + length]))
        del buffer[: start + length]
        return message

    # -- type definitions ---------------------------------------------------

    def _receive_type(self, reader: _Reader, type_id: int) -> None:
        if type_id < _BOOTSTRAP_LIMIT:
            raise GobError(f"type id {type_id} is reserved")
        if type_id in self._wire:
            raise GobError(f"duplicate type id {type_id} received")
        self._received_types += 1
        if self._received_types > self.limits.max_types:
            raise GobError(f"more than {self.limits.max_types} type definitions")
        self._wire[type_id] = self._read_wire_type(reader)
        self._new_types.append(type_id)

    def _read_wire_type(self, reader: _Reader) -> WireType:
        field_number = -1
        result: WireType | None = None
        while True:
            delta = reader.uint()
            if delta == 0:
                break
            field_number += delta
            kind = _WIRE_KINDS.get(field_number)
            if kind is None:
                raise GobError(f"bad wireType field {field_number}")
            if result is not None:
                raise GobError("wireType with more than one variant set")
            result = self._read_type_body(reader, kind)
        if result is None:
            raise GobError("empty wireType")
        return result

    def _read_type_body(self, reader: _Reader, kind: str) -> WireType:
        wire = WireType(kind)
        field_number = -1
        while True:
            delta = reader.uint()
            if delta == 0:
                return wire
            field_number += delta
            if field_number == 0:
                wire.name = self._read_common(reader)
            elif kind == "array" and field_number == 1:
                wire.elem = reader.int()
            elif kind == "array" and field_number == 2:
                wire.length = reader.int()
                if wire.length < 0:
                    raise GobError("negative array length")
            elif kind == "slice" and field_number == 1:
                wire.elem = reader.int()
            elif kind == "map" and field_number == 1:
                wire.key = reader.int()
            elif kind == "map" and field_number == 2:
                wire.elem = reader.int()
            elif kind == "struct" and field_number == 1:
                wire.fields = self._read_fields(reader)
            else:
                raise GobError(f"bad field {field_number} in a {kind} type definition")

    def _read_common(self, reader: _Reader) -> str:
        name = ""
        field_number = -1
        while True:
            delta = reader.uint()
            if delta == 0:
                return name
            field_number += delta
            if field_number == 0:
                name = reader.string()
            elif field_number == 1:
                reader.int()  # the sender's own id; the message header already says it
            else:
                raise GobError(f"bad CommonType field {field_number}")

    def _read_fields(self, reader: _Reader) -> list[tuple[str, int]]:
        count = reader.uint()
        if count > self.limits.max_struct_fields or count > reader.remaining():
            raise GobError(f"struct definition with {count} fields")
        fields: list[tuple[str, int]] = []
        for _ in range(count):
            name, type_id = "", 0
            field_number = -1
            while True:
                delta = reader.uint()
                if delta == 0:
                    break
                field_number += delta
                if field_number == 0:
                    name = reader.string()
                elif field_number == 1:
                    type_id = reader.int()
                else:
                    raise GobError(f"bad fieldType field {field_number}")
            fields.append((name, type_id))
        return fields

    def _wire_type(self, type_id: int) -> WireType:
        wire = self._wire.get(type_id)
        if wire is None:
            raise GobError(f"unknown type id {type_id}")
        return wire

    # -- values -------------------------------------------------------------

    def _decode_top(self, reader: _Reader, type_id: int, expected: GoType | None) -> Any:
        if type_id < 1:
            raise GobError(f"bad type id {type_id} for a value")
        is_struct = type_id >= 9 and self._wire_type(type_id).kind == "struct"
        if not is_struct and reader.uint() != 0:
            raise GobError("corrupted data: non-zero delta for singleton")
        value = self._decode(reader, type_id, expected, 0)
        if reader.remaining():
            raise GobError(f"{reader.remaining()} bytes left over after a value")
        return value

    def _decode(self, reader: _Reader, type_id: int, expected: GoType | None, depth: int) -> Any:
        if depth > self.limits.max_depth:
            raise GobError(f"value nested deeper than {self.limits.max_depth}")
        self._values_left -= 1
        if self._values_left < 0:
            raise GobError(f"more than {self.limits.max_values} values in one message")
        if type_id < 1:
            raise GobError(f"bad type id {type_id}")
        if type_id <= 7:
            return self._decode_basic(reader, type_id, expected)
        if type_id == 8:
            if expected is not None and not isinstance(expected, Interface):
                raise GobError(
                    f"type mismatch: interface on the wire, {_describe(expected)} locally"
                )
            return self._decode_interface(reader, depth)
        wire = self._wire_type(type_id)
        if wire.kind == "struct":
            if expected is not None and not isinstance(expected, Struct):
                raise GobError(
                    f"type mismatch: struct {wire.name or '?'} on the wire, {_describe(expected)} locally"
                )
            return self._decode_struct(reader, wire, expected, depth)
        if wire.kind in ("slice", "array"):
            return self._decode_sequence(reader, wire, expected, depth)
        if wire.kind == "map":
            return self._decode_map(reader, wire, expected, depth)
        # GobEncoder / BinaryMarshaler / TextMarshaler: opaque bytes.
        data = reader.raw(reader.uint())
        if expected is None:
            return data
        if not isinstance(expected, GobEncoded):
            raise GobError(
                f"type mismatch: GobEncoder {wire.name} on the wire, {_describe(expected)} locally"
            )
        return expected.decode(data)

    def _decode_basic(self, reader: _Reader, kind: int, expected: GoType | None) -> Any:
        if expected is not None and (not isinstance(expected, Basic) or expected.kind != kind):
            raise GobError(
                f"type mismatch: {_BASIC_NAMES[kind]} on the wire, {_describe(expected)} locally"
            )
        if kind == 6:
            return reader.string()
        if kind == 2:
            return reader.int()
        if kind == 3:
            return reader.uint()
        if kind == 1:
            return reader.uint() != 0
        if kind == 4:
            return _bits_float(reader.uint())
        if kind == 5:
            return reader.raw(reader.uint())
        real = _bits_float(reader.uint())
        return complex(real, _bits_float(reader.uint()))

    def _decode_struct(
        self, reader: _Reader, wire: WireType, expected: GoType | None, depth: int
    ) -> Any:
        local = expected if isinstance(expected, Struct) else None
        if local is None:
            return self._decode_struct_generically(reader, wire, depth)
        plan = self._plan(wire, local)
        values: dict[str, Any] = {}
        field_number = -1
        fields = len(plan)
        data, end = reader.data, reader.end
        while True:
            pos = reader.pos
            if pos < end and data[pos] < 128:  # a one-byte delta, as nearly every one is
                delta = data[pos]
                reader.pos = pos + 1
            else:
                delta = reader.uint()
            if delta == 0:
                break
            field_number += delta
            if field_number >= fields:
                raise GobError(f"field number {field_number} out of range in struct {wire.name}")
            name, py_name, field_type, local_type, fast = plan[field_number]
            if py_name is None:
                self._decode(reader, field_type, None, depth + 1)  # unknown here: skip
                continue
            try:
                if fast:
                    # A scalar the local field expects: what _decode and _decode_basic
                    # would do, without their calls and checks of kind (the plan did).
                    if depth >= self.limits.max_depth:
                        raise GobError(f"value nested deeper than {self.limits.max_depth}")
                    self._values_left -= 1
                    if self._values_left < 0:
                        raise GobError(f"more than {self.limits.max_values} values in one message")
                    if fast == 6:
                        pos = reader.pos
                        if pos < end and data[pos] < 128:  # a string under 128 bytes
                            stop = pos + 1 + data[pos]
                            if stop <= end:
                                values[py_name] = data[pos + 1 : stop].decode(
                                    "utf-8", "surrogateescape"
                                )
                                reader.pos = stop
                                continue
                        values[py_name] = reader.string()
                    elif fast == 3:
                        values[py_name] = reader.uint()
                    elif fast == 2:
                        values[py_name] = reader.int()
                    elif fast == 5:
                        values[py_name] = reader.raw(reader.uint())
                    else:
                        values[py_name] = reader.uint() != 0
                    continue
                values[py_name] = self._decode(reader, field_type, local_type, depth + 1)
            except GobError as exc:
                raise GobError(f"{wire.name or 'struct'}.{name}: {exc}") from None
        if local.factory is None:
            return values
        try:
            return local.factory(**values)
        except (TypeError, ValueError) as refused:
            # Its own name: compiled code types `exc` by its first use (GobError) above.
            raise GobError(f"cannot build {local.name}: {refused}") from refused

    def _plan(self, wire: WireType, local: Struct) -> list[_FieldPlan]:
        """How each field of `wire` decodes into `local`, worked out once per pair."""
        key = (id(wire), id(local))
        cached = self._plans.get(key)
        if cached is not None and cached[0] is wire and cached[1] is local:
            return cached[2]
        plan: list[_FieldPlan] = []
        for name, field_type in wire.fields:
            local_field = local.by_name.get(name)
            if local_field is None:
                plan.append((name, None, field_type, None, 0))
                continue
            local_type = local_field.type
            fast = (
                field_type
                if field_type in _FAST_KINDS
                and isinstance(local_type, Basic)
                and local_type.kind == field_type
                else 0
            )
            plan.append((name, local_field.py_name, field_type, local_type, fast))
        self._plans[key] = (wire, local, plan)
        return plan

    def _decode_struct_generically(self, reader: _Reader, wire: WireType, depth: int) -> Any:
        values: dict[str, Any] = {}
        field_number = -1
        wire_fields = wire.fields
        while True:
            delta = reader.uint()
            if delta == 0:
                break
            field_number += delta
            if field_number >= len(wire_fields):
                raise GobError(f"field number {field_number} out of range in struct {wire.name}")
            name, field_type = wire_fields[field_number]
            values[name] = self._decode(reader, field_type, None, depth + 1)
        return values

    def _decode_sequence(
        self, reader: _Reader, wire: WireType, expected: GoType | None, depth: int
    ) -> list[Any]:
        elem_expected: GoType | None = None
        if expected is not None:
            if wire.kind == "slice" and not isinstance(expected, Slice):
                raise GobError(f"type mismatch: slice on the wire, {_describe(expected)} locally")
            if wire.kind == "array":
                if not isinstance(expected, Array):
                    raise GobError(
                        f"type mismatch: array on the wire, {_describe(expected)} locally"
                    )
                if expected.length != wire.length:
                    raise GobError(
                        f"array length {wire.length} on the wire, {expected.length} locally"
                    )
            assert isinstance(expected, Slice | Array)
            elem_expected = expected.elem
        count = reader.uint()
        # Each element takes at least one byte: a count beyond the message is a lie.
        if count > reader.remaining():
            raise GobError(f"{count} elements cannot fit in {reader.remaining()} bytes")
        if wire.kind == "array" and count != wire.length:
            raise GobError(f"array of length {wire.length} sent with {count} elements")
        return [self._decode(reader, wire.elem, elem_expected, depth + 1) for _ in range(count)]

    def _decode_map(
        self, reader: _Reader, wire: WireType, expected: GoType | None, depth: int
    ) -> dict[Any, Any]:
        key_expected: GoType | None = None
        elem_expected: GoType | None = None
        if expected is not None:
            if not isinstance(expected, Map):
                raise GobError(f"type mismatch: map on the wire, {_describe(expected)} locally")
            key_expected, elem_expected = expected.key, expected.elem
        count = reader.uint()
        if count * 2 > reader.remaining():
            raise GobError(f"{count} map entries cannot fit in {reader.remaining()} bytes")
        result: dict[Any, Any] = {}
        for _ in range(count):
            key = self._decode(reader, wire.key, key_expected, depth + 1)
            try:
                hash(key)
            except TypeError:
                raise GobError("map key is not hashable") from None
            result[key] = self._decode(reader, wire.elem, elem_expected, depth + 1)
        return result

    def _decode_interface(self, reader: _Reader, depth: int) -> Any:
        name = reader.string()
        if not name:
            return None
        # Definitions of the concrete type may come inline, each one framed. Go
        # ends the message after a definition it sends from inside a top-level
        # value, and carries on with the rest of that value in the next message.
        while True:
            if not reader.remaining() and reader.end == len(reader.data):
                self._continue(reader)
            type_id = reader.int()
            if type_id >= 0:
                break
            self._receive_type(reader, -type_id)
            if reader.remaining():
                reader.uint()  # the length of the next inline message
        size = reader.uint()
        if size > reader.remaining():
            raise GobError("interface value runs past the end of the message")
        inner = _Reader(reader.data, reader.pos, reader.pos + size)
        reader.pos += size
        wire_id = type_id
        is_struct = wire_id >= 9 and self._wire_type(wire_id).kind == "struct"
        if not is_struct and inner.uint() != 0:
            raise GobError("corrupted data: non-zero delta in interface value")
        value = self._decode(inner, wire_id, None, depth + 1)
        return InterfaceValue(name, _generic_type(wire_id), value)

    def _continue(self, reader: _Reader) -> None:
        """Append the next message to `reader`, as Go's decoder does mid-interface."""
        message = self._next_message()
        if message is None:
            raise _Incomplete
        reader.data += message
        reader.end = len(reader.data)


def _generic_type(type_id: int) -> GoType:
    return {1: BOOL, 2: INT, 3: UINT, 4: FLOAT, 5: BYTES, 6: STRING, 7: COMPLEX}.get(
        type_id, INTERFACE
    )


_BASIC_NAMES: Final = {
    1: "bool",
    2: "int",
    3: "uint",
    4: "float",
    5: "[]byte",
    6: "string",
    7: "complex",
}


def _describe(gotype: GoType) -> str:
    if isinstance(gotype, Basic):
        return gotype.name
    if isinstance(gotype, Struct):
        return f"struct {gotype.name}"
    if isinstance(gotype, Slice):
        return f"[]{_describe(gotype.elem)}"
    if isinstance(gotype, Array):
        return f"[{gotype.length}]{_describe(gotype.elem)}"
    if isinstance(gotype, Map):
        return f"map[{_describe(gotype.key)}]{_describe(gotype.elem)}"
    if isinstance(gotype, GobEncoded):
        return gotype.name
    return "interface{}"
