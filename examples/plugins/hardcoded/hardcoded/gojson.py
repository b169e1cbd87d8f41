"""Go's encoding/json, as far as the hardcoded engine's types need it.

Turing's example engine reads its configs with Go's `json.Unmarshal` and writes
the runner config with `json.Marshal`. To give byte-identical answers this
module reproduces what those do for the engine's types, rather than what
Python's `json` module does:

* the whole document is checked first, and a syntax error is reported with Go's
  text ("invalid character 'x' looking for beginning of value",
  "unexpected end of JSON input", ...);
* object keys match struct fields exactly first, then case-insensitively
  (Go's folding: "ID", "Id" and "id" all set `id`); unknown keys are ignored;
* `null` leaves strings, booleans, numbers and structs unchanged and sets
  slices, maps and pointers to nil (`None`); nil and empty stay distinct;
* a value of the wrong JSON type fails with Go's `UnmarshalTypeError` text,
  including the struct and field path ("json: cannot unmarshal string into Go
  struct field TreatmentConfig.experiments.variants_configuration.traffic of
  type float32"); the first such error in document order wins;
* `float32` fields are rounded once, correctly, from the decimal text (parsing
  as a Python float first would round twice);
* `json.RawMessage` fields keep the exact bytes of their value; when marshalled
  they are compacted and HTML-escaped as Go does;
* strings are unquoted like Go: invalid UTF-8 and lone surrogates become U+FFFD;
* marshalling escapes `<`, `>`, `&`, U+2028 and U+2029, sorts map keys, writes
  nil slices and maps as `null`, and formats float32 values in Go's shortest form.

Types are described by small schema objects (`GoStruct`, `GoSlice`, ...) whose
`name` is Go's type name, as it appears in error texts.
"""

from __future__ import annotations

import functools
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

__all__ = [
    "BOOL",
    "FLOAT32",
    "RAW_MESSAGE",
    "STRING",
    "EngineError",
    "GoBool",
    "GoField",
    "GoFloat32",
    "GoMap",
    "GoPointer",
    "GoRawMessage",
    "GoSlice",
    "GoString",
    "GoStruct",
    "GoType",
    "check_valid",
    "compact",
    "f32",
    "format_float32",
    "marshal",
    "parse_float32",
    "unmarshal",
]


class EngineError(Exception):
    """An error whose text is exactly what the Go engine answers in the same case."""


# ---------------------------------------------------------------------------
# Type descriptions


@dataclass(frozen=True, slots=True)
class GoType:
    name: str
    """Go's name of the type (reflect.Type.String()), as used in error texts."""


@dataclass(frozen=True, slots=True)
class GoString(GoType):
    pass


@dataclass(frozen=True, slots=True)
class GoBool(GoType):
    pass


@dataclass(frozen=True, slots=True)
class GoFloat32(GoType):
    pass


@dataclass(frozen=True, slots=True)
class GoRawMessage(GoType):
    """json.RawMessage: the value's bytes as they are; nil (absent) is None."""


@dataclass(frozen=True, slots=True)
class GoSlice(GoType):
    elem: GoType


@dataclass(frozen=True, slots=True)
class GoMap(GoType):
    """A map with string keys."""

    elem: GoType


@dataclass(frozen=True, slots=True)
class GoPointer(GoType):
    elem: GoType


@dataclass(frozen=True, slots=True)
class GoField:
    json: str
    """The field's JSON name."""
    attr: str
    """The Python attribute holding it."""
    type: GoType
    embedded: str = ""
    """Go name of the embedded struct the field is promoted from, if any."""
    omitempty: bool = False
    """Marshal leaves the field out when it is empty (the `omitempty` tag option)."""


@dataclass(frozen=True, slots=True)
class GoStruct(GoType):
    struct_name: str
    """The struct's unqualified name (reflect.Type.Name())."""
    factory: Callable[[], Any]
    """Makes the zero value (a mutable dataclass instance)."""
    fields: tuple[GoField, ...]


STRING: Final = GoString("string")
BOOL: Final = GoBool("bool")
FLOAT32: Final = GoFloat32("float32")
RAW_MESSAGE: Final = GoRawMessage("json.RawMessage")


