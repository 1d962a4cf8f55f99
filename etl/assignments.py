"""Rosters: who answers for which segment, lane, cell, market or shop.

A roster names its targets the way planners write them (``道路, 起点, 终点``: road,
from, to), or by segment code, or by target type and code. Heads and supervisors
are matched to ``people`` (created when new); a new head for a target ends the
previous active assignment (``valid_to``) instead of deleting history; loading
the same roster twice changes nothing. Rosters are read whole: they hold thousands
of rows, not millions.

A load that changes assignments is one change set, audited slot by slot like a
change at the assignment desk, so it can be undone the same way; it raises the
version of every segment it changes, so a planner's form drawn before the load is
refused rather than written over it. The rules are checked afterwards in the street
offices the roster names, and the violations counted in the report.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.audit import record
from db.queries.assignment_changes import (
    bump_versions,
    changed_slots,
    record_change_set,
    record_slots,
    target_rows,
)
from etl.assignment_targets import area_check, resolve_targets
from etl.columns import header_matcher, resolve_columns
from etl.prepare import Context, Rows, parse_columns
from etl.readers import RawChunk, iter_chunks, open_source
from etl.values import Issues
from gis.errors import DataError

if TYPE_CHECKING:
    from etl.load import LoadReport, _Run


def load_roster(
    run: _Run,
    *,
    sheet: str | int | None,
    encoding: str | None,
    mapping: Any,
    strict: bool,
) -> LoadReport:
    """Load a roster into ``assignments`` (and ``people``) within ``run``."""
    from etl.load import _looks_like_header

    spec = run.spec
    headers = header_matcher(spec)
    source = open_source(
        run.path,
        encoding=encoding,
        sheet=sheet,
        is_header=lambda cells: _looks_like_header(cells, headers),
    )
    run.messages.extend(source.notes)
    columns = resolve_columns(spec, source.columns, mapping=mapping, file_name=run.file_name)
    run.ignored = columns.ignored
    has = columns.columns
    if not ({"road_name"} <= has.keys() or "segment_code" in has or "target_code" in has):
        msg = (
            f"{run.file_name} does not say what each person answers for: give a road column "
            "(道路, with 起点/终点), a segment_code column, or target_type + target_code; "
            f"columns are: {', '.join(source.columns)}"
        )
        raise DataError(msg)
    chunks = list(iter_chunks(source, chunk_rows=1_000_000))
    raw = _concat(chunks, source.columns)
    n = raw.table.num_rows
    rows = Rows(n=n, values={}, issues=Issues(n))
    ctx = Context(
        spec=spec,
        columns=columns,
        srid=run.srid,
        run_id=run.run_id,
        timezone=run.settings.timezone,
    )
    parse_columns(ctx, raw, rows)
    frame = pd.DataFrame({k: v.to_pandas() for k, v in rows.values.items()})
    frame["row_no"] = raw.row_no
    run.counts["n_read"] = n
    with run.data() as conn:
        # The desk locks segment rows, then assignment rows: take both tables in that
        # order, and in a mode that waits for (and holds off) its row locks, so the two
        # never deadlock.
        conn.execute(sa.text("LOCK TABLE road_segments, assignments IN EXCLUSIVE MODE"))
        conn.execute(sa.text("LOCK TABLE people IN SHARE ROW EXCLUSIVE MODE"))
        resolve_targets(conn, frame, rows.issues)
        area_check(run, frame, rows.issues)
        _duplicates(frame, rows.issues)
        keys = frame["target_key"].to_numpy(dtype=object)
        run.sink.add(rows.issues.frame(raw.row_no, keys))
        good = frame.loc[~rows.issues.bad].copy()
        if strict and run.sink.rows_rejected:
            return run.reject_file(conn)
        issues = _write(conn, run, good)
        run.sink.add(issues)
        if strict and run.sink.rows_rejected:
            return run.reject_file(conn)
        nothing = n > 0 and run.sink.rows_rejected == n
        if not nothing:
            _check_rules(conn, run, good)
        run.finish(conn, "rejected" if nothing else "done")
        conn.commit()
    return run.report()


def _check_rules(conn: Connection, run: _Run, good: pd.DataFrame) -> None:
    """Check the rules in the street offices the roster names; count what breaks them."""
    from db.queries.assignment_state import check
    from gis.assignment import describe_counts, violation_counts

    offices = sorted({int(o) for o in good["target_office"] if pd.notna(o) and o >= 0})
    if not offices:
        return
    counts = violation_counts(check(conn, street_office_ids=offices))
    run.rule_counts = counts
    where = f"{len(offices)} street office{'s' if len(offices) > 1 else ''} of the roster"
    if not counts:
        run.messages.append(f"rule check after the load: every rule holds in the {where}")
        return
    run.messages.append(
        f"rule check after the load, in the {where}: {describe_counts(counts, lang='en')}; "
        "list them with `citygrid assign check`"
    )


def _concat(chunks: list[RawChunk], columns: list[str]) -> RawChunk:
    if not chunks:
        empty = pa.table({c: pa.array([], pa.string()) for c in columns})
        return RawChunk(empty, np.zeros(0, dtype=np.int64))
    table = pa.concat_tables([c.table for c in chunks])
    return RawChunk(table, np.concatenate([c.row_no for c in chunks]))


def _phone(series: pd.Series) -> pd.Series:
    digits = series.astype("string").str.replace(r"[^\d+]", "", regex=True)
    return digits.where(digits.str.len() > 0)


def _slot(frame: pd.DataFrame) -> pd.Series:
    """Each row's slot: target, role and level (a slot may have several holders)."""
    level = pd.to_numeric(frame["level"], errors="coerce").fillna(0).astype(int).astype(str)
    return (
        frame["target_type"].astype(str)
        + ":"
        + frame["target_id"].astype(str)
        + ":"
        + frame["role"].astype(str)
        + ":"
        + level
    )


