"""The engines file: Turing's experimentEngines entries work as they are; secrets stay hidden."""

from __future__ import annotations

import pytest

from turnout_operator.engine_config import EngineFileError, parse_engines

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
