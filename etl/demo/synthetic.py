"""A larger synthetic district built like Dongcheng (sizes M and L, for benchmarks).

The outline is Dongcheng's boundary scaled up about its centre. Community centres
are spread by a density-weighted centroidal Voronoi tessellation (dense in the old
core, sparse at the edge), street offices group neighbouring communities, and the
main roads are a skeleton of arterials, two ring roads and radials. From there the
district is built exactly as Dongcheng is: the same roads, boundaries, cells and
everything on them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from shapely import affinity

from etl.demo.names import NamePool
from gis.voronoi import lattice_points, place_seeds_from

Floats = NDArray[np.float64]


def scaled_outline(boundary: shapely.Polygon, area_km2: float) -> shapely.Polygon:
    """``boundary`` scaled about its centroid to ``area_km2``."""
    f = float(np.sqrt(area_km2 * 1e6 / boundary.area))
    return affinity.scale(boundary, f, f, origin=boundary.centroid)


def radius_m(district: shapely.Geometry) -> float:
    """Radius of the circle of the district's area."""
    return float(np.sqrt(district.area / np.pi))


def zone_fn(district: shapely.Geometry) -> object:
    """Old city in the core, a ring of outer city, modern estates beyond."""
    c = district.centroid
    r0 = radius_m(district)

    def zone_of(x: Floats, y: Floats) -> NDArray[np.str_]:
        r = np.hypot(x - c.x, y - c.y) / r0
        return np.where(r < 0.22, "old", np.where(r < 0.36, "outer", "modern")).astype(str)

    return zone_of


def divisions(
    district: shapely.Geometry,
    *,
    n_offices: int,
    n_communities: int,
    district_code: str,
    rng: np.random.Generator,
    names: NamePool,
) -> pd.DataFrame:
    """Street offices and communities with codes, names and metric centres."""
    c = district.centroid
    r0 = radius_m(district)
    spacing = float(np.sqrt(district.area / (n_communities * 150)))
    pts = lattice_points(district, spacing_m=spacing)
    w = 0.25 + 3.0 * np.exp(-((np.hypot(pts[:, 0] - c.x, pts[:, 1] - c.y) / (0.45 * r0)) ** 2))
    seeds = pts[rng.choice(len(pts), n_communities, replace=False, p=w / w.sum())]
    for _ in range(25):  # weighted Lloyd: denser where w is high
        _, owner = cKDTree(seeds).query(pts)
        mass = np.bincount(owner, weights=w, minlength=n_communities)
        sx = np.bincount(owner, weights=w * pts[:, 0], minlength=n_communities)
        sy = np.bincount(owner, weights=w * pts[:, 1], minlength=n_communities)
        ok = mass > 0
        seeds[ok] = np.column_stack([sx[ok] / mass[ok], sy[ok] / mass[ok]])
    centres = place_seeds_from(seeds, np.empty((0, 2)), n_offices)
    for _ in range(25):  # group communities into offices (k-means on their centres)
        _, office = cKDTree(centres).query(seeds)
        for k in range(n_offices):
            if (office == k).any():
                centres[k] = seeds[office == k].mean(axis=0)
    _, office = cKDTree(centres).query(seeds)
    used = np.unique(office)
    rows = []
    # codes in reading order: north to south, west to east
    o_order = sorted(used, key=lambda k: (-round(centres[k, 1] / 800), centres[k, 0]))
    for i, k in enumerate(o_order, start=1):
        ocode = f"{district_code[:6]}{i:03d}000"
        rows.append(
            {"code": ocode, "name": names.place("街道办事处"), "level": "street_office",
             "parent_code": f"{district_code[:6]}000000", "x": np.nan, "y": np.nan}
        )  # fmt: skip
        members = np.flatnonzero(office == k)
        members = sorted(members, key=lambda m: (-round(seeds[m, 1] / 300), seeds[m, 0]))
        for j, m in enumerate(members, start=1):
            rows.append(
                {"code": f"{ocode[:9]}{j:03d}", "name": names.place("社区居委会"),
                 "level": "community", "parent_code": ocode,
                 "x": seeds[m, 0], "y": seeds[m, 1]}
            )  # fmt: skip
    return pd.DataFrame(rows)


