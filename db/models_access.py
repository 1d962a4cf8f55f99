"""Tables of who may sign in: local accounts and wall-screen (kiosk) tokens.

Declared on :class:`db.models.Base` so the migrations check sees them; the schema
itself is created by ``db/migrations/versions/0003_access.py``. Passwords are stored
only as argon2id hashes and kiosk tokens only as SHA-256 digests.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base

#: Roles an account may hold (``kiosk`` belongs to tokens, ``system`` to the command line).
ACCOUNT_ROLES = ("admin", "planner", "leader", "field", "viewer")

#: The database role the application should connect as in production (see the migration).
APP_DB_ROLE = "citygrid_app"


class User(Base):
    """A local account, optionally mapped to an OpenID Connect identity.

    ``username`` is kept as typed; ``username_key`` (case-folded) is what sign-in matches
    and what must be unique. ``street_office_codes`` limits the account to some street
    offices by their 12-digit codes (null: every area); codes rather than ids so that a
    reload of the administrative areas cannot silently widen or move an account's area.
    ``password_hash`` is null for accounts that sign in only through the identity provider.
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('admin', 'planner', 'leader', 'field', 'viewer')", name="users_role"
        ),
        CheckConstraint("failed_count >= 0", name="users_failed_count"),
        UniqueConstraint("oidc_issuer", "oidc_subject", name="users_oidc_identity"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(Text)
    username_key: Mapped[str] = mapped_column(Text, unique=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text, unique=True)
    role: Mapped[str] = mapped_column(String(16))
    street_office_codes: Mapped[list[str] | None] = mapped_column(ARRAY(String(12)))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    password_hash: Mapped[str | None] = mapped_column(Text)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    oidc_issuer: Mapped[str | None] = mapped_column(Text)
    oidc_subject: Mapped[str | None] = mapped_column(Text)
    failed_count: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    created_by: Mapped[str] = mapped_column(Text)


class KioskToken(Base):
    """A read-only wall-screen token: shows the big screen only, with phones hidden.

    Only the SHA-256 digest of the token is stored (the token is 256 random bits, so a
    slow hash adds nothing); ``hint`` is its first characters, to tell screens apart.
    An active (unrevoked) token's name is unique.
    """

    __tablename__ = "kiosk_tokens"
    __table_args__ = (
        Index(
            "kiosk_tokens_active_name",
            "name",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(12))
    street_office_codes: Mapped[list[str] | None] = mapped_column(ARRAY(String(12)))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    created_by: Mapped[str] = mapped_column(Text)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(Text)