def _duplicates(frame: pd.DataFrame, issues: Issues) -> None:
    """Reject a row giving the same person the same slot as an earlier row."""
    ok = ~issues.bad
    key = _slot(frame) + ":" + frame["name"].astype(str) + "|" + _phone(frame["phone"]).fillna("")
    first = frame.loc[ok].groupby(key[ok])["row_no"].transform("min")
    later = np.zeros(len(frame), dtype=bool)
    reasons = np.full(len(frame), None, dtype=object)
    idx = np.flatnonzero(ok)
    dup = frame.loc[ok, "row_no"].to_numpy() != first.to_numpy()
    later[idx[dup]] = True
    reasons[idx[dup]] = [
        f"the same person, target, role and level is already given at row {r}"
        for r in first.to_numpy()[dup]
    ]
    issues.add(later, "duplicate_key", reasons, field="target")


def _write(conn: Connection, run: _Run, good: pd.DataFrame) -> pd.DataFrame:
    """People and assignments; returns rows rejected while writing."""
    from etl.values import empty_issue_frame

    if good.empty:
        return empty_issue_frame()
    good = good.copy()
    good["phone"] = _phone(good["phone"])
    good["supervisor_phone"] = _phone(good["supervisor_phone"])
    good["person_key"] = good["name"] + "|" + good["phone"].fillna("")
    people = pd.read_sql_query(sa.text("SELECT id, person_key, name FROM people"), conn)
    heads = good[["person_key", "name", "phone", "target_office"]].drop_duplicates("person_key")
    sup_keys, ambiguous = _supervisor_keys(good, heads, people)
    issues = []
    if ambiguous.any():
        bad = good.loc[ambiguous]
        issues.append(
            pd.DataFrame(
                {
                    "row_no": bad["row_no"].to_numpy(),
                    "natural_key": bad["target_key"].to_numpy(),
                    "reason_code": "ambiguous_person",
                    "reason": "several people have this supervisor name; add the supervisor's phone",
                    "field": "supervisor",
                    "value": bad["supervisor"].to_numpy(),
                    "loaded": False,
                }
            )
        )
        good = good.loc[~ambiguous]
        sup_keys = sup_keys[~ambiguous]
    good["supervisor_key"] = sup_keys
    wanted = pd.concat(
        [
            heads,
            pd.DataFrame(
                {
                    "person_key": good["supervisor_key"],
                    "name": good["supervisor"],
                    "phone": good["supervisor_phone"],
                    "target_office": -1,
                }
            ).dropna(subset=["person_key"]),
        ]
    ).drop_duplicates("person_key")
    created = _create_people(conn, run, wanted, people)
    ids = dict(
        conn.execute(
            sa.text("SELECT person_key, id FROM people WHERE person_key = ANY(:k)"),
            {"k": list(wanted["person_key"])},
        ).all()
    )
    good["person_id"] = good["person_key"].map(ids)
    good["supervisor_id"] = good["supervisor_key"].map(ids)
    summary = f"roster {run.file_name} (load run {run.run_id})"
    change_id = conn.scalar(
        sa.text(
            "INSERT INTO change_sets (actor, action, summary) VALUES (:a, 'load.assignments', :s) "
            "RETURNING id"
        ),
        {"a": run.actor.username, "s": summary},
    )
    targets = set(zip(good["target_type"], good["target_id"].astype(int), strict=True))
    before = target_rows(conn, targets)
    issues.extend(_apply(conn, run, good, change_id))
    after = target_rows(conn, targets)
    slots = changed_slots(before, after)
    if slots:
        record_change_set(
            conn,
            run.actor,
            action="load.assignments",
            change_id=change_id,
            summary=summary,
            summary_args={"file": run.file_name, "run": run.run_id},
            slots=len(slots),
        )
        record_slots(
            conn,
            run.actor,
            action="load.assignments",
            change_id=change_id,
            before=before,
            after=after,
            slots=slots,
            detail={"load_run": run.run_id},
        )
        bump_versions(conn, (s[1] for s in slots if s[0] == "segment"))
    else:  # nothing changed: no change set to list, or to offer for undo
        conn.execute(
            sa.text(
                "DELETE FROM change_sets c WHERE c.id = :c "
                "AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.change_id = c.id) "
                "AND NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.change_id = c.id)"
            ),
            {"c": change_id},
        )
    if created:
        run.messages.append(f"{created} people were new and were added to the people layer")
    return pd.concat(issues, ignore_index=True) if issues else empty_issue_frame()


