"""The hardcoded engine's configs and its pure logic: parsing, runner config, hashing, allocation.

Three JSON documents, with the shapes of Turing's example (its Go types in brackets):

* engine options, given to the manager's Configure [hardcoded.ManagerConfig]:
  the engine's info, the experiments with their variants, traffic shares and
  treatment configs, and the variables of each experiment (by experiment ID);
* a router's experiment config, given to ValidateExperimentConfig and
  GetExperimentRunnerConfig [manager.TuringExperimentConfig]: the chosen
  experiments, the client, and where each variable's value is read from;
* the runner config GetExperimentRunnerConfig produces and the runner's
  Configure reads [hardcoded.RunnerConfig]: the chosen experiments, each with
  the segmentation (unit) config resolved.

Nothing here does I/O; the plugin wiring is in `manager.py` and `runner.py`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from plugin_host.wire import (
    Client,
    CustomExperimentManagerConfig,
    Engine,
    RemoteUI,
    StandardExperimentManagerConfig,
    Variable,
    Variant,
)

from . import gojson
from .gojson import (
    BOOL,
    FLOAT32,
    RAW_MESSAGE,
    STRING,
    EngineError,
    GoField,
    GoMap,
    GoPointer,
    GoSlice,
    GoString,
    GoStruct,
)

NO_EXPERIMENT_FOR_UNIT: Final = "no experiment configured for the unit"
UNIT_VARIABLE_TYPE: Final = "unit"
BUCKETS: Final = 10000

# ---------------------------------------------------------------------------
# Models. Mutable because decoding fills them in place, as Go's decoder does;
# nothing mutates them once parsed. None stands for Go's nil (absent or null).
# The engine, client, variant and variable models are plugin_host's wire types.


@dataclass(slots=True)
class Experiment:
    """An experiment as a router's experiment config names it [manager.Experiment]."""

    id: str = ""
    name: str = ""
    client_id: str = ""
    variants: list[Variant] | None = None


@dataclass(slots=True)
class SegmenterConfig:
    """Where a request's unit value is read from: `source` "header" or "payload", `value` the name or path."""

    name: str = ""
    source: str = ""
    value: str = ""


@dataclass(slots=True)
class TreatmentConfig:
    traffic: float = 0.0
    """A float32 value: the variant's share of traffic (0.15 is 15%)."""
    treatment_configuration: bytes | None = None
    """The treatment config as raw JSON, returned as is with the treatment."""


@dataclass(slots=True)
class EngineExperiment:
    """An experiment of the engine [hardcoded.Experiment]: manager.Experiment plus runner settings."""

    id: str = ""
    name: str = ""
    client_id: str = ""
    variants: list[Variant] | None = None
    segmentation_configuration: SegmenterConfig = field(default_factory=SegmenterConfig)
    variants_configuration: dict[str, TreatmentConfig] | None = None

    def summary(self) -> Experiment:
        return Experiment(self.id, self.name, self.client_id, self.variants)


@dataclass(slots=True)
class ManagerConfig:
    engine: Engine = field(default_factory=Engine)
    experiments: list[EngineExperiment] | None = None
    variables: dict[str, list[Variable] | None] | None = None


@dataclass(slots=True)
class VariableConfig:
    name: str = ""
    required: bool = False
    field: str = ""
    field_source: str = ""


@dataclass(slots=True)
class Variables:
    client_variables: list[Variable] | None = None
    experiment_variables: dict[str, list[Variable] | None] | None = None
    config: list[VariableConfig] | None = None


@dataclass(slots=True)
class TuringExperimentConfig:
    client: Client = field(default_factory=Client)
    experiments: list[Experiment] | None = None
    variables: Variables = field(default_factory=Variables)


@dataclass(slots=True)
class RunnerConfig:
    experiments: list[EngineExperiment] | None = None


# ---------------------------------------------------------------------------
# Go type descriptions of the models (names as in Go's error texts)

FIELD_SOURCE: Final = GoString("request.FieldSource")

