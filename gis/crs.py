"""Coordinate systems at the edges: GCJ-02 and BD-09, WGS 84, and the working CRS.

GCJ-02 (Gaode/AMap, Tencent) and BD-09 (Baidu) have no EPSG code: they are an
obfuscation algorithm applied to WGS 84 longitude/latitude inside mainland China.
The forward algorithm is public; the inverse has no closed form, so it is solved by
fixed-point iteration, which converges to well under a millimetre in a few steps.
Everything inside CityGrid is in the deployment's one metric working CRS; these
functions convert at input (loading) and at output (a GCJ-02 basemap).
"""

from __future__ import annotations

from typing import Literal

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS

from gis.errors import CRSError

WGS84 = "EPSG:4326"
CoordSystem = Literal["wgs84", "gcj02", "bd09"]

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0

# Rough mainland-China bounding box used by the published algorithm: outside it,
# GCJ-02 equals WGS 84.
CHINA_BOUNDS = (72.004, 0.8293, 137.8347, 55.8271)

Floats = NDArray[np.float64]


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Whether points lie in the box where GCJ-02 differs from WGS 84.

    >>> in_china([116.4, 2.35], [39.9, 48.85]).tolist()
    [True, False]
    """
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    w, s, e, n = CHINA_BOUNDS
    return (x >= w) & (x <= e) & (y >= s) & (y <= n)


def _delta(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx
    dlat += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx
    dlon += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """Apply the GCJ-02 offset (points outside China are returned unchanged).

    >>> x, y = wgs84_to_gcj02(116.404, 39.915)
    >>> round(float(x), 8), round(float(y), 8)
    (116.4102445, 39.91640428)
    """
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    dlon, dlat = _delta(x, y)
    inside = in_china(x, y)
    return np.where(inside, x + dlon, x), np.where(inside, y + dlat, y)


def gcj02_to_wgs84(
    lon: ArrayLike, lat: ArrayLike, *, tolerance_deg: float = 1e-10, max_iter: int = 30
) -> tuple[Floats, Floats]:
    """Remove the GCJ-02 offset by fixed-point iteration (error far below 1 m).

    >>> x, y = gcj02_to_wgs84(116.41024449916938, 39.91640428150164)
    >>> round(float(x), 7), round(float(y), 7)
    (116.404, 39.915)
    """
    gx = np.asarray(lon, dtype=float)
    gy = np.asarray(lat, dtype=float)
    wx, wy = gx.copy(), gy.copy()
    for _ in range(max_iter):
        fx, fy = wgs84_to_gcj02(wx, wy)
        ex, ey = fx - gx, fy - gy
        wx = wx - ex
        wy = wy - ey
        if (
            np.nanmax(np.abs(np.concatenate([np.ravel(ex), np.ravel(ey)])), initial=0.0)
            < tolerance_deg
        ):
            break
    return wx, wy


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """GCJ-02 to Baidu's BD-09.

    >>> x, y = gcj02_to_bd09(116.404, 39.915)
    >>> round(float(x), 8), round(float(y), 8)
    (116.41036949, 39.92133699)
    """
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """Baidu's BD-09 to GCJ-02 (the published closed-form inverse)."""
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    gx, gy = z * np.cos(theta), z * np.sin(theta)
    # one Newton-like correction step brings the closed form to sub-millimetre
    fx, fy = gcj02_to_bd09(gx, gy)
    return gx - (fx - np.asarray(lon, dtype=float)), gy - (fy - np.asarray(lat, dtype=float))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """Baidu's BD-09 to WGS 84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """WGS 84 to Baidu's BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


_TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS84 = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def _transform_geometries(geoms: NDArray[np.object_], func: object) -> NDArray[np.object_]:
    def apply(coords: Floats) -> Floats:
        x, y = func(coords[:, 0], coords[:, 1])  # type: ignore[operator]
        return np.column_stack([x, y])

    return shapely.transform(geoms, apply)  # type: ignore[no-any-return]


def geoseries_from_web(geometries: gpd.GeoSeries, coords: CoordSystem) -> gpd.GeoSeries:
    """Convert a GeoSeries holding GCJ-02 or BD-09 lon/lat into WGS 84.

    The series' own CRS must be geographic (the web systems are labelled WGS 84
    or CGCS2000 by the files that carry them, or have no CRS at all).
    """
    if coords == "wgs84":
        return geometries.copy()
    if geometries.crs is not None and not geometries.crs.is_geographic:
        msg = (
            f"--coords {coords} applies to longitude/latitude data, but the file's CRS is "
            f"{geometries.crs.name}; drop --coords or fix the CRS with --crs"
        )
        raise CRSError(msg)
    out = _transform_geometries(np.asarray(geometries.values, dtype=object), _TO_WGS84[coords])
    return gpd.GeoSeries(out, index=geometries.index, crs=WGS84)


def geoseries_to_web(geometries: gpd.GeoSeries, coords: CoordSystem) -> gpd.GeoSeries:
    """Convert any GeoSeries to lon/lat in WGS 84, GCJ-02 or BD-09 (for basemaps)."""
    if geometries.crs is None:
        msg = "geoseries_to_web needs a GeoSeries with a CRS"
        raise CRSError(msg)
    wgs = geometries.to_crs(WGS84)
    if coords == "wgs84":
        return wgs
    out = _transform_geometries(np.asarray(wgs.values, dtype=object), _FROM_WGS84[coords])
    return gpd.GeoSeries(out, index=geometries.index, crs=WGS84)


def require_projected(data: gpd.GeoDataFrame | gpd.GeoSeries, *, func: str) -> CRS:
    """Return the CRS of ``data``, raising unless it is metric and projected."""
    crs = data.crs
    if crs is None:
        msg = f"{func}: the data has no CRS; set one (e.g. .set_crs(4548)) before calling"
        raise CRSError(msg)
    crs = CRS.from_user_input(crs)
    if not crs.is_projected or crs.axis_info[0].unit_name not in {"metre", "meter"}:
        msg = (
            f"{func}: needs metric projected coordinates, got {crs.name}; "
            "reproject first, e.g. .to_crs(4548)"
        )
        raise CRSError(msg)
    return crs


def utm_or_gk_zone(lon: float, lat: float) -> int:
    """EPSG code of a sensible metric working CRS for a place.

    Inside China, the CGCS2000 3-degree Gauss-Krüger zone without prefix
    (EPSG:4534-4554); elsewhere, the WGS 84 UTM zone.

    >>> utm_or_gk_zone(116.4, 39.9)
    4548
    >>> utm_or_gk_zone(2.35, 48.85)
    32631
    """
    if bool(in_china(lon, lat)) and 73.5 <= lon <= 136.5:
        central = round(lon / 3.0) * 3
        return 4534 + (central - 75) // 3
    zone = int((lon + 180.0) // 6.0) + 1
    return (32600 if lat >= 0 else 32700) + zone
