"""A plausible road network: main roads, secondary roads, branch roads and hutongs.

Built like a city grows, from coarse to fine. The main roads are given (Dongcheng's,
or a synthetic skeleton of grid, rings and radials). Each block between them gets
secondary roads, each of those blocks branch roads, and blocks of the old city get
hutongs: lanes every 60-90 m that run east-west (in the inner city) or at a slant
(outer city), with the jogs, breaks, dead ends and north-south passages that make a
hutong quarter. Modern estates get few named lanes. Every line wiggles a little and
not every road runs through, so the result reads as a city, not a chessboard.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely import affinity

from etl.demo.names import NamePool
from gis.faces import polygonize_within

Zone = str  # "old" (inner city hutongs), "outer" (slanted hutongs), "modern"
ZoneFn = Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.str_]]

LANE_CLASS = "胡同"
MODERN_LANE_CLASS = "小街巷"


@dataclass(frozen=True)
class Style:
    """Spacings (m) of the generated road classes."""

    secondary_m: float = 520.0
    branch_m: float = 250.0
    hutong_m: float = 72.0
    wiggle_m: float = 6.0


@dataclass
class _Road:
    name: str
    road_class: str
    geometry: shapely.Geometry


def _block_angle(block: shapely.Geometry) -> float:
    """Orientation (degrees) of a block's long side, folded into [-45, 45)."""
    rect = shapely.minimum_rotated_rectangle(block)
    xy = shapely.get_coordinates(rect)
    dx, dy = xy[1] - xy[0]
    ang = math.degrees(math.atan2(dy, dx))
    return ((ang + 45.0) % 90.0) - 45.0


def _wiggly(
    rng: np.random.Generator, x0: float, x1: float, y: float, *, wiggle_m: float, step_m: float
) -> NDArray[np.float64]:
    n = max(2, int((x1 - x0) / step_m) + 1)
    xs = np.linspace(x0, x1, n)
    ys = y + np.cumsum(rng.normal(0.0, wiggle_m, n)) * 0.5
    return np.column_stack([xs, ys])


def _lines_across(
    rng: np.random.Generator,
    block: shapely.Geometry,
    *,
    angle: float,
    spacing_m: float,
    wiggle_m: float,
    through: float,
    min_len_m: float,
    both: bool,
) -> list[shapely.Geometry]:
    """Lines across ``block`` at about ``spacing_m``, in one or both directions."""
    c = block.centroid
    local = affinity.rotate(block, -angle, origin=c)
    x0, y0, x1, y1 = local.bounds
    out: list[shapely.Geometry] = []
    families = [(x0, x1, y0, y1, False)]
    if both:
        families.append((y0, y1, x0, x1, True))
    for a0, a1, b0, b1, swap in families:
        span = b1 - b0
        n = round(span / spacing_m) - 1
        if n < 1:
            continue
        for k in range(n):
            pos = b0 + span * (k + 1) / (n + 1) + rng.normal(0.0, 0.1 * spacing_m)
            xy = _wiggly(rng, a0 - 20.0, a1 + 20.0, pos, wiggle_m=wiggle_m, step_m=160.0)
            if swap:
                xy = xy[:, ::-1]
            line = shapely.LineString(xy)
            if rng.random() > through:  # a stub from one side, ending in the block
                frac = rng.uniform(0.35, 0.75)
                length = line.length
                line = (
                    shapely.ops.substring(line, 0.0, frac * length)
                    if rng.random() < 0.5
                    else shapely.ops.substring(line, (1 - frac) * length, length)
                )
            line = affinity.rotate(line, angle, origin=c)
            out.extend(p for p in _clip(line, block) if p.length >= min_len_m)
    return out


