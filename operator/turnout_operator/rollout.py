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


def _field(obj: Any, *path: str) -> Any:
    """The value at `path` in nested mappings, or None where a key on the way is absent.

    The API server omits zero and empty fields: a Deployment straight after creation
    has no `status` counts at all, and one scaled to zero none either.
    """
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _count(deployment: Mapping[str, Any], *path: str) -> int:
    """A replica count or generation; absent means 0."""
    return int(_field(deployment, *path) or 0)


def _condition(deployment: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in _field(deployment, "status", "conditions") or []:
        if condition.get("type") == kind:
            return condition  # type: ignore[no-any-return]
    return None


def rollout_state(deployment: Mapping[str, Any] | None, config_hash: str) -> RolloutState:
    """Where the rollout of the version with `config_hash` stands."""
    if deployment is None:
        return RolloutState(RolloutPhase.PROGRESSING, "waiting for the Deployment", 0)
    ready = _count(deployment, "status", "readyReplicas")
    template_hash = _field(
        deployment, "spec", "template", "metadata", "annotations", CONFIG_HASH_ANNOTATION
    )
    if template_hash != config_hash:
        return RolloutState(RolloutPhase.PROGRESSING, "the Deployment is being updated", ready)
    generation = _count(deployment, "metadata", "generation")
    if _count(deployment, "status", "observedGeneration") < generation:
        return RolloutState(RolloutPhase.PROGRESSING, "waiting for the rollout to start", ready)
    progressing = _condition(deployment, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        detail = progressing.get("message") or "progress deadline exceeded"
        return RolloutState(RolloutPhase.FAILED, f"rollout made no progress: {detail}", ready)
    replicas = _field(deployment, "spec", "replicas")
    wanted = 1 if replicas is None else int(replicas)
    updated = _count(deployment, "status", "updatedReplicas")
    total = _count(deployment, "status", "replicas")
    available = _count(deployment, "status", "availableReplicas")
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
