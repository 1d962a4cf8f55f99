"""Markets, key premises, shops and rodent bait stations along the generated streets.

Places stand where they stand in life: shops and restaurants face a street, dense on
the catering streets; public toilets and garbage stations line the hutongs; schools
and markets take a plot behind the frontage. Bait stations follow the municipal
practice the coverage rules check (every 20 m round markets and along catering
streets, one or two at each garbage station and toilet, none near schools), with the
gaps, damage and overdue inspections a real survey finds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from etl.demo.names import NamePool

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
MARKET_KINDS = (("农贸市场", 0.45), ("便民市场", 0.35), ("早市", 0.1), ("夜市", 0.1))
_MARKET_KIND_CODES = {
    "农贸市场": "farmers",
    "便民市场": "convenience",
    "早市": "morning",
    "夜市": "night",
}
BAIT_TYPES = ("溴敌隆蜡块", "大隆毒饵", "杀鼠醚颗粒", "溴鼠灵蜡块")


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
) -> Frontage:
    """``n`` points beside ``lines`` (chosen by ``weights``), off either side."""
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
    off = rng.uniform(*offset_m, n) * side
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
    area_km2: float,
    rng: np.random.Generator,
    names: NamePool,
    code_prefix: str,
) -> gpd.GeoDataFrame:
    """Farmers', convenience, morning and night markets (polygons behind a street)."""
    n = max(2, round(area_km2 * 0.75))
    streets = segments[segments.kind == "street"]
    lines = np.asarray(streets.geometry.values, dtype=object)
    w = np.where(streets.road_class.isin(["次干路", "支路"]), 1.0, 0.15) * shapely.length(lines)
    f = frontage(lines, w, n * 3, rng, offset_m=(30.0, 45.0))
    keep = np.flatnonzero(_usable(f.xy, land))[:n]
    kinds = rng.choice([k for k, _ in MARKET_KINDS], size=len(keep), p=[p for _, p in MARKET_KINDS])
    rows = []
    addresses = _address(streets, f)
    for i, (k, kind) in enumerate(zip(keep, kinds, strict=True)):
        seg = lines[f.segment[k]]
        a, b = shapely.get_coordinates(seg)[[0, -1]]
        angle = float(np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0])))
        if kind in ("早市", "夜市"):  # a strip along the kerb
            x, y = f.xy[k]
            geom = _rect(x, y, rng.uniform(90, 180), 12.0, angle)
        else:
            geom = _rect(*f.xy[k], rng.uniform(45, 85), rng.uniform(30, 55), angle)
        rows.append(
            {
                "code": f"{code_prefix}M{i + 1:04d}",
                "name": names.place(kind),
                "kind": _MARKET_KIND_CODES[kind],
                "address": addresses[k],
                "geometry": shapely.intersection(geom, land),
            }
        )
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=segments.crs)
    return out[~out.geometry.is_empty].reset_index(drop=True)


def premises(
    segments: gpd.GeoDataFrame,
    land: shapely.Geometry,
    zone_factor: Floats,
    *,
    area_km2: float,
    catering_roads: set[str],
    rng: np.random.Generator,
    names: NamePool,
    code_prefix: str,
) -> gpd.GeoDataFrame:
    """Key premises and 门前三包 shops; ``zone_factor`` weights each segment's frontage."""
    lines = np.asarray(segments.geometry.values, dtype=object)
    length = shapely.length(lines)
    is_street = (segments.kind == "street").to_numpy()
    main = segments.road_class.isin(["快速路"]).to_numpy()
    rows: list[dict[str, object]] = []

    def add(
        kind: str,
        f: Frontage,
        mask: NDArray[np.bool_],
        make_geom: Callable[[Floats], shapely.Geometry] | None = None,
    ) -> None:
        addresses = _address(segments, f)
        road = segments["road_name"].to_numpy(dtype=object)[f.segment]
        for k in np.flatnonzero(mask):
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
            geom = make_geom(f.xy[k]) if make_geom else shapely.Point(f.xy[k])
            rows.append({"name": name, "kind": kind, "address": addresses[k], "geometry": geom})

    # catering streets: restaurants every ~14 m on both sides
    cat = segments.road_name.isin(catering_roads).to_numpy()
    if cat.any():
        n_cat = int(length[cat].sum() / 14.0)
        w = np.where(cat, length, 0.0)
        f = frontage(lines, w, n_cat, rng, offset_m=(7.0, 12.0))
        add("catering", f, _usable(f.xy, land))
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
        big = kind in ("school", "kindergarten")
        f = frontage(lines, w, n, rng, offset_m=(38.0, 55.0) if big else (6.0, 15.0))
        size = (70.0, 55.0) if kind == "school" else (38.0, 30.0)

        def plot(xy: Floats, size: tuple[float, float] = size) -> shapely.Polygon:
            return _rect(xy[0], xy[1], size[0], size[1], float(rng.uniform(-5, 5)))

        add(kind, f, _usable(f.xy, land), plot if big else None)
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=segments.crs)
    out.insert(0, "code", [f"{code_prefix}P{i + 1:06d}" for i in range(len(out))])
    return out


