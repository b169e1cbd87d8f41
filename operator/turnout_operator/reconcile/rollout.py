"""How far a router Deployment's rollout has got, read from the Deployment and its new pods.

Pure: the Deployment object (and the new version's pods) in, a verdict out. The rules are the ones
`kubectl rollout status` uses, plus one of Turnout's own: the pod template must
carry the config hash of the version being rolled out, so an old Deployment
that happens to be healthy is never mistaken for the new version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from turnout_router.config import PLUGIN_MOVED_EXIT_CODE

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


# --- the new version's pods ---
#
# A Deployment says nothing while its new pods crash-loop: it stays "progressing" until
# its progress deadline (10 minutes by default) and only then fails. The pods say why at
# once, in the words of the container that failed (its termination message, or the last
# lines of its log: the operator sets terminationMessagePolicy FallbackToLogsOnError).
# A rollout is judged failed as soon as one of the new version's pods shows it can
# never start: the previous version keeps serving, and the Router says why.

RESTARTS_BEFORE_FAILED: Final = 1
"""A container (or initContainer) of a new pod that has exited non-zero and been
restarted this many times, without becoming ready, fails the rollout. The version's
config never changes, so a crash that repeats is the version's own; one restart leaves
room for a crash that is not (a node under memory pressure, say)."""

NEVER_STARTS: Final = frozenset({"ErrImageNeverPull", "InvalidImageName"})
"""Waiting reasons no retry can cure: the image reference itself is wrong."""

WAITING_SHOWN: Final = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "CrashLoopBackOff",
    }
)
"""Waiting reasons shown in the progress message; they may yet clear up (a registry that
comes back, a Secret created later), so the progress deadline still decides."""

MESSAGE_LIMIT: Final = 300
"""Characters of a container's own message kept in the Router's condition (its end:
a traceback's or a shell's last words are the informative ones)."""


@dataclass(frozen=True)
class PodTrouble:
    """Why one container of one new pod is not running, or why the pod has no node."""

    pod: str
    container: str | None
    """None: the trouble is the pod's own (the scheduler found no node for it)."""
    init: bool
    detail: str
    """The container's own message, or its reason and exit code; the scheduler's message."""
    permanent: bool

    def describe(self) -> str:
        if self.container is None:
            return f"pod {self.pod}: not scheduled: {self.detail}"
        kind = "initContainer" if self.init else "container"
        return f"pod {self.pod}: {kind} {self.container}: {self.detail}"


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _shorten(text: str) -> str:
    text = _one_line(text)
    return text if len(text) <= MESSAGE_LIMIT else "…" + text[-(MESSAGE_LIMIT - 1) :]


def _shorten_head(text: str) -> str:
    """Like `_shorten`, keeping the start: the scheduler says what is missing first
    ("0/3 nodes are available: 3 Insufficient cpu.") and adds preemption's notes after."""
    text = _one_line(text)
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _terminated_detail(terminated: Mapping[str, Any]) -> str:
    reason = str(terminated.get("reason") or "terminated")
    code = terminated.get("exitCode")
    head = f"{reason} (exit code {code})" if code is not None else reason
    message = str(terminated.get("message") or "").strip()
    return f"{head}: {_shorten(message)}" if message else head


def _plugin_images(pod: Mapping[str, Any]) -> list[str]:
    """The images of the pod's plugin initContainers (`<engine>-plugin`)."""
    return [
        str(container.get("image"))
        for container in _field(pod, "spec", "initContainers") or []
        if str(container.get("name", "")).endswith("-plugin")
    ]