STANDARD_CONFIG_TYPE: Final = GoStruct(
    "manager.StandardExperimentManagerConfig",
    "StandardExperimentManagerConfig",
    StandardExperimentManagerConfig,
    (
        GoField("client_selection_enabled", "client_selection_enabled", BOOL),
        GoField("experiment_selection_enabled", "experiment_selection_enabled", BOOL),
        GoField("home_page_url", "home_page_url", STRING),
    ),
)
REMOTE_UI_TYPE: Final = GoStruct(
    "manager.RemoteUI",
    "RemoteUI",
    RemoteUI,
    (
        GoField("name", "name", STRING),
        GoField("url", "url", STRING),
        GoField("config", "config", STRING, omitempty=True),
    ),
)
CUSTOM_CONFIG_TYPE: Final = GoStruct(
    "manager.CustomExperimentManagerConfig",
    "CustomExperimentManagerConfig",
    CustomExperimentManagerConfig,
    (
        GoField("remote_ui", "remote_ui", REMOTE_UI_TYPE),
        GoField("experiment_config_schema", "experiment_config_schema", STRING, omitempty=True),
    ),
)
ENGINE_TYPE: Final = GoStruct(
    "manager.Engine",
    "Engine",
    Engine,
    (
        GoField("name", "name", STRING),
        GoField("display_name", "display_name", STRING),
        GoField("type", "type", GoString("manager.ExperimentManagerType")),
        GoField(
            "standard_experiment_manager_config",
            "standard_experiment_manager_config",
            GoPointer("*manager.StandardExperimentManagerConfig", STANDARD_CONFIG_TYPE),
            omitempty=True,
        ),
        GoField(
            "custom_experiment_manager_config",
            "custom_experiment_manager_config",
            GoPointer("*manager.CustomExperimentManagerConfig", CUSTOM_CONFIG_TYPE),
            omitempty=True,
        ),
    ),
)
VARIANT_TYPE: Final = GoStruct(
    "manager.Variant", "Variant", Variant, (GoField("name", "name", STRING),)
)
VARIABLE_TYPE: Final = GoStruct(
    "manager.Variable",
    "Variable",
    Variable,
    (
        GoField("name", "name", STRING),
        GoField("required", "required", BOOL),
        GoField("type", "type", GoString("manager.VariableType")),
    ),
)
VARIABLES_LIST_TYPE: Final = GoSlice("[]manager.Variable", VARIABLE_TYPE)
VARIANTS_LIST_TYPE: Final = GoSlice("[]manager.Variant", VARIANT_TYPE)
CLIENT_TYPE: Final = GoStruct(
    "manager.Client",
    "Client",
    Client,
    (
        GoField("id", "id", STRING),
        GoField("username", "username", STRING),
        GoField("passkey", "passkey", STRING, omitempty=True),
    ),
)
EXPERIMENT_TYPE: Final = GoStruct(
    "manager.Experiment",
    "Experiment",
    Experiment,
    (
        GoField("id", "id", STRING),
        GoField("name", "name", STRING),
        GoField("client_id", "client_id", STRING),
        GoField("variants", "variants", VARIANTS_LIST_TYPE),
    ),
)
SEGMENTER_CONFIG_TYPE: Final = GoStruct(
    "hardcoded.SegmenterConfig",
    "SegmenterConfig",
    SegmenterConfig,
    (
        GoField("name", "name", STRING),
        GoField("source", "source", FIELD_SOURCE),
        GoField("value", "value", STRING),
    ),
)
TREATMENT_CONFIG_TYPE: Final = GoStruct(
    "hardcoded.TreatmentConfig",
    "TreatmentConfig",
    TreatmentConfig,
    (
        GoField("traffic", "traffic", FLOAT32),
        GoField("treatment_configuration", "treatment_configuration", RAW_MESSAGE),
    ),
)
ENGINE_EXPERIMENT_TYPE: Final = GoStruct(
    "hardcoded.Experiment",
    "Experiment",
    EngineExperiment,
    (
        # Promoted from the embedded manager.Experiment.
        GoField("id", "id", STRING, embedded="Experiment"),
        GoField("name", "name", STRING, embedded="Experiment"),
        GoField("client_id", "client_id", STRING, embedded="Experiment"),
        GoField("variants", "variants", VARIANTS_LIST_TYPE, embedded="Experiment"),
        GoField("segmentation_configuration", "segmentation_configuration", SEGMENTER_CONFIG_TYPE),
        GoField(
            "variants_configuration",
            "variants_configuration",
            GoMap("map[string]hardcoded.TreatmentConfig", TREATMENT_CONFIG_TYPE),
        ),
    ),
)
ENGINE_EXPERIMENTS_TYPE: Final = GoSlice("[]hardcoded.Experiment", ENGINE_EXPERIMENT_TYPE)
MANAGER_CONFIG_TYPE: Final = GoStruct(
    "hardcoded.ManagerConfig",
    "ManagerConfig",
    ManagerConfig,
    (
        GoField("engine", "engine", ENGINE_TYPE),
        GoField("experiments", "experiments", ENGINE_EXPERIMENTS_TYPE),
        GoField(
            "variables", "variables", GoMap("map[string][]manager.Variable", VARIABLES_LIST_TYPE)
        ),
    ),
)
VARIABLE_CONFIG_TYPE: Final = GoStruct(
    "manager.VariableConfig",
    "VariableConfig",
    VariableConfig,
    (
        GoField("name", "name", STRING),
        GoField("required", "required", BOOL),
        GoField("field", "field", STRING),
        GoField("field_source", "field_source", FIELD_SOURCE),
    ),
)
VARIABLES_TYPE: Final = GoStruct(
    "manager.Variables",
    "Variables",
    Variables,
    (
        GoField("client_variables", "client_variables", VARIABLES_LIST_TYPE),
        GoField(
            "experiment_variables",
            "experiment_variables",
            GoMap("map[string][]manager.Variable", VARIABLES_LIST_TYPE),
        ),
        GoField("config", "config", GoSlice("[]manager.VariableConfig", VARIABLE_CONFIG_TYPE)),
    ),
)
TURING_EXPERIMENT_CONFIG_TYPE: Final = GoStruct(
    "manager.TuringExperimentConfig",
    "TuringExperimentConfig",
    TuringExperimentConfig,
    (
        GoField("client", "client", CLIENT_TYPE),
        GoField("experiments", "experiments", GoSlice("[]manager.Experiment", EXPERIMENT_TYPE)),
        GoField("variables", "variables", VARIABLES_TYPE),
    ),
)
RUNNER_CONFIG_TYPE: Final = GoStruct(
    "hardcoded.RunnerConfig",
    "RunnerConfig",
    RunnerConfig,
    (GoField("experiments", "experiments", ENGINE_EXPERIMENTS_TYPE),),
)


