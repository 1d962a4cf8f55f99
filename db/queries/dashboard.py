"""Page-specific SQL of the dashboard: big-screen KPIs, rankings, map layers.

Everything is aggregated in PostGIS; what leaves the database is what a page shows
(counts, a few dozen rows, simplified geometries of the units in view).

Supervision colours (三色督办). An open problem (not closed, not void) with a
deadline is

- **red** (红牌) when the deadline has passed;
- **yellow** (黄牌) when at most ``yellow_fraction`` (default a quarter) of its allowed
  handling time ``deadline - reported_at`` is left;
- **white** (普通) otherwise. Problems without a deadline are never yellow or red.

Closure rates (domain brief §5), over a window ``[start, end)``: the problems **due to
close** are the non-void ones whose deadline fell in the window and has passed; 结案率 is
the share of them closed, 按期结案率 the share closed by their deadline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from citygrid.settings import Settings
from db.access import Actor, require
from db.audit import record
from db.queries.density import (
    DEFAULT_TZ,
    PATROL_CATEGORY_NAMES,
    as_datetime,
    history_covers,
    patrol_category_name,
)
from gis.errors import DataError

#: Share of the allowed handling time left at which an open problem turns yellow, unless
#: the deployment sets another (``yellow_fraction``, changeable while the platform runs).
YELLOW_FRACTION: float = Settings.model_fields["yellow_fraction"].default

RankUnit = Literal["street_office", "community"]
ReportFormat = Literal["pdf", "xlsx"]
#: Media type of each monthly-report format, for downloads.
REPORT_MEDIA_TYPES: dict[ReportFormat, str] = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Scope:
    """Which problems and places a page looks at (the shared sidebar's choices).

    ``None`` means no restriction; an empty tuple means nothing.
    """

    street_office_ids: tuple[int, ...] | None = None
    community_ids: tuple[int, ...] | None = None
    patrol_categories: tuple[int, ...] | None = None

    def problem_sql(self, alias: str = "p") -> tuple[str, dict[str, Any]]:
        """``AND ...`` conditions on a problems table aliased ``alias``, with parameters."""
        parts: list[str] = []
        params: dict[str, Any] = {}
        if self.street_office_ids is not None:
            parts.append(f"{alias}.street_office_id = ANY(CAST(:scope_so AS integer[]))")
            params["scope_so"] = list(self.street_office_ids)
        if self.community_ids is not None:
            parts.append(f"{alias}.community_id = ANY(CAST(:scope_com AS integer[]))")
            params["scope_com"] = list(self.community_ids)
        if self.patrol_categories is not None:
            parts.append(
                f"{alias}.category_code IN (SELECT code FROM problem_categories "
                "WHERE patrol_category = ANY(CAST(:scope_pc AS smallint[])))"
            )
            params["scope_pc"] = list(self.patrol_categories)
        return "".join(f" AND {p}" for p in parts), params

    def area_sql(self, *, so_column: str, com_column: str | None) -> tuple[str, dict[str, Any]]:
        """``AND ...`` conditions on a place table's street office and community columns."""
        parts: list[str] = []
        params: dict[str, Any] = {}
        if self.street_office_ids is not None:
            parts.append(f"{so_column} = ANY(CAST(:scope_so AS integer[]))")
            params["scope_so"] = list(self.street_office_ids)
        if self.community_ids is not None and com_column is not None:
            parts.append(f"{com_column} = ANY(CAST(:scope_com AS integer[]))")
            params["scope_com"] = list(self.community_ids)
        return "".join(f" AND {p}" for p in parts), params


ALL = Scope()


def _frame(conn: Connection, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    result = conn.execute(sa.text(sql), params)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def day_start(now: dt.datetime, *, tz: str = DEFAULT_TZ) -> dt.datetime:
    """Local midnight (in ``tz``) of the day ``now`` falls in."""
    local = as_datetime(now, tz=tz).astimezone(ZoneInfo(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


# --- what is loaded -------------------------------------------------------------------


def data_status(conn: Connection) -> dict[str, int]:
    """Row counts of the layers the pages need (cheap: estimates are not used)."""
    sql = """
        SELECT (SELECT count(*) FROM admin_areas WHERE level = 'street_office') AS street_offices,
               (SELECT count(*) FROM admin_areas WHERE level = 'community') AS communities,
               (SELECT count(*) FROM grid_cells) AS cells,
               (SELECT count(*) FROM road_segments) AS segments,
               (SELECT count(*) FROM people) AS people,
               (SELECT count(*) FROM bait_stations) AS bait_stations,
               (SELECT count(*) FROM premises) AS premises,
               (SELECT count(*) FROM markets) AS markets,
               (SELECT EXISTS (SELECT 1 FROM problems)) ::int AS has_problems
    """
    row = conn.execute(sa.text(sql)).mappings().one()
    return {k: int(v) for k, v in row.items()}


def areas(conn: Connection) -> pd.DataFrame:
    """Street offices and communities: ``id``, ``code``, ``name``, ``level``, ``parent_id``."""
    return _frame(
        conn,
        """
        SELECT a.id, a.code, a.name, a.level, p.id AS parent_id
        FROM admin_areas a
        LEFT JOIN admin_areas p ON p.code = a.parent_code
        WHERE a.level IN ('street_office', 'community')
        ORDER BY a.level DESC, a.code
        """,
        {},
    )


def patrol_categories(conn: Connection) -> pd.DataFrame:
    """Patrol categories in the code table: ``patrol_category``, ``name``, ``n_codes``."""
    frame = _frame(
        conn,
        """
        SELECT patrol_category, count(*) AS n_codes, min(major_name) AS major_name
        FROM problem_categories
        WHERE patrol_category IS NOT NULL
        GROUP BY patrol_category ORDER BY patrol_category
        """,
        {},
    )
    frame["name"] = [
        PATROL_CATEGORY_NAMES.get(int(c), m or str(c))
        for c, m in zip(frame["patrol_category"], frame["major_name"], strict=True)
    ]
    return frame[["patrol_category", "name", "n_codes"]]


def problem_period(conn: Connection) -> tuple[dt.datetime, dt.datetime] | None:
    """First and last report time of the loaded problems, or None when there are none."""
    row = conn.execute(sa.text("SELECT min(reported_at), max(reported_at) FROM problems")).one()
    return None if row[0] is None else (row[0], row[1])


# --- big screen -----------------------------------------------------------------------


def check_yellow_fraction(yellow_fraction: float) -> None:
    """Refuse a yellow-card share outside (0, 1): the share of handling time left."""
    if not 0 < yellow_fraction < 1:
        msg = f"yellow_fraction must be between 0 and 1, got {yellow_fraction}"
        raise DataError(msg)


def big_screen_kpis(
    conn: Connection,
    *,
    now: dt.datetime,
    window_days: int = 30,
    scope: Scope = ALL,
    yellow_fraction: float = YELLOW_FRACTION,
    tz: str = DEFAULT_TZ,
) -> dict[str, Any]:
    """Today's figures for the big screen, in one pass over the problems.

    Returns a dict with ``new_today``, ``open``, ``white``, ``yellow``, ``red``
    (open problems by supervision colour, see the module docstring), ``due``,
    ``closed``, ``closed_on_time``, ``closure_rate``, ``on_time_rate`` (over the last
    ``window_days``), ``segments``, ``segments_headed``, ``head_share`` (street
    segments with an active level-3 street head), ``stations``, ``stations_intact``
    and ``now``. Bait-station coverage by the rule profile is for
    :func:`db.queries.coverage.bait_evaluation` to judge.
    """
    check_yellow_fraction(yellow_fraction)
    now = as_datetime(now, tz=tz)
    today = day_start(now, tz=tz)
    since = today - dt.timedelta(days=window_days - 1)
    where, params = scope.problem_sql()
    sql = f"""
        SELECT
          count(*) FILTER (WHERE p.reported_at >= :today AND p.status <> 'void') AS new_today,
          count(*) FILTER (WHERE p.status NOT IN ('closed', 'void')) AS open,
          count(*) FILTER (WHERE p.status NOT IN ('closed', 'void') AND p.deadline < :now) AS red,
          count(*) FILTER (WHERE p.status NOT IN ('closed', 'void') AND p.deadline >= :now
                           AND p.deadline - :now
                               <= (p.deadline - p.reported_at) * :yellow) AS yellow,
          count(*) FILTER (WHERE p.status <> 'void' AND p.deadline >= :since
                           AND p.deadline < :now) AS due,
          count(*) FILTER (WHERE p.status = 'closed' AND p.deadline >= :since
                           AND p.deadline < :now) AS closed,
          count(*) FILTER (WHERE p.status = 'closed' AND p.deadline >= :since
                           AND p.deadline < :now AND p.closed_at <= p.deadline) AS closed_on_time
        FROM problems p
        WHERE (p.status NOT IN ('closed', 'void') OR p.deadline >= :since
               OR p.reported_at >= :today){where}
    """
    params.update(now=now, today=today, since=since, yellow=yellow_fraction)
    row = dict(conn.execute(sa.text(sql), params).mappings().one())
    out: dict[str, Any] = {k: int(v or 0) for k, v in row.items()}
    out["white"] = out["open"] - out["yellow"] - out["red"]
    out["closure_rate"] = _rate(out["closed"], out["due"])
    out["on_time_rate"] = _rate(out["closed_on_time"], out["due"])
    out.update(_coverage_kpis(conn, scope=scope))
    out["now"] = now
    return out


def _coverage_kpis(conn: Connection, *, scope: Scope) -> dict[str, Any]:
    seg_where, params = scope.area_sql(so_column="s.street_office_id", com_column="s.community_id")
    sql = f"""
        WITH heads AS (
            SELECT DISTINCT target_id FROM assignments
            WHERE target_type = 'segment' AND role = 'street_head' AND valid_to IS NULL
              AND (level = 3 OR level IS NULL)
        )
        SELECT
          (SELECT count(*) FROM road_segments s WHERE s.kind = 'street'{seg_where}) AS segments,
          (SELECT count(*) FROM road_segments s JOIN heads h ON h.target_id = s.id
           WHERE s.kind = 'street'{seg_where}) AS segments_headed,
          (SELECT count(*) FROM bait_stations) AS stations,
          (SELECT count(*) FROM bait_stations WHERE state = 'intact') AS stations_intact
    """
    row = {k: int(v or 0) for k, v in conn.execute(sa.text(sql), params).mappings().one().items()}
    row["head_share"] = _rate(row["segments_headed"], row["segments"])
    return row


def category_counts(
    conn: Connection,
    *,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    scope: Scope = ALL,
) -> pd.DataFrame:
    """Problems reported in ``[start, end)`` by patrol category: ``n``, ``open``, ``red``.

    Indexed by ``patrol_category`` (0 for codes outside the five patrol categories).
    """
    where, params = scope.problem_sql()
    frame = _frame(
        conn,
        f"""
        SELECT COALESCE(pc.patrol_category, 0) AS patrol_category, count(*) AS n,
               count(*) FILTER (WHERE p.status NOT IN ('closed', 'void')) AS open,
               count(*) FILTER (WHERE p.status NOT IN ('closed', 'void')
                                AND p.deadline < :now) AS red
        FROM problems p LEFT JOIN problem_categories pc ON pc.code = p.category_code
        WHERE p.reported_at >= :start AND p.reported_at < :end AND p.status <> 'void'{where}
        GROUP BY 1 ORDER BY 1
        """,
        {**params, "start": start, "end": end, "now": now},
    )
    return frame.astype("int64").set_index("patrol_category")


def daily_trend(
    conn: Connection,
    *,
    end_day: dt.date,
    days: int = 30,
    scope: Scope = ALL,
    tz: str = DEFAULT_TZ,
) -> pd.DataFrame:
    """New and closed problems per day for the ``days`` days up to ``end_day`` (included).

    Indexed by ``day`` (every day present, zeros where nothing happened).
    """
    start = as_datetime(end_day - dt.timedelta(days=days - 1), tz=tz)
    end = as_datetime(end_day + dt.timedelta(days=1), tz=tz)
    where, params = scope.problem_sql()
    frame = _frame(
        conn,
        f"""
        WITH d AS (
            SELECT generate_series(CAST(:start_day AS date), CAST(:end_day AS date),
                                   interval '1 day')::date AS day
        ), new AS (
            SELECT (p.reported_at AT TIME ZONE :tz)::date AS day, count(*) AS n
            FROM problems p
            WHERE p.reported_at >= :start AND p.reported_at < :end AND p.status <> 'void'{where}
            GROUP BY 1
        ), closed AS (
            SELECT (p.closed_at AT TIME ZONE :tz)::date AS day, count(*) AS n
            FROM problems p
            WHERE p.closed_at >= :start AND p.closed_at < :end AND p.status = 'closed'{where}
            GROUP BY 1
        )
        SELECT d.day, COALESCE(new.n, 0) AS new, COALESCE(closed.n, 0) AS closed
        FROM d LEFT JOIN new USING (day) LEFT JOIN closed USING (day) ORDER BY d.day
        """,
        {
            **params,
            "start": start,
            "end": end,
            "tz": tz,
            "start_day": start.date(),
            "end_day": end_day,
        },
    )
    frame["day"] = pd.to_datetime(frame["day"])
    return frame.astype({"new": "int64", "closed": "int64"}).set_index("day")


def rankings(
    conn: Connection,
    *,
    unit: RankUnit,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    scope: Scope = ALL,
) -> pd.DataFrame:
    """Street offices or communities ranked by on-time closure, then closure rate.

    Columns: ``name``, ``street_office``, ``n`` (reported in the window), ``due``,
    ``closed``, ``closed_on_time``, ``closure_rate``, ``on_time_rate``, ``red`` (open
    and overdue now), ``rank`` (1 is best; units with nothing due come last). Indexed
    by unit id.
    """
    if unit not in ("street_office", "community"):
        msg = f"rankings: unit must be 'street_office' or 'community', got {unit!r}"
        raise DataError(msg)
    return _rankings(conn, units=(unit,), start=start, end=end, now=now, scope=scope)[unit]


def rankings_by_area(
    conn: Connection,
    *,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    scope: Scope = ALL,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The :func:`rankings` of street offices and of communities, in one pass over the
    problems (``GROUPING SETS``) instead of two."""
    both = _rankings(
        conn, units=("street_office", "community"), start=start, end=end, now=now, scope=scope
    )
    return both["street_office"], both["community"]


def _rankings(
    conn: Connection,
    *,
    units: tuple[RankUnit, ...],
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    scope: Scope,
) -> dict[RankUnit, pd.DataFrame]:
    where, params = scope.problem_sql()
    sets = ", ".join(f"(p.{u}_id)" for u in units)
    area_where = ""
    if scope.street_office_ids is not None:
        area_where += " AND COALESCE(so.id, a.id) = ANY(CAST(:scope_so AS integer[]))"
    if scope.community_ids is not None:
        area_where += (
            " AND (a.level = 'street_office' OR a.id = ANY(CAST(:scope_com AS integer[])))"
        )
    so_id = "p.street_office_id" if "street_office" in units else "NULL::integer"
    com_id = "p.community_id" if "community" in units else "NULL::integer"
    by_so = "GROUPING(p.street_office_id) = 0" if len(units) == 2 else str(units[0] != "community")
    end_due = min(end, now)
    frame = _frame(
        conn,
        f"""
        WITH agg AS (
            SELECT {so_id} AS so_id, {com_id} AS com_id, {by_so} AS by_so,
                   count(*) FILTER (WHERE p.reported_at >= :start AND p.reported_at < :end) AS n,
                   count(*) FILTER (WHERE p.deadline >= :start AND p.deadline < :end_due) AS due,
                   count(*) FILTER (WHERE p.deadline >= :start AND p.deadline < :end_due
                                    AND p.status = 'closed') AS closed,
                   count(*) FILTER (WHERE p.deadline >= :start AND p.deadline < :end_due
                                    AND p.status = 'closed' AND p.closed_at <= p.deadline)
                       AS closed_on_time,
                   count(*) FILTER (WHERE p.status NOT IN ('closed', 'void')
                                    AND p.deadline < :now) AS red
            FROM problems p
            WHERE p.status <> 'void'
              AND ((p.reported_at >= :start AND p.reported_at < :end)
                   OR (p.deadline >= :start AND p.deadline < :end_due)
                   OR (p.status NOT IN ('closed', 'void') AND p.deadline < :now)){where}
            GROUP BY GROUPING SETS ({sets})
        )
        SELECT a.id AS unit_id, a.level, a.name, so.name AS street_office,
               COALESCE(agg.n, 0) AS n, COALESCE(agg.due, 0) AS due,
               COALESCE(agg.closed, 0) AS closed,
               COALESCE(agg.closed_on_time, 0) AS closed_on_time, COALESCE(agg.red, 0) AS red
        FROM admin_areas a
        LEFT JOIN admin_areas so ON so.code = a.parent_code AND so.level = 'street_office'
        LEFT JOIN agg ON CASE WHEN a.level = 'street_office' THEN agg.by_so AND agg.so_id = a.id
                              ELSE NOT agg.by_so AND agg.com_id = a.id END
        WHERE a.level = ANY(CAST(:levels AS text[])){area_where}
        """,
        {
            **params,
            "start": start,
            "end": end,
            "end_due": end_due,
            "now": now,
            "levels": list(units),
        },
    )
    return {
        unit: _ranked(frame.loc[frame["level"] == unit].drop(columns="level")) for unit in units
    }


def _ranked(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    # the same column types whichever levels were ranked together (None: no parent)
    for col in ("name", "street_office"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    counts = ["n", "due", "closed", "closed_on_time", "red"]
    frame[counts] = frame[counts].astype("int64")
    due = frame["due"].where(frame["due"] > 0)
    frame["closure_rate"] = frame["closed"] / due
    frame["on_time_rate"] = frame["closed_on_time"] / due
    frame = frame.sort_values(
        ["on_time_rate", "closure_rate", "red", "name"],
        ascending=[False, False, True, True],
        na_position="last",
    )
    frame["rank"] = range(1, len(frame) + 1)
    return frame.set_index("unit_id")


def latest_problems(
    conn: Connection,
    *,
    now: dt.datetime,
    limit: int = 20,
    scope: Scope = ALL,
    yellow_fraction: float = YELLOW_FRACTION,
) -> pd.DataFrame:
    """The most recently reported problems, with their category and supervision colour.

    Columns: ``case_no``, ``reported_at``, ``category``, ``patrol_category``,
    ``address``, ``street_office``, ``status``, ``colour`` (white, yellow, red, closed).
    """
    where, params = scope.problem_sql()
    return _frame(
        conn,
        f"""
        SELECT p.case_no, p.reported_at, pc.name AS category, pc.patrol_category, p.address,
               so.name AS street_office, p.status,
               CASE WHEN p.status IN ('closed', 'void') THEN 'closed'
                    WHEN p.deadline < :now THEN 'red'
                    WHEN p.deadline - :now <= (p.deadline - p.reported_at) * :yellow THEN 'yellow'
                    ELSE 'white' END AS colour
        FROM problems p
        LEFT JOIN problem_categories pc ON pc.code = p.category_code
        LEFT JOIN admin_areas so ON so.id = p.street_office_id
        WHERE p.status <> 'void' AND p.reported_at <= :now{where}
        ORDER BY p.reported_at DESC, p.id DESC
        LIMIT :limit
        """,
        {**params, "now": now, "yellow": yellow_fraction, "limit": int(limit)},
    )


# --- map layers -----------------------------------------------------------------------


def _geoframe(conn: Connection, sql: str, params: dict[str, Any]) -> gpd.GeoDataFrame:
    """Run ``sql`` whose ``wkb`` column is WGS 84 WKB; return a GeoDataFrame in EPSG:4326."""
    frame = _frame(conn, sql, params)
    geoms = shapely.from_wkb(frame.pop("wkb").to_numpy()) if len(frame) else []
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)


def _wkb(column: str, simplify_m: float) -> str:
    # Simplified in the metric working CRS (tolerance in metres), then sent as WGS 84.
    return (
        f"ST_AsBinary(ST_Transform(ST_SimplifyPreserveTopology({column}, {float(simplify_m)}), "
        "4326)) AS wkb"
    )


def outlines(
    conn: Connection,
    *,
    level: Literal["district", "street_office", "community"],
    scope: Scope = ALL,
    simplify_m: float = 10.0,
) -> gpd.GeoDataFrame:
    """Administrative outlines (``id``, ``code``, ``name``) simplified, in EPSG:4326."""
    params: dict[str, Any] = {"level": level}
    where = ""
    if level == "street_office" and scope.street_office_ids is not None:
        where = " AND a.id = ANY(CAST(:so AS integer[]))"
        params["so"] = list(scope.street_office_ids)
    elif level == "community" and scope.community_ids is not None:
        where = " AND a.id = ANY(CAST(:com AS integer[]))"
        params["com"] = list(scope.community_ids)
    elif level == "community" and scope.street_office_ids is not None:
        where = (
            " AND a.parent_code IN (SELECT code FROM admin_areas "
            "WHERE id = ANY(CAST(:so AS integer[])))"
        )
        params["so"] = list(scope.street_office_ids)
    return _geoframe(
        conn,
        f"""
        SELECT a.id, a.code, a.name, {_wkb("a.geom", simplify_m)}
        FROM admin_areas a WHERE a.level = :level AND a.geom IS NOT NULL{where}
        ORDER BY a.code
        """,
        params,
    )


def segment_status(
    conn: Connection,
    *,
    scope: Scope = ALL,
    road_name: str | None = None,
    segment_ids: Sequence[int] | None = None,
    simplify_m: float = 3.0,
    with_geometry: bool = True,
) -> gpd.GeoDataFrame | pd.DataFrame:
    """Road segments with their street-head status, for the assignment desk.

    Columns: ``id``, ``code``, ``label`` (``道路名（起点路—终点路）``), ``road_name``,
    ``kind``, ``street_office_id``, ``street_office``, ``community_id``, ``community``,
    ``length_m``, ``version``, ``status`` (``assigned``, ``unassigned`` or
    ``conflict``: more than one active level-3 head), ``n_heads``, ``head_id``,
    ``head``, ``head_phone``, ``supervisor_id``, ``supervisor``, ``supervisor_phone``
    (of the first head when there are several); a geometry in EPSG:4326 unless
    ``with_geometry`` is false.
    """
    where, params = scope.area_sql(so_column="s.street_office_id", com_column="s.community_id")
    if road_name:
        where += " AND s.road_name = :road"
        params["road"] = road_name
    if segment_ids is not None:
        where += " AND s.id = ANY(CAST(:ids AS integer[]))"
        params["ids"] = [int(i) for i in segment_ids]
    geom = f", {_wkb('s.geom', simplify_m)}" if with_geometry else ""
    sql = f"""
        WITH heads AS (
            SELECT a.target_id, count(*) AS n_heads,
                   (array_agg(a.person_id ORDER BY a.valid_from, a.id))[1] AS head_id,
                   (array_agg(a.supervisor_id ORDER BY a.valid_from, a.id))[1] AS supervisor_id
            FROM assignments a
            WHERE a.target_type = 'segment' AND a.valid_to IS NULL
              AND a.role IN ('street_head', 'lane_head')
              AND (a.level = 3 OR a.level IS NULL)
            GROUP BY a.target_id
        )
        SELECT s.id, s.code,
               s.road_name || COALESCE('（' || s.from_name || '—' || s.to_name || '）', '')
                   AS label,
               s.road_name, s.kind, s.street_office_id, so.name AS street_office,
               s.community_id, com.name AS community,
               COALESCE(s.length_m, ST_Length(s.geom)) AS length_m, s.version,
               CASE WHEN h.n_heads IS NULL THEN 'unassigned'
                    WHEN h.n_heads > 1 THEN 'conflict' ELSE 'assigned' END AS status,
               COALESCE(h.n_heads, 0) AS n_heads, h.head_id, hp.name AS head,
               hp.phone AS head_phone, h.supervisor_id, sp.name AS supervisor,
               sp.phone AS supervisor_phone{geom}
        FROM road_segments s
        LEFT JOIN heads h ON h.target_id = s.id
        LEFT JOIN people hp ON hp.id = h.head_id
        LEFT JOIN people sp ON sp.id = h.supervisor_id
        LEFT JOIN admin_areas so ON so.id = s.street_office_id
        LEFT JOIN admin_areas com ON com.id = s.community_id
        WHERE true{where}
        ORDER BY s.road_name, s.code
    """
    if with_geometry:
        return _geoframe(conn, sql, params)
    return _frame(conn, sql, params)


def people(conn: Connection, *, scope: Scope = ALL, active_only: bool = True) -> pd.DataFrame:
    """People on the roster in the scope's street offices (and those with none)."""
    where, params = scope.area_sql(so_column="p.street_office_id", com_column=None)
    if where:
        where = f" AND (p.street_office_id IS NULL OR ({where[5:]}))"
    if active_only:
        where += " AND p.active"
    return _frame(
        conn,
        f"""
        SELECT p.id, p.person_key, p.name, p.phone, p.role, p.org_unit, p.street_office_id,
               p.active,
               (SELECT max(a.level) FROM assignments a
                WHERE a.person_id = p.id AND a.valid_to IS NULL) AS level,
               (SELECT count(*) FROM assignments a WHERE a.person_id = p.id
                AND a.valid_to IS NULL AND a.target_type = 'segment') AS n_segments
        FROM people p WHERE true{where}
        ORDER BY p.name, p.id
        """,
        params,
    )


# --- the monthly report -------------------------------------------------------------------


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def monthly_figures(
    conn: Connection,
    *,
    month: dt.date,
    now: dt.datetime,
    actor: Actor,
    scope: Scope = ALL,
    tz: str = DEFAULT_TZ,
) -> dict[str, Any]:
    """The figures of the monthly report (月通报) of ``month``, for ``actor`` to read.

    Returns the keyword arguments of :class:`reports.monthly.MonthlyReport` except the
    area name and language: ``month``, ``kpis`` (with ``n_previous`` of the month before
    and ``n_last_year`` of the same month a year earlier, None when the loaded problems
    do not reach back to it), ``categories`` (``name`` in Chinese, ``name_en``, ``n``,
    ``n_previous``, ``n_last_year``: missing likewise), ``rank_so``,
    ``rank_com``, ``hot_cells`` (significant Gi* cells of the month), ``outlines``
    (street offices, in the working CRS) and ``top`` (ten hottest cells with who
    answers for them, masked unless ``actor`` may read personal data).
    """
    from db.queries import hotspots as hot

    first = _month_start(month)
    start = as_datetime(first, tz=tz)
    end = as_datetime(_next_month(first), tz=tz)
    previous = as_datetime(_month_start(first - dt.timedelta(days=1)), tz=tz)
    year_ago = first.replace(year=first.year - 1)
    last_year = as_datetime(year_ago, tz=tz), as_datetime(_next_month(year_ago), tz=tz)
    now = as_datetime(now, tz=tz)
    so = scope.street_office_ids
    rank_so, rank_com = rankings_by_area(conn, start=start, end=end, now=now, scope=scope)
    cats = category_counts(conn, start=start, end=end, now=now, scope=scope)
    cats_prev = category_counts(conn, start=previous, end=start, now=now, scope=scope)
    cats_ly = category_counts(conn, start=last_year[0], end=last_year[1], now=now, scope=scope)
    categories = (
        pd.DataFrame({"n": cats["n"]})
        .join(cats_prev[["n"]].rename(columns={"n": "n_previous"}), how="outer")
        .join(cats_ly[["n"]].rename(columns={"n": "n_last_year"}), how="outer")
    )
    categories = categories.fillna(0).astype("int64").reset_index()
    # before the first loaded problem nothing was recorded: no comparison, not zero
    covered = history_covers(conn, last_year[0], tz=tz)
    if not covered:
        categories["n_last_year"] = pd.Series(pd.NA, index=categories.index, dtype="Int64")
    codes = categories["patrol_category"].astype(int)
    categories["name"] = [patrol_category_name(c, "zh") for c in codes]
    categories["name_en"] = [patrol_category_name(c, "en") for c in codes]
    due = int(rank_so["due"].sum())
    closed = int(rank_so["closed"].sum())
    on_time = int(rank_so["closed_on_time"].sum())
    kpis = {
        "n": int(cats["n"].sum()),
        "n_previous": int(cats_prev["n"].sum()),
        "n_last_year": int(cats_ly["n"].sum()) if covered else None,
        "due": due,
        "closed": closed,
        "closed_on_time": on_time,
        "closure_rate": _rate(closed, due),
        "on_time_rate": _rate(on_time, due),
    }
    cells = hot.hotspots(
        conn,
        unit="cell",
        start=start,
        end=end,
        patrol_categories=scope.patrol_categories,
        street_office_ids=so,
        tz=tz,
    )
    top = hot.top_n(conn, cells, unit="cell", actor=actor, n=10)
    top = pd.DataFrame(
        {
            "rank": top["rank"],
            "code": top["code"],
            "name": top["community"].fillna(top["name"]),
            "n": top["n"],
            "gi_z": top["gi_z"],
            "head": top["responsible_body"].where(
                top["grid_worker_name"].isna(),
                top["responsible_body"] + "（" + top["grid_worker_name"].fillna("") + "）",
            ),
            "phone": top["grid_worker_phone"],
        }
    )
    significant = cells.loc[cells["gi_class"] != 0, ["code", "n", "gi_class", "geometry"]]
    lines = outlines(conn, level="street_office", scope=scope, simplify_m=20.0).to_crs(cells.crs)
    return {
        "month": first,
        "kpis": kpis,
        "categories": categories[
            ["patrol_category", "name", "name_en", "n", "n_previous", "n_last_year"]
        ],
        "rank_so": rank_so,
        "rank_com": rank_com,
        "hot_cells": significant,
        "outlines": lines,
        "top": top,
    }


@dataclass(frozen=True)
class MonthlyExport:
    """The monthly report as files (one per format asked for) and its audit row."""

    month: dt.date
    lang: Literal["zh", "en"]
    files: dict[ReportFormat, bytes]
    audit_id: int

    def file_name(self, fmt: ReportFormat) -> str:
        """A name to save or download the report under."""
        return f"monthly-{self.month:%Y-%m}-{self.lang}.{fmt}"


def export_monthly(
    conn: Connection,
    actor: Actor,
    *,
    month: dt.date,
    now: dt.datetime,
    area_name: str,
    formats: Sequence[ReportFormat] = ("pdf", "xlsx"),
    lang: Literal["zh", "en"] = "zh",
    scope: Scope = ALL,
    tz: str = DEFAULT_TZ,
) -> MonthlyExport:
    """The monthly report (月通报) of ``month`` for ``actor``, checked, masked and audited.

    Requires ``report.export`` in the street offices of ``scope`` (all of the actor's
    own when none are named); the names and phones of who answers for the hot spots are
    masked for actors without ``pii.read`` (:func:`monthly_figures`); one
    ``export.monthly`` row goes to the audit log in the caller's transaction, naming
    the month, formats, language and area. Whichever page or command exports the
    report, these rules hold.
    """
    from reports.monthly import MonthlyReport, monthly_excel, monthly_pdf

    unknown = [f for f in formats if f not in REPORT_MEDIA_TYPES]
    if unknown or not formats:
        msg = f"the monthly report comes as pdf or xlsx, not {unknown or 'nothing'}; choose those"
        raise DataError(msg)
    ids = scope.street_office_ids
    if ids is None and actor.street_office_ids is not None:
        ids = tuple(sorted(actor.street_office_ids))  # "all" means all of the actor's own
        scope = replace(scope, street_office_ids=ids)
    require(actor, "report.export", street_office_ids=ids or [], what="export the monthly report")
    now = as_datetime(now, tz=tz)
    figures = monthly_figures(conn, month=month, now=now, actor=actor, scope=scope, tz=tz)
    report = MonthlyReport(
        **figures, area_name=area_name, lang=lang, made_at=now.astimezone(ZoneInfo(tz))
    )
    render = {"pdf": monthly_pdf, "xlsx": monthly_excel}
    files: dict[ReportFormat, bytes] = {f: render[f](report) for f in dict.fromkeys(formats)}
    audit_id = record(
        conn,
        actor,
        "export.monthly",
        entity_type="report",
        entity_id=f"monthly-{figures['month']:%Y-%m}",
        detail={
            "month": f"{figures['month']:%Y-%m}",
            "formats": list(files),
            "language": lang,
            "area": area_name,
            "street_office_ids": None if ids is None else sorted(ids),
            "patrol_categories": scope.patrol_categories,
            "masked_names": not actor.can("pii.read"),
            "hot_cells": len(figures["hot_cells"]),
        },
    )
    return MonthlyExport(figures["month"], lang, files, audit_id)