def zero_value(gotype: GoType) -> Any:
    """Go's zero value of a type, in this module's Python representation."""
    if isinstance(gotype, GoString):
        return ""
    if isinstance(gotype, GoBool):
        return False
    if isinstance(gotype, GoFloat32):
        return 0.0
    if isinstance(gotype, GoStruct):
        return gotype.factory()
    return None  # slices, maps, pointers, raw messages: nil


# ---------------------------------------------------------------------------
# float32 arithmetic

_F32_MAX: Final = Fraction((1 << 24) - 1) * (Fraction(2) ** 104)
_F32_1E_6: Final = struct.unpack("<f", struct.pack("<f", 1e-6))[0]
_F32_1E21: Final = struct.unpack("<f", struct.pack("<f", 1e21))[0]
_MAX_SIGNIFICANT_DIGITS: Final = 800


def f32(x: float) -> float:
    """Round a float64 to float32 (nearest, ties to even), as Go's float32 arithmetic does."""
    try:
        result: float = struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)
    return result


def _round_fraction_to_f32(value: Fraction) -> Fraction | None:
    """The float32 nearest to a positive rational (ties to even); None when it overflows."""
    num, den = value.numerator, value.denominator
    exponent = num.bit_length() - den.bit_length()
    # Make 2**exponent <= value < 2**(exponent + 1).
    if (num << max(0, -exponent)) < (den << max(0, exponent)):
        exponent -= 1
    quantum = max(exponent, -126) - 23  # float32: 24-bit significand, subnormals below 2**-126
    mantissa = round(value / (Fraction(2) ** quantum))  # Fraction rounds half to even
    result = mantissa * (Fraction(2) ** quantum)
    if result > _F32_MAX:
        return None
    return result


_NUMBER: Final = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?")


def parse_float32(text: str) -> float:
    """Go's strconv.ParseFloat(text, 32) for a JSON number: correctly rounded.

    Raises OverflowError where Go reports ErrRange (the value rounds past the
    largest float32).
    """
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise ValueError(f"not a JSON number: {text!r}")
    sign, whole, fraction, exp_text = match.groups()
    digits = (whole + (fraction or "")).lstrip("0")
    negative = sign == "-"
    if not digits or set(digits) == {"0"}:
        return -0.0 if negative else 0.0
    exponent = -len(fraction or "")
    if exp_text is not None:
        if len(exp_text.lstrip("+-").lstrip("0")) > 12:
            # An exponent this long is far outside float32 range either way.
            exponent_value = -(10**13) if exp_text.startswith("-") else 10**13
        else:
            exponent_value = int(exp_text)
        exponent += exponent_value
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits = stripped
    magnitude = len(digits) + exponent  # value < 10**magnitude
    if magnitude > 40:
        raise OverflowError(text)
    if magnitude < -60:
        return -0.0 if negative else 0.0
    if len(digits) > _MAX_SIGNIFICANT_DIGITS:
        # Far more digits than float32 rounding can see; keep a sticky digit so an
        # exact tie is never mistaken for one.
        exponent += len(digits) - _MAX_SIGNIFICANT_DIGITS - 1
        digits = digits[:_MAX_SIGNIFICANT_DIGITS] + "1"
    value = Fraction(int(digits)) * (Fraction(10) ** exponent)
    rounded = _round_fraction_to_f32(value)
    if rounded is None:
        raise OverflowError(text)
    result = float(rounded)
    return -result if negative else result


