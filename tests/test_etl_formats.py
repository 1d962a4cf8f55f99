"""Loading each file format: GeoPackage, Shapefile (UTF-8/GBK, with or without .cpg, zipped),
GeoJSON, CSV (UTF-8, BOM, GBK, tabs) and XLSX, on a real PostGIS.

Also home of the small hand-checked world the other ``test_etl_*`` modules load: a
2 km square district in EPSG:4548 with two street offices, four communities, fifteen
grid cells (one left out on purpose) and four road segments plus a lane.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from pyproj import Transformer
from sqlalchemy.engine import Engine

from db.access import SYSTEM
from etl.load import LoadReport, load_file
from gis.errors import DataError

pytestmark = pytest.mark.db

X0, Y0 = 449_000.0, 4_420_000.0  # central Dongcheng, EPSG:4548
SRID = 4548
TO_WGS = Transformer.from_crs(SRID, 4326, always_xy=True)
OFFICES = {"110101001000": (0, 0), "110101002000": (1000, 0)}  # west, east halves
COMMUNITIES = {
    "110101001001": (0, 0),
    "110101001002": (0, 1000),
    "110101002001": (1000, 0),
    "110101002002": (1000, 1000),
}
MISSING_CELL = "110101002002004"  # north-east quarter of the north-east community


def lonlat(x: float, y: float) -> tuple[float, float]:
    """Working-CRS offsets from the world's origin as WGS 84 longitude/latitude."""
    lon, lat = TO_WGS.transform(X0 + x, Y0 + y)
    return float(lon), float(lat)


def box(x: float, y: float, w: float, h: float) -> shapely.Polygon:
    return shapely.box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)


def admin_frame() -> gpd.GeoDataFrame:
    rows = [("110101000000", "测试区", "district", None, box(0, 0, 2000, 2000))]
    for i, (code, (x, y)) in enumerate(OFFICES.items(), start=1):
        rows.append((code, f"测试街道{i}", "street_office", "110101000000", box(x, y, 1000, 2000)))
    for code, (x, y) in COMMUNITIES.items():
        rows.append(
            (code, f"社区{code[-4:]}", "community", code[:9] + "000", box(x, y, 1000, 1000))
        )
    return gpd.GeoDataFrame(
        rows, columns=["code", "name", "level", "parent_code", "geometry"], crs=SRID
    )


def cells_frame() -> gpd.GeoDataFrame:
    rows = []
    for code, (x, y) in COMMUNITIES.items():
        for k in range(4):
            cell = f"{code}{k + 1:03d}"
            if cell != MISSING_CELL:
                rows.append((cell, code, box(x + (k % 2) * 500, y + (k // 2) * 500, 500, 500)))
    return gpd.GeoDataFrame(rows, columns=["code", "community_code", "geometry"], crs=SRID)


def line(*pts: tuple[float, float]) -> shapely.LineString:
    return shapely.LineString([(X0 + x, Y0 + y) for x, y in pts])


def segments_frame() -> gpd.GeoDataFrame:
    rows = [
        ("S1", "东西大街", "西边路", "中轴路", "street", line((0, 1000), (1000, 1000))),
        ("S2", "东西大街", "中轴路", "东边路", "street", line((1000, 1000), (2000, 1000))),
        ("S3", "中轴路", "南边路", "东西大街", "street", line((1000, 0), (1000, 1000))),
        ("S4", "中轴路", "东西大街", "北边路", "street", line((1000, 1000), (1000, 2000))),
        ("L1", "小胡同", "东西大街", "北边路", "lane", line((250, 1200), (250, 1800))),
    ]
    cols = ["code", "road_name", "from_name", "to_name", "kind", "geometry"]
    return gpd.GeoDataFrame(rows, columns=cols, crs=SRID)


def categories_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "code": ["06010", "09006", "12001"],
            "name": ["暴露垃圾", "占道经营", "鼠迹"],
            "patrol_category": [1, 3, 6],
            "deadline_value": [4, 4, 5],
            "deadline_unit": ["work_hours", "工作时", "工作日"],
        }
    )


#: Problem points (offsets from the origin) with what the load must derive for them.
POINTS = {
    "P1": ((250, 250), "110101001001001", None),
    "P2": ((1500, 1010), "110101002002002", "S2"),
    "P3": ((1750, 1750), None, None),  # in the missing cell: community and office only
    "P4": ((1005, 1003), "110101002002001", "S2"),  # 3 m from S2, 5 m from S4
}


def problems_frame(
    points: dict[str, tuple[tuple[float, float], object, object]] = POINTS,
) -> pd.DataFrame:
    xy = [lonlat(*p[0]) for p in points.values()]
    return pd.DataFrame(
        {
            "case_no": list(points),
            "category_code": "06010",
            "source": "巡查",
            "status": "已结案",
            "reported_at": "2024-03-05 10:00:00",
            "closed_at": "2024-03-05 12:30:00",
            "description": "暴露垃圾",
            "lon": [p[0] for p in xy],
            "lat": [p[1] for p in xy],
        }
    )


@dataclass
class World:
    """The test world, loaded into the test database."""

    engine: Engine
    folder: Path

    def load(self, layer: str, path: Path, **kw: object) -> LoadReport:
        kw.setdefault("actor", SYSTEM)
        return load_file(self.engine, layer, path, **kw)  # type: ignore[arg-type]

    def scalar(self, sql: str, **params: object) -> object:
        with self.engine.connect() as conn:
            return conn.scalar(sa.text(sql), params)

    def rows(self, sql: str, **params: object) -> list[tuple[object, ...]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql), params).all()]


