"""街长分配: one street head per segment, on a map, with suggestions, imports, notice
boards and an undoable history. Writes go through ``db.queries.assignments``."""

from __future__ import annotations

import html
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from app import data, ui
from app.guard import guarded
from app.i18n import TEXTS, current_lang, t
from app.maps import segment_map, selected_segment
from app.markup import escape_markdown, t_text
from app.session import page_actor, show_name, show_phone
from app.state import filters
from app.style import BOARD_CSS, inject_uploader_texts
from db.access import Actor
from gis.errors import ConflictError

#: Arguments of a change's summary that name people (masked for who may not read names).
_PEOPLE_ARGS = ("person", "supervisor")
SELECTED = "assign_selected"
SUGGESTION = "assign_suggestion"
DONE = "assign_done"
CONFLICT = "assign_conflict"
VIOLATIONS = "assign_violations"
RULES_AFTER = "assign_rules_after"


def _selected_from_map(result: dict[str, Any]) -> int | None:
    feature = result.get("last_active_drawing") or {}
    value = (feature.get("properties") or {}).get("id")
    return int(value) if value is not None else None


def _pick(segments: gpd.GeoDataFrame) -> None:
    st.caption(t("assign.pick_by"))
    c1, c2 = st.columns(2)
    roads = sorted(segments["road_name"].dropna().unique().tolist())
    road = c1.selectbox(t("assign.road"), [None, *roads], key="assign_road",
                        format_func=lambda r: "—" if r is None else r)  # fmt: skip
    if road is None:
        return
    on_road = segments.loc[segments["road_name"] == road]
    labels = dict(zip(on_road["id"].astype(int), on_road["label"], strict=True))
    chosen = c2.selectbox(t("assign.segment"), list(labels), key="assign_segment_pick",
                          format_func=labels.__getitem__)  # fmt: skip
    if chosen is not None and st.session_state.get("_assign_last_pick") != chosen:
        st.session_state["_assign_last_pick"] = chosen
        st.session_state[SELECTED] = int(chosen)


def _person_label(people: pd.DataFrame, actor: Actor) -> dict[int, str]:
    return {
        int(r.id): f"{show_name(actor, r.name)} · {show_phone(actor, r.phone) or ''}"
        for r in people.itertuples()
    }


def _office_heads(so: int | None) -> pd.DataFrame:
    """The level-1 and level-2 heads of a street office (none without one)."""
    from db.queries.assignments import office_heads

    with data.engine().connect() as conn:
        return office_heads(conn, street_office_ids=[] if so is None else [int(so)])


def _versioned_write(func: Any, *, seen: tuple[int, int] | None = None, **kwargs: Any) -> Any:
    """Run one write of ``db.queries.assignments``; a lost update becomes a message.

    ``seen`` is (segment id, version) of the form the planner filled in: the message
    then says which version they saw and which it is now.
    """
    try:
        with data.engine().begin() as conn:
            return func(conn, page_actor(), **kwargs)
    except ConflictError as exc:
        data.invalidate(data.segment_status)
        conflict: dict[str, Any] = {"detail": str(exc)}
        if seen is not None:
            from db.queries.assignments import segments_info

            with data.engine().connect() as conn:
                now = segments_info(conn, [seen[0]])[seen[0]].version
            conflict.update(seen=seen[1], now=int(now))
        st.session_state[CONFLICT] = conflict
        return None


def _after_write(result: Any, message: str) -> None:
    data.invalidate(data.segment_status, data.people, data.coverage_gaps)
    data.forget_jobs("big")
    st.session_state[DONE] = message
    violations = getattr(result, "violations", None)
    st.session_state[VIOLATIONS] = (
        violations if violations is not None and len(violations) else None
    )
    st.rerun()


