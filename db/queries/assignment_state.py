"""Street-head assignments in PostGIS: the current state, rule checks and suggestions.

Reading gathers what :func:`gis.assignment.check_rules` and
:func:`gis.assignment.suggest_heads` need, for all street offices or some. Writes
live in :mod:`db.queries.assignment_changes` (the change-set machinery and undo) and
:mod:`db.queries.assignment_writes` (the write API).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from citygrid import clock
from db.models import SRID
from gis.assignment import Suggestion, check_rules, suggest_heads
from gis.errors import DataError
from gis.network import segment_adjacency

CRS = f"EPSG:{SRID}"
#: SQL condition on ``assignments a``: the row is in force now.
ACTIVE = "a.valid_to IS NULL AND a.valid_from <= now()"


@dataclass(frozen=True)
class AssignmentState:
    """What the rules and the suggestions need, for some street offices.

    ``segments`` (GeoDataFrame indexed by id, with ``version`` and ``problems``),
    active ``assignments``, ``people`` (indexed by id), grid ``cells`` and the street
    ``offices`` (id -> name).
    """

    segments: gpd.GeoDataFrame
    assignments: pd.DataFrame
    people: pd.DataFrame
    cells: pd.DataFrame
    offices: dict[int, str] = field(default_factory=dict)


def office_scope(street_office_ids: Iterable[int] | None) -> dict[str, Any]:
    """SQL parameters ``all_offices`` and ``offices`` for some street offices (None: all)."""
    ids = None if street_office_ids is None else sorted({int(i) for i in street_office_ids})
    return {"all_offices": ids is None, "offices": ids or [0]}


def query_frame(conn: Connection, sql: str, params: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of a query as a DataFrame (columns named by the query)."""
    result = conn.execute(sa.text(sql), dict(params))
    return pd.DataFrame.from_records(result.fetchall(), columns=list(result.keys()))


def load_state(
    conn: Connection,
    *,
    street_office_ids: Iterable[int] | None = None,
    problems_since: dt.date | None = None,
) -> AssignmentState:
    """Segments, active assignments, people, cells and offices (all, or some offices).

    ``problems`` counts each segment's problems (not voided) reported since
    ``problems_since`` (default: the last 365 days).
    """
    scope = office_scope(street_office_ids)
    since = clock.day_start(problems_since or (clock.today() - dt.timedelta(days=365)))
    seg = query_frame(
        conn,
        """
        SELECT s.id, s.code, s.road_name, s.from_name, s.to_name, s.kind, s.road_class,
               s.street_office_id, s.community_id,
               COALESCE(s.length_m, ST_Length(s.geom)) AS length_m, s.version,
               COALESCE(pc.n, 0) AS problems, ST_AsBinary(s.geom) AS geom
        FROM road_segments s
        LEFT JOIN (
            SELECT segment_id, count(*) AS n FROM problems
            WHERE status <> 'void' AND reported_at >= :since GROUP BY segment_id
        ) pc ON pc.segment_id = s.id
        WHERE :all_offices OR s.street_office_id = ANY(:offices)
        ORDER BY s.id""",
        {"since": since, **scope},
    )
    wkb = seg.pop("geom").to_numpy(dtype=object)
    geoms = shapely.from_wkb([bytes(g) for g in wkb]) if len(wkb) else np.empty(0, dtype=object)
    segments = gpd.GeoDataFrame(seg, geometry=gpd.GeoSeries(geoms, crs=CRS), crs=CRS)
    segments = segments.set_index("id")
    assignments = query_frame(
        conn,
        f"""
        SELECT a.id, a.person_id, a.target_type, a.target_id, a.role, a.level,
               a.supervisor_id, a.change_id, a.assigned_by, a.assigned_at
        FROM assignments a
        LEFT JOIN road_segments s ON a.target_type = 'segment' AND s.id = a.target_id
        WHERE {ACTIVE} AND (:all_offices
            OR (a.target_type = 'segment' AND s.street_office_id = ANY(:offices))
            OR (a.target_type = 'street_office' AND a.target_id = ANY(:offices)))
        ORDER BY a.id""",
        scope,
    )
    people = query_frame(
        conn,
        "SELECT id, person_key, name, phone, role, org_unit, street_office_id, active "
        "FROM people ORDER BY id",
        {},
    ).set_index("id")
    cells = query_frame(
        conn,
        """
        SELECT c.id, c.code, c.community_id, c.responsible_body
        FROM grid_cells c
        LEFT JOIN admin_areas com ON com.id = c.community_id
        LEFT JOIN admin_areas so ON so.code = com.parent_code AND so.level = 'street_office'
        WHERE (c.valid_from IS NULL OR c.valid_from <= :today)
          AND (c.valid_to IS NULL OR c.valid_to >= :today)
          AND (:all_offices OR so.id = ANY(:offices))
        ORDER BY c.id""",
        {"today": clock.today(), **scope},
    ).set_index("id")
    offices = dict(
        conn.execute(
            sa.text(
                "SELECT id, name FROM admin_areas WHERE level = 'street_office' "
                "AND (:all_offices OR id = ANY(:offices))"
            ),
            scope,
        ).all()
    )
    for col in ("level", "supervisor_id", "change_id"):
        assignments[col] = assignments[col].astype("Int64")
    return AssignmentState(segments, assignments, people, cells, offices)


