"""Each layer loads through the shared path, with its derivations checked by hand."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from sqlalchemy.engine import Engine

from etl.choices import (
    ASSIGNMENT_ROLES,
    PROBLEM_STATUS_CHOICES,
    PROBLEM_STATUSES,
    ROLE_CHOICES,
    TARGET_TYPE_CHOICES,
    TARGET_TYPES,
)
from etl.columns import accepted_headers, normalise_header
from etl.specs import LAYERS
from tests.test_etl_formats import (
    SRID,
    World,
    box,
    build_world,
    derived,
    line,
    lonlat,
    problems_frame,
)

pytestmark = pytest.mark.db


@pytest.fixture
def world(clean_db: Engine, tmp_path: Path) -> World:
    return build_world(clean_db, tmp_path)


def test_every_layer_has_a_target_table_and_unambiguous_aliases() -> None:
    from db.models import Base

    for spec in LAYERS.values():
        assert spec.table in Base.metadata.tables, spec.name
        table = Base.metadata.tables[spec.table]
        for col in spec.output:
            assert col in table.c, (spec.name, col)
        seen: dict[str, str] = {}
        for name, headers in accepted_headers(spec).items():
            for h in headers:
                key = normalise_header(h)
                assert seen.setdefault(key, name) == name, (spec.name, h, seen[key], name)
    assert set(PROBLEM_STATUS_CHOICES.values()) == set(PROBLEM_STATUSES)
    assert set(ROLE_CHOICES.values()) == set(ASSIGNMENT_ROLES)
    assert set(TARGET_TYPE_CHOICES.values()) == set(TARGET_TYPES)


def test_admin_areas_from_adcode_style_table(clean_db: Engine, tmp_path: Path) -> None:
    lon, lat = lonlat(500, 500)
    pd.DataFrame(
        {
            "code": ["110101", "110101001", "110101001001"],
            "name": ["东城区", "东华门街道", "多福巷社区"],
            "level": ["county", "town", "village"],
            "longitude": [None, lon, lon],
            "latitude": [None, lat, lat],
            "人口": [700000, None, 3000],
        }
    ).to_csv(tmp_path / "a.csv", index=False)
    w = World(clean_db, tmp_path)
    report = w.load("admin_areas", tmp_path / "a.csv")
    assert report.n_inserted == 3, report.rejects
    assert w.rows(
        "SELECT code, level, parent_code, population, centre IS NOT NULL FROM admin_areas ORDER BY code"
    ) == [
        ("110101000000", "district", None, 700000, False),
        ("110101001000", "street_office", "110101000000", None, True),
        ("110101001001", "community", "110101001000", 3000, True),
    ]


def test_admin_polygons_give_centres_and_keep_them_on_reload_without_geometry(
    world: World,
) -> None:
    assert world.scalar("SELECT count(*) FROM admin_areas WHERE centre IS NULL") == 0
    assert world.scalar(
        "SELECT bool_and(ST_Contains(geom, centre)) FROM admin_areas"
    )  # point on surface
    pd.DataFrame({"code": ["110101001001"], "name": ["改名社区"], "level": ["社区"]}).to_csv(
        world.folder / "rename.csv", index=False
    )
    report = world.load("admin_areas", world.folder / "rename.csv")
    assert report.n_updated == 1
    assert world.rows(
        "SELECT name, geom IS NOT NULL, parent_code FROM admin_areas WHERE code = '110101001001'"
    ) == [("改名社区", True, "110101001000")]


def test_categories_derive_major_code_and_map_units(world: World) -> None:
    assert world.rows(
        "SELECT code, major_code, patrol_category, deadline_unit FROM problem_categories ORDER BY code"
    ) == [
        ("06010", "06", 1, "work_hours"),
        ("09006", "09", 3, "work_hours"),
        ("12001", "12", 6, "work_days"),
    ]


def test_grid_cells_link_communities_and_area(world: World) -> None:
    assert world.scalar("SELECT count(*) FROM grid_cells") == 15
    assert world.scalar("SELECT min(area_m2) = 250000 AND max(area_m2) = 250000 FROM grid_cells")
    assert world.rows(
        "SELECT c.code, a.code FROM grid_cells c JOIN admin_areas a ON a.id = c.community_id "
        "WHERE c.code LIKE '110101002001%' ORDER BY 1 LIMIT 1"
    ) == [("110101002001001", "110101002001")]


def test_grid_cell_community_from_code_prefix_when_not_given(world: World) -> None:
    gpd.GeoDataFrame(
        {"code": ["110101002002004"]}, geometry=[box(1500, 1500, 500, 500)], crs=SRID
    ).to_file(world.folder / "c.gpkg")
    assert world.load("grid_cells", world.folder / "c.gpkg").n_inserted == 1
    assert (
        world.scalar(
            "SELECT a.code FROM grid_cells c JOIN admin_areas a ON a.id = c.community_id "
            "WHERE c.code = '110101002002004'"
        )
        == "110101002002"
    )


def test_roads_and_segments_with_codes_and_places(world: World) -> None:
    gpd.GeoDataFrame(
        {"code": ["R1"], "name": ["东西大街"], "fclass": ["primary"]},
        geometry=[line((0, 1000), (2000, 1000))],
        crs=SRID,
    ).to_file(world.folder / "roads.gpkg")
    assert world.load("roads", world.folder / "roads.gpkg").n_inserted == 1
    assert world.rows("SELECT kind, road_class, ST_GeometryType(geom) FROM roads") == [
        ("street", "primary", "ST_MultiLineString")
    ]
    gpd.GeoDataFrame(
        {
            "code": ["S9"],
            "road_name": ["东西大街"],
            "road_code": ["R1"],
            "street_office_code": ["110101002"],
        },
        geometry=[line((1200, 400), (1400, 400))],
        crs=SRID,
    ).to_file(world.folder / "s.gpkg")
    report = world.load("road_segments", world.folder / "s.gpkg")
    assert report.n_inserted == 1, report.rejects
    assert world.rows(
        """
        SELECT r.code, o.code, c.code, s.length_m, s.kind FROM road_segments s
        JOIN roads r ON r.id = s.road_id JOIN admin_areas o ON o.id = s.street_office_id
        JOIN admin_areas c ON c.id = s.community_id WHERE s.code = 'S9'
        """
    ) == [("R1", "110101002000", "110101002001", 200.0, "street")]


def test_road_kind_comes_from_the_road_class_when_the_file_has_none(world: World) -> None:
    gpd.GeoDataFrame(
        {
            "code": ["R1", "R2", "R3", "R4", "R5"],
            "name": ["东西大街", "史家胡同", "小街", "Lane A", "北新桥三条"],
            "道路等级": ["主干路", "胡同", "小街巷", "hutong", None],
        },
        geometry=[line((0, 100 * k), (500, 100 * k)) for k in range(1, 6)],
        crs=SRID,
    ).to_file(world.folder / "roads.gpkg")
    assert world.load("roads", world.folder / "roads.gpkg").n_inserted == 5
    assert world.rows("SELECT code, kind FROM roads ORDER BY code") == [
        ("R1", "street"),
        ("R2", "lane"),
        ("R3", "lane"),
        ("R4", "lane"),
        ("R5", "street"),
    ]
    # a kind the file gives wins over the class
    gpd.GeoDataFrame(
        {"code": ["R6"], "name": ["宽胡同"], "道路等级": ["胡同"], "类型": ["street"]},
        geometry=[line((0, 700), (500, 700))],
        crs=SRID,
    ).to_file(world.folder / "roads2.gpkg")
    assert world.load("roads", world.folder / "roads2.gpkg").n_inserted == 1
    assert world.scalar("SELECT kind FROM roads WHERE code = 'R6'") == "street"


def test_segments_derive_places_from_the_map(world: World) -> None:
    assert world.rows(
        "SELECT s.code, o.code FROM road_segments s JOIN admin_areas o ON o.id = s.street_office_id "
        "WHERE s.code IN ('S2', 'L1') ORDER BY 1"
    ) == [("L1", "110101001000"), ("S2", "110101002000")]


def test_lanes_layer_forces_kind_lane(world: World) -> None:
    gpd.GeoDataFrame(
        {"路段编码": ["L7"], "道路名称": ["东四十条胡同"]},
        geometry=[line((300, 300), (300, 450))],
        crs=SRID,
    ).to_file(world.folder / "lanes.gpkg")
    assert world.load("lanes", world.folder / "lanes.gpkg").n_inserted == 1
    assert world.scalar("SELECT kind FROM road_segments WHERE code = 'L7'") == "lane"


def test_markets_and_premises_take_points_or_polygons(world: World) -> None:
    lon, lat = lonlat(1600, 200)
    pd.DataFrame(
        {
            "市场编码": ["M1"],
            "市场名称": ["东华门农贸市场"],
            "类型": ["农贸市场"],
            "经度": [lon],
            "纬度": [lat],
        }
    ).to_csv(world.folder / "m.csv", index=False)
    assert world.load("markets", world.folder / "m.csv").n_inserted == 1
    gpd.GeoDataFrame(
        {"code": ["K1", "K2"], "name": ["饭馆", "超市"], "kind": ["餐饮", "超市"]},
        geometry=[box(100, 1100, 20, 20), shapely.Point(990 + 449_000, 50 + 4_420_000)],
        crs=SRID,
    ).to_file(world.folder / "k.gpkg")
    assert world.load("premises", world.folder / "k.gpkg").n_inserted == 2
    assert world.rows(
        "SELECT m.code, o.code, c.code FROM markets m JOIN admin_areas o ON o.id = m.street_office_id "
        "JOIN admin_areas c ON c.id = m.community_id"
    ) == [("M1", "110101002000", "110101002001")]
    assert world.rows(
        "SELECT p.code, GeometryType(p.geom), c.code FROM premises p "
        "JOIN admin_areas c ON c.id = p.community_id ORDER BY 1"
    ) == [("K1", "POLYGON", "110101001002"), ("K2", "POINT", "110101001001")]


def test_bait_stations_default_state(world: World) -> None:
    lon, lat = lonlat(10, 10)
    pd.DataFrame({"code": ["B1"], "bait_type": ["蜡块"], "lon": [lon], "lat": [lat]}).to_csv(
        world.folder / "b.csv", index=False
    )
    assert world.load("bait_stations", world.folder / "b.csv").n_inserted == 1
    assert world.rows("SELECT state, bait_type FROM bait_stations") == [("intact", "蜡块")]


def test_people_key_phone_and_street_office(world: World) -> None:
    pd.DataFrame(
        {
            "姓名": ["王小明", "李四"],
            "手机": ["138 1234 5678", None],
            "职务": ["三级街长", "网格员"],
            "街道编码": ["110101001", None],
        }
    ).to_csv(world.folder / "people.csv", index=False)
    assert world.load("people", world.folder / "people.csv").n_inserted == 2
    assert world.rows(
        "SELECT p.person_key, p.phone, o.code FROM people p "
        "LEFT JOIN admin_areas o ON o.id = p.street_office_id ORDER BY 1"
    ) == [("李四|", None, None), ("王小明|13812345678", "13812345678", "110101001000")]


def test_problems_outside_cells_and_district(world: World) -> None:
    points = {"Q1": ((-500, 500), None, None)}  # 500 m west of the district: loaded, no places
    problems_frame(points).to_csv(world.folder / "q.csv", index=False)
    report = world.load("problems", world.folder / "q.csv")
    assert report.n_inserted == 1
    assert derived(world)["Q1"] == (None, None, None, None, None)


def test_problem_nearest_segment_agrees_with_postgis(world: World) -> None:
    import numpy as np

    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 2000, (300, 2))
    points = {f"R{i}": ((float(x), float(y)), None, None) for i, (x, y) in enumerate(xy)}
    problems_frame(points).to_csv(world.folder / "r.csv", index=False)
    assert world.load("problems", world.folder / "r.csv").n_inserted == 300
    mismatches = world.rows(
        """
        SELECT p.case_no FROM problems p
        LEFT JOIN LATERAL (
            SELECT s.id, ST_Distance(s.geom, p.geom) AS d FROM road_segments s
            WHERE ST_DWithin(s.geom, p.geom, 60) ORDER BY ST_Distance(s.geom, p.geom), s.id LIMIT 1
        ) n ON true
        LEFT JOIN LATERAL (
            SELECT c.id FROM grid_cells c WHERE ST_Intersects(c.geom, p.geom) ORDER BY c.id LIMIT 1
        ) c ON true
        WHERE p.segment_id IS DISTINCT FROM n.id
           OR abs(coalesce(p.segment_dist_m, -1) - coalesce(n.d, -1)) > 1e-6
           OR p.cell_id IS DISTINCT FROM c.id
        """
    )
    assert mismatches == []
