"""Administration and sign-in in AppTest: accounts, wall-screen tokens, audit search."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from app.data import engine
from db.access import SYSTEM
from tests.browser_support import app_db, app_test  # noqa: F401

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("app_db")]


@pytest.fixture
def planner() -> Iterator[str]:
    """A planner account of street office so1 (removed afterwards: others run without one)."""
    from db.users import create_user

    with engine().begin() as conn:
        code = conn.scalar(
            sa.text("SELECT code FROM admin_areas WHERE level = 'street_office' ORDER BY code")
        )
        create_user(conn, SYSTEM, "planner1", role="planner", password="correct horse 1",
                    street_office_codes=[code[:9]])  # fmt: skip
    yield "planner1"
    with engine().begin() as conn:
        conn.execute(sa.text("DELETE FROM users"))


def test_admin_page_lists_accounts_tokens_and_audit() -> None:
    at = app_test("admin")
    assert not at.exception and not at.error
    at.text_input(key="admin_audit_text").set_value("kiosk").run()
    assert not at.exception and not at.error


def test_with_accounts_a_person_must_sign_in(planner: str) -> None:
    at = app_test()
    assert at.title[0].value == "登录 CityGrid"
    assert len(at.sidebar.selectbox) == 0
    at.text_input[0].set_value(planner)
    at.text_input[1].set_value("wrong password")
    at.button[0].click().run()
    assert at.error[0].value.startswith("用户名或密码不正确")
    at.text_input[0].set_value(planner)
    at.text_input[1].set_value("correct horse 1")
    at.button[0].click().run()
    assert not at.exception and not at.error
    # a planner of one street office: that office only, and no administrator page
    offices = at.sidebar.selectbox[0].options
    assert len(offices) == 2  # 全部 and their own
    with pytest.raises(ValueError, match="Could not find"):
        at.switch_page("views/admin.py")


def _audit_table(at: object) -> object:
    tables = [d.value for d in at.dataframe if "操作人" in d.value.columns]  # type: ignore[attr-defined]
    assert len(tables) == 1, "the audit table is not on the page"
    return tables[0]


def _count(action: str) -> int:
    with engine().connect() as conn:
        return int(
            conn.scalar(sa.text("SELECT count(*) FROM audit_log WHERE action = :a"), {"a": action})
        )


def test_audit_search_filters_by_action_object_and_dates() -> None:
    import datetime as dt

    from db.queries.audit import search_audit

    at = app_test("admin")
    at.selectbox(key="admin_audit_action").set_value("data.").run()  # every data.* action
    with engine().connect() as conn:
        found = search_audit(conn, SYSTEM, action="data.", page_size=50)
    assert found.total > 0
    assert at.caption[0].value == f"第 1–{min(found.total, 50)} 条，共 {found.total:,} 条"
    shown = _audit_table(at)
    assert {a.split(".")[0] for a in shown["操作"]} == {"data"}
    at.selectbox(key="admin_audit_entity").set_value("load_run").run()
    assert set(_audit_table(at)["对象类型"]) == {"load_run"}
    tomorrow = dt.date.today() + dt.timedelta(days=2)
    at.date_input(key="admin_audit_since").set_value(tomorrow).run()
    assert not at.exception and not at.error
    assert at.caption[0].value == "第 0–0 条，共 0 条"
    assert len(_audit_table(at)) == 0


def test_audit_search_pages_through_every_row() -> None:
    from db.queries.audit import search_audit

    at = app_test("admin")
    with engine().connect() as conn:
        second = search_audit(conn, SYSTEM, page=2, page_size=50)
    assert second.pages >= 2, "the app database holds too few audit rows to page"
    at.number_input(key="admin_audit_page").set_value(2).run()
    assert at.caption[0].value.startswith("第 51–100 条")
    shown = _audit_table(at)
    assert shown["操作"].tolist() == [e.action for e in second.rows]
    at.selectbox(key="admin_audit_size").set_value(500).run()  # fewer pages: back in range
    assert not at.exception and not at.error
    assert at.number_input(key="admin_audit_page").value <= second.total // 500 + 1


def test_audit_export_is_offered_only_through_an_audited_button() -> None:
    at = app_test("admin")
    at.selectbox(key="admin_audit_action").set_value("data.load").run()
    assert not at.get("download_button")
    before = _count("export.audit")
    at.button(key="admin_audit_make_xlsx").click().run()
    assert not at.exception and not at.error
    (button,) = at.get("download_button")
    assert button.proto.label.endswith(".xlsx")  # type: ignore[attr-defined]
    assert _count("export.audit") == before + 1
    with engine().connect() as conn:
        detail = conn.scalar(
            sa.text("SELECT detail FROM audit_log WHERE action = 'export.audit' ORDER BY id DESC")
        )
    assert detail["filters"] == {"action": "data.load"} and detail["format"] == "xlsx"
    # other filters: the file made for the old ones is no longer offered
    at.selectbox(key="admin_audit_action").set_value("data.").run()
    assert not at.get("download_button")


def test_admin_tables_and_roles_follow_the_language_switch() -> None:
    at = app_test("admin")
    assert at.selectbox(key="admin_user_role").options[0] == "管理员"
    at.sidebar.radio[0].set_value("en").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="admin_user_role").options == [
        "administrator", "planner", "leader", "field staff", "viewer",
    ]  # fmt: skip
    columns = [c for d in at.dataframe for c in d.value.columns]
    assert {"When", "Who", "Action", "Object type", "Before", "After"} <= set(columns)
    assert not [c for c in columns if re.search(r"[\u4e00-\u9fff]", c)]
    assert at.caption[0].value.startswith("Rows 1–")


def test_a_wall_screen_token_limited_to_a_street_office() -> None:
    from db.kiosk import revoke_kiosk_token

    at = app_test("admin")
    offices = at.multiselect(key="admin_token_offices")
    code = offices.options[0].rsplit("（", 1)[1].rstrip("）")
    offices.set_value([code])
    at.text_input(key="admin_token_name").set_value("街道大屏")
    at.button(key="FormSubmitter:admin_new_token-新增").click().run()
    assert not at.exception and not at.error
    assert at.success[0].value.startswith("新令牌只显示这一次")
    address = at.code[0].value
    token = address.split("?kiosk=", 1)[1]
    with engine().connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT t.id, t.street_office_codes, a.id AS office FROM kiosk_tokens t "
                "JOIN admin_areas a ON a.code = :c "
                "WHERE t.name = '街道大屏' AND t.revoked_at IS NULL"
            ),
            {"c": code},
        ).one()
    try:
        assert list(row.street_office_codes) == [code]
        wall = app_test(run=False)
        wall.query_params["kiosk"] = token
        wall.run()
        assert not wall.exception and not wall.error
        assert wall.session_state["_page_actor"].street_office_ids == frozenset({row.office})
    finally:
        with engine().begin() as conn:
            revoke_kiosk_token(conn, SYSTEM, row.id)