def _shortest_decimal(value: float) -> tuple[str, int]:
    """Shortest digits that read back as the float32 `value` (> 0), closest first.

    Ties go to the even candidate, except for powers of two (where the lower
    neighbour is nearer): Go's Dragonbox takes the upper one there, bar its
    float64 tie exponent (2**-54 here). Returns (digits, dp): value ~=
    0.<digits> * 10**dp, digits without trailing zeros.
    """
    exact = Fraction(value)
    mantissa, exponent2 = math.frexp(value)
    tie_up = mantissa == 0.5 and exponent2 - 1 >= -126 and exponent2 - 1 != -54
    e10 = math.floor(math.log10(value))
    while Fraction(10) ** e10 > exact:
        e10 -= 1
    while Fraction(10) ** (e10 + 1) <= exact:
        e10 += 1
    for precision in range(1, 18):
        unit = Fraction(10) ** (e10 - precision + 1)
        low = math.floor(exact / unit)
        best: tuple[Fraction, int] | None = None
        for candidate in (low, low + 1):
            if candidate <= 0:
                continue
            decimal = candidate * unit
            if _round_fraction_to_f32(decimal) != exact:
                continue
            distance = abs(decimal - exact)
            if (
                best is None
                or distance < best[0]
                or (distance == best[0] and (tie_up or candidate % 2 == 0))
            ):
                best = (distance, candidate)
        if best is not None:
            digits = str(best[1])
            exponent = e10 - precision + 1
            stripped = digits.rstrip("0")
            exponent += len(digits) - len(stripped)
            return stripped, len(stripped) + exponent
    raise AssertionError(f"no shortest form for {value!r}")  # pragma: no cover


def format_float32(value: float) -> str:
    """A float32 as Go's json.Marshal writes it (strconv 'f' or 'e' form, shortest)."""
    if math.isnan(value) or math.isinf(value):
        raise EngineError(f"json: unsupported value: {'NaN' if math.isnan(value) else value}")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    digits, dp = _shortest_decimal(magnitude)
    count = len(digits)
    if magnitude < _F32_1E_6 or magnitude >= _F32_1E21:
        text = digits[0]
        if count > 1:
            text += "." + digits[1:]
        exp = dp - 1
        exp_sign = "-" if exp < 0 else "+"
        exp_digits = str(abs(exp))
        if len(exp_digits) < 2:
            # Go writes at least two exponent digits; json then drops the zero of e-0X.
            exp_digits = exp_digits if exp_sign == "-" else "0" + exp_digits
        return f"{sign}{text}e{exp_sign}{exp_digits}"
    whole = digits[:dp] + "0" * max(0, dp - count) if dp > 0 else "0"
    decimals = max(count - dp, 0)
    fraction = "".join(digits[j] if 0 <= j < count else "0" for j in range(dp, dp + decimals))
    return f"{sign}{whole}.{fraction}" if decimals else f"{sign}{whole}"


# ---------------------------------------------------------------------------
# Syntax check: Go's scanner, with its error texts

_CONTINUE: Final = 0
_BEGIN_LITERAL: Final = 1
_BEGIN_OBJECT: Final = 2
_OBJECT_KEY: Final = 3
_OBJECT_VALUE: Final = 4
_END_OBJECT: Final = 5
_BEGIN_ARRAY: Final = 6
_ARRAY_VALUE: Final = 7
_END_ARRAY: Final = 8
_SKIP_SPACE: Final = 9
_END: Final = 10
_ERROR: Final = 11

_PARSE_OBJECT_KEY: Final = 0
_PARSE_OBJECT_VALUE: Final = 1
_PARSE_ARRAY_VALUE: Final = 2
_MAX_NESTING_DEPTH: Final = 10000

_SPACE: Final = frozenset(b" \t\r\n")
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
_DIGITS: Final = frozenset(b"0123456789")
_GO_CHAR_ESCAPES: Final = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}


def _quote_char(c: int) -> str:
    """Go's quoteChar: a byte shown as a quoted rune in scanner errors."""
    if c == 0x27:
        return "'\\''"
    if c == 0x22:
        return "'\"'"
    if c == 0x5C:
        inner = "\\\\"
    elif c in _GO_CHAR_ESCAPES:
        inner = _GO_CHAR_ESCAPES[c]
    elif c < 0x20 or c == 0x7F:
        inner = f"\\x{c:02x}"
    elif 0x80 <= c <= 0xA0 or c == 0xAD:
        inner = f"\\u{c:04x}"  # not printable for Go's strconv
    else:
        inner = chr(c)
    return "'" + inner + "'"


