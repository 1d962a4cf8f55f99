"""Coverage gaps from PostGIS: what nobody answers for, and the bait-station inputs.

The set-based gaps are single SQL statements (anti-joins on the active assignments,
cells without a body, problems no cell contains, faulty stations). The bait-station
rule is geometry, so its inputs are gathered here and judged by
:func:`gis.bait.evaluate_bait_coverage`. Every gap comes back with the columns of
:data:`gis.coverage.GAP_COLUMNS`.

The rule profile, unless one is passed, is the city's own
(``CITYGRID_BAIT_PROFILE``), else the shipped default: :func:`default_profile`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from citygrid import clock
from citygrid.settings import get_settings
from db.access import Actor, require
from db.audit import record
from db.models import SRID
from db.queries.density import fetch_frame
from gis.bait import BaitEvaluation, evaluate_bait_coverage, exclusion_zones
from gis.coverage import GAP_TYPES, bait_gaps, gap_frame
from gis.errors import DataError
from gis.profiles import BaitProfile, load_bait_profile, normalise_kind

CRS = f"EPSG:{SRID}"

#: Problems outside every cell listed by default (all are counted): enough for a map
#: and a spreadsheet, a bounded transfer however many there are.
PROBLEM_LIMIT = 10_000

#: Gap layers answered by SQL alone (the others need the bait-station evaluation).
SQL_LAYERS = (
    "segment_no_head",
    "lane_no_head",
    "cell_no_body",
    "problem_outside_cells",
    "station_fault",
)


def _frame(conn: Connection, sql: str, params: dict[str, Any]) -> gpd.GeoDataFrame:
    """Run ``sql`` (which selects ``ST_AsBinary(...) AS geom``) into a GeoDataFrame.

    Rows come through the driver's own cursor (:func:`db.queries.density.fetch_frame`):
    SQLAlchemy ``Row`` objects handed to pandas cost more than the query itself.
    """
    frame = fetch_frame(conn, sql, params)
    wkb = frame.pop("geom").to_numpy(dtype=object)
    geoms = shapely.from_wkb(wkb) if len(wkb) else np.empty(0, dtype=object)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=CRS), crs=CRS)


def default_profile() -> BaitProfile:
    """The city's bait-station profile: ``CITYGRID_BAIT_PROFILE``, else the shipped default."""
    path = get_settings().bait_profile
    if path is None:
        return load_bait_profile()
    try:
        return load_bait_profile(path)
    except DataError as exc:
        msg = f"CITYGRID_BAIT_PROFILE: {exc}; or unset it to use the shipped profile"
        raise DataError(msg) from None


#: A problem's report date in the deployment's time zone (bind ``tz``).
REPORT_DAY = "CAST(p.reported_at AT TIME ZONE CAST(:tz AS text) AS date)"


def cell_in_force(alias: str, day: str) -> str:
    """SQL condition: grid cell ``alias`` is in force on the date expression ``day``.

    Cells carry dates, both ends included (``valid_to`` is the last day in force).
    """
    return (
        f"({alias}.valid_from IS NULL OR {alias}.valid_from <= {day}) "
        f"AND ({alias}.valid_to IS NULL OR {alias}.valid_to >= {day})"
    )


