"""Go's own decoded gob values, and an exact check of what Python decoded against them.

`gob-vectors --detailed` prints, for every case, the bytes Go's encoder wrote
and what Go's decoder makes of them in a *tagged* form where every value names
its Go kind (see tests/gopeers/internal/jsonout). `mismatches(go, value, gotype)`
walks Go's value and Python's side by side and lists every difference; an empty
list means Python decoded exactly what Go did, up to what Python cannot hold:

* time: Python datetimes keep microseconds, so Go's nanoseconds are compared
  truncated to microseconds;
* nil and empty []byte and slices are one value in Python (gob itself sends
  neither), while nil and empty maps stay distinct (gob sends an empty map).

A copy of the tagged vectors is committed (`tests/unit/go_gob_vectors.json`) so
the unit tests check every Go vector without a Go toolchain; an interop test
fails when the copy and the Go tool disagree. Regenerate it with
``gob-vectors --detailed | python -m tests.gob_reference > tests/unit/go_gob_vectors.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import struct
import sys
from pathlib import Path
from typing import Any

from plugin_host import gob, wire
from plugin_host.netrpc import REQUEST, RESPONSE

FIXTURE = Path(__file__).resolve().parent / "unit" / "go_gob_vectors.json"

_UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# Go type name (as gob-vectors names it) -> our declaration of the same type.
SCHEMAS: dict[str, gob.GoType] = {
    "bool": gob.BOOL,
    "int": gob.INT,
    "int64": gob.INT,
    "uint": gob.UINT,
    "uint32": gob.UINT,
    "uint64": gob.UINT,
    "float32": gob.FLOAT,
    "float64": gob.FLOAT,
    "complex128": gob.COMPLEX,
    "string": gob.STRING,
    "[]byte": gob.BYTES,
    "json.RawMessage": gob.BYTES,
    "interface{}": gob.INTERFACE,
    "time.Time": gob.TIME,
    "struct{}": wire.EMPTY,
    "[]string": gob.Slice(gob.STRING),
    "[]int": gob.Slice(gob.INT),
    "[]float64": gob.Slice(gob.FLOAT),
    "[]uint32": wire.BROKER_IDS,
    "[3]int": gob.Array(gob.INT, 3),
    "map[string]string": wire.STRING_MAP,
    "map[string]int": gob.Map(gob.STRING, gob.INT),
    "http.Header": gob.Map(gob.STRING, gob.Slice(gob.STRING)),
    "rpc.Request": REQUEST,
    "rpc.Response": RESPONSE,
    "manager.Client": wire.CLIENT,
    "manager.Engine": wire.ENGINE,
    "manager.Experiment": wire.EXPERIMENT,
    "manager.Variable": wire.VARIABLE,
    "[]manager.Client": wire.CLIENTS,
    "[]manager.Experiment": wire.EXPERIMENTS,
    "[]manager.Variable": wire.VARIABLES,
    "map[string][]manager.Variable": wire.VARIABLES_BY_EXPERIMENT,
    "runner.GetTreatmentOptions": wire.GET_TREATMENT_OPTIONS,
    "runner.Treatment": wire.TREATMENT,
    "rpcrunner.GetTreatmentRequest": wire.GET_TREATMENT_REQUEST,
    "rpcrunner.IncRequest": wire.INC_REQUEST,
    "rpcrunner.RecordGaugeRequest": wire.RECORD_GAUGE_REQUEST,
    "rpcrunner.MeasureDurationMsSinceRequest": wire.MEASURE_DURATION_REQUEST,
    "WithTime": gob.Struct("WithTime", (gob.Field("T", gob.TIME),)),
    "instrumentation.Metric": wire.METRIC,
    "[]instrumentation.Metric": wire.METRICS,
}


def typed(case: dict[str, Any]) -> bool:
    """Whether we declare every type of a case (all but the generic test structs)."""
    return all(type_name in SCHEMAS for type_name in case["types"])


def decode_case(case: dict[str, Any], *, generic: bool) -> list[Any]:
    """Python's decoding of a case's bytes: with our declared types, or generically."""
    types = [None if generic else SCHEMAS[name] for name in case["types"]]
    decoder = gob.Decoder()
    decoder.feed(bytes.fromhex(case["hex"]))
    values = [decoder.next_value(gotype) for gotype in types]
    assert gob.Decoder.NEED_MORE not in values
    assert not decoder.messages_pending()
    return values


def case_mismatches(case: dict[str, Any], *, generic: bool) -> list[str]:
    values = decode_case(case, generic=generic)
    found: list[str] = []
    for index, (go, value, name) in enumerate(
        zip(case["tagged"], values, case["types"], strict=True)
    ):
        found += mismatches(go, value, None if generic else SCHEMAS[name], f"value[{index}]")
    return found


def to_microseconds(tagged: Any) -> Any:
    """Go's tagged values with times cut to what a Python datetime holds."""
    if isinstance(tagged, list):
        return [to_microseconds(item) for item in tagged]
    if isinstance(tagged, dict):
        if set(tagged) == {"time"}:
            time = dict(tagged["time"])
            time["nanos"] -= time["nanos"] % 1000
            del time["text"]
            return {"time": time}
        return {key: to_microseconds(item) for key, item in tagged.items()}
    return tagged