def build_world(engine: Engine, folder: Path, *, layers: tuple[str, ...] = ("all",)) -> World:
    """Write the world's files and load them (admin areas, cells, segments, categories)."""
    everything = "all" in layers
    admin_frame().to_file(folder / "admin.gpkg")
    cells_frame().to_file(folder / "cells.gpkg")
    segments_frame().to_file(folder / "segments.gpkg")
    categories_frame().to_csv(folder / "categories.csv", index=False)
    world = World(engine, folder)
    for layer, name in (
        ("admin_areas", "admin.gpkg"),
        ("grid_cells", "cells.gpkg"),
        ("road_segments", "segments.gpkg"),
        ("categories", "categories.csv"),
    ):
        if everything or layer in layers:
            report = world.load(layer, folder / name)
            assert report.status == "done" and report.n_rejected == 0, report.rejects
    return world


@pytest.fixture
def world(clean_db: Engine, tmp_path: Path) -> Iterator[World]:
    yield build_world(clean_db, tmp_path)


def derived(world: World) -> dict[str, tuple[object, ...]]:
    """case_no -> (cell code, community code, office code, segment code, distance)."""
    rows = world.rows(
        """
        SELECT p.case_no, c.code, cm.code, o.code, s.code, round(p.segment_dist_m::numeric, 3)
        FROM problems p
        LEFT JOIN grid_cells c ON c.id = p.cell_id
        LEFT JOIN admin_areas cm ON cm.id = p.community_id
        LEFT JOIN admin_areas o ON o.id = p.street_office_id
        LEFT JOIN road_segments s ON s.id = p.segment_id
        ORDER BY p.case_no
        """
    )
    return {str(r[0]): r[1:] for r in rows}


def check_points(world: World) -> None:
    got = derived(world)
    assert set(got) == set(POINTS)
    for case, ((x, y), cell, seg) in POINTS.items():
        community = next(
            c for c, (cx, cy) in COMMUNITIES.items() if cx <= x < cx + 1000 and cy <= y < cy + 1000
        )
        assert got[case][0] == cell, case
        assert got[case][1] == community, case
        assert got[case][2] == community[:9] + "000", case
        assert got[case][3] == seg, case
    assert float(got["P4"][4]) == pytest.approx(3.0, abs=1e-3)


# --- formats ------------------------------------------------------------------------


