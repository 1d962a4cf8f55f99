"""Street-head assignments in PostGIS: read the current state, change it, undo changes.

Reading gathers what :func:`gis.assignment.check_rules` and
:func:`gis.assignment.suggest_heads` need. Every write takes the :class:`Actor` on
whose behalf it runs, checks ``assign.write`` for the street offices it touches
before changing anything, and is one change set (``change_sets``: the unit of undo)
with one audit row for the action and one per changed *slot* (a segment's street
head, a lane's head, an office's 总街长, one 二级街长), holding the rows before and
after. History is kept: a change ends the active rows (``valid_to``) and inserts new
ones; nothing is deleted.

Concurrency is optimistic: the caller passes the ``version`` of each segment it saw;
a write locks the segments, and if one moved on meanwhile raises
:class:`ConflictError` naming who changed it and when, having written nothing (the
write runs in a savepoint). Level-1 and level-2 heads are assigned to the street
office itself (``target_type='street_office'``); a level-2 head's area is the set of
level-3 heads who report to them, so no community target is needed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.access import Actor, mask_phone, require
from db.audit import record
from db.models import SRID
from gis.assignment import (
    VIOLATION_COLUMNS,
    Suggestion,
    check_rules,
    segment_label,
    suggest_heads,
)
from gis.errors import ConflictError, DataError
from gis.network import segment_adjacency

CRS = f"EPSG:{SRID}"
ACTIVE = "a.valid_to IS NULL AND a.valid_from <= now()"
_ROW_FIELDS = ("id", "person_id", "role", "level", "supervisor_id", "note")


# --- reading --------------------------------------------------------------------------


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


def _scope(street_office_ids: Iterable[int] | None) -> dict[str, Any]:
    ids = None if street_office_ids is None else sorted({int(i) for i in street_office_ids})
    return {"all_offices": ids is None, "offices": ids or [0]}


def _df(conn: Connection, sql: str, params: Mapping[str, Any]) -> pd.DataFrame:
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
    scope = _scope(street_office_ids)
    since = problems_since or (dt.date.today() - dt.timedelta(days=365))
    seg = _df(
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
    assignments = _df(
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
    people = _df(
        conn,
        "SELECT id, person_key, name, phone, role, org_unit, street_office_id, active "
        "FROM people ORDER BY id",
        {},
    ).set_index("id")
    cells = _df(
        conn,
        """
        SELECT c.id, c.code, c.community_id, c.responsible_body
        FROM grid_cells c
        LEFT JOIN admin_areas com ON com.id = c.community_id
        LEFT JOIN admin_areas so ON so.code = com.parent_code AND so.level = 'street_office'
        WHERE (c.valid_to IS NULL OR c.valid_to >= CURRENT_DATE)
          AND (:all_offices OR so.id = ANY(:offices))
        ORDER BY c.id""",
        scope,
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


# --- writing --------------------------------------------------------------------------

#: A slot is one thing that has one set of responsible rows: (target_type, target_id,
#: role, level, person). ``person`` is set only for level-2 heads, of whom an office has
#: several, each their own slot.
Slot = tuple[str, int, str, int | None, int | None]


def street_head_slot(segment_id: int) -> Slot:
    """The slot of a segment's level-3 street head."""
    return ("segment", int(segment_id), "street_head", 3, None)


def lane_head_slot(segment_id: int) -> Slot:
    """The slot of a lane's head (巷长)."""
    return ("segment", int(segment_id), "lane_head", None, None)


def _slot_of(row: Mapping[str, Any]) -> Slot:
    level = None if row["level"] is None else int(row["level"])
    person = int(row["person_id"]) if row["target_type"] == "street_office" and level == 2 else None
    return (str(row["target_type"]), int(row["target_id"]), str(row["role"]), level, person)


def _key(slot: Slot) -> str:
    tt, tid, role, level, person = slot
    return f"{tt}:{tid}:{role}:{'' if level is None else level}:{'' if person is None else person}"


def _unkey(key: str) -> Slot:
    tt, tid, role, level, person = key.split(":")
    return (tt, int(tid), role, int(level) if level else None, int(person) if person else None)


