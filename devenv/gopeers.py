"""Where the Go interop peers are, and the test vectors of the hardcoded engine.

``tests/gopeers/build.sh`` (run by ``make tools``) builds the peers into a cache
directory keyed by their sources and writes that directory to
``$TURNOUT_CACHE/gopeers/current``; this module only reads that file.

The vectors below are those of Turing's hardcoded example plugin (its
``configs/`` and ``runner_test.go``), which the Go test plugin reproduces.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COMMANDS = ("hardcoded-plugin", "plugin-host", "echo-bench", "gob-vectors")

# What a go-plugin host adds to a Turing plugin's environment.
PLUGIN_ENV = {"EXPERIMENTS_PLUGIN": "turing", "PLUGIN_PROTOCOL_VERSIONS": "1"}


class GoPeersMissing(RuntimeError):
    """The Go peers have not been built (or their build was removed)."""


def cache_root() -> Path:
    """``$TURNOUT_CACHE`` (default ``~/.cache/turnout``) / ``gopeers``."""
    root = os.environ.get("TURNOUT_CACHE") or str(Path.home() / ".cache" / "turnout")
    return Path(root) / "gopeers"


def gopeers_bin_dir() -> Path:
    """The bin directory of the current Go peers build."""
    current = cache_root() / "current"
    try:
        bin_dir = Path(current.read_text().strip())
    except FileNotFoundError:
        raise GoPeersMissing(
            f"{current} does not exist: the Go peers are not built. "
            "Run `make tools` (or tests/gopeers/build.sh)."
        ) from None
    missing = [name for name in COMMANDS if not os.access(bin_dir / name, os.X_OK)]
    if missing:
        raise GoPeersMissing(
            f"{bin_dir} lacks {', '.join(missing)}. Run `make tools` (or tests/gopeers/build.sh)."
        )
    return bin_dir


@dataclass(frozen=True)
class GoPeers:
    """Paths of the Go peer binaries of one build."""

    bin_dir: Path

    @property
    def hardcoded_plugin(self) -> Path:
        """Turing plugin (hardcoded engine) served by Turing's plugin/rpc code."""
        return self.bin_dir / "hardcoded-plugin"

    @property
    def plugin_host(self) -> Path:
        """Host that loads a plugin through Turing's plugin/rpc client code."""
        return self.bin_dir / "plugin-host"

    @property
    def echo_bench(self) -> Path:
        """Raw unix-socket echo round trips: the latency floor."""
        return self.bin_dir / "echo-bench"

    @property
    def gob_vectors(self) -> Path:
        """Gob encodings by Go's encoding/gob, and a decoder for checking others'."""
        return self.bin_dir / "gob-vectors"


def locate() -> GoPeers:
    """The current build's binaries; raises GoPeersMissing if there is none."""
    return GoPeers(gopeers_bin_dir())


# ----- Turing's hardcoded example: configs and expected answers -----

HARDCODED_MANAGER_CONFIG: dict[str, Any] = {
    "engine": {
        "name": "plugin-example",
        "display_name": "Plugin Example",
        "type": "standard",
        "standard_experiment_manager_config": {
            "client_selection_enabled": False,
            "experiment_selection_enabled": True,
        },
    },
    "experiments": [
        {
            "id": "001",
            "name": "exp_1",
            "variants": [{"name": "control"}, {"name": "treatment-1"}],
            "variants_configuration": {
                "control": {"traffic": 0.85, "treatment_configuration": {"foo": "bar"}},
                "treatment-1": {"traffic": 0.15, "treatment_configuration": {"bar": "baz"}},
            },
        }
    ],
    "variables": {"001": [{"name": "client", "required": True, "type": "unit"}]},
}

# A router's experiment config (what the manager validates and turns into a runner config).
HARDCODED_ROUTER_EXPERIMENT_CONFIG: dict[str, Any] = {
    "experiments": [{"id": "001", "name": "exp_1"}],
    "variables": {
        "experiment_variables": {"001": [{"name": "client_id", "type": "unit", "required": True}]},
        "config": [
            {
                "name": "client_id",
                "required": True,
                "field": "client.id",
                "field_source": "payload",
            }
        ],
    },
}

# The runner config of runner_test.go (with its exact spacing inside the treatment configs).
HARDCODED_RUNNER_CONFIG_TEXT = (
    '{"experiments": [{"id": "001", "name": "exp_1",'
    ' "variants": [{"name": "control"}, {"name": "treatment-1"}],'
    ' "segmentation_configuration": {"name": "client_id", "source": "payload", "value": "client.id"},'
    ' "variants_configuration": {'
    '"control": {"traffic": 0.85, "treatment_configuration": {"foo": "bar"}},'
    ' "treatment-1": {"traffic": 0.15, "treatment_configuration": {"bar": "baz"}}}}]}'
)

# runner_test.go: payload -> (experiment, treatment, exact config bytes) or the error text.
HARDCODED_TREATMENT_CASES: list[tuple[str, tuple[str, str, str] | str]] = [
    ('{"client": {"id": 4}}', ("exp_1", "control", '{"foo": "bar"}')),
    ('{"client": {"id": 7}}', ("exp_1", "treatment-1", '{"bar": "baz"}')),
    ("{}", "no experiment configured for the unit"),
]


def fnv1a_32(data: bytes) -> int:
    """FNV-1a, 32 bit: the hardcoded runner's bucket is this modulo 10000."""
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h
