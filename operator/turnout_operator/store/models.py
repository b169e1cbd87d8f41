"""The two tables of the versions store, as typed SQLAlchemy ORM models.

They follow Turing's ``routers`` and ``router_versions``: a router is a Kubernetes
Router object (identified by its uid), a version is an immutable snapshot of
everything needed to deploy it again. The migrations in ``migrations/versions``
create exactly this schema (a test compares the two); the models are what the
repository queries with.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from turnout_operator.store.records import VersionStatus

# Explicit constraint names: the migrations refer to them, and Postgres' generated
# names would differ from what SQLAlchemy expects when comparing schemas.
NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
}

STATUS_VALUES = tuple(status.value for status in VersionStatus)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
        str: Text,
    }


class RouterRow(Base):
    """One Router object ever seen by the operator."""

    __tablename__ = "routers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace: Mapped[str]
    name: Mapped[str]
    uid: Mapped[str] = mapped_column(unique=True)
    """The Kubernetes object uid; a re-created Router is a new row."""
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index(None, "namespace", "name"),)


class RouterVersionRow(Base):
    """One numbered version of a router; only status, error and updated_at ever change."""

    __tablename__ = "router_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    router_id: Mapped[int] = mapped_column(ForeignKey("routers.id"))
    number: Mapped[int]
    status: Mapped[str]
    """A :class:`VersionStatus` value (text with a CHECK, so adding a status is cheap)."""
    error: Mapped[str | None]
    config_hash: Mapped[str]
    spec: Mapped[dict[str, Any]]
    experiment_engine: Mapped[dict[str, Any]]
    router_image: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        UniqueConstraint("router_id", "number"),
        UniqueConstraint("router_id", "config_hash"),
        CheckConstraint("number > 0", name="number_positive"),
        CheckConstraint(
            "status IN (" + ", ".join(f"'{value}'" for value in STATUS_VALUES) + ")",
            name="status_known",
        ),
        # The last line of defence for "one deployed version per router".
        Index(
            "ix_router_versions_one_deployed",
            "router_id",
            unique=True,
            postgresql_where=text("status = 'deployed'"),
        ),
    )
