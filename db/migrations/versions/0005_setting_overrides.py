"""setting overrides: settings an administrator changes while the platform runs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 10:00:00

One row per overridden setting (``citygrid.settings.RUNTIME_FIELDS``), its value as
JSON; a setting without a row follows the environment. Who changed what, when, from
what, is in the audit log; the row keeps the latest change for the settings page.
The application role reads and writes the table (0003's default privileges cover
tables the owner creates later; the grant is explicit so that a table created by
another owner, or a role made after 0003, still gets it). Idempotent like 0004: the
table may exist already when an upgrade is retried.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

APP_ROLE = "citygrid_app"

GRANT = f"""
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON setting_overrides TO {APP_ROLE};
    END IF;
END $$;
"""


def upgrade() -> None:
    op.create_table(
        "setting_overrides",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", postgresql.JSONB(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
        if_not_exists=True,
    )
    op.execute(GRANT)


def downgrade() -> None:
    # Dropping the table takes its grants with it.
    op.drop_table("setting_overrides", if_exists=True)
