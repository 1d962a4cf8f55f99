"""The settings page in AppTest, and the pages reading the settings in force."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from app import data
from app.data import engine
from db.access import SYSTEM
from db.runtime_settings import set_setting
from tests.browser_support import app_db, app_test  # noqa: F401

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("app_db")]


@pytest.fixture(autouse=True)
def environment_settings() -> Iterator[None]:
    """Every test starts and ends with the environment's settings (the database is shared)."""
    yield
    with engine().begin() as conn:
        conn.execute(sa.text("DELETE FROM setting_overrides"))
    data.settings_changed()


def _set(name: str, value: str) -> None:
    with engine().begin() as conn:
        set_setting(conn, SYSTEM, name, value)
    data.settings_changed()


def _html(at: object) -> str:
    return "\n".join(str(e.proto.body) for e in at.get("html"))  # type: ignore[attr-defined]


def test_an_administrator_changes_the_hotline_and_it_is_audited() -> None:
    at = app_test("settings")
    assert not at.exception and not at.error
    assert at.title[0].value == "系统设置"
    at.selectbox(key="set_name").set_value("hotline").run()
    at.text_input(key="set_value_hotline").set_value("010-6512 3456").run()
    at.button(key="set_save").click().run()
    assert not at.exception and not at.error
    assert at.success[0].value == "已保存：监督投诉电话 现为 010-6512 3456"
    assert data.settings().hotline == "010-6512 3456"
    with engine().connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT actor, before, after FROM audit_log WHERE action = 'setting.set' "
                "ORDER BY id DESC LIMIT 1"
            )
        ).one()
    assert row.after == {"value": "010-6512 3456", "source": "override"}
    assert row.before["source"] == "environment"
    history = at.dataframe[-1].value
    assert history["修改后"].iloc[0] == "010-6512 3456"
    # back to the environment's value with one button
    at.button(key="set_unset").click().run()
    assert data.settings().hotline == "12345"


def test_a_refused_value_is_said_in_one_line_and_not_stored() -> None:
    at = app_test("settings")
    at.selectbox(key="set_name").set_value("refresh_seconds").run()
    at.text_input(key="set_value_refresh_seconds").set_value("3").run()
    at.button(key="set_save").click().run()
    assert not at.exception
    assert at.error[0].value.startswith("未保存：cannot set refresh_seconds to '3'")
    assert "greater than or equal to 5" in at.error[0].value
    with engine().connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM setting_overrides")) == 0


def test_the_page_in_english_with_choices_for_fixed_lists() -> None:
    at = app_test("settings", run=True)
    at.sidebar.radio[0].set_value("en").run()
    assert at.title[0].value == "Settings"
    at.selectbox(key="set_name").set_value("basemap").run()
    box = at.selectbox(key="set_value_basemap")
    assert box.options == [
        "No basemap (works offline)", "OpenStreetMap", "Tianditu (needs a key)",
        "Gaode (AMap)", "Local tile server",
    ]  # fmt: skip
    box.set_value("tianditu").run()
    at.button(key="set_save").click().run()
    assert "needs CITYGRID_TIANDITU_KEY" in at.error[0].value  # the cross-field check


def test_a_new_session_opens_in_the_default_language_in_force() -> None:
    _set("language", "en")
    at = app_test("settings")
    assert at.title[0].value == "Settings"
    assert at.session_state["lang"] == "en"


def test_the_big_screen_reads_the_yellow_share_and_refresh_in_force() -> None:
    _set("yellow_fraction", "0.5")
    _set("refresh_seconds", "120")
    at = app_test()
    assert not at.exception and not at.error
    html = _html(at)
    assert "规定时限的 50%" in html
    assert "每 120 秒自动刷新" in html


def test_the_assignment_desk_prints_the_hotline_in_force() -> None:
    _set("hotline", "12319")
    at = app_test("assignment")
    assert not at.exception and not at.error
    boards = [f.value for f in at.dataframe if "监督投诉电话" in f.value.columns]
    assert boards, "no notice-board preview on the desk"
    assert set(boards[0]["监督投诉电话"]) == {"12319"}


def test_with_the_database_out_of_reach_the_environment_applies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from citygrid.settings import get_settings

    def unreachable() -> None:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(data, "_runtime_settings", unreachable)
    assert data.settings() is get_settings()
