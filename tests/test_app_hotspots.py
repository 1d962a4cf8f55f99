"""The hotspot review page in AppTest: period comparison (环比 and 同比), top 10, the
monthly report."""

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
    n, ly = int(counts["n"].sum()), int(counts["n_last_year"].sum())
    assert at.metric[0].value == f"{n:,}"
    assert at.metric[1].value == f"{int(counts['n_previous'].sum()):,}"
    # the same period last year (the tests district has two years of problems)
    assert counts.attrs["last_year_covered"] and ly > 0
    assert at.metric[3].label == "去年同期" and at.metric[3].value == f"{ly:,}"
    assert at.metric[4].label == "同比"
    assert at.metric[4].value == f"{(n - ly) / ly * 100:+.1f}%"
    assert any(f"去年同期 {ly:,} 件（同比" in c.value for c in at.caption)
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
    assert list(top.columns[-4:]) == ["街长", "网格员", "电话", "责任主体"]


def test_a_period_before_the_records_has_no_year_on_year_comparison() -> None:
    """A period in the first year of records: "—" and no comparison, never 0 or +∞."""
    from app.data import engine
    from app.state import KEY_DATES, KEY_PERIOD
    from db.queries.dashboard import problem_period

    with engine().connect() as conn:
        period = problem_period(conn)
    assert period is not None
    tz = ZoneInfo(get_settings().timezone)
    first = period[0].astimezone(tz).date() + dt.timedelta(days=1)
    at = app_test("hotspots")
    at.sidebar.selectbox(key=KEY_PERIOD).select("custom").run()
    at.sidebar.date_input(key=KEY_DATES).set_value((first, first + dt.timedelta(days=29))).run()
    assert not at.exception and not at.error
    assert int(at.metric[0].value.replace(",", "")) > 0  # this period has problems
    assert (at.metric[3].label, at.metric[3].value, at.metric[4].value) == ("去年同期", "—", "—")
    assert any("去年同期尚无数据，不作同比" in c.value for c in at.caption)
    at.sidebar.radio[0].set_value("en").run()
    assert not at.exception and not at.error
    assert (at.metric[3].label, at.metric[3].value) == ("Same period last year", "—")
    assert at.metric[4].label == "Year on year"
    assert any("no year-on-year comparison" in c.value for c in at.caption)