class _Scanner:
    """Go's JSON state machine, one byte at a time."""

    def __init__(self) -> None:
        self.step: Callable[[int], int] = self._begin_value
        self.parse_state: list[int] = []
        self.end_top = False
        self.error: str | None = None

    def fail(self, c: int, context: str) -> int:
        self.step = self._error
        self.error = f"invalid character {_quote_char(c)} {context}"
        return _ERROR

    def eof(self) -> int:
        if self.error is not None:
            return _ERROR
        if self.end_top:
            return _END
        # A final space ends a number (or fails inside anything unfinished).
        if self._ends_top(0x20):
            return _END
        if self.error is None:
            self.error = "unexpected end of JSON input"
        return _ERROR

    def _ends_top(self, c: int) -> bool:
        self.step(c)
        return self.end_top

    def _push(self, c: int, state: int, success: int) -> int:
        self.parse_state.append(state)
        if len(self.parse_state) <= _MAX_NESTING_DEPTH:
            return success
        return self.fail(c, "exceeded max depth")

    def _pop(self) -> None:
        self.parse_state.pop()
        if not self.parse_state:
            self.step = self._end_top
            self.end_top = True
        else:
            self.step = self._end_value

    def _error(self, c: int) -> int:
        return _ERROR

    def _begin_value_or_empty(self, c: int) -> int:
        if c in _SPACE:
            return _SKIP_SPACE
        if c == 0x5D:  # ]
            return self._end_value(c)
        return self._begin_value(c)

    def _begin_value(self, c: int) -> int:
        if c in _SPACE:
            return _SKIP_SPACE
        if c == 0x7B:  # {
            self.step = self._begin_string_or_empty
            return self._push(c, _PARSE_OBJECT_KEY, _BEGIN_OBJECT)
        if c == 0x5B:  # [
            self.step = self._begin_value_or_empty
            return self._push(c, _PARSE_ARRAY_VALUE, _BEGIN_ARRAY)
        if c == 0x22:
            self.step = self._in_string
            return _BEGIN_LITERAL
        if c == 0x2D:  # -
            self.step = self._neg
            return _BEGIN_LITERAL
        if c == 0x30:
            self.step = self._zero
            return _BEGIN_LITERAL
        if c == 0x74:  # t
            self.step = self._literal_step("true", 1)
            return _BEGIN_LITERAL
        if c == 0x66:  # f
            self.step = self._literal_step("false", 1)
            return _BEGIN_LITERAL
        if c == 0x6E:  # n
            self.step = self._literal_step("null", 1)
            return _BEGIN_LITERAL
        if 0x31 <= c <= 0x39:
            self.step = self._digits
            return _BEGIN_LITERAL
        return self.fail(c, "looking for beginning of value")

    def _begin_string_or_empty(self, c: int) -> int:
        if c in _SPACE:
            return _SKIP_SPACE
        if c == 0x7D:  # }
            self.parse_state[-1] = _PARSE_OBJECT_VALUE
            return self._end_value(c)
        return self._begin_string(c)

    def _begin_string(self, c: int) -> int:
        if c in _SPACE:
            return _SKIP_SPACE
        if c == 0x22:
            self.step = self._in_string
            return _BEGIN_LITERAL
        return self.fail(c, "looking for beginning of object key string")

    def _end_value(self, c: int) -> int:
        if not self.parse_state:
            self.step = self._end_top
            self.end_top = True
            return self._end_top(c)
        if c in _SPACE:
            self.step = self._end_value
            return _SKIP_SPACE
        state = self.parse_state[-1]
        if state == _PARSE_OBJECT_KEY:
            if c == 0x3A:  # :
                self.parse_state[-1] = _PARSE_OBJECT_VALUE
                self.step = self._begin_value
                return _OBJECT_KEY
            return self.fail(c, "after object key")
        if state == _PARSE_OBJECT_VALUE:
            if c == 0x2C:  # ,
                self.parse_state[-1] = _PARSE_OBJECT_KEY
                self.step = self._begin_string
                return _OBJECT_VALUE
            if c == 0x7D:
                self._pop()
                return _END_OBJECT
            return self.fail(c, "after object key:value pair")
        if c == 0x2C:
            self.step = self._begin_value
            return _ARRAY_VALUE
        if c == 0x5D:
            self._pop()
            return _END_ARRAY
        return self.fail(c, "after array element")

    def _end_top(self, c: int) -> int:
        if c not in _SPACE:
            self.fail(c, "after top-level value")
        return _END

    def _in_string(self, c: int) -> int:
        if c == 0x22:
            self.step = self._end_value
            return _CONTINUE
        if c == 0x5C:
            self.step = self._in_string_escape
            return _CONTINUE
        if c < 0x20:
            return self.fail(c, "in string literal")
        return _CONTINUE

    def _in_string_escape(self, c: int) -> int:
        if c in b'bfnrt\\/"':
            self.step = self._in_string
            return _CONTINUE
        if c == 0x75:  # u
            self.step = self._hex_step(4)
            return _CONTINUE
        return self.fail(c, "in string escape code")

    def _hex_step(self, remaining: int) -> Callable[[int], int]:
        def step(c: int) -> int:
            if c in _HEX:
                self.step = self._in_string if remaining == 1 else self._hex_step(remaining - 1)
                return _CONTINUE
            return self.fail(c, "in \\u hexadecimal character escape")

        return step

    def _neg(self, c: int) -> int:
        if c == 0x30:
            self.step = self._zero
            return _CONTINUE
        if 0x31 <= c <= 0x39:
            self.step = self._digits
            return _CONTINUE
        return self.fail(c, "in numeric literal")

    def _digits(self, c: int) -> int:
        if c in _DIGITS:
            return _CONTINUE
        return self._zero(c)

    def _zero(self, c: int) -> int:
        if c == 0x2E:  # .
            self.step = self._dot
            return _CONTINUE
        if c in (0x65, 0x45):  # e E
            self.step = self._exp
            return _CONTINUE
        return self._end_value(c)

    def _dot(self, c: int) -> int:
        if c in _DIGITS:
            self.step = self._dot_digits
            return _CONTINUE
        return self.fail(c, "after decimal point in numeric literal")

    def _dot_digits(self, c: int) -> int:
        if c in _DIGITS:
            return _CONTINUE
        if c in (0x65, 0x45):
            self.step = self._exp
            return _CONTINUE
        return self._end_value(c)

    def _exp(self, c: int) -> int:
        if c in (0x2B, 0x2D):  # + -
            self.step = self._exp_sign
            return _CONTINUE
        return self._exp_sign(c)

    def _exp_sign(self, c: int) -> int:
        if c in _DIGITS:
            self.step = self._exp_digits
            return _CONTINUE
        return self.fail(c, "in exponent of numeric literal")

    def _exp_digits(self, c: int) -> int:
        if c in _DIGITS:
            return _CONTINUE
        return self._end_value(c)

    def _literal_step(self, word: str, index: int) -> Callable[[int], int]:
        expected = ord(word[index])

        def step(c: int) -> int:
            if c == expected:
                self.step = (
                    self._end_value
                    if index == len(word) - 1
                    else self._literal_step(word, index + 1)
                )
                return _CONTINUE
            return self.fail(c, f"in literal {word} (expecting {_quote_char(expected)})")

        return step


