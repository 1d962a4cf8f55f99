"""The dashboard's own SQL (db/queries/dashboard.py) on a hand-made district."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.engine import Connection

from db.queries import dashboard as q
from db.queries.dashboard import Scope
from gis.errors import DataError
from tests.browser_support import SMALL_NOW, seed_small

pytestmark = pytest.mark.db


@pytest.fixture
def ids(conn: Connection) -> dict[str, int]:
    return seed_small(conn)


def test_big_screen_kpis_follow_the_documented_rules(conn: Connection, ids: dict[str, int]) -> None:
    k = q.big_screen_kpis(conn, now=SMALL_NOW)
    # p1, p2 new today (p7 is void); open p1 p2 p3 p6; red p2 p6; yellow p1 (1 h of 4 h left)
    assert (k["new_today"], k["open"], k["red"], k["yellow"], k["white"]) == (2, 4, 2, 1, 1)
    # due in the last 30 days: p2 (today 10:00), p4, p5, p6; closed p4 p5; on time p4
    assert (k["due"], k["closed"], k["closed_on_time"]) == (4, 2, 1)
    assert k["closure_rate"] == pytest.approx(0.5)
    assert k["on_time_rate"] == pytest.approx(0.25)
    # 8 street segments (the lane does not count); seg1 and seg2 headed, seg3 twice
    assert (k["segments"], k["segments_headed"]) == (8, 3)
    assert (k["stations"], k["stations_intact"]) == (2, 1)


def test_yellow_moves_with_the_fraction(conn: Connection, ids: dict[str, int]) -> None:
    # p1 has 1 h of 4 h left: yellow at 25 %, white at 20 %
    assert q.big_screen_kpis(conn, now=SMALL_NOW, yellow_fraction=0.2)["yellow"] == 0
    with pytest.raises(DataError, match="yellow_fraction"):
        q.big_screen_kpis(conn, now=SMALL_NOW, yellow_fraction=1.5)


def test_scope_limits_every_figure(conn: Connection, ids: dict[str, int]) -> None:
    k = q.big_screen_kpis(conn, now=SMALL_NOW, scope=Scope(street_office_ids=(ids["so2"],)))
    assert (k["open"], k["red"], k["due"], k["segments"]) == (1, 1, 1, 4)
    sanitation = q.big_screen_kpis(conn, now=SMALL_NOW, scope=Scope(patrol_categories=(1,)))
    assert (sanitation["open"], sanitation["new_today"]) == (2, 1)  # p1, p6; p1


def test_rankings_order_by_on_time_closure(conn: Connection, ids: dict[str, int]) -> None:
    start = SMALL_NOW - dt.timedelta(days=30)
    ranks = q.rankings(conn, unit="street_office", start=start, end=SMALL_NOW, now=SMALL_NOW)
    so1, so2 = ranks.loc[ids["so1"]], ranks.loc[ids["so2"]]
    assert (so1["due"], so1["closed"], so1["closed_on_time"], so1["red"]) == (3, 2, 1, 1)
    assert (so2["due"], so2["closed"], so2["red"]) == (1, 0, 1)
    assert so1["rank"] == 1 and so2["rank"] == 2
    coms = q.rankings(conn, unit="community", start=start, end=SMALL_NOW, now=SMALL_NOW)
    assert len(coms) == 4 and coms.loc[ids["com1"], "rank"] == 1
    with pytest.raises(DataError, match="unit"):
        q.rankings(conn, unit="cell", start=start, end=SMALL_NOW, now=SMALL_NOW)  # type: ignore[arg-type]


def test_trend_categories_and_ticker(conn: Connection, ids: dict[str, int]) -> None:
    trend = q.daily_trend(conn, end_day=SMALL_NOW.date(), days=30)
    assert len(trend) == 30 and trend.index[-1].date() == SMALL_NOW.date()
    assert trend["new"].iloc[-1] == 2  # p1, p2
    assert trend["new"].sum() == 6 and trend["closed"].sum() == 2  # p1-p6; p4, p5
    cats = q.category_counts(
        conn, start=SMALL_NOW - dt.timedelta(days=30), end=SMALL_NOW, now=SMALL_NOW
    )
    assert cats.loc[1, "n"] == 2 and cats.loc[1, "red"] == 1  # p1, p6 (red)
    latest = q.latest_problems(conn, now=SMALL_NOW, limit=3)
    assert latest["case_no"].tolist() == ["p1", "p2", "p3"]
    assert latest["colour"].tolist() == ["yellow", "red", "white"]


def test_segment_status_flags_conflicts(conn: Connection, ids: dict[str, int]) -> None:
    segs = q.segment_status(conn, scope=Scope(street_office_ids=(ids["so1"],)))
    by_id = segs.set_index("id")
    assert by_id.loc[ids["seg1"], "status"] == "assigned"
    assert by_id.loc[ids["seg1"], "head"] == "张伟"
    assert by_id.loc[ids["seg1"], "supervisor"] == "李强"
    assert by_id.loc[ids["seg3"], "status"] == "conflict"
    assert by_id.loc[ids["seg4"], "status"] == "unassigned"
    assert by_id.loc[ids["seg1"], "label"] == "多福大街（1号路—2号路）"
    assert segs.crs.to_epsg() == 4326 and len(segs) == 5  # 4 streets and the lane
    assert 116.3 < segs.geometry.iloc[0].coords[0][0] < 116.5


def test_map_layers_carry_only_what_is_shown(conn: Connection, ids: dict[str, int]) -> None:
    lines = q.outlines(conn, level="community", scope=Scope(street_office_ids=(ids["so1"],)))
    assert lines["name"].tolist() == ["多福巷社区", "银闸社区"]
    status = q.data_status(conn)
    assert status["street_offices"] == 2 and status["has_problems"] == 1
    assert q.patrol_categories(conn)["patrol_category"].tolist() == [1, 2, 3, 4, 5, 6]
