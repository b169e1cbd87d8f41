"""The version row a Router uses, as the reconciler keeps it between passes.

The reconciler keeps every Router's current version so that a pass over an
unchanged spec reads nothing from the database (a database outage then leaves
such Routers as they are). Most passes read only its number, hash, status and
router image; the spec and the engine document (experiment config, runner
config) are read only when the child objects or the RouterVersion mirrors are
built again. `CompactRecord` keeps those two packed (`packing`, a few hundred
bytes instead of about 10 KB of dicts per Router) and unpacks them on each read,
as fresh dicts. It is a `VersionRecord` in every other respect, so the mirror,
which compares the record it is handed by identity, works unchanged.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Final

from turnout_operator.cache.packing import Packer
from turnout_operator.store import VersionRecord, VersionStatus

_PACKER: Final = Packer()
"""One for every Router's rows: they are built by the same code, so they share a dictionary."""
_FAMILY: Final = "version"


class CompactRecord(VersionRecord):
    """A VersionRecord whose `spec` and `experiment_engine` are stored packed."""

    def __init__(
        self,
        number: int,
        status: VersionStatus,
        error: str | None,
        config_hash: str,
        spec: dict[str, Any],
        experiment_engine: dict[str, Any],
        router_image: str,
        created_at: datetime,
        updated_at: datetime,
    ) -> None:
        # Frozen, as the dataclass it extends; its generated __init__ would assign the two
        # documents to the properties below.
        set_field = object.__setattr__
        set_field(self, "number", number)
        set_field(self, "status", status)
        set_field(self, "error", error)
        set_field(self, "config_hash", config_hash)
        set_field(self, "router_image", router_image)
        set_field(self, "created_at", created_at)
        set_field(self, "updated_at", updated_at)
        set_field(self, "_documents", _PACKER.pack(_FAMILY, [spec, experiment_engine]))

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self._unpack()[0]
        return spec

    @property
    def experiment_engine(self) -> dict[str, Any]:
        engine: dict[str, Any] = self._unpack()[1]
        return engine

    def __eq__(self, other: object) -> bool:
        """Equal to any VersionRecord with equal fields (the dataclass's own `==` needs
        the same class)."""
        if not isinstance(other, VersionRecord):
            return NotImplemented
        return all(
            getattr(self, field.name) == getattr(other, field.name)
            for field in dataclasses.fields(VersionRecord)
        )

    __hash__ = VersionRecord.__hash__

    def _unpack(self) -> list[Any]:
        documents: list[Any] = _PACKER.unpack(_FAMILY, self.__dict__["_documents"])
        return documents


def kept_record(record: VersionRecord) -> VersionRecord:
    """`record` as kept between passes (a CompactRecord; one that already is, as it is)."""
    if isinstance(record, CompactRecord):
        return record
    return CompactRecord(
        number=record.number,
        status=record.status,
        error=record.error,
        config_hash=record.config_hash,
        spec=record.spec,
        experiment_engine=record.experiment_engine,
        router_image=record.router_image,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )
