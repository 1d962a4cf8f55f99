"""Problem density per grid cell, road segment, community and street office.

Counts are GROUP BYs over the places stored with each problem at load time
(``problems.cell_id``, ``segment_id``, ``community_id``, ``street_office_id``): no
spatial join runs here. One query counts the chosen period, the period just before
it (same length) and the same period a year earlier, in one pass over the rows of
those three windows, and joins the units with their area, road length and
population for the rates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis.errors import DataError

Unit = Literal["cell", "segment", "community", "street_office"]
GroupBy = Literal["patrol_category", "major_code", "category", "source"]

UNITS: tuple[Unit, ...] = ("cell", "segment", "community", "street_office")
GROUPS: tuple[GroupBy, ...] = ("patrol_category", "major_code", "category", "source")

#: Problems are dated in this zone when a naive date or datetime is given.
DEFAULT_TZ = "Asia/Shanghai"

#: Patrol categories in Chinese and English: the street-chief patrol's five (domain
#: brief), the local pest-control category 6, and 0 for codes outside them. The one
#: table of these names: the dashboard's labels and the reports read it.
PATROL_CATEGORY_LABELS: dict[int, tuple[str, str]] = {
    0: ("其他", "Other"),
    1: ("环境卫生", "Sanitation"),
    2: ("宣传广告", "Advertising"),
    3: ("街面秩序", "Street order"),
    4: ("交通秩序", "Traffic order"),
    5: ("城市设施", "City facilities"),
    6: ("病媒生物", "Pest control"),
}
#: Chinese names of the patrol categories; others show their number.
PATROL_CATEGORY_NAMES = {c: zh for c, (zh, _en) in PATROL_CATEGORY_LABELS.items() if c}


def patrol_category_name(category: int, lang: Literal["zh", "en"] = "zh") -> str:
    """The name of patrol category ``category`` in ``lang`` (its number if unknown).

    >>> patrol_category_name(3), patrol_category_name(3, "en"), patrol_category_name(9, "en")
    ('街面秩序', 'Street order', '9')
    """
    labels = PATROL_CATEGORY_LABELS.get(int(category))
    return str(category) if labels is None else labels[0 if lang == "zh" else 1]


# Column of ``problems`` holding each unit's id.
_PROBLEM_COLUMN: dict[Unit, str] = {
    "cell": "cell_id",
    "segment": "segment_id",
    "community": "community_id",
    "street_office": "street_office_id",
}

# Each unit with its names, street office, and the denominators of the rates.
_UNIT_SQL: dict[Unit, str] = {
    "cell": """
        SELECT c.id AS unit_id, c.code, c.code AS name, com.name AS community,
               com.id AS community_id, so.name AS street_office, so.id AS street_office_id,
               COALESCE(c.area_m2, ST_Area(c.geom)) / 1e6 AS area_km2,
               CAST(NULL AS double precision) AS length_km, CAST(NULL AS integer) AS population
        FROM grid_cells c
        LEFT JOIN admin_areas com ON com.id = c.community_id
        LEFT JOIN admin_areas so ON so.code = com.parent_code AND so.level = 'street_office'
        WHERE (c.valid_from IS NULL OR c.valid_from < CAST(:end AS date))
          AND (c.valid_to IS NULL OR c.valid_to >= CAST(:start AS date))""",
    "segment": """
        SELECT s.id AS unit_id, s.code,
               s.road_name || COALESCE('（' || s.from_name || '—' || s.to_name || '）', '') AS name,
               com.name AS community, com.id AS community_id, so.name AS street_office,
               so.id AS street_office_id, CAST(NULL AS double precision) AS area_km2,
               COALESCE(s.length_m, ST_Length(s.geom)) / 1e3 AS length_km,
               CAST(NULL AS integer) AS population
        FROM road_segments s
        LEFT JOIN admin_areas com ON com.id = s.community_id
        LEFT JOIN admin_areas so ON so.id = s.street_office_id
        WHERE true""",
    "community": """
        SELECT a.id AS unit_id, a.code, a.name, a.name AS community, a.id AS community_id,
               so.name AS street_office, so.id AS street_office_id,
               ST_Area(a.geom) / 1e6 AS area_km2, CAST(NULL AS double precision) AS length_km,
               a.population
        FROM admin_areas a
        LEFT JOIN admin_areas so ON so.code = a.parent_code AND so.level = 'street_office'
        WHERE a.level = 'community'""",
    "street_office": """
        SELECT so.id AS unit_id, so.code, so.name, CAST(NULL AS text) AS community,
               CAST(NULL AS bigint) AS community_id, so.name AS street_office, so.id AS street_office_id,
               ST_Area(so.geom) / 1e6 AS area_km2, CAST(NULL AS double precision) AS length_km,
               so.population
        FROM admin_areas so
        WHERE so.level = 'street_office'""",
}

_GROUP_SQL: dict[GroupBy, tuple[str, bool]] = {
    # expression, needs the category table
    "patrol_category": ("CAST(pc.patrol_category AS text)", True),
    "major_code": ("pc.major_code", True),
    "category": ("p.category_code", False),
    "source": ("p.source", False),
}

_COUNTS = ("n", "n_previous", "n_last_year")


@dataclass(frozen=True)
class Periods:
    """The chosen period and the two it is compared with (half-open ``[start, end)``)."""

    start: dt.datetime
    end: dt.datetime
    previous_start: dt.datetime
    last_year_start: dt.datetime
    last_year_end: dt.datetime


def as_datetime(value: dt.date | dt.datetime, *, tz: str = DEFAULT_TZ) -> dt.datetime:
    """A timezone-aware datetime (a date means its midnight; naive means ``tz``).

    >>> as_datetime(dt.date(2024, 3, 1)).isoformat()
    '2024-03-01T00:00:00+08:00'
    """
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value


def _year_earlier(value: dt.datetime) -> dt.datetime:
    try:
        return value.replace(year=value.year - 1)
    except ValueError:  # 29 February
        return value.replace(year=value.year - 1, day=28)


def comparison_periods(
    start: dt.date | dt.datetime, end: dt.date | dt.datetime, *, tz: str = DEFAULT_TZ
) -> Periods:
    """The period, the one just before it (same length) and the same one last year.

    >>> p = comparison_periods(dt.date(2024, 3, 1), dt.date(2024, 4, 1))
    >>> p.previous_start.date(), p.last_year_start.date(), p.last_year_end.date()
    (datetime.date(2024, 1, 30), datetime.date(2023, 3, 1), datetime.date(2023, 4, 1))
    """
    s = as_datetime(start, tz=tz)
    e = as_datetime(end, tz=tz)
    if e <= s:
        msg = (
            f"the period must end after it starts; got start {s.isoformat()} and end "
            f"{e.isoformat()} (the end is exclusive: a month is 2024-03-01 to 2024-04-01)"
        )
        raise DataError(msg)
    return Periods(
        start=s,
        end=e,
        previous_start=s - (e - s),
        last_year_start=_year_earlier(s),
        last_year_end=_year_earlier(e),
    )


def history_covers(conn: Connection, start: dt.datetime, *, tz: str = DEFAULT_TZ) -> bool:
    """Whether the loaded problems reach back to the day of ``start`` (in ``tz``).

    A period before the first loaded problem was not recorded, so it cannot be compared
    with: a deployment younger than a year has no "same period last year", and a count
    of zero there would read as a fall to nothing or a rise without bound. The first day
    counts as covered, however late in it the first problem was reported.
    """
    first = conn.execute(sa.text("SELECT min(reported_at) FROM problems")).scalar()
    if first is None:
        return False
    zone = ZoneInfo(tz)
    return bool(first.astimezone(zone).date() <= as_datetime(start, tz=tz).astimezone(zone).date())


def _check_unit(unit: str) -> None:
    if unit not in UNITS:
        msg = f"unknown unit {unit!r}; use one of: {', '.join(UNITS)}"
        raise DataError(msg)


def _check_categories(conn: Connection, categories: Sequence[str]) -> None:
    rows = conn.execute(sa.text("SELECT code, major_code FROM problem_categories")).all()
    if not rows:
        return  # no code table loaded: codes are matched as given
    known = {r[0] for r in rows} | {r[1] for r in rows if r[1]}
    unknown = [c for c in categories if c not in known]
    if unknown:
        majors = sorted({r[1] for r in rows if r[1]})
        msg = (
            f"category {', '.join(unknown)} not found in the category table; give a category "
            f"code (e.g. {rows[0][0]}) or a major code ({', '.join(majors[:12])})"
        )
        raise DataError(msg)


def problem_filters(
    conn: Connection,
    *,
    categories: Sequence[str] | None,
    patrol_categories: Sequence[int] | None,
    sources: Sequence[str] | None,
    include_void: bool,
) -> tuple[list[str], dict[str, Any]]:
    """SQL conditions on ``problems p`` (and their parameters) shared by the analyses."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if not include_void:
        where.append("p.status <> 'void'")
    if categories:
        cats = [str(c).strip() for c in categories]
        _check_categories(conn, cats)
        where.append(
            "(p.category_code = ANY(CAST(:cats AS text[])) OR p.category_code IN "
            "(SELECT code FROM problem_categories WHERE major_code = ANY(CAST(:cats AS text[]))))"
        )
        params["cats"] = cats
    if patrol_categories:
        where.append(
            "p.category_code IN (SELECT code FROM problem_categories "
            "WHERE patrol_category = ANY(CAST(:patrol AS smallint[])))"
        )
        params["patrol"] = [int(c) for c in patrol_categories]
    if sources:
        where.append("p.source = ANY(CAST(:sources AS text[]))")
        params["sources"] = [str(s) for s in sources]
    return where, params


