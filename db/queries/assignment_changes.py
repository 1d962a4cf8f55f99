"""Street-head assignment changes: the one write path, change sets and undo.

Every write takes the :class:`Actor` on whose behalf it runs, checks ``assign.write``
for the street offices it touches before changing anything, and is one change set
(``change_sets``: the unit of undo) with one audit row for the action and one per
changed *slot* (a segment's street head, a lane's head, an office's 总街长, one
二级街长), holding the rows before and after. History is kept: a change ends the
active rows (``valid_to``) and inserts new ones; nothing is deleted.

Concurrency is optimistic: the caller passes the ``version`` of each segment it saw;
a write locks the segments, and if one moved on meanwhile raises
:class:`ConflictError` naming who changed it and when, having written nothing (the
write runs in a savepoint). The public write functions built on
:func:`apply_change` are in :mod:`db.queries.assignment_writes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.access import Actor, require
from db.audit import record, record_many
from db.queries.assignment_state import ACTIVE, check, office_scope, query_frame
from gis.assignment import VIOLATION_COLUMNS, segment_label
from gis.errors import ConflictError, DataError

_ROW_FIELDS = ("id", "person_id", "role", "level", "supervisor_id", "note")

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


def slot_key(slot: Slot) -> str:
    """A slot as text, as audit rows name it (``detail->>'slot'``)."""
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


def segments_info(conn: Connection, ids: Iterable[int]) -> dict[int, Any]:
    """Version, office, kind and names of some segments; unknown ids are refused."""
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


def last_change(conn: Connection, keys: list[str]) -> str:
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
        keys = [slot_key(street_head_slot(sid)), slot_key(lane_head_slot(sid))]
        more = f"; {len(stale) - 1} other segment(s) changed too" if len(stale) > 1 else ""
        msg = (
            f"segment {_label(found[sid])} {last_change(conn, keys)} after you loaded it "
            f"(you saw version {seen}, it is now {found[sid].version}){more}; nothing was "
            "saved: reload and make your change again"
        )
        raise ConflictError(msg)
    return found


def current_rows(conn: Connection, slots: Iterable[Slot]) -> dict[Slot, list[dict[str, Any]]]:
    """The active rows of each slot, locked until the transaction ends."""
    slots = list(slots)
    held = target_rows(conn, {(s[0], s[1]) for s in slots})
    return {s: held.get(s, []) for s in slots}


def target_rows(
    conn: Connection, targets: Iterable[tuple[str, int]]
) -> dict[Slot, list[dict[str, Any]]]:
    """Every active row of some targets, by slot, locked until the transaction ends."""
    targets = sorted({(str(t[0]), int(t[1])) for t in targets})
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
    out: dict[Slot, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(_slot_of(r), []).append(dict(r))
    return out


def changed_slots(
    before: Mapping[Slot, list[dict[str, Any]]], after: Mapping[Slot, list[dict[str, Any]]]
) -> list[Slot]:
    """The slots whose active rows differ between two :func:`target_rows` snapshots."""
    return sorted(
        (
            s
            for s in set(before) | set(after)
            if sorted(r["id"] for r in before.get(s, []))
            != sorted(r["id"] for r in after.get(s, []))
        ),
        key=slot_key,
    )


def bump_versions(conn: Connection, segment_ids: Iterable[int]) -> dict[int, int]:
    """Raise the version of these segments (their assignments changed); the new versions.

    A planner's form holds the version it was drawn from, so a form older than the
    change is refused (:class:`ConflictError`) instead of writing over it.
    """
    ids = sorted({int(i) for i in segment_ids})
    if not ids:
        return {}
    rows = conn.execute(
        sa.text(
            "UPDATE road_segments SET version = version + 1 WHERE id = ANY(:ids) "
            "RETURNING id, version"
        ),
        {"ids": ids},
    )
    return {int(r.id): int(r.version) for r in rows}


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


def apply_change(
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
    summary_args: Mapping[str, Any] | None = None,
) -> ChangeResult:
    """The one write path: lock, compare, end the old rows, insert the new, audit.

    ``summary`` is the change in English words (the command line shows it);
    ``summary_args`` the values a page needs to say it in its own language.
    """
    seg_ids = sorted({s[1] for s in changes if s[0] == "segment"})
    info = segments_info(conn, seg_ids)
    offices = {info[i].street_office_id for i in seg_ids} | _other_offices(conn, changes)
    require(actor, "assign.write", street_office_ids=offices, what="change assignments")
    with conn.begin_nested():
        locked = _lock_segments(conn, seg_ids, expected_versions)
        if validate:
            _check_people(conn, changes)
        current = current_rows(conn, changes)
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
        versions.update(bump_versions(conn, (s[1] for s in changed if s[0] == "segment")))
        record_change_set(
            conn,
            actor,
            action=action,
            change_id=change_id,
            summary=summary,
            summary_args=summary_args,
            slots=len(changed),
            undo_of=undo_of,
        )
        record_slots(
            conn,
            actor,
            action=action,
            change_id=change_id,
            before=current,
            after=created,
            slots=list(changed),
        )
    return ChangeResult(
        change_id, action, summary, len(changed), versions, _after(conn, offices, check_after)
    )


_OFFICE_OF = {
    "cell": "SELECT p.id FROM grid_cells c JOIN admin_areas com ON com.id = c.community_id "
    "JOIN admin_areas p ON p.code = com.parent_code AND p.level = 'street_office' "
    "WHERE c.id = ANY(:ids)",
    "market": "SELECT street_office_id FROM markets WHERE id = ANY(:ids)",
    "premises": "SELECT street_office_id FROM premises WHERE id = ANY(:ids)",
}


def _other_offices(conn: Connection, changes: Mapping[Slot, Any]) -> set[int | None]:
    """The street offices of the slots that are not segments (a permission is per office)."""
    out: set[int | None] = {s[1] for s in changes if s[0] == "street_office"}
    for kind, sql in _OFFICE_OF.items():
        ids = sorted({s[1] for s in changes if s[0] == kind})
        if ids:
            found = conn.execute(sa.text(sql), {"ids": ids}).scalars().all()
            out |= set(found) if found else {None}
    return out


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


def record_change_set(
    conn: Connection,
    actor: Actor,
    *,
    action: str,
    change_id: int,
    summary: str,
    summary_args: Mapping[str, Any] | None,
    slots: int,
    undo_of: int | None = None,
) -> None:
    """The audit row of a change set as a whole (what :func:`history` says of it)."""
    record(
        conn,
        actor,
        action,
        entity_type="change_set",
        entity_id=change_id,
        detail={
            "summary": summary,
            "summary_args": dict(summary_args or {}),
            "slots": slots,
            "undo_of": undo_of,
        },
        change_id=change_id,
    )


def record_slots(
    conn: Connection,
    actor: Actor,
    *,
    action: str,
    change_id: int,
    before: Mapping[Slot, list[dict[str, Any]]],
    after: Mapping[Slot, list[dict[str, Any]]],
    slots: Iterable[Slot],
    detail: Mapping[str, Any] | None = None,
) -> None:
    """One audit row per changed slot (rows before and after), in one statement (a bulk
    suggestion or a roster has thousands): what :func:`undo` restores from."""
    record_many(
        conn,
        actor,
        (
            {
                "action": action,
                "entity_type": slot[0],
                "entity_id": slot[1],
                "before": {"rows": _public(before.get(slot, []))},
                "after": {"rows": _public(after.get(slot, []))},
                "detail": {**(detail or {}), "slot": slot_key(slot)},
                "change_id": change_id,
            }
            for slot in slots
        ),
    )


def _compare_rows(
    conn: Connection,
    current: Mapping[Slot, list[dict[str, Any]]],
    expected: Mapping[Slot, list[int]],
) -> None:
    stale = [s for s, ids in expected.items() if sorted(r["id"] for r in current[s]) != sorted(ids)]
    if stale:
        msg = (
            f"{_describe(stale[0])} {last_change(conn, [slot_key(s) for s in stale])} after you "
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
        current = current_rows(conn, slots)
        stale = [s for s, (_, after) in slots.items() if _content(current[s]) != _content(after)]
        if not stale:
            break
        later = [
            c
            for c in _later(conn, change_id, [slot_key(s) for s in stale])
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
    result = apply_change(
        conn,
        actor,
        action="undo",
        summary=f"undo of change {change_id} ({target.summary})",
        summary_args={"change": change_id},
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
    """Recent change sets (newest first), with what they touched, for the desk and the CLI.

    ``summary`` is in English; ``summary_args`` (a dict, empty for old changes) holds
    the names a page needs to say it in its own language.
    """
    frame = query_frame(
        conn,
        """
        SELECT c.id, c.actor, c.action, c.summary, c.created_at, c.undone_at, c.undone_by,
               c.undo_of, count(l.id) AS slots,
               (SELECT s.detail->'summary_args' FROM audit_log s WHERE s.change_id = c.id
                AND s.entity_type = 'change_set' ORDER BY s.id LIMIT 1) AS summary_args
        FROM change_sets c
        LEFT JOIN audit_log l ON l.change_id = c.id AND l.detail ? 'slot'
        LEFT JOIN road_segments s ON l.entity_type = 'segment' AND s.id = CAST(l.entity_id AS int)
        WHERE :all_offices OR s.street_office_id = ANY(:offices)
           OR (l.entity_type = 'street_office' AND CAST(l.entity_id AS int) = ANY(:offices))
        GROUP BY c.id ORDER BY c.id DESC LIMIT :limit""",
        {"limit": limit, **office_scope(street_office_ids)},
    )
    frame["summary_args"] = [a if isinstance(a, dict) else {} for a in frame["summary_args"]]
    return frame
