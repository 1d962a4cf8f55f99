"""Wall-screen (kiosk) tokens: a command-centre screen shows the big screen without a sign-in.

A token is 256 random bits, shown once when it is created and stored only as its
SHA-256 digest. The Actor it yields has role ``kiosk``: no write permission, no
``pii.read`` (phones and names are masked), the big screen only
(:func:`db.users.pages_for`), limited to the token's street offices when it has any.
Creating, revoking and every use (successful or not) are audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from db import audit
from db.access import Actor, require
from db.users import (
    clean_label,
    commit_own,
    record_refusal,
    require_manage,
    resolve_street_offices,
    street_office_ids,
)
from gis.errors import DataError, PermissionDeniedError

#: The URL parameter that carries a wall screen's token: ``http://host:8501/?kiosk=...``.
KIOSK_QUERY_PARAM = "kiosk"

_BAD_TOKEN = (
    "this wall-screen link is not valid (its token was revoked or mistyped); ask an "
    "administrator for a new one (`citygrid kiosk create NAME`)"
)


@dataclass(frozen=True)
class KioskTokenInfo:
    """A wall-screen token as administrators see it (never the token itself)."""

    id: int
    name: str
    hint: str
    street_office_codes: tuple[str, ...] | None
    created_at: dt.datetime
    created_by: str
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def actor_for_kiosk_token(conn: Connection, token: str) -> Actor:
    """The read-only wall-screen Actor for ``token``, or :class:`PermissionDeniedError`.

    The Actor has role ``kiosk``: no write permission and no ``pii.read`` (phones and
    names are masked), limited to the token's street offices when it has any. Every
    attempt is audited; re-check a signed-in screen with :func:`db.users.refresh_actor`.
    """
    return commit_own(conn, lambda: _kiosk_sign_in(conn, token))


def _kiosk_sign_in(conn: Connection, token: str) -> Actor:
    token = str(token).strip()
    row = None
    if 0 < len(token) <= 200:
        row = conn.execute(
            sa.text(
                "UPDATE kiosk_tokens SET last_used_at = now() "
                "WHERE token_hash = :h AND revoked_at IS NULL "
                "RETURNING id, name, street_office_codes"
            ),
            {"h": _token_digest(token)},
        ).one_or_none()
    if row is None:
        record_refusal(conn, "kiosk", "kiosk", "invalid_or_revoked_token", token_start=token[:8])
        raise PermissionDeniedError(_BAD_TOKEN)
    actor = _kiosk_actor(conn, row)
    audit.record(
        conn, actor, "auth.sign_in", entity_type="kiosk_token", entity_id=row.id,
        detail={"method": "kiosk"},
    )  # fmt: skip
    return actor


def _kiosk_actor(conn: Connection, row: Row[Any]) -> Actor:
    return Actor(
        username=f"kiosk:{row.name}",
        role="kiosk",
        street_office_ids=street_office_ids(conn, row.street_office_codes),
        display_name=row.name,
        extra={"auth": "kiosk", "kiosk_token_id": str(row.id)},
    )


def refresh_kiosk_actor(conn: Connection, actor: Actor) -> Actor:
    """Re-check a signed-in screen's token (not audited); refuse it once revoked."""
    row = conn.execute(
        sa.text(
            "UPDATE kiosk_tokens SET last_used_at = now() "
            "WHERE id = :id AND revoked_at IS NULL RETURNING id, name, street_office_codes"
        ),
        {"id": int(actor.extra["kiosk_token_id"])},
    ).one_or_none()
    if row is None:
        raise PermissionDeniedError(_BAD_TOKEN)
    return _kiosk_actor(conn, row)


