"""The gob codec against Go's encoding/gob: every vector Go produces decodes here, and
what we encode back decodes in Go to the same values Go started from."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from typing import Any

import pytest

from devenv.gopeers import GoPeers
from plugin_host import gob, wire
from plugin_host.netrpc import REQUEST, RESPONSE

pytestmark = pytest.mark.interop

# Go type name (as gob-vectors reports it) -> our declaration of the same type.
SCHEMAS: dict[str, gob.GoType] = {
    "bool": gob.BOOL,
    "int": gob.INT,
    "int64": gob.INT,
    "uint": gob.UINT,
    "uint32": gob.UINT,
    "uint64": gob.UINT,
    "float32": gob.FLOAT,
    "float64": gob.FLOAT,
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
    "instrumentation.Metric": wire.METRIC,
    "[]instrumentation.Metric": wire.METRICS,
}


@cache
def go_vectors(binary: str) -> dict[str, dict[str, Any]]:
    output = subprocess.run(
        [binary, "--detailed"], capture_output=True, text=True, check=True
    ).stdout
    vectors: dict[str, dict[str, Any]] = json.loads(output)
    return vectors


def go_decode(binary: str, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    lines = "".join(json.dumps(request) + "\n" for request in requests)
    output = subprocess.run(
        [binary, "decode"], input=lines, capture_output=True, text=True, check=True
    ).stdout
    return [json.loads(line) for line in output.splitlines()]


def decode_stream(hexbytes: str, types: list[gob.GoType | None]) -> list[Any]:
    decoder = gob.Decoder()
    decoder.feed(bytes.fromhex(hexbytes))
    values = [decoder.next_value(gotype) for gotype in types]
    assert gob.Decoder.NEED_MORE not in values
    assert not decoder.messages_pending()
    return values


# Python datetimes hold microseconds; Go's nanoseconds below that are dropped.
_FRACTION = re.compile(r"(T\d\d:\d\d:\d\d)\.(\d{1,9})")


def microseconds(value: Any) -> Any:
    text = json.dumps(value, sort_keys=True)

    def trim(match: re.Match[str]) -> str:
        digits = match.group(2)[:6].rstrip("0")
        return f"{match.group(1)}.{digits}" if digits else match.group(1)

    return json.loads(_FRACTION.sub(trim, text))


def test_every_go_vector_decodes_generically(gopeers: GoPeers) -> None:
    vectors = go_vectors(str(gopeers.gob_vectors))
    assert len(vectors) > 100
    for name, vector in vectors.items():
        try:
            decode_stream(vector["hex"], [None] * len(vector["types"]))
        except gob.GobError as exc:  # pragma: no cover - the assertion names the case
            pytest.fail(f"{name}: {exc}")


def test_typed_roundtrip_through_go_gives_go_values(gopeers: GoPeers) -> None:
    binary = str(gopeers.gob_vectors)
    vectors = go_vectors(binary)
    cases = {
        name: vector
        for name, vector in vectors.items()
        if all(type_name in SCHEMAS for type_name in vector["types"])
    }
    assert len(cases) > 80
    requests = []
    for name, vector in cases.items():
        types = [SCHEMAS[type_name] for type_name in vector["types"]]
        values = decode_stream(vector["hex"], list(types))
        encoder = gob.Encoder()  # one encoder for the whole case, as one connection would
        encoded = b"".join(
            encoder.encode(gotype, value) for gotype, value in zip(types, values, strict=True)
        )
        requests.append({"types": vector["types"], "hex": encoded.hex(), "case": name})
    answers = go_decode(binary, [{"types": r["types"], "hex": r["hex"]} for r in requests])
    mismatches = []
    for request, answer in zip(requests, answers, strict=True):
        expected = microseconds(cases[request["case"]]["decoded"])
        if not answer.get("ok") or microseconds(answer["values"]) != expected:
            mismatches.append((request["case"], answer, expected))
    assert not mismatches, mismatches[:3]


def test_go_rejects_nothing_we_send_for_turing_calls(gopeers: GoPeers) -> None:
    encoder = gob.Encoder()
    stream = encoder.encode(REQUEST, {"ServiceMethod": "Plugin.GetTreatmentForRequest", "Seq": 5})
    stream += encoder.encode(
        wire.GET_TREATMENT_REQUEST,
        wire.GetTreatmentRequest(
            {"X-Unit": ["4"]}, b'{"client": {"id": 4}}', wire.GetTreatmentOptions("req-1")
        ),
    )
    [answer] = go_decode(
        str(gopeers.gob_vectors),
        [{"types": ["rpc.Request", "rpcrunner.GetTreatmentRequest"], "hex": stream.hex()}],
    )
    assert answer["ok"], answer
    assert answer["values"][0] == {"ServiceMethod": "Plugin.GetTreatmentForRequest", "Seq": 5}
    assert answer["values"][1]["Options"] == {"TuringRequestID": "req-1"}
