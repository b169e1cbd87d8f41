"""The operator's view of the objects it owns, fed by watch events, and who to wake.

Drift checks compare desired objects with this cache instead of asking the API
server: a Router that sits idle costs no API calls at all. Every watch event on
a child wakes the reconcile loop of the Router that owns it (by the
`turnout.dev/router` label), so a rollout's progress or a hand edit is seen at
once instead of at the next periodic check.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from turnout_operator.builders.names import ROUTER_LABEL
from turnout_operator.cache.packing import Packer

Key = tuple[str, str, str, str]
"""(kind, namespace, name, "") — kind first so that one Router's children sort together."""


def object_key(kind: str, namespace: str, name: str) -> Key:
    return (kind, namespace, name, "")


class ChildCache:
    """The last seen body of every object labelled as managed by Turnout.

    Bodies are kept without managedFields as compressed compact JSON, one dictionary per
    kind (`packing`): a Deployment the API server returns is about 22 KB as Python dicts,
    3.6 KB as compact JSON and about 0.3 KB packed. Each read unpacks a fresh copy (tens
    of microseconds), which callers may change freely. An index by owning Router makes
    `owned_by` cost that Router's objects, not all of them.
    """

    def __init__(self) -> None:
        self._packer = Packer()
        self._objects: dict[Key, bytes] = {}
        self._owner: dict[Key, tuple[str, str, str]] = {}
        """key → (kind, namespace, router) of objects carrying the Router label."""
        self._owned: dict[tuple[str, str, str], set[Key]] = {}
        self._versions: dict[Key, int] = {}
        """key → resourceVersion of the stored body, to refuse an older one."""
        self._intents: dict[Key, int] = {}
        """key → fingerprint of the stored body without status (see `intent`)."""

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> tuple[str, str] | None:
        """Record a watch event; return (namespace, router name) of the owner, if labelled
        and the event brings something new."""
        meta = body.get("metadata", {})
        # Interned: the kinds, namespaces and Router names repeat in the keys of the index.
        kind, namespace = sys.intern(str(body.get("kind"))), sys.intern(meta.get("namespace", ""))
        key = object_key(kind, namespace, meta.get("name", ""))
        router = (meta.get("labels") or {}).get(ROUTER_LABEL)
        router = sys.intern(router) if isinstance(router, str) else router
        version = _resource_version(meta)
        stored = self._versions.get(key)
        if event_type != "DELETED" and version is not None and version == stored:
            # The body held already (most often the answer to the operator's own apply,
            # then its watch event): nothing is new, nobody needs waking.
            return None
        older = version is not None and stored is not None and version < stored
        if event_type != "DELETED" and older:
            # An apply's answer can arrive after the watch events it caused (the rollout
            # finished meanwhile); keeping it would hide the newer state until a resync.
            return (namespace, router) if router else None
        self._unindex(key)
        if event_type == "DELETED":
            self._objects.pop(key, None)
            self._versions.pop(key, None)
            self._intents.pop(key, None)
        else:
            if version is not None:
                self._versions[key] = version
            # managedFields is most of a body's size and drift checks never read it.
            kept = {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
            self._objects[key] = self._packer.pack(kind, kept)
            self._intents[key] = _intent(kept)
            if router:
                owner = (kind, namespace, router)
                self._owner[key] = owner
                self._owned.setdefault(owner, set()).add(key)
        return (namespace, router) if router else None

    def _unindex(self, key: Key) -> None:
        owner = self._owner.pop(key, None)
        if owner is not None:
            keys = self._owned.get(owner, set())
            keys.discard(key)
            if not keys:
                self._owned.pop(owner, None)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        stored = self._objects.get(object_key(kind, namespace, name))
        return self._parse(kind, stored) if stored is not None else None

    def resource_version(self, kind: str, namespace: str, name: str) -> int | None:
        """The stored body's resourceVersion (None: absent, or not a number): any change
        to the object gives it a new one."""
        return self._versions.get(object_key(kind, namespace, name))

    def intent(self, kind: str, namespace: str, name: str) -> int | None:
        """A fingerprint of what the stored body asks for: everything but its status and
        the metadata every write changes (None: not held). A rollout changes a
        Deployment's status many times and this not at all."""
        return self._intents.get(object_key(kind, namespace, name))

    def forget(self, kind: str, namespace: str, name: str) -> None:
        key = object_key(kind, namespace, name)
        self._unindex(key)
        self._objects.pop(key, None)
        self._versions.pop(key, None)
        self._intents.pop(key, None)

    def remember(self, body: Mapping[str, Any]) -> None:
        """Store what an apply returned: fresher than waiting for its watch event, unless
        a watch event already brought a newer version."""
        self.observe("MODIFIED", body)

    def owned_versions(
        self, kind: str, namespace: str, router: str
    ) -> tuple[tuple[Key, int | None], ...]:
        """The Router's objects of `kind` and their resourceVersions, without parsing any:
        equal answers mean none of them was added, removed or changed in between."""
        keys = sorted(self._owned.get((kind, namespace, router), ()))
        return tuple((key, self._versions.get(key)) for key in keys)

    def owned_by(self, kind: str, namespace: str, router: str) -> list[dict[str, Any]]:
        keys = sorted(self._owned.get((kind, namespace, router), ()))
        return [self._parse(kind, self._objects[key]) for key in keys]

    def _parse(self, kind: str, stored: bytes) -> dict[str, Any]:
        body: dict[str, Any] = self._packer.unpack(kind, stored)
        return body

    def __len__(self) -> int:
        return len(self._objects)


_VOLATILE = frozenset({"resourceVersion", "generation", "managedFields"})


def _intent(body: Mapping[str, Any]) -> int:
    meta = body.get("metadata", {})
    kept = {
        **{key: value for key, value in body.items() if key != "status"},
        "metadata": {key: value for key, value in meta.items() if key not in _VOLATILE},
    }
    return hash(json.dumps(kept, separators=(",", ":")))


def _resource_version(meta: Mapping[str, Any]) -> int | None:
    """The body's resourceVersion as a number; None when absent or not a number.

    Kubernetes 1.35+ documents resourceVersions as comparable integers (KEP-5504);
    anything else is stored without comparison, as before.
    """
    try:
        return int(meta.get("resourceVersion", ""))
    except ValueError:
        return None