def create_kiosk_token(
    conn: Connection,
    actor: Actor,
    name: str,
    *,
    street_office_codes: Sequence[str] | None = None,
) -> tuple[KioskTokenInfo, str]:
    """Create a wall-screen token; return its record and the token, shown this once only."""
    require(actor, "users.manage", what="create wall-screen tokens")
    label = clean_label(name, what="wall-screen name", required=True)
    codes = resolve_street_offices(conn, street_office_codes)
    require_manage(conn, actor, [codes], f"create wall-screen token {label!r}")
    token = "cgk_" + secrets.token_urlsafe(32)
    row = conn.execute(
        sa.text(
            "INSERT INTO kiosk_tokens (name, token_hash, hint, street_office_codes, created_by) "
            "VALUES (:n, :h, :hint, :c, :by) "
            "ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING "
            f"RETURNING {_TOKEN_COLUMNS}"
        ),
        {
            "n": label,
            "h": _token_digest(token),
            "hint": token[:8],
            "c": codes,
            "by": actor.username,
        },
    ).one_or_none()
    if row is None:
        msg = (
            f"a wall-screen token named {label!r} is already active; revoke it first "
            "(`citygrid kiosk revoke`) or choose another name"
        )
        raise DataError(msg)
    info = _token_info(row)
    audit.record(
        conn, actor, "kiosk.create", entity_type="kiosk_token", entity_id=info.id,
        after={"name": info.name, "hint": info.hint, "street_office_codes": info.street_office_codes},
    )  # fmt: skip
    return info, token


_TOKEN_COLUMNS = (
    "id, name, hint, street_office_codes, created_at, created_by, last_used_at, revoked_at"
)


def _token_info(row: Row[Any]) -> KioskTokenInfo:
    codes = None if row.street_office_codes is None else tuple(row.street_office_codes)
    return KioskTokenInfo(
        id=row.id, name=row.name, hint=row.hint, street_office_codes=codes,
        created_at=row.created_at, created_by=row.created_by,
        last_used_at=row.last_used_at, revoked_at=row.revoked_at,
    )  # fmt: skip


def revoke_kiosk_token(conn: Connection, actor: Actor, token: int | str) -> KioskTokenInfo:
    """Revoke an active wall-screen token, given its id or its name; the screen goes dark."""
    require(actor, "users.manage", what="revoke wall-screen tokens")
    select = f"SELECT {_TOKEN_COLUMNS} FROM kiosk_tokens WHERE revoked_at IS NULL AND "
    row = None
    if isinstance(token, str):
        row = conn.execute(
            sa.text(select + "name = :v FOR UPDATE"), {"v": token.strip()}
        ).one_or_none()
    if row is None and (isinstance(token, int) or token.strip().isdigit()):
        row = conn.execute(sa.text(select + "id = :v FOR UPDATE"), {"v": int(token)}).one_or_none()
    if row is None:
        msg = f"no active wall-screen token {token!r}; `citygrid kiosk list` shows them"
        raise DataError(msg)
    require_manage(conn, actor, [row.street_office_codes], f"revoke wall-screen token {row.name!r}")
    revoked = conn.execute(
        sa.text(
            "UPDATE kiosk_tokens SET revoked_at = now(), revoked_by = :by WHERE id = :id "
            f"RETURNING {_TOKEN_COLUMNS}"
        ),
        {"by": actor.username, "id": row.id},
    ).one()
    info = _token_info(revoked)
    audit.record(
        conn, actor, "kiosk.revoke", entity_type="kiosk_token", entity_id=info.id,
        before={"revoked": False}, after={"revoked": True}, detail={"name": info.name},
    )  # fmt: skip
    return info


def list_kiosk_tokens(
    conn: Connection, actor: Actor, *, include_revoked: bool = False
) -> list[KioskTokenInfo]:
    """Wall-screen tokens, newest first (the tokens themselves are never stored)."""
    require(actor, "users.manage", what="list wall-screen tokens")
    where = "" if include_revoked else "WHERE revoked_at IS NULL "
    rows = conn.execute(
        sa.text(
            f"SELECT {_TOKEN_COLUMNS} FROM kiosk_tokens {where}ORDER BY created_at DESC, id DESC"
        )
    ).all()
    return [_token_info(r) for r in rows]
