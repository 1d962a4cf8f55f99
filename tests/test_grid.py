"""Unit grid cells: exact tiling of odd shapes, sizes, slivers, roads, codes (gis.grid)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon, box

from gis.errors import CRSError, DataError
from gis.grid import check_tiling, grid_cells, reading_order, sequence_codes
from gis.voronoi import voronoi_regions

TARGET = 10_000.0


def _comm(*geoms: shapely.Geometry, first: int = 1) -> gpd.GeoDataFrame:
    codes = [f"110101001{first + i:03d}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"code": codes}, geometry=list(geoms), crs=4548)


def _assert_tiles(cells: gpd.GeoDataFrame, comms: gpd.GeoDataFrame) -> None:
    assert check_tiling(cells, comms).empty
    for code, geom in zip(comms.code, comms.geometry, strict=True):
        mine = cells[cells.community_code == code]
        assert mine.area_m2.sum() == pytest.approx(geom.area, rel=1e-9)
        # pairwise: no two cells share any area
        g = np.asarray(mine.geometry.values)
        i, j = shapely.STRtree(g).query(g, predicate="intersects")
        keep = i < j
        assert shapely.area(shapely.intersection(g[i[keep]], g[j[keep]])).max(initial=0) < 1e-6


def test_rectangle_gives_six_cells_of_the_target_area() -> None:
    comms = _comm(box(0, 0, 300, 200))
    cells = grid_cells(comms)
    _assert_tiles(cells, comms)
    assert len(cells) == 6
    assert cells.area_m2.between(0.75 * TARGET, 1.25 * TARGET).all()
    assert cells.code.tolist() == [f"110101001001{i:03d}" for i in range(1, 7)]


def test_cells_are_numbered_west_to_east_then_north_to_south() -> None:
    cells = grid_cells(_comm(box(0, 0, 300, 200)))
    rp = cells.geometry.representative_point()
    rows = np.floor((200 - rp.y) / 100)
    assert rows.is_monotonic_increasing
    for r in rows.unique():
        assert rp.x[rows == r].is_monotonic_increasing


def test_reading_order_puts_the_north_row_first() -> None:
    geoms = np.array([box(0, 0, 10, 10), box(10, 10, 20, 20), box(0, 10, 10, 20)])
    assert reading_order(geoms, row_height_m=10).tolist() == [2, 1, 0]


def test_hole_stays_uncovered() -> None:
    hole = box(150, 100, 350, 300)
    comms = _comm(box(0, 0, 500, 400).difference(hole))
    cells = grid_cells(comms)
    _assert_tiles(cells, comms)
    assert cells.area_m2.sum() == pytest.approx(500 * 400 - 200 * 200)
    assert shapely.area(shapely.intersection(np.asarray(cells.geometry.values), hole)).max() < 1e-6
    assert len(cells) == 16


def test_small_island_of_a_multipolygon_joins_the_nearest_cell() -> None:
    island = box(400, 0, 450, 40)  # 2,000 m²: too small for a cell of its own
    comms = _comm(MultiPolygon([box(0, 0, 300, 300), island]))
    cells = grid_cells(comms)
    _assert_tiles(cells, comms)
    assert len(cells) == 9
    assert cells.area_m2.min() >= 0.35 * TARGET
    holder = cells[cells.geometry.intersects(island.buffer(-1))]
    assert len(holder) == 1
    assert holder.geometry.iloc[0].geom_type == "MultiPolygon"


def test_large_island_gets_cells_of_its_own() -> None:
    comms = _comm(MultiPolygon([box(0, 0, 200, 100), box(1000, 0, 1200, 100)]))
    cells = grid_cells(comms)
    _assert_tiles(cells, comms)
    assert len(cells) == 4
    assert (cells.geom_type == "Polygon").all()


def test_l_shape_and_circle_tile_exactly_in_one_piece_each() -> None:
    ell = Polygon([(0, 0), (600, 0), (600, 200), (200, 200), (200, 700), (0, 700)])
    circle = shapely.Point(2000, 300).buffer(300)
    comms = _comm(ell, circle)
    cells = grid_cells(comms)
    _assert_tiles(cells, comms)
    assert (cells.geom_type == "Polygon").all()
    assert cells.area_m2.between(0.5 * TARGET, 1.6 * TARGET).all()


def test_cells_follow_a_road_through_the_community() -> None:
    comms = _comm(box(0, 0, 400, 200))
    road = gpd.GeoSeries([LineString([(200, -10), (200, 210)])], crs=4548)
    cells = grid_cells(comms, roads=road)
    _assert_tiles(cells, comms)
    # no cell's interior meets the road: every cell lies on one side of it
    interior = [c.intersection(road.iloc[0]).length for c in cells.geometry.buffer(-0.01)]
    assert max(interior) == 0.0
    west = cells.geometry.representative_point().x < 200
    assert cells.area_m2[west].sum() == pytest.approx(40_000)


def _crossed(cells: gpd.GeoDataFrame, roads: gpd.GeoSeries) -> float:
    """Length of road running through the interior of any cell."""
    inner = cells.geometry.buffer(-0.01)
    return float(sum(inner.intersection(r).length.sum() for r in roads))


def test_a_dead_end_road_cuts_no_block() -> None:
    """A cul-de-sac (from the edge to the middle, and one floating inside) separates
    nothing: the cells are exactly those of the community without roads."""
    comms = _comm(box(0, 0, 400, 300))
    roads = gpd.GeoSeries(
        [LineString([(-10, 150), (200, 150)]), LineString([(250, 60), (250, 240)])], crs=4548
    )
    cells = grid_cells(comms, roads=roads)
    _assert_tiles(cells, comms)
    plain = grid_cells(comms)
    assert len(cells) == 12
    assert cells.geometry.symmetric_difference(plain.geometry).area.max() < 1e-6
    assert cells.area_m2.between(0.9 * TARGET, 1.1 * TARGET).all()


def test_a_dead_end_off_a_through_road_splits_only_along_the_through_road() -> None:
    comms = _comm(box(0, 0, 400, 300))
    through = LineString([(200, -10), (200, 310)])
    roads = gpd.GeoSeries([through, LineString([(200, 150), (320, 150)])], crs=4548)
    cells = grid_cells(comms, roads=roads)
    _assert_tiles(cells, comms)
    # two blocks of 60,000 m², six cells each, none across the through road
    assert _crossed(cells, gpd.GeoSeries([through])) == 0.0
    west = cells.geometry.representative_point().x < 200
    assert (int(west.sum()), int((~west).sum())) == (6, 6)
    assert cells.area_m2[west].sum() == pytest.approx(60_000)
    assert cells.area_m2.between(0.9 * TARGET, 1.1 * TARGET).all()


def _roundabout(radius: float) -> gpd.GeoSeries:
    """A ring road of ``radius`` at (200, 150) with four arms to the community's edges."""
    ring = shapely.Point(200, 150).buffer(radius, quad_segs=16).exterior
    arms = [
        LineString([(-10, 150), (200 - radius, 150)]),
        LineString([(200 + radius, 150), (410, 150)]),
        LineString([(200, -10), (200, 150 - radius)]),
        LineString([(200, 150 + radius), (200, 310)]),
    ]
    return gpd.GeoSeries([LineString(ring.coords), *arms], crs=4548)


