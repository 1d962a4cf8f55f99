"""The assignment desk in AppTest: assign, conflict, suggest, history and undo, rules."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.data import engine
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
    at.button(key="assign_reject").click().run()
    assert at.success[0].value == "已放弃建议。"