def _supervisor_keys(
    good: pd.DataFrame, heads: pd.DataFrame, people: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Person key of each row's supervisor (None when there is none) and ambiguous rows."""
    keys = np.full(len(good), None, dtype=object)
    ambiguous = np.zeros(len(good), dtype=bool)
    known = pd.concat(
        [heads[["person_key", "name"]], people[["person_key", "name"]]]
    ).drop_duplicates()
    by_name = known.groupby("name")["person_key"].agg(list)
    for k, (name, phone) in enumerate(
        zip(good["supervisor"], good["supervisor_phone"], strict=True)
    ):
        if pd.isna(name):
            continue
        if pd.notna(phone):
            keys[k] = f"{name}|{phone}"
            continue
        matches = by_name.get(name, [])
        if len(matches) == 1:
            keys[k] = matches[0]
        elif len(matches) > 1:
            ambiguous[k] = True
        else:
            keys[k] = f"{name}|"
    return keys, ambiguous


def _create_people(conn: Connection, run: _Run, wanted: pd.DataFrame, people: pd.DataFrame) -> int:
    new = wanted.loc[~wanted["person_key"].isin(people["person_key"])]
    for r in new.itertuples():
        office = (
            int(r.target_office) if pd.notna(r.target_office) and r.target_office >= 0 else None
        )
        pid = conn.scalar(
            sa.text(
                "INSERT INTO people (person_key, name, phone, street_office_id, load_run_id) "
                "VALUES (:k, :n, :p, :o, :run) RETURNING id"
            ),
            {
                "k": r.person_key,
                "n": r.name,
                "p": None if pd.isna(r.phone) else r.phone,
                "o": office,
                "run": run.run_id,
            },
        )
        record(
            conn,
            run.actor,
            "person.create",
            entity_type="person",
            entity_id=pid,
            after={"name": r.name, "phone": None if pd.isna(r.phone) else r.phone},
            detail={"load_run": run.run_id},
        )
    return len(new)


def _apply(conn: Connection, run: _Run, good: pd.DataFrame, change_id: int) -> list[pd.DataFrame]:
    """Make the roster's holders the active holders of each slot it names; count changes.

    A slot is a target, a role and a level. Its holders in the roster stay (unchanged),
    are re-recorded (their supervisor changed: updated), or are added; holders of that
    slot the roster does not name are ended (``valid_to``), never deleted. A slot given
    two level-3 street heads keeps both: the rules checks then list it as a conflict.
    """
    active = pd.read_sql_query(
        sa.text(
            "SELECT id, target_type, target_id, role, person_id, level, supervisor_id, valid_from "
            "FROM assignments WHERE valid_to IS NULL"
        ),
        conn,
    )
    old_by_slot: dict[str, dict[int, Any]] = {}
    for o, slot in zip(active.itertuples(), _slot(active), strict=True):
        old_by_slot.setdefault(slot, {})[int(o.person_id)] = o
    # The transaction's time, as the desk's writes and ``ACTIVE`` use: rows started now
    # are active at once, inside this transaction too.
    now = conn.execute(sa.text("SELECT now()")).scalar_one()
    counts = {"inserted": 0, "updated": 0, "unchanged": 0, "ended": 0}
    rejected: list[dict[str, Any]] = []
    good = good.assign(_slot=_slot(good).to_numpy())
    conflicts = 0
    for slot, rows in good.groupby("_slot", sort=False):
        olds = dict(old_by_slot.get(str(slot), {}))
        fresh: list[Any] = []
        for r in rows.itertuples():
            old = olds.pop(int(r.person_id), None)
            if old is None:
                fresh.append(r)
            elif _int_or_none(old.supervisor_id) == _int_or_none(r.supervisor_id):
                counts["unchanged"] += 1
            elif _replace(conn, run, r, old, change_id=change_id, now=now, rejected=rejected):
                counts["updated"] += 1
        leftover = list(olds.values())
        for r in fresh:
            old = leftover.pop(0) if leftover else None
            if _replace(conn, run, r, old, change_id=change_id, now=now, rejected=rejected):
                counts["updated" if old is not None else "inserted"] += 1
        for old in leftover:  # holders the roster no longer names
            end = max(now, pd.Timestamp(old.valid_from).to_pydatetime())
            _end(conn, run, int(old.id), end)
            record(
                conn,
                run.actor,
                "assignment.end",
                entity_type="assignment",
                entity_id=int(old.id),
                before={
                    "person_id": int(old.person_id),
                    "level": _int_or_none(old.level),
                    "supervisor_id": _int_or_none(old.supervisor_id),
                },
                detail={"load_run": run.run_id, "reason": "not in the roster for this target"},
                change_id=change_id,
            )
            counts["ended"] += 1
        first = rows.iloc[0]
        if first["role"] == "street_head" and first["target_type"] == "segment" and len(rows) > 1:
            conflicts += 1
    run.counts.update(
        n_inserted=counts["inserted"],
        n_updated=counts["updated"] + counts["ended"],
        n_unchanged=counts["unchanged"],
    )
    if counts["ended"]:
        run.messages.append(
            f"{counts['ended']} assignments were ended: the roster names other holders "
            "for their targets"
        )
    if conflicts:
        run.messages.append(
            f"{conflicts} segments are given two or more street heads of one level; all were "
            "loaded and are listed as conflicts (citygrid assign check)"
        )
    return [pd.DataFrame(rejected)] if rejected else []


def _int_or_none(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _end(conn: Connection, run: _Run, assignment_id: int, when: dt.datetime) -> None:
    conn.execute(
        sa.text("UPDATE assignments SET valid_to = :t, ended_by = :by WHERE id = :id"),
        {"t": when, "by": run.actor.username, "id": assignment_id},
    )


def _replace(
    conn: Connection,
    run: _Run,
    r: Any,
    old: Any,
    *,
    change_id: int,
    now: dt.datetime,
    rejected: list[dict[str, Any]],
) -> bool:
    """End ``old`` (if any) and record row ``r``; False when the dates forbid it."""
    level = _int_or_none(r.level)
    sup = _int_or_none(r.supervisor_id)
    start = now if pd.isna(r.valid_from) else pd.Timestamp(r.valid_from, tz="UTC").to_pydatetime()
    after = {"person_id": int(r.person_id), "level": level, "supervisor_id": sup}
    before = None
    if old is not None:
        if pd.Timestamp(old.valid_from) > pd.Timestamp(start):
            rejected.append(
                {
                    "row_no": r.row_no,
                    "natural_key": r.target_key,
                    "reason_code": "inconsistent_dates",
                    "reason": "valid_from is before the start of the current assignment "
                    f"({pd.Timestamp(old.valid_from):%Y-%m-%d})",
                    "field": "valid_from",
                    "value": str(r.valid_from),
                    "loaded": False,
                }
            )
            return False
        before = {
            "person_id": int(old.person_id),
            "level": _int_or_none(old.level),
            "supervisor_id": _int_or_none(old.supervisor_id),
        }
        _end(conn, run, int(old.id), start)
    new_id = conn.scalar(
        sa.text(
            """
            INSERT INTO assignments (person_id, target_type, target_id, role, level,
                supervisor_id, valid_from, assigned_by, change_id, load_run_id)
            VALUES (:p, :tt, :tid, :role, :lv, :sup, :vf, :by, :cs, :run) RETURNING id
            """
        ),
        {
            "p": int(r.person_id),
            "tt": r.target_type,
            "tid": int(r.target_id),
            "role": r.role,
            "lv": level,
            "sup": sup,
            "vf": start,
            "by": run.actor.username,
            "cs": change_id,
            "run": run.run_id,
        },
    )
    record(
        conn,
        run.actor,
        "assignment.load",
        entity_type="assignment",
        entity_id=new_id,
        before=before,
        after={**after, "target": r.target_key, "role": r.role},
        change_id=change_id,
    )
    return True