def test_a_roundabout_island_large_enough_is_a_cell_of_its_own() -> None:
    """Ring of radius 40 m (island about 5,000 m², half the target): the arms cut four
    quarters of about 28,700 m² (three cells each) and the island stands alone."""
    comms = _comm(box(0, 0, 400, 300))
    roads = _roundabout(40.0)
    cells = grid_cells(comms, roads=roads)
    _assert_tiles(cells, comms)
    island = shapely.Polygon(roads.iloc[0].coords)
    assert len(cells) == 13
    holding = cells[cells.geometry.intersection(island).area > 1.0]
    assert len(holding) == 1
    assert holding.geometry.iloc[0].symmetric_difference(island).area < 1e-6
    assert _crossed(cells, roads) == 0.0  # every cell lies between roads
    assert cells.area_m2.between(0.35 * TARGET, 1.5 * TARGET).all()


def test_a_small_roundabout_island_joins_a_neighbouring_cell() -> None:
    """Ring of radius 25 m: the island (about 1,950 m²) is below the sliver limit
    (0.35 x target) and joins one neighbour whole, never split between two."""
    comms = _comm(box(0, 0, 400, 300))
    roads = _roundabout(25.0)
    cells = grid_cells(comms, roads=roads)
    _assert_tiles(cells, comms)
    island = shapely.Polygon(roads.iloc[0].coords)
    shares = cells.geometry.intersection(island).area
    assert (shares > 1.0).sum() == 1
    assert shares.max() == pytest.approx(island.area)
    assert len(cells) == 12
    assert cells.area_m2.between(0.5 * TARGET, 1.5 * TARGET).all()
    # the arms still separate the four quarters: no cell reaches across two of them
    arms = gpd.GeoSeries(list(roads.iloc[1:]))
    assert _crossed(cells, arms) == 0.0


