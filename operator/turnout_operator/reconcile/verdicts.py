"""What a reconcile pass concludes, for each way a pass can end.

Pure: every function takes what the pass learned and returns the `Verdict` that
`status.build_status` turns into the Router's status. Keeping the wording of
every phase, reason and message here, apart from the I/O of the pass, keeps the
user-facing contract (docs/operator.md's tables) in one place and tested without
servers.

One rule runs through all of them: when a change cannot be made, whatever
version was serving keeps serving, and `Ready` says so (`PreviousVersionServing`).
"""

from __future__ import annotations

from typing import Final

from turnout_operator.api import Phase, RouterStatus
from turnout_operator.reconcile.rollout import RolloutState
from turnout_operator.reconcile.status import Check, Event, Verdict
from turnout_router.config import NOP_ENGINE

SPEC_VALID: Final = Check(True, "SpecValid", "the spec and the experiment config are valid")
NOT_CHECKED: Final = Check(None, "NotChecked", "the spec is not valid")


def config_rejected_message(engine: str, plugin_message: str) -> str:
    """The engine refused the experiment config: ConfigValid's message and the webhook's."""
    return f"spec.experimentEngine.config: engine {engine!r} rejected it: {plugin_message}"


def unknown_engine_message(engine: str, configured: list[str]) -> str:
    """The spec names an engine this operator does not have."""
    names = ", ".join([NOP_ENGINE, *configured])
    return (
        f"spec.experimentEngine.type: engine {engine!r} is not configured in this operator; "
        f"configured engines: {names}"
    )


def ready_while(serving: int | None, reason: str, message: str) -> Check:
    """Ready is True while an earlier version serves, else False with the reason."""
    if serving is not None:
        return Check(True, "PreviousVersionServing", f"version {serving} keeps serving; {message}")
    return Check(False, reason, message)


def engine_check(name: str | None, running: bool, last_error: str | None) -> Check:
    """The EngineAvailable condition; `name` None is the built-in nop engine."""
    if name is None:
        return Check(True, "Builtin", "nop: no experiment; requests go to spec.fallbackRoute")
    if running:
        return Check(True, "PluginRunning", f"engine {name!r} is running")
    return Check(
        False,
        "PluginDown",
        f"engine {name!r} is not running: {last_error or 'starting'}; "
        "existing versions keep serving, new ones wait for it",
    )


def rejected(previous: RouterStatus, reason: str, message: str) -> Verdict:
    """A problem only a spec change fixes: invalid spec, unknown engine, refused config."""
    serving = previous.deployed_version
    return Verdict(
        phase=Phase.FAILED,
        message=message,
        ready=ready_while(serving, reason, message),
        progressing=Check(False, reason, "fix the spec; nothing is rolled out until then"),
        config_valid=Check(False, reason, message),
        engine_available=NOT_CHECKED,
        current_version=previous.current_version,
        deployed_version=serving,
        endpoint=previous.endpoint if serving is not None else None,
        replicas=previous.replicas,
    )


def waiting(previous: RouterStatus, reason: str, message: str, engine: Check) -> Verdict:
    """Something the operator retries on its own is unavailable."""
    return Verdict(
        # Pending even when an older version serves: the spec's change has not happened yet.
        phase=Phase.PENDING,
        message=message,
        ready=ready_while(previous.deployed_version, reason, message),
        progressing=Check(True, reason, message),
        config_valid=Check(None, reason, "not checked yet: " + message),
        engine_available=engine,
        current_version=previous.current_version,
        deployed_version=previous.deployed_version,
        endpoint=previous.endpoint,
        replicas=previous.replicas,
    )


def engine_down(previous: RouterStatus, engine: str, error: str) -> Verdict:
    message = f"engine {engine!r} is unavailable: {error}; retrying"
    return waiting(previous, "EngineUnavailable", message, Check(False, "PluginDown", message))


def database_down(previous: RouterStatus, error: str) -> Verdict:
    return waiting(
        previous,
        "DatabaseUnavailable",
        f"versions database unavailable: {error}; retrying",
        Check(None, "NotChecked", "waiting for the database"),
    )