# ---------------------------------------------------------------------------
# Parsing and producing configs


def _parse(data: bytes, gotype: GoStruct) -> Any:
    return gojson.unmarshal(bytes(data), gotype)


def parse_manager_config(data: bytes) -> ManagerConfig:
    """Engine options (the manager's Configure). Raises EngineError with Go's JSON error text."""
    config: ManagerConfig = _parse(data, MANAGER_CONFIG_TYPE)
    return config


def parse_experiment_config(data: bytes) -> TuringExperimentConfig:
    """A router's experiment config (Turing's standard experiment config)."""
    config: TuringExperimentConfig = _parse(data, TURING_EXPERIMENT_CONFIG_TYPE)
    return config


def parse_runner_config(data: bytes) -> RunnerConfig:
    """The runner config (the runner's Configure)."""
    config: RunnerConfig = _parse(data, RUNNER_CONFIG_TYPE)
    return config


def encode_runner_config(config: RunnerConfig) -> bytes:
    """The runner config as Go's json.Marshal writes it."""
    return gojson.marshal(RUNNER_CONFIG_TYPE, config)


def build_runner_config(
    experiments_by_name: dict[str, EngineExperiment], experiment_config: bytes
) -> bytes:
    """GetExperimentRunnerConfig: the chosen experiments, with their unit variable resolved.

    Each experiment of the router's config is looked up by name among the
    engine's (an unknown name gives an all-empty experiment, as in Go). The
    first variable of type "unit" listed for the experiment's ID, if the
    variables' config has an entry of that name, becomes the experiment's
    segmentation config; otherwise the engine's own segmentation config stays.
    """
    config = parse_experiment_config(experiment_config)
    variables_by_experiment = config.variables.experiment_variables or {}
    chosen: list[EngineExperiment] = []
    for experiment in config.experiments or []:
        known = experiments_by_name.get(experiment.name)
        runner_experiment = dataclasses.replace(known) if known is not None else EngineExperiment()
        for variable in variables_by_experiment.get(experiment.id) or []:
            if variable.type != UNIT_VARIABLE_TYPE:
                continue
            for variable_config in config.variables.config or []:
                if variable_config.name == variable.name:
                    runner_experiment.segmentation_configuration = SegmenterConfig(
                        name=variable.name,
                        source=variable_config.field_source,
                        value=variable_config.field,
                    )
                    break
            break
        chosen.append(runner_experiment)
    return encode_runner_config(RunnerConfig(experiments=chosen))


