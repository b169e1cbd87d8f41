"""Routers and their numbered, immutable versions.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Content columns of a version. Once a row exists only status, error and updated_at
# may change: a deployed version must redeploy exactly as it first did.
_IMMUTABLE_COLUMNS = (
    "id",
    "router_id",
    "number",
    "config_hash",
    "spec",
    "experiment_engine",
    "router_image",
    "created_at",
)


def upgrade() -> None:
    op.create_table(
        "routers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("namespace", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("uid", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_routers"),
        sa.UniqueConstraint("uid", name="uq_routers_uid"),
    )
    op.create_index("ix_routers_namespace_name", "routers", ["namespace", "name"])

    op.create_table(
        "router_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("router_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("config_hash", sa.Text(), nullable=False),
        sa.Column("spec", postgresql.JSONB(), nullable=False),
        sa.Column("experiment_engine", postgresql.JSONB(), nullable=False),
        sa.Column("router_image", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_router_versions"),
        sa.ForeignKeyConstraint(
            ["router_id"], ["routers.id"], name="fk_router_versions_router_id_routers"
        ),
        sa.UniqueConstraint("router_id", "number", name="uq_router_versions_router_id_number"),
        sa.UniqueConstraint(
            "router_id", "config_hash", name="uq_router_versions_router_id_config_hash"
        ),
        sa.CheckConstraint("number > 0", name="ck_router_versions_number_positive"),
        sa.CheckConstraint(
            "status IN ('pending', 'deployed', 'failed', 'undeployed')",
            name="ck_router_versions_status_known",
        ),
    )
    op.create_index(
        "ix_router_versions_one_deployed",
        "router_versions",
        ["router_id"],
        unique=True,
        postgresql_where=sa.text("status = 'deployed'"),
    )

    changed = " OR ".join(
        f"NEW.{column} IS DISTINCT FROM OLD.{column}" for column in _IMMUTABLE_COLUMNS
    )
    op.execute(
        f"""
        CREATE FUNCTION router_versions_keep_content() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF {changed} THEN
                RAISE EXCEPTION 'router_versions row % is immutable: only status and error may change', OLD.id
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END;
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER router_versions_keep_content
        BEFORE UPDATE ON router_versions
        FOR EACH ROW EXECUTE FUNCTION router_versions_keep_content()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER router_versions_keep_content ON router_versions")
    op.execute("DROP FUNCTION router_versions_keep_content()")
    op.drop_table("router_versions")
    op.drop_table("routers")
