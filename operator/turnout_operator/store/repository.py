"""The versions store: numbered, immutable router versions in Postgres, over asyncio.

Reconciles of the same Router can run at once (kopf retries, a second operator
replica during a hand-over, a rollback racing an edit), yet version numbers must be
1, 2, 3, ... per router without gaps or duplicates, and recording the same config
twice must give the same version. Every write to a router's versions therefore
first locks that router's ``routers`` row (``SELECT ... FOR UPDATE``), which
serialises writers per router while leaving other routers alone; the unique
constraints on ``(router_id, number)`` and ``(router_id, config_hash)`` stay as the
last line of defence, and a write that still trips one is retried once.

Failures that mean "the database is not there" become :class:`StoreUnavailableError`
with a message safe to show; the pool checks connections before use, so the same
store object works again once the database is back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from sqlalchemy import ColumnElement, Select, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from turnout_operator.store.errors import UnknownVersionError, is_unavailable, unavailable
from turnout_operator.store.models import RouterRow, RouterVersionRow
from turnout_operator.store.records import (
    RouterRef,
    VersionDraft,
    VersionRecord,
    VersionStatus,
    check_storable,
)
from turnout_operator.store.urls import safe_url, store_url

CONNECT_TIMEOUT_SECONDS = 10
"""How long opening one connection may take before the store reports the database
unavailable (libpq's default is to wait forever)."""


class VersionStore:
    """Router versions in Postgres; one instance per process, shared by all handlers."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._url = engine.url
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def connect(cls, url: str, *, pool_size: int = 5) -> VersionStore:
        """A store for the database at ``url``; connections are opened on first use.

        ``postgresql://`` URLs get the psycopg 3 driver. ``pool_size`` is the most
        connections this store holds at once; callers beyond it wait for one.
        """
        engine = create_async_engine(
            store_url(url),
            pool_size=pool_size,
            # A hard cap: the database's max_connections is shared with other replicas.
            max_overflow=0,
            # After an outage the pooled connections are dead; test each before use so
            # the first call after recovery succeeds instead of failing once more.
            pool_pre_ping=True,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        )
        return cls(engine)

    @property
    def safe_url(self) -> str:
        """The database URL without its password, for logs."""
        return safe_url(self._url)

    async def close(self) -> None:
        """Close every pooled connection. The store may not be used afterwards."""
        await self._engine.dispose()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self._sessions() as session, session.begin():
                yield session
        except (DBAPIError, OSError) as exc:
            if is_unavailable(exc):
                raise unavailable(exc, self._url) from exc
            raise

    async def ping(self) -> None:
        """Return if the database answers; raise :class:`StoreUnavailableError` if not."""
        async with self._transaction() as session:
            await session.execute(text("SELECT 1"))

    async def find_by_hash(self, router: RouterRef, config_hash: str) -> VersionRecord | None:
        """The router's version made from the config with this hash, if there is one."""
        async with self._transaction() as session:
            row = await session.scalar(
                _versions_of(router).where(RouterVersionRow.config_hash == config_hash)
            )
            return _record(row) if row is not None else None

    async def get(self, router: RouterRef, number: int) -> VersionRecord | None:
        """Version ``number`` of the router, if it exists."""
        async with self._transaction() as session:
            row = await session.scalar(
                _versions_of(router).where(RouterVersionRow.number == number)
            )
            return _record(row) if row is not None else None

    async def list_versions(
        self, router: RouterRef, limit: int | None = None
    ) -> list[VersionRecord]:
        """The router's versions, newest (highest number) first; at most ``limit``."""
        query = _versions_of(router).order_by(RouterVersionRow.number.desc())
        if limit is not None:
            query = query.limit(limit)
        async with self._transaction() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def record(self, router: RouterRef, draft: VersionDraft) -> tuple[VersionRecord, bool]:
        """The router's version for ``draft``, and whether this call created it.

        A version with the same ``config_hash`` is returned as it is (whatever its
        status); otherwise a new ``pending`` version numbered one past the highest
        is stored. The router's row is created on its first version.
        """
        check_storable(draft.spec, "spec")
        check_storable(draft.experiment_engine, "experiment_engine")
        try:
            return await self._record_once(router, draft)
        except IntegrityError as exc:
            # The row lock makes this unreachable among writers that use this code;
            # one that does not (an older release without the lock, a hand-written
            # INSERT) can still win a race. The retry then sees its row.
            if not _is_unique_violation(exc):
                raise
            return await self._record_once(router, draft)

    async def _record_once(
        self, router: RouterRef, draft: VersionDraft
    ) -> tuple[VersionRecord, bool]:
        async with self._transaction() as session:
            router_id = await _lock_router(session, router, create=True)
            assert router_id is not None
            existing = await session.scalar(
                select(RouterVersionRow).where(
                    RouterVersionRow.router_id == router_id,
                    RouterVersionRow.config_hash == draft.config_hash,
                )
            )
            if existing is not None:
                return _record(existing), False
            highest = await session.scalar(
                select(func.coalesce(func.max(RouterVersionRow.number), 0)).where(
                    RouterVersionRow.router_id == router_id
                )
            )
            row = RouterVersionRow(
                router_id=router_id,
                number=(highest or 0) + 1,
                status=VersionStatus.PENDING.value,
                error=None,
                config_hash=draft.config_hash,
                spec=draft.spec,
                experiment_engine=draft.experiment_engine,
                router_image=draft.router_image,
            )
            session.add(row)
            await session.execute(
                update(RouterRow).where(RouterRow.id == router_id).values(updated_at=func.now())
            )
            await session.flush()
            # Read back what Postgres stored (JSONB, server-side timestamps).
            await session.refresh(row)
            return _record(row), True

    async def mark_deployed(self, router: RouterRef, number: int) -> None:
        """Version ``number`` is serving: it becomes deployed with no error, and every
        other deployed or pending version of the router becomes undeployed (a pending
        one was replaced before it rolled out). Rows already so are not written, so
        calling it on a settled router costs no write."""
        async with self._transaction() as session:
            router_id = await _require_version(session, router, number)
            await _set_status(
                session,
                router_id,
                VersionStatus.UNDEPLOYED,
                RouterVersionRow.status.in_(
                    [VersionStatus.DEPLOYED.value, VersionStatus.PENDING.value]
                )
                & (RouterVersionRow.number != number),
            )
            await _set_status(
                session,
                router_id,
                VersionStatus.DEPLOYED,
                (RouterVersionRow.number == number)
                & (RouterVersionRow.status != VersionStatus.DEPLOYED.value),
            )

    async def mark_failed(self, router: RouterRef, number: int, error: str) -> None:
        """Version ``number`` could not be rolled out; ``error`` says why and is kept."""
        async with self._transaction() as session:
            router_id = await _require_version(session, router, number)
            await _set_status(
                session,
                router_id,
                VersionStatus.FAILED,
                RouterVersionRow.number == number,
                error=error,
            )

    async def mark_undeployed(self, router: RouterRef) -> None:
        """The router serves nothing any more (deleted or suspended): every deployed or
        pending version becomes undeployed. A router the store never saw is fine."""
        async with self._transaction() as session:
            router_id = await _lock_router(session, router, create=False)
            if router_id is None:
                return
            await _set_status(
                session,
                router_id,
                VersionStatus.UNDEPLOYED,
                RouterVersionRow.status.in_(
                    [VersionStatus.DEPLOYED.value, VersionStatus.PENDING.value]
                ),
            )

    async def known_routers(self) -> list[RouterRef]:
        """Every router the store holds, oldest first: the operator compares them with
        the cluster to undeploy routers deleted while the database was down."""
        async with self._transaction() as session:
            rows = await session.execute(
                select(RouterRow.namespace, RouterRow.name, RouterRow.uid).order_by(RouterRow.id)
            )
            return [RouterRef(namespace=ns, name=name, uid=uid) for ns, name, uid in rows]


def _versions_of(router: RouterRef) -> Select[RouterVersionRow]:
    return (
        select(RouterVersionRow)
        .join(RouterRow, RouterRow.id == RouterVersionRow.router_id)
        .where(RouterRow.uid == router.uid)
    )


async def _lock_router(session: AsyncSession, router: RouterRef, *, create: bool) -> int | None:
    """Lock the router's row until the transaction ends, creating it if asked.

    Looking first and inserting only when missing keeps the ``routers`` id sequence
    from advancing on every reconcile (``ON CONFLICT DO NOTHING`` still draws a value).
    """
    locate = select(RouterRow.id).where(RouterRow.uid == router.uid).with_for_update()
    router_id = await session.scalar(locate)
    if router_id is not None or not create:
        return router_id
    # Two first versions of a new router race here: the loser's INSERT waits for the
    # winner's commit, then does nothing, and its SELECT ... FOR UPDATE finds the row.
    await session.execute(
        insert(RouterRow)
        .values(namespace=router.namespace, name=router.name, uid=router.uid)
        .on_conflict_do_nothing(index_elements=[RouterRow.uid])
    )
    return await session.scalar(locate)


async def _require_version(session: AsyncSession, router: RouterRef, number: int) -> int:
    router_id = await _lock_router(session, router, create=False)
    if router_id is not None:
        exists = await session.scalar(
            select(RouterVersionRow.id).where(
                RouterVersionRow.router_id == router_id, RouterVersionRow.number == number
            )
        )
        if exists is not None:
            return router_id
    raise UnknownVersionError(
        f"router {router.namespace}/{router.name} (uid {router.uid}) has no version {number}"
    )


async def _set_status(
    session: AsyncSession,
    router_id: int,
    status: VersionStatus,
    which: ColumnElement[bool],
    *,
    error: str | None = None,
) -> None:
    # Only status, error and updated_at are ever written after a version is created.
    await session.execute(
        update(RouterVersionRow)
        .where(RouterVersionRow.router_id == router_id, which)
        .values(status=status.value, error=error, updated_at=func.now())
    )


def _is_unique_violation(exc: IntegrityError) -> bool:
    return isinstance(exc.orig, psycopg.errors.UniqueViolation)


def _record(row: RouterVersionRow) -> VersionRecord:
    return VersionRecord(
        number=row.number,
        status=VersionStatus(row.status),
        error=row.error,
        config_hash=row.config_hash,
        spec=row.spec,
        experiment_engine=row.experiment_engine,
        router_image=row.router_image,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


__all__ = ["VersionStore"]
