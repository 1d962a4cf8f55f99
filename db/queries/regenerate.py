"""Replacing a derived layer (grid cells, road segments) and placing problems anew.

``citygrid grid generate`` and ``citygrid roads segment`` load the new layer through
the loader; inside the same transaction, before it commits, the functions here
retire what the new layer replaces and derive again the places stored on problems
(cell, community and street office; nearest segment), set-based in PostGIS. The
problems go in batches so that a progress bar moves; an interruption anywhere rolls
everything back with the load.

The placement rule is the loader's (:mod:`etl.derive`): the lowest-id cell holding
the point and in force on the report date (in ``CITYGRID_TIMEZONE``); the community
of that cell, else the lowest-id community polygon holding the point; the street
office of that community, else the lowest-id street-office polygon; the nearest
segment within the configured distance, ties to the lowest id.

Grid cells carry dates (both ends included), so a cell that a dated tiling replaces
keeps its history (``valid_to`` the day before). Segments carry none: a segment the
new segmentation does not keep is removed, after its active assignments are ended
(kept, with a note, and reported) and its row is copied into the audit log.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from citygrid import clock
from db.access import Actor, require
from db.audit import AuditEntry, record_many
from db.queries.coverage import cell_in_force

Progress = Callable[[int, int], None]

#: Problems placed per statement: small enough for a progress bar to move every few
#: seconds, large enough that the per-statement cost does not show.
BATCH_ROWS = 50_000

_WORK = "regenerate_problems"
_DAY = "CAST(p.reported_at AT TIME ZONE CAST(:tz AS text) AS date)"


@dataclass
class Retired:
    """What a regeneration took out of force."""

    kind: Literal["cell", "segment"]
    removed: list[str] = field(default_factory=list)  # codes: replaced for the whole history
    ended: list[str] = field(default_factory=list)  # codes: in force until ``ended_on``
    ended_on: dt.date | None = None
    # assignments ended with their target: id, person, role, level, code, label
    assignments: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def n(self) -> int:
        """How many rows were retired."""
        return len(self.removed) + len(self.ended)


@dataclass(frozen=True)
class Replaced:
    """Problems placed anew: how many were looked at, how many moved."""

    checked: int
    moved: int


def community_ids(conn: Connection, *, codes: Sequence[str]) -> list[int]:
    """Ids of the communities with these 12-digit codes."""
    rows = conn.execute(
        sa.text("SELECT id FROM admin_areas WHERE level = 'community' AND code = ANY(:codes)"),
        {"codes": list(codes)},
    ).scalars()
    return [int(i) for i in rows]


# --- which problems to place again ----------------------------------------------------------


def _collect(conn: Connection, sql: str, params: dict[str, Any]) -> int:
    """Put the ids ``sql`` selects into the work table, numbered; return their count."""
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {_WORK}"))
    conn.execute(
        sa.text(
            f"CREATE TEMP TABLE {_WORK} ON COMMIT DROP AS "
            f"SELECT id, row_number() OVER (ORDER BY id) AS k FROM ({sql}) u"
        ),
        params,
    )
    conn.execute(sa.text(f"CREATE INDEX ON {_WORK} (k)"))
    conn.execute(sa.text(f"ANALYZE {_WORK}"))
    return int(conn.scalar(sa.text(f"SELECT count(*) FROM {_WORK}")))


def collect_for_cells(conn: Connection, *, community_ids: Sequence[int]) -> int:
    """Mark the problems a new tiling of these communities may move: those lying in
    them, or placed in one of their cells or in one of them. Returns their count."""
    return _collect(
        conn,
        """
        SELECT p.id FROM problems p JOIN admin_areas a ON ST_Intersects(a.geom, p.geom)
        WHERE a.id = ANY(:comms)
        UNION
        SELECT p.id FROM problems p JOIN grid_cells g ON g.id = p.cell_id
        WHERE g.community_id = ANY(:comms)
        UNION
        SELECT p.id FROM problems p WHERE p.community_id = ANY(:comms)""",
        {"comms": list(community_ids)},
    )


def collect_for_segments(
    conn: Connection, *, run_id: int, retired_ids: Sequence[int], max_distance_m: float
) -> int:
    """Mark the problems a new segmentation may move: those placed on a segment it
    retires or changed, and those within ``max_distance_m`` of a segment it loaded or
    changed (load run ``run_id``). Returns their count."""
    return _collect(
        conn,
        """
        SELECT p.id FROM problems p
        WHERE p.segment_id = ANY(:retired)
           OR p.segment_id IN (SELECT id FROM road_segments WHERE load_run_id = :run)
        UNION
        SELECT p.id FROM problems p JOIN road_segments s
          ON s.load_run_id = :run AND ST_DWithin(s.geom, p.geom, :max_m)""",
        {"retired": list(retired_ids), "run": run_id, "max_m": max_distance_m},
    )


# --- placing them ----------------------------------------------------------------------------

_PLACE_CELLS = f"""
    WITH t AS (
        SELECT p.id, p.geom, p.cell_id, p.community_id, p.street_office_id, {_DAY} AS day
        FROM {_WORK} w JOIN problems p ON p.id = w.id
        WHERE w.k > :lo AND w.k <= :hi),
    c AS (
        SELECT t.*, cell.id AS new_cell,
               COALESCE(cell.community_id, (
                   SELECT a.id FROM admin_areas a
                   WHERE a.level = 'community' AND ST_Intersects(a.geom, t.geom)
                   ORDER BY a.id LIMIT 1)) AS new_community
        FROM t LEFT JOIN LATERAL (
            SELECT g.id, g.community_id FROM grid_cells g
            WHERE ST_Intersects(g.geom, t.geom) AND {cell_in_force("g", "t.day")}
            ORDER BY g.id LIMIT 1) cell ON true),
    x AS (
        SELECT c.*, COALESCE((
                   SELECT CASE WHEN a.level = 'street_office' THEN a.id
                               WHEN a.level = 'community' THEN so.id END
                   FROM admin_areas a
                   LEFT JOIN admin_areas so ON so.code = a.parent_code
                                           AND so.level = 'street_office'
                   WHERE a.id = c.new_community), (
                   SELECT a.id FROM admin_areas a
                   WHERE a.level = 'street_office' AND ST_Intersects(a.geom, c.geom)
                   ORDER BY a.id LIMIT 1)) AS new_office
        FROM c)
    UPDATE problems p
    SET cell_id = x.new_cell, community_id = x.new_community, street_office_id = x.new_office
    FROM x
    WHERE p.id = x.id
      AND (x.cell_id, x.community_id, x.street_office_id)
          IS DISTINCT FROM (x.new_cell, x.new_community, x.new_office)