@dataclass(frozen=True)
class NewRow:
    """A responsible person for a slot, with their supervisor."""

    person_id: int
    supervisor_id: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class ChangeResult:
    """What a write did: its change set (None if nothing changed), the new segment
    versions, and the rule violations in the offices it touched afterwards."""

    change_id: int | None
    action: str
    summary: str
    n_slots: int
    versions: dict[int, int]
    violations: pd.DataFrame


def _segments_info(conn: Connection, ids: Iterable[int]) -> dict[int, Any]:
    want = sorted({int(i) for i in ids})
    rows = conn.execute(
        sa.text(
            "SELECT id, version, street_office_id, kind, road_name, from_name, to_name "
            "FROM road_segments WHERE id = ANY(:ids) ORDER BY id"
        ),
        {"ids": want},
    ).all()
    found = {r.id: r for r in rows}
    missing = [i for i in want if i not in found]
    if missing:
        msg = (
            f"no road segment with id {', '.join(map(str, missing[:10]))}"
            f"{' ...' if len(missing) > 10 else ''}; reload the segments and try again"
        )
        raise DataError(msg)
    return found


def _label(row: Any) -> str:
    return segment_label(row.road_name, row.from_name, row.to_name) or f"#{row.id}"


def _last_change(conn: Connection, keys: list[str]) -> str:
    """Who last changed any of these slots, and when, in words."""
    row = conn.execute(
        sa.text(
            "SELECT c.id, c.actor, c.created_at, c.action FROM audit_log l "
            "JOIN change_sets c ON c.id = l.change_id "
            "WHERE l.detail->>'slot' = ANY(:keys) ORDER BY l.id DESC LIMIT 1"
        ),
        {"keys": keys},
    ).first()
    if row is None:
        return "was changed outside the assignment desk (by a data load)"
    at = row.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    return f"was changed by {row.actor} at {at} (change {row.id}, {row.action})"


def _lock_segments(
    conn: Connection, ids: list[int], expected: Mapping[int, int] | None
) -> dict[int, Any]:
    rows = conn.execute(
        sa.text(
            "SELECT id, version, street_office_id, kind, road_name, from_name, to_name "
            "FROM road_segments WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"
        ),
        {"ids": ids},
    ).all()
    found = {r.id: r for r in rows}
    if expected is None:
        return found
    stale = [(i, v) for i, v in expected.items() if i in found and found[i].version != int(v)]
    if stale:
        sid, seen = stale[0]
        keys = [_key(street_head_slot(sid)), _key(lane_head_slot(sid))]
        more = f"; {len(stale) - 1} other segment(s) changed too" if len(stale) > 1 else ""
        msg = (
            f"segment {_label(found[sid])} {_last_change(conn, keys)} after you loaded it "
            f"(you saw version {seen}, it is now {found[sid].version}){more}; nothing was "
            "saved: reload and make your change again"
        )
        raise ConflictError(msg)
    return found


def _current(conn: Connection, slots: Iterable[Slot]) -> dict[Slot, list[dict[str, Any]]]:
    slots = list(slots)
    targets = sorted({(s[0], s[1]) for s in slots})
    rows = conn.execute(
        sa.text(
            f"SELECT a.id, a.person_id, a.target_type, a.target_id, a.role, a.level, "
            f"a.supervisor_id, a.note FROM assignments a "
            f"JOIN unnest(CAST(:tt AS text[]), CAST(:tid AS int[])) AS t(tt, tid) "
            f"ON a.target_type = t.tt AND a.target_id = t.tid "
            f"WHERE {ACTIVE} ORDER BY a.id FOR UPDATE OF a"
        ),
        {"tt": [t[0] for t in targets], "tid": [t[1] for t in targets]},
    ).mappings()
    out: dict[Slot, list[dict[str, Any]]] = {s: [] for s in slots}
    for r in rows:
        slot = _slot_of(r)
        if slot in out:
            out[slot].append(dict(r))
    return out


def _content(rows: list[dict[str, Any]]) -> list[tuple[int, int | None]]:
    """Who answers, reporting to whom: what a slot's state means (row ids aside, since an
    undo restores rows as new copies)."""
    return sorted(
        (int(r["person_id"]), None if r["supervisor_id"] is None else int(r["supervisor_id"]))
        for r in rows
    )