def _desk(segment: pd.Series, people: pd.DataFrame, actor: Actor) -> None:
    from db.queries import assignments as writes

    st.markdown(f"**{escape_markdown(segment['label'])}**")
    st.caption(
        t_text(
            "assign.current",
            head=show_name(actor, segment["head"]) or t("assign.nobody"),
            supervisor=show_name(actor, segment["supervisor"]) or t("assign.nobody"),
            version=int(segment["version"]),
        )
    )
    if not actor.can("assign.write") or not actor.covers(segment["street_office_id"]):
        st.info(t("assign.readonly"))
        return
    labels = _person_label(people, actor)
    ids = [None, *labels]
    nobody = t("assign.nobody")
    head_now = None if pd.isna(segment["head_id"]) else int(segment["head_id"])
    sup_now = None if pd.isna(segment["supervisor_id"]) else int(segment["supervisor_id"])
    seg_id = int(segment["id"])
    lane = segment["kind"] == "lane"
    # Only a level-2 head of the segment's street office may supervise its street head.
    office = segment["street_office_id"]
    level2 = _office_heads(None if pd.isna(office) else int(office)).query("level == 2")
    sup_labels = {
        int(r.person_id): f"{show_name(actor, r.name)} · {show_phone(actor, r.phone) or ''}"
        for r in level2.itertuples()
    }
    sup_ids = [None, *sup_labels]
    if not lane and not sup_labels:
        st.caption(t("assign.supervisor.none_yet"))
    elif not lane and sup_now is not None and sup_now not in sup_labels:
        st.caption(
            t_text("assign.supervisor.not_level2", name=show_name(actor, segment["supervisor"]))
        )
    # The version the planner saw travels with the form: a lost update is refused.
    version = int(segment["version"])
    with st.form(f"assign_{seg_id}_{version}"):
        head = st.selectbox(
            t("assign.lane_head" if lane else "assign.head"), ids,
            index=ids.index(head_now) if head_now in ids else 0,
            format_func=lambda i: nobody if i is None else labels[i],
        )  # fmt: skip
        sup = None
        if not lane:
            sup = st.selectbox(
                t("assign.supervisor"), sup_ids,
                index=sup_ids.index(sup_now) if sup_now in sup_ids else 0,
                format_func=lambda i: nobody if i is None else sup_labels[i],
            )  # fmt: skip
        note = st.text_input(t("assign.note"), max_chars=200)
        saved = st.form_submit_button(t("assign.save"), type="primary")
    if not saved:
        return
    seen = (seg_id, version)
    if head is None:
        result = _versioned_write(writes.end_head, segment_id=seg_id, expected_version=version,
                                  role="lane_head" if lane else "street_head",
                                  seen=seen)  # fmt: skip
    elif lane:
        result = _versioned_write(writes.assign_lane_head, segment_id=seg_id, person_id=head,
                                  expected_version=version, seen=seen)  # fmt: skip
    else:
        result = _versioned_write(writes.assign_street_head, segment_id=seg_id, person_id=head,
                                  expected_version=version, supervisor_id=sup,
                                  note=note or None, seen=seen)  # fmt: skip
    if result is None:
        st.rerun()
    name = (
        t("assign.nobody")
        if head is None
        else show_name(actor, people.set_index("id").loc[head, "name"])
    )
    _after_write(result, t_text("assign.saved", label=segment["label"], head=name))


