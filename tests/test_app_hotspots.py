"""The hotspot review page in AppTest: period comparison, top 10, the monthly report."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from citygrid.settings import get_settings
from tests.browser_support import app_db, app_test  # noqa: F401

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("app_db")]


def test_hotspot_page_compares_periods_and_lists_the_top_ten() -> None:
    from app.data import engine
    from app.state import period_bounds
    from db.queries.density import density

    for _ in range(2):  # the page and the check on the same day (not across midnight)
        today = dt.datetime.now(ZoneInfo(get_settings().timezone)).date()
        at = app_test("hotspots")
        if dt.datetime.now(ZoneInfo(get_settings().timezone)).date() == today:
            break
    assert not at.exception and not at.error
    start, end = period_bounds("30d", today)
    with engine().connect() as conn:
        counts = density(conn, unit="cell", start=start, end=end)
    assert at.metric[0].value == f"{int(counts['n'].sum()):,}"
    assert at.metric[1].value == f"{int(counts['n_previous'].sum()):,}"
    top = at.dataframe[0].value
    assert 0 < len(top) <= 10
    assert list(top.columns[:3]) == ["名次", "编码", "名称"]
    assert len(at.get("component_instance")) == 2  # hot spots, emerging patterns


def test_segment_hotspots_name_the_street_head() -> None:
    at = app_test("hotspots")
    at.button_group[0].set_value("segment").run()
    assert not at.exception and not at.error
    assert "街长" in at.dataframe[0].value.columns


def test_monthly_report_is_built_as_pdf_and_excel() -> None:
    import sqlalchemy as sa

    from app.data import engine

    def exports() -> int:
        with engine().connect() as conn:
            return int(
                conn.scalar(
                    sa.text("SELECT count(*) FROM audit_log WHERE action = 'export.monthly'")
                )
            )

    before = exports()
    at = app_test("hotspots")
    at.button(key="hot_report_make").click().run()
    assert not at.exception and not at.error
    downloads = at.get("download_button")
    assert len(downloads) == 2
    assert all(d.proto.label.startswith("下载月通报") for d in downloads)
    assert exports() == before + 1  # one audit row for both files, written in db.queries


def test_a_chosen_community_shows_its_own_cells_only() -> None:
    at = app_test("hotspots")
    com = at.sidebar.selectbox(key="f_community")
    chosen = com.options[1]
    com.select(chosen).run()
    assert not at.exception and not at.error
    assert any("只显示所选社区" in c.value for c in at.caption)
    top = at.dataframe[0].value
    assert len(top) and set(top["名称"]) == {chosen}
    assert list(top.columns[-4:]) == ["责任主体", "网格员", "电话", "街长"]