def _same(rows: list[dict[str, Any]], new: list[NewRow]) -> bool:
    have = sorted((int(r["person_id"]), r["supervisor_id"]) for r in rows)
    want = sorted((n.person_id, n.supervisor_id) for n in new)
    return have == want


def _check_people(conn: Connection, changes: Mapping[Slot, list[NewRow]]) -> None:
    """Refuse unknown or inactive people, and supervisors who are not one level up."""
    ids = {n.person_id for rows in changes.values() for n in rows}
    sups = {
        (slot, n.supervisor_id) for slot, rows in changes.items() for n in rows if n.supervisor_id
    }
    known = dict(
        conn.execute(
            sa.text("SELECT id, active FROM people WHERE id = ANY(:ids)"),
            {"ids": sorted(ids | {s for _, s in sups})},
        ).all()
    )
    bad = sorted(i for i in ids | {s for _, s in sups} if not known.get(i))
    if bad:
        msg = (
            f"people {', '.join(map(str, bad))} are not on the roster or are inactive; "
            "choose active people (load or reactivate them first)"
        )
        raise DataError(msg)
    heads = conn.execute(
        sa.text(
            f"SELECT a.person_id, a.target_id, a.level FROM assignments a WHERE {ACTIVE} "
            "AND a.target_type = 'street_office' AND a.role = 'street_head' AND a.level IN (1, 2)"
        )
    ).all()
    is_head = {(r.person_id, r.target_id, r.level) for r in heads}
    offices = dict(
        conn.execute(
            sa.text("SELECT id, street_office_id FROM road_segments WHERE id = ANY(:ids)"),
            {"ids": [s[1] for s, _ in sups if s[0] == "segment"]},
        ).all()
    )
    for slot, sup in sorted(sups, key=str):
        office = offices.get(slot[1]) if slot[0] == "segment" else slot[1]
        need = (slot[3] or 0) - 1
        if need in (1, 2) and (sup, office, need) not in is_head:
            msg = (
                f"person {sup} is not an active level-{need} street head of street office "
                f"{office}; appoint them first, or choose another supervisor"
            )
            raise DataError(msg)


def _apply(
    conn: Connection,
    actor: Actor,
    *,
    action: str,
    summary: str,
    changes: Mapping[Slot, list[NewRow]],
    expected_versions: Mapping[int, int] | None = None,
    expected_rows: Mapping[Slot, list[int]] | None = None,
    undo_of: int | None = None,
    validate: bool = True,
    check_after: bool = True,
) -> ChangeResult:
    """The one write path: lock, compare, end the old rows, insert the new, audit."""
    seg_ids = sorted({s[1] for s in changes if s[0] == "segment"})
    info = _segments_info(conn, seg_ids)
    offices = {info[i].street_office_id for i in seg_ids} | {
        s[1] for s in changes if s[0] == "street_office"
    }
    require(actor, "assign.write", street_office_ids=offices, what="change assignments")
    with conn.begin_nested():
        locked = _lock_segments(conn, seg_ids, expected_versions)
        if validate:
            _check_people(conn, changes)
        current = _current(conn, changes)
        if expected_rows is not None:
            _compare_rows(conn, current, expected_rows)
        changed = {s: new for s, new in changes.items() if not _same(current[s], new)}
        versions = {i: int(locked[i].version) for i in seg_ids}
        if not changed:
            return ChangeResult(
                None, action, summary, 0, versions, _after(conn, offices, check_after)
            )
        change_id = int(
            conn.execute(
                sa.text(
                    "INSERT INTO change_sets (actor, action, summary, undo_of) "
                    "VALUES (:actor, :action, :summary, :undo_of) RETURNING id"
                ),
                {"actor": actor.username, "action": action, "summary": summary, "undo_of": undo_of},
            ).scalar_one()
        )
        ended = [r["id"] for s in changed for r in current[s]]
        conn.execute(
            sa.text(
                "UPDATE assignments SET valid_to = greatest(now(), valid_from), ended_by = :by "
                "WHERE id = ANY(:ids)"
            ),
            {"by": actor.username, "ids": ended},
        )
        created = _insert(conn, actor, changed, change_id)
        touched = sorted({s[1] for s in changed if s[0] == "segment"})
        for r in conn.execute(
            sa.text(
                "UPDATE road_segments SET version = version + 1 WHERE id = ANY(:ids) "
                "RETURNING id, version"
            ),
            {"ids": touched},
        ):
            versions[r.id] = r.version
        record(
            conn,
            actor,
            action,
            entity_type="change_set",
            entity_id=change_id,
            detail={"summary": summary, "slots": len(changed), "undo_of": undo_of},
            change_id=change_id,
        )
        _audit_slots(
            conn,
            actor,
            action=action,
            change_id=change_id,
            before=current,
            after=created,
            changed=changed,
        )
    return ChangeResult(
        change_id, action, summary, len(changed), versions, _after(conn, offices, check_after)
    )