def _suggest(so: int | None, people: pd.DataFrame, actor: Actor) -> None:
    from db.queries import assignments as writes

    if so is None:
        st.info(t("assign.pick_so"))
        return
    labels = _person_label(people, actor)
    with st.form("assign_suggest"):
        chosen = st.multiselect(t("assign.suggest.people"), list(labels),
                                format_func=labels.__getitem__)  # fmt: skip
        lock = st.checkbox(t("assign.suggest.lock"), value=True)
        run = st.form_submit_button(t("assign.suggest.run"))
    if run:
        with data.engine().connect() as conn:
            suggestion, versions = writes.suggest(
                conn, street_office_id=so, people=chosen or None, lock_existing=lock
            )
        st.session_state[SUGGESTION] = (so, suggestion, versions)
        st.rerun()
    held = st.session_state.get(SUGGESTION)
    if not held or held[0] != so:
        return
    _so, suggestion, versions = held
    st.info(t("assign.suggest.result", n=len(suggestion.assignment),
              ratio=suggestion.max_over_mean))  # fmt: skip
    heads = suggestion.heads.assign(
        name=[
            show_name(actor, people.set_index("id")["name"].get(p)) for p in suggestion.heads.index
        ]
    )
    ui.table(heads, {"name": "col.head", "n_segments": "assign.col.n_segments",
                     "length_m": "col.length_m", "workload": "assign.col.workload",
                     "ratio": "assign.col.ratio", "pieces": "assign.col.pieces"})  # fmt: skip
    c1, c2 = st.columns(2)
    if actor.can("assign.write") and c1.button(t("assign.suggest.accept"), type="primary",
                                               key="assign_accept"):  # fmt: skip
        assignment = {int(k): int(v) for k, v in suggestion.assignment["person_id"].items()}
        result = _versioned_write(writes.apply_suggestion, street_office_id=so,
                                  assignment=assignment, expected_versions=versions)  # fmt: skip
        st.session_state.pop(SUGGESTION, None)
        if result is None:
            st.rerun()
        _after_write(result, t("assign.suggest.accepted", change=result.change_id))
    if c2.button(t("assign.suggest.reject"), key="assign_reject"):
        st.session_state.pop(SUGGESTION, None)
        st.session_state[DONE] = t("assign.suggest.rejected")
        st.rerun()


def _reporting_line(so: int | None, people: pd.DataFrame, actor: Actor) -> None:
    """The office's 总街长 and 二级街长: appoint or dismiss a 二级街长, and set whom a level-3
    head reports to. Each is one change, audited and undoable like any other."""
    from db.queries import assignments as writes

    if so is None:
        st.info(t("assign.pick_so"))
        return
    heads = _office_heads(so)
    if len(heads):
        shown = heads.assign(
            name=[show_name(actor, n) for n in heads["name"]],
            phone=[show_phone(actor, p) for p in heads["phone"]],
            supervisor=[show_name(actor, n) for n in heads["supervisor"]],
            level=[t(f"assign.level.{lv}") for lv in heads["level"]],
        )
        ui.table(shown, {"level": "assign.col.level", "name": "col.name", "phone": "col.phone",
                         "supervisor": "assign.col.reports_to"})  # fmt: skip
    else:
        st.caption(t("assign.heads.none"))
    if not actor.can("assign.write") or not actor.covers(so):
        st.info(t("assign.readonly"))
        return
    names = _person_label(people, actor)
    level2 = {int(r.person_id): names.get(int(r.person_id), show_name(actor, r.name) or "")
              for r in heads.itertuples() if r.level == 2}  # fmt: skip
    first = heads.loc[heads["level"] == 1, "person_id"].tolist()
    with st.form("assign_appoint"):
        st.caption(t("assign.heads.appoint"))
        person = st.selectbox(t("assign.heads.person"), [p for p in names if p not in level2],
                              format_func=names.__getitem__, index=None,
                              key="assign_appoint_person")  # fmt: skip
        appoint = st.form_submit_button(t("assign.heads.appoint.run"), key="assign_appoint")
    if appoint and person is not None:
        result = _versioned_write(writes.appoint_office_head, street_office_id=so,
                                  person_id=int(person), level=2,
                                  supervisor_id=first[0] if len(first) == 1 else None)  # fmt: skip
        if result is None:
            st.rerun()
        name = show_name(actor, people.set_index("id").loc[person, "name"])
        _after_write(result, t_text("assign.heads.appointed", name=name))
    _line_form(so, level2, people, actor)
    if level2:
        with st.form("assign_dismiss"):
            st.caption(t("assign.heads.dismiss"))
            gone = st.selectbox(t("assign.heads.person"), list(level2),
                                format_func=level2.__getitem__, index=None,
                                key="assign_dismiss_person")  # fmt: skip
            dismiss = st.form_submit_button(t("assign.heads.dismiss.run"), key="assign_dismiss")
        if dismiss and gone is not None:
            result = _versioned_write(writes.end_office_head, street_office_id=so,
                                      person_id=int(gone), level=2)  # fmt: skip
            if result is None:
                st.rerun()
            name = show_name(actor, heads.set_index("person_id").loc[gone, "name"])
            _after_write(result, t_text("assign.heads.dismissed", name=name))


