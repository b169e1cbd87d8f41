"""Turing's "hardcoded" example experiment engine, as a Python go-plugin net/rpc plugin.

The engine's experiments, traffic shares and treatment configs come from its
engine options; a request's unit (a header or a JSON payload field) is hashed
with FNV-1a into one of 10000 buckets, and the variant whose cumulative share
reaches the bucket is the treatment. Answers, JSON and error texts are those of
Turing's Go example, byte for byte.

Modules: `config` (models, runner config, hashing, allocation), `gojson` (Go's
encoding/json behaviour), `request` (reading the unit), `validation`
(ValidateExperimentConfig), `manager` and `runner` (the plugin methods);
`python -m hardcoded` serves both plugins.
"""

from .config import (
    ManagerConfig,
    RunnerConfig,
    TuringExperimentConfig,
    allocate,
    bucket,
    build_runner_config,
    fnv1a_32,
    parse_experiment_config,
    parse_manager_config,
    parse_runner_config,
    traffic_share,
)
from .gojson import EngineError

__all__ = [
    "EngineError",
    "ManagerConfig",
    "RunnerConfig",
    "TuringExperimentConfig",
    "allocate",
    "bucket",
    "build_runner_config",
    "fnv1a_32",
    "parse_experiment_config",
    "parse_manager_config",
    "parse_runner_config",
    "traffic_share",
]