def _after(conn: Connection, offices: set[int | None], check_after: bool) -> pd.DataFrame:
    ids = [o for o in offices if o is not None]
    if not check_after or not ids:
        return pd.DataFrame(columns=VIOLATION_COLUMNS)
    return check(conn, street_office_ids=ids)


def _insert(
    conn: Connection, actor: Actor, changed: Mapping[Slot, list[NewRow]], change_id: int
) -> dict[Slot, list[dict[str, Any]]]:
    rows = [(s, n) for s, new in changed.items() for n in new]
    out: dict[Slot, list[dict[str, Any]]] = {s: [] for s in changed}
    if not rows:
        return out
    result = conn.execute(
        sa.text(
            "INSERT INTO assignments (person_id, target_type, target_id, role, level, "
            "supervisor_id, assigned_by, change_id, note) "
            "SELECT t.p, t.tt, t.tid, t.role, t.lvl, t.sup, :by, :cid, t.note FROM unnest("
            "CAST(:p AS int[]), CAST(:tt AS text[]), CAST(:tid AS int[]), CAST(:role AS text[]), "
            "CAST(:lvl AS smallint[]), CAST(:sup AS int[]), CAST(:note AS text[])) "
            "AS t(p, tt, tid, role, lvl, sup, note) "
            "RETURNING id, person_id, target_type, target_id, role, level, supervisor_id, note"
        ),
        {
            "p": [n.person_id for _, n in rows],
            "tt": [s[0] for s, _ in rows],
            "tid": [s[1] for s, _ in rows],
            "role": [s[2] for s, _ in rows],
            "lvl": [s[3] for s, _ in rows],
            "sup": [n.supervisor_id for _, n in rows],
            "note": [n.note for _, n in rows],
            "by": actor.username,
            "cid": change_id,
        },
    ).mappings()
    for r in result:
        out[_slot_of(r)].append(dict(r))
    return out


def _public(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: r.get(k) for k in _ROW_FIELDS} for r in rows]


def _audit_slots(
    conn: Connection,
    actor: Actor,
    *,
    action: str,
    change_id: int,
    before: Mapping[Slot, list[dict[str, Any]]],
    after: Mapping[Slot, list[dict[str, Any]]],
    changed: Mapping[Slot, list[NewRow]],
) -> None:
    """One audit row per changed slot, in one round trip (a bulk suggestion has thousands)."""
    params = [
        {
            "actor": actor.username,
            "action": action,
            "etype": slot[0],
            "eid": str(slot[1]),
            "before": json.dumps({"rows": _public(before[slot])}, ensure_ascii=False),
            "after": json.dumps({"rows": _public(after[slot])}, ensure_ascii=False),
            "detail": json.dumps({"slot": _key(slot)}, ensure_ascii=False),
            "change": change_id,
        }
        for slot in changed
    ]
    conn.execute(
        sa.text(
            "INSERT INTO audit_log (actor, action, entity_type, entity_id, before, after, "
            "detail, change_id) VALUES (:actor, :action, :etype, :eid, CAST(:before AS jsonb), "
            "CAST(:after AS jsonb), CAST(:detail AS jsonb), :change)"
        ),
        params,
    )


def _compare_rows(
    conn: Connection,
    current: Mapping[Slot, list[dict[str, Any]]],
    expected: Mapping[Slot, list[int]],
) -> None:
    stale = [s for s, ids in expected.items() if sorted(r["id"] for r in current[s]) != sorted(ids)]
    if stale:
        msg = (
            f"{_describe(stale[0])} {_last_change(conn, [_key(s) for s in stale])} after you "
            "loaded it; nothing was saved: reload and make your change again"
        )
        raise ConflictError(msg)


