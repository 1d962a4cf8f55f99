"""Writing to the append-only audit log (the table refuses updates and deletes)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any, NotRequired, TypedDict

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.access import Actor


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class AuditEntry(TypedDict):
    """One row for :func:`record_many`: the keywords of :func:`record`, with the action."""

    action: str
    entity_type: NotRequired[str | None]
    entity_id: NotRequired[str | int | None]
    before: NotRequired[dict[str, Any] | None]
    after: NotRequired[dict[str, Any] | None]
    detail: NotRequired[dict[str, Any] | None]
    change_id: NotRequired[int | None]


_FIELDS = frozenset(AuditEntry.__annotations__)


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(_jsonable(value), ensure_ascii=False)


def record(
    conn: Connection,
    actor: Actor,
    action: str,
    *,
    entity_type: str | None = None,
    entity_id: str | int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
    change_id: int | None = None,
) -> int:
    """Append one audit row in the caller's transaction; return its id."""
    row = conn.execute(
        sa.text(
            "INSERT INTO audit_log (actor, action, entity_type, entity_id, before, after, "
            "detail, change_id) VALUES (:actor, :action, :etype, :eid, "
            "CAST(:before AS jsonb), CAST(:after AS jsonb), CAST(:detail AS jsonb), :change) "
            "RETURNING id"
        ),
        {
            "actor": actor.username,
            "action": action,
            "etype": entity_type,
            "eid": None if entity_id is None else str(entity_id),
            "before": _json(before),
            "after": _json(after),
            "detail": _json(detail),
            "change": change_id,
        },
    )
    return int(row.scalar_one())


def record_many(conn: Connection, actor: Actor, rows: Iterable[AuditEntry]) -> list[int]:
    """Append many audit rows in one statement, in the caller's transaction.

    Each row holds an ``action`` and any of :func:`record`'s keywords. One round trip
    however many rows (a bulk suggestion writes thousands); returns their ids in the
    order of ``rows``.
    """
    entries = list(rows)
    if not entries:
        return []
    for entry in entries:
        unknown = set(entry) - _FIELDS
        if unknown or "action" not in entry:
            msg = (
                f"record_many: an audit row needs an action and may hold only "
                f"{', '.join(sorted(_FIELDS))}; got {', '.join(sorted(entry))}"
            )
            raise TypeError(msg)
    result = conn.execute(
        sa.text(
            "INSERT INTO audit_log (actor, action, entity_type, entity_id, before, after, "
            "detail, change_id) "
            "SELECT :actor, t.action, t.etype, t.eid, CAST(t.before AS jsonb), "
            "CAST(t.after AS jsonb), CAST(t.detail AS jsonb), t.change FROM unnest("
            "CAST(:action AS text[]), CAST(:etype AS text[]), CAST(:eid AS text[]), "
            "CAST(:before AS text[]), CAST(:after AS text[]), CAST(:detail AS text[]), "
            "CAST(:change AS int[])) WITH ORDINALITY "
            "AS t(action, etype, eid, before, after, detail, change, n) ORDER BY t.n "
            "RETURNING id"
        ),
        {
            "actor": actor.username,
            "action": [e["action"] for e in entries],
            "etype": [e.get("entity_type") for e in entries],
            "eid": [
                None if e.get("entity_id") is None else str(e.get("entity_id")) for e in entries
            ],
            "before": [_json(e.get("before")) for e in entries],
            "after": [_json(e.get("after")) for e in entries],
            "detail": [_json(e.get("detail")) for e in entries],
            "change": [e.get("change_id") for e in entries],
        },
    )
    return sorted(int(i) for i in result.scalars())  # identities are drawn in row order
