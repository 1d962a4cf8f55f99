"""The dashboard's own SQL (db/queries/dashboard.py) on a hand-made district."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa
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


def test_both_rankings_in_one_pass_match_each_alone(conn: Connection, ids: dict[str, int]) -> None:
    start = SMALL_NOW - dt.timedelta(days=30)
    for scope in (Scope(), Scope(street_office_ids=(ids["so1"],)),
                  Scope(community_ids=(ids["com3"],)), Scope(patrol_categories=(1,))):  # fmt: skip
        so, com = q.rankings_by_area(conn, start=start, end=SMALL_NOW, now=SMALL_NOW, scope=scope)
        for unit, both in (("street_office", so), ("community", com)):
            alone = q.rankings(
                conn, unit=unit, start=start, end=SMALL_NOW, now=SMALL_NOW, scope=scope
            )
            pd.testing.assert_frame_equal(both, alone)
    so, com = q.rankings_by_area(conn, start=start, end=SMALL_NOW, now=SMALL_NOW)
    assert so["due"].sum() == com["due"].sum() == 4  # p2, p4, p5, p6


def test_hotspot_weights_are_built_once_per_grid(
    conn: Connection, ids: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from db.queries import hotspots as hot
    from gis import weights

    hot.clear_caches()
    built: list[int] = []
    real = weights.contiguity_weights

    def counting(*args: object, **kwargs: object) -> object:
        built.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hot.gis_weights, "contiguity_weights", counting)
    month = SMALL_NOW - dt.timedelta(days=30)
    first = hot.hotspots(conn, unit="cell", start=month, end=SMALL_NOW)
    week = hot.hotspots(conn, unit="cell", start=SMALL_NOW - dt.timedelta(days=7), end=SMALL_NOW)
    assert len(built) == 1  # one grid, two periods: the weights were built once
    geoms = hot.unit_geometries(conn, unit="cell", ids=first.index.tolist())
    fresh, _info = hot.spatial_weights(geoms, kind="queen")
    _geoms, kept, _ = hot.unit_weights(conn, unit="cell", ids=first.index.tolist(), kind="queen")
    assert (fresh != kept).nnz == 0 and len(built) == 2  # the direct build; the cache hit
    assert week["n_neighbours"].tolist() == first["n_neighbours"].tolist()
    # one street office's cells take their rows of the district's weights: no new build,
    # and the same neighbours as weights built on those cells alone
    office = hot.hotspots(
        conn, unit="cell", start=month, end=SMALL_NOW, street_office_ids=[ids["so1"]]
    )
    assert len(built) == 2 and len(office) == 8
    alone, _info = hot.spatial_weights(
        hot.unit_geometries(conn, unit="cell", ids=office.index.tolist()), kind="queen"
    )
    _g, sub, info = hot.unit_weights(conn, unit="cell", ids=office.index.tolist(), kind="queen")
    assert (alone != sub).nnz == 0 and info["mean_neighbours"] == pytest.approx(alone.sum() / 8)
    # a changed grid (a new cell east of cell 16) builds them again, and the result sees it
    conn.execute(
        sa.text(
            "INSERT INTO grid_cells (code, community_id, area_m2, geom) VALUES ('X1', :c, 1, "
            "ST_GeomFromText('MULTIPOLYGON(((450700 4420450,450800 4420450,450800 4420700,"
            "450700 4420700,450700 4420450)))', 4548))"
        ),
        {"c": ids["com4"]},
    )
    grown = hot.hotspots(conn, unit="cell", start=month, end=SMALL_NOW)
    assert len(built) == 4 and len(grown) == len(first) + 1  # 2 layers, 2 direct builds
    assert grown.loc[ids["cell16"], "n_neighbours"] == first.loc[ids["cell16"], "n_neighbours"] + 1


def test_weights_built_at_once_by_two_callers_are_built_once(
    conn: Connection, ids: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from db.queries import hotspots as hot
    from gis import weights

    hot.clear_caches()
    built: list[int] = []
    real = weights.distance_band_weights

    def slow(*args: object, **kwargs: object) -> object:
        built.append(1)
        time.sleep(0.3)  # long enough for the second caller to arrive meanwhile
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hot.gis_weights, "distance_band_weights", slow)
    cells = [ids[f"cell{k}"] for k in range(1, 17)]
    version = hot.layer_version(conn, unit="cell")
    every = hot._layer_geometries(conn, unit="cell", version=version)
    results: list[object] = []

    def call() -> None:
        # the geometries are read above; each thread needs no database of its own
        w, _info = hot._once(
            (version, "distance", 600.0, None, 1, "layer"),
            lambda: hot.spatial_weights(every.loc[cells], kind="distance", distance_m=600.0),
        )
        results.append(w)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(built) == 1 and len(results) == 2 and results[0] is results[1]