def _hutong_lines(
    rng: np.random.Generator, block: shapely.Geometry, *, angle: float, style: Style
) -> list[tuple[shapely.Geometry, str]]:
    """Hutongs of one block: (line, "row"|"passage"), rows in the order they run."""
    c = block.centroid
    local = affinity.rotate(block, -angle, origin=c)
    x0, y0, x1, y1 = local.bounds
    height = y1 - y0
    n = int(height // rng.uniform(0.85 * style.hutong_m, 1.2 * style.hutong_m))
    if n < 1 or (x1 - x0) < 60.0:
        return []
    rows: list[tuple[shapely.Geometry, str]] = []
    ys = y0 + height * (np.arange(n) + 0.5 + rng.normal(0, 0.08, n)) / n
    for y in ys:
        xs = [x0 - 15.0, x1 + 15.0]
        pts = [(xs[0], y)]
        # one or two jogs: the lane steps sideways a few metres, as hutongs do
        for xj in np.sort(rng.uniform(x0 + 20, x1 - 20, rng.integers(0, 3))):
            dy = rng.choice([-1.0, 1.0]) * rng.uniform(3.0, 9.0)
            pts += [(xj, pts[-1][1]), (xj + rng.uniform(0, 4), pts[-1][1] + dy)]
        pts.append((xs[1], pts[-1][1]))
        line = shapely.LineString(pts)
        r = rng.random()
        if r < 0.22:  # a dead end: the lane stops inside the block
            length = line.length
            frac = rng.uniform(0.3, 0.7)
            line = (
                shapely.ops.substring(line, 0, frac * length)
                if rng.random() < 0.5
                else shapely.ops.substring(line, (1 - frac) * length, length)
            )
        elif r < 0.42:  # broken in two by a compound: two lanes
            length = line.length
            cut = rng.uniform(0.35, 0.65) * length
            gap = rng.uniform(15.0, 40.0)
            rows.extend(
                (affinity.rotate(part, angle, origin=c), "row")
                for part in (
                    shapely.ops.substring(line, 0, cut - gap / 2),
                    shapely.ops.substring(line, cut + gap / 2, length),
                )
            )
            continue
        rows.append((affinity.rotate(line, angle, origin=c), "row"))
    # a few north-south passages (夹道) between the rows
    for _ in range(rng.integers(0, 3)):
        x = rng.uniform(x0 + 30, x1 - 30)
        ya, yb = np.sort(rng.choice(np.r_[y0 - 15, ys, y1 + 15], size=2, replace=False))
        if yb - ya < 30:
            continue
        line = shapely.LineString([(x, ya), (x + rng.normal(0, 3), yb)])
        rows.append((affinity.rotate(line, angle, origin=c), "passage"))
    out: list[tuple[shapely.Geometry, str]] = []
    for line, kind in rows:
        out.extend((p, kind) for p in _clip(line, block) if p.length >= 35.0)
    return out


def _extend_end(xy: NDArray[np.float64], at_start: bool, length: float) -> NDArray[np.float64]:
    a, b = (xy[1], xy[0]) if at_start else (xy[-2], xy[-1])
    d = b - a
    d = d / max(float(np.hypot(*d)), 1e-9)
    new = b + d * length
    return np.vstack([new, xy]) if at_start else np.vstack([xy, new])


def connect_skeleton(
    lines: list[tuple[str, str, shapely.Geometry]],
    district: shapely.Geometry,
    *,
    snap_m: float = 80.0,
) -> list[tuple[str, str, shapely.Geometry]]:
    """Close the small gaps of a hand-drawn skeleton: an end near the district edge
    runs on across it, an end near another road runs on until it crosses it."""
    geoms = [g for _, _, g in lines]
    edge = district.boundary
    out = []
    for k, (name, cls, g) in enumerate(lines):
        xy = shapely.get_coordinates(g)
        for at_start in (True, False):
            end = shapely.Point(xy[0] if at_start else xy[-1])
            if end.distance(edge) < snap_m:
                xy = _extend_end(xy, at_start, snap_m + 5.0)
                continue
            others = [o for j, o in enumerate(geoms) if j != k and o.distance(end) < snap_m]
            if others and not any(o.distance(end) < 1e-6 and o.crosses(g) for o in others):
                gap = min(o.distance(end) for o in others)
                xy = _extend_end(xy, at_start, gap + 0.5)
        out.append((name, cls, shapely.LineString(xy)))
    return out


def _clip(line: shapely.Geometry, area: shapely.Geometry) -> list[shapely.Geometry]:
    """Parts of ``line`` inside ``area``, each running 0.5 m past the edge it stops at,
    so that noding sees a crossing rather than a touch lost to rounding."""
    clipped = shapely.intersection(line, shapely.buffer(area, 0.5, quad_segs=2))
    return list(shapely.get_parts(shapely.line_merge(clipped)))


def _blocks(district: shapely.Geometry, roads: list[_Road]) -> NDArray[np.object_]:
    return polygonize_within(district, np.array([r.geometry for r in roads], dtype=object))


def generate_roads(
    district: shapely.Geometry,
    skeleton: list[tuple[str, str, shapely.Geometry]],
    *,
    parks: shapely.Geometry,
    zone_of: ZoneFn,
    rng: np.random.Generator,
    names: NamePool,
    style: Style = Style(),
) -> gpd.GeoDataFrame:
    """Roads of a district: the given ``skeleton`` plus generated finer roads.

    ``parks`` hold no roads; ``zone_of`` tells old city, outer city and modern estates
    apart. Returns ``name``, ``road_class``, ``kind`` and the line, in the district's
    CRS (no codes yet).
    """
    usable = shapely.difference(district, parks)
    roads = [
        _Road(n, c, part)
        for n, c, g in connect_skeleton(skeleton, district)
        for part in _clip(g, usable)
        if part.length >= 30.0
    ]

    def zones_of(blocks: NDArray[np.object_]) -> NDArray[np.str_]:
        xy = shapely.get_coordinates(shapely.point_on_surface(blocks))
        return zone_of(xy[:, 0], xy[:, 1])

    # secondary roads (次干路) in the blocks of the skeleton
    blocks = _blocks(district, roads)
    for block, zone in zip(blocks, zones_of(blocks), strict=True):
        part = shapely.difference(block, parks)
        if part.is_empty or part.area < (1.6 * style.secondary_m) ** 2 * 0.5:
            continue
        angle = rng.normal(0, 1.5) if zone == "old" else _block_angle(part) + rng.normal(0, 4)
        spacing = style.secondary_m * (1.25 if zone == "modern" else 1.0)
        lines = _lines_across(
            rng, part, angle=angle, spacing_m=spacing, wiggle_m=style.wiggle_m,
            through=0.85, min_len_m=150.0, both=True,
        )  # fmt: skip
        roads.extend(_Road(names.street("次干路"), "次干路", line) for line in lines)

    # branch roads (支路)
    blocks = _blocks(district, roads)
    for block, zone in zip(blocks, zones_of(blocks), strict=True):
        part = shapely.difference(block, parks)
        if part.is_empty or part.area < (1.5 * style.branch_m) ** 2 * 0.6:
            continue
        angle = rng.normal(0, 2) if zone == "old" else _block_angle(part) + rng.normal(0, 8)
        spacing = style.branch_m * (1.4 if zone == "modern" else 1.0)
        lines = _lines_across(
            rng, part, angle=angle, spacing_m=spacing, wiggle_m=style.wiggle_m,
            through=0.6, min_len_m=80.0, both=True,
        )  # fmt: skip
        roads.extend(_Road(names.street("支路"), "支路", line) for line in lines)

    # hutongs (胡同) in the old and outer city; a few lanes (小街巷) in modern estates
    blocks = _blocks(district, roads)
    for block, zone in zip(blocks, zones_of(blocks), strict=True):
        part = shapely.difference(block, parks)
        if part.is_empty or part.area < 8000.0:
            continue
        if zone == "modern":
            lines = _lines_across(
                rng, part, angle=_block_angle(part), spacing_m=140.0, wiggle_m=2.0,
                through=0.3, min_len_m=60.0, both=rng.random() < 0.3,
            )[: int(rng.integers(0, 3))]  # fmt: skip
            roads.extend(_Road(names.hutong(), MODERN_LANE_CLASS, line) for line in lines)
            continue
        oblique = zone == "outer"
        angle = _block_angle(part) + rng.normal(0, 15) if oblique else rng.normal(0, 1.0)
        lanes = _hutong_lines(rng, part, angle=angle, style=style)
        rows = [g for g, k in lanes if k == "row"]
        # parallel rows of a block are often numbered (X头条, X二条 ...)
        if len(rows) >= 3 and rng.random() < 0.3:
            row_names = names.hutong_series(len(rows))
        else:
            row_names = [names.hutong(oblique=oblique) for _ in rows]
        it = iter(row_names)
        for g, k in lanes:
            name = next(it) if k == "row" else names.hutong()
            roads.append(_Road(name, LANE_CLASS, g))

    frame = pd.DataFrame(
        {
            "name": [r.name for r in roads],
            "road_class": [r.road_class for r in roads],
            "geometry": [r.geometry for r in roads],
        }
    )
    frame["kind"] = np.where(
        frame["road_class"].isin([LANE_CLASS, MODERN_LANE_CLASS]), "lane", "street"
    )
    # one row per road name: parts of one named road belong together
    frame = (
        frame.groupby(["name", "road_class", "kind"], sort=False)["geometry"]
        .agg(lambda gs: shapely.line_merge(shapely.union_all(list(gs))))
        .reset_index()
    )
    return gpd.GeoDataFrame(frame, geometry="geometry")


_CLASS_ORDER = {
    "快速路": 0,
    "主干路": 1,
    "次干路": 2,
    "支路": 3,
    LANE_CLASS: 4,
    MODERN_LANE_CLASS: 5,
}


def code_roads(roads: gpd.GeoDataFrame, *, district_code: str) -> gpd.GeoDataFrame:
    """Give roads codes in a stable order: by class, then north→south, west→east."""
    out = roads.copy()
    rp = shapely.get_coordinates(shapely.point_on_surface(np.asarray(out.geometry.values)))
    order = np.lexsort(
        (np.round(rp[:, 0]), -np.round(rp[:, 1], -1), out["road_class"].map(_CLASS_ORDER).fillna(9))
    )
    out = out.iloc[order].reset_index(drop=True)
    out.insert(0, "code", [f"{district_code[:6]}R{i + 1:05d}" for i in range(len(out))])
    return out
