"""GCJ-02 / BD-09 conversions: published reference points and sub-metre round trips."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import LineString, Point, Polygon

from gis import crs
from gis.errors import CRSError

GEOD = Geod(ellps="WGS84")

# Published by wandergis/coordtransform (and reproduced by hutool, coordtransform-rs):
# WGS 84 (116.404, 39.915) -> GCJ-02, and GCJ-02 (116.404, 39.915) -> BD-09.
REF_WGS_TO_GCJ = ((116.404, 39.915), (116.41024449916938, 39.91640428150164))
REF_GCJ_TO_BD = ((116.404, 39.915), (116.41036949371029, 39.92133699351021))


def _metres(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray) -> np.ndarray:
    return np.asarray(GEOD.inv(x1, y1, x2, y2)[2])


def test_forward_matches_published_reference() -> None:
    (lon, lat), (gx, gy) = REF_WGS_TO_GCJ
    x, y = crs.wgs84_to_gcj02(lon, lat)
    assert x == pytest.approx(gx, abs=1e-9)
    assert y == pytest.approx(gy, abs=1e-9)
    (lon, lat), (bx, by) = REF_GCJ_TO_BD
    x, y = crs.gcj02_to_bd09(lon, lat)
    assert x == pytest.approx(bx, abs=1e-9)
    assert y == pytest.approx(by, abs=1e-9)


def test_inverse_recovers_reference_point_within_a_centimetre() -> None:
    (lon, lat), (gx, gy) = REF_WGS_TO_GCJ
    x, y = crs.gcj02_to_wgs84(gx, gy)
    assert _metres(x, y, lon, lat) < 0.01


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_round_trip_under_one_metre_across_mainland_china(system: str) -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(75, 134, 20_000)
    lat = rng.uniform(19, 52, 20_000)
    fwd, inv = (
        (crs.wgs84_to_gcj02, crs.gcj02_to_wgs84)
        if system == "gcj02"
        else (crs.wgs84_to_bd09, crs.bd09_to_wgs84)
    )
    x, y = inv(*fwd(lon, lat))
    err = _metres(x, y, lon, lat)
    assert err.max() < 0.01  # a centimetre, far inside the 1 m requirement


def test_offset_is_hundreds_of_metres_in_beijing_and_none_abroad() -> None:
    x, y = crs.wgs84_to_gcj02([116.4, 2.35], [39.9, 48.85])
    d = _metres(x, y, np.array([116.4, 2.35]), np.array([39.9, 48.85]))
    assert 100 < d[0] < 700
    assert d[1] == 0


def test_geoseries_conversion_keeps_index_and_shapes() -> None:
    s = gpd.GeoSeries(
        [
            Point(116.41, 39.92),
            LineString([(116.40, 39.91), (116.42, 39.93)]),
            Polygon([(116.40, 39.90), (116.41, 39.90), (116.41, 39.91)]),
        ],
        index=[10, 20, 30],
        crs=4326,
    )
    wgs = crs.geoseries_from_web(s, "gcj02")
    assert list(wgs.index) == [10, 20, 30]
    assert list(wgs.geom_type) == ["Point", "LineString", "Polygon"]
    back = crs.geoseries_to_web(wgs, "gcj02")
    for a, b in zip(back, s, strict=True):
        assert a.equals_exact(b, tolerance=1e-9)


def test_web_coords_on_projected_data_is_refused() -> None:
    s = gpd.GeoSeries([Point(500000, 4400000)], crs=4548)
    with pytest.raises(CRSError, match="--coords gcj02 applies to longitude/latitude"):
        crs.geoseries_from_web(s, "gcj02")


def test_require_projected_names_the_function_and_fix() -> None:
    with pytest.raises(CRSError, match="grid_cells: needs metric projected coordinates"):
        crs.require_projected(gpd.GeoSeries([Point(0, 0)], crs=4326), func="grid_cells")