def _moment(value: dt.datetime | dt.date | None) -> dt.datetime | None:
    """A date as its first moment in the deployment's zone (datetimes pass unchanged)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return clock.day_start(value)


def _offices(street_office_ids: Iterable[int] | None) -> dict[str, Any]:
    ids = None if street_office_ids is None else sorted({int(i) for i in street_office_ids})
    return {"all_offices": ids is None, "offices": ids or [0]}


def street_office_ids(conn: Connection, values: Iterable[str]) -> list[int]:
    """Ids of the street offices named by 9-digit code or by name; all must exist."""
    wanted = [str(v).strip() for v in values]
    rows = conn.execute(
        sa.text(
            "SELECT id, code, name FROM admin_areas WHERE level = 'street_office' "
            "AND (code = ANY(:v) OR name = ANY(:v)) ORDER BY id"
        ),
        {"v": wanted},
    ).all()
    found = {r.code for r in rows} | {r.name for r in rows}
    missing = [v for v in wanted if v not in found]
    if missing:
        known = conn.execute(
            sa.text(
                "SELECT code || ' ' || name FROM admin_areas WHERE level = 'street_office' "
                "ORDER BY code LIMIT 40"
            )
        ).scalars()
        msg = (
            f"no street office {', '.join(map(repr, missing))}; give a 9-digit code or a name, "
            f"e.g. {'; '.join(known) or '(none loaded yet: load admin areas first)'}"
        )
        raise DataError(msg)
    return [int(r.id) for r in rows]


def heads_missing(
    conn: Connection,
    *,
    kind: str = "street",
    as_of: dt.date | None = None,
    street_office_ids: Iterable[int] | None = None,
) -> gpd.GeoDataFrame:
    """Road segments (``kind='street'``) without an active level-3 street head, or lanes
    (``kind='lane'``) without an active lane head.

    An assignment is judged at a moment ``t``: now, or with ``as_of`` the end of that
    day (24:00 in ``CITYGRID_TIMEZONE``). It is active when ``valid_from <= t`` and
    ``valid_to`` is null or later than ``t`` (an end date still to come leaves it
    active). A head whose roster entry is inactive is reported with its own reason.
    """
    if kind not in ("street", "lane"):
        msg = f"heads_missing: kind must be 'street' or 'lane', got {kind!r}"
        raise DataError(msg)
    role, level, prefix = (
        ("street_head", 3, "segment") if kind == "street" else ("lane_head", None, "lane")
    )
    sql = f"""
        WITH heads AS (
            SELECT a.target_id, bool_or(p.active) AS any_active, count(*) AS n
            FROM assignments a JOIN people p ON p.id = a.person_id
            WHERE a.valid_from <= CAST(:moment AS timestamptz)
              AND (a.valid_to IS NULL OR a.valid_to > CAST(:moment AS timestamptz))
              AND a.target_type = 'segment' AND a.role = :role
              {"AND a.level = :level" if level is not None else ""}
            GROUP BY a.target_id
        )
        SELECT s.id AS object_id, s.code AS object_code,
               s.road_name || COALESCE('（' || s.from_name || '—' || s.to_name || '）', '')
                   AS name,
               s.street_office_id, s.road_class,
               COALESCE(s.length_m, ST_Length(s.geom)) AS length_m,
               CASE WHEN h.target_id IS NULL THEN '{prefix}_no_head'
                    ELSE '{prefix}_head_inactive' END AS reason_code,
               COALESCE(h.n, 0) AS person_count,
               ST_AsBinary(s.geom) AS geom
        FROM road_segments s
        LEFT JOIN heads h ON h.target_id = s.id
        WHERE s.kind = :kind AND (h.target_id IS NULL OR NOT h.any_active)
          AND (:all_offices OR s.street_office_id = ANY(:offices))
        ORDER BY s.street_office_id NULLS LAST, s.road_name, s.id"""
    moment = clock.now() if as_of is None else clock.day_end(as_of)
    params: dict[str, Any] = {
        "role": role,
        "kind": kind,
        "moment": moment,
        **_offices(street_office_ids),
    }
    if level is not None:
        params["level"] = level
    frame = _frame(conn, sql, params)
    frame["object_type"] = "segment" if kind == "street" else "lane"
    gap_type = "segment_no_head" if kind == "street" else "lane_no_head"
    return gap_frame(frame, gap_type=gap_type, crs=CRS)


def cells_without_body(
    conn: Connection,
    *,
    as_of: dt.date | None = None,
    street_office_ids: Iterable[int] | None = None,
) -> gpd.GeoDataFrame:
    """Unit grid cells in force on ``as_of`` that name no responsible body.

    The reason says whether the community answers for the cell instead (属地兜底) or
    the cell has no community either.
    """
    sql = """
        SELECT c.id AS object_id, c.code AS object_code, com.name AS name,
               so.id AS street_office_id, c.community_id,
               CASE WHEN com.id IS NULL THEN 'cell_no_body'
                    ELSE 'cell_community_fallback' END AS reason_code,
               COALESCE(c.area_m2, ST_Area(c.geom)) AS area_m2,
               ST_AsBinary(c.geom) AS geom
        FROM grid_cells c
        LEFT JOIN admin_areas com ON com.id = c.community_id
        LEFT JOIN admin_areas so ON so.code = com.parent_code AND so.level = 'street_office'
        WHERE NULLIF(btrim(c.responsible_body), '') IS NULL
          AND (c.valid_from IS NULL OR c.valid_from <= :as_of)
          AND (c.valid_to IS NULL OR c.valid_to >= :as_of)
          AND (:all_offices OR so.id = ANY(:offices))
        ORDER BY (com.id IS NOT NULL), so.id NULLS LAST, c.code"""
    frame = _frame(conn, sql, {"as_of": as_of or clock.today(), **_offices(street_office_ids)})
    frame["object_type"] = "cell"
    return gap_frame(frame, gap_type="cell_no_body", crs=CRS)


def problems_outside_cells(
    conn: Connection,
    *,
    since: dt.datetime | dt.date | None = None,
    until: dt.datetime | dt.date | None = None,
    street_office_ids: Iterable[int] | None = None,
    limit: int | None = PROBLEM_LIMIT,
    recheck: bool = False,
) -> gpd.GeoDataFrame:
    """Problems (not voided) that no unit grid cell in force on their report date contains.

    The newest ``limit`` are returned; ``frame.attrs["total"]`` holds how many there
    are in all. A problem whose stored ``cell_id`` (derived at load) names a cell in
    force on its report date is inside; the others are tested on the geometries. With
    ``recheck`` every problem is tested on the geometries (after cells were redrawn
    without reloading the problems): exact, but a spatial probe per problem (about
    18 s for two million against 0.5 s, on the benchmark machine).
    """
    stored = (
        ""
        if recheck
        else f"""
          AND NOT EXISTS (
              SELECT 1 FROM grid_cells s
              WHERE s.id = p.cell_id AND {cell_in_force("s", REPORT_DAY)})"""
    )
    sql = (
        # materialised first: with the LIMIT outside, the planner would otherwise walk the
        # time index row by row instead of one parallel scan with a hash anti-join
        """
        WITH outside AS MATERIALIZED (
        SELECT p.id, p.case_no, p.address, p.street_office_id, p.category_code, p.source,
               p.status, p.reported_at, p.geom
        FROM problems p
        WHERE p.status <> 'void'
          AND (CAST(:since AS timestamptz) IS NULL OR p.reported_at >= CAST(:since AS timestamptz))
          AND (CAST(:until AS timestamptz) IS NULL OR p.reported_at < CAST(:until AS timestamptz))
          AND (:all_offices OR p.street_office_id = ANY(:offices))"""
        + stored
        + """
          AND NOT EXISTS (
              SELECT 1 FROM grid_cells c
              WHERE ST_Intersects(c.geom, p.geom) AND """
        + cell_in_force("c", REPORT_DAY)
        + """))
        SELECT o.id AS object_id, o.case_no AS object_code, o.address AS name,
               o.street_office_id, o.category_code, o.source, o.status, o.reported_at,
               'problem_outside_cells' AS reason_code,
               count(*) OVER () AS total,
               ST_AsBinary(o.geom) AS geom
        FROM outside o
        ORDER BY o.reported_at DESC, o.id DESC
        LIMIT :limit"""
    )
    frame = _frame(
        conn,
        sql,
        {
            "since": _moment(since),
            "until": _moment(until),
            "limit": limit,
            "tz": get_settings().timezone,
            **_offices(street_office_ids),
        },
    )
    total = int(frame["total"].iloc[0]) if len(frame) else 0
    frame = frame.drop(columns="total")
    frame["object_type"] = "problem"
    out = gap_frame(frame, gap_type="problem_outside_cells", crs=CRS)
    out.attrs["total"] = total
    return out


def station_faults(
    conn: Connection,
    *,
    max_age_days: int,
    as_of: dt.date | None = None,
    street_office_ids: Iterable[int] | None = None,
) -> gpd.GeoDataFrame:
    """Stations missing, damaged, never inspected, or not inspected within ``max_age_days``.

    One row per station with its most serious reason (missing, damaged, never
    inspected, overdue); the street office is the one the station stands in.
    """
    if max_age_days < 1:
        msg = f"station_faults: max_age_days must be at least 1, got {max_age_days}"
        raise DataError(msg)
    sql = """
        SELECT b.id AS object_id, b.code AS object_code, b.premises_code AS name,
               so.id AS street_office_id, b.state, b.bait_type, b.last_inspected,
               CASE WHEN b.state = 'missing' THEN 'station_missing'
                    WHEN b.state = 'damaged' THEN 'station_damaged'
                    WHEN b.last_inspected IS NULL THEN 'station_never_inspected'
                    ELSE 'station_overdue' END AS reason_code,
               ST_AsBinary(b.geom) AS geom
        FROM bait_stations b
        LEFT JOIN LATERAL (
            SELECT a.id FROM admin_areas a
            WHERE a.level = 'street_office' AND ST_Intersects(a.geom, b.geom)
            ORDER BY a.id LIMIT 1) so ON true
        WHERE (b.state <> 'intact' OR b.last_inspected IS NULL
               OR b.last_inspected < CAST(:as_of AS date) - CAST(:days AS integer))
          AND (:all_offices OR so.id = ANY(:offices))
        ORDER BY so.id NULLS LAST, b.code"""
    frame = _frame(
        conn,
        sql,
        {"as_of": as_of or clock.today(), "days": max_age_days, **_offices(street_office_ids)},
    )
    frame["object_type"] = "station"
    frame["max_age_days"] = max_age_days
    frame["last_inspected"] = frame["last_inspected"].astype(object)
    return gap_frame(frame, gap_type="station_fault", crs=CRS)


def _kinds(values: Iterable[str]) -> list[str]:
    return sorted({normalise_kind(v) for v in values}) or [""]


def bait_inputs(
    conn: Connection,
    *,
    profile: BaitProfile | None = None,
    street_office_ids: Iterable[int] | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Markets and key premises the profile has rules for, stations, exclusion zones.

    With ``street_office_ids``, premises are those of the offices, and stations and
    exclusion sources those near them (within the largest buffer and attach distance).
    ``profile`` defaults to :func:`default_profile`.
    """
    profile = profile if profile is not None else default_profile()
    offices = _offices(street_office_ids)
    premises = _frame(
        conn,
        """
        SELECT 'market' AS source, 'market' AS object_type, m.id AS object_id, m.code,
               m.name, COALESCE(m.kind, 'market') AS kind, m.street_office_id,
               ST_AsBinary(m.geom) AS geom
        FROM markets m
        WHERE (:all_offices OR m.street_office_id = ANY(:offices))
        UNION ALL
        SELECT 'premises', 'premises', p.id, p.code, p.name, p.kind, p.street_office_id,
               ST_AsBinary(p.geom)
        FROM premises p
        WHERE lower(btrim(p.kind)) = ANY(:kinds)
          AND (:all_offices OR p.street_office_id = ANY(:offices))
        ORDER BY 1, 3""",
        {"kinds": _kinds(k for r in profile.rules for k in r.kinds), **offices},
    )
    reach = max(
        [e.buffer_m for e in profile.exclusions] + [r.attach_m for r in profile.rules] + [0.0]
    )
    if street_office_ids is not None and len(premises):
        x0, y0, x1, y1 = premises.total_bounds
        box = {"x0": x0 - reach, "y0": y0 - reach, "x1": x1 + reach, "y1": y1 + reach}
    elif street_office_ids is not None:
        box = {"x0": 0.0, "y0": 0.0, "x1": 0.0, "y1": 0.0}
    else:
        box = {"x0": None, "y0": None, "x1": None, "y1": None}
    near = (
        "(CAST(:x0 AS double precision) IS NULL OR {g} && ST_MakeEnvelope(:x0, :y0, :x1, :y1, "
        f"{SRID}))"
    )
    stations = _frame(
        conn,
        f"""
        SELECT b.id, b.code, b.state, b.last_inspected, b.premises_code,
               ST_AsBinary(b.geom) AS geom
        FROM bait_stations b WHERE {near.format(g="b.geom")} ORDER BY b.id""",
        box,
    )
    ex_premises = _frame(
        conn,
        f"""
        SELECT p.id, p.code, p.kind, ST_AsBinary(p.geom) AS geom FROM premises p
        WHERE lower(btrim(p.kind)) = ANY(:kinds) AND {near.format(g="p.geom")}""",
        {"kinds": _kinds(k for e in profile.exclusions for k in e.kinds), **box},
    )
    ex_roads = _frame(
        conn,
        f"""
        SELECT s.id, s.code, s.road_class, ST_AsBinary(s.geom) AS geom FROM road_segments s
        WHERE lower(btrim(s.road_class)) = ANY(:classes) AND {near.format(g="s.geom")}""",
        {"classes": _kinds(c for e in profile.exclusions for c in e.road_classes), **box},
    )
    zones = exclusion_zones(ex_premises, ex_roads, profile=profile)
    return premises, stations, zones


