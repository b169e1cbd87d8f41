"""The versions store: numbered, immutable router versions in Postgres, over asyncio.

Reconciles of the same Router can run at once (kopf retries, a second operator
replica during a hand-over, a rollback racing an edit), yet version numbers must be
1, 2, 3, ... per router without gaps or duplicates, and recording the same config
twice must give the same version. Every write to a router's versions therefore
first locks that router's ``routers`` row, which serialises writers per router while
leaving other routers alone; the unique constraints on ``(router_id, number)`` and
``(router_id, config_hash)`` stay as the last line of defence, and a write that still
trips one is retried once.

The store runs on every reconcile, so it is written for few round trips and little
client CPU: SQLAlchemy Core statements built once at import (their compiled form is
cached after the first call) on a plain connection, no ORM session with its identity
map, unit-of-work flush and refresh. What each call sends, besides the pool's
pre-ping:

* ``record``: BEGIN; one ``INSERT INTO routers ... ON CONFLICT (uid) DO UPDATE``
  that creates the router's row or, when it exists, locks it the way
  ``SELECT ... FOR UPDATE`` would (and stamps its ``updated_at``); one
  ``INSERT INTO router_versions ... SELECT max(number) + 1 ... ON CONFLICT
  (router_id, config_hash) DO NOTHING RETURNING ...`` that numbers and stores the
  version and hands back what Postgres stored; a SELECT of the existing version only
  when that insert found the hash taken; COMMIT. The insert is a separate statement
  on purpose: in READ COMMITTED each statement reads a fresh snapshot, so the insert
  sees every version committed by the writer whose lock it waited for. Folded into
  the locking statement, ``max(number)`` would come from the snapshot taken before
  the wait, and two writers would pick the same number.
* ``mark_deployed`` / ``mark_failed``: BEGIN; one ``SELECT ... FOR UPDATE`` of the
  router's row that also says whether the version exists; one UPDATE statement;
  COMMIT. ``mark_deployed``'s changes exactly the rows whose status is wrong (so a
  settled router gets no row written), undeploying before deploying because the
  one-deployed index is checked row by row (see ``_DEPLOY``).
* ``mark_undeployed``: BEGIN; ``SELECT ... FOR UPDATE`` of the router's row; one
  UPDATE of its deployed and pending versions; COMMIT.
* ``find_by_hash``, ``get``, ``list_versions``, ``known_routers``, ``serving_routers``: one SELECT in
  autocommit mode (a single statement is its own transaction, so BEGIN and COMMIT
  would be two more round trips for nothing).

Failures that mean "the database is not there" become :class:`StoreUnavailableError`
with a message safe to show; the pool checks connections before use, so the same
store object works again once the database is back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import (
    Integer,
    Table,
    bindparam,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from turnout_operator.store.errors import UnknownVersionError, is_unavailable, unavailable
from turnout_operator.store.models import Base
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

ISOLATION_LEVEL = "READ COMMITTED"
"""The isolation level of every write transaction, whatever the database's
``default_transaction_isolation``. Writes wait for the router's row lock and then
read what its holder committed, in a statement of their own (see ``_INSERT_NEXT``):
READ COMMITTED behaviour. Under REPEATABLE READ or SERIALIZABLE the writer that
waited would fail with a serialization error instead. Set on each connection when it
is opened (psycopg names it in each BEGIN it sends): no cost per call."""

BeforeCommit = Callable[[str], Awaitable[None]]
"""Awaited inside each transaction the store opens, after its statements ran and just
before COMMIT, with the name of the call (``"record"``, ``"mark_deployed"``,
``"mark_failed"``, ``"mark_undeployed"``, ``"ping"``). While it waits, the
transaction is open and holds the router's row lock and its uncommitted rows.

