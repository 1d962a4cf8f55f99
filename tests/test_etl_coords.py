"""Coordinates through a load: GCJ-02 and BD-09 reference points, --crs, file CRSs, and the
real Dongcheng boundary and centres (published in GCJ-02)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS, Geod, Transformer
from sqlalchemy.engine import Engine

from etl.contract import GeometryRule
from etl.geometry import GeometryStage, area_of_use
from etl.values import Issues
from gis.crs import utm_or_gk_zone
from gis.errors import CRSError
from tests.test_etl_formats import X0, Y0, World, build_world, problems_frame

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parent.parent
DONGCHENG = ROOT / "data" / "dongcheng-110101"
GEOD = Geod(ellps="WGS84")

# Published test vectors of the GCJ-02 and BD-09 algorithms (googollee/eviltransform):
# (lon, lat) in WGS 84 and in the web system.
GCJ02 = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
]


def _bd09_forward(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 -> BD-09 as Baidu publishes it, written out here independently of gis.crs.

    Only the forward direction is published; the usual closed-form inverse is off by up
    to about 10 m, so BD-09 reference points are made from GCJ-02 reference points.
    """
    x_pi = np.pi * 3000.0 / 180.0
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * x_pi)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * x_pi)
    return float(z * np.cos(theta) + 0.0065), float(z * np.sin(theta) + 0.006)


BD09 = [(wgs, _bd09_forward(*gcj)) for wgs, gcj in GCJ02]


@pytest.mark.parametrize(("system", "pairs"), [("gcj02", GCJ02), ("bd09", BD09)])
def test_reference_points_through_the_geometry_stage(system: str, pairs: list) -> None:
    for (wlon, wlat), (lon, lat) in pairs:
        srid = utm_or_gk_zone(wlon, wlat)
        stage = GeometryStage(
            GeometryRule("point"),
            srid,
            area_of_use(CRS.from_epsg(srid), tolerance_m=10_000),
            source=CRS.from_epsg(4326),
            coords=system,  # type: ignore[arg-type]
        )
        x, y, ok = stage.points(np.array([lon]), np.array([lat]), Issues(1))
        assert ok.all()
        back = Transformer.from_crs(srid, 4326, always_xy=True).transform(x[0], y[0])
        _, _, metres = GEOD.inv(back[0], back[1], wlon, wlat)
        assert metres < 1.0, (system, wlon, wlat, metres)


def test_gcj02_reference_point_through_a_real_load(clean_db: Engine, tmp_path: Path) -> None:
    (wlon, wlat), (lon, lat) = GCJ02[2]
    pd.DataFrame({"code": ["B1"], "经度": [lon], "纬度": [lat]}).to_csv(
        tmp_path / "b.csv", index=False
    )
    world = World(clean_db, tmp_path)
    report = world.load("bait_stations", tmp_path / "b.csv", coords="gcj02")
    assert report.n_inserted == 1, report.rejects
    metres = world.scalar(
        "SELECT ST_Distance(ST_Transform(geom, 4326)::geography, "
        "ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography) FROM bait_stations",
        x=wlon,
        y=wlat,
    )
    assert float(metres) < 1.0  # type: ignore[arg-type]
    plain = world.load("bait_stations", tmp_path / "b.csv")  # the same numbers read as WGS 84
    assert plain.n_updated == 1


@pytest.fixture
def world(clean_db: Engine, tmp_path: Path) -> World:
    return build_world(clean_db, tmp_path)


def test_projected_columns_need_crs(world: World) -> None:
    pd.DataFrame({"code": ["B1"], "x": [X0 + 10.25], "y": [Y0 + 20.5]}).to_csv(
        world.folder / "b.csv", index=False
    )
    with pytest.raises(CRSError, match=r"do not look like longitude/latitude.*--crs"):
        world.load("bait_stations", world.folder / "b.csv")
    assert world.load("bait_stations", world.folder / "b.csv", crs="EPSG:4548").n_inserted == 1
    assert world.rows("SELECT ST_X(geom), ST_Y(geom) FROM bait_stations") == [
        (X0 + 10.25, Y0 + 20.5)
    ]
    with pytest.raises(CRSError, match="not a coordinate reference system"):
        world.load("bait_stations", world.folder / "b.csv", crs="EPSG:nope")


