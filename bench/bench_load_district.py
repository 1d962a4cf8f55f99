"""A synthetic district for the load benchmark, built on the real Dongcheng boundary.

Synthetic, and labelled so: street offices and communities are Voronoi cells of
random seeds inside the real district boundary (GCJ-02 in the shared data, converted
here), unit grid cells are 100 m squares cut by the communities, and road segments
run along a jittered street grid between its crossings. This gives the loader the
thousands of cells and segments a real district has, for the derivations to work
against. Problems are clustered points with plausible attributes.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from pyproj import Transformer

from gis.crs import gcj02_to_wgs84

SRID = 4548
FENCE = Path(__file__).resolve().parents[2] / "shared/data/dongcheng-110101/fence-110101.geojson"
DISTRICT = "110101"
CATEGORIES = [
    ("06010", "暴露垃圾", "exposed garbage", "06", "市容环境", 1, 4, "work_hours"),
    ("06011", "积存垃圾渣土", "accumulated waste", "06", "市容环境", 1, 8, "work_hours"),
    ("06012", "道路不洁", "dirty road", "06", "市容环境", 1, 2, "work_hours"),
    ("07001", "非法小广告", "illegal flyers", "07", "宣传广告", 2, 1, "work_days"),
    ("07002", "违章张贴悬挂广告牌匾", "illegal signs", "07", "宣传广告", 2, 5, "work_days"),
    ("09005", "店外经营", "trading outside the shop", "09", "街面秩序", 3, 4, "work_hours"),
    ("09006", "占道经营", "street stalls", "09", "街面秩序", 3, 4, "work_hours"),
    ("09020", "农贸市场秩序问题", "market disorder", "09", "街面秩序", 3, 1, "work_days"),
    ("10001", "乱停放车辆", "disorderly parking", "10", "交通秩序", 4, 2, "work_hours"),
    ("01001", "井盖破损", "broken manhole cover", "01", "城市设施", 5, 24, "hours"),
    ("01002", "路灯不亮", "street light out", "01", "城市设施", 5, 3, "work_days"),
    ("12001", "鼠迹", "rodent signs", "12", "病媒生物", 6, 5, "work_days"),
]
SOURCES = np.array(["patrol", "citizen", "hotline", "video", "inspection"])
SOURCE_P = np.array([0.80, 0.08, 0.08, 0.02, 0.02])
STATUSES = np.array(["closed", "handling", "dispatched", "reported", "checking", "void"])
STATUS_P = np.array([0.90, 0.03, 0.02, 0.02, 0.02, 0.01])


def boundary() -> shapely.Polygon:
    """The real Dongcheng boundary, GCJ-02 -> WGS 84 -> EPSG:4548."""
    fence = shapely.from_geojson(FENCE.read_text(encoding="utf-8"))
    tr = Transformer.from_crs(4326, SRID, always_xy=True)

    def move(c: np.ndarray) -> np.ndarray:
        x, y = gcj02_to_wgs84(c[:, 0], c[:, 1])
        return np.column_stack(tr.transform(x, y))

    return shapely.transform(fence, move)


def _voronoi(seeds: np.ndarray, clip: shapely.Geometry) -> list[shapely.Geometry]:
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=clip))
    pts = shapely.points(seeds)
    out = []
    for p in pts:
        cell = cells[shapely.contains(cells, p)][0]
        out.append(shapely.intersection(cell, clip))
    return out


def _seeds(rng: np.random.Generator, poly: shapely.Geometry, n: int) -> np.ndarray:
    minx, miny, maxx, maxy = poly.bounds
    got: list[np.ndarray] = []
    shapely.prepare(poly)
    while sum(len(g) for g in got) < n:
        xy = rng.uniform([minx, miny], [maxx, maxy], size=(n * 4, 2))
        got.append(xy[shapely.contains_xy(poly, xy[:, 0], xy[:, 1])])
    return np.concatenate(got)[:n]


def build(
    *, seed: int = 0, cell_m: float = 100.0, street_m: float = 200.0
) -> dict[str, gpd.GeoDataFrame]:
    """Admin areas, grid cells and road segments of the synthetic district (EPSG:4548)."""
    rng = np.random.default_rng(seed)
    district = boundary()
    offices = _voronoi(_seeds(rng, district, 17), district)
    areas = [(f"{DISTRICT}000000", "东城区(合成)", "district", None, district)]
    communities = []
    for i, office in enumerate(offices, start=1):
        ocode = f"{DISTRICT}{i:03d}000"
        areas.append((ocode, f"合成街道{i}", "street_office", f"{DISTRICT}000000", office))
        for j, comm in enumerate(_voronoi(_seeds(rng, office, 10), office), start=1):
            ccode = f"{DISTRICT}{i:03d}{j:03d}"
            areas.append((ccode, f"合成社区{i}-{j}", "community", ocode, comm))
            communities.append((ccode, comm))
    admin = gpd.GeoDataFrame(
        areas, columns=["code", "name", "level", "parent_code", "geometry"], crs=SRID
    )
    minx, miny, maxx, maxy = district.bounds
    xs = np.arange(minx, maxx, cell_m)
    ys = np.arange(maxy, miny, -cell_m)
    gx, gy = np.meshgrid(xs, ys)
    squares = shapely.box(gx.ravel(), gy.ravel() - cell_m, gx.ravel() + cell_m, gy.ravel())
    cells = []
    tree = shapely.STRtree(squares)
    for ccode, comm in communities:
        hit = tree.query(comm, predicate="intersects")
        pieces = shapely.intersection(squares[np.sort(hit)], comm)
        pieces = pieces[shapely.area(pieces) > 1.0]
        polys = [p for p in pieces if shapely.get_type_id(p) in (3, 6)]
        for k, p in enumerate(polys, start=1):
            cells.append((f"{ccode}{k:03d}", ccode, p))
    grid = gpd.GeoDataFrame(cells, columns=["code", "community_code", "geometry"], crs=SRID)
    segs = []
    vx = np.arange(minx + street_m / 2, maxx, street_m) + rng.normal(0, 15, 1)
    hy = np.arange(miny + street_m / 2, maxy, street_m) + rng.normal(0, 15, 1)
    for orient, fixed_all, cuts in (("ns", vx, hy), ("ew", hy, vx)):
        for a, fixed in enumerate(fixed_all):
            road = f"合成{'南北' if orient == 'ns' else '东西'}路{a + 1}"
            for b in range(len(cuts) - 1):
                lo, hi = cuts[b], cuts[b + 1]
                mid = (lo + hi) / 2
                wig = rng.normal(0, 6)
                pts = [(fixed, lo), (fixed + wig, mid), (fixed, hi)]
                if orient == "ew":
                    pts = [(y, x) for x, y in pts]
                line = shapely.intersection(shapely.LineString(pts), district)
                if line.is_empty or line.length < 20 or shapely.get_type_id(line) != 1:
                    continue
                segs.append((f"S{orient}{a:03d}{b:03d}", road, f"路{b}", f"路{b + 1}", line))
    segments = gpd.GeoDataFrame(
        segs, columns=["code", "road_name", "from_name", "to_name", "geometry"], crs=SRID
    )
    return {"admin_areas": admin, "grid_cells": grid, "road_segments": segments}


def categories() -> pd.DataFrame:
    """The category table the synthetic problems use."""
    cols = ["code", "name", "name_en", "major_code", "major_name", "patrol_category"]
    cols += ["deadline_value", "deadline_unit"]
    return pd.DataFrame(CATEGORIES, columns=cols)


def problems(n: int, *, seed: int = 1, offset: int = 0) -> pa.Table:
    """``n`` clustered problem points with attributes, as longitude/latitude (WGS 84)."""
    rng = np.random.default_rng(seed)
    district = boundary()
    hot = _seeds(rng, district, 300)
    n_hot = int(n * 0.7)
    pick = rng.integers(0, len(hot), n_hot)
    xy_hot = hot[pick] + rng.normal(0, 80, (n_hot, 2))
    xy_uni = _seeds(rng, district, n - n_hot)
    xy = np.concatenate([xy_hot, xy_uni])
    xy = xy[rng.permutation(n)]
    inside = shapely.contains_xy(shapely.buffer(district, 500), xy[:, 0], xy[:, 1])
    xy[~inside] = xy_uni[: (~inside).sum()]
    tr = Transformer.from_crs(SRID, 4326, always_xy=True)
    lon, lat = tr.transform(xy[:, 0], xy[:, 1])
    start = np.datetime64("2023-01-01T00:00:00")
    reported = start + rng.integers(0, 730 * 86400, n).astype("timedelta64[s]")
    hours = np.array([c[6] for c in CATEGORIES], dtype=float)
    cat = rng.integers(0, len(CATEGORIES), n)
    deadline = reported + (hours[cat] * 3600 * 3).astype("timedelta64[s]")
    status = rng.choice(STATUSES, n, p=STATUS_P)
    closed = reported + rng.gamma(2.0, 6 * 3600, n).astype("timedelta64[s]")
    codes = np.array([c[0] for c in CATEGORIES])
    names = np.array([c[1] for c in CATEGORIES])
    ids = np.arange(offset, offset + n)
    return pa.table(
        {
            "case_no": pa.array([f"DC{i:09d}" for i in ids.tolist()], pa.string()),
            "category_code": pa.array(codes[cat]),
            "source": pa.array(rng.choice(SOURCES, n, p=SOURCE_P)),
            "status": pa.array(status),
            "reported_at": pa.array(reported, pa.timestamp("s")),
            "deadline": pa.array(deadline, pa.timestamp("s")),
            "closed_at": pa.array(
                np.where(status == "closed", closed, np.datetime64("NaT")),
                pa.timestamp("s"),
                from_pandas=True,
            ),
            "description": pa.array(np.char.add(names[cat], "，请尽快处置")),
            "address": pa.array(np.char.add("东城区合成地址", (ids % 997).astype(str))),
            "lon": pa.array(np.round(lon, 7)),
            "lat": pa.array(np.round(lat, 7)),
        }
    )