def _container_trouble(
    pod: str, status: Mapping[str, Any], init: bool, plugin_images: Sequence[str] = ()
) -> PodTrouble | None:
    name = str(status.get("name", "?"))
    if status.get("ready"):
        return None
    state = status.get("state") or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    current = state.get("terminated") or {}
    waiting = state.get("waiting") or {}
    restarts = int(status.get("restartCount") or 0)
    failed = current if current.get("exitCode") not in (None, 0) else last
    if not init and failed.get("exitCode") == PLUGIN_MOVED_EXIT_CODE and plugin_images:
        # The router found another plugin binary than the one that validated this version:
        # the image's tag moved. A restart copies the same binary again, so it is final.
        message = _shorten(str(failed.get("message") or "").strip())
        # One engine per Router: one plugin initContainer.
        detail = f"the plugin image {plugin_images[0]} moved (not the binary that validated this version)"
        return PodTrouble(pod, name, False, f"{detail}: {message}" if message else detail, True)
    if failed.get("exitCode") not in (None, 0):
        return PodTrouble(
            pod, name, init, _terminated_detail(failed), restarts >= RESTARTS_BEFORE_FAILED
        )
    reason = str(waiting.get("reason") or "")
    if reason in NEVER_STARTS or reason in WAITING_SHOWN:
        message = str(waiting.get("message") or "").strip()
        detail = f"{reason}: {_shorten(message)}" if message else reason
        return PodTrouble(pod, name, init, detail, reason in NEVER_STARTS)
    return None


def _scheduling_trouble(name: str, pod: Mapping[str, Any]) -> PodTrouble | None:
    """A pod the scheduler has no node for (PodScheduled False, Unschedulable), in the
    scheduler's words. Not permanent: a node may be added or another pod may go (the
    cluster autoscaler adds nodes for exactly such pods), so the progress deadline decides."""
    for condition in _field(pod, "status", "conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            detail = _shorten_head(str(condition.get("message") or "")) or "Unschedulable"
            return PodTrouble(name, None, False, detail, permanent=False)
    return None


def pod_troubles(pods: Sequence[Mapping[str, Any]], config_hash: str) -> list[PodTrouble]:
    """What keeps the new version's pods (those whose template carries `config_hash`) from
    running, one entry per failing container (or per pod with no node), pods in name
    order, a pod's scheduling first, then initContainers, then containers."""
    found: list[PodTrouble] = []
    for pod in sorted(pods, key=lambda p: str(_field(p, "metadata", "name") or "")):
        annotations = _field(pod, "metadata", "annotations") or {}
        if annotations.get(CONFIG_HASH_ANNOTATION) != config_hash:
            continue
        if _field(pod, "metadata", "deletionTimestamp") is not None:
            continue
        name = str(_field(pod, "metadata", "name") or "?")
        images = _plugin_images(pod)
        unscheduled = _scheduling_trouble(name, pod)
        if unscheduled is not None:
            found.append(unscheduled)
        for key, init in (("initContainerStatuses", True), ("containerStatuses", False)):
            for status in _field(pod, "status", key) or []:
                trouble = _container_trouble(name, status, init, images)
                if trouble is not None:
                    found.append(trouble)
    return found


def reads_pods(state: RolloutState, deployment: Mapping[str, Any] | None, config_hash: str) -> bool:
    """True when the new version's pods may say more than the Deployment: it is rolling out
    this version's template and waits on pods to become available."""
    if state.phase != RolloutPhase.PROGRESSING or deployment is None:
        return False
    template_hash = _field(
        deployment, "spec", "template", "metadata", "annotations", CONFIG_HASH_ANNOTATION
    )
    return template_hash == config_hash and _count(deployment, "status", "updatedReplicas") > 0


def with_pods(
    state: RolloutState, pods: Sequence[Mapping[str, Any]], config_hash: str
) -> RolloutState:
    """`state` judged again with the new version's pods: failed when one can never start
    (in that container's own words), else progressing with what holds the pods up."""
    if state.phase != RolloutPhase.PROGRESSING:
        return state
    troubles = pod_troubles(pods, config_hash)
    for trouble in troubles:
        if trouble.permanent:
            return RolloutState(
                RolloutPhase.FAILED,
                f"the new pods cannot start: {trouble.describe()}",
                state.ready_replicas,
            )
    if troubles:
        return RolloutState(
            RolloutPhase.PROGRESSING,
            f"{state.message}; {troubles[0].describe()}",
            state.ready_replicas,
        )
    return state