def _describe(slot: Slot) -> str:
    tt, tid, role, level, person = slot
    if tt == "segment":
        return f"the {'lane head' if role == 'lane_head' else 'street head'} of segment {tid}"
    if level == 2:
        return f"level-2 head {person} of street office {tid}"
    return f"the level-{level} head of street office {tid}"


# --- the write API ----------------------------------------------------------------------


def _supervisor_of(conn: Connection, person_id: int) -> int | None:
    """A level-3 head's current supervisor, when all their segments agree on one."""
    sups = (
        conn.execute(
            sa.text(
                f"SELECT DISTINCT a.supervisor_id FROM assignments a WHERE {ACTIVE} "
                "AND a.person_id = :p AND a.role = 'street_head' AND a.level = 3"
            ),
            {"p": person_id},
        )
        .scalars()
        .all()
    )
    return int(sups[0]) if len(sups) == 1 and sups[0] is not None else None


def assign_street_head(
    conn: Connection,
    actor: Actor,
    *,
    segment_id: int,
    person_id: int,
    expected_version: int,
    supervisor_id: int | None = None,
    note: str | None = None,
) -> ChangeResult:
    """Make ``person_id`` the one level-3 street head of a segment, ending the previous.

    ``supervisor_id`` defaults to the supervisor the person already reports to on
    their other segments. ``expected_version`` is the segment version the caller saw.
    """
    sup = supervisor_id if supervisor_id is not None else _supervisor_of(conn, person_id)
    return _apply(
        conn,
        actor,
        action="assign.street_head",
        summary=f"street head of segment {segment_id} -> person {person_id}",
        changes={street_head_slot(segment_id): [NewRow(person_id, sup, note)]},
        expected_versions={segment_id: expected_version},
    )


def assign_lane_head(
    conn: Connection, actor: Actor, *, segment_id: int, person_id: int, expected_version: int
) -> ChangeResult:
    """Make ``person_id`` the lane head (巷长) of a lane, ending the previous one."""
    kind = _segments_info(conn, [segment_id])[segment_id].kind
    if kind != "lane":
        msg = (
            f"segment {segment_id} is a {kind}, not a lane; give streets a level-3 street "
            "head instead"
        )
        raise DataError(msg)
    return _apply(
        conn,
        actor,
        action="assign.lane_head",
        summary=f"lane head of segment {segment_id} -> person {person_id}",
        changes={lane_head_slot(segment_id): [NewRow(person_id)]},
        expected_versions={segment_id: expected_version},
    )


def end_head(
    conn: Connection,
    actor: Actor,
    *,
    segment_id: int,
    expected_version: int,
    role: Literal["street_head", "lane_head"] = "street_head",
) -> ChangeResult:
    """Leave a segment without a street head (or a lane without a lane head)."""
    slot = street_head_slot(segment_id) if role == "street_head" else lane_head_slot(segment_id)
    return _apply(
        conn,
        actor,
        action=f"end.{role}",
        summary=f"{role.replace('_', ' ')} of segment {segment_id} ended",
        changes={slot: []},
        expected_versions={segment_id: expected_version},
    )


