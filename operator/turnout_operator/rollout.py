"""How far a router Deployment's rollout has got, read from the Deployment alone.

Pure: the Deployment object in, a verdict out. The rules are the ones
`kubectl rollout status` uses, plus one of Turnout's own: the pod template must
carry the config hash of the version being rolled out, so an old Deployment
that happens to be healthy is never mistaken for the new version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

CONFIG_HASH_ANNOTATION: Final = "turnout.dev/config-hash"


class RolloutPhase(StrEnum):
    PROGRESSING = "progressing"
    COMPLETE = "complete"
    FAILED = "failed"


@dataclass(frozen=True)
class RolloutState:
    phase: RolloutPhase
    message: str
    ready_replicas: int


def _condition(deployment: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in deployment.get("status", {}).get("conditions", None) or []:
        if condition.get("type") == kind:
            return condition  # type: ignore[no-any-return]
    return None


def rollout_state(deployment: Mapping[str, Any] | None, config_hash: str) -> RolloutState:
    """Where the rollout of the version with `config_hash` stands."""
    if deployment is None:
        return RolloutState(RolloutPhase.PROGRESSING, "waiting for the Deployment", 0)
    spec = deployment.get("spec", {})
    status = deployment.get("status", {}) or {}
    ready = int(status.get("readyReplicas", 0) or 0)
    template_hash = (spec.get("template", {}).get("metadata", {}).get("annotations", {}) or {}).get(
        CONFIG_HASH_ANNOTATION
    )
    if template_hash != config_hash:
        return RolloutState(RolloutPhase.PROGRESSING, "the Deployment is being updated", ready)
    generation = int(deployment.get("metadata", {}).get("generation", 0) or 0)
    if int(status.get("observedGeneration", 0) or 0) < generation:
        return RolloutState(RolloutPhase.PROGRESSING, "waiting for the rollout to start", ready)
    progressing = _condition(deployment, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        detail = progressing.get("message") or "progress deadline exceeded"
        return RolloutState(RolloutPhase.FAILED, f"rollout made no progress: {detail}", ready)
    wanted = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    updated = int(status.get("updatedReplicas", 0) or 0)
    total = int(status.get("replicas", 0) or 0)
    available = int(status.get("availableReplicas", 0) or 0)
    if updated < wanted:
        return RolloutState(
            RolloutPhase.PROGRESSING, f"{updated} of {wanted} new pods created", ready
        )
    if total > updated:
        return RolloutState(
            RolloutPhase.PROGRESSING, f"{total - updated} old pods still terminating", ready
        )
    if available < updated:
        return RolloutState(
            RolloutPhase.PROGRESSING, f"{available} of {updated} new pods available", ready
        )
    return RolloutState(RolloutPhase.COMPLETE, f"{available} of {wanted} pods available", ready)
