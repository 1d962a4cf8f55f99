"""Street-head assignment writes: one street head per segment, lane heads, the
总街长 and 二级街长 of a street office, supervisors, and applying a suggestion.

Each function takes the :class:`Actor` it acts for and the versions the caller saw,
and goes through :func:`db.queries.assignment_changes.apply_change`: permission
checked, segments locked and compared, one change set, audited, undoable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.access import Actor
from db.queries.assignment_changes import (
    ChangeResult,
    NewRow,
    Slot,
    apply_change,
    current_rows,
    lane_head_slot,
    last_change,
    segments_info,
    slot_key,
    street_head_slot,
)
from db.queries.assignment_state import ACTIVE
from gis.assignment import segment_label
from gis.errors import ConflictError, DataError


def _names(conn: Connection, ids: Iterable[int | None]) -> dict[int, str]:
    """People's names by id (``#id`` for one with no name)."""
    want = sorted({int(i) for i in ids if i is not None})
    found = dict(
        conn.execute(
            sa.text("SELECT id, name FROM people WHERE id = ANY(:ids)"), {"ids": want}
        ).all()
    )
    return {i: str(found.get(i) or f"#{i}") for i in want}


def _segment(conn: Connection, segment_id: int) -> str:
    row = segments_info(conn, [segment_id])[segment_id]
    return segment_label(row.road_name, row.from_name, row.to_name) or f"#{segment_id}"


def _office(conn: Connection, street_office_id: int) -> str:
    name = conn.execute(
        sa.text("SELECT name FROM admin_areas WHERE id = :i"), {"i": street_office_id}
    ).scalar()
    return str(name or f"#{street_office_id}")


def _who(names: Mapping[int, str], person_id: int | None) -> str | None:
    return None if person_id is None else names.get(int(person_id), f"#{person_id}")


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
    names = _names(conn, [person_id, sup])
    args = {
        "segment": _segment(conn, segment_id),
        "person": _who(names, person_id),
        "supervisor": _who(names, sup),
    }
    return apply_change(
        conn,
        actor,
        action="assign.street_head",
        summary=f"street head of {args['segment']} -> {args['person']}"
        + (f" (reports to {args['supervisor']})" if sup is not None else ""),
        summary_args=args,
        changes={street_head_slot(segment_id): [NewRow(person_id, sup, note)]},
        expected_versions={segment_id: expected_version},
    )


def assign_lane_head(
    conn: Connection, actor: Actor, *, segment_id: int, person_id: int, expected_version: int
) -> ChangeResult:
    """Make ``person_id`` the lane head (巷长) of a lane, ending the previous one."""
    kind = segments_info(conn, [segment_id])[segment_id].kind
    if kind != "lane":
        msg = (
            f"segment {segment_id} is a {kind}, not a lane; give streets a level-3 street "
            "head instead"
        )
        raise DataError(msg)
    args = {"segment": _segment(conn, segment_id), "person": _names(conn, [person_id])[person_id]}
    return apply_change(
        conn,
        actor,
        action="assign.lane_head",
        summary=f"lane head of {args['segment']} -> {args['person']}",
        summary_args=args,
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
    label = _segment(conn, segment_id)
    return apply_change(
        conn,
        actor,
        action=f"end.{role}",
        summary=f"{role.replace('_', ' ')} of {label} ended",
        summary_args={"segment": label},
        changes={slot: []},
        expected_versions={segment_id: expected_version},
    )


def set_supervisor(
    conn: Connection,
    actor: Actor,
    *,
    person_id: int,
    supervisor_id: int | None,
    expected_supervisor_id: int | frozenset[int | None] | None,
    level: Literal[2, 3] = 3,
) -> ChangeResult:
    """Set who a level-3 head (on all their segments) or a level-2 head reports to.

    ``expected_supervisor_id`` is the supervisor the caller saw (a set of them when
    the head reported to several, which this resolves); if it changed meanwhile,
    nothing is written and :class:`ConflictError` says who changed it.
    """
    seen = (
        set(expected_supervisor_id)
        if isinstance(expected_supervisor_id, frozenset)
        else {expected_supervisor_id}
    )
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
    current = current_rows(conn, slots)
    now = {r.supervisor_id for r in rows}
    names = _names(conn, [person_id, supervisor_id, *now, *seen])
    if now != seen:
        listed = ", ".join(sorted(str(_who(names, i)) for i in now))
        saw = ", ".join(sorted(str(_who(names, i)) for i in seen))
        msg = (
            f"the supervisor of {names[person_id]} "
            f"{last_change(conn, [slot_key(s) for s in slots])} after you loaded it (you saw "
            f"{saw}, now {listed}); nothing was saved: reload"
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
    args = {
        "person": names[person_id],
        "supervisor": _who(names, supervisor_id),
        "level": level,
    }
    return apply_change(
        conn,
        actor,
        action="assign.supervisor",
        summary=f"{args['person']} (level {level}) reports to {args['supervisor'] or 'nobody'}",
        summary_args=args,
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
        now = current_rows(conn, [slot])[slot]
        seen = [] if expected_current is None else [expected_current]
        if sorted(int(r["person_id"]) for r in now) != seen:
            msg = (
                f"the level-1 head of street office {_office(conn, street_office_id)} "
                f"{last_change(conn, [slot_key(slot)])} after you loaded it; nothing was saved: reload"
            )
            raise ConflictError(msg)
        new = [NewRow(person_id)]
    else:
        slot = ("street_office", int(street_office_id), "street_head", 2, int(person_id))
        new = [NewRow(person_id, supervisor_id)]
    names = _names(conn, [person_id, supervisor_id])
    args = {
        "person": names[person_id],
        "office": _office(conn, street_office_id),
        "supervisor": _who(names, supervisor_id),
        "level": level,
    }
    return apply_change(
        conn,
        actor,
        action=f"appoint.level{level}",
        summary=f"{args['person']} appointed level-{level} head of {args['office']}",
        summary_args=args,
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
    args = {
        "person": _names(conn, [person_id])[person_id],
        "office": _office(conn, street_office_id),
        "level": level,
    }
    return apply_change(
        conn,
        actor,
        action=f"end.level{level}",
        summary=f"{args['person']} no longer level-{level} head of {args['office']}",
        summary_args=args,
        changes={
            slot: [
                NewRow(r["person_id"])
                for r in current_rows(conn, [slot])[slot]
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
    info = segments_info(conn, seg_ids)
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
    office = _office(conn, street_office_id)
    return apply_change(
        conn,
        actor,
        action="apply.suggestion",
        summary=f"suggested street heads for {len(seg_ids)} segments of {office}",
        summary_args={"n": len(seg_ids), "office": office},
        changes=changes,
        expected_versions={s: int(expected_versions[s]) for s in seg_ids},
    )