def test_csv_utf8_with_chinese_headers_and_derivations(world: World) -> None:
    frame = problems_frame().rename(columns={"case_no": "案件编号", "lon": "经度", "lat": "纬度"})
    frame.to_csv(world.folder / "p.csv", index=False, encoding="utf-8-sig")
    report = world.load("problems", world.folder / "p.csv")
    assert (report.status, report.n_read, report.n_inserted, report.n_rejected) == ("done", 4, 4, 0)
    check_points(world)
    assert (
        world.scalar("SELECT count(*) FROM problems WHERE status = 'closed' AND source = 'patrol'")
        == 4
    )


def test_csv_gbk_and_tab_separated(world: World) -> None:
    frame = problems_frame().rename(columns={"description": "问题描述"})
    (world.folder / "p.tsv").write_bytes(frame.to_csv(sep="\t", index=False).encode("gbk"))
    report = world.load("problems", world.folder / "p.tsv")
    assert report.n_inserted == 4, report.rejects
    assert any("GBK" in m for m in report.messages)
    assert world.scalar("SELECT description FROM problems WHERE case_no = 'P1'") == "暴露垃圾"


def test_csv_encoding_option_overrides_detection(world: World) -> None:
    frame = problems_frame()
    (world.folder / "p.csv").write_bytes(frame.to_csv(index=False).encode("gbk"))
    report = world.load("problems", world.folder / "p.csv", encoding="gbk")
    assert report.n_inserted == 4
    assert world.scalar("SELECT description FROM problems WHERE case_no = 'P2'") == "暴露垃圾"


def test_geopackage_points_and_geojson(world: World) -> None:
    frame = problems_frame()
    gdf = gpd.GeoDataFrame(
        frame.drop(columns=["lon", "lat"]),
        geometry=gpd.points_from_xy(frame["lon"], frame["lat"]),
        crs=4326,
    )
    gdf.to_file(world.folder / "p.gpkg", layer="problems")
    assert world.load("problems", world.folder / "p.gpkg").n_inserted == 4
    check_points(world)
    gdf.to_file(world.folder / "p.geojson", driver="GeoJSON")
    again = world.load("problems", world.folder / "p.geojson")
    assert (again.n_inserted, again.n_unchanged) == (0, 4)


def test_geopackage_in_the_working_crs_keeps_exact_coordinates(world: World) -> None:
    gpd.GeoDataFrame(
        {"code": ["M1"], "name": ["测试市场"], "kind": ["农贸市场"]},
        geometry=[box(100, 100, 50, 40)],
        crs=SRID,
    ).to_file(world.folder / "m.gpkg")
    assert world.load("markets", world.folder / "m.gpkg").n_inserted == 1
    assert world.scalar(
        "SELECT ST_Equals(geom, ST_GeomFromText(:w, 4548)) FROM markets",
        w=box(100, 100, 50, 40).wkt,
    )


def test_multi_layer_geopackage_needs_a_layer(world: World) -> None:
    path = world.folder / "two.gpkg"
    segments_frame().to_file(path, layer="roads_a")
    segments_frame().to_file(path, layer="roads_b")
    with pytest.raises(DataError, match=r"several layers .*roads_a, roads_b.*--sheet"):
        world.load("road_segments", path)
    report = world.load("road_segments", path, sheet="roads_b")
    assert (report.n_updated + report.n_unchanged) == 5


def _gbk_shapefile(folder: Path, *, cpg: str | None) -> Path:
    frame = segments_frame().rename(
        columns={
            "code": "路段编码",
            "road_name": "道路名称",
            "from_name": "起点",
            "to_name": "终点",
        }
    )
    frame = frame.drop(columns="kind").assign(路段编码=["G1", "G2", "G3", "G4", "G5"])
    path = folder / "gbk.shp"
    frame.to_file(path, encoding="GBK")
    cpg_path = path.with_suffix(".cpg")
    if cpg is None:
        cpg_path.unlink()
    else:
        cpg_path.write_text(cpg)
    return path


