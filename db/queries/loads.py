"""Loads: their history and rejects (for the app and ``citygrid load history``), and the
reference layers a load derives places from. Downloading a run's rejects file is an
export: checked and audited here (:func:`export_rejects`).

A run still marked ``running`` whose database session is gone was killed half-way
(its transaction rolled back with the session); these queries show it as
``interrupted``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.access import Actor, require
from db.audit import record
from gis.errors import DataError

_EFFECTIVE_STATUS = """
    CASE WHEN r.status = 'running' AND NOT EXISTS (
        SELECT 1 FROM pg_stat_activity a WHERE a.pid = r.backend_pid)
    THEN 'interrupted' ELSE r.status END
"""


def load_history(conn: Connection, *, limit: int = 50, layer: str | None = None) -> pd.DataFrame:
    """The latest load runs, newest first, with their counts and effective status."""
    rows = conn.execute(
        sa.text(
            f"""
            SELECT r.id, r.layer, r.file_name, r.file_format, r.file_sha256, r.file_size,
                   {_EFFECTIVE_STATUS} AS status, r.user_name, r.started_at, r.finished_at,
                   r.duration_s, r.n_read, r.n_inserted, r.n_updated, r.n_unchanged,
                   r.n_rejected, r.n_repaired, r.message, r.rejects_path
            FROM load_runs r
            WHERE (CAST(:layer AS text) IS NULL OR r.layer = :layer)
            ORDER BY r.id DESC
            LIMIT :limit
            """
        ),
        {"layer": layer, "limit": limit},
    )
    return pd.DataFrame(rows.mappings().all(), columns=list(rows.keys()))


def load_run(conn: Connection, run_id: int) -> dict[str, Any] | None:
    """One run with its effective status, or None."""
    history = conn.execute(
        sa.text(
            f"SELECT r.*, {_EFFECTIVE_STATUS} AS effective_status FROM load_runs r WHERE r.id = :id"
        ),
        {"id": run_id},
    ).mappings()
    row = history.first()
    return dict(row) if row is not None else None


def load_rejects(
    conn: Connection, run_id: int, *, limit: int | None = 10_000, loaded: bool | None = False
) -> pd.DataFrame:
    """The rows a run rejected (``loaded=False``), its notes on loaded rows (True), or both."""
    rows = conn.execute(
        sa.text(
            """
            SELECT row_no, natural_key, reason_code, reason, field, value, loaded
            FROM load_rejects
            WHERE run_id = :run AND (CAST(:loaded AS boolean) IS NULL OR loaded = :loaded)
            ORDER BY row_no NULLS LAST, id
            LIMIT :limit
            """
        ),
        {"run": run_id, "loaded": loaded, "limit": limit},
    )
    return pd.DataFrame(rows.mappings().all(), columns=list(rows.keys()))


def reject_reasons(conn: Connection, run_id: int, *, top: int = 10) -> pd.DataFrame:
    """The most frequent reasons of a run's rejects: reason_code, rows."""
    rows = conn.execute(
        sa.text(
            """
            SELECT reason_code, count(DISTINCT row_no) AS rows
            FROM load_rejects WHERE run_id = :run AND NOT loaded
            GROUP BY reason_code ORDER BY rows DESC, reason_code LIMIT :top
            """
        ),
        {"run": run_id, "top": top},
    )
    return pd.DataFrame(rows.mappings().all(), columns=list(rows.keys()))


@dataclass(frozen=True)
class RejectsExport:
    """A run's rejects file as downloaded, and the audit row that records it."""

    file_name: str
    data: bytes
    audit_id: int


def export_rejects(conn: Connection, actor: Actor, run_id: int) -> RejectsExport:
    """The rejects file of load run ``run_id`` (its rows as the file had them), audited.

    Needs ``report.export``: the rows are the loaded file's own, names and phones
    included. One ``export.rejects`` row goes to the audit log in the caller's
    transaction.
    """
    require(actor, "report.export", what=f"download the rejected rows of load {run_id}")
    row = conn.execute(
        sa.text("SELECT id, file_name, n_rejected, rejects_path FROM load_runs WHERE id = :id"),
        {"id": int(run_id)},
    ).one_or_none()
    path = None if row is None or row.rejects_path is None else Path(row.rejects_path)
    if path is None or not path.is_file():
        msg = (
            f"load {run_id} has no rejects file on this server (it rejected no rows, or the "
            "file was removed); the rejected rows are still listed on the data page"
        )
        raise DataError(msg)
    data = path.read_bytes()
    audit_id = record(
        conn,
        actor,
        "export.rejects",
        entity_type="load_run",
        entity_id=row.id,
        detail={"file": path.name, "source_file": row.file_name, "rows": row.n_rejected,
                "bytes": len(data)},
    )  # fmt: skip
    return RejectsExport(path.name, data, audit_id)


# --- reference layers for derivations at load ---------------------------------------


def admin_areas(conn: Connection) -> pd.DataFrame:
    """Every administrative area: id, code, level, parent id, boundary as WKB (or None)."""
    rows = conn.execute(
        sa.text(
            """
            SELECT a.id, a.code, a.level, p.id AS parent_id, ST_AsBinary(a.geom) AS wkb
            FROM admin_areas a LEFT JOIN admin_areas p ON p.code = a.parent_code
            ORDER BY a.id
            """
        )
    )
    return pd.DataFrame(rows.mappings().all(), columns=list(rows.keys()))


def grid_cells(conn: Connection) -> pd.DataFrame:
    """Every grid cell: id, code, community id, dates in force, geometry as WKB."""
    rows = conn.execute(
        sa.text(
            "SELECT id, code, community_id, valid_from, valid_to, ST_AsBinary(geom) AS wkb "
            "FROM grid_cells ORDER BY id"
        )
    )
    return pd.DataFrame(rows.mappings().all(), columns=list(rows.keys()))


def road_segments(conn: Connection) -> pd.DataFrame:
    """Every road segment: id, code, names, kind, street office, geometry as WKB."""
    rows = conn.execute(
        sa.text(
            """
            SELECT id, code, road_name, from_name, to_name, kind, street_office_id,
                   ST_AsBinary(geom) AS wkb
            FROM road_segments ORDER BY id
            """
        )
    )
    return pd.DataFrame(rows.mappings().all(), columns=list(rows.keys()))


def code_ids(conn: Connection, table: str) -> dict[str, int]:
    """code -> id of a coded table (roads, markets, premises, grid cells...)."""
    if table not in {"roads", "markets", "premises", "grid_cells", "road_segments"}:
        raise ValueError(table)
    return {
        str(code): int(i)
        for code, i in conn.execute(sa.text(f"SELECT code, id FROM {table}")).all()
    }


def category_codes(conn: Connection) -> set[str]:
    """Every code of the problem category table."""
    return {str(c) for (c,) in conn.execute(sa.text("SELECT code FROM problem_categories")).all()}


def district_boundary(conn: Connection, *, area_code: str) -> bytes | None:
    """The deployment's district boundary (union of district rows) as WKB, if loaded."""
    wkb = conn.scalar(
        sa.text(
            """
            SELECT ST_AsBinary(ST_Union(geom)) FROM admin_areas
            WHERE level = 'district' AND geom IS NOT NULL
              AND (code LIKE :prefix OR NOT EXISTS (
                   SELECT 1 FROM admin_areas WHERE level = 'district' AND code LIKE :prefix))
            """
        ),
        {"prefix": f"{area_code}%"},
    )
    return bytes(wkb) if wkb is not None else None