def set_supervisor(
    conn: Connection,
    actor: Actor,
    *,
    person_id: int,
    supervisor_id: int | None,
    expected_supervisor_id: int | None,
    level: Literal[2, 3] = 3,
) -> ChangeResult:
    """Set who a level-3 head (on all their segments) or a level-2 head reports to.

    ``expected_supervisor_id`` is the supervisor the caller saw; if it changed
    meanwhile, nothing is written and :class:`ConflictError` says who changed it.
    """
    rows = conn.execute(
        sa.text(
            f"SELECT a.target_type, a.target_id, a.supervisor_id FROM assignments a "
            f"WHERE {ACTIVE} AND a.person_id = :p AND a.role = 'street_head' AND a.level = :lvl "
            f"AND a.target_type = :tt"
        ),
        {"p": person_id, "lvl": level, "tt": "segment" if level == 3 else "street_office"},
    ).all()
    if not rows:
        msg = (
            f"person {person_id} is not an active level-{level} street head; assign them "
            "first, then set the supervisor"
        )
        raise DataError(msg)
    slots = [
        street_head_slot(r.target_id)
        if level == 3
        else ("street_office", int(r.target_id), "street_head", 2, person_id)
        for r in rows
    ]
    current = _current(conn, slots)
    if {r.supervisor_id for r in rows} != {expected_supervisor_id}:
        msg = (
            f"the supervisor of person {person_id} {_last_change(conn, [_key(s) for s in slots])} "
            f"after you loaded it (you saw {expected_supervisor_id}, now "
            f"{', '.join(str(r.supervisor_id) for r in rows)}); nothing was saved: reload"
        )
        raise ConflictError(msg)
    changes = {
        slot: [
            NewRow(
                int(r["person_id"]),
                supervisor_id if int(r["person_id"]) == person_id else r["supervisor_id"],
                r["note"],
            )
            for r in current[slot]
        ]
        for slot in slots
    }
    return _apply(
        conn,
        actor,
        action="assign.supervisor",
        summary=f"person {person_id} (level {level}) reports to {supervisor_id}",
        changes=changes,
        expected_rows={s: [r["id"] for r in current[s]] for s in slots},
    )


def appoint_office_head(
    conn: Connection,
    actor: Actor,
    *,
    street_office_id: int,
    person_id: int,
    level: Literal[1, 2],
    supervisor_id: int | None = None,
    expected_current: int | None = None,
) -> ChangeResult:
    """Appoint the 总街长 (level 1, replacing the current one) or add a 二级街长 (level 2).

    For level 1, ``expected_current`` is the level-1 head the caller saw (None: none).
    """
    if level == 1:
        slot: Slot = ("street_office", int(street_office_id), "street_head", 1, None)
        now = _current(conn, [slot])[slot]
        seen = [] if expected_current is None else [expected_current]
        if sorted(int(r["person_id"]) for r in now) != seen:
            msg = (
                f"the level-1 head of street office {street_office_id} "
                f"{_last_change(conn, [_key(slot)])} after you loaded it; nothing was saved: reload"
            )
            raise ConflictError(msg)
        new = [NewRow(person_id)]
    else:
        slot = ("street_office", int(street_office_id), "street_head", 2, int(person_id))
        new = [NewRow(person_id, supervisor_id)]
    return _apply(
        conn,
        actor,
        action=f"appoint.level{level}",
        summary=f"person {person_id} appointed level-{level} head of street office {street_office_id}",
        changes={slot: new},
    )


def end_office_head(
    conn: Connection, actor: Actor, *, street_office_id: int, person_id: int, level: Literal[1, 2]
) -> ChangeResult:
    """End a level-1 or level-2 head's appointment (their level-3 heads keep reporting to
    them until given a new supervisor, which the rules then report)."""
    slot: Slot = (
        "street_office",
        int(street_office_id),
        "street_head",
        level,
        int(person_id) if level == 2 else None,
    )
    return _apply(
        conn,
        actor,
        action=f"end.level{level}",
        summary=f"person {person_id} no longer level-{level} head of street office {street_office_id}",
        changes={
            slot: [
                NewRow(r["person_id"])
                for r in _current(conn, [slot])[slot]
                if int(r["person_id"]) != person_id
            ]
        },
    )


def apply_suggestion(
    conn: Connection,
    actor: Actor,
    *,
    street_office_id: int,
    assignment: Mapping[int, int],
    expected_versions: Mapping[int, int],
    supervisors: Mapping[int, int] | None = None,
) -> ChangeResult:
    """Apply a suggestion (segment id -> person id) as one change set.

    Unchanged segments are left alone. A head keeps the supervisor they report to
    elsewhere unless ``supervisors`` (person -> supervisor) says otherwise.
    """
    seg_ids = sorted(int(s) for s in assignment)
    missing = [s for s in seg_ids if s not in expected_versions]
    if missing:
        msg = (
            f"apply_suggestion: no version given for {len(missing)} segment(s) (first: "
            f"{missing[0]}); pass the versions returned with the suggestion"
        )
        raise DataError(msg)
    info = _segments_info(conn, seg_ids)
    elsewhere = [s for s in seg_ids if info[s].street_office_id != street_office_id]
    if elsewhere:
        msg = (
            f"{len(elsewhere)} segment(s) of the suggestion lie outside street office "
            f"{street_office_id} (first: {elsewhere[0]}); suggest per street office"
        )
        raise DataError(msg)
    sup = dict(supervisors or {})
    for p in {int(v) for v in assignment.values()} - set(sup):
        found = _supervisor_of(conn, p)
        if found is not None:
            sup[p] = found
    changes = {
        street_head_slot(s): [NewRow(int(assignment[s]), sup.get(int(assignment[s])))]
        for s in seg_ids
    }
    return _apply(
        conn,
        actor,
        action="apply.suggestion",
        summary=f"suggested street heads for {len(seg_ids)} segments of street office {street_office_id}",
        changes=changes,
        expected_versions={s: int(expected_versions[s]) for s in seg_ids},
    )