@pytest.mark.parametrize("cpg", [None, "GBK", "936"])
def test_gbk_shapefile_with_chinese_attribute_names(world: World, cpg: str | None) -> None:
    path = _gbk_shapefile(world.folder, cpg=cpg)
    with (path.with_suffix(".dbf")).open("rb") as f:
        assert "道路名称".encode("gbk") in f.read(400)  # really GBK on disk
    report = world.load("road_segments", path)
    assert report.n_inserted == 5, report.rejects
    assert world.rows(
        "SELECT road_name, from_name, to_name FROM road_segments WHERE code = 'G1'"
    ) == [("东西大街", "西边路", "中轴路")]
    if cpg is None:
        assert any("GB18030" in m for m in report.messages)


def test_utf8_shapefile_zipped(world: World) -> None:
    frame = segments_frame().assign(code=["Z1", "Z2", "Z3", "Z4", "Z5"])
    frame.to_file(world.folder / "utf.shp", encoding="UTF-8")
    zpath = world.folder / "segments.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for part in world.folder.glob("utf.*"):
            z.write(part, arcname=f"data/{part.name}")
    report = world.load("road_segments", zpath)
    assert report.n_inserted == 5
    assert world.scalar("SELECT road_name FROM road_segments WHERE code = 'Z3'") == "中轴路"


def test_xlsx_with_title_row_numbers_and_dates(world: World) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "毒饵站"
    ws.append(["东城区毒饵站台账"])
    ws.append(["编号", "状态", "设置日期", "最近检查", "经度", "纬度"])
    lon, lat = lonlat(300, 300)
    ws.append([1001, "完好", dt.datetime(2024, 1, 2), "2024/3/4", lon, lat])
    ws.append([1002, "损坏", dt.date(2024, 1, 3), None, lon, lat])
    other = wb.create_sheet("其他")
    other.append(["x"])
    wb.save(world.folder / "bait.xlsx")
    report = world.load("bait_stations", world.folder / "bait.xlsx")
    assert report.n_inserted == 2, report.rejects
    assert world.rows(
        "SELECT code, state, installed_on, last_inspected FROM bait_stations ORDER BY code"
    ) == [
        ("1001", "intact", dt.date(2024, 1, 2), dt.date(2024, 3, 4)),
        ("1002", "damaged", dt.date(2024, 1, 3), None),
    ]
    with pytest.raises(DataError, match="no sheet 'nope'; its sheets are: 毒饵站, 其他"):
        world.load("bait_stations", world.folder / "bait.xlsx", sheet="nope")
    by_index = world.load("bait_stations", world.folder / "bait.xlsx", sheet=0)
    assert by_index.n_unchanged == 2


def test_csv_with_wkt_geometry_column(world: World) -> None:
    wkt = shapely.to_wkt(
        shapely.transform(
            box(10, 10, 20, 20), lambda c: np.column_stack(TO_WGS.transform(c[:, 0], c[:, 1]))
        )
    )
    pd.DataFrame({"code": ["K1"], "name": ["餐馆"], "kind": ["餐饮"], "wkt": [wkt]}).to_csv(
        world.folder / "k.csv", index=False
    )
    report = world.load("premises", world.folder / "k.csv")
    assert report.n_inserted == 1, report.rejects
    assert world.scalar("SELECT GeometryType(geom) FROM premises") == "POLYGON"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("old.xls", b"\xd0\xcf\x11\xe0", "old-style Excel file"),
        ("fake.gpkg", b"code,name\n1,a\n", "is not a GeoPackage"),
        ("data.dat", b"x", "unknown file type .dat"),
        ("empty.csv", b"", "is empty"),
    ],
)
def test_unusable_files_are_refused_in_one_line(
    world: World, name: str, content: bytes, message: str
) -> None:
    (world.folder / name).write_bytes(content)
    with pytest.raises(DataError, match=message):
        world.load("markets", world.folder / name)


def test_refused_file_is_recorded_as_a_failed_run(world: World) -> None:
    (world.folder / "fake.gpkg").write_bytes(b"not sqlite")
    with pytest.raises(DataError):
        world.load("markets", world.folder / "fake.gpkg")
    status, message = world.rows("SELECT status, message FROM load_runs ORDER BY id DESC LIMIT 1")[
        0
    ]
    assert status == "failed" and "not a GeoPackage" in str(message)
