"""The versions store: every router version the operator made, numbered, in Postgres.

Postgres is the system of record for versions (the RouterVersion objects in the
cluster only mirror it), so a version must survive operator restarts, be redeployable
without asking a plugin again, and keep its number under concurrent reconciles.
This package holds the schema (models and Alembic migrations), the asyncio
repository the reconciler uses, and the ``db upgrade`` command. It knows nothing of
Kubernetes (an import contract keeps it so): callers pass plain values.
"""

from turnout_operator.store.errors import StoreUnavailableError, UnknownVersionError
from turnout_operator.store.records import RouterRef, VersionDraft, VersionRecord, VersionStatus
from turnout_operator.store.repository import VersionStore

__all__ = [
    "RouterRef",
    "StoreUnavailableError",
    "UnknownVersionError",
    "VersionDraft",
    "VersionRecord",
    "VersionStatus",
    "VersionStore",
]
# `upgrade` (store.migrate) is not re-exported: it loads Alembic, about 11 MiB that the
# operator process, which never migrates, should not carry.
