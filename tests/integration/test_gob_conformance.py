"""The gob codec against Go's encoding/gob, both ways, value by value.

Go's side is `gob-vectors`: the bytes Go's encoder writes for each case and the
value Go's decoder makes of them, printed with every value's Go kind (see
tests/gob_reference.py). Python's decoding of Go's bytes must give Go's value,
and Go's decoding of what Python encodes back must give Go's value again.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from typing import Any

import pytest

from devenv.gopeers import GoPeers
from plugin_host import gob, wire
from plugin_host.netrpc import REQUEST
from tests.gob_reference import (
    SCHEMAS,
    case_mismatches,
    decode_case,
    fixture_form,
    load_fixture,
    to_microseconds,
    typed,
)

pytestmark = pytest.mark.interop


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


def test_committed_vectors_are_what_go_prints(gopeers: GoPeers) -> None:
    # The unit tests check Python against the committed copy; it must be Go's.
    live = fixture_form(go_vectors(str(gopeers.gob_vectors)))
    committed = load_fixture()
    assert sorted(live) == sorted(committed)
    stale = [name for name in live if live[name] != committed[name]]
    assert not stale, (
        f"{stale[:5]} differ: gob-vectors --detailed | python -m tests.gob_reference "
        "> tests/unit/go_gob_vectors.json"
    )


def test_every_go_vector_decodes_generically_to_gos_value(gopeers: GoPeers) -> None:
    vectors = go_vectors(str(gopeers.gob_vectors))
    assert len(vectors) >= 150
    mismatches = {name: case_mismatches(case, generic=True) for name, case in vectors.items()}
    assert {name: found for name, found in mismatches.items() if found} == {}


def test_typed_decoding_and_reencoding_give_gos_values_both_ways(gopeers: GoPeers) -> None:
    binary = str(gopeers.gob_vectors)
    cases = {name: case for name, case in go_vectors(binary).items() if typed(case)}
    assert len(cases) >= 130
    # Python's decoding of Go's bytes is Go's value...
    mismatches = {name: case_mismatches(case, generic=False) for name, case in cases.items()}
    assert {name: found for name, found in mismatches.items() if found} == {}
    # ...and Go's decoding of what we encode from it is Go's value again.
    requests = []
    for case in cases.values():
        types = [SCHEMAS[type_name] for type_name in case["types"]]
        values = decode_case(case, generic=False)
        encoder = gob.Encoder()  # one encoder for the whole case, as one connection would
        encoded = b"".join(
            encoder.encode(gotype, value) for gotype, value in zip(types, values, strict=True)
        )
        requests.append({"types": case["types"], "hex": encoded.hex()})
    answers = go_decode(binary, requests)
    differing = [
        (name, answer)
        for (name, case), answer in zip(cases.items(), answers, strict=True)
        if not answer.get("ok")
        or to_microseconds(answer["tagged"]) != to_microseconds(case["tagged"])
    ]
    assert not differing, differing[:3]


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