It exists so that tests can hold one writer there and run another against it on the
real database, which is how every lock is shown to prevent its race
(``tests/integration/test_store_races.py``). The operator passes none."""


class VersionStore:
    """Router versions in Postgres; one instance per process, shared by all handlers."""

    def __init__(self, engine: AsyncEngine, *, before_commit: BeforeCommit | None = None) -> None:
        """A store on ``engine``, which must be made as :meth:`connect` makes it: with
        ``isolation_level=ISOLATION_LEVEL``."""
        self._engine = engine
        self._before_commit = before_commit
        self._url = engine.url
        # The same pool, with connections in autocommit mode while they are checked out.
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")

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
            isolation_level=ISOLATION_LEVEL,
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
    async def _transaction(self, call: str) -> AsyncIterator[AsyncConnection]:
        """A connection inside BEGIN ... COMMIT (ROLLBACK if the block raises)."""
        try:
            async with self._engine.begin() as conn:
                yield conn
                if self._before_commit is not None:
                    await self._before_commit(call)
        except (DBAPIError, OSError) as exc:
            if is_unavailable(exc):
                raise unavailable(exc, self._url) from exc
            raise

    @asynccontextmanager
    async def _statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection in autocommit mode, for a single read-only statement."""
        try:
            async with self._reader.connect() as conn:
                yield conn
        except (DBAPIError, OSError) as exc:
            if is_unavailable(exc):
                raise unavailable(exc, self._url) from exc
            raise

    async def ping(self) -> None:
        """Return if the database answers; raise :class:`StoreUnavailableError` if not."""
        async with self._transaction("ping") as conn:
            await conn.execute(_PING)

    async def find_by_hash(self, router: RouterRef, config_hash: str) -> VersionRecord | None:
        """The router's version made from the config with this hash, if there is one."""
        async with self._statement() as conn:
            result = await conn.execute(_BY_HASH, {"the_uid": router.uid, "the_hash": config_hash})
            row = result.first()
        return _record(row) if row is not None else None

    async def get(self, router: RouterRef, number: int) -> VersionRecord | None:
        """Version ``number`` of the router, if it exists."""
        async with self._statement() as conn:
            result = await conn.execute(_BY_NUMBER, {"the_uid": router.uid, "the_number": number})
            row = result.first()
        return _record(row) if row is not None else None

    async def list_versions(
        self, router: RouterRef, limit: int | None = None
    ) -> list[VersionRecord]:
        """The router's versions, newest (highest number) first; at most ``limit``."""
        # LIMIT NULL is no limit, so one statement serves both.
        async with self._statement() as conn:
            result = await conn.execute(_NEWEST_FIRST, {"the_uid": router.uid, "the_limit": limit})
            rows = result.all()
        return [_record(row) for row in rows]

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
        async with self._transaction("record") as conn:
            # Two first versions of a new router race here: the loser's INSERT waits
            # for the winner's commit, then updates (and so locks) the winner's row.
            router_id = (
                await conn.execute(
                    _LOCK_OR_CREATE,
                    {"namespace": router.namespace, "name": router.name, "uid": router.uid},
                )
            ).scalar_one()
            values = {"the_router": router_id, "the_hash": draft.config_hash}
            created = (
                await conn.execute(
                    _INSERT_NEXT,
                    {
                        **values,
                        "the_spec": draft.spec,
                        "the_engine": draft.experiment_engine,
                        "the_image": draft.router_image,
                    },
                )
            ).first()
            if created is not None:
                return _record(created), True
            # The hash is taken: that version is the answer. (A writer that does not
            # lock could have taken the number instead; that raised, and is retried.)
            existing = (await conn.execute(_EXISTING, values)).one()
            return _record(existing), False

    async def mark_deployed(self, router: RouterRef, number: int) -> datetime | None:
        """Version ``number`` is serving: it becomes deployed with no error, and every
        other deployed or pending version of the router becomes undeployed (a pending
        one was replaced before it rolled out). Rows already so are not written, so
        calling it on a settled router costs no write.

        Returns the row's new ``updated_at`` when it was written (None: it was
        deployed already), so a record kept in memory can match the row."""
        async with self._transaction("mark_deployed") as conn:
            router_id = await _lock_version(conn, router, number)
            result = await conn.execute(_DEPLOY, {"the_router": router_id, "the_number": number})
            stamped: datetime | None = result.scalar_one_or_none()
            return stamped

    async def mark_failed(self, router: RouterRef, number: int, error: str) -> None:
        """Version ``number`` could not be rolled out; ``error`` says why and is kept."""
        async with self._transaction("mark_failed") as conn:
            router_id = await _lock_version(conn, router, number)
            await conn.execute(
                _FAIL, {"the_router": router_id, "the_number": number, "the_error": error}
            )

    async def mark_undeployed(self, router: RouterRef) -> None:
        """The router serves nothing any more (deleted or suspended): every deployed or
        pending version becomes undeployed. A router the store never saw is fine."""
        async with self._transaction("mark_undeployed") as conn:
            router_id = (await conn.execute(_LOCK, {"the_uid": router.uid})).scalar()
            if router_id is not None:
                await conn.execute(_UNDEPLOY_ALL, {"the_router": router_id})

    async def known_routers(self) -> list[RouterRef]:
        """Every router the store holds, oldest first: the operator compares them with
        the cluster to undeploy routers deleted while the database was down."""
        async with self._statement() as conn:
            rows = (await conn.execute(_ROUTERS)).all()
        return [RouterRef(namespace=ns, name=name, uid=uid) for ns, name, uid in rows]

    async def serving_routers(self) -> list[RouterRef]:
        """The routers with a deployed or pending version, oldest first: those the sweep of
        deleted routers must look at (one it marked already is not listed again)."""
        async with self._statement() as conn:
            rows = (await conn.execute(_SERVING_ROUTERS)).all()
        return [RouterRef(namespace=ns, name=name, uid=uid) for ns, name, uid in rows]


