"""The hardcoded engine's experiment manager: a standard manager whose data is its options."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from plugin_host import ExperimentManager, MethodError, wire

from . import config as cfg
from .gojson import EngineError
from .validation import validate_experiment_config

log = logging.getLogger(__name__)

NOT_CONFIGURED = (
    "experiment manager is not configured: call Configure with the engine options first"
)


@dataclass(frozen=True, slots=True)
class ManagerState:
    """What Configure keeps from the engine options."""

    engine: wire.Engine
    experiments: dict[str, cfg.EngineExperiment]
    """By name: a later experiment with the same name replaces an earlier one."""
    variables: dict[str, list[wire.Variable] | None]
    """By experiment ID."""

    @classmethod
    def from_options(cls, options: bytes) -> ManagerState:
        parsed = cfg.parse_manager_config(options)
        experiments = {experiment.name: experiment for experiment in parsed.experiments or []}
        return cls(parsed.engine, experiments, parsed.variables or {})


def to_wire_experiment(experiment: cfg.Experiment) -> wire.Experiment:
    return wire.Experiment(
        id=experiment.id,
        name=experiment.name,
        client_id=experiment.client_id,
        variants=[wire.Variant(name=variant.name) for variant in experiment.variants or []],
    )


def to_wire_variables(variables: list[wire.Variable] | None) -> list[wire.Variable]:
    return list(variables or [])


class HardcodedExperimentManager(ExperimentManager):
    """Turing's "hardcoded" example manager.

    Until Configure succeeds, GetEngineInfo and ValidateExperimentConfig answer
    an error (Turing's Go example crashes there); the other methods answer from
    an empty configuration. A failed Configure keeps the previous configuration.
    """

    def __init__(self) -> None:
        self._state: ManagerState | None = None

    @property
    def state(self) -> ManagerState | None:
        return self._state

    def _configured(self) -> ManagerState:
        if self._state is None:
            raise MethodError(NOT_CONFIGURED)
        return self._state

    async def configure(self, config: bytes) -> None:
        try:
            state = ManagerState.from_options(config)
        except EngineError as exc:
            raise MethodError(str(exc)) from None
        self._state = state
        log.info(
            "manager configured",
            extra={"engine": state.engine.name, "experiments": len(state.experiments)},
        )

    async def get_engine_info(self) -> wire.Engine:
        return self._configured().engine

    async def validate_experiment_config(self, config: bytes) -> None:
        try:
            validate_experiment_config(self._configured().engine, config)
        except EngineError as exc:
            raise MethodError(str(exc)) from None

    async def get_experiment_runner_config(self, config: bytes) -> bytes:
        experiments = self._state.experiments if self._state is not None else {}
        try:
            return cfg.build_runner_config(experiments, config)
        except EngineError as exc:
            raise MethodError(str(exc)) from None

    async def is_cache_enabled(self) -> bool:
        return True

    async def list_clients(self) -> list[wire.Client]:
        return []

    async def list_experiments(self) -> list[wire.Experiment]:
        """The configured experiments, in name order."""
        experiments = self._state.experiments if self._state is not None else {}
        names = sorted(experiments, key=lambda name: name.encode("utf-8"))
        return [to_wire_experiment(experiments[name].summary()) for name in names]

    async def list_experiments_for_client(self, client: wire.Client) -> list[wire.Experiment]:
        """Every experiment: the engine has no notion of clients."""
        return await self.list_experiments()

    async def list_variables_for_client(self, client: wire.Client) -> list[wire.Variable]:
        return []

    async def list_variables_for_experiments(
        self, experiments: list[wire.Experiment]
    ) -> dict[str, list[wire.Variable]]:
        """The configured variables of each given experiment (by ID) that has any entry."""
        variables = self._state.variables if self._state is not None else {}
        return {
            experiment.id: to_wire_variables(variables[experiment.id])
            for experiment in experiments
            if experiment.id in variables
        }
