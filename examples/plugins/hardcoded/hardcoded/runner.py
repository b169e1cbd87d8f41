"""The hardcoded engine's experiment runner: hash the unit, walk the traffic shares."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from plugin_host import ExperimentRunner, GetTreatmentOptions, MethodError, Treatment

from . import config as cfg
from .gojson import EngineError
from .request import unit_value

log = logging.getLogger(__name__)


def treatment_for_request(
    prepared: Sequence[cfg.PreparedExperiment],
    header: Mapping[str, Sequence[str]] | None,
    payload: bytes,
) -> cfg.Assignment:
    """The pure part of GetTreatmentForRequest; EngineError when no experiment applies."""

    def unit_of(segmenter: cfg.SegmenterConfig) -> bytes:
        return unit_value(header, payload, segmenter.source, segmenter.value)

    return cfg.assign(prepared, unit_of)


class HardcodedExperimentRunner(ExperimentRunner):
    """Turing's "hardcoded" example runner.

    Before Configure (or with no experiments) every request gets "no
    experiment configured for the unit". A failed Configure keeps the previous
    configuration; a successful one replaces it at once, so concurrent requests
    see either the old or the new one, never a mix.
    """

    def __init__(self) -> None:
        self._prepared: tuple[cfg.PreparedExperiment, ...] = ()

    async def configure(self, config: bytes) -> None:
        try:
            prepared = cfg.prepare(cfg.parse_runner_config(config))
        except EngineError as exc:
            raise MethodError(str(exc)) from None
        self._prepared = prepared
        log.info("runner configured", extra={"experiments": len(prepared)})

    async def get_treatment_for_request(
        self, header: dict[str, list[str]], payload: bytes, options: GetTreatmentOptions
    ) -> Treatment:
        try:
            assignment = treatment_for_request(self._prepared, header, payload)
        except EngineError as exc:
            raise MethodError(str(exc)) from None
        return Treatment(
            experiment_name=assignment.experiment_name,
            name=assignment.variant_name,
            config=assignment.config or b"",
        )