def office_heads(
    conn: Connection, *, street_office_ids: Iterable[int] | None = None
) -> pd.DataFrame:
    """The active level-1 and level-2 heads of some street offices (None: all).

    Columns: ``street_office_id``, ``level``, ``person_id``, ``name``, ``phone``,
    ``supervisor_id``, ``supervisor``; level 1 first, then by name.
    """
    frame = query_frame(
        conn,
        f"""
        SELECT a.target_id AS street_office_id, a.level, a.person_id, p.name, p.phone,
               a.supervisor_id, sup.name AS supervisor
        FROM assignments a
        JOIN people p ON p.id = a.person_id
        LEFT JOIN people sup ON sup.id = a.supervisor_id
        WHERE {ACTIVE} AND a.target_type = 'street_office' AND a.role = 'street_head'
          AND a.level IN (1, 2) AND (:all_offices OR a.target_id = ANY(:offices))
        ORDER BY a.target_id, a.level, p.name, a.person_id""",
        office_scope(street_office_ids),
    )
    for col in ("street_office_id", "level", "person_id"):
        frame[col] = frame[col].astype(int)
    frame["supervisor_id"] = frame["supervisor_id"].astype("Int64")
    return frame


def level3_heads(conn: Connection, *, street_office_id: int) -> pd.DataFrame:
    """The active level-3 heads of a street office's segments and whom they report to.

    Columns: ``person_id``, ``name``, ``phone``, ``n_segments``, ``supervisor_ids`` (a
    tuple, sorted, None for segments with no supervisor), by name.
    """
    frame = query_frame(
        conn,
        f"""
        SELECT a.person_id, p.name, p.phone, count(*) AS n_segments,
               array_agg(DISTINCT a.supervisor_id) AS supervisor_ids
        FROM assignments a
        JOIN road_segments s ON s.id = a.target_id
        JOIN people p ON p.id = a.person_id
        WHERE {ACTIVE} AND a.target_type = 'segment' AND a.role = 'street_head'
          AND a.level = 3 AND s.street_office_id = :so
        GROUP BY a.person_id, p.name, p.phone ORDER BY p.name, a.person_id""",
        {"so": int(street_office_id)},
    )
    frame["supervisor_ids"] = [
        tuple(sorted(ids, key=lambda i: (i is not None, i or 0))) for ids in frame["supervisor_ids"]
    ]
    return frame