def test_road_near_the_edge_does_not_cut_a_thin_strip() -> None:
    comms = _comm(box(0, 0, 400, 200))
    road = gpd.GeoSeries([LineString([(-10, 8), (410, 8)])], crs=4548)  # 8 m from the edge
    cells = grid_cells(comms, roads=road)
    _assert_tiles(cells, comms)
    width = 2 * cells.area / cells.length
    assert width.min() > 20.0
    assert len(cells) == 8


def test_slivers_of_a_voronoi_tiling_are_merged() -> None:
    rng = np.random.default_rng(3)
    pts = gpd.GeoSeries(shapely.points(rng.uniform(0, 2000, (12, 2))), crs=4548)
    regions = voronoi_regions(pts, extent=box(0, 0, 2000, 2000))
    comms = _comm(*regions.values)
    cells = grid_cells(comms)
    _assert_tiles(cells, comms)
    assert cells.area_m2.min() >= 0.35 * TARGET
    assert cells.area_m2.max() <= 2.2 * TARGET
    assert len(cells) == pytest.approx(400, rel=0.05)


def test_scheme_14_codes_a_whole_community_cell_00() -> None:
    comms = _comm(box(0, 0, 70, 70), box(1000, 0, 1200, 100))
    cells = grid_cells(comms, scheme="14")
    assert cells.code.tolist() == ["11010100100100", "11010100100201", "11010100100202"]


def test_scheme_14_refuses_more_than_99_cells() -> None:
    with pytest.raises(DataError, match="at most 99"):
        grid_cells(_comm(box(0, 0, 1000, 1100)), scheme="14")


def test_scheme_14_refusal_is_one_line_naming_community_count_and_fixes() -> None:
    comms = _comm(box(0, 0, 1000, 1100), box(2000, 0, 2300, 200), box(5000, 0, 6000, 1300))
    comms["name"] = ["甲社区", "乙社区", "丙社区"]
    with pytest.raises(DataError) as info:
        grid_cells(comms, scheme="14")
    message = str(info.value)
    assert "\n" not in message
    # the worst first, with its name; the other one too big listed after it
    assert "community 110101001003 丙社区 needs 130 cells of 10,000 m²" in message
    assert "110101001001 (110 cells)" in message
    assert "110101001002" not in message  # 6 cells: fine
    assert "about 14,000 m²" in message  # 130/99 x 10,000, rounded up
    assert "scheme 15" in message
    assert "--fit-scheme" in message


def test_fit_scheme_enlarges_only_the_communities_that_need_it() -> None:
    comms = _comm(box(0, 0, 1000, 1100), box(2000, 0, 2300, 200))
    cells = grid_cells(comms, scheme="14", fit_scheme=True)
    _assert_tiles(cells, comms)
    big = cells[cells.community_code == "110101001001"]
    assert 90 <= len(big) <= 99  # just enough: 1% larger cells would not need fewer
    assert big.code.tolist() == [f"110101001001{i:02d}" for i in range(1, len(big) + 1)]
    fitted = cells.attrs["fitted"]
    assert list(fitted) == ["110101001001"]
    assert 1_100_000 / 99.5 <= fitted["110101001001"] <= 1.15 * 1_100_000 / 99
    # just enough: 2% smaller cells would be too many
    smaller = 0.98 * fitted["110101001001"]
    assert len(grid_cells(comms.iloc[:1], scheme="15", target_area_m2=smaller)) > 99
    small = cells[cells.community_code == "110101001002"]
    assert len(small) == 6 and small.area_m2.between(9_000, 11_000).all()
    # under scheme 15 the same call changes nothing: 110 cells fit
    assert len(grid_cells(comms.iloc[:1], scheme="15", fit_scheme=True)) == 110