def test_file_crs_cgcs2000_and_gcj_on_projected_refused(world: World) -> None:
    frame = problems_frame()
    gdf = gpd.GeoDataFrame(
        frame.drop(columns=["lon", "lat"]),
        geometry=gpd.points_from_xy(frame["lon"], frame["lat"]),
        crs=4326,
    )
    gdf.set_crs(4490, allow_override=True).to_file(world.folder / "cgcs.gpkg")  # CGCS2000 lon/lat
    assert world.load("problems", world.folder / "cgcs.gpkg").n_inserted == 4
    gdf.to_crs(4548).to_file(world.folder / "gk.gpkg")
    with pytest.raises(CRSError, match="--coords gcj02 applies to longitude/latitude"):
        world.load("problems", world.folder / "gk.gpkg", coords="gcj02")
    again = world.load("problems", world.folder / "gk.gpkg")
    assert again.n_unchanged + again.n_updated == 4


def test_real_dongcheng_boundary_and_centres_in_gcj02(clean_db: Engine, tmp_path: Path) -> None:
    fence = json.loads((DONGCHENG / "fence-110101.geojson").read_text(encoding="utf-8"))
    feature = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "110101000000", "name": "东城区", "level": "区"},
                "geometry": fence,
            }
        ],
    }
    (tmp_path / "district.geojson").write_text(json.dumps(feature), encoding="utf-8")
    world = World(clean_db, tmp_path)
    assert world.load("admin_areas", tmp_path / "district.geojson", coords="gcj02").n_inserted == 1
    area_km2 = float(world.scalar("SELECT ST_Area(geom) / 1e6 FROM admin_areas"))  # type: ignore[arg-type]
    assert 40.0 < area_km2 < 44.0  # Dongcheng is about 41.8 km²
    cols = ["code", "parent", "name", "level", "rank", "adcode", "post_code", "area_code"]
    cols += ["ur_code", "municipality", "virtual", "dummy", "longitude", "latitude"]
    cols += ["center_wkb_hex", "province", "city", "county", "town", "village"]
    adcode = pd.read_csv(DONGCHENG / "adcode-110101.csv", header=None, names=cols, dtype=str)
    adcode.to_csv(tmp_path / "adcode.csv", index=False)
    report = world.load("admin_areas", tmp_path / "adcode.csv", coords="gcj02")
    assert (report.n_read, report.n_rejected) == (200, 0), report.rejects
    assert (report.n_inserted, report.n_updated) == (199, 1)
    assert world.scalar("SELECT count(*) FROM admin_areas WHERE level = 'street_office'") == 17
    assert world.scalar("SELECT count(*) FROM admin_areas WHERE level = 'community'") == 182
    # the district keeps its boundary and takes the published centre, converted to WGS 84
    row = adcode.iloc[0]
    expect = Transformer.from_crs(4326, 4548, always_xy=True).transform(
        *_gcj_to_wgs(float(row.longitude), float(row.latitude))
    )
    got = world.rows(
        "SELECT ST_X(centre), ST_Y(centre), geom IS NOT NULL FROM admin_areas WHERE level = 'district'"
    )[0]
    assert got[2] and shapely.distance(shapely.Point(got[:2]), shapely.Point(expect)) < 0.01
    assert (
        world.scalar(
            "SELECT count(*) FROM admin_areas a, admin_areas d WHERE d.level = 'district' "
            "AND a.centre IS NOT NULL AND NOT ST_DWithin(d.geom, a.centre, 10)"
        )
        == 0
    )


def _gcj_to_wgs(lon: float, lat: float) -> tuple[float, float]:
    from gis.crs import gcj02_to_wgs84

    x, y = gcj02_to_wgs84(lon, lat)
    return float(x), float(y)


def test_centre_columns_of_a_gis_file_take_its_crs_without_a_false_warning(
    world: World,
) -> None:
    from tests.test_etl_formats import admin_frame, lonlat

    admin = admin_frame()
    cx, cy = admin.geometry.centroid.x, admin.geometry.centroid.y
    pairs = [lonlat(x - X0, y - Y0) for x, y in zip(cx, cy, strict=True)]
    admin["lon"] = [p[0] for p in pairs]
    admin["lat"] = [p[1] for p in pairs]
    admin.to_crs(4326).to_file(world.folder / "a4326.gpkg")
    report = world.load("admin_areas", world.folder / "a4326.gpkg")
    assert report.n_rejected == 0, report.rejects
    assert not any("no CRS" in m for m in report.messages), report.messages
    assert (
        float(
            world.scalar("SELECT max(ST_Distance(centre, ST_Centroid(geom))) FROM admin_areas")  # type: ignore[arg-type]
        )
        < 0.01
    )
    # a projected file's lon/lat columns are read on its datum, and said so
    admin.to_file(world.folder / "a4548.gpkg")
    report = world.load("admin_areas", world.folder / "a4548.gpkg")
    assert report.n_rejected == 0, report.rejects
    assert not any("no CRS" in m for m in report.messages), report.messages
    assert any("datum of the file's CRS" in m for m in report.messages), report.messages
