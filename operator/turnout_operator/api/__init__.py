"""The Router custom resource's models, the source of its CRD."""

from turnout_operator.api.router import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    Condition,
    ConditionType,
    ExperimentEngineSpec,
    Phase,
    RouterSpec,
    RouterStatus,
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "Condition",
    "ConditionType",
    "ExperimentEngineSpec",
    "Phase",
    "RouterSpec",
    "RouterStatus",
]
