"""我的责任区: a person's own segments, lanes, cells and markets, and the problems on them.

What a street head or grid worker sees on signing in. Every query takes the acting
:class:`~db.access.Actor` and filters by its ``person_id`` in SQL, so nothing of anyone
else's leaves the database; an actor not linked to a person on the roster is refused
with a sentence saying how to link it. Phone numbers follow ``pii.read`` here too.

Problems are "on" a person's area when they were placed on one of their segments or
lanes, or in one of their grid cells (the ids the loader derived). Open ones come with
their supervision colour (三色督办, see :mod:`db.queries.dashboard`); closed ones only
from the last ``closed_days``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.access import Actor, mask_name, mask_phone
from db.queries.dashboard import YELLOW_FRACTION, _geoframe, _wkb, check_yellow_fraction
from db.queries.density import DEFAULT_TZ, as_datetime
from gis.errors import DataError, PermissionDeniedError
from gis.segments import segment_label

#: Kinds of a person's places, in the order the page lists them.
KINDS = ("street", "lane", "cell", "market", "premises", "street_office", "district")
#: Supervision colours, most urgent first (closed last).
COLOURS = ("red", "yellow", "white", "closed")


def person_of(actor: Actor) -> int:
    """The roster person ``actor`` acts as, or a refusal that says how to link one."""
    if actor.role == "kiosk":
        msg = "a wall screen has no area of its own"
        raise PermissionDeniedError(msg)
    if actor.person_id is None:
        msg = (
            f"the account {actor.username!r} is not linked to a person on the roster, so "
            "it has no segments or problems of its own; an administrator links it with "
            f"`citygrid user edit {actor.username} --person <roster key>`"
        )
        raise DataError(msg)
    return actor.person_id


def person_name(conn: Connection, actor: Actor) -> str | None:
    """The roster name of the person ``actor`` acts as (None once they left the roster)."""
    name = conn.scalar(sa.text("SELECT name FROM people WHERE id = :p"), {"p": person_of(actor)})
    return None if name is None else str(name)


_MINE = """
    SELECT a.id, a.target_type, a.target_id, a.role, a.level, a.supervisor_id, a.valid_from
    FROM assignments a
    WHERE a.person_id = :person AND a.valid_to IS NULL
