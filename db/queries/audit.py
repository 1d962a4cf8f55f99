"""Searching the audit log for the administrator page: who did what, when, to what.

Reading needs ``audit.read``. Filters combine with AND; results come newest first, a
page at a time, with the total count for the pager.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.access import Actor, require
from gis.errors import DataError

MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log."""

    id: int
    at: dt.datetime
    actor: str
    action: str
    entity_type: str | None
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: dict[str, Any] | None
    change_id: int | None


@dataclass(frozen=True)
class AuditPage:
    """One page of a search, and how many rows match in all."""

    rows: list[AuditEntry]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        """How many pages the matching rows fill (at least 1)."""
        return max(1, -(-self.total // self.page_size))


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_audit(
    conn: Connection,
    actor: Actor,
    *,
    actor_name: str | None = None,
    action: str | None = None,
    entity_type: str | None = None,
    entity_id: str | int | None = None,
    since: dt.datetime | dt.date | None = None,
    until: dt.datetime | dt.date | None = None,
    page: int = 1,
    page_size: int = 50,
) -> AuditPage:
    """Audit rows matching every filter given, newest first.

    ``actor_name`` matches part of the actor's name, ignoring case; ``action`` matches
    exactly, or every action that starts with it when it ends in ``.`` (``"user."``,
    ``"auth."``); ``since`` is inclusive and ``until`` exclusive (a date means its
    midnight, in the database session's time zone); ``page`` counts from 1.
    """
    require(actor, "audit.read", what="read the audit log")
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        msg = f"page must be >= 1 and page_size 1 to {MAX_PAGE_SIZE}; got {page} and {page_size}"
        raise DataError(msg)
    if since is not None and until is not None:
        try:
            empty = _as_dt(until) <= _as_dt(since)
        except TypeError:  # one with a time zone, one without
            msg = f"give since ({since}) and until ({until}) both with a time zone or both without"
            raise DataError(msg) from None
        if empty:
            msg = (
                f"the time range is empty: until ({until}) is not after since ({since}); swap them"
            )
            raise DataError(msg)
    where: list[str] = []
    params: dict[str, Any] = {}
    if actor_name:
        where.append("actor ILIKE :actor")
        params["actor"] = _like(actor_name.strip())
    if action:
        if action.endswith("."):
            where.append("starts_with(action, :action)")
        else:
            where.append("action = :action")
        params["action"] = action.strip()
    if entity_type:
        where.append("entity_type = :etype")
        params["etype"] = entity_type
    if entity_id is not None and str(entity_id) != "":
        where.append("entity_id = :eid")
        params["eid"] = str(entity_id)
    if since is not None:
        where.append("at >= :since")
        params["since"] = _as_dt(since)
    if until is not None:
        where.append("at < :until")
        params["until"] = _as_dt(until)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    total = int(conn.scalar(sa.text(f"SELECT count(*) FROM audit_log {clause}"), params) or 0)
    rows = conn.execute(
        sa.text(
            "SELECT id, at, actor, action, entity_type, entity_id, before, after, detail, "
            f"change_id FROM audit_log {clause} ORDER BY at DESC, id DESC "
            "LIMIT :limit OFFSET :offset"
        ),
        {**params, "limit": page_size, "offset": (page - 1) * page_size},
    ).all()
    return AuditPage(
        rows=[AuditEntry(**r._mapping) for r in rows], total=total, page=page, page_size=page_size
    )


def audit_actions(conn: Connection, actor: Actor) -> list[str]:
    """The actions present in the log, for a filter's choices."""
    require(actor, "audit.read", what="read the audit log")
    return list(conn.scalars(sa.text("SELECT DISTINCT action FROM audit_log ORDER BY action")))


def _as_dt(value: dt.datetime | dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time())