"""

_PLACE_SEGMENTS = f"""
    WITH t AS (
        SELECT p.id, p.geom, p.segment_id, p.segment_dist_m
        FROM {_WORK} w JOIN problems p ON p.id = w.id
        WHERE w.k > :lo AND w.k <= :hi),
    x AS (
        SELECT t.id, t.segment_id, t.segment_dist_m, s.id AS new_segment, s.d AS new_dist
        FROM t LEFT JOIN LATERAL (
            SELECT s.id, ST_Distance(s.geom, t.geom) AS d FROM road_segments s
            WHERE ST_DWithin(s.geom, t.geom, :max_m)
            ORDER BY ST_Distance(s.geom, t.geom), s.id LIMIT 1) s ON true)
    UPDATE problems p SET segment_id = x.new_segment, segment_dist_m = x.new_dist
    FROM x
    WHERE p.id = x.id
      AND (x.segment_id, x.segment_dist_m) IS DISTINCT FROM (x.new_segment, x.new_dist)
    RETURNING x.segment_id IS DISTINCT FROM x.new_segment AS moved
"""


def _batches(
    total: int,
    run: Callable[[int, int], int],
    *,
    progress: Progress | None,
    batch_rows: int,
) -> int:
    moved = 0
    if progress is not None:
        progress(0, total)
    for lo in range(0, total, batch_rows):
        hi = min(lo + batch_rows, total)
        moved += run(lo, hi)
        if progress is not None:
            progress(hi, total)
    return moved


def place_in_cells(
    conn: Connection,
    *,
    total: int,
    progress: Progress | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Replaced:
    """Place the marked problems (:func:`collect_for_cells`) in cells, communities and
    street offices again; ``moved`` counts those whose places changed."""
    tz = clock.zone().key

    def run(lo: int, hi: int) -> int:
        result = conn.execute(sa.text(_PLACE_CELLS), {"lo": lo, "hi": hi, "tz": tz})
        return int(result.rowcount)

    moved = _batches(total, run, progress=progress, batch_rows=batch_rows)
    return Replaced(checked=total, moved=moved)


def place_on_segments(
    conn: Connection,
    *,
    total: int,
    max_distance_m: float,
    progress: Progress | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Replaced:
    """Place the marked problems (:func:`collect_for_segments`) on their nearest segment
    within ``max_distance_m`` again; ``moved`` counts those whose segment changed."""

    def run(lo: int, hi: int) -> int:
        flags = conn.execute(
            sa.text(_PLACE_SEGMENTS), {"lo": lo, "hi": hi, "max_m": max_distance_m}
        ).scalars()
        return sum(bool(f) for f in flags)

    moved = _batches(total, run, progress=progress, batch_rows=batch_rows)
    return Replaced(checked=total, moved=moved)


# --- retiring what the new layer replaces ------------------------------------------------


def stale_cells(
    conn: Connection, *, community_ids: Sequence[int], keep_codes: Sequence[str]
) -> pd.DataFrame:
    """Cells of these communities whose codes the new tiling does not use."""
    rows = conn.execute(
        sa.text(
            "SELECT id, code, community_id, responsible_body, area_m2, valid_from, valid_to "
            "FROM grid_cells WHERE community_id = ANY(:comms) AND code <> ALL(:keep) "
            "ORDER BY code"
        ),
        {"comms": list(community_ids), "keep": list(keep_codes)},
    )
    return pd.DataFrame(rows.mappings().all(), columns=list(rows.keys()))


def stale_segments(conn: Connection, *, keep_codes: Sequence[str]) -> pd.DataFrame:
    """Segments cut from the roads (linked to one, or lying on one) whose codes the new
    segmentation does not use; segments loaded on their own elsewhere stay."""
    rows = conn.execute(
        sa.text(
            """
            SELECT s.id, s.code, s.road_name, s.from_name, s.to_name, s.kind, s.road_class,
                   s.street_office_id, s.length_m, s.version
            FROM road_segments s
            WHERE s.code <> ALL(:keep)
              AND (s.road_id IS NOT NULL OR EXISTS (
                   SELECT 1 FROM roads r WHERE ST_DWithin(r.geom, ST_PointOnSurface(s.geom), 1.0)))
            ORDER BY s.code"""
        ),
        {"keep": list(keep_codes)},
    )
    return pd.DataFrame(rows.mappings().all(), columns=list(rows.keys()))


_LABEL = {
    "cell": "COALESCE(t.responsible_body, '')",
    "segment": "t.road_name || COALESCE('（' || t.from_name || '—' || t.to_name || '）', '')",
}
_TABLE = {"cell": "grid_cells", "segment": "road_segments"}


def _end_assignments(
    conn: Connection,
    actor: Actor,
    *,
    kind: Literal["cell", "segment"],
    ids: Sequence[int],
    at: dt.datetime | None,
    note: str,
) -> pd.DataFrame:
    """End the assignments still running on targets ``ids`` at ``at`` (None: now), with
    ``note``; the rows stay, as history. Returns them for the report."""
    moment = "now()" if at is None else "CAST(:at AS timestamptz)"
    found = conn.execute(
        sa.text(
            f"""
            SELECT a.id FROM assignments a
            WHERE a.target_type = :kind AND a.target_id = ANY(:ids)
              AND (a.valid_to IS NULL OR a.valid_to > {moment})"""
        ),
        {"kind": kind, "ids": list(ids), "at": at},
    ).scalars()
    ended = [int(i) for i in found]
    if not ended:
        return pd.DataFrame(columns=["id", "person", "role", "level", "code", "label", "valid_to"])
    require(actor, "assign.write", what=f"end the assignments of retired {kind}s")
    rows = conn.execute(
        sa.text(
            f"""
            WITH e AS (
                UPDATE assignments a
                SET valid_to = greatest({moment}, a.valid_from), ended_by = :by,
                    note = COALESCE(a.note || '; ', '') || :note || ': ' || (
                        SELECT t.code || ' ' || {_LABEL[kind]} FROM {_TABLE[kind]} t
                        WHERE t.id = a.target_id)
                WHERE a.id = ANY(:ended)
                RETURNING a.id, a.person_id, a.target_id, a.role, a.level, a.valid_to)
            SELECT e.id, pe.name AS person, e.role, e.level, t.code,
                   {_LABEL[kind]} AS label, e.valid_to
            FROM e JOIN people pe ON pe.id = e.person_id
            LEFT JOIN {_TABLE[kind]} t ON t.id = e.target_id
            ORDER BY t.code, e.role, e.level, pe.name"""
        ),
        {"ended": ended, "by": actor.username, "note": note, "at": at},
    )
    return pd.DataFrame(rows.mappings().all(), columns=list(rows.keys()))


def _plain(value: Any) -> Any:
    """A value as JSON takes it (NumPy scalars as Python ones, missing as None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _audit(
    conn: Connection,
    actor: Actor,
    *,
    action: str,
    entity_type: str,
    rows: pd.DataFrame,
    ended: pd.DataFrame,
    detail: dict[str, Any],
) -> None:
    by_code = ended.groupby("code")["id"].apply(list).to_dict() if len(ended) else {}
    entries: list[AuditEntry] = [
        {
            "action": action,
            "entity_type": entity_type,
            "entity_id": int(r["id"]),
            "before": {k: _plain(v) for k, v in r.items()},
            "detail": {**detail, "assignments_ended": by_code.get(r["code"], [])},
        }
        for r in rows.to_dict("records")
    ]
    record_many(conn, actor, entries)


def retire_cells(
    conn: Connection,
    actor: Actor,
    *,
    stale: pd.DataFrame,
    valid_from: dt.date | None,
    run_id: int,
) -> Retired:
    """Take the ``stale`` cells (:func:`stale_cells`) out of force.

    Without ``valid_from`` the new tiling replaces them for the whole history: they
    are removed. With it, those in force on that day end the day before (and keep
    their history); those that would only have come into force later are removed.
    Assignments on them end then too (now, for the removed ones).
    """
    out = Retired(kind="cell")
    if stale.empty:
        return out
    if valid_from is None:
        gone = stale
        ending = stale.iloc[:0]
    else:
        # dates compared as Python dates: a "forever" 9999-12-31 is beyond pandas' range
        later = stale["valid_from"].map(lambda d: d is not None and d >= valid_from)
        ended_before = stale["valid_to"].map(lambda d: d is not None and d < valid_from)
        gone = stale[later]
        ending = stale[~later & ~ended_before]
        out.ended_on = valid_from - dt.timedelta(days=1)
    note = f"cell retired by citygrid grid generate (load run {run_id})"
    ended_gone = _end_assignments(
        conn, actor, kind="cell", ids=gone["id"].tolist(), at=None, note=note
    )
    ended_dated = _end_assignments(
        conn,
        actor,
        kind="cell",
        ids=ending["id"].tolist(),
        at=None if valid_from is None else clock.day_start(valid_from),
        note=note,
    )
    out.assignments = pd.concat([ended_gone, ended_dated], ignore_index=True)
    detail = {"load_run_id": run_id, "valid_from": valid_from}
    if len(ending):
        conn.execute(
            sa.text("UPDATE grid_cells SET valid_to = :last WHERE id = ANY(:ids)"),
            {"last": out.ended_on, "ids": ending["id"].tolist()},
        )
        _audit(conn, actor, action="cell.end", entity_type="grid_cell", rows=ending,
               ended=ended_dated, detail={**detail, "valid_to": out.ended_on})  # fmt: skip
    if len(gone):
        _audit(conn, actor, action="cell.remove", entity_type="grid_cell", rows=gone,
               ended=ended_gone, detail=detail)  # fmt: skip
        conn.execute(
            sa.text("DELETE FROM grid_cells WHERE id = ANY(:ids)"), {"ids": gone["id"].tolist()}
        )
    out.removed = gone["code"].tolist()
    out.ended = ending["code"].tolist()
    return out


def retire_segments(conn: Connection, actor: Actor, *, stale: pd.DataFrame, run_id: int) -> Retired:
    """Remove the ``stale`` segments (:func:`stale_segments`).

    Segments carry no dates, so each is copied into the audit log (``segment.remove``)
    before it goes; its running assignments end now with a note naming it, and stay
    as history.
    """
    out = Retired(kind="segment")
    if stale.empty:
        return out
    ids = stale["id"].tolist()
    out.assignments = _end_assignments(
        conn,
        actor,
        kind="segment",
        ids=ids,
        at=None,
        note=f"segment retired by citygrid roads segment (load run {run_id})",
    )
    _audit(conn, actor, action="segment.remove", entity_type="road_segment", rows=stale,
           ended=out.assignments, detail={"load_run_id": run_id})  # fmt: skip
    conn.execute(sa.text("DELETE FROM road_segments WHERE id = ANY(:ids)"), {"ids": ids})
    out.removed = stale["code"].tolist()
    return out