# --- undo -------------------------------------------------------------------------------


def _change(conn: Connection, change_id: int) -> Any:
    row = conn.execute(
        sa.text("SELECT * FROM change_sets WHERE id = :id"), {"id": change_id}
    ).first()
    if row is None:
        msg = f"no change {change_id}; list recent changes with `citygrid assign history`"
        raise DataError(msg)
    return row


def _slots_of(
    conn: Connection, change_id: int
) -> dict[Slot, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    rows = conn.execute(
        sa.text(
            "SELECT detail->>'slot' AS slot, before, after FROM audit_log "
            "WHERE change_id = :c AND detail ? 'slot' ORDER BY id"
        ),
        {"c": change_id},
    ).all()
    return {_unkey(r.slot): (r.before["rows"], r.after["rows"]) for r in rows}


def _depth(conn: Connection, change_id: int) -> int:
    depth, cur = 0, change_id
    while True:
        nxt = conn.execute(
            sa.text("SELECT undo_of FROM change_sets WHERE id = :i"), {"i": cur}
        ).scalar()
        if nxt is None:
            return depth
        depth, cur = depth + 1, int(nxt)


def _later(conn: Connection, change_id: int, keys: list[str]) -> list[Any]:
    """Change sets after ``change_id``, not undone, that touched any of these slots."""
    return conn.execute(
        sa.text(
            "SELECT DISTINCT c.id, c.actor, c.created_at, c.action, c.summary FROM change_sets c "
            "JOIN audit_log l ON l.change_id = c.id "
            "WHERE c.id > :c AND c.undone_at IS NULL AND l.detail->>'slot' = ANY(:keys) "
            "ORDER BY c.id DESC"
        ),
        {"c": change_id, "keys": keys},
    ).all()


def undo(conn: Connection, actor: Actor, change_id: int, *, cascade: bool = False) -> ChangeResult:
    """Restore exactly the state before change ``change_id`` (as a new change set).

    Refuses with :class:`ConflictError` if later changes touched the same slots, naming
    them; with ``cascade`` those are undone first, newest first.
    """
    target = _change(conn, change_id)
    if target.undone_at is not None:
        at = target.undone_at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        msg = f"change {change_id} was already undone by {target.undone_by} at {at}"
        raise ConflictError(msg)
    slots = _slots_of(conn, change_id)
    if not slots:
        msg = f"change {change_id} ({target.action}) changed no assignment; nothing to undo"
        raise DataError(msg)
    for _ in range(50):
        current = _current(conn, slots)
        stale = [s for s, (_, after) in slots.items() if _content(current[s]) != _content(after)]
        if not stale:
            break
        later = [
            c
            for c in _later(conn, change_id, [_key(s) for s in stale])
            if _depth(conn, c.id) % 2 == 0
        ]
        if not later:
            msg = (
                f"change {change_id} cannot be undone: {_describe(stale[0])} was changed since "
                "outside the assignment desk (by a data load); change it back by hand"
            )
            raise ConflictError(msg)
        if not cascade:
            listed = "; ".join(
                f"change {c.id} by {c.actor} at {c.created_at.astimezone():%Y-%m-%d %H:%M} ({c.summary})"
                for c in later[:5]
            )
            msg = (
                f"change {change_id} cannot be undone alone: later changes touched the same "
                f"segments or heads: {listed}; undo those first, or undo with cascade "
                "(`--cascade`) to undo them too"
            )
            raise ConflictError(msg)
        undo(conn, actor, int(later[0].id), cascade=True)
    changes = {
        s: [NewRow(int(r["person_id"]), r["supervisor_id"], r["note"]) for r in before]
        for s, (before, _) in slots.items()
    }
    result = _apply(
        conn,
        actor,
        action="undo",
        summary=f"undo of change {change_id} ({target.summary})",
        changes=changes,
        undo_of=change_id,
        validate=False,
    )
    conn.execute(
        sa.text("UPDATE change_sets SET undone_at = now(), undone_by = :by WHERE id = :id"),
        {"by": actor.username, "id": change_id},
    )
    return result


def history(
    conn: Connection, *, street_office_ids: Iterable[int] | None = None, limit: int = 50
) -> pd.DataFrame:
    """Recent change sets (newest first), with what they touched, for the desk and the CLI."""
    return _df(
        conn,
        """
        SELECT c.id, c.actor, c.action, c.summary, c.created_at, c.undone_at, c.undone_by,
               c.undo_of, count(l.id) AS slots
        FROM change_sets c
        LEFT JOIN audit_log l ON l.change_id = c.id AND l.detail ? 'slot'
        LEFT JOIN road_segments s ON l.entity_type = 'segment' AND s.id = CAST(l.entity_id AS int)
        WHERE :all_offices OR s.street_office_id = ANY(:offices)
           OR (l.entity_type = 'street_office' AND CAST(l.entity_id AS int) = ANY(:offices))
        GROUP BY c.id ORDER BY c.id DESC LIMIT :limit""",
        {"limit": limit, **_scope(street_office_ids)},
    )


# --- notice boards --------------------------------------------------------------------


def board_rows(
    conn: Connection,
    actor: Actor,
    *,
    street_office_ids: Iterable[int] | None = None,
    mask_phones: bool = False,
) -> pd.DataFrame:
    """One row per street segment for its notice board (公示牌).

    Columns: ``segment_id``, ``code``, ``label`` (``道路名（起点路—终点路）``), ``road_name``,
    ``from_name``, ``to_name``, ``street_office``, ``community``, ``head_name``,
    ``head_phone``, ``supervisor_name``, ``supervisor_phone``. Phones are masked for
    actors without ``pii.read`` and on request. Needs ``report.export`` in those offices.
    """
    ids = None if street_office_ids is None else [int(i) for i in street_office_ids]
    if ids is None and actor.street_office_ids is not None:
        ids = sorted(actor.street_office_ids)  # "all" means all of the actor's own
    require(actor, "report.export", street_office_ids=ids or [], what="export notice boards")
    frame = _df(
        conn,
        f"""
        SELECT s.id AS segment_id, s.code, s.road_name, s.from_name, s.to_name,
               so.name AS street_office, com.name AS community,
               string_agg(p.name, '、' ORDER BY p.name) AS head_name,
               string_agg(p.phone, '、' ORDER BY p.name) AS head_phone,
               string_agg(DISTINCT sp.name, '、') AS supervisor_name,
               string_agg(DISTINCT sp.phone, '、') AS supervisor_phone
        FROM road_segments s
        LEFT JOIN admin_areas so ON so.id = s.street_office_id
        LEFT JOIN admin_areas com ON com.id = s.community_id
        LEFT JOIN assignments a ON {ACTIVE} AND a.target_type = 'segment'
             AND a.target_id = s.id AND a.role = 'street_head' AND a.level = 3
        LEFT JOIN people p ON p.id = a.person_id
        LEFT JOIN people sp ON sp.id = a.supervisor_id
        WHERE s.kind = 'street' AND (:all_offices OR s.street_office_id = ANY(:offices))
        GROUP BY s.id, so.name, com.name
        ORDER BY so.name NULLS LAST, s.road_name, s.id""",
        _scope(ids),
    )
    frame.insert(
        2,
        "label",
        [
            segment_label(r, f, t)
            for r, f, t in zip(
                frame["road_name"], frame["from_name"], frame["to_name"], strict=True
            )
        ],
    )
    if mask_phones or not actor.can("pii.read"):
        for col in ("head_phone", "supervisor_phone"):
            frame[col] = [
                None if v is None else "、".join(str(mask_phone(x)) for x in str(v).split("、"))
                for v in frame[col]
            ]
    return frame