# Plain string content: no quote, backslash or control byte.
_STRING_RUN: Final = re.compile(rb'[^"\\\x00-\x1f]+')


def check_valid(data: bytes) -> None:
    """Go's checkValid: raise EngineError with Go's SyntaxError text unless `data` is one JSON value."""
    scanner = _Scanner()
    i, size = 0, len(data)
    while i < size:
        if scanner.step == scanner._in_string:
            run = _STRING_RUN.match(data, i)
            if run is not None:
                i = run.end()
                continue
        if scanner.step(data[i]) == _ERROR:
            raise EngineError(scanner.error)
        i += 1
    if scanner.eof() == _ERROR:
        raise EngineError(scanner.error)


# ---------------------------------------------------------------------------
# Strings


def _decode_rune(data: bytes, i: int) -> tuple[str, int]:
    """Go's utf8.DecodeRune: one rune, or U+FFFD consuming a single invalid byte."""
    lead = data[i]
    if 0xC2 <= lead <= 0xDF:
        size = 2
    elif 0xE0 <= lead <= 0xEF:
        size = 3
    elif 0xF0 <= lead <= 0xF4:
        size = 4
    else:
        return "\ufffd", 1
    try:
        return data[i : i + size].decode("utf-8"), size
    except UnicodeDecodeError:
        return "\ufffd", 1


