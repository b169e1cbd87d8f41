"""Each example values file configures its engines with options their plugin accepts.

The example plugin's parser mirrors Go's encoding/json field by field (checked
against Go in test_hardcoded_logic.py); the same options go to Turing's Go plugin
itself in tests/integration/test_example_values_go.py.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from tests.example_values import ROOT, example_engines

sys.path.insert(0, str(ROOT / "examples" / "plugins" / "hardcoded"))

from hardcoded.config import parse_manager_config
from hardcoded.gojson import EngineError

pytestmark = pytest.mark.unit

ENGINES = example_engines()


def test_the_examples_configure_engines() -> None:
    assert {(path, name) for path, name, _ in ENGINES} >= {
        ("examples/helm/values.yaml", "hardcoded"),
        ("examples/helm/values.yaml", "turing-hardcoded"),
    }


@pytest.mark.parametrize(
    ("path", "name", "options"), ENGINES, ids=[f"{p}:{n}" for p, n, _ in ENGINES]
)
def test_engine_options_parse_as_the_plugin_parses_them(path: str, name: str, options: Any) -> None:
    config = parse_manager_config(json.dumps(options).encode())
    assert config.engine.name == name
    for experiment in config.experiments or []:
        # Variables are keyed by experiment id, each a list of manager.Variable.
        for variable in (config.variables or {}).get(experiment.id) or []:
            assert variable.name


def test_the_wrong_variables_shape_is_refused_with_gos_message() -> None:
    """The shape the example had: a Router experiment config's, not the manager's."""
    options = {"variables": {"experiment_variables": {"001": [{"name": "client_id"}]}}}
    with pytest.raises(EngineError, match=r"ManagerConfig.variables of type \[\]manager.Variable"):
        parse_manager_config(json.dumps(options).encode())
