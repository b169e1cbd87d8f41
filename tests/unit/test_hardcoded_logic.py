"""The hardcoded engine's pure logic against Go's behaviour.

Expected values come from Go itself (hash/fnv, float32 arithmetic on amd64,
encoding/json, buger/jsonparser, go-playground/validator) and from the Go
example's own tests (runner_test.go) and configs, reproduced here as data.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = ROOT / "examples" / "plugins" / "hardcoded"
sys.path.insert(0, str(PLUGIN_DIR))

from hardcoded import config as cfg  # noqa: E402
from hardcoded import gojson, request, validation  # noqa: E402
from hardcoded.gojson import EngineError  # noqa: E402
from hardcoded.runner import treatment_for_request  # noqa: E402

from devenv.gopeers import HARDCODED_MANAGER_CONFIG  # noqa: E402
from tests.allocation_reference import (  # noqa: E402
    EDGE_TRAFFIC,
    NO_VARIANT,
    TURING_TRAFFIC,
    edge_cases,
    runner_config,
)

pytestmark = pytest.mark.unit

# ----- Turing's example, as data -----

# configs/plugin_config_example.yaml, as JSON.
TURING_ENGINE_OPTIONS = HARDCODED_MANAGER_CONFIG

# configs/router_config_example.json, verbatim.
TURING_ROUTER_EXPERIMENT_CONFIG = b"""{
  "experiments": [
    {
      "id": "001",
      "name": "exp_1"
    }
  ],
  "variables": {
    "experiment_variables": {
      "001": [
        {
          "name": "client_id",
          "type": "unit",
          "required": true
        }
      ]
    },
    "config": [
      {
        "name": "client_id",
        "required": true,
        "field": "client.id",
        "field_source": "payload"
      }
    ]
  }
}"""

# What Go's GetExperimentRunnerConfig returns for the two above.
TURING_RUNNER_CONFIG = (
    b'{"experiments":[{"id":"001","name":"exp_1","client_id":"",'
    b'"variants":[{"name":"control"},{"name":"treatment-1"}],'
    b'"segmentation_configuration":{"name":"client_id","source":"payload","value":"client.id"},'
    b'"variants_configuration":{"control":{"traffic":0.85,"treatment_configuration":{"foo":"bar"}},'
    b'"treatment-1":{"traffic":0.15,"treatment_configuration":{"bar":"baz"}}}}]}'
)

# runner_test.go's runner config, with its spacing (treatment configs come back byte for byte).
RUNNER_TEST_CONFIG = b"""{
    "experiments": [
        {
            "id": "001",
            "name": "exp_1",
            "variants": [
                {"name": "control"},
                {"name": "treatment-1"}
            ],
            "segmentation_configuration": {
                "name": "client_id",
                "source": "payload",
                "value": "client.id"
            },
            "variants_configuration": {
                "control": {
                    "traffic": 0.85,
                    "treatment_configuration": {"foo": "bar"}
                },
                "treatment-1": {
                    "traffic": 0.15,
                    "treatment_configuration": {"bar": "baz"}
                }
            }
        }
    ]
}"""

# runner_test.go: payload -> (experiment, treatment, config bytes) or the error text.
RUNNER_TEST_CASES = [
    (b'{"client": {"id": 4}}', ("exp_1", "control", b'{"foo": "bar"}')),
    (b'{"client": {"id": 7}}', ("exp_1", "treatment-1", b'{"bar": "baz"}')),
    (b"{}", "no experiment configured for the unit"),
]

SAMPLE_OPTIONS = (PLUGIN_DIR / "sample_engine_options.json").read_bytes()
SAMPLE_EXPERIMENT_CONFIG = (PLUGIN_DIR / "sample_experiment_config.json").read_bytes()


def runner_for(config: bytes) -> tuple[cfg.PreparedExperiment, ...]:
    prepared: tuple[cfg.PreparedExperiment, ...] = cfg.prepare(cfg.parse_runner_config(config))
    return prepared


Answer = tuple[str, str, bytes | None]


def treatment(
    config: bytes, payload: bytes, header: dict[str, list[str]] | None = None
) -> Answer | str:
    """(experiment, variant, config bytes), or the error text."""
    try:
        found = treatment_for_request(runner_for(config), header or {}, payload)
    except EngineError as exc:
        return str(exc)
    return (found.experiment_name, found.variant_name, found.config)


def variant_of(config: bytes, payload: bytes, header: dict[str, list[str]] | None = None) -> Answer:
    answer = treatment(config, payload, header)
    assert not isinstance(answer, str), answer
    return answer


def sample_runner_config() -> bytes:
    options = cfg.parse_manager_config(SAMPLE_OPTIONS)
    experiments = {experiment.name: experiment for experiment in options.experiments or []}
    produced: bytes = cfg.build_runner_config(experiments, SAMPLE_EXPERIMENT_CONFIG)
    return produced


# ----- FNV-1a -----


@pytest.mark.parametrize(
    ("data", "expected", "bucket"),
    [
        (b"", 0x811C9DC5, 6261),
        (b"a", 0xE40C292C, 2220),
        (b"foobar", 0xBF9CF968, 5720),
        (b"4", 0x310CA263, 1587),
        (b"7", 0x320CA3F6, 9206),
        (b"client-42", 0x297E91AF, 687),
        ("é".encode(), 0x1E9DE8C1, 5217),
        (b'a\\"b', 0x557D1B7C, 2396),
        (b"session-10794", 0xF8E9B1ED, 5005),
        (b"session-1322", 0x3BD108BE, 5006),
    ],
)
def test_fnv1a_32_matches_go(data: bytes, expected: int, bucket: int) -> None:
    assert cfg.fnv1a_32(data) == expected
    assert cfg.bucket(data) == bucket


# ----- float32 shares -----


@pytest.mark.parametrize(
    ("traffic", "share"),
    [
        # uint32(float32(traffic) * 10000) as Go computes it on amd64.
        ("0.5005", 5005),  # float64 arithmetic would give 5004
        ("0.57", 5700),  # float64: 5699
        ("0.85", 8500),
        ("0.15", 1500),
        ("0.1", 1000),
        ("0.3333333", 3333),
        ("1.0000001", 10000),
        ("0.4995", 4995),
        ("0", 0),
        ("1e-50", 0),
        ("-0.5", 4294962296),  # negative: through int64, low 32 bits
        ("-1", 4294957296),
        ("500000", 705032704),  # 5e9 wraps modulo 2**32
        ("429496.7296", 0),  # float32 429496.72 * 10000 = 2**32
        ("1e15", 0),  # beyond int64: Go's amd64 conversion gives 0
        ("3.4028235e38", 0),  # the product overflows float32 to +Inf
    ],
)
def test_traffic_share_uses_float32_arithmetic(traffic: str, share: int) -> None:
    assert cfg.traffic_share(gojson.parse_float32(traffic)) == share


def test_float64_would_differ_for_0_5005() -> None:
    assert int(0.5005 * 10000) == 5004
    assert cfg.traffic_share(gojson.parse_float32("0.5005")) == 5005


@pytest.mark.parametrize(
    ("bucket", "expected"),
    [(0, "a"), (5004, "a"), (5005, "a"), (5006, "b"), (9999, "b"), (10000, "b")],
)
def test_allocation_boundaries(bucket: int, expected: str) -> None:
    shares = [("a", gojson.parse_float32("0.5005")), ("b", gojson.parse_float32("0.4995"))]
    assert cfg.allocate(bucket, shares) == expected


@pytest.mark.parametrize("traffic", [TURING_TRAFFIC, EDGE_TRAFFIC], ids=["turing", "edges"])
def test_units_on_and_next_to_every_variant_edge(traffic: dict[str, float]) -> None:
    # Units found with the separately written reference; the whole request path.
    config = runner_config(traffic).encode()
    for bucket, unit, expected in edge_cases(traffic):
        answer = treatment(config, json.dumps({"client": {"id": unit}}).encode())
        if expected is None:
            assert answer == NO_VARIANT, bucket
        else:
            assert answer == ("exp_edges", expected, json.dumps({"variant": expected}).encode()), (
                bucket
            )


def test_allocation_falls_through_when_shares_do_not_reach_the_bucket() -> None:
    assert cfg.allocate(9000, [("a", gojson.parse_float32("0.5"))]) is None
    assert cfg.allocate(5000, [("a", gojson.parse_float32("0.5"))]) == "a"


def test_allocation_total_wraps_like_uint32() -> None:
    # -0.5 gives 4294962296; adding 0.5's 5000 wraps to 704, below bucket 705.
    shares = [("neg", gojson.parse_float32("-0.5")), ("half", gojson.parse_float32("0.5"))]
    assert cfg.allocate(705, shares) == "neg"
    assert cfg.allocate(703, shares) == "neg"
    assert cfg.allocate(4294962297, shares) is None


@pytest.mark.parametrize(
    ("text", "bits"),
    [
        ("0.85", 0x3F59999A),
        ("0.5005", 0x3F0020C5),
        ("3.4028235e38", 0x7F7FFFFF),
        ("1e-45", 0x00000001),
        ("7e-46", 0x00000000),
        ("-0", 0x80000000),
        # Exactly halfway between two float32s: ties to even.
        ("1.000000059604644775390625", 0x3F800000),
        # Just above halfway: up. Its nearest float64 is the halfway point itself, so
        # rounding through float64 first would give 0x3F800000.
        ("1.0000000596046447753906251", 0x3F800001),
    ],
)
def test_parse_float32_rounds_once_from_the_decimal_text(text: str, bits: int) -> None:
    assert struct.unpack("<I", struct.pack("<f", gojson.parse_float32(text)))[0] == bits


def test_float64_first_would_round_twice() -> None:
    text = "1.0000000596046447753906251"
    assert struct.unpack("<I", struct.pack("<f", float(text)))[0] == 0x3F800000
    assert struct.unpack("<I", struct.pack("<f", gojson.parse_float32(text)))[0] == 0x3F800001


def test_parse_float32_overflow() -> None:
    with pytest.raises(OverflowError):
        gojson.parse_float32("3.4028236e38")
    with pytest.raises(OverflowError):
        gojson.parse_float32("1e999999999999")


@pytest.mark.parametrize(
    ("bits", "text"),
    [
        (0x3F59999A, "0.85"),
        (0x3F0020C5, "0.5005"),
        (0x3DCCCCCD, "0.1"),
        (0x3F800000, "1"),
        (0x42C80000, "100"),
        (0x80000000, "-0"),
        (0x33D6BF95, "1e-7"),
        (0x358637BD, "0.000001"),
        (0x7F7FFFFF, "3.4028235e+38"),
        (0x4B189680, "10000000"),
        (0x6258D727, "1e+21"),
        (0x00000001, "1e-45"),
        (0x39800000, "0.00024414063"),  # 2**-12: Go's Dragonbox rounds this tie up
    ],
)
def test_float32_is_marshalled_like_go(bits: int, text: str) -> None:
    value = struct.unpack("<f", struct.pack("<I", bits))[0]
    assert gojson.format_float32(value) == text


# ----- Turing's own vectors -----


@pytest.mark.parametrize(("payload", "expected"), RUNNER_TEST_CASES)
def test_turing_runner_test_vectors(payload: bytes, expected: object) -> None:
    assert treatment(RUNNER_TEST_CONFIG, payload) == expected


def test_turing_example_runner_config() -> None:
    options = cfg.parse_manager_config(json.dumps(TURING_ENGINE_OPTIONS).encode())
    experiments = {experiment.name: experiment for experiment in options.experiments or []}
    produced = cfg.build_runner_config(experiments, TURING_ROUTER_EXPERIMENT_CONFIG)
    assert produced == TURING_RUNNER_CONFIG
    assert treatment(produced, b'{"client": {"id": 4}}') == ("exp_1", "control", b'{"foo":"bar"}')


def test_turing_example_validates() -> None:
    options = cfg.parse_manager_config(json.dumps(TURING_ENGINE_OPTIONS).encode())
    validation.validate_experiment_config(options.engine, TURING_ROUTER_EXPERIMENT_CONFIG)


def test_sample_configs() -> None:
    runner_config = sample_runner_config()
    assert json.loads(runner_config)["experiments"][1]["segmentation_configuration"] == {
        "name": "session_id",
        "source": "header",
        "value": "X-Session-Id",
    }
    # client ids 492 and 10076 hash to buckets 8500 and 8501: the control/treatment edge.
    assert variant_of(runner_config, b'{"client": {"id": 492}}')[:2] == ("exp_1", "control")
    assert variant_of(runner_config, b'{"client": {"id": 10076}}')[:2] == ("exp_1", "treatment-1")
    # No client.id: the session header decides, on the 0.5005 edge.
    assert treatment(runner_config, b"{}", {"X-Session-Id": ["session-10794"]}) == (
        "exp_2",
        "a",
        b'{"route_name":"route-a"}',
    )
    assert variant_of(runner_config, b"{}", {"X-Session-Id": ["session-1322"]})[:2] == (
        "exp_2",
        "b",
    )
    assert treatment(runner_config, b"{}") == "no experiment configured for the unit"


# ----- reading the unit -----


@pytest.mark.parametrize(
    ("header", "name", "unit"),
    [
        ({"X-Session-Id": ["abc"]}, "X-Session-Id", b"abc"),
        ({"X-Session-Id": ["abc"]}, "x-session-id", b"abc"),  # looked up in canonical form
        ({"X-Session-Id": ["a", "b"]}, "X-Session-Id", b"a,b"),  # values joined
        ({"X-Session-Id": ["", ""]}, "X-Session-Id", b","),
        ({"x-session-id": ["abc"]}, "X-Session-Id", None),  # the stored name must be canonical
        ({"X-Session-Id": [""]}, "X-Session-Id", None),  # empty means missing
        ({}, "X-Session-Id", None),
    ],
)
def test_header_unit(header: dict[str, list[str]], name: str, unit: bytes | None) -> None:
    if unit is None:
        with pytest.raises(EngineError, match=f"^Field {name} not found in the request header$"):
            request.unit_value(header, b"", "header", name)
    else:
        assert request.unit_value(header, b"", "header", name) == unit


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("x-unit-id", "X-Unit-Id"),
        ("X-UNIT-ID", "X-Unit-Id"),
        ("content-md5", "Content-Md5"),
        ("x_unit", "X_unit"),
        ("x unit", "x unit"),  # not a token: unchanged
        ("é-unit", "é-unit"),
        ("", ""),
    ],
)
def test_canonical_header_key(name: str, canonical: str) -> None:
    assert request.canonical_header_key(name) == canonical


@pytest.mark.parametrize(
    ("payload", "path", "unit"),
    [
        (b'{"client": {"id": 4}}', "client.id", b"4"),
        (b'{"client": {"id": 4.50}}', "client.id", b"4.50"),  # numbers as written
        (b'{"client": {"id": "a\\"b"}}', "client.id", b'a\\"b'),  # strings not unescaped
        (b'{"client": {"id": "\\u00e9"}}', "client.id", b"\\u00e9"),
        (b'{"client": {"id": true}}', "client.id", b"true"),
        (b'{"client": {"id": null}}', "client.id", b""),  # null: the empty unit
        (b'{"client": {"id": [1, 2]}}', "client.id", b"[1, 2]"),  # arrays and objects raw
        (b'{"client": {"id": {"k": 1}}}', "client.id", b'{"k": 1}'),
        (b'{"items": [{"id": "x"}, {"id": "y"}]}', "items.[1].id", b"y"),
        (b'{"items": ["x", "y"]}', "items.[0]", b"x"),
        (b'{"cl\\u0069ent": {"id": 5}}', "client.id", b"5"),  # keys compared unescaped
        (b'{"a": {"id": 1}, "client": {"id": 2}}', "client.id", b"2"),
        (b'{"client": {"id": "unterminated}}', "client.id", b""),  # Go ignores Get's error
        (b'{"client": {"id": 4}', "client.id", b"4"),  # not validated first
    ],
)
def test_payload_unit(payload: bytes, path: str, unit: bytes) -> None:
    assert request.unit_value({}, payload, "payload", path) == unit


@pytest.mark.parametrize(
    ("payload", "path", "message"),
    [
        (
            b"{}",
            "client.id",
            "Field client.id not found in the request payload: Key path not found",
        ),
        (b"", "client.id", "Field client.id not found in the request payload: Key path not found"),
        (
            b'{"client": 4}',
            "client.id",
            "Field client.id not found in the request payload: Key path not found",
        ),
        (
            b'{"items": [1]}',
            "items.[3]",
            "Field items.[3] not found in the request payload: Key path not found",
        ),
        (
            b'{"client": {"id": nope}}',
            "client.id",
            "Field client.id can not be parsed as string value, unsupported type: unknown",
        ),
    ],
)
def test_payload_unit_errors(payload: bytes, path: str, message: str) -> None:
    with pytest.raises(EngineError) as caught:
        request.unit_value({}, payload, "payload", path)
    assert str(caught.value) == message


def test_unknown_source() -> None:
    with pytest.raises(EngineError, match="^Unrecognized field source HEADER$"):
        request.unit_value({"X": ["1"]}, b"", "HEADER", "X")


def test_experiments_without_a_unit_are_passed_over() -> None:
    config = json.dumps(
        {
            "experiments": [
                {
                    "id": "1",
                    "name": "by-header",
                    "segmentation_configuration": {"source": "header", "value": "X-Unit"},
                    "variants_configuration": {"h": {"traffic": 1}},
                },
                {
                    "id": "2",
                    "name": "by-payload",
                    "segmentation_configuration": {"source": "payload", "value": "unit"},
                    "variants_configuration": {"p": {"traffic": 1}},
                },
            ]
        }
    ).encode()
    assert variant_of(config, b'{"unit": "u"}', {"X-Unit": ["u"]})[:2] == ("by-header", "h")
    assert variant_of(config, b'{"unit": "u"}')[:2] == ("by-payload", "p")
    assert treatment(config, b"{}") == "no experiment configured for the unit"


def test_variant_order_largest_traffic_first_ties_by_name() -> None:
    variants = {
        name: cfg.TreatmentConfig(traffic=gojson.parse_float32(traffic))
        for name, traffic in [("b", "0.25"), ("a", "0.25"), ("big", "0.5"), ("z", "0")]
    }
    assert cfg.sort_variants(variants) == ["big", "a", "b", "z"]


def test_treatment_without_config_is_empty() -> None:
    config = b'{"experiments":[{"id":"1","name":"e","segmentation_configuration":{"source":"payload","value":"u"},"variants_configuration":{"v":{"traffic":1}}}]}'
    assert treatment(config, b'{"u": 1}') == ("e", "v", None)
    config_null = config.replace(b'"traffic":1', b'"traffic":1,"treatment_configuration":null')
    assert treatment(config_null, b'{"u": 1}') == ("e", "v", b"null")


# ----- Go's encoding/json -----


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "unexpected end of JSON input"),
        (b"{", "unexpected end of JSON input"),
        (b"{,}", "invalid character ',' looking for beginning of object key string"),
        (b'{"engine" 1}', "invalid character '1' after object key"),
        (b'{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
        (b"[1 2]", "invalid character '2' after array element"),
        (b"{}x", "invalid character 'x' after top-level value"),
        (b"nul", "invalid character ' ' in literal null (expecting 'l')"),  # EOF steps a space
        (b"nulx", "invalid character 'x' in literal null (expecting 'l')"),
        (b'"\\x"', "invalid character 'x' in string escape code"),
        (b'"\x01"', "invalid character '\\x01' in string literal"),
        (b"01", "invalid character '1' after top-level value"),
        (b"1.e", "invalid character 'e' after decimal point in numeric literal"),
        (b"'", "invalid character '\\'' looking for beginning of value"),
        (b"\xff", "invalid character 'ÿ' looking for beginning of value"),
        (
            b'{"experiments": {}}',
            "json: cannot unmarshal object into Go struct field ManagerConfig.experiments"
            " of type []hardcoded.Experiment",
        ),
        (
            b'{"experiments": [{"id": 1}]}',
            "json: cannot unmarshal number into Go struct field Experiment.experiments.Experiment.id"
            " of type string",
        ),
        (
            b'{"experiments": [{"variants_configuration": {"a": {"traffic": "x"}}}]}',
            "json: cannot unmarshal string into Go struct field TreatmentConfig.experiments"
            ".variants_configuration.traffic of type float32",
        ),
        (
            b'{"experiments": [{"variants_configuration": {"a": {"traffic": 1e39}}}]}',
            "json: cannot unmarshal number 1e39 into Go struct field TreatmentConfig.experiments"
            ".variants_configuration.traffic of type float32",
        ),
        (
            b'{"engine": {"standard_experiment_manager_config": []}}',
            "json: cannot unmarshal array into Go struct field Engine.engine"
            ".standard_experiment_manager_config of type manager.StandardExperimentManagerConfig",
        ),
        (
            b'{"variables": {"001": [{"required": "yes"}]}}',
            "json: cannot unmarshal string into Go struct field Variable.variables.required of type bool",
        ),
        (b"[]", "json: cannot unmarshal array into Go value of type hardcoded.ManagerConfig"),
    ],
)
def test_manager_config_errors_are_gos(data: bytes, message: str) -> None:
    with pytest.raises(EngineError) as caught:
        cfg.parse_manager_config(data)
    assert str(caught.value) == message


def test_json_keys_match_case_insensitively_and_null_keeps_values() -> None:
    parsed = cfg.parse_manager_config(
        b'{"ENGINE": {"Name": "x", "display_name": null, "\xc5\xbftandard_experiment_manager_config": {}},'
        b' "experiments": [{"ID": "1", "Id": "2"}], "variables": null}'
    )
    assert parsed.engine.name == "x"
    assert parsed.engine.display_name == ""
    assert parsed.engine.standard_experiment_manager_config is not None  # U+017F folds to "s"
    assert parsed.experiments is not None and parsed.experiments[0].id == "2"
    assert parsed.variables is None


def test_nil_and_empty_lists_stay_distinct_in_the_runner_config() -> None:
    options = cfg.parse_manager_config(
        b'{"experiments": [{"name": "a", "variants": []}, {"name": "b"}]}'
    )
    experiments = {experiment.name: experiment for experiment in options.experiments or []}
    produced = cfg.build_runner_config(
        experiments, b'{"experiments": [{"name": "a"}, {"name": "b"}, {"name": "unknown"}]}'
    )
    decoded = json.loads(produced)["experiments"]
    assert decoded[0]["variants"] == []
    assert decoded[1]["variants"] is None
    assert decoded[1]["variants_configuration"] is None
    assert decoded[2] == {  # an unknown name: Go's zero Experiment
        "id": "",
        "name": "",
        "client_id": "",
        "variants": None,
        "segmentation_configuration": {"name": "", "source": "", "value": ""},
        "variants_configuration": None,
    }
    assert cfg.build_runner_config({}, b"{}") == b'{"experiments":[]}'


def test_runner_config_is_marshalled_like_go() -> None:
    options = cfg.parse_manager_config(
        b'{"experiments": [{"name": "e<&>", "variants_configuration": {'
        b'"z": {"traffic": 0.25, "treatment_configuration": { "html" : "<a&b>", "sep": "\xe2\x80\xa8" }},'
        b'"a": {"traffic": 1e-7}}}]}'
    )
    experiments = {experiment.name: experiment for experiment in options.experiments or []}
    produced = cfg.build_runner_config(experiments, b'{"experiments": [{"name": "e<&>"}]}')
    assert produced == (
        b'{"experiments":[{"id":"","name":"e\\u003c\\u0026\\u003e","client_id":"","variants":null,'
        b'"segmentation_configuration":{"name":"","source":"","value":""},'
        b'"variants_configuration":{"a":{"traffic":1e-7,"treatment_configuration":null},'
        b'"z":{"traffic":0.25,"treatment_configuration":{"html":"\\u003ca\\u0026b\\u003e","sep":"\\u2028"}}}}]}'
    )


def test_segmentation_comes_from_the_first_unit_variable_with_a_config() -> None:
    options = cfg.parse_manager_config(
        b'{"experiments": [{"id": "1", "name": "e",'
        b' "segmentation_configuration": {"name": "own", "source": "header", "value": "X-Own"}}]}'
    )
    experiments = {experiment.name: experiment for experiment in options.experiments or []}

    def segmentation(variables: object, config: object) -> object:
        experiment_config = json.dumps(
            {
                "experiments": [{"id": "1", "name": "e"}],
                "variables": {"experiment_variables": {"1": variables}, "config": config},
            }
        ).encode()
        produced = json.loads(cfg.build_runner_config(experiments, experiment_config))
        return produced["experiments"][0]["segmentation_configuration"]

    configs = [
        {"name": "f", "field": "F", "field_source": "header"},
        {"name": "u", "field": "a.b", "field_source": "payload"},
    ]
    assert segmentation(
        [{"name": "f", "type": "filter"}, {"name": "u", "type": "unit"}], configs
    ) == {
        "name": "u",
        "source": "payload",
        "value": "a.b",
    }
    # Only the first unit variable counts, even when it has no config.
    assert segmentation(
        [{"name": "x", "type": "unit"}, {"name": "u", "type": "unit"}], configs
    ) == {
        "name": "own",
        "source": "header",
        "value": "X-Own",
    }


# ----- ValidateExperimentConfig -----


def engine(client_selection: bool, experiment_selection: bool) -> cfg.Engine:
    return cfg.Engine(
        standard_experiment_manager_config=cfg.StandardExperimentManagerConfig(
            client_selection_enabled=client_selection,
            experiment_selection_enabled=experiment_selection,
        )
    )


def validate(engine: cfg.Engine, config: object) -> str | None:
    data = config if isinstance(config, bytes) else json.dumps(config).encode()
    try:
        validation.validate_experiment_config(engine, data)
    except EngineError as exc:
        return str(exc)
    return None


def key_error(path: str, tag: str) -> str:
    field = path.rsplit(".", 1)[-1]
    return f"Key: 'TuringExperimentConfig.{path}' Error:Field validation for '{field}' failed on the '{tag}' tag"


def test_validation_needs_a_standard_engine() -> None:
    assert validate(cfg.Engine(), {}) == "Missing Standard Engine configuration"


def test_validation_checks_experiments_and_client() -> None:
    both = engine(True, True)
    assert validate(both, {}) == "Expected at least 1 experiment in the configuration"
    assert (
        validate(both, {"experiments": []}) == "Expected at least 1 experiment in the configuration"
    )
    assert (
        validate(
            both,
            {"client": {"id": "c"}, "experiments": [{"id": "1", "name": "e", "client_id": "d"}]},
        )
        == "Client information does not match with the experiment"
    )
    assert validate(engine(False, False), {}) is None
    assert validate(engine(False, True), b"{,}") == (
        "invalid character ',' looking for beginning of object key string"
    )


def test_validation_lists_every_failure_like_go_playground_validator() -> None:
    config = {
        "client": {"id": "c"},
        "experiments": [{"id": "", "name": "", "client_id": "c"}],
        "variables": {
            "client_variables": [{"name": "", "type": ""}],
            "experiment_variables": {"b": [{"name": "n"}], "a": [{"type": "unit"}]},
            "config": [
                {"name": "", "required": True, "field": "", "field_source": "cookie"},
                {"name": "ok", "required": False, "field": "", "field_source": "HEADER"},
                {"name": "ok", "field": "f", "field_source": "predİction_context"},
            ],
        },
    }
    assert validate(engine(True, True), config) == "\n".join(
        [
            key_error("Client.Username", "required"),
            key_error("Experiments[0].ID", "required"),
            key_error("Experiments[0].Name", "required"),
            key_error("Variables.ClientVariables[0].Name", "required"),
            key_error("Variables.ClientVariables[0].Type", "required"),
            key_error("Variables.ExperimentVariables[a][0].Name", "required"),
            key_error("Variables.ExperimentVariables[b][0].Type", "required"),
            key_error("Variables.Config[0].Name", "required"),
            key_error("Variables.Config[0].Field", "required_with"),
            key_error("Variables.Config[0].FieldSource", "field-src"),
        ]
    )
    # Without selections, only the variables are checked.
    assert validate(engine(False, False), config) == "\n".join(
        [
            key_error("Variables.ClientVariables[0].Name", "required"),
            key_error("Variables.ClientVariables[0].Type", "required"),
            key_error("Variables.ExperimentVariables[a][0].Name", "required"),
            key_error("Variables.ExperimentVariables[b][0].Type", "required"),
            key_error("Variables.Config[0].Name", "required"),
            key_error("Variables.Config[0].Field", "required_with"),
            key_error("Variables.Config[0].FieldSource", "field-src"),
        ]
    )


def test_sample_experiment_config_is_valid() -> None:
    options = cfg.parse_manager_config(SAMPLE_OPTIONS)
    validation.validate_experiment_config(options.engine, SAMPLE_EXPERIMENT_CONFIG)


def test_experiment_summary_keeps_the_manager_fields() -> None:
    manager_config = dict(HARDCODED_MANAGER_CONFIG)
    manager_config["experiments"] = [
        {**HARDCODED_MANAGER_CONFIG["experiments"][0], "client_id": "c1"}
    ]
    [experiment] = cfg.parse_manager_config(json.dumps(manager_config).encode()).experiments
    assert experiment.summary() == cfg.Experiment(
        "001", "exp_1", "c1", [cfg.Variant("control"), cfg.Variant("treatment-1")]
    )


@pytest.mark.parametrize(
    "value",
    # Go on amd64 (checked with go1.26): uint32(v) is 0 at and beyond the int64
    # range, even where the low 32 bits of the integer would not be.
    [-(2.0**63), 2.0**63, -(2.0**63) - 2048.0, 2.0**63 + 2048.0, 2.0**64, 1e300],
)
def test_go_uint32_is_zero_outside_int64(value: float) -> None:
    assert cfg.go_uint32(value) == 0


def test_experiments_sharing_an_id_share_the_last_ones_variant_order() -> None:
    # What the Go plugin answers (checked through the Go host): the first
    # experiment walks the second's variant, which it lacks: traffic 0, no config.
    segmenter = {"name": "client_id", "source": "payload", "value": "client.id"}
    config = json.dumps(
        {
            "experiments": [
                {
                    "id": "1",
                    "name": "first",
                    "segmentation_configuration": segmenter,
                    "variants_configuration": {
                        "a": {"traffic": 1.0, "treatment_configuration": {"v": "a"}}
                    },
                },
                {
                    "id": "1",
                    "name": "second",
                    "segmentation_configuration": segmenter,
                    "variants_configuration": {
                        "b": {"traffic": 1.0, "treatment_configuration": {"v": "b"}}
                    },
                },
            ]
        }
    ).encode()
    # 232 hashes to bucket 0, 1993 to 8499.
    assert treatment(config, b'{"client": {"id": 232}}') == ("first", "b", None)
    assert treatment(config, b'{"client": {"id": 1993}}') == ("second", "b", b'{"v": "b"}')
