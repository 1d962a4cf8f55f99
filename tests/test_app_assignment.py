"""The assignment desk in AppTest: assign, conflict, suggest, history and undo, rules."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.data import engine
from app.markup import escape_markdown
from tests.browser_support import app_db, app_test  # noqa: F401

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("app_db")]


def _office_with_unassigned() -> tuple[int, int]:
    """A street office and one of its street segments with no active street head."""
    with engine().connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT s.street_office_id, s.id FROM road_segments s WHERE s.kind = 'street' "
                "AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.target_type = 'segment' "
                "AND a.target_id = s.id AND a.valid_to IS NULL) ORDER BY s.id LIMIT 1"
            )
        ).one()
    return int(row[0]), int(row[1])


def _heads(segment_id: int) -> list[int]:
    with engine().connect() as conn:
        return list(
            conn.scalars(
                sa.text(
                    "SELECT person_id FROM assignments WHERE target_type = 'segment' "
                    "AND target_id = :s AND valid_to IS NULL AND role = 'street_head'"
                ),
                {"s": segment_id},
            )
        )


def _desk(so: int, segment_id: int, lang: str = "zh"):  # type: ignore[no-untyped-def]
    at = app_test(run=False)
    at.session_state["lang"] = lang
    at.session_state["f_street_office"] = so
    at.session_state["assign_selected"] = segment_id
    at.run()
    at.switch_page("views/assignment.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def test_assign_a_head_then_undo_it() -> None:
    so, seg = _office_with_unassigned()
    at = _desk(so, seg)
    form_head = next(s for s in at.selectbox if s.label == "三级街长")
    person = form_head.options[1]
    form_head.select(person)
    next(b for b in at.button if b.label == "保存分配").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success and at.success[0].value.startswith("已保存")
    assert len(_heads(seg)) == 1
    with engine().connect() as conn:
        change = conn.scalar(sa.text("SELECT max(id) FROM change_sets"))
        audited = conn.scalar(
            sa.text("SELECT count(*) FROM audit_log WHERE change_id = :c"), {"c": change}
        )
    assert audited >= 1  # who, when, before and after
    at.selectbox(key="assign_undo_pick").set_value(change)
    at.button(key="assign_undo").click().run()
    assert not at.exception and not at.error
    assert _heads(seg) == []


def test_a_stale_form_gets_a_conflict_not_a_lost_update() -> None:
    from db.access import SYSTEM
    from db.queries.assignments import assign_street_head

    so, seg = _office_with_unassigned()
    at = _desk(so, seg)
    form_head = next(s for s in at.selectbox if s.label == "三级街长")
    mine = form_head.options[1]
    with engine().connect() as conn:
        version = conn.scalar(
            sa.text("SELECT version FROM road_segments WHERE id = :s"), {"s": seg}
        )
        other = conn.scalar(sa.text("SELECT id FROM people WHERE active ORDER BY id DESC LIMIT 1"))
    # another planner saves first
    with engine().begin() as conn:
        assign_street_head(conn, SYSTEM, segment_id=seg, person_id=other, expected_version=version)
    form_head.select(mine)
    next(b for b in at.button if b.label == "保存分配").click().run()
    assert not at.exception
    assert at.error and at.error[0].value.startswith("保存失败")
    # the versions the planner saw and the one it is now, never an empty "版本 ）"
    assert f"您看到的是版本 {version}，现为版本 {version + 1}）" in at.error[0].value
    assert _heads(seg) == [other]  # theirs stands; mine was not written


def _exports(lang: str) -> int:
    with engine().connect() as conn:
        return int(
            conn.scalar(
                sa.text(
                    "SELECT count(*) FROM audit_log WHERE action = 'export.boards' "
                    "AND detail->>'language' = :l"
                ),
                {"l": lang},
            )
        )


def test_rule_check_and_notice_boards() -> None:
    so, seg = _office_with_unassigned()
    at = _desk(so, seg)
    at.button(key="assign_rules").click().run()
    assert not at.exception and not at.error
    assert at.dataframe  # the seeded conflicts and gaps are listed with reasons
    before = _exports("zh")
    at.button(key="boards_make_pdf").click().run()
    assert not at.exception and not at.error
    labels = [d.proto.label for d in at.get("download_button")]
    assert "⬇ notice-boards-zh.pdf" in labels
    # audited once, in the data layer (db.queries.assignment_boards.export_boards)
    assert _exports("zh") == before + 1
    card = "\n".join(str(e.proto.body) for e in at.get("html"))
    assert "路段街长公示牌" in card and "（暂缺）" in card  # the selected, vacant segment


def test_notice_boards_in_english_mode() -> None:
    so, seg = _office_with_unassigned()
    at = _desk(so, seg, lang="en")
    preview = next(d.value for d in at.dataframe if "Road segment" in d.value.columns)
    assert list(preview.columns[:3]) == ["Road segment", "Street head (level 3)",
                                         "Street head's phone"]  # fmt: skip
    assert "(vacant)" in set(preview["Street head (level 3)"])
    card = "\n".join(str(e.proto.body) for e in at.get("html"))
    assert "Street Head Notice Board" in card and "路段街长公示牌" not in card
    before = _exports("en")
    at.button(key="boards_make_xlsx").click().run()
    assert not at.exception and not at.error
    assert "⬇ notice-boards-en.xlsx" in [d.proto.label for d in at.get("download_button")]
    assert _exports("en") == before + 1


def test_suggestion_is_drawn_and_can_be_rejected() -> None:
    so, seg = _office_with_unassigned()
    at = _desk(so, seg)
    available = at.multiselect[0]
    available.set_value(available.options[:30])
    next(b for b in at.button if b.label == "为所选街道生成建议").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(i.value.startswith("建议覆盖") for i in at.info), [w.value for w in at.warning]
    table = next(d.value for d in at.dataframe if "路段数" in d.value.columns)
    assert list(table.columns) == [
        "街长",
        "路段数",
        "长度（米）",
        "工作量",
        "工作量/平均",
        "连通片数",
    ]
    at.button(key="assign_reject").click().run()
    assert at.success[0].value == "已放弃建议。"


# --- the reporting line, history in words, hostile names, imports ----------------------------


def _level2(so: int) -> list[int]:
    with engine().connect() as conn:
        return list(
            conn.scalars(
                sa.text(
                    "SELECT person_id FROM assignments WHERE target_type = 'street_office' "
                    "AND target_id = :so AND role = 'street_head' AND level = 2 "
                    "AND valid_to IS NULL ORDER BY person_id"
                ),
                {"so": so},
            )
        )


def _last_change() -> int:
    with engine().connect() as conn:
        return int(conn.scalar(sa.text("SELECT max(id) FROM change_sets")))


def _history_table(at):  # type: ignore[no-untyped-def]
    return next(d.value for d in at.dataframe if "摘要" in d.value.columns)


def test_the_supervisor_list_offers_only_the_offices_level_two_heads() -> None:
    so, seg = _office_with_unassigned()
    at = _desk(so, seg)
    sup = next(s for s in at.selectbox if s.label == "二级街长（上级）")
    assert sorted(o for o in sup.options if o != "（无）") == sorted(
        next(s for s in at.selectbox if s.key == "assign_line_sup").options[1:]
    )
    with engine().connect() as conn:
        names = set(
            conn.scalars(
                sa.text("SELECT name FROM people WHERE id = ANY(:ids)"), {"ids": _level2(so)}
            )
        )
    assert len(sup.options) == len(names) + 1 and names
    assert {o.split(" · ")[0] for o in sup.options[1:]} == names


def test_appoint_a_level_two_head_set_a_supervisor_and_undo_both() -> None:
    so, seg = _office_with_unassigned()
    before = _level2(so)
    at = _desk(so, seg)
    pick = at.selectbox(key="assign_appoint_person")
    person = pick.options[0]
    pick.select(person)
    at.button(key="assign_appoint").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success[0].value.startswith("已任命")
    appointed = sorted(set(_level2(so)) - set(before))
    assert len(appointed) == 1
    history = _history_table(at)
    name = person.split(" · ")[0]
    assert (
        history["摘要"].iloc[0].startswith(f"任命 {name} 为")
        and "二级街长" in history["摘要"].iloc[0]
    )
    # the new level-2 head is now a supervisor one may choose, on the desk and the line form
    sup = next(s for s in at.selectbox if s.label == "二级街长（上级）")
    assert any(o.startswith(name) for o in sup.options)
    line = at.selectbox(key="assign_line_head")
    head = line.options[0]
    line.select(head)
    at.selectbox(key="assign_line_sup").select(next(o for o in sup.options if o.startswith(name)))
    at.button(key="assign_line").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success[0].value.endswith(f"的上级已改为 {name}")
    assert "的上级改为" in _history_table(at)["摘要"].iloc[0]
    for _ in range(2):  # undo the supervisor, then the appointment
        at.selectbox(key="assign_undo_pick").set_value(_open_change(at))
        at.button(key="assign_undo").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
    assert _level2(so) == before


def _open_change(at) -> int:  # type: ignore[no-untyped-def]
    """The newest change the history offers to undo."""
    return max(int(o) for o in at.selectbox(key="assign_undo_pick").options)


HOSTILE = "**粗体** ![](http://example.invalid/y.png)"


def test_hostile_names_are_shown_as_text() -> None:
    import streamlit as st

    so, seg = _office_with_unassigned()
    with engine().begin() as conn:
        pid, old = conn.execute(
            sa.text(
                "SELECT p.id, p.name FROM people p WHERE p.active AND p.street_office_id = :so "
                "ORDER BY p.id LIMIT 1"
            ),
            {"so": so},
        ).one()
        conn.execute(sa.text("UPDATE people SET name = :n WHERE id = :i"), {"n": HOSTILE, "i": pid})
    st.cache_data.clear()
    last = _last_change()
    try:
        at = _desk(so, seg)
        head = next(s for s in at.selectbox if s.label == "三级街长")
        head.select(next(o for o in head.options if o and o.startswith(HOSTILE)))
        next(b for b in at.button if b.label == "保存分配").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        shown = [e.value for e in (*at.success, *at.caption, *at.markdown)]
        said = next(v for v in shown if "粗体" in v and v.startswith("已保存"))
        assert escape_markdown(HOSTILE) in said
        assert not [v for v in shown if "**粗体**" in v or "![](" in v]
        current = next(v for v in shown if v.startswith("当前："))
        assert r"\*\*粗体\*\*" in current
    finally:
        with engine().begin() as conn:
            conn.execute(sa.text("UPDATE people SET name = :n WHERE id = :i"), {"n": old, "i": pid})
        if _last_change() > last:  # leave the segment unassigned for the other tests
            from db.access import SYSTEM
            from db.queries.assignments import undo

            with engine().begin() as conn:
                undo(conn, SYSTEM, _last_change())
        st.cache_data.clear()


def _roster(segment_code: str) -> bytes:
    return f"segment_code,name,phone,level\n{segment_code},测试导入甲,19912345678,3\n".encode()


def test_a_desk_import_reports_the_rules_and_can_be_undone() -> None:
    so, seg = _office_with_unassigned()
    with engine().connect() as conn:
        code = conn.scalar(sa.text("SELECT code FROM road_segments WHERE id = :s"), {"s": seg})
    at = _desk(so, seg)
    at.file_uploader(key="assign_file").upload("分配表.csv", _roster(code), "text/csv").run()
    at.button(key="assign_import").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "新增 1" in at.success[0].value
    rules = next(w.value for w in at.warning if w.value.startswith("导入后的规则检查"))
    assert "没有二级街长上级的三级街长：" in rules  # the new head reports to nobody yet
    assert len(_heads(seg)) == 1
    assert _history_table(at)["摘要"].iloc[0].startswith("导入分配表 分配表.csv")
    at.selectbox(key="assign_undo_pick").set_value(_open_change(at))
    at.button(key="assign_undo").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _heads(seg) == []


def test_a_roster_uploaded_on_the_data_page_reports_the_rules() -> None:
    _so, seg = _office_with_unassigned()
    with engine().connect() as conn:
        code = conn.scalar(sa.text("SELECT code FROM road_segments WHERE id = :s"), {"s": seg})
    at = app_test("data")
    at.selectbox[0].set_value("assignments")
    at.file_uploader[0].upload("roster.csv", _roster(code), "text/csv")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("rule check after the load" in c.value for c in at.caption)
    from db.access import SYSTEM
    from db.queries.assignments import undo

    with engine().begin() as conn:
        undo(conn, SYSTEM, _last_change())
    assert _heads(seg) == []