# --- statements ---------------------------------------------------------------------
# Built once: SQLAlchemy caches each one's compiled SQL after its first use, and
# psycopg prepares it on the server after a few, so a call costs only its parameters.
# Parameter names start with ``the_`` because insert() and update() reserve the
# column names for their own VALUES and SET parameters.

_routers: Table = Base.metadata.tables["routers"]
_versions: Table = Base.metadata.tables["router_versions"]

_DEPLOYED = VersionStatus.DEPLOYED.value
_PENDING = VersionStatus.PENDING.value
_UNDEPLOYED = VersionStatus.UNDEPLOYED.value

_RECORD_COLUMNS = (
    _versions.c.number,
    _versions.c.status,
    _versions.c.error,
    _versions.c.config_hash,
    _versions.c.spec,
    _versions.c.experiment_engine,
    _versions.c.router_image,
    _versions.c.created_at,
    _versions.c.updated_at,
)

_PING = text("SELECT 1")

_THE_ROUTER = bindparam("the_router", type_=Integer)
_THE_NUMBER = bindparam("the_number", type_=Integer)
_OF_THE_ROUTER = _versions.c.router_id == _THE_ROUTER
_LIVE = or_(_versions.c.status == _DEPLOYED, _versions.c.status == _PENDING)

_VERSIONS_BY_UID = (
    select(*_RECORD_COLUMNS)
    .select_from(_versions.join(_routers, _routers.c.id == _versions.c.router_id))
    .where(_routers.c.uid == bindparam("the_uid"))
)
_BY_HASH = _VERSIONS_BY_UID.where(_versions.c.config_hash == bindparam("the_hash"))
_BY_NUMBER = _VERSIONS_BY_UID.where(_versions.c.number == _THE_NUMBER)
_NEWEST_FIRST = _VERSIONS_BY_UID.order_by(_versions.c.number.desc()).limit(
    bindparam("the_limit", type_=Integer)
)

_ROUTERS = select(_routers.c.namespace, _routers.c.name, _routers.c.uid).order_by(_routers.c.id)
_SERVING_ROUTERS = _ROUTERS.where(exists().where(_versions.c.router_id == _routers.c.id, _LIVE))

# Takes the same row lock as SELECT ... FOR UPDATE would, whether it inserts or not. It
# draws a value from the routers id sequence each time (INSERT evaluates the default
# before it sees the conflict), which is one per recorded version: reconcile calls
# record only after find_by_hash found nothing.
_LOCK_OR_CREATE = (
    insert(_routers)
    .on_conflict_do_update(index_elements=[_routers.c.uid], set_={"updated_at": func.now()})
    .returning(_routers.c.id)
)

_LOCK = select(_routers.c.id).where(_routers.c.uid == bindparam("the_uid")).with_for_update()

# Whether the version exists is read in the same snapshot as the lock was requested
# in, which can be older than the lock: versions are never deleted, and a caller
# names a number only after the record() that made it committed, so a version it
# names is always in that snapshot.
_LOCK_WITH_VERSION = (
    select(
        _routers.c.id,
        exists().where(_versions.c.router_id == _routers.c.id, _versions.c.number == _THE_NUMBER),
    )
    .where(_routers.c.uid == bindparam("the_uid"))
    .with_for_update(of=_routers)
)