def bait_stations(
    mkts: gpd.GeoDataFrame,
    prem: gpd.GeoDataFrame,
    *,
    as_of: dt.date,
    rng: np.random.Generator,
    code_prefix: str,
) -> gpd.GeoDataFrame:
    """Rodent bait stations by municipal practice, with realistic gaps and damage."""
    xy_parts: list[Floats] = []
    owner_parts: list[NDArray[np.object_]] = []
    # markets: every 20 m round the perimeter, 1.5 m out; some markets patchy or bare
    for code, geom in zip(mkts.code, mkts.geometry, strict=True):
        ring = shapely.buffer(geom, 1.5).exterior
        n = max(4, int(ring.length // 20))
        pts = shapely.get_coordinates(
            shapely.line_interpolate_point(ring, np.arange(n) / n, normalized=True)
        )
        r = rng.random()
        if r < 0.1:
            continue
        if r < 0.3:
            pts = pts[rng.random(len(pts)) > 0.4]
        xy_parts.append(pts)
        owner_parts.append(np.full(len(pts), code, dtype=object))
    per_kind = {
        "catering": (1, 0.8),
        "canteen": (2, 0.85),
        "hotel": (2, 0.7),
        "supermarket": (2, 0.75),
        "food_shop": (1, 0.6),
        "food_workshop": (2, 0.8),
        "grain_store": (2, 0.8),
        "garbage_station": (2, 0.9),
        "public_toilet": (1, 0.85),
    }
    for kind, (k, share) in per_kind.items():
        sel = prem[(prem.kind == kind).to_numpy() & (rng.random(len(prem)) < share)]
        if sel.empty:
            continue
        centre = shapely.get_coordinates(shapely.centroid(np.asarray(sel.geometry.values)))
        reps = rng.integers(1, k + 1, len(sel))
        base = np.repeat(centre, reps, axis=0)
        ang = rng.uniform(0, 2 * np.pi, len(base))
        dist = rng.uniform(2.0, 6.0, len(base))
        xy_parts.append(base + np.column_stack([np.cos(ang), np.sin(ang)]) * dist[:, None])
        owner_parts.append(np.repeat(sel.code.to_numpy(dtype=object), reps))
    # a few placed where the rules forbid them: next to schools and kindergartens
    schools = prem[prem.kind.isin(["school", "kindergarten"])]
    if len(schools):
        pick = schools.sample(n=min(len(schools), max(1, len(schools) // 15)), random_state=rng)
        centre = shapely.get_coordinates(shapely.centroid(np.asarray(pick.geometry.values)))
        xy_parts.append(centre + rng.normal(0, 25, centre.shape))
        owner_parts.append(np.full(len(centre), None, dtype=object))
    xy = np.vstack(xy_parts) if xy_parts else np.empty((0, 2))
    owner = np.concatenate(owner_parts) if owner_parts else np.empty(0, dtype=object)
    n = len(xy)
    state = rng.choice(["intact", "damaged", "missing"], size=n, p=[0.86, 0.09, 0.05])
    installed = pd.to_datetime(as_of) - pd.to_timedelta(rng.integers(60, 3 * 365, n), unit="D")
    age = np.where(
        rng.random(n) < 0.7,
        rng.integers(0, 30, n),
        np.where(rng.random(n) < 0.67, rng.integers(30, 90, n), rng.integers(90, 400, n)),
    )
    inspected = pd.to_datetime(as_of) - pd.to_timedelta(age, unit="D")
    inspected = inspected.where(inspected >= installed, installed)
    never = rng.random(n) < 0.02
    return gpd.GeoDataFrame(
        {
            "code": [f"{code_prefix}B{i + 1:06d}" for i in range(n)],
            "state": state,
            "bait_type": rng.choice(BAIT_TYPES, size=n),
            "installed_on": installed.date,
            "last_inspected": pd.Series(inspected.date, dtype=object).where(~never, None),
            "premises_code": owner,
        },
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=mkts.crs,
    )