def load_fixture() -> dict[str, dict[str, Any]]:
    vectors: dict[str, dict[str, Any]] = json.loads(FIXTURE.read_text())
    return vectors


def fixture_form(detailed: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What the committed copy keeps of `gob-vectors --detailed`."""
    return {
        name: {"types": case["types"], "hex": case["hex"], "tagged": case["tagged"]}
        for name, case in sorted(detailed.items())
    }


def float_bits(value: float) -> str:
    bits: int = struct.unpack(">Q", struct.pack(">d", value))[0]
    return f"{bits:016x}"


def is_zero(go: dict[str, Any]) -> bool:
    """Whether Go's tagged value is its type's zero value (what gob leaves out of a struct)."""
    [(kind, value)] = go.items()
    if kind in ("bool", "int", "uint"):
        return not value
    if kind == "float":
        return bool(value == "0000000000000000")
    if kind == "string":
        return bool(value == "")
    if kind in ("bytes", "slice"):
        return not value
    if kind in ("map", "ptr", "iface"):
        return value is None
    if kind == "time":
        return bool(value["zero"])
    if kind == "array":
        return all(is_zero(item) for item in value)
    if kind == "struct":
        return all(is_zero(item) for item in value.values())
    raise AssertionError(f"unknown tag {kind}")


def mismatches(
    go: dict[str, Any], value: Any, gotype: gob.GoType | None, path: str = "$"
) -> list[str]:
    """Every difference between Go's tagged value and a value Python decoded.

    `gotype` is the local type Python decoded with (None: generic decoding).
    """
    [(kind, expected)] = go.items()
    found: list[str] = []

    def differ(what: str) -> list[str]:
        return [f"{path}: {what} (Go: {json.dumps(go)[:200]}, Python: {value!r:.200})"]

    if kind == "bool":
        return [] if value is expected else differ("bool")
    if kind in ("int", "uint"):
        ok = isinstance(value, int) and not isinstance(value, bool) and value == expected
        return [] if ok else differ(kind)
    if kind == "float":
        ok = isinstance(value, float) and float_bits(value) == expected
        return [] if ok else differ("float bits")
    if kind == "complex":
        ok = (
            isinstance(value, complex)
            and [
                float_bits(value.real),
                float_bits(value.imag),
            ]
            == expected
        )
        return [] if ok else differ("complex")
    if kind == "string":
        ok = isinstance(value, str) and value.encode("utf-8", "surrogateescape").hex() == expected
        return [] if ok else differ("string")
    if kind == "bytes":
        ok = isinstance(value, bytes) and value.hex() == (expected or "")
        return [] if ok else differ("bytes")
    if kind == "time":
        if isinstance(value, bytes) and gotype is None:
            value = gob.TIME.decode(value)  # generic decoding keeps a GobEncoder's bytes
        return (
            _time_mismatches(expected, value, path)
            if isinstance(value, dt.datetime)
            else differ("time")
        )
    if kind == "ptr":
        if expected is None:
            return [] if value is None else differ("nil pointer")
        return differ("nil pointer") if value is None else mismatches(expected, value, gotype, path)
    if kind == "iface":
        if expected is None:
            return [] if value is None else differ("nil interface")
        if not isinstance(value, gob.InterfaceValue):
            return differ("interface value")
        if value.name != expected["type"]:
            found += differ(f"interface type name {value.name!r}")
        return found + mismatches(expected["value"], value.value, None, path + ".(iface)")
    if kind in ("slice", "array"):
        items = expected or []
        if not isinstance(value, list) or len(value) != len(items):
            return differ(f"{kind} length")
        elem = gotype.elem if isinstance(gotype, gob.Slice | gob.Array) else None
        for index, (go_item, item) in enumerate(zip(items, value, strict=True)):
            found += mismatches(go_item, item, elem, f"{path}[{index}]")
        return found
    if kind == "map":
        if expected is None:
            return [] if value is None else differ("nil map")
        if not isinstance(value, dict) or len(value) != len(expected):
            return differ("map size")
        key_type = gotype.key if isinstance(gotype, gob.Map) else None
        elem_type = gotype.elem if isinstance(gotype, gob.Map) else None
        remaining = dict(value)
        for go_key, go_item in expected:
            match = [key for key in remaining if not mismatches(go_key, key, key_type)]
            if len(match) != 1:
                found += differ(f"key {json.dumps(go_key)}")
                continue
            found += mismatches(
                go_item, remaining.pop(match[0]), elem_type, f"{path}[{match[0]!r}]"
            )
        return found
    if kind == "struct":
        return _struct_mismatches(expected, value, gotype, path)
    raise AssertionError(f"unknown tag {kind}")


def _struct_mismatches(
    expected: dict[str, Any], value: Any, gotype: gob.GoType | None, path: str
) -> list[str]:
    local = gotype if isinstance(gotype, gob.Struct) else None
    found: list[str] = []
    if local is not None and local.factory is not None:
        if set(expected) != set(local.by_name):
            return [f"{path}: Go's fields {sorted(expected)} are not ours {sorted(local.by_name)}"]
        for name, go_field in expected.items():
            field = local.by_name[name]
            found += mismatches(
                go_field, getattr(value, field.py_name), field.type, f"{path}.{name}"
            )
        return found
    if not isinstance(value, dict):
        return [f"{path}: expected a struct as a dict, Python has {value!r:.200}"]
    unknown = set(value) - set(expected)
    if unknown:
        found.append(f"{path}: fields Go does not have: {sorted(unknown)}")
    for name, go_field in expected.items():
        field_type = (
            local.by_name[name].type if local is not None and name in local.by_name else None
        )
        if name not in value:
            if not is_zero(go_field):  # gob leaves zero fields out; anything else must be there
                found.append(f"{path}.{name}: missing, Go has {json.dumps(go_field)[:200]}")
            continue
        found += mismatches(go_field, value[name], field_type, f"{path}.{name}")
    return found


def _time_mismatches(expected: dict[str, Any], value: dt.datetime, path: str) -> list[str]:
    found = []
    offset = value.utcoffset()
    if offset is None:
        return [f"{path}: naive datetime {value!r}"]
    delta = value - _UNIX_EPOCH
    unix = delta.days * 86400 + delta.seconds
    if unix != expected["unix"] or delta.microseconds != expected["nanos"] // 1000:
        found.append(f"{path}: instant {value.isoformat()} is not Go's {expected['text']}")
    if offset != dt.timedelta(seconds=expected["offset"]):
        found.append(
            f"{path}: offset {offset} is not Go's {expected['offset']} s ({expected['text']})"
        )
    if (value.tzinfo is dt.UTC) != expected["utc"]:
        found.append(f"{path}: UTC location {value.tzinfo!r} vs Go's utc={expected['utc']}")
    return found


if __name__ == "__main__":
    json.dump(fixture_form(json.load(sys.stdin)), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