def units_sql(unit: Unit, *, street_office_ids: Sequence[int] | None) -> str:
    """SELECT of the units of ``unit`` (id, code, name, names, denominators)."""
    _check_unit(unit)
    sql = _UNIT_SQL[unit]
    if street_office_ids is not None:
        sql += " AND so.id = ANY(CAST(:so_ids AS integer[]))"
    return sql


def density(
    conn: Connection,
    *,
    unit: Unit,
    start: dt.date | dt.datetime,
    end: dt.date | dt.datetime,
    categories: Sequence[str] | None = None,
    patrol_categories: Sequence[int] | None = None,
    sources: Sequence[str] | None = None,
    street_office_ids: Sequence[int] | None = None,
    by: GroupBy | None = None,
    include_void: bool = False,
    tz: str = DEFAULT_TZ,
) -> pd.DataFrame:
    """Problem counts and rates per unit, against the previous period and last year.

    Parameters
    ----------
    conn
        A connection to the CityGrid database.
    unit
        ``"cell"``, ``"segment"``, ``"community"`` or ``"street_office"``.
    start, end
        The period ``[start, end)``; naive values are in ``tz``.
    categories
        Category codes or major codes (``problem_categories.code`` / ``major_code``).
    patrol_categories
        Street-chief patrol categories (1-5, ``problem_categories.patrol_category``).
    sources
        Report sources (``problems.source``), e.g. ``["12345"]``.
    street_office_ids
        Only units in these street offices (the caller's area).
    by
        Break counts down by ``"patrol_category"``, ``"major_code"``, ``"category"``
        or ``"source"``: one row per unit and group, only where something was counted.
    include_void
        Count voided reports too (they are left out by default).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``unit_id``: ``code``, ``name``, ``community``, ``community_id``,
        ``street_office``, ``street_office_id``, (``group``, ``group_name``), ``n``, ``n_previous``,
        ``n_last_year``, ``change_previous``, ``change_previous_pct``,
        ``change_last_year``, ``change_last_year_pct``, ``area_km2``, ``length_km``,
        ``population``, ``per_km2``, ``per_km`` and ``per_1000`` (per 1,000 residents).
        Without ``by``, every unit appears, with zeros where nothing was reported.
        ``attrs["unplaced"]`` holds the counts of problems with no such unit (e.g.
        outside every grid cell), ``attrs["periods"]`` the three periods and
        ``attrs["last_year_covered"]`` whether the loaded problems reach back to the
        start of last year's period (:func:`history_covers`; if not, ``n_last_year``
        counts a time before any record and is no comparison).
    """
    sql, params, periods = density_query(
        conn,
        unit=unit,
        start=start,
        end=end,
        categories=categories,
        patrol_categories=patrol_categories,
        sources=sources,
        street_office_ids=street_office_ids,
        by=by,
        include_void=include_void,
        tz=tz,
    )
    frame = fetch_frame(conn, sql, params)
    out = _finish(frame, by=by, periods=periods, conn=conn)
    out.attrs["last_year_covered"] = history_covers(conn, periods.last_year_start, tz=tz)
    return out


