"""Rollback decisions: which version to go back to, what to write, when it is done.

Pure. The rollback itself (cli) reads the Router and its RouterVersions, asks
`choose_target`, writes the version's spec back into the Router, then feeds every
Router status it sees to `progress` until it says done or failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from turnout_kubectl.views import newest_first, parse_time


class TargetError(Exception):
    """No version to roll back to; `missing` when the asked-for version is not there."""

    def __init__(self, message: str, missing: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.missing = missing


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def choose_target(
    versions: Sequence[Mapping[str, Any]], status: Mapping[str, Any], to: int | None
) -> Mapping[str, Any]:
    """The RouterVersion to roll back to.

    `to` given: that version. Otherwise the last deployed one before the current:

    * while the spec's version is not the one serving (it failed, or is rolling
      out), the version that serves;
    * else the version that stopped serving most recently (undeployed, latest
      `updatedAt`; the higher number on a tie).
    """
    by_number = {int(_spec(v).get("version", 0)): v for v in versions}
    if to is not None:
        if to not in by_number:
            known = ", ".join(str(n) for n in sorted(by_number)) or "none"
            raise TargetError(
                f"version {to} is not among the mirrored versions ({known}); "
                "older versions stay in the database only",
                missing=True,
            )
        return by_number[to]
    current, deployed = status.get("currentVersion"), status.get("deployedVersion")
    if deployed is not None and current != deployed and deployed in by_number:
        return by_number[deployed]
    candidates = [
        v
        for v in newest_first(versions)
        if _spec(v).get("status") == "undeployed"
        and _spec(v).get("version") not in (current, deployed)
    ]
    if not candidates:
        raise TargetError("no earlier deployed version to roll back to; name one with --to N")
    return max(
        candidates,
        key=lambda v: (
            parse_time(_spec(v).get("updatedAt")) or parse_time("1970-01-01T00:00:00Z"),
            int(_spec(v).get("version", 0)),
        ),
    )


SCALE_FIELDS = ("replicas", "autoscaling")
"""How many pods serve is not part of a version (the operator's desired.SCALING_FIELDS)."""


def target_spec(version_spec: Mapping[str, Any], live_spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec a rollback writes: the version's, at the Router's current scale.

    A rollback brings back what pods run, not how many: the scale stays as the Router
    has it now (a version recorded before the scale left versions may still carry one).
    """
    spec = {key: value for key, value in version_spec.items() if key not in SCALE_FIELDS}
    spec.update({key: live_spec[key] for key in SCALE_FIELDS if live_spec.get(key) is not None})
    return spec


Path = tuple[str, ...]


def leftovers(live: Any, target: Any, path: Path = ()) -> list[Path]:
    """Keys the live spec has and the target lacks, which server-side apply would keep
    when another field manager owns them (lists are replaced whole, so only maps count).
    `suspend` is not part of a version and is left as it is."""
    if not (isinstance(live, Mapping) and isinstance(target, Mapping)):
        return []
    found: list[Path] = []
    for key in sorted(live):
        if not path and key == "suspend":
            continue
        if key not in target:
            found.append((*path, key))
        else:
            found.extend(leftovers(live[key], target[key], (*path, key)))
    return found


def removal_patch(target: Mapping[str, Any], paths: Sequence[Path]) -> dict[str, Any]:
    """A JSON merge patch of `spec` that sets the target and removes `paths` (null)."""
    spec: dict[str, Any] = _deep_copy(target)
    for path in paths:
        node = spec
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = None
    return spec


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


@dataclass(frozen=True)
class Progress:
    line: str
    """What to tell the user (printed when it changes)."""
    done: bool = False
    failed: bool = False


def progress(router: str, body: Mapping[str, Any], generation: int, target: int) -> Progress:
    """Where a rollback to version `target` stands, from the Router as read now.

    `generation`: the Router's generation after the rollback's write; statuses of
    earlier generations say nothing about it.
    """
    status = body.get("status") or {}
    observed = status.get("observedGeneration")
    if observed is None or int(observed) < generation:
        return Progress(f"{router}: waiting for the operator to pick up generation {generation}")
    phase = str(status.get("phase", ""))
    current = status.get("currentVersion")
    message = str(status.get("message") or "")
    line = f"{router}: {phase}: {message}" if message else f"{router}: {phase} version {current}"
    if phase == "Failed":
        return Progress(line, failed=True)
    if phase in ("Deploying", "Deployed") and current != target:
        return Progress(
            f"{router}: its spec became version {current}, not {target}; "
            "the Router was changed meanwhile, or version "
            f"{target} was recorded with other engine or router images",
            failed=True,
        )
    if phase == "Deployed" and status.get("deployedVersion") == target:
        return Progress(f"{router}: Deployed at version {target}", done=True)
    return Progress(line)
