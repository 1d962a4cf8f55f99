"""access: accounts, kiosk tokens, and the application's database role

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25 11:00:00

``citygrid_app`` is the role the application connects as in production (through a login
role that is a member of it). It may read and write the data tables but may only
INSERT and SELECT on ``audit_log``: it cannot update, delete, truncate, disable the
guard triggers or drop the table, because it does not own it. The migrations run as
the owner. Roles belong to the whole server, not to one database, so the downgrade
revokes what this database granted and leaves the role itself in place (other
databases on the same server, and login roles that are members of it, may still use it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

APP_ROLE = "citygrid_app"

GRANT_APP_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        BEGIN
            CREATE ROLE {APP_ROLE} NOLOGIN;
        EXCEPTION
            -- another database on this server created it at the same moment
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'cannot create the database role {APP_ROLE}: %', SQLERRM
                    USING HINT = 'ask the database administrator to run '
                        '"CREATE ROLE {APP_ROLE} NOLOGIN;" and run citygrid db migrate again';
        END;
    END IF;
END $$;
GRANT USAGE ON SCHEMA public TO {APP_ROLE};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};
-- The audit trail: append and read, nothing more (the triggers also refuse the owner).
REVOKE UPDATE, DELETE ON audit_log FROM {APP_ROLE};
-- What the migrations own and the application only reads.
REVOKE INSERT, UPDATE, DELETE ON alembic_version, deployment FROM {APP_ROLE};
-- Tables later migrations create (as the same owner) are open to the application too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE};
"""

REVOKE_APP_ROLE = f"""
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        ALTER DEFAULT PRIVILEGES IN SCHEMA public
            REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_ROLE};
        ALTER DEFAULT PRIVILEGES IN SCHEMA public
            REVOKE USAGE, SELECT ON SEQUENCES FROM {APP_ROLE};
        REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE};
        REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE};
        REVOKE USAGE ON SCHEMA public FROM {APP_ROLE};
    END IF;
END $$;
"""


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("username_key", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("street_office_codes", postgresql.ARRAY(sa.String(length=12)), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("oidc_issuer", sa.Text(), nullable=True),
        sa.Column("oidc_subject", sa.Text(), nullable=True),
        sa.Column("failed_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_by", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'planner', 'leader', 'field', 'viewer')", name="users_role"
        ),
        sa.CheckConstraint("failed_count >= 0", name="users_failed_count"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
        sa.UniqueConstraint("username_key"),
        sa.UniqueConstraint("oidc_issuer", "oidc_subject", name="users_oidc_identity"),
    )
    op.create_table(
        "kiosk_tokens",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=12), nullable=False),
        sa.Column("street_office_codes", postgresql.ARRAY(sa.String(length=12)), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        "kiosk_tokens_active_name",
        "kiosk_tokens",
        ["name"],
        unique=True,
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.execute(GRANT_APP_ROLE)


def downgrade() -> None:
    op.execute(REVOKE_APP_ROLE)
    op.drop_index(
        "kiosk_tokens_active_name",
        table_name="kiosk_tokens",
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.drop_table("kiosk_tokens")
    op.drop_table("users")