def fetch_frame(conn: Connection, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """Run ``sql`` (SQLAlchemy ``:name`` parameters) and return its rows as a DataFrame.

    Parameters that ``sql`` does not name are ignored, so that one dict can serve
    several statements.

    The rows are read with the driver's own cursor, in the caller's transaction:
    building SQLAlchemy ``Row`` objects and handing them to pandas cost three times
    the query itself for 50,000 units.
    """
    stmt = sa.text(sql)
    used = stmt.compile(dialect=conn.dialect).params  # parameters the text names
    compiled = stmt.bindparams(**{k: v for k, v in params.items() if k in used}).compile(
        dialect=conn.dialect
    )
    raw = conn.connection.dbapi_connection
    if raw is None:  # pragma: no cover - a live Connection always has one
        msg = "fetch_frame needs an open connection"
        raise RuntimeError(msg)
    cursor = raw.cursor()
    try:
        # Never a server-side prepared statement: after five runs PostgreSQL may switch
        # to a generic plan, blind to how wide the time window is (seen: 0.4 s -> 4 s).
        cursor.execute(compiled.string, compiled.params, prepare=False)
        columns = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return pd.DataFrame.from_records(rows, columns=columns)


def density_query(
    conn: Connection,
    *,
    unit: Unit,
    start: dt.date | dt.datetime,
    end: dt.date | dt.datetime,
    categories: Sequence[str] | None = None,
    patrol_categories: Sequence[int] | None = None,
    sources: Sequence[str] | None = None,
    street_office_ids: Sequence[int] | None = None,
    by: GroupBy | None = None,
    include_void: bool = False,
    tz: str = DEFAULT_TZ,
) -> tuple[str, dict[str, Any], Periods]:
    """The SQL and parameters :func:`density` runs (for EXPLAIN and for reuse)."""
    _check_unit(unit)
    if by is not None and by not in GROUPS:
        msg = f"unknown breakdown {by!r}; use one of: {', '.join(GROUPS)}"
        raise DataError(msg)
    periods = comparison_periods(start, end, tz=tz)
    where, params = problem_filters(
        conn,
        categories=categories,
        patrol_categories=patrol_categories,
        sources=sources,
        include_void=include_void,
    )
    column = _PROBLEM_COLUMN[unit]
    if street_office_ids is not None:
        params["so_ids"] = [int(s) for s in street_office_ids]
        where.append(f"p.{column} IN (SELECT unit_id FROM units)")
    group_expr, needs_categories = _GROUP_SQL[by] if by else ("NULL", False)
    join = (
        "LEFT JOIN problem_categories pc ON pc.code = p.category_code" if needs_categories else ""
    )
    extra_where = "".join(f" AND {w}" for w in where)
    sql = f"""
        WITH units AS ({units_sql(unit, street_office_ids=street_office_ids)}),
        agg AS (
            SELECT p.{column} AS unit_id, {group_expr} AS grp,
                   count(*) FILTER (WHERE p.reported_at >= :start AND p.reported_at < :end) AS n,
                   count(*) FILTER (WHERE p.reported_at >= :prev_start AND p.reported_at < :start)
                       AS n_previous,
                   count(*) FILTER (WHERE p.reported_at >= :ly_start AND p.reported_at < :ly_end)
                       AS n_last_year
            FROM problems p {join}
            WHERE ((p.reported_at >= :prev_start AND p.reported_at < :end)
                   OR (p.reported_at >= :ly_start AND p.reported_at < :ly_end)){extra_where}
            GROUP BY 1, 2
        )
        SELECT u.unit_id, u.code, u.name, u.community, u.community_id, u.street_office,
               u.street_office_id,
               a.grp AS "group", COALESCE(a.n, 0) AS n,
               COALESCE(a.n_previous, 0) AS n_previous, COALESCE(a.n_last_year, 0) AS n_last_year,
               u.area_km2, u.length_km, u.population, u.unit_id IS NULL AS unplaced
        FROM units u FULL JOIN agg a ON a.unit_id = u.unit_id
    """
    params.update(
        start=periods.start,
        end=periods.end,
        prev_start=periods.previous_start,
        ly_start=periods.last_year_start,
        ly_end=periods.last_year_end,
    )
    return sql, params, periods


def _finish(
    frame: pd.DataFrame, *, by: GroupBy | None, periods: Periods, conn: Connection
) -> pd.DataFrame:
    unplaced_rows = frame["unplaced"].astype(bool)
    unplaced = {c: int(frame.loc[unplaced_rows, c].sum()) for c in _COUNTS}
    out = frame.loc[~unplaced_rows].drop(columns="unplaced")
    if by is None:
        out = out.drop(columns="group")
    else:
        out = out.loc[out["group"].notna()]
        out.insert(out.columns.get_loc("group") + 1, "group_name", _group_names(conn, by, out))
    for c in _COUNTS:
        out[c] = out[c].astype(np.int64)
    for c in ("area_km2", "length_km", "population"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(np.float64)
    out["street_office_id"] = out["street_office_id"].astype("Int64")
    out["community_id"] = out["community_id"].astype("Int64")
    n = out["n"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        for label, base in (("previous", "n_previous"), ("last_year", "n_last_year")):
            before = out[base].to_numpy(dtype=np.float64)
            out[f"change_{label}"] = out["n"] - out[base]
            out[f"change_{label}_pct"] = np.where(before > 0, (n - before) / before * 100.0, np.nan)
        area = out["area_km2"].to_numpy()
        length = out["length_km"].to_numpy()
        pop = out["population"].to_numpy()
        out["per_km2"] = np.where(area > 0, n / area, np.nan)
        out["per_km"] = np.where(length > 0, n / length, np.nan)
        out["per_1000"] = np.where(pop > 0, n / pop * 1000.0, np.nan)
    order = [
        c
        for c in (
            "code",
            "name",
            "community",
            "community_id",
            "street_office",
            "street_office_id",
            "group",
            "group_name",
            "n",
            "n_previous",
            "n_last_year",
            "change_previous",
            "change_previous_pct",
            "change_last_year",
            "change_last_year_pct",
            "area_km2",
            "length_km",
            "population",
            "per_km2",
            "per_km",
            "per_1000",
        )
        if c in out.columns
    ]
    out = out.set_index(out["unit_id"].astype(np.int64).rename("unit_id"))[order]
    sort = ["unit_id", "group"] if by else ["unit_id"]
    out = out.sort_values(sort) if by else out.sort_index()
    out.attrs["unplaced"] = unplaced
    out.attrs["periods"] = periods
    return out


def _group_names(conn: Connection, by: GroupBy, frame: pd.DataFrame) -> list[str | None]:
    groups = frame["group"].astype(str).tolist()
    if by == "source":
        return list(groups)
    if by == "patrol_category":
        return [PATROL_CATEGORY_NAMES.get(int(g), g) if g.isdigit() else g for g in groups]
    column = "code" if by == "category" else "major_code"
    name = "name" if by == "category" else "major_name"
    rows = conn.execute(
        sa.text(
            f"SELECT DISTINCT ON ({column}) {column}, {name} FROM problem_categories "
            f"WHERE {column} IS NOT NULL ORDER BY {column}, {name}"
        )
    ).all()
    names = {r[0]: r[1] for r in rows}
    return [names.get(g) for g in groups]


def resolve_street_offices(conn: Connection, values: Iterable[str]) -> list[int]:
    """Street office ids from their names, 9- or 12-digit codes, or ids.

    Raises :class:`DataError` naming the ones not found and listing the known names.
    """
    wanted = [str(v).strip() for v in values if str(v).strip()]
    rows = conn.execute(
        sa.text(
            "SELECT id, code, name FROM admin_areas WHERE level = 'street_office' ORDER BY code"
        )
    ).all()
    found: list[int] = []
    missing: list[str] = []
    for value in wanted:
        hit = [
            r[0]
            for r in rows
            if value in (str(r[0]), r[1], r[2]) or (len(value) == 9 and r[1].startswith(value))
        ]
        if hit:
            found.extend(hit)
        else:
            missing.append(value)
    if missing:
        known = ", ".join(r[2] for r in rows[:20]) or "none loaded yet (load admin areas first)"
        msg = (
            f"street office {', '.join(missing)} not found; give a name, code or id. Known: {known}"
        )
        raise DataError(msg)
    return sorted(set(found))
