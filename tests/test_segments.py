"""Road segments: cuts at cross streets, names, lanes, dead ends, roundabouts (gis.segments)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, MultiLineString, Point

from gis.errors import CRSError, DataError
from gis.segments import classify_kind, locate_lines, segment_label, segment_roads


def _roads(*rows: tuple[str, str, shapely.Geometry]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "code": [f"r{i}" for i in range(len(rows))],
            "name": [r[0] for r in rows],
            "road_class": [r[1] for r in rows],
        },
        geometry=[r[2] for r in rows],
        crs=4548,
    )


def _of(segs: gpd.GeoDataFrame, road: str) -> gpd.GeoDataFrame:
    return segs[segs.road_name == road].reset_index(drop=True)


def _names(segs: gpd.GeoDataFrame, road: str) -> list[str]:
    return _of(segs, road).name.tolist()


def test_street_is_cut_between_cross_streets_and_named_from_them() -> None:
    segs = segment_roads(
        _roads(
            ("东四北大街", "主干路", LineString([(0, 0), (0, 900)])),
            ("东四十条", "主干路", LineString([(-200, 300), (200, 300)])),
            ("张自忠路", "主干路", LineString([(-200, 600), (200, 600)])),
        )
    )
    main = _of(segs, "东四北大街")
    assert main.name.tolist() == [
        "东四北大街（尽头—东四十条）",
        "东四北大街（东四十条—张自忠路）",
        "东四北大街（张自忠路—尽头）",
    ]
    assert main.length_m.tolist() == pytest.approx([300, 300, 300])
    assert main.code.tolist() == ["r0-001", "r0-002", "r0-003"]
    assert main.geometry.iloc[1].equals(LineString([(0, 300), (0, 600)]))
    assert _names(segs, "东四十条") == [
        "东四十条（尽头—东四北大街）",
        "东四十条（东四北大街—尽头）",
    ]


def test_t_junction_cuts_the_through_street_and_names_the_end_of_the_other() -> None:
    segs = segment_roads(
        _roads(
            ("甲路", "次干路", LineString([(0, 0), (600, 0)])),
            ("乙路", "次干路", LineString([(300, 0), (300, 400)])),
        )
    )
    assert _names(segs, "甲路") == ["甲路（尽头—乙路）", "甲路（乙路—尽头）"]
    assert _names(segs, "乙路") == ["乙路（甲路—尽头）"]


@pytest.mark.parametrize(("gap_m", "joined"), [(1.0, True), (5.0, False)])
def test_an_end_stopping_just_short_still_meets_the_street(gap_m: float, joined: bool) -> None:
    segs = segment_roads(
        _roads(
            ("甲路", "次干路", LineString([(0, 0), (600, 0)])),
            ("乙路", "次干路", LineString([(300, gap_m), (300, 400)])),
        )
    )
    assert (len(_of(segs, "甲路")) == 2) is joined
    assert (_of(segs, "乙路").from_name.iloc[0] == "甲路") is joined


def test_hutong_entrances_do_not_end_a_street_segment() -> None:
    segs = segment_roads(
        _roads(
            ("朝阳门北小街", "次干路", LineString([(0, 0), (0, 500)])),
            ("东四六条", "胡同", LineString([(-300, 200), (0, 200)])),
            ("东四七条", "胡同", LineString([(-300, 260), (0, 260)])),
        )
    )
    assert _names(segs, "朝阳门北小街") == ["朝阳门北小街"]
    six = _of(segs, "东四六条")
    assert six.kind.tolist() == ["lane"]
    assert six.name.tolist() == ["东四六条（尽头—朝阳门北小街）"]


def test_split_by_all_also_cuts_at_lanes() -> None:
    segs = segment_roads(
        _roads(
            ("朝阳门北小街", "次干路", LineString([(0, 0), (0, 500)])),
            ("东四六条", "胡同", LineString([(-300, 200), (0, 200)])),
        ),
        split_by="all",
    )
    assert _names(segs, "朝阳门北小街") == [
        "朝阳门北小街（尽头—东四六条）",
        "朝阳门北小街（东四六条—尽头）",
    ]


def test_lane_is_cut_where_it_crosses_a_street_but_not_at_other_lanes() -> None:
    segs = segment_roads(
        _roads(
            ("史家胡同", "胡同", LineString([(-300, 0), (300, 0)])),
            ("东四南大街", "主干路", LineString([(0, -200), (0, 200)])),
            ("内务部街", "胡同", LineString([(-150, -100), (-150, 100)])),
        )
    )
    lane = _of(segs, "史家胡同")
    assert lane.name.tolist() == ["史家胡同（尽头—东四南大街）", "史家胡同（东四南大街—尽头）"]
    assert (lane.kind == "lane").all()
    assert _names(segs, "内务部街") == ["内务部街（尽头—尽头）"] or len(_of(segs, "内务部街")) == 1


def test_dead_end_lane_is_named_as_a_dead_end() -> None:
    segs = segment_roads(
        _roads(
            ("东四北大街", "主干路", LineString([(0, 0), (0, 500)])),
            ("丙胡同", "胡同", LineString([(0, 250), (150, 250), (150, 320)])),
        )
    )
    lane = _of(segs, "丙胡同")
    assert lane.name.tolist() == ["丙胡同（东四北大街—尽头）"]
    assert lane.to_name.iloc[0] == "尽头"
    assert lane.length_m.iloc[0] == pytest.approx(220)


def test_roundabout_is_cut_between_its_radials() -> None:
    ring = Point(0, 0).buffer(60, quad_segs=32).exterior
    segs = segment_roads(
        _roads(
            ("光明环岛", "次干路", LineString(ring.coords)),
            ("北路", "主干路", LineString([(0, 60), (0, 500)])),
            ("东路", "主干路", LineString([(60, 0), (500, 0)])),
            ("南路", "主干路", LineString([(0, -60), (0, -500)])),
            ("西路", "主干路", LineString([(-500, 0), (-60, 0)])),
        )
    )
    ring_segs = _of(segs, "光明环岛")
    assert len(ring_segs) == 4
    assert ring_segs.length_m.sum() == pytest.approx(ring.length)
    assert ring_segs.length_m.tolist() == pytest.approx([ring.length / 4] * 4, rel=1e-6)
    pairs = {frozenset((a, b)) for a, b in zip(ring_segs.from_name, ring_segs.to_name, strict=True)}
    assert pairs == {
        frozenset(p)
        for p in (("东路", "北路"), ("北路", "西路"), ("西路", "南路"), ("南路", "东路"))
    }
    assert _of(segs, "北路").from_name.tolist() == ["光明环岛"]


def test_ring_with_a_single_entrance_is_one_segment() -> None:
    ring = Point(0, 0).buffer(60, quad_segs=32).exterior
    segs = segment_roads(
        _roads(
            ("环路", "次干路", LineString(ring.coords)),
            ("进路", "次干路", LineString([(60, 0), (300, 0)])),
        )
    )
    assert _names(segs, "环路") == ["环路（进路—进路）"]
    assert _of(segs, "环路").length_m.iloc[0] == pytest.approx(ring.length)


def test_short_piece_between_close_cross_streets_joins_a_neighbour() -> None:
    segs = segment_roads(
        _roads(
            ("长街", "主干路", LineString([(0, 0), (0, 1000)])),
            ("北辅路", "次干路", LineString([(-100, 500), (100, 500)])),
            ("南辅路", "次干路", LineString([(-100, 520), (100, 520)])),
        ),
        min_length_m=40,
    )
    main = _of(segs, "长街")
    assert len(main) == 2
    assert main.length_m.sum() == pytest.approx(1000)


def test_long_street_is_cut_at_a_lane_entrance_or_by_distance() -> None:
    segs = segment_roads(
        _roads(
            ("长街", "主干路", LineString([(0, 0), (2000, 0)])),
            ("甲胡同", "胡同", LineString([(1300, 0), (1300, 200)])),
        ),
        max_length_m=800,
    )
    main = _of(segs, "长街")
    assert len(main) == 3
    assert main.to_name.iloc[0] == "长街起点以东670米"
    assert main.to_name.iloc[1] == "甲胡同"
    assert main.length_m.max() <= 800 + 1e-6


def test_lanes_are_never_cut_by_length() -> None:
    segs = segment_roads(_roads(("长胡同", "胡同", LineString([(0, 0), (1500, 0)]))))
    assert len(segs) == 1


def test_multipart_road_is_segmented_part_by_part() -> None:
    road = MultiLineString([[(0, 0), (0, 300)], [(0, 500), (0, 900)]])
    segs = segment_roads(
        _roads(
            ("断头路", "支路", road),
            ("横街", "支路", LineString([(-100, 700), (100, 700)])),
        )
    )
    main = _of(segs, "断头路")
    assert main.code.tolist() == ["r0-001", "r0-002", "r0-003"]
    assert main.length_m.tolist() == pytest.approx([300, 200, 200])


def test_rows_of_one_name_do_not_cut_each_other() -> None:
    segs = segment_roads(
        _roads(
            ("东四北大街", "主干路", LineString([(0, 0), (0, 400)])),
            ("东四北大街", "主干路", LineString([(0, 400), (0, 800)])),
        )
    )
    assert len(segs) == 2
    assert segs.from_name.isna().all()
    assert segs.to_name.isna().all()


def test_segments_cover_each_road_exactly() -> None:
    roads = _roads(
        ("甲路", "次干路", LineString([(0, 0), (300, 40), (600, 0)])),
        ("乙路", "次干路", LineString([(150, -100), (150, 200)])),
        ("丙路", "次干路", LineString([(450, -100), (450, 200)])),
    )
    segs = segment_roads(roads)
    for code, geom in zip(roads.code, roads.geometry, strict=True):
        mine = segs[segs.road_code == code]
        assert mine.length_m.sum() == pytest.approx(geom.length)
        merged = shapely.line_merge(shapely.union_all(mine.geometry.values))
        assert shapely.hausdorff_distance(merged, geom) < 1e-6


def test_kind_column_overrides_the_class() -> None:
    roads = _roads(("小巷子", "支路", LineString([(0, 0), (100, 0)])))
    roads["kind"] = ["lane"]
    assert segment_roads(roads).kind.tolist() == ["lane"]


def test_classify_kind_and_label() -> None:
    assert classify_kind(pd.Series(["胡同", "小街巷", "主干路", "lane", None])).tolist() == [
        "lane", "lane", "street", "lane", "street",
    ]  # fmt: skip
    assert segment_label("东四北大街", "东四十条", "张自忠路") == "东四北大街（东四十条—张自忠路）"
    assert segment_label("甲", None, "乙") == "甲（尽头—乙）"


def test_unnamed_roads_and_non_lines_are_refused() -> None:
    with pytest.raises(DataError, match="without a name"):
        segment_roads(_roads(("", "支路", LineString([(0, 0), (1, 0)]))))
    with pytest.raises(DataError, match="not lines"):
        segment_roads(_roads(("甲", "支路", Point(0, 0))))


def test_geographic_roads_are_refused() -> None:
    roads = _roads(("甲", "支路", LineString([(116.4, 39.9), (116.41, 39.9)])))
    with pytest.raises(CRSError):
        segment_roads(roads.set_crs(4326, allow_override=True))


def test_locate_lines_uses_the_middle_and_falls_back_to_the_nearest() -> None:
    areas = gpd.GeoDataFrame(
        {"code": ["w", "e"]}, geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)],
        crs=4548,
    )  # fmt: skip
    lines = gpd.GeoSeries(
        [LineString([(1, 5), (8, 5)]), LineString([(8, 5), (19, 5)]), LineString([(30, 5), (40, 5)])],
        crs=4548,
    )  # fmt: skip
    assert locate_lines(lines, areas).tolist() == ["w", "e", "e"]


# --- citygrid roads segment, on a real PostGIS ----------------------------------------------


@pytest.mark.db
def test_roads_segment_loads_named_segments(clean_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from citygrid.cli import main
    from db.access import SYSTEM
    from etl.load import load_file

    x, y = 449_000.0, 4_420_000.0
    roads = gpd.GeoDataFrame(
        {
            "code": ["a", "b", "c", "h"],
            "name": ["东四北大街", "东四十条", "张自忠路", "东四六条"],
            "road_class": ["主干路", "主干路", "主干路", "胡同"],
        },
        geometry=[
            LineString([(x, y), (x, y + 900)]),
            LineString([(x - 200, y + 300), (x + 200, y + 300)]),
            LineString([(x - 200, y + 600), (x + 200, y + 600)]),
            LineString([(x, y + 450), (x + 250, y + 450)]),
        ],
        crs=4548,
    )
    roads.to_file(tmp_path / "roads.gpkg")
    assert load_file(clean_db, "roads", tmp_path / "roads.gpkg", actor=SYSTEM).status == "done"
    assert main(["roads", "segment", "--out", str(tmp_path / "segs.gpkg")]) == 0
    with clean_db.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT road_name, from_name, to_name, kind, length_m FROM road_segments "
                "ORDER BY code"
            )
        ).all()
    main_street = [(r.from_name, r.to_name) for r in rows if r.road_name == "东四北大街"]
    assert main_street == [("尽头", "东四十条"), ("东四十条", "张自忠路"), ("张自忠路", "尽头")]
    lane = [r for r in rows if r.road_name == "东四六条"]
    assert [(r.kind, r.from_name, r.to_name) for r in lane] == [("lane", "东四北大街", "尽头")]
    assert sum(r.length_m for r in rows) == pytest.approx(900 + 400 + 400 + 250)
