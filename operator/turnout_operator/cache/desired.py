"""The child objects last built for each Router, reused while their inputs stay the same."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from turnout_operator.builders import BuildSettings, RouterIdentity
from turnout_operator.builders.desired import DesiredObjects, desired_objects, scaling_key
from turnout_operator.cache.packing import Packer

Documents = Callable[[], tuple[dict[str, Any], dict[str, Any]]]
"""The version row's spec and engine documents, read only when the objects are built."""

_FAMILY = "desired"


class DesiredMemo:
    """The child objects last built for each Router, so an unchanged Router's pass reuses them.

    Building them is most of a pass's own work (the router config's YAML above all),
    and almost every pass is over a Router whose version has not changed. One entry
    per Router (its uid), reused while everything they are built from is the same:
    the Router's identity, the version's number and hash (a row never changes once
    recorded, so these stand for its content) and the build settings. Entries are
    packed (`packing`: about 0.5 KB per Router instead of 5 KB of compact JSON) and each
    call returns fresh dicts, so a caller may change what it gets.
    """

    def __init__(self) -> None:
        self._packer = Packer()
        self._entries: dict[str, tuple[tuple[Any, ...], bytes]] = {}

    def objects(
        self,
        identity: RouterIdentity,
        number: int,
        config_hash: str,
        documents: Documents,
        settings: BuildSettings,
        scaling: Mapping[str, Any] | None = None,
    ) -> DesiredObjects:
        """`desired_objects` of this version, built again only when its inputs changed."""
        key = (identity, number, config_hash, settings, scaling_key(scaling))
        entry = self._entries.get(identity.uid)
        if entry is not None and entry[0] == key:
            return DesiredObjects(**self._packer.unpack(_FAMILY, entry[1]))
        spec_doc, engine_doc = documents()
        objects = desired_objects(identity, number, spec_doc, engine_doc, settings, scaling)
        self._entries[identity.uid] = (
            key,
            self._packer.pack(_FAMILY, dataclasses.asdict(objects)),
        )
        return objects

    def forget(self, uid: str) -> None:
        self._entries.pop(uid, None)

    def __len__(self) -> int:
        return len(self._entries)
