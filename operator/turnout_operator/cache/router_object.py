"""A Router as its loop keeps it between passes: the parts of its body a pass reads, packed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from turnout_operator.builders import RouterIdentity
from turnout_operator.cache.packing import Packer
from turnout_operator.store import RouterRef

_ROUTERS: Final = Packer()
"""Every Router's spec and status as its loop keeps them between passes (`RouterObject`)."""


@dataclass(frozen=True)
class RouterObject:
    """The parts of a Router body a pass reads.

    Each Router's loop keeps its Router as last seen until the next pass: the spec and
    the status (conditions and all) are kept packed (`packing`: a few hundred bytes
    instead of about 8 KB of dicts) and unpacked, as fresh dicts, when read (once each
    per pass).
    """

    namespace: str
    name: str
    uid: str
    generation: int
    packed_spec: bytes
    packed_status: bytes
    """The spec and the status, packed apart: reading one unpacks only it."""
    resource_version: str = ""

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> RouterObject:
        meta = body.get("metadata", {})
        return cls(
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
            generation=int(meta.get("generation", 0) or 0),
            packed_spec=_ROUTERS.pack("spec", body.get("spec", {}) or {}),
            packed_status=_ROUTERS.pack("status", body.get("status", {}) or {}),
            resource_version=str(meta.get("resourceVersion", "")),
        )

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = _ROUTERS.unpack("spec", self.packed_spec)
        return spec

    @property
    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = _ROUTERS.unpack("status", self.packed_status)
        return status

    @property
    def identity(self) -> RouterIdentity:
        return RouterIdentity(namespace=self.namespace, name=self.name, uid=self.uid)

    @property
    def ref(self) -> RouterRef:
        return RouterRef(namespace=self.namespace, name=self.name, uid=self.uid)