def apply_failed(
    previous: RouterStatus, number: int | None, endpoint: str | None, engine: Check, error: str
) -> Verdict:
    """The API server refused an object (a quota, an admission policy, RBAC)."""
    what = f"version {number}'s objects" if number is not None else "the change"
    message = f"the API server refused {what}: {error}"
    serving = previous.deployed_version
    return Verdict(
        phase=Phase.FAILED,
        message=message,
        ready=ready_while(serving, "ApplyFailed", message),
        progressing=Check(False, "ApplyFailed", message),
        config_valid=SPEC_VALID,
        engine_available=engine,
        current_version=number if number is not None else previous.current_version,
        deployed_version=serving,
        endpoint=endpoint,
        replicas=previous.replicas,
    )


def deployed(
    number: int, endpoint: str, state: RolloutState, engine: Check, events: tuple[Event, ...]
) -> Verdict:
    return Verdict(
        phase=Phase.DEPLOYED,
        message=f"version {number} is serving at {endpoint}",
        ready=Check(True, "Deployed", f"version {number}: {state.message}"),
        progressing=Check(False, "RolloutComplete", state.message),
        config_valid=SPEC_VALID,
        engine_available=engine,
        current_version=number,
        deployed_version=number,
        endpoint=endpoint,
        replicas=state.ready_replicas,
        events=events,
    )


def deploying(
    number: int,
    endpoint: str,
    state: RolloutState,
    previous: RouterStatus,
    engine: Check,
    events: tuple[Event, ...],
) -> Verdict:
    serving = previous.deployed_version
    progress = f"version {number}: {state.message}"
    return Verdict(
        phase=Phase.DEPLOYING,
        message=f"rolling out version {number}: {state.message}",
        ready=(
            Check(True, "PreviousVersionServing", f"version {serving} serves meanwhile")
            if serving is not None
            else Check(False, "Deploying", progress)
        ),
        progressing=Check(True, "RollingOut", progress),
        config_valid=SPEC_VALID,
        engine_available=engine,
        current_version=number,
        deployed_version=serving,
        endpoint=endpoint,
        replicas=state.ready_replicas,
        events=events,
    )


def rollout_failed(
    number: int,
    reason: str,
    restored: int | None,
    previous: RouterStatus,
    endpoint: str,
    engine: Check,
    events: tuple[Event, ...] = (),
) -> Verdict:
    """The version's rollout exceeded its deadline; `restored` is the version serving again."""
    tail = (
        f"version {restored} is serving again"
        if restored is not None
        else "no earlier version to fall back to"
    )
    message = f"version {number} failed to roll out: {reason}; {tail}. Change the spec to retry."
    return Verdict(
        phase=Phase.FAILED,
        message=message,
        ready=(
            Check(True, "PreviousVersionServing", message)
            if restored is not None
            else Check(False, "RolloutFailed", message)
        ),
        progressing=Check(False, "RolloutFailed", message),
        config_valid=SPEC_VALID,
        engine_available=engine,
        current_version=number,
        deployed_version=restored,
        endpoint=endpoint if restored is not None else previous.endpoint,
        replicas=previous.replicas,
        events=events,
    )


SUSPENDED_MESSAGE: Final = (
    "suspended: no router pods; the versions are kept. Set spec.suspend to false to resume."
)


def suspended(previous: RouterStatus) -> Verdict:
    return Verdict(
        phase=Phase.UNDEPLOYED,
        message=SUSPENDED_MESSAGE,
        # Ready: the Router is as its spec asks (no pods). kstatus reads Ready=False as
        # InProgress, which would keep Flux waiting forever on a Router suspended in Git.
        ready=Check(True, "Suspended", SUSPENDED_MESSAGE),
        progressing=Check(False, "Suspended", SUSPENDED_MESSAGE),
        config_valid=SPEC_VALID,
        engine_available=Check(None, "Suspended", "not checked while suspended"),
        current_version=previous.current_version,
        deployed_version=None,
        endpoint=None,
        replicas=0,
    )