def _getu4(data: bytes, i: int) -> int:
    """The \\uXXXX escape at data[i:], or -1."""
    if i + 6 > len(data) or data[i] != 0x5C or data[i + 1] != 0x75:
        return -1
    try:
        return int(data[i + 2 : i + 6], 16)
    except ValueError:
        return -1


_SIMPLE_ESCAPES: Final = {
    0x22: '"',
    0x5C: "\\",
    0x2F: "/",
    0x27: "'",
    0x62: "\b",
    0x66: "\f",
    0x6E: "\n",
    0x72: "\r",
    0x74: "\t",
}


def unquote(body: bytes) -> str:
    """Go's unquoteBytes for the text between a (validated) string's quotes."""
    if b"\\" not in body:
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            pass
    out: list[str] = []
    i, size = 0, len(body)
    while i < size:
        c = body[i]
        if c == 0x5C:
            escape = body[i + 1]
            if escape != 0x75:
                out.append(_SIMPLE_ESCAPES[escape])
                i += 2
                continue
            rune = _getu4(body, i)
            i += 6
            if 0xD800 <= rune < 0xE000:
                low = _getu4(body, i)
                if rune < 0xDC00 and 0xDC00 <= low < 0xE000:
                    out.append(chr(0x10000 + ((rune - 0xD800) << 10) + (low - 0xDC00)))
                    i += 6
                    continue
                out.append("\ufffd")
                continue
            out.append(chr(rune))
        elif c < 0x80:
            out.append(chr(c))
            i += 1
        else:
            char, width = _decode_rune(body, i)
            out.append(char)
            i += width
    return "".join(out)


# Go folds a rune to the smallest rune of its case-folding orbit; the only
# non-ASCII runes that fold to ASCII letters are the long s and the Kelvin sign.
_FOLD_SPECIAL: Final = {"\u017f": "S", "\u212a": "K"}


def fold_name(name: str) -> str:
    """Go's foldName, as far as matching ASCII field names needs it (U+017F matches "s")."""
    return "".join(ch.upper() if ch < "\x80" else _FOLD_SPECIAL.get(ch, ch) for ch in name)


# ---------------------------------------------------------------------------
# Decoding


class _TypeError(Exception):
    pass


@functools.cache
def _field_index(gotype: GoStruct) -> tuple[dict[str, GoField], dict[str, GoField]]:
    """A struct's fields by exact JSON name and by folded name (the first field wins)."""
    exact = {field.json: field for field in gotype.fields}
    folded: dict[str, GoField] = {}
    for field in gotype.fields:
        folded.setdefault(fold_name(field.json), field)
    return exact, folded