def _line_form(so: int, level2: dict[int, str], people: pd.DataFrame, actor: Actor) -> None:
    """Set whom one of the office's level-3 heads reports to (on all their segments)."""
    from db.queries import assignments as writes

    with data.engine().connect() as conn:
        third = writes.level3_heads(conn, street_office_id=so)
    if not len(third):
        st.caption(t("assign.heads.no_level3"))
        return
    nobody = t("assign.nobody")
    current = dict(zip(third["person_id"].astype(int), third["supervisor_ids"], strict=True))
    known = people.set_index("id")["name"]

    def sup_name(i: int | None) -> str:
        return nobody if i is None else show_name(actor, known.get(int(i), f"#{i}")) or ""

    labels = {
        int(r.person_id): f"{show_name(actor, r.name)} → "
        + ", ".join(sup_name(i) for i in r.supervisor_ids)
        for r in third.itertuples()
    }
    with st.form("assign_line"):
        st.caption(t("assign.heads.line"))
        head = st.selectbox(t("assign.heads.level3"), list(labels),
                            format_func=labels.__getitem__, index=None,
                            key="assign_line_head")  # fmt: skip
        sup = st.selectbox(t("assign.supervisor"), [None, *level2],
                           format_func=lambda i: nobody if i is None else level2[i],
                           key="assign_line_sup")  # fmt: skip
        save = st.form_submit_button(t("assign.heads.line.run"), key="assign_line")
    if not save or head is None:
        return
    # The supervisors the planner saw travel with the form: a change meanwhile is refused.
    result = _versioned_write(writes.set_supervisor, person_id=int(head), supervisor_id=sup,
                              expected_supervisor_id=frozenset(current[head]))  # fmt: skip
    if result is None:
        st.rerun()
    name = show_name(actor, third.set_index("person_id").loc[head, "name"])
    _after_write(result, t_text("assign.heads.line.saved", name=name,
                                supervisor=sup_name(sup)))  # fmt: skip