def check(
    conn: Connection,
    *,
    street_office_ids: Iterable[int] | None = None,
    max_spread_m: float | None = 2000.0,
    state: AssignmentState | None = None,
) -> pd.DataFrame:
    """Every rule violation in some street offices (see :func:`gis.assignment.check_rules`).

    Connectivity is judged along the network of street segments (lanes excluded: a
    street head does not patrol them).
    """
    ids = None if street_office_ids is None else [int(i) for i in street_office_ids]
    state = state or load_state(conn, street_office_ids=ids)
    segs = state.segments
    ordered = pd.concat([segs[segs["kind"] == "street"], segs[segs["kind"] != "street"]])
    people = state.people
    if ids is not None:  # roster heads elsewhere are not this office's gaps
        people = people.copy()
        outside = ~people["street_office_id"].isin(ids)
        people.loc[outside, "role"] = None
    return check_rules(
        ordered,
        state.assignments,
        people,
        cells=state.cells,
        adjacency=_street_adjacency(ordered),
        max_spread_m=max_spread_m,
        office_names=state.offices,
    )


def _street_adjacency(segments: gpd.GeoDataFrame) -> sp.csr_matrix:
    """Adjacency of all segments in order, joining street segments only."""
    n = len(segments)
    is_street = (segments["kind"] == "street").to_numpy()
    streets = np.flatnonzero(is_street)
    coo = segment_adjacency(segments.iloc[streets]).tocoo()
    return sp.csr_matrix(
        (np.ones(len(coo.row)), (streets[coo.row], streets[coo.col])), shape=(n, n)
    )


def suggest(
    conn: Connection,
    *,
    street_office_id: int,
    people: Iterable[int] | None = None,
    lock_existing: bool = True,
    length_weight: float = 0.5,
    load_weight: float = 0.5,
    max_imbalance: float = 0.05,
    problems_since: dt.date | None = None,
    seed: int = 0,
) -> tuple[Suggestion, dict[int, int]]:
    """Suggest level-3 heads for a street office's street segments.

    ``people`` defaults to the active people who hold a level-3 segment in the office
    now. With ``lock_existing`` every segment with exactly one active head keeps it and
    only the gaps (and conflicts) are filled. Returns the suggestion and the segment
    versions it was computed from, to pass to :func:`apply_suggestion`.
    """
    state = load_state(conn, street_office_ids=[street_office_id], problems_since=problems_since)
    streets = state.segments[state.segments["kind"] == "street"]
    if streets.empty:
        msg = (
            f"street office {state.offices.get(street_office_id, street_office_id)} has no "
            "street segments to assign; load or derive road segments first"
        )
        raise DataError(msg)
    act = state.assignments
    heads = act[
        (act["target_type"] == "segment")
        & (act["role"] == "street_head")
        & (act["level"] == 3)
        & act["target_id"].isin(streets.index)
    ]
    active = set(state.people.index[state.people["active"].astype(bool)])
    heads = heads[heads["person_id"].isin(active)]
    if people is None:
        chosen = sorted(set(heads["person_id"]))
    else:
        chosen = sorted({int(p) for p in people})
        unknown = sorted(set(chosen) - active)
        if unknown:
            msg = (
                f"people {', '.join(map(str, unknown))} are unknown or inactive; "
                "choose active people from the roster"
            )
            raise DataError(msg)
    locked = None
    if lock_existing:
        single = heads.groupby("target_id")["person_id"].agg(
            lambda s: s.iloc[0] if len(set(s)) == 1 else None
        )
        locked = single.dropna().astype(int)
    if not chosen and (locked is None or locked.empty):
        msg = (
            "nobody to suggest: the office has no level-3 heads yet; name the people "
            "available (e.g. `--person KEY` on the command line)"
        )
        raise DataError(msg)
    suggestion = suggest_heads(
        streets,
        segment_adjacency(streets),
        chosen,
        locked=locked,
        length_weight=length_weight,
        load_weight=load_weight,
        max_imbalance=max_imbalance,
        seed=seed,
    )
    return suggestion, {int(k): int(v) for k, v in streets["version"].items()}