class _Decoder:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.field_stack: list[str] = []
        self.struct_name: str | None = None

    # -- reading

    def _skip_space(self) -> None:
        data, pos = self.data, self.pos
        while pos < len(data) and data[pos] in _SPACE:
            pos += 1
        self.pos = pos

    def _string_end(self, start: int) -> int:
        """Index just past the string starting at data[start] (a quote)."""
        data, pos = self.data, start + 1
        while True:
            pos = data.index(b'"', pos)
            backslashes = 0
            back = pos - 1
            while data[back] == 0x5C:
                backslashes += 1
                back -= 1
            pos += 1
            if backslashes % 2 == 0:
                return pos

    def _read_string(self) -> str:
        start = self.pos
        end = self._string_end(start)
        self.pos = end
        return unquote(self.data[start + 1 : end - 1])

    def _read_literal(self) -> bytes:
        data, start = self.data, self.pos
        pos = start
        while pos < len(data) and data[pos] not in b" \t\r\n,]}:":
            pos += 1
        self.pos = pos
        return data[start:pos]

    def _skip_value(self) -> None:
        data = self.data
        c = data[self.pos]
        if c == 0x22:
            self.pos = self._string_end(self.pos)
            return
        if c not in (0x7B, 0x5B):
            self._read_literal()
            return
        depth = 0
        pos = self.pos
        while True:
            c = data[pos]
            if c == 0x22:
                pos = self._string_end(pos)
                continue
            if c in (0x7B, 0x5B):
                depth += 1
            elif c in (0x7D, 0x5D):
                depth -= 1
                if depth == 0:
                    self.pos = pos + 1
                    return
            pos += 1

    def _expect(self, char: int) -> None:
        self._skip_space()
        assert self.data[self.pos] == char
        self.pos += 1

    # -- errors

    def _type_error(self, what: str, gotype: GoType) -> _TypeError:
        if self.struct_name is not None or self.field_stack:
            where = f"Go struct field {self.struct_name or ''}.{'.'.join(self.field_stack)}"
        else:
            where = "Go value"
        return _TypeError(f"json: cannot unmarshal {what} into {where} of type {gotype.name}")

    # -- values

    def value(self, gotype: GoType, current: Any) -> Any:
        self._skip_space()
        data = self.data
        c = data[self.pos]
        if isinstance(gotype, GoRawMessage):
            start = self.pos
            self._skip_value()
            return data[start : self.pos]
        if isinstance(gotype, GoPointer):
            if c == 0x6E:  # null sets the pointer to nil
                self._read_literal()
                return None
            target = current if current is not None else zero_value(gotype.elem)
            return self.value(gotype.elem, target)
        if c == 0x7B:
            if isinstance(gotype, GoStruct):
                return self._struct(gotype, current)
            if isinstance(gotype, GoMap):
                return self._map(gotype, current)
            raise self._type_error("object", gotype)
        if c == 0x5B:
            if isinstance(gotype, GoSlice):
                return self._slice(gotype, current)
            raise self._type_error("array", gotype)
        if c == 0x22:
            text = self._read_string()
            if isinstance(gotype, GoString):
                return text
            raise self._type_error("string", gotype)
        literal = self._read_literal()
        if c in (0x74, 0x66):  # true false
            if isinstance(gotype, GoBool):
                return literal == b"true"
            raise self._type_error("bool", gotype)
        if c == 0x6E:  # null: nil for slices and maps, no change otherwise
            if isinstance(gotype, GoSlice | GoMap):
                return None
            return current
        number = literal.decode("ascii")
        if isinstance(gotype, GoFloat32):
            try:
                return parse_float32(number)
            except OverflowError:
                raise self._type_error("number " + number, gotype) from None
        raise self._type_error("number", gotype)

    def _struct(self, gotype: GoStruct, current: Any) -> Any:
        target = current if current is not None else gotype.factory()
        exact, folded = _field_index(gotype)
        self.pos += 1  # {
        self._skip_space()
        if self.data[self.pos] == 0x7D:
            self.pos += 1
            return target
        saved_stack, saved_struct = len(self.field_stack), self.struct_name
        while True:
            self._skip_space()
            key = self._read_string()
            self._expect(0x3A)
            field = exact.get(key) or folded.get(fold_name(key))
            if field is None:
                self._skip_space()
                self._skip_value()
            else:
                if field.embedded:
                    self.field_stack.append(field.embedded)
                self.struct_name = gotype.struct_name
                self.field_stack.append(field.json)
                setattr(target, field.attr, self.value(field.type, getattr(target, field.attr)))
            del self.field_stack[saved_stack:]
            self.struct_name = saved_struct
            self._skip_space()
            separator = self.data[self.pos]
            self.pos += 1
            if separator == 0x7D:
                return target

    def _map(self, gotype: GoMap, current: Any) -> Any:
        target: dict[str, Any] = current if current is not None else {}
        self.pos += 1
        self._skip_space()
        if self.data[self.pos] == 0x7D:
            self.pos += 1
            return target
        while True:
            self._skip_space()
            key = self._read_string()
            self._expect(0x3A)
            # Each entry is decoded into a fresh zero value, then stored.
            target[key] = self.value(gotype.elem, zero_value(gotype.elem))
            self._skip_space()
            separator = self.data[self.pos]
            self.pos += 1
            if separator == 0x7D:
                return target

    def _slice(self, gotype: GoSlice, current: Any) -> Any:
        # Go decodes into the existing elements, then truncates; [] gives an empty, non-nil slice.
        existing: list[Any] = current if current is not None else []
        result: list[Any] = []
        self.pos += 1
        self._skip_space()
        if self.data[self.pos] == 0x5D:
            self.pos += 1
            return result
        while True:
            index = len(result)
            base = existing[index] if index < len(existing) else zero_value(gotype.elem)
            result.append(self.value(gotype.elem, base))
            self._skip_space()
            separator = self.data[self.pos]
            self.pos += 1
            if separator == 0x5D:
                return result