def _import(actor: Actor) -> None:
    import tempfile
    from pathlib import Path

    from etl.load import load_file
    from etl.uploads import check_upload

    if not actor.can("assign.write"):
        st.info(t("assign.readonly"))
        return
    from citygrid.settings import get_settings

    max_mb = get_settings().max_upload_mb
    if current_lang() == "zh":
        inject_uploader_texts(browse=t("upload.browse"))
    file = st.file_uploader(t("assign.import.file", mb=max_mb), type=["xlsx", "csv"],
                            key="assign_file", max_upload_size=max_mb)  # fmt: skip
    if file is None or not st.button(t("assign.import.run"), key="assign_import"):
        return
    raw = file.getvalue()
    checked = check_upload(file.name, len(raw), raw, allowed_types=("xlsx", "csv"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{checked.suffix}"
        path.write_bytes(raw)
        report = load_file(data.engine(), "assignments", path, actor=actor, file_name=checked.name)
    if report.status == "done":
        from gis.assignment import describe_counts

        counts = report.rule_counts
        st.session_state[RULES_AFTER] = (
            t("assign.import.rules", summary=describe_counts(counts, lang=current_lang()))
            if counts
            else t("assign.import.rules_ok")
        )
    _after_write(
        None,
        t("data.upload.done", read=report.n_read, inserted=report.n_inserted,
          updated=report.n_updated, unchanged=report.n_unchanged, rejected=report.n_rejected),
    )  # fmt: skip


def _boards(so: tuple[int, ...] | None, actor: Actor, selected: int | None) -> None:
    from db.queries.assignments import board_rows
    from reports.boards import make_boards

    if not actor.can("report.export"):
        st.info(t("assign.readonly"))
        return
    lang = current_lang()
    with data.engine().connect() as conn:
        rows = board_rows(conn, actor, street_office_ids=so)
    if rows.empty:
        st.info(t("empty.no_segments"))
        return
    # The preview says what the boards will print, in the page's language.
    boards = make_boards(rows, hotline=data.settings().hotline, lang=lang)
    st.caption(t("assign.boards.preview"))
    st.dataframe(pd.DataFrame([dict(b.lines()) for b in boards]), hide_index=True, height=280)
    chosen = next((b for b in boards if b.segment_id == selected), boards[0])
    st.html(_board_card(chosen))
    c1, c2 = st.columns(2)
    for col, fmt, label in ((c1, "xlsx", "assign.boards.xlsx"), (c2, "pdf", "assign.boards.pdf")):
        if col.button(t(label), key=f"boards_make_{fmt}"):
            _export_boards(fmt, so, actor)
        ready = st.session_state.get(f"boards_{fmt}")
        if ready is not None:
            col.download_button(f"⬇ {ready.file_name}", ready.data, file_name=ready.file_name,
                                mime=ready.media_type, key=f"boards_dl_{fmt}")  # fmt: skip


def _board_card(board: Any) -> str:
    """One notice board as it prints (labels in its language, every value escaped)."""
    from reports.boards import TEXT

    rows = "".join(
        f"<tr><th>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"
        for label, value in board.lines()
    )
    title = TEXT[board.lang][f"title.{board.kind}"]
    duties = "".join(f"<li>{html.escape(d)}</li>" for d in board.duties())
    return (
        f'{BOARD_CSS}<div class="cg-board"><h4>{html.escape(title)}</h4><table>{rows}</table>'
        f"<ul>{duties}</ul></div>"
    )


def _export_boards(fmt: str, so: tuple[int, ...] | None, actor: Actor) -> None:
    """Notice boards through ``db.queries.assignments.export_boards``: permission, masking
    and the audit row are decided there, for every screen and command alike."""
    from db.queries.assignments import export_boards

    with data.engine().begin() as conn:
        made = export_boards(
            conn, actor, fmt=fmt, hotline=data.settings().hotline, lang=current_lang(),
            street_office_ids=so,
        )  # type: ignore[arg-type]  # fmt: skip
    st.session_state[f"boards_{fmt}"] = made


def _history(so: tuple[int, ...] | None, actor: Actor) -> None:
    from db.queries.assignments import history, undo

    with data.engine().connect() as conn:
        changes = history(conn, street_office_ids=so, limit=30)
    if not len(changes):
        st.caption(t("assign.history.empty"))
        return
    changes["summary"] = [
        _summary(action, args, summary, actor)
        for action, args, summary in zip(
            changes["action"], changes["summary_args"], changes["summary"], strict=True
        )
    ]
    ui.table(changes, {"id": "col.code", "created_at": "col.when", "actor": "col.who",
                       "action": "col.action", "summary": "col.summary"})  # fmt: skip
    open_changes = changes.loc[changes["undone_at"].isna() & changes["undo_of"].isna(), "id"]
    if not actor.can("assign.write") or not len(open_changes):
        return
    c1, c2 = st.columns([3, 1])
    chosen = c1.selectbox(t("col.code"), open_changes.tolist(), key="assign_undo_pick")
    if c2.button(t("assign.history.undo"), key="assign_undo"):
        result = _versioned_write(undo, change_id=int(chosen))
        if result is None:
            st.rerun()
        _after_write(result, t("assign.history.undone", change=chosen))


def _summary(action: str, args: dict[str, Any], english: str, actor: Actor) -> str:
    """A change's summary in the page's language, people's names as ``actor`` may see them
    (the stored English one for changes saved before summaries kept their values)."""
    key = f"assign.summary.{action}"
    if key not in TEXTS[current_lang()] or not args:
        return english
    values = {
        k: (t("assign.nobody") if v is None else show_name(actor, v)) if k in _PEOPLE_ARGS else v
        for k, v in args.items()
    }
    try:
        return t(f"assign.summary.{action}", **values)
    except (KeyError, IndexError):  # a change saved with other values than this text names
        return english


def _rules(so: tuple[int, ...] | None) -> None:
    from db.queries.assignments import check

    if not st.button(t("assign.rules.run"), key="assign_rules"):
        return
    with data.engine().connect() as conn:
        found = check(conn, street_office_ids=so)
    if not len(found):
        st.success(t("assign.rules.ok"))
        return
    reason = "reason_zh" if current_lang() == "zh" else "reason_en"
    ui.table(found, {"code": "col.rule", "severity": "col.class", reason: "col.reason"})


def _messages() -> None:
    done = st.session_state.pop(DONE, None)
    if done:
        st.success(done)
    conflict = st.session_state.pop(CONFLICT, None)
    if conflict:
        if "seen" in conflict:
            st.error(t("assign.conflict", seen=conflict["seen"], now=conflict["now"]))
        else:
            st.error(t("assign.conflict.other"))
        st.caption(escape_markdown(conflict["detail"]))
    violations = st.session_state.pop(VIOLATIONS, None)
    if violations is not None:
        st.warning(t("assign.violations", n=len(violations)))
    rules = st.session_state.pop(RULES_AFTER, None)
    if rules:
        st.warning(rules)


@guarded
def page() -> None:
    """The assignment desk."""
    actor = page_actor()
    st.title(t("assign.title"))
    if not ui.has_data():
        return
    f = filters()
    key = f.scope_key(actor)
    so_ids = key[0]
    if so_ids is None and ui.large_district():
        st.info(t("assign.pick_so"))
        return
    segments = data.segment_status(key)
    if not len(segments):
        st.info(t("empty.no_segments"))
        return
    _messages()
    counts = segments["status"].value_counts()
    st.caption(
        t(
            "assign.counts",
            total=len(segments),
            assigned=int(counts.get("assigned", 0)),
            unassigned=int(counts.get("unassigned", 0)),
            conflict=int(counts.get("conflict", 0)),
        )
    )
    people = data.people(key)
    one_so = so_ids[0] if so_ids is not None and len(so_ids) == 1 else None
    held = st.session_state.get(SUGGESTION)
    suggestion = None
    if held and held[0] == one_so:
        names = people.set_index("id")["name"]
        suggestion = held[1].assignment["person_id"].map(lambda p: show_name(actor, names.get(p)))
    left, right = st.columns([3, 2], gap="medium")
    selected = st.session_state.get(SELECTED)
    with left:
        shown = segments.assign(head=[show_name(actor, h) for h in segments["head"]])
        style = ui.map_style()
        m = segment_map(
            shown,
            data.outlines("community", key, 10.0),
            style=style,
            suggestion=suggestion,
            view_key=f"assign:{key}",
        )
        result = ui.show_map(
            m,
            key="assign_map",
            height=620,
            returned_objects=["last_active_drawing"],
            overlay=selected_segment(shown, selected, style=style),
        )
        clicked = _selected_from_map(result)
        if clicked is not None and clicked != st.session_state.get("_assign_last_click"):
            st.session_state["_assign_last_click"] = clicked
            st.session_state[SELECTED] = clicked
            st.rerun()
    with right:
        tabs = st.tabs([t(f"assign.tab.{k}") for k in ("desk", "heads", "suggest", "import",
                                                        "boards", "history", "rules")])  # fmt: skip
        with tabs[0]:
            _pick(segments)
            chosen = segments.loc[segments["id"] == st.session_state.get(SELECTED)]
            if len(chosen):
                guarded(_desk)(chosen.iloc[0], people, actor)
            else:
                st.info(t("assign.none_selected"))
        with tabs[1]:
            guarded(_reporting_line)(one_so, people, actor)
        with tabs[2]:
            guarded(_suggest)(one_so, people, actor)
        with tabs[3]:
            guarded(_import)(actor)
        with tabs[4]:
            guarded(_boards)(so_ids, actor, st.session_state.get(SELECTED))
        with tabs[5]:
            guarded(_history)(so_ids, actor)
        with tabs[6]:
            guarded(_rules)(so_ids)


page()
