"""The RouterVersion objects that mirror a Router's newest versions, built from their rows.

Pure: `routerversion_body` turns one stored version (and the one before it, for
the one-line change) into the object the operator applies; `describe_change` says
what changed between two versions in words a reader of `kubectl get rtv` wants;
`to_prune` says which mirrors fall outside the newest K.

The object carries no clock, so a version whose row did not change rebuilds to
the same body and an idle Router writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from turnout_operator.api import API_VERSION
from turnout_operator.api.routerversion import ROUTER_VERSION_KIND
from turnout_operator.builders import RouterIdentity
from turnout_operator.builders.names import VERSION_LABEL, labels
from turnout_operator.builders.objects import owner_reference

INLINE_LIMIT: Final = 64 * 1024
"""Bytes of canonical JSON above which a config is mirrored as its hash and size.

etcd refuses objects over 1.5 MiB; the spec, the experiment config and the runner
config together must stay well below it."""

CHANGE_LIMIT: Final = 200
"""Characters of the one-line change; longer descriptions end with an ellipsis."""

FIRST_VERSION: Final = "first version"


class VersionLike(Protocol):
    """What a mirror reads of a stored version (the store's VersionRecord fits)."""

    @property
    def number(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def spec(self) -> dict[str, Any]: ...
    @property
    def experiment_engine(self) -> dict[str, Any]: ...
    @property
    def router_image(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


def routerversion_name(router: str, number: int) -> str:
    return f"{router}-v{number}"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _inline_or_digest(key: str, value: Any, limit: int) -> dict[str, Any]:
    if value is None:
        return {}
    text = canonical_json(value).encode()
    if len(text) <= limit:
        return {key: value}
    return {f"{key}Hash": hashlib.sha256(text).hexdigest(), f"{key}Size": len(text)}


def engine_snapshot(engine: Mapping[str, Any], limit: int = INLINE_LIMIT) -> dict[str, Any]:
    """The engine part of a version row as mirrored: large configs as hash and size."""
    snapshot: dict[str, Any] = {"type": str(engine.get("type", ""))}
    if engine.get("pluginImage"):
        snapshot["pluginImage"] = str(engine["pluginImage"])
    if engine.get("pluginSha256"):
        snapshot["pluginSha256"] = str(engine["pluginSha256"])
    snapshot.update(_inline_or_digest("config", engine.get("config"), limit))
    snapshot.update(_inline_or_digest("runnerConfig", engine.get("runnerConfig"), limit))
    return snapshot


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _route_changes(old: Any, new: Any) -> list[str]:
    if not (isinstance(old, list) and isinstance(new, list)):
        return ["routes changed"]
    before = {str(r.get("id")): r for r in old if isinstance(r, dict)}
    after = {str(r.get("id")): r for r in new if isinstance(r, dict)}
    parts = [f"+{i}" for i in after if i not in before]
    parts += [f"-{i}" for i in before if i not in after]
    parts += [f"~{i}" for i in after if i in before and before[i] != after[i]]
    if not parts:  # same routes, other order
        return ["routes reordered"]
    return ["routes " + " ".join(parts)]


def _changes(path: str, old: Any, new: Any, depth: int) -> list[str]:
    if old == new:
        return []
    if path == "routes":
        return _route_changes(old, new)
    if old is None:
        return [f"{path}: set to {_short(new)}" if _scalar(new) else f"{path} added"]
    if new is None:
        return [f"{path} removed"]
    if _scalar(old) and _scalar(new):
        return [f"{path}: {_short(old)} → {_short(new)}"]
    if isinstance(old, dict) and isinstance(new, dict) and depth > 0:
        found: list[str] = []
        for key in sorted(set(old) | set(new)):
            found += _changes(f"{path}.{key}", old.get(key), new.get(key), depth - 1)
        return found
    return [f"{path} changed"]


def describe_change(previous: VersionLike | None, current: VersionLike) -> str:
    """What differs from the previous version, in one line (top-level fields of the spec,
    one level into objects; routes by id: +added -removed ~changed)."""
    if previous is None:
        return FIRST_VERSION
    parts: list[str] = []
    for key in sorted(set(previous.spec) | set(current.spec)):
        parts += _changes(key, previous.spec.get(key), current.spec.get(key), 1)
    old_engine, new_engine = previous.experiment_engine, current.experiment_engine
    if old_engine.get("pluginImage") != new_engine.get("pluginImage"):
        parts.append(
            f"plugin image: {_short(old_engine.get('pluginImage'))} → "
            f"{_short(new_engine.get('pluginImage'))}"
        )
    elif old_engine.get("pluginSha256") != new_engine.get("pluginSha256"):
        # The same reference, another binary: a tag that moved.
        parts.append(
            f"plugin binary behind {_short(new_engine.get('pluginImage'))} changed: sha256 "
            f"{str(old_engine.get('pluginSha256'))[:12]} → {str(new_engine.get('pluginSha256'))[:12]}"
        )
    if previous.router_image != current.router_image:
        parts.append(f"router image: {previous.router_image} → {current.router_image}")
    if not parts and old_engine != new_engine:
        parts.append("engine settings changed")
    text = "; ".join(parts) or "no change"
    return text if len(text) <= CHANGE_LIMIT else text[: CHANGE_LIMIT - 1] + "…"


def routerversion_body(
    identity: RouterIdentity,
    record: VersionLike,
    previous: VersionLike | None,
    limit: int = INLINE_LIMIT,
) -> dict[str, Any]:
    """The RouterVersion object mirroring `record` (`previous`: the version numbered one less)."""
    spec: dict[str, Any] = {
        "router": identity.name,
        "version": record.number,
        "status": str(record.status),
        "createdAt": rfc3339(record.created_at),
        "updatedAt": rfc3339(record.updated_at),
        "routerSpec": record.spec,
        "experimentEngine": engine_snapshot(record.experiment_engine, limit),
        "change": describe_change(previous, record),
    }
    if record.error:
        spec["error"] = record.error
    return {
        "apiVersion": API_VERSION,
        "kind": ROUTER_VERSION_KIND,
        "metadata": {
            "name": routerversion_name(identity.name, record.number),
            "namespace": identity.namespace,
            "labels": {
                **labels(identity),
                "app.kubernetes.io/component": "version",
                VERSION_LABEL: str(record.number),
            },
            "ownerReferences": [owner_reference(identity)],
        },
        "spec": spec,
    }


def to_prune(mirrored: Iterable[Mapping[str, Any]], keep: Iterable[int]) -> list[str]:
    """Names of mirrors whose version is not among `keep` (oldest versions beyond K), sorted."""
    kept = set(keep)
    names = []
    for body in mirrored:
        meta = body.get("metadata", {})
        number = (meta.get("labels") or {}).get(VERSION_LABEL, "")
        if not (number.isdigit() and int(number) in kept):
            names.append(str(meta.get("name", "")))
    return sorted(names)