def unmarshal(data: bytes, gotype: GoStruct) -> Any:
    """Go's json.Unmarshal(data, &v) into a fresh zero value of `gotype`.

    Raises EngineError with Go's error text.
    """
    check_valid(data)
    decoder = _Decoder(data)
    try:
        return decoder.value(gotype, gotype.factory())
    except _TypeError as exc:
        raise EngineError(str(exc)) from None


# ---------------------------------------------------------------------------
# Encoding

_HEX_DIGITS: Final = "0123456789abcdef"


def _append_string(out: list[str], text: str) -> None:
    """Go's appendString with HTML escaping (json.Marshal's default)."""
    out.append('"')
    for ch in text:
        code = ord(ch)
        if code < 0x80:
            if ch in '"\\':
                out.append("\\" + ch)
            elif ch in "<>&" or code < 0x20:
                escapes = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
                out.append(
                    escapes.get(ch) or f"\\u00{_HEX_DIGITS[code >> 4]}{_HEX_DIGITS[code & 0xF]}"
                )
            else:
                out.append(ch)
        elif code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code < 0xE000:
            out.append("\\ufffd")  # cannot come from decoding, but never emit a lone surrogate
        else:
            out.append(ch)
    out.append('"')


def compact(raw: bytes) -> bytes:
    """Go's appendCompact with HTML escaping, as Marshal applies to a RawMessage."""
    out = bytearray()
    in_string = False
    i, size = 0, len(raw)
    while i < size:
        c = raw[i]
        if c in (0x3C, 0x3E, 0x26):  # < > &
            out += b"\\u00" + f"{c:02x}".encode()
            i += 1
            continue
        if c == 0xE2 and i + 2 < size and raw[i + 1] == 0x80 and raw[i + 2] & 0xFE == 0xA8:
            out += b"\\u202" + _HEX_DIGITS[raw[i + 2] & 0xF].encode()
            i += 3
            continue
        if in_string:
            if c == 0x5C:
                out += raw[i : i + 2]
                i += 2
                continue
            if c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in _SPACE:
            i += 1
            continue
        out.append(c)
        i += 1
    return bytes(out)


def _is_empty(gotype: GoType, value: Any) -> bool:
    """Go's isEmptyValue, for omitempty."""
    if isinstance(gotype, GoStruct):
        return False
    if isinstance(gotype, GoPointer):
        return value is None
    return not value  # "", False, 0.0, nil or empty slices, maps and raw messages


def _encode(out: list[str], gotype: GoType, value: Any) -> None:
    if isinstance(gotype, GoString):
        _append_string(out, value)
    elif isinstance(gotype, GoBool):
        out.append("true" if value else "false")
    elif isinstance(gotype, GoFloat32):
        out.append(format_float32(value))
    elif isinstance(gotype, GoRawMessage):
        out.append("null" if value is None else compact(value).decode("utf-8", "surrogateescape"))
    elif value is None:
        out.append("null")
    elif isinstance(gotype, GoPointer):
        _encode(out, gotype.elem, value)
    elif isinstance(gotype, GoSlice):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(out, gotype.elem, item)
        out.append("]")
    elif isinstance(gotype, GoMap):
        out.append("{")
        keys = sorted(value, key=lambda key: key.encode("utf-8"))
        for index, key in enumerate(keys):
            if index:
                out.append(",")
            _append_string(out, key)
            out.append(":")
            _encode(out, gotype.elem, value[key])
        out.append("}")
    elif isinstance(gotype, GoStruct):
        out.append("{")
        first = True
        for field in gotype.fields:
            item = getattr(value, field.attr)
            if field.omitempty and _is_empty(field.type, item):
                continue
            if not first:
                out.append(",")
            first = False
            out.append(f'"{field.json}":')
            _encode(out, field.type, item)
        out.append("}")
    else:  # pragma: no cover
        raise TypeError(f"cannot encode {gotype.name}")


def marshal(gotype: GoType, value: Any) -> bytes:
    """Go's json.Marshal of a value of `gotype`."""
    out: list[str] = []
    _encode(out, gotype, value)
    return "".join(out).encode("utf-8", "surrogateescape")
