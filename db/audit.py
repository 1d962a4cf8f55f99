"""Writing to the append-only audit log (the table refuses updates and deletes)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

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
            "before": None if before is None else json.dumps(_jsonable(before), ensure_ascii=False),
            "after": None if after is None else json.dumps(_jsonable(after), ensure_ascii=False),
            "detail": None if detail is None else json.dumps(_jsonable(detail), ensure_ascii=False),
            "change": change_id,
        },
    )
    return int(row.scalar_one())