def bait_evaluation(
    conn: Connection,
    *,
    profile: BaitProfile | None = None,
    as_of: dt.date | None = None,
    street_office_ids: Iterable[int] | None = None,
) -> BaitEvaluation:
    """Gather the bait-station inputs and judge them by ``profile``.

    ``profile`` defaults to :func:`default_profile` (the city's, else the shipped one).
    """
    profile = profile if profile is not None else default_profile()
    premises, stations, zones = bait_inputs(
        conn, profile=profile, street_office_ids=street_office_ids
    )
    return evaluate_bait_coverage(
        premises, stations, profile=profile, zones=zones, as_of=as_of or clock.today()
    )


def coverage_gaps(
    conn: Connection,
    *,
    profile: BaitProfile | None = None,
    as_of: dt.date | None = None,
    street_office_ids: Iterable[int] | None = None,
    layers: Sequence[str] | None = None,
    problem_limit: int | None = PROBLEM_LIMIT,
    recheck_cells: bool = False,
) -> dict[str, gpd.GeoDataFrame]:
    """Every gap layer (or those named in ``layers``), keyed as in :data:`GAP_TYPES`.

    ``profile`` defaults to :func:`default_profile`; at most ``problem_limit`` problems
    outside cells are listed (``attrs["total"]`` counts them all).
    """
    wanted = list(GAP_TYPES) if layers is None else list(layers)
    unknown = sorted(set(wanted) - set(GAP_TYPES))
    if unknown:
        msg = f"unknown gap layer(s) {', '.join(unknown)}; layers are: {', '.join(GAP_TYPES)}"
        raise DataError(msg)
    given = as_of
    as_of = as_of or clock.today()
    profile = profile if profile is not None else default_profile()
    out: dict[str, gpd.GeoDataFrame] = {}
    if "segment_no_head" in wanted:
        out["segment_no_head"] = heads_missing(
            conn, kind="street", as_of=given, street_office_ids=street_office_ids
        )
    if "lane_no_head" in wanted:
        out["lane_no_head"] = heads_missing(
            conn, kind="lane", as_of=given, street_office_ids=street_office_ids
        )
    if "cell_no_body" in wanted:
        out["cell_no_body"] = cells_without_body(
            conn, as_of=as_of, street_office_ids=street_office_ids
        )
    if "problem_outside_cells" in wanted:
        out["problem_outside_cells"] = problems_outside_cells(
            conn, street_office_ids=street_office_ids, limit=problem_limit, recheck=recheck_cells
        )
    if "station_fault" in wanted:
        out["station_fault"] = station_faults(
            conn,
            max_age_days=profile.stations.inspection_max_age_days,
            as_of=as_of,
            street_office_ids=street_office_ids,
        )
    if {"premises_bait", "station_misplaced"} & set(wanted):
        evaluation = bait_evaluation(
            conn, profile=profile, as_of=as_of, street_office_ids=street_office_ids
        )
        out.update({k: v for k, v in bait_gaps(evaluation).items() if k in wanted})
    return {k: out[k] for k in wanted}


def record_export(
    conn: Connection,
    actor: Actor,
    *,
    what: str,
    file_name: str,
    counts: dict[str, int],
    street_office_ids: Iterable[int] | None = None,
) -> int:
    """Check that ``actor`` may export, and append the export to the audit log.

    Call it before writing the file (in the same transaction); returns the audit id.
    """
    require(
        actor,
        "report.export",
        street_office_ids=() if street_office_ids is None else street_office_ids,
        what=f"export {what}",
    )
    if street_office_ids is None and actor.street_office_ids is not None:
        require(actor, "report.export", street_office_ids=[None], what=f"export all of {what}")
    return record(
        conn,
        actor,
        "export",
        entity_type="coverage",
        entity_id=what,
        detail={
            "file": file_name,
            "counts": counts,
            "street_office_ids": None if street_office_ids is None else sorted(street_office_ids),
        },
    )