# ---------------------------------------------------------------------------
# Hashing and allocation

FNV32_OFFSET: Final = 0x811C9DC5
FNV32_PRIME: Final = 0x01000193


def fnv1a_32(data: bytes) -> int:
    """FNV-1a, 32 bit (Go's hash/fnv New32a)."""
    value = FNV32_OFFSET
    for byte in data:
        value = ((value ^ byte) * FNV32_PRIME) & 0xFFFFFFFF
    return value


def bucket(unit: bytes) -> int:
    """The unit's bucket: FNV-1a 32 of its bytes, modulo 10000."""
    return fnv1a_32(unit) % BUCKETS


def go_uint32(value: float) -> int:
    """Go's uint32(x) for a float on amd64: truncate through int64, keep the low 32 bits.

    Out of int64 range (and NaN) the conversion gives 0 there; other
    architectures differ (arm64 saturates), amd64 is what Turing ships.
    """
    if math.isnan(value) or not (-(2.0**63) <= value < 2.0**63):
        return 0
    return int(value) & 0xFFFFFFFF


def traffic_share(traffic: float) -> int:
    """A variant's share of the 10000 buckets: uint32(traffic * 10000) in float32 arithmetic."""
    return go_uint32(gojson.f32(gojson.f32(traffic) * BUCKETS))


def sort_variants(variants: dict[str, TreatmentConfig] | None) -> list[str]:
    """Variant names, largest traffic first; equal traffic in name order.

    Turing's example orders equal traffic however Go's map iteration happens to
    go (that is, at random); name order makes the choice reproducible.
    """
    names = sorted(variants or {}, key=lambda name: name.encode("utf-8"))
    return sorted(names, key=lambda name: -(variants or {})[name].traffic)


def allocate(unit_bucket: int, ordered: Iterable[tuple[str, float]]) -> str | None:
    """The first variant whose cumulative share reaches the bucket, or None.

    `ordered` gives (name, traffic) in the runner's order. The running total is
    a uint32 and wraps as in Go.
    """
    total = 0
    for name, traffic in ordered:
        total = (total + traffic_share(traffic)) & 0xFFFFFFFF
        if unit_bucket <= total:
            return name
    return None


@dataclass(frozen=True, slots=True)
class Assignment:
    experiment_name: str
    variant_name: str
    config: bytes | None
    """The variant's treatment config (raw JSON) or None when it has none."""


@dataclass(frozen=True, slots=True)
class PreparedExperiment:
    experiment: EngineExperiment
    order: tuple[str, ...]


def prepare(config: RunnerConfig) -> tuple[PreparedExperiment, ...]:
    """The runner's view of its config: each experiment with its variant order.

    As in Go the order is kept per experiment ID, so experiments sharing an ID
    share the order computed for the last of them.
    """
    experiments = config.experiments or []
    order_by_id = {exp.id: tuple(sort_variants(exp.variants_configuration)) for exp in experiments}
    return tuple(PreparedExperiment(exp, order_by_id[exp.id]) for exp in experiments)


def assign(
    prepared: Sequence[PreparedExperiment],
    unit_of: Callable[[SegmenterConfig], bytes],
) -> Assignment:
    """GetTreatmentForRequest's walk: the first experiment with a unit value and a variant for it.

    `unit_of(segmenter)` returns the unit's bytes or raises EngineError when the
    request has none; such experiments are passed over, as are experiments whose
    shares never reach the bucket.
    """
    for item in prepared:
        experiment = item.experiment
        try:
            unit = unit_of(experiment.segmentation_configuration)
        except EngineError:
            continue
        variants = experiment.variants_configuration or {}
        missing = TreatmentConfig()
        chosen = allocate(
            bucket(unit),
            ((name, variants.get(name, missing).traffic) for name in item.order),
        )
        if chosen is not None:
            return Assignment(
                experiment.name, chosen, variants.get(chosen, missing).treatment_configuration
            )
    raise EngineError(NO_EXPERIMENT_FOR_UNIT)