def test_numbering_can_start_after_the_codes_already_used() -> None:
    comms = _comm(box(0, 0, 300, 200), box(1000, 0, 1300, 200))  # 6 cells each
    cells = grid_cells(comms, scheme="14", first_sequence={"110101001001": 94})
    assert cells.code.tolist() == [f"110101001001{i:02d}" for i in range(94, 100)] + [
        f"110101001002{i:02d}" for i in range(1, 7)
    ]
    with pytest.raises(DataError, match="only 5 more cells there"):
        grid_cells(comms, scheme="14", first_sequence={"110101001001": 95})
    fitted = grid_cells(comms, scheme="14", fit_scheme=True, first_sequence={"110101001001": 96})
    _assert_tiles(fitted, comms)
    assert fitted.code.tolist()[:5] == [
        "11010100100196",
        "11010100100197",
        "11010100100198",
        "11010100100199",
        "11010100100201",
    ]


def test_scheme_15an_uses_base_36() -> None:
    assert sequence_codes(36, scheme="15an")[-1] == "010"
    assert sequence_codes(46, scheme="15an")[-1] == "01A"
    assert sequence_codes(1, scheme="15") == ["001"]


def test_target_area_is_an_option() -> None:
    cells = grid_cells(_comm(box(0, 0, 300, 200)), target_area_m2=2_500)
    assert len(cells) == 24


def test_input_is_not_changed() -> None:
    comms = _comm(box(0, 0, 300, 200))
    before = comms.copy()
    grid_cells(comms)
    assert comms.equals(before)


def test_geographic_coordinates_are_refused() -> None:
    comms = _comm(box(116.4, 39.9, 116.41, 39.91)).set_crs(4326, allow_override=True)
    with pytest.raises(CRSError, match="metric"):
        grid_cells(comms)


@pytest.mark.parametrize(
    ("codes", "message"),
    [(["11010100100"], "12 digits"), (["110101001001", "110101001001"], "repeat")],
)
def test_bad_community_codes_are_refused(codes: list[str], message: str) -> None:
    comms = gpd.GeoDataFrame({"code": codes}, geometry=[box(0, 0, 100, 100)] * len(codes), crs=4548)
    with pytest.raises(DataError, match=message):
        grid_cells(comms)


def test_check_tiling_reports_gaps_overlaps_and_spill() -> None:
    comms = _comm(box(0, 0, 100, 100))
    cells = gpd.GeoDataFrame(
        {"community_code": ["110101001001"] * 3},
        geometry=[box(0, 0, 60, 100), box(50, 0, 90, 100), box(90, 0, 100, 110)],
        crs=4548,
    )
    found = check_tiling(cells, comms).set_index("problem").area_m2
    assert found["overlap"] == pytest.approx(1000)
    assert found["outside"] == pytest.approx(100)
    assert "gap" not in found
    cells2 = cells.iloc[:1]
    assert check_tiling(cells2, comms).set_index("problem").area_m2["gap"] == pytest.approx(4000)


# --- citygrid grid generate, on a real PostGIS --------------------------------------------


