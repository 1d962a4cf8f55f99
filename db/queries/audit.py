"""Searching the audit log for the administrator page: who did what, when, to what.

Reading needs ``audit.read``. Filters combine with AND; results come newest first, a
page at a time, with the total count for the pager. An export of a search (CSV or
Excel) also needs ``report.export`` and is itself recorded in the log.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.access import Actor, require
from db.audit import record
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


@dataclass(frozen=True)
class AuditFilter:
    """What to search the audit log for; every field given must match (AND).

    ``actor_name`` matches part of the actor's name, ignoring case; ``action`` matches
    exactly, or every action that starts with it when it ends in ``.`` (``"user."``,
    ``"auth."``); ``since`` is inclusive and ``until`` exclusive (a date means its
    midnight, in the database session's time zone).
    """

    actor_name: str | None = None
    action: str | None = None
    entity_type: str | None = None
    entity_id: str | int | None = None
    since: dt.datetime | dt.date | None = None
    until: dt.datetime | dt.date | None = None

    def where(self) -> tuple[str, dict[str, Any]]:
        """The SQL ``WHERE`` clause (empty for no filter) and its parameters."""
        if self.since is not None and self.until is not None:
            try:
                empty = _as_dt(self.until) <= _as_dt(self.since)
            except TypeError:  # one with a time zone, one without
                msg = (
                    f"give since ({self.since}) and until ({self.until}) both with a time "
                    "zone or both without"
                )
                raise DataError(msg) from None
            if empty:
                msg = (
                    f"the time range is empty: until ({self.until}) is not after since "
                    f"({self.since}); swap them"
                )
                raise DataError(msg)
        where: list[str] = []
        params: dict[str, Any] = {}
        if self.actor_name:
            where.append("actor ILIKE :actor")
            params["actor"] = _like(self.actor_name.strip())
        if self.action:
            if self.action.endswith("."):
                where.append("starts_with(action, :action)")
            else:
                where.append("action = :action")
            params["action"] = self.action.strip()
        if self.entity_type:
            where.append("entity_type = :etype")
            params["etype"] = self.entity_type
        if self.entity_id is not None and str(self.entity_id) != "":
            where.append("entity_id = :eid")
            params["eid"] = str(self.entity_id)
        if self.since is not None:
            where.append("at >= :since")
            params["since"] = _as_dt(self.since)
        if self.until is not None:
            where.append("at < :until")
            params["until"] = _as_dt(self.until)
        return (f"WHERE {' AND '.join(where)}" if where else ""), params

    def described(self) -> dict[str, Any]:
        """The filters given, for the audit row of an export."""
        return {k: v for k, v in asdict(self).items() if v is not None and v != ""}


_COLUMNS = "id, at, actor, action, entity_type, entity_id, before, after, detail, change_id"


def _entries(
    conn: Connection, where: str, params: dict[str, Any], limit: int, offset: int
) -> list[AuditEntry]:
    rows = conn.execute(
        sa.text(
            f"SELECT {_COLUMNS} FROM audit_log {where} ORDER BY at DESC, id DESC "
            "LIMIT :limit OFFSET :offset"
        ),
        {**params, "limit": limit, "offset": offset},
    ).all()
    return [AuditEntry(**r._mapping) for r in rows]


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
    """Audit rows matching every filter given (:class:`AuditFilter`), newest first.

    ``page`` counts from 1.
    """
    require(actor, "audit.read", what="read the audit log")
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        msg = f"page must be >= 1 and page_size 1 to {MAX_PAGE_SIZE}; got {page} and {page_size}"
        raise DataError(msg)
    clause, params = AuditFilter(
        actor_name=actor_name, action=action, entity_type=entity_type, entity_id=entity_id,
        since=since, until=until,
    ).where()  # fmt: skip
    total = int(conn.scalar(sa.text(f"SELECT count(*) FROM audit_log {clause}"), params) or 0)
    rows = _entries(conn, clause, params, page_size, (page - 1) * page_size)
    return AuditPage(rows=rows, total=total, page=page, page_size=page_size)


#: Most rows one export holds (narrow the filters for more).
EXPORT_MAX_ROWS = 100_000
AuditFormat = Literal["csv", "xlsx"]
EXPORT_MEDIA_TYPES: dict[AuditFormat, str] = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: The columns of an export, in order.
EXPORT_COLUMNS = (
    "id", "at", "actor", "action", "entity_type", "entity_id", "before", "after", "detail",
    "change_id",
)  # fmt: skip


@dataclass(frozen=True)
class AuditExport:
    """An export of the audit log: the file, and the audit row that records it."""

    file_name: str
    data: bytes
    media_type: str
    rows: int
    audit_id: int


def _json_text(value: dict[str, Any] | None) -> str:
    return "" if not value else json.dumps(value, ensure_ascii=False, sort_keys=True)


def audit_frame(entries: Sequence[AuditEntry]) -> pd.DataFrame:
    """Audit rows as a table of :data:`EXPORT_COLUMNS`, before/after/detail as JSON text."""
    return pd.DataFrame(
        [
            {
                "id": e.id,
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "entity_type": e.entity_type or "",
                "entity_id": e.entity_id or "",
                "before": _json_text(e.before),
                "after": _json_text(e.after),
                "detail": _json_text(e.detail),
                "change_id": e.change_id,
            }
            for e in entries
        ],
        columns=list(EXPORT_COLUMNS),
    ).astype({"change_id": "Int64"})


def export_audit(
    conn: Connection,
    actor: Actor,
    filters: AuditFilter,
    *,
    fmt: AuditFormat,
    headers: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
    tz: str = "Asia/Shanghai",
) -> AuditExport:
    """Every audit row matching ``filters`` as a CSV or Excel file, itself audited.

    Needs ``audit.read`` and ``report.export``. ``headers`` names the columns (one of
    :data:`EXPORT_COLUMNS` to its header); times are written in ``tz``. One
    ``export.audit`` row naming the filters and the row count goes to the audit log in
    the caller's transaction (after the rows were read: the export does not hold it).
    """
    from reports.exports import excel_bytes
    from reports.xlsx import csv_text

    require(actor, "audit.read", what="read the audit log")
    require(actor, "report.export", what="export the audit log")
    if fmt not in EXPORT_MEDIA_TYPES:
        msg = f"the audit log exports as csv or xlsx, not {fmt!r}; choose one of those"
        raise DataError(msg)
    clause, params = filters.where()
    total = int(conn.scalar(sa.text(f"SELECT count(*) FROM audit_log {clause}"), params) or 0)
    if total > EXPORT_MAX_ROWS:
        msg = (
            f"{total:,} audit rows match; an export holds at most {EXPORT_MAX_ROWS:,}: "
            "narrow the filters (a shorter date range, an actor or an action)"
        )
        raise DataError(msg)
    frame = audit_frame(_entries(conn, clause, params, EXPORT_MAX_ROWS, 0))
    headers = dict(headers or {})
    made = (now or dt.datetime.now(ZoneInfo(tz))).astimezone(ZoneInfo(tz))
    file_name = f"audit-{made:%Y%m%d-%H%M}.{fmt}"
    if fmt == "xlsx":
        data = excel_bytes({"audit": frame}, headers=headers, timezone=tz)
    else:
        shown = frame.assign(at=frame["at"].map(lambda v: v.astimezone(ZoneInfo(tz)).isoformat()))
        shown = shown.map(csv_text).rename(columns=headers)
        data = shown.to_csv(index=False).encode("utf-8-sig")  # the BOM: Excel reads UTF-8
    audit_id = record(
        conn,
        actor,
        "export.audit",
        entity_type="audit_log",
        detail={
            "file": file_name,
            "format": fmt,
            "rows": len(frame),
            "filters": filters.described(),
        },
    )
    return AuditExport(file_name, data, EXPORT_MEDIA_TYPES[fmt], len(frame), audit_id)


def audit_actions(conn: Connection, actor: Actor) -> list[str]:
    """The actions present in the log, for a filter's choices."""
    require(actor, "audit.read", what="read the audit log")
    return list(conn.scalars(sa.text("SELECT DISTINCT action FROM audit_log ORDER BY action")))


def audit_entity_types(conn: Connection, actor: Actor) -> list[str]:
    """The kinds of object present in the log, for a filter's choices."""
    require(actor, "audit.read", what="read the audit log")
    return list(
        conn.scalars(
            sa.text(
                "SELECT DISTINCT entity_type FROM audit_log WHERE entity_type IS NOT NULL "
                "ORDER BY entity_type"
            )
        )
    )


def _as_dt(value: dt.datetime | dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time())
