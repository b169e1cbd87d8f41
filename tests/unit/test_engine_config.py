"""The engines file: Turing's experimentEngines entries work as they are; secrets stay hidden."""

from __future__ import annotations

import pytest

from turnout_operator.api.engine_config import EngineFileError, SecretOptions, parse_engines

pytestmark = pytest.mark.unit

# An entry as Turing's Helm values write it (turing.experimentEngines), passkey included.
TURING_VALUES = """
experimentEngines:
  - name: my-engine
    type: rpc-plugin
    rpcPlugin:
      image: ghcr.io/example/my-engine-plugin:v0.0.1
    options:
      clients:
        - id: "1"
          username: client-a
          passkey: s3cr3t-passkey
    serviceAccountKeyFilePath: /secrets/gcp.json
"""


def test_turing_values_entry_parses_with_turings_default_liveness_period() -> None:
    (engine,) = parse_engines(TURING_VALUES)
    assert engine.name == "my-engine"
    assert engine.rpc_plugin.image == "ghcr.io/example/my-engine-plugin:v0.0.1"
    assert engine.rpc_plugin.liveness_period_seconds == 10
    assert engine.service_account_key_file_path == "/secrets/gcp.json"
    assert engine.options.reveal() == {
        "clients": [{"id": "1", "username": "client-a", "passkey": "s3cr3t-passkey"}]
    }


def test_options_never_show_in_repr_str_or_model_dump_json() -> None:
    (engine,) = parse_engines(TURING_VALUES)
    assert "s3cr3t" not in repr(engine)
    assert "s3cr3t" not in str(engine)
    assert "s3cr3t" not in f"{engine.options}"
    assert repr(engine.options) == str(engine.options) == "SecretOptions(<hidden>)"


def test_a_bare_list_and_an_empty_file_are_accepted() -> None:
    text = "- name: a\n  rpcPlugin: {image: img, livenessPeriodSeconds: 3}\n"
    (engine,) = parse_engines(text)
    assert engine.rpc_plugin.liveness_period_seconds == 3
    assert engine.options.reveal() == {}
    assert parse_engines("") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- name: a\n  options: {passkey: s3cr3t}\n", "engine 'a': rpcPlugin: Field required"),
        ("- name: a\n  type: grpc\n  rpcPlugin: {image: i}\n", "engine 'a': type:"),
        (
            "- {name: a, rpcPlugin: {image: i}}\n- {name: a, rpcPlugin: {image: j}}\n",
            "engine names must be unique; repeated: a",
        ),
        ("- name: nop\n  rpcPlugin: {image: i}\n", "'nop' is the built-in engine"),
        ("- name: Bad_Name\n  rpcPlugin: {image: i}\n", "engine 'Bad_Name': name:"),
        ("experimentEngines: {a: 1}\n", "must hold a list of engines"),
        ("[unclosed\n", "not YAML or JSON"),
    ],
)
def test_bad_files_are_refused_naming_the_entry_and_never_the_secret(
    text: str, message: str
) -> None:
    with pytest.raises(EngineFileError) as error:
        parse_engines(text)
    assert message in str(error.value)
    assert "s3cr3t" not in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- rpcPlugin: {image: i}\n", "engine '#0': name: Field required"),
        (
            "- name: a\n  rpcPlugin: {image: i}\n- s3cr3t\n",
            "engine '#1': entry: Input should be a valid dictionary or instance of EngineConfig",
        ),
        ("- name: a\n  rpcPlugin: {}\n", "engine 'a': rpcPlugin.image: Field required"),
        (
            "- name: Bad_Name\n  options: {passkey: s3cr3t}\n",
            "engine 'Bad_Name': name: String should match pattern "
            "'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'; rpcPlugin: Field required",
        ),
        (
            "experimentEngines: {a: 1}\n",
            "engines file must hold a list of engines (experimentEngines)",
        ),
        (
            "- {name: b, rpcPlugin: {image: i}}\n- {name: a, rpcPlugin: {image: i}}\n"
            "- {name: b, rpcPlugin: {image: j}}\n- {name: a, rpcPlugin: {image: j}}\n",
            "engine names must be unique; repeated: a, b",
        ),
    ],
)
def test_error_messages_whole(text: str, message: str) -> None:
    with pytest.raises(EngineFileError) as error:
        parse_engines(text)
    assert str(error.value) == message


def test_a_values_file_without_engines_configures_none() -> None:
    assert parse_engines("turing:\n  replicaCount: 1\n") == []


def test_engines_compare_and_hash_by_their_options_without_showing_them() -> None:
    (one,) = parse_engines(TURING_VALUES)
    (same,) = parse_engines(TURING_VALUES)
    (other,) = parse_engines(TURING_VALUES.replace("s3cr3t-passkey", "another"))
    assert one == same
    assert one != other
    assert len({one, same, other}) == 2
    assert SecretOptions({"passkey": "x"}) != {"passkey": "x"}