# max(number) + 1 under the router's lock; an aggregate without GROUP BY gives one row
# even for a router with no versions yet.
_INSERT_NEXT = (
    insert(_versions)
    .from_select(
        [
            _versions.c.router_id,
            _versions.c.number,
            _versions.c.status,
            _versions.c.config_hash,
            _versions.c.spec,
            _versions.c.experiment_engine,
            _versions.c.router_image,
        ],
        select(
            _THE_ROUTER,
            func.coalesce(func.max(_versions.c.number), 0) + 1,
            literal(_PENDING),
            bindparam("the_hash", type_=_versions.c.config_hash.type),
            bindparam("the_spec", type_=_versions.c.spec.type),
            bindparam("the_engine", type_=_versions.c.experiment_engine.type),
            bindparam("the_image", type_=_versions.c.router_image.type),
        ).where(_OF_THE_ROUTER),
    )
    .on_conflict_do_nothing(index_elements=[_versions.c.router_id, _versions.c.config_hash])
    .returning(*_RECORD_COLUMNS)
)

_EXISTING = select(*_RECORD_COLUMNS).where(
    _OF_THE_ROUTER, _versions.c.config_hash == bindparam("the_hash")
)

# Only status, error and updated_at are ever written after a version is created.
_UNDEPLOY_OTHERS = (
    update(_versions)
    .where(_OF_THE_ROUTER, _versions.c.number != _THE_NUMBER, _LIVE)
    .values(status=_UNDEPLOYED, error=None, updated_at=func.now())
    .returning(_versions.c.id)
    .cte("undeployed")
)

# One statement, two updates, in an order that matters: the unique index
# ix_router_versions_one_deployed is checked row by row, so the version being
# deployed may only change once the previously deployed one has. (A single UPDATE
# with CASE fails on a revert, when it reaches the lower number first.) The main
# UPDATE cannot write a row before its WHERE holds for it, and its WHERE needs the
# count of every row the WITH part changed, so that part is complete by then.
_DEPLOY = (
    update(_versions)
    .add_cte(_UNDEPLOY_OTHERS)
    .where(
        _OF_THE_ROUTER,
        _versions.c.number == _THE_NUMBER,
        _versions.c.status != _DEPLOYED,
        select(func.count()).select_from(_UNDEPLOY_OTHERS).scalar_subquery() >= 0,
    )
    .values(status=_DEPLOYED, error=None, updated_at=func.now())
    .returning(_versions.c.updated_at)
)

_FAIL = (
    update(_versions)
    .where(_OF_THE_ROUTER, _versions.c.number == _THE_NUMBER)
    .values(
        status=VersionStatus.FAILED.value,
        error=bindparam("the_error", type_=_versions.c.error.type),
        updated_at=func.now(),
    )
)

_UNDEPLOY_ALL = (
    update(_versions)
    .where(_OF_THE_ROUTER, _LIVE)
    .values(status=_UNDEPLOYED, error=None, updated_at=func.now())
)


async def _lock_version(conn: AsyncConnection, router: RouterRef, number: int) -> int:
    """Lock the router's row until the transaction ends; its id, if it has the version."""
    found = (
        await conn.execute(_LOCK_WITH_VERSION, {"the_uid": router.uid, "the_number": number})
    ).first()
    if found is not None and found[1]:
        router_id: int = found[0]
        return router_id
    raise UnknownVersionError(
        f"router {router.namespace}/{router.name} (uid {router.uid}) has no version {number}"
    )


def _is_unique_violation(exc: IntegrityError) -> bool:
    return isinstance(exc.orig, psycopg.errors.UniqueViolation)


def _record(row: Sequence[Any]) -> VersionRecord:
    """A record from a row of ``_RECORD_COLUMNS``, in that order."""
    number, status, error, config_hash, spec, engine, image, created_at, updated_at = row
    return VersionRecord(
        number=number,
        status=VersionStatus(status),
        error=error,
        config_hash=config_hash,
        spec=spec,
        experiment_engine=engine,
        router_image=image,
        created_at=created_at,
        updated_at=updated_at,
    )


__all__ = ["VersionStore"]