@pytest.mark.db
def test_grid_generate_tiles_the_loaded_communities(clean_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from citygrid.cli import main
    from db.access import SYSTEM
    from etl.load import load_file

    x, y = 449_000.0, 4_420_000.0
    a, b = box(x, y, x + 300, y + 200), box(x + 300, y, x + 500, y + 200)
    admin = gpd.GeoDataFrame(
        {
            "code": ["110101000000", "110101001000", "110101001001", "110101001002"],
            "name": ["东城区", "东华门街道办事处", "甲社区居委会", "乙社区居委会"],
            "level": ["district", "street_office", "community", "community"],
            "parent_code": [None, "110101000000", "110101001000", "110101001000"],
        },
        geometry=[a.union(b), a.union(b), a, b],
        crs=4548,
    )
    admin.to_file(tmp_path / "admin.gpkg")
    roads = gpd.GeoDataFrame(
        {"code": ["r1"], "name": ["南北街"], "road_class": ["支路"], "kind": ["street"]},
        geometry=[LineString([(x + 150, y - 10), (x + 150, y + 210)])],
        crs=4548,
    )
    roads.to_file(tmp_path / "roads.gpkg")
    assert (
        load_file(clean_db, "admin_areas", tmp_path / "admin.gpkg", actor=SYSTEM).status == "done"
    )
    assert load_file(clean_db, "roads", tmp_path / "roads.gpkg", actor=SYSTEM).status == "done"
    out = tmp_path / "cells.gpkg"
    assert main(["grid", "generate", "--out", str(out)]) == 0
    with clean_db.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT g.code, a.code AS community, g.responsible_body, ST_Area(g.geom) AS area "
                "FROM grid_cells g JOIN admin_areas a ON a.id = g.community_id ORDER BY g.code"
            )
        ).all()
        covered = conn.scalar(
            sa.text(
                "SELECT ST_Area(ST_SymDifference(ST_Union(g.geom), "
                "(SELECT geom FROM admin_areas WHERE code = '110101001001'))) FROM grid_cells g "
                "JOIN admin_areas a ON a.id = g.community_id WHERE a.code = '110101001001'"
            )
        )
    assert len(rows) == 10
    assert [r.code for r in rows[:6]] == [f"110101001001{i:03d}" for i in range(1, 7)]
    assert {r.responsible_body for r in rows} == {"甲社区居委会", "乙社区居委会"}
    assert sum(r.area for r in rows) == pytest.approx(100_000)
    assert covered < 1e-3
    # the street at x + 150 splits community 甲 into two halves of three cells each
    west = [r for r in rows if r.community == "110101001001"]
    assert len(west) == 6


@pytest.mark.db
def test_grid_generate_under_scheme_14_refuses_in_one_line_or_fits(  # type: ignore[no-untyped-def]
    clean_db, tmp_path, monkeypatch, capsys
) -> None:
    import sqlalchemy as sa

    from citygrid.cli import main
    from citygrid.settings import get_settings
    from db.access import SYSTEM
    from etl.load import load_file

    monkeypatch.setenv("CITYGRID_GRID_CODE_SCHEME", "14")
    get_settings.cache_clear()
    try:
        x, y = 449_000.0, 4_420_000.0
        big, small = box(x, y, x + 1000, y + 1100), box(x + 1000, y, x + 1300, y + 200)
        admin = gpd.GeoDataFrame(
            {
                "code": ["110101001000", "110101001001", "110101001002"],
                "name": ["东华门街道办事处", "大社区居委会", "小社区居委会"],
                "level": ["street_office", "community", "community"],
                "parent_code": [None, "110101001000", "110101001000"],
            },
            geometry=[big.union(small), big, small],
            crs=4548,
        )
        admin.to_file(tmp_path / "admin.gpkg")
        assert load_file(clean_db, "admin_areas", tmp_path / "admin.gpkg", actor=SYSTEM).status == (
            "done"
        )
        args = ["grid", "generate", "--no-follow-roads", "--out", str(tmp_path / "c.gpkg")]
        capsys.readouterr()
        assert main(args) == 1
        err = capsys.readouterr().err.strip()
        assert "\n" not in err
        assert "community 110101001001 大社区居委会 needs 110 cells of 10,000 m²" in err
        assert "scheme 15" in err and "--fit-scheme" in err
        assert main([*args, "--fit-scheme"]) == 0
        assert "community 110101001001: cells of about" in capsys.readouterr().out
        with clean_db.connect() as conn:
            per = dict(
                conn.execute(
                    sa.text("SELECT left(code, 12), count(*) FROM grid_cells GROUP BY 1")
                ).all()
            )
        assert 90 <= per["110101001001"] <= 99 and per["110101001002"] == 6
    finally:
        monkeypatch.undo()  # before the settings are read again, by anyone
        get_settings.cache_clear()