def _wiggly_line(
    rng: np.random.Generator, a: Floats, b: Floats, *, wiggle_m: float, step_m: float
) -> shapely.LineString:
    n = max(2, int(np.hypot(*(b - a)) / step_m) + 1)
    t = np.linspace(0, 1, n)[:, None]
    xy = a + (b - a) * t
    d = (b - a) / max(float(np.hypot(*(b - a))), 1e-9)
    normal = np.array([-d[1], d[0]])
    off = np.cumsum(rng.normal(0, wiggle_m, n))
    off -= np.linspace(off[0], off[-1], n)  # ends stay put
    return shapely.LineString(xy + normal * off[:, None])


def skeleton(
    district: shapely.Geometry, *, rng: np.random.Generator, names: NamePool, spacing_m: float
) -> list[tuple[str, str, shapely.Geometry]]:
    """Arterials on a loose grid, two ring roads and radials."""
    x0, y0, x1, y1 = district.bounds
    c = np.array([district.centroid.x, district.centroid.y])
    out: list[tuple[str, str, shapely.Geometry]] = []
    for vertical in (False, True):
        lo, hi = (x0, x1) if vertical else (y0, y1)
        for base_pos in np.arange(lo + spacing_m * 0.6, hi, spacing_m):
            pos = base_pos + rng.normal(0, 0.1 * spacing_m)
            tilt = np.tan(np.radians(rng.normal(0, 2.5)))
            if vertical:
                a = np.array([pos - tilt * (y1 - y0) / 2, y0 - 50])
                b = np.array([pos + tilt * (y1 - y0) / 2, y1 + 50])
            else:
                a = np.array([x0 - 50, pos - tilt * (x1 - x0) / 2])
                b = np.array([x1 + 50, pos + tilt * (x1 - x0) / 2])
            line = _wiggly_line(rng, a, b, wiggle_m=12.0, step_m=400.0)
            out.append((names.street("主干路"), "主干路", line))
    for f, name in ((0.32, "内环路"), (0.62, "中环路")):
        ring = affinity.scale(district, f, f, origin=district.centroid)
        ring = ring.buffer(400, quad_segs=4).buffer(-400, quad_segs=4).simplify(30)
        names.used.add(name)
        out.append((name, "快速路", shapely.LineString(ring.exterior.coords)))
    r_in = 0.32 * radius_m(district)
    for k in range(6):
        ang = np.radians(k * 60 + rng.normal(15, 8))
        d = np.array([np.cos(ang), np.sin(ang)])
        a = c + d * r_in * 0.9
        b = c + d * radius_m(district) * 2.5
        out.append((names.street("主干路"), "主干路", _wiggly_line(rng, a, b, wiggle_m=25.0,
                                                               step_m=500.0)))  # fmt: skip
    return out


def parks(
    district: shapely.Geometry, *, rng: np.random.Generator, names: NamePool, n: int
) -> list[tuple[str, shapely.Polygon]]:
    """``n`` parks of 10-80 ha at random places inside the district."""
    out = []
    inner = district.buffer(-800)
    x0, y0, x1, y1 = inner.bounds
    while len(out) < n:
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if not inner.contains(shapely.Point(x, y)):
            continue
        w, h = rng.uniform(300, 1000), rng.uniform(300, 800)
        poly = affinity.rotate(shapely.box(x - w / 2, y - h / 2, x + w / 2, y + h / 2),
                               rng.normal(0, 10))  # fmt: skip
        if any(poly.intersects(p) for _, p in out):
            continue
        out.append((names.place("公园"), poly))
    return out