"""


def my_assignments(conn: Connection, actor: Actor, *, simplify_m: float = 2.0) -> gpd.GeoDataFrame:
    """The actor's active assignments, one row each, with their places, in EPSG:4326.

    Columns: ``assignment_id``, ``kind`` (street, lane, cell, market, premises,
    street_office, district), ``target_id``, ``code``, ``label``, ``role``, ``level``,
    ``supervisor``, ``supervisor_phone``, ``street_office``, ``community``,
    ``valid_from`` and the geometry (simplified by ``simplify_m`` metres).
    """
    person = person_of(actor)
    frame = _geoframe(
        conn,
        f"""
        WITH mine AS ({_MINE})
        SELECT m.id AS assignment_id, m.target_type, m.target_id, m.role, m.level,
               m.valid_from, s.kind AS segment_kind, s.road_name, s.from_name, s.to_name,
               COALESCE(s.code, c.code, mk.code, pr.code, ar.code) AS code,
               COALESCE(mk.name, pr.name, ar.name, c.responsible_body) AS name,
               sup.name AS supervisor, sup.phone AS supervisor_phone,
               com.name AS community, so.name AS street_office,
               {_wkb("COALESCE(s.geom, c.geom, mk.geom, pr.geom, ar.geom)", simplify_m)}
        FROM mine m
        LEFT JOIN road_segments s ON m.target_type = 'segment' AND s.id = m.target_id
        LEFT JOIN grid_cells c ON m.target_type = 'cell' AND c.id = m.target_id
        LEFT JOIN markets mk ON m.target_type = 'market' AND mk.id = m.target_id
        LEFT JOIN premises pr ON m.target_type = 'premises' AND pr.id = m.target_id
        LEFT JOIN admin_areas ar
               ON m.target_type IN ('street_office', 'district') AND ar.id = m.target_id
        LEFT JOIN people sup ON sup.id = m.supervisor_id
        LEFT JOIN admin_areas com
               ON com.id = COALESCE(s.community_id, c.community_id, mk.community_id,
                                    pr.community_id)
        LEFT JOIN admin_areas so
               ON so.id = COALESCE(s.street_office_id, mk.street_office_id,
                                   pr.street_office_id,
                                   CASE WHEN ar.level = 'street_office' THEN ar.id END)
               OR (so.level = 'street_office' AND so.code = com.parent_code
                   AND COALESCE(s.street_office_id, mk.street_office_id,
                                pr.street_office_id) IS NULL)
        ORDER BY m.target_type, m.level NULLS LAST, code
        """,
        {"person": person},
    )
    kind = frame["target_type"].where(frame["target_type"] != "segment", frame["segment_kind"])
    labels = [
        (segment_label(r.road_name, r.from_name, r.to_name) or r.code)
        if r.target_type == "segment"
        else " ".join(str(v) for v in (r.code, r.name) if v is not None and pd.notna(v))
        for r in frame.itertuples()
    ]
    frame = frame.assign(kind=kind.fillna("street"), label=labels)
    frame = _masked(frame, actor, name="supervisor", phone="supervisor_phone")
    order = {k: i for i, k in enumerate(KINDS)}
    frame = frame.assign(_o=frame["kind"].map(order)).sort_values(["_o", "label"], kind="stable")
    columns = ["assignment_id", "kind", "target_id", "code", "label", "role", "level",
               "supervisor", "supervisor_phone", "street_office", "community", "valid_from",
               "geometry"]  # fmt: skip
    return frame[columns].reset_index(drop=True)


def _masked(frame: pd.DataFrame, actor: Actor, *, name: str, phone: str) -> Any:
    if actor.can("pii.read"):
        return frame
    return frame.assign(
        **{
            name: [mask_name(v) if isinstance(v, str) else v for v in frame[name]],
            phone: [mask_phone(v) if isinstance(v, str) else v for v in frame[phone]],
        }
    )


def my_problems(
    conn: Connection,
    actor: Actor,
    *,
    now: dt.datetime,
    closed_days: int = 30,
    yellow_fraction: float = YELLOW_FRACTION,
    tz: str = DEFAULT_TZ,
) -> gpd.GeoDataFrame:
    """Problems on the actor's segments, lanes and cells: open ones, then recently closed.

    Open problems (any age) come first, most urgent first (red, yellow, white; then by
    deadline); then those closed in the ``closed_days`` days up to ``now``, latest
    first. Voided reports are left out. Columns: ``id``, ``case_no``, ``category``,
    ``category_en``, ``patrol_category``, ``status``, ``colour`` (red, yellow, white, closed),
    ``reported_at``, ``deadline``, ``closed_at``, ``on_time`` (closed by the deadline),
    ``address``, ``place`` (the segment's label or the cell's code), ``description``,
    and the point, in EPSG:4326.
    """
    check_yellow_fraction(yellow_fraction)
    if closed_days < 0:
        msg = f"closed_days must be 0 or more, got {closed_days}"
        raise DataError(msg)
    person = person_of(actor)
    now = as_datetime(now, tz=tz)
    # Two index-friendly halves (problems by segment, problems by cell), joined once: a
    # problem on a person's segment inside their own cell is listed once.
    frame = _geoframe(
        conn,
        f"""
        WITH mine AS ({_MINE}),
        hits AS (
            SELECT p.id FROM problems p
            JOIN mine m ON m.target_type = 'segment' AND p.segment_id = m.target_id
            WHERE p.status <> 'void' AND p.reported_at <= :now
              AND (p.status <> 'closed' OR p.closed_at >= :since)
            UNION
            SELECT p.id FROM problems p
            JOIN mine m ON m.target_type = 'cell' AND p.cell_id = m.target_id
            WHERE p.status <> 'void' AND p.reported_at <= :now
              AND (p.status <> 'closed' OR p.closed_at >= :since)
        )
        SELECT p.id, p.case_no, pc.name AS category,
               COALESCE(pc.name_en, pc.name) AS category_en, pc.patrol_category, p.status,
               CASE WHEN p.status = 'closed' THEN 'closed'
                    WHEN p.deadline < :now THEN 'red'
                    WHEN p.deadline - :now <= (p.deadline - p.reported_at) * :yellow
                         THEN 'yellow'
                    ELSE 'white' END AS colour,
               p.reported_at, p.deadline, p.closed_at,
               CASE WHEN p.status = 'closed' AND p.deadline IS NOT NULL
                    THEN p.closed_at <= p.deadline END AS on_time,
               p.address, p.description, s.road_name, s.from_name, s.to_name,
               c.code AS cell_code,
               ST_AsBinary(ST_Transform(p.geom, 4326)) AS wkb
        FROM hits h
        JOIN problems p ON p.id = h.id
        LEFT JOIN problem_categories pc ON pc.code = p.category_code
        LEFT JOIN road_segments s ON s.id = p.segment_id
        LEFT JOIN grid_cells c ON c.id = p.cell_id
        """,
        {
            "person": person,
            "now": now,
            "since": now - dt.timedelta(days=closed_days),
            "yellow": yellow_fraction,
        },
    )
    place = [
        segment_label(r.road_name, r.from_name, r.to_name)
        if isinstance(r.road_name, str)
        else (r.cell_code if isinstance(r.cell_code, str) else None)
        for r in frame.itertuples()
    ]
    rank = {c: i for i, c in enumerate(COLOURS)}
    frame = frame.assign(place=place, _rank=frame["colour"].map(rank))
    open_part = frame.loc[frame["colour"] != "closed"].sort_values(
        ["_rank", "deadline", "reported_at"], na_position="last", kind="stable"
    )
    closed_part = frame.loc[frame["colour"] == "closed"].sort_values(
        "closed_at", ascending=False, kind="stable"
    )
    columns = ["id", "case_no", "category", "category_en", "patrol_category", "status", "colour",
               "reported_at", "deadline", "closed_at", "on_time", "address", "place",
               "description", "geometry"]  # fmt: skip
    out = pd.concat([open_part, closed_part])[columns].reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=4326)


def problem_counts(problems: pd.DataFrame) -> dict[str, int]:
    """Counts of :func:`my_problems`' rows: ``open``, ``red``, ``yellow``, ``white``,
    ``closed`` and ``closed_on_time``.

    >>> problem_counts(pd.DataFrame({"colour": ["red", "white", "closed"],
    ...                              "on_time": [None, None, True]}))
    {'open': 2, 'red': 1, 'yellow': 0, 'white': 1, 'closed': 1, 'closed_on_time': 1}
    """
    colour = problems["colour"]
    closed = problems.loc[colour == "closed"]
    return {
        "open": int((colour != "closed").sum()),
        "red": int((colour == "red").sum()),
        "yellow": int((colour == "yellow").sum()),
        "white": int((colour == "white").sum()),
        "closed": len(closed),
        "closed_on_time": int(closed["on_time"].fillna(False).astype(bool).sum()),
    }


def place_counts(assignments: pd.DataFrame) -> dict[str, int]:
    """How many places of each kind a person answers for (kinds with none left out).

    >>> place_counts(pd.DataFrame({"kind": ["street", "street", "cell"]}))
    {'street': 2, 'cell': 1}
    """
    counts = assignments["kind"].value_counts()
    return {k: int(counts[k]) for k in KINDS if k in counts.index}
