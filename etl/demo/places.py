"""Markets, key premises and shops along the generated streets.

Places stand where they stand in life: shops and restaurants face a street, dense on
the catering streets; public toilets and garbage stations line the hutongs; schools
and markets take a plot behind the frontage. On main and secondary roads the building
line is behind the carriageway and pavement, which the bait-station profile's road
exclusion describes (half a carriageway plus the pavement, from the centreline): no
place stands on a main road. Bait stations are placed in :mod:`etl.demo.bait`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray

from etl.demo.names import NamePool
from gis.profiles import BaitProfile, normalise_kind

Floats = NDArray[np.float64]

#: Premises per km² of urban land by kind, in the old city (modern estates: half).
DENSITY_PER_KM2: dict[str, float] = {
    "catering": 30.0,  # plus the catering streets' own frontage
    "food_shop": 12.0,
    "food_workshop": 0.8,
    "hotel": 3.5,
    "supermarket": 1.5,
    "grain_store": 0.5,
    "garbage_station": 7.0,
    "public_toilet": 8.0,
    "canteen": 2.5,
    "school": 1.6,
    "kindergarten": 1.9,
    "shop": 60.0,
}
_SUFFIX = {
    "catering": ("饭馆", "小吃", "面馆", "涮肉", "烤肉", "包子铺", "火锅", "饺子馆", "炸酱面"),
    "food_shop": ("副食店", "便利店", "水果店", "烟酒副食", "熟食店"),
    "food_workshop": ("食品加工坊", "豆制品加工点", "糕点作坊", "馒头房"),
    "hotel": ("宾馆", "酒店", "快捷酒店", "胡同客栈"),
    "supermarket": ("超市", "生活超市"),
    "grain_store": ("粮油店",),
    "canteen": ("机关食堂", "职工食堂", "社区食堂"),
    "school": ("小学", "中学"),
    "kindergarten": ("幼儿园",),
    "shop": ("理发店", "五金店", "服装店", "药店", "文具店", "洗衣店", "眼镜店", "花店", "修车铺"),
}
#: Footprints of the places the profile gives none (shops) or that are drawn as plots.
_SHOP_SIDE_M = 10.0
_PLOT_M = {"school": (70.0, 55.0), "kindergarten": (38.0, 30.0)}
MARKET_KINDS = (("农贸市场", 0.45), ("便民市场", 0.35), ("早市", 0.1), ("夜市", 0.1))
_MARKET_KIND_CODES = {
    "农贸市场": "farmers",
    "便民市场": "convenience",
    "早市": "morning",
    "夜市": "night",
}


@dataclass(frozen=True)
class Kerbs:
    """Centrelines of the roads whose sides are kept clear, and how far (metres).

    The distance is the bait-station profile's road exclusion buffer: half a
    carriageway plus the pavement, so the building line of the places fronting the
    road; other roads (branch roads, hutongs) keep nothing clear.
    """

    clear_m: Floats  # per segment, 0 where the road keeps nothing clear
    lines: NDArray[np.object_]  # the segments with clear_m > 0
    lines_clear_m: Floats

    @classmethod
    def of(cls, segments: gpd.GeoDataFrame, profile: BaitProfile) -> Kerbs:
        """The kerbs of ``segments`` (a ``road_class`` column) under ``profile``."""
        road_class = segments["road_class"].fillna("").astype(str).map(normalise_kind)
        clear = np.zeros(len(segments))
        for ex in profile.exclusions:
            if ex.source == "road_segments":
                hit = road_class.isin({normalise_kind(c) for c in ex.road_classes}).to_numpy()
                clear = np.where(hit, np.maximum(clear, ex.buffer_m), clear)
        lines = np.asarray(segments.geometry.values, dtype=object)
        return cls(clear, lines[clear > 0], clear[clear > 0])

    def clear_of(self, geoms: NDArray[np.object_]) -> NDArray[np.bool_]:
        """Whether each geometry keeps off every kept-clear strip."""
        ok = np.ones(len(geoms), dtype=bool)
        if len(self.lines) == 0 or len(geoms) == 0:
            return ok
        tree = shapely.STRtree(self.lines)
        gi, li = tree.query(geoms, predicate="dwithin", distance=float(self.lines_clear_m.max()))
        on_road = shapely.distance(geoms[gi], self.lines[li]) < self.lines_clear_m[li]
        ok[gi[on_road]] = False
        return ok


def footprint_side_m(kind: str, profile: BaitProfile) -> float:
    """Side of the square a point place of ``kind`` stands for (the profile's own)."""
    rule = profile.kind_to_rule().get(normalise_kind(kind))
    return float(np.sqrt(profile.rule(rule).point_footprint_m2)) if rule else _SHOP_SIDE_M


def _squares(xy: Floats, side_m: float) -> NDArray[np.object_]:
    h = side_m / 2.0
    return np.asarray(
        shapely.box(xy[:, 0] - h, xy[:, 1] - h, xy[:, 0] + h, xy[:, 1] + h), dtype=object
    )


@dataclass
class Frontage:
    """Points beside streets: position, the segment, distance along it, side."""

    xy: Floats
    segment: NDArray[np.intp]
    along_m: Floats
    side: NDArray[np.int8]


def frontage(
    lines: NDArray[np.object_],
    weights: Floats,
    n: int,
    rng: np.random.Generator,
    *,
    offset_m: tuple[float, float] = (6.0, 14.0),
    clear_m: Floats | None = None,
    half_depth_m: float | Floats = 0.0,
) -> Frontage:
    """``n`` points beside ``lines`` (chosen by ``weights``), off either side.

    Where a line keeps a strip clear (``clear_m``, per line: :attr:`Kerbs.clear_m`), a
    place ``half_depth_m`` deep (from its point to its farthest corner) stands behind
    it: its front on the building line or up to 3 m behind it.
    """
    p = weights / weights.sum()
    seg = rng.choice(len(lines), size=n, p=p)
    length = shapely.length(lines[seg])
    along = rng.uniform(0.05, 0.95, n) * length
    a = shapely.get_coordinates(shapely.line_interpolate_point(lines[seg], along))
    b = shapely.get_coordinates(shapely.line_interpolate_point(lines[seg], along + 1.0))
    d = b - a
    d /= np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)[:, None]
    normal = np.column_stack([-d[:, 1], d[:, 0]])
    side = rng.choice(np.array([-1, 1], dtype=np.int8), n)
    off = rng.uniform(*offset_m, n)
    if clear_m is not None:
        clear = clear_m[seg]
        behind = clear + half_depth_m + rng.uniform(0.5, 3.0, n)
        off = np.where(clear > 0, np.maximum(off, behind), off)
    off = off * side
    return Frontage(a + normal * off[:, None], seg, along, side)


def _rect(x: float, y: float, w: float, h: float, angle_deg: float) -> shapely.Polygon:
    poly = shapely.box(-w / 2, -h / 2, w / 2, h / 2)
    poly = shapely.affinity.rotate(poly, angle_deg, origin=(0, 0))
    return shapely.affinity.translate(poly, x, y)


def _address(segments: gpd.GeoDataFrame, f: Frontage) -> list[str]:
    names = segments["road_name"].to_numpy(dtype=object)[f.segment]
    number = (f.along_m // 12).astype(int) * 2 + np.where(f.side > 0, 1, 2)
    return [f"{n}{k}号" for n, k in zip(names, number, strict=True)]


def _usable(xy: Floats, land: shapely.Geometry) -> NDArray[np.bool_]:
    return shapely.contains_xy(land, xy[:, 0], xy[:, 1])


def markets(
    segments: gpd.GeoDataFrame,
    land: shapely.Geometry,
    *,
    kerbs: Kerbs,
    area_km2: float,
    rng: np.random.Generator,
    names: NamePool,
    code_prefix: str,
) -> gpd.GeoDataFrame:
    """Farmers', convenience, morning and night markets (polygons behind a street)."""
    n = max(2, round(area_km2 * 0.75))
    is_street = (segments.kind == "street").to_numpy()
    streets = segments[is_street]
    lines = np.asarray(streets.geometry.values, dtype=object)
    w = np.where(streets.road_class.isin(["次干路", "支路"]), 1.0, 0.15) * shapely.length(lines)
    kinds = rng.choice([k for k, _ in MARKET_KINDS], size=n * 3, p=[p for _, p in MARKET_KINDS])
    strip = np.isin(kinds, ("早市", "夜市"))  # a strip along the kerb, else a hall
    width = np.where(strip, rng.uniform(90, 180, n * 3), rng.uniform(45, 85, n * 3))
    depth = np.where(strip, 12.0, rng.uniform(30, 55, n * 3))
    f = frontage(
        lines, w, n * 3, rng, offset_m=(30.0, 45.0),
        clear_m=kerbs.clear_m[is_street], half_depth_m=depth / 2,
    )  # fmt: skip
    a = shapely.get_coordinates(shapely.get_point(lines[f.segment], 0))
    b = shapely.get_coordinates(shapely.get_point(lines[f.segment], -1))
    angle = np.degrees(np.arctan2(b[:, 1] - a[:, 1], b[:, 0] - a[:, 0]))
    rects = [
        _rect(float(x), float(y), float(wd), float(dp), float(ag))
        for (x, y), wd, dp, ag in zip(f.xy, width, depth, angle, strict=True)
    ]
    geoms: NDArray[np.object_] = np.asarray(rects, dtype=object)
    keep = np.flatnonzero(_usable(f.xy, land) & kerbs.clear_of(geoms))[:n]
    addresses = _address(streets, f)
    out = gpd.GeoDataFrame(
        {
            "code": [f"{code_prefix}M{i + 1:04d}" for i in range(len(keep))],
            "name": [names.place(str(k)) for k in kinds[keep]],
            "kind": [_MARKET_KIND_CODES[str(k)] for k in kinds[keep]],
            "address": [addresses[k] for k in keep],
        },
        geometry=shapely.intersection(geoms[keep], land),
        crs=segments.crs,
    )
    return out[~out.geometry.is_empty].reset_index(drop=True)


def premises(
    segments: gpd.GeoDataFrame,
    land: shapely.Geometry,
    zone_factor: Floats,
    *,
    kerbs: Kerbs,
    profile: BaitProfile,
    area_km2: float,
    catering_roads: set[str],
    rng: np.random.Generator,
    names: NamePool,
    code_prefix: str,
) -> gpd.GeoDataFrame:
    """Key premises and 门前三包 shops; ``zone_factor`` weights each segment's frontage.

    Points stand for the square footprints ``profile`` gives their kind (shops: 10 m),
    schools and kindergartens are plots; none reaches into a road's kept-clear strip.
    """
    lines = np.asarray(segments.geometry.values, dtype=object)
    length = shapely.length(lines)
    is_street = (segments.kind == "street").to_numpy()
    main = segments.road_class.isin(["快速路"]).to_numpy()
    rows: list[dict[str, object]] = []

    def add(kind: str, f: Frontage, geoms: NDArray[np.object_] | None = None) -> None:
        if geoms is None:
            side = footprint_side_m(kind, profile)
            keep = _usable(f.xy, land) & kerbs.clear_of(_squares(f.xy, side))
            geoms = np.asarray(shapely.points(f.xy), dtype=object)
        else:
            keep = _usable(f.xy, land) & kerbs.clear_of(geoms)
        addresses = _address(segments, f)
        road = segments["road_name"].to_numpy(dtype=object)[f.segment]
        for k in np.flatnonzero(keep):
            if kind in _SUFFIX:
                suffix = str(rng.choice(_SUFFIX[kind]))
                name = (
                    names.place(suffix)
                    if kind in ("hotel", "school", "kindergarten", "canteen", "grain_store")
                    else names.business(suffix)
                )
            elif kind == "garbage_station":
                name = names.place("垃圾分类驿站") if rng.random() < 0.6 else f"{road[k]}垃圾楼"
            else:
                name = f"{road[k]}公厕"
            rows.append({"name": name, "kind": kind, "address": addresses[k], "geometry": geoms[k]})

    def half_diagonal(kind: str) -> float:
        return footprint_side_m(kind, profile) / math.sqrt(2.0)

    # catering streets: restaurants every ~14 m on both sides
    cat = segments.road_name.isin(catering_roads).to_numpy()
    if cat.any():
        n_cat = int(length[cat].sum() / 14.0)
        w = np.where(cat, length, 0.0)
        f = frontage(
            lines, w, n_cat, rng, offset_m=(7.0, 12.0), clear_m=kerbs.clear_m,
            half_depth_m=half_diagonal("catering"),
        )  # fmt: skip
        add("catering", f)
    for kind, density in DENSITY_PER_KM2.items():
        n = round(density * area_km2 * float(np.mean(zone_factor)))
        if n == 0:
            continue
        if kind in ("public_toilet", "garbage_station"):
            w = length * np.where(is_street, 0.4, 1.6) * zone_factor
        elif kind in ("shop", "catering", "food_shop"):
            w = length * np.where(is_street, 2.0, 0.6) * zone_factor * np.where(main, 0.1, 1.0)
        else:
            w = length * np.where(is_street, 1.0, 0.3) * zone_factor
        if kind in _PLOT_M:
            width, depth = _PLOT_M[kind]
            f = frontage(
                lines, w, n, rng, offset_m=(38.0, 55.0), clear_m=kerbs.clear_m,
                half_depth_m=float(np.hypot(width, depth)) / 2,
            )  # fmt: skip
            angle = rng.uniform(-5, 5, n)
            plots = [_rect(x, y, width, depth, a) for (x, y), a in zip(f.xy, angle, strict=True)]
            add(kind, f, np.asarray(plots, dtype=object))
        else:
            f = frontage(
                lines, w, n, rng, offset_m=(6.0, 15.0), clear_m=kerbs.clear_m,
                half_depth_m=half_diagonal(kind),
            )  # fmt: skip
            add(kind, f)
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=segments.crs)
    out.insert(0, "code", [f"{code_prefix}P{i + 1:06d}" for i in range(len(out))])
    return out
