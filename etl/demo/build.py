"""Build a demo district in memory: every layer, reproducible from a seed.

Sizes: ``tests`` (two real street offices of Dongcheng, small enough for test
suites), ``S`` (all of Dongcheng, about 42 km²), ``M`` and ``L`` (synthetic districts
of about 150 and 500 km², built the same way, for benchmarks). The same seed gives
the same district; ``as_of`` ("now") only moves the problems, rosters and
inspection dates in time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import Transformer

from citygrid.settings import PROJECT_ROOT
from etl.demo import dongcheng, synthetic
from etl.demo.bait import bait_stations
from etl.demo.district import derive_divisions
from etl.demo.names import NamePool
from etl.demo.places import Kerbs, markets, premises
from etl.demo.problems import Anchors, generate_problems
from etl.demo.roads import code_roads, generate_roads
from etl.demo.roster import build_roster
from gis.crs import gcj02_to_wgs84
from gis.errors import DataError
from gis.grid import CodeScheme, grid_cells
from gis.profiles import load_bait_profile
from gis.segments import locate_lines, segment_roads

BEIJING = ZoneInfo("Asia/Shanghai")
CATEGORIES_CSV = PROJECT_ROOT / "data" / "categories.csv"
STREET_CLASSES = ("快速路", "主干路", "次干路", "支路")
#: Bumped whenever the same seed would give different data: cached districts are rebuilt.
GENERATOR_VERSION = 6
Step = Callable[[str], None]


@dataclass(frozen=True)
class Size:
    """How big a demo district is."""

    name: str
    problems: int
    synthetic: bool = False
    offices: tuple[str, ...] = ()  # a subset of Dongcheng's street offices
    area_km2: float = 0.0
    n_offices: int = 0
    n_communities: int = 0
    years: float = 2.0


SIZES: dict[str, Size] = {
    "tests": Size("tests", problems=6_000, offices=("110101002000", "110101003000")),
    "S": Size("S", problems=120_000),
    "M": Size("M", problems=400_000, synthetic=True, area_km2=150.0, n_offices=14,
              n_communities=150),
    "L": Size("L", problems=2_000_000, synthetic=True, area_km2=500.0, n_offices=30,
              n_communities=400),
}  # fmt: skip


@dataclass
class DemoData:
    """Every layer of a demo district, geometries in the metric CRS ``crs``."""

    size: str
    seed: int
    as_of: dt.datetime  # naive Beijing time
    crs: int
    scheme: str
    admin: gpd.GeoDataFrame
    categories: pd.DataFrame
    cells: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    segments: gpd.GeoDataFrame
    markets: gpd.GeoDataFrame
    premises: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    people: pd.DataFrame
    assignments: pd.DataFrame
    problems: pd.DataFrame
    parks: gpd.GeoDataFrame


def beijing_now() -> dt.datetime:
    """The current Beijing time, naive, to the minute."""
    return dt.datetime.now(BEIJING).replace(tzinfo=None, second=0, microsecond=0)


def _rngs(seed: int, n: int) -> list[np.random.Generator]:
    # one generator per stage: a stage's output does not depend on the others' draws
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


@dataclass
class _Base:
    district: shapely.Geometry
    divisions: pd.DataFrame  # code, name, level, parent_code, x, y (metric; NaN unknown)
    skeleton: list[tuple[str, str, shapely.Geometry]]
    parks: list[tuple[str, shapely.Geometry]]
    zone_of: Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.str_]]
    catering: tuple[str, ...] | None
    district_name: str
    district_centre: tuple[float, float] | None  # metric


def _dongcheng(crs: int) -> _Base:
    ref = dongcheng.read_reference()
    district = dongcheng.gcj_to_metric(ref.boundary_gcj, crs)
    to_metric = Transformer.from_crs(4326, crs, always_xy=True)
    d = ref.divisions.copy()
    lon, lat = gcj02_to_wgs84(d.lon_gcj.to_numpy(), d.lat_gcj.to_numpy())
    d["x"], d["y"] = to_metric.transform(lon, lat)
    skel = [
        (n, c, dongcheng.gcj_to_metric(shapely.LineString(p), crs))
        for n, c, p in dongcheng.MAIN_ROADS
    ]
    park_list = [(n, dongcheng.gcj_to_metric(shapely.Polygon(p), crs)) for n, p in dongcheng.PARKS]

    def y_of(lat_gcj: float, lon_gcj: float = 116.415) -> tuple[float, float]:
        lo, la = gcj02_to_wgs84(lon_gcj, lat_gcj)
        x, y = to_metric.transform(lo, la)
        return float(x), float(y)

    y_outer = y_of(dongcheng.OUTER_CITY_LAT)[1]
    y_north = y_of(dongcheng.MODERN_BANDS[0][0])[1]
    y_south = y_of(dongcheng.MODERN_BANDS[1][1])[1]
    x_ring = y_of(39.93, 116.4356)[0]
    x_east_outer = y_of(39.89, 116.428)[0]

    def zone_of(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.str_]:
        z = np.full(len(x), "old", dtype=object)
        z[y < y_outer] = "outer"
        z[(y < y_outer) & (x > x_east_outer)] = "modern"
        z[(y > y_north) | (y < y_south) | ((x > x_ring) & (y > y_outer))] = "modern"
        return z.astype(str)

    top = d[d.level == "district"].iloc[0]
    return _Base(
        district=district,
        divisions=d[d.level != "district"].reset_index(drop=True),
        skeleton=skel,
        parks=park_list,
        zone_of=zone_of,
        catering=dongcheng.CATERING_STREETS,
        district_name=str(top["name"]),
        district_centre=(float(top.x), float(top.y)),
    )


def _synthetic(size: Size, crs: int, rng: np.random.Generator, names: NamePool) -> _Base:
    ref = dongcheng.read_reference()
    district = synthetic.scaled_outline(dongcheng.gcj_to_metric(ref.boundary_gcj, crs),
                                        size.area_km2)  # fmt: skip
    divs = synthetic.divisions(
        district, n_offices=size.n_offices, n_communities=size.n_communities,
        district_code=dongcheng.DISTRICT_CODE, rng=rng, names=names,
    )  # fmt: skip
    return _Base(
        district=district,
        divisions=divs,
        skeleton=synthetic.skeleton(district, rng=rng, names=names, spacing_m=1300.0),
        parks=synthetic.parks(district, rng=rng, names=names, n=max(2, round(size.area_km2 / 20))),
        zone_of=synthetic.zone_fn(district),  # type: ignore[arg-type]
        catering=None,
        district_name=f"东城区（合成{size.name}）",
        district_centre=None,
    )


@dataclass
class Layout:
    """A district's roads and divisions, before anything is placed on them."""

    base: _Base
    names: NamePool
    roads: gpd.GeoDataFrame
    offices: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    parks: shapely.Geometry
    rngs: list[np.random.Generator]  # places, roster, problems


def layout(
    size: str = "S", *, seed: int = 2004, crs: int = 4548, step: Step | None = None
) -> Layout:
    """The first stages of :func:`build`: roads, street offices and communities."""
    if size not in SIZES:
        msg = f"unknown demo size {size!r}; choose one of {', '.join(SIZES)}"
        raise DataError(msg)
    spec = SIZES[size]
    say = step or (lambda _msg: None)
    r_base, r_roads, r_places, r_roster, r_problems, r_names = _rngs(seed, 6)
    names = NamePool(r_names)

    say("district and main roads")
    base = _synthetic(spec, crs, r_base, names) if spec.synthetic else _dongcheng(crs)
    names.used.update(n for n, _, _ in base.skeleton)
    park_geom = shapely.union_all([p for _, p in base.parks]) if base.parks else shapely.Polygon()

    say("roads and hutongs")
    roads = generate_roads(
        base.district, base.skeleton, parks=park_geom, zone_of=base.zone_of, rng=r_roads,
        names=names,
    )  # fmt: skip
    roads = code_roads(roads.set_crs(crs), district_code=dongcheng.DISTRICT_CODE)

    say("street offices and communities")
    geoms = np.asarray(roads.geometry.values, dtype=object)
    cls = roads.road_class.to_numpy()
    divs = derive_divisions(
        base.district, base.divisions,
        office_roads=np.asarray(shapely.get_parts(geoms[np.isin(cls, STREET_CLASSES[:3])])),
        community_roads=np.asarray(shapely.get_parts(geoms[np.isin(cls, STREET_CLASSES)])),
        crs=crs,
    )  # fmt: skip
    offices, comms = divs.street_offices, divs.communities
    if spec.offices:
        offices = offices[offices.code.isin(spec.offices)].reset_index(drop=True)
        comms = comms[comms.parent_code.isin(spec.offices)].reset_index(drop=True)
    return Layout(base, names, roads, offices, comms, park_geom, [r_base, r_places, r_roster,
                                                                  r_problems])  # fmt: skip


def build(
    size: str = "S",
    *,
    seed: int = 2004,
    as_of: dt.datetime | None = None,
    crs: int = 4548,
    scheme: CodeScheme = "15",
    target_area_m2: float = 10_000.0,
    step: Step | None = None,
) -> DemoData:
    """Generate a demo district of ``size`` (see :data:`SIZES`) from ``seed``.

    ``as_of`` is "now" in Beijing time (naive); problems run up to it.
    """
    lay = layout(size, seed=seed, crs=crs, step=step)
    spec = SIZES[size]
    now = (as_of or beijing_now()).replace(second=0, microsecond=0)
    say = step or (lambda _msg: None)
    base, names, roads, offices, comms = (
        lay.base,
        lay.names,
        lay.roads,
        lay.offices,
        lay.communities,
    )
    park_geom = lay.parks
    r_base, r_places, r_roster, r_problems = lay.rngs
    land = shapely.union_all(np.asarray(comms.geometry.values))

    say("road segments")
    segments = segment_roads(roads, min_length_m=40.0, max_length_m=800.0,
                             boundary=base.district,
                             boundary_name=base.district_name.split("（")[0] + "界")  # fmt: skip
    segments["community_code"] = locate_lines(segments, comms.rename(columns={"code": "c"}),
                                              key="c").to_numpy()  # fmt: skip
    mids = shapely.line_interpolate_point(np.asarray(segments.geometry.values), 0.5,
                                          normalized=True)  # fmt: skip
    segments = segments[shapely.contains(land, mids) | shapely.intersects(land, mids)]
    segments["street_office_code"] = segments.community_code.str[:9] + "000"
    segments = segments.reset_index(drop=True)
    roads = roads[roads.code.isin(segments.road_code)].reset_index(drop=True)

    say("unit grid cells")
    streets = roads[roads.road_class.isin(STREET_CLASSES)]
    # scheme 14 numbers at most 99 cells a community: the few large ones (parks, rail
    # yards) get cells just large enough to fit, as a planner would draw them
    cells = grid_cells(
        comms, target_area_m2=target_area_m2, scheme=scheme, roads=streets,
        fit_scheme=scheme == "14",
    )  # fmt: skip
    cells = _responsible(cells, comms, base.parks, rng=r_places)

    say("markets, premises and bait stations")
    seg_mid = shapely.get_coordinates(
        shapely.line_interpolate_point(np.asarray(segments.geometry.values), 0.5, normalized=True)
    )
    zone = base.zone_of(seg_mid[:, 0], seg_mid[:, 1])
    zone_factor = np.select([zone == "old", zone == "outer"], [1.0, 0.9], 0.45)
    places_land = shapely.difference(land, park_geom)
    area_km2 = land.area / 1e6
    prefix = dongcheng.DISTRICT_CODE[:6]
    # the default rule profile says how wide main roads are kept clear (the building
    # line) and where stations go, as the coverage check will judge them
    profile = load_bait_profile()
    kerbs = Kerbs.of(segments, profile)
    mkts = markets(segments, places_land, kerbs=kerbs, area_km2=area_km2, rng=r_places,
                   names=names, code_prefix=prefix)  # fmt: skip
    catering = set(base.catering or ()) or _pick_catering(segments, zone, r_places, area_km2)
    prem = premises(
        segments, places_land, zone_factor, kerbs=kerbs, profile=profile, area_km2=area_km2,
        catering_roads=catering, rng=r_places, names=names, code_prefix=prefix,
    )  # fmt: skip
    stations = bait_stations(mkts, prem, segments, profile=profile, as_of=now.date(),
                             rng=r_places, code_prefix=prefix)  # fmt: skip
    for frame in (mkts, prem):
        frame["community_code"] = _locate_points(frame, comms)
        frame["street_office_code"] = frame.community_code.str[:9] + "000"

    say("roster of street heads")
    roster = build_roster(
        offices, comms, segments=segments, cells=cells, shops=prem[prem.kind == "shop"],
        markets=mkts, as_of=now.date(), rng=r_roster,
    )  # fmt: skip

    say("problems")
    categories = read_categories()
    anchors = _anchors(segments, mkts, prem)
    problem_land = shapely.difference(land, shapely.buffer(park_geom, -40.0))
    start = now - dt.timedelta(days=round(365.25 * spec.years))
    problems = generate_problems(
        spec.problems, anchors, categories, problem_land,
        (offices.code.to_numpy(dtype=object), np.asarray(offices.geometry.values)),
        start=start, as_of=now, crs=crs, rng=r_problems,
    )  # fmt: skip

    admin = _admin(base, offices, comms, rng=r_base)
    parks_gdf = gpd.GeoDataFrame(
        {"name": [n for n, _ in base.parks]}, geometry=[p for _, p in base.parks], crs=crs
    )
    return DemoData(
        size=size, seed=seed, as_of=now, crs=crs, scheme=scheme, admin=admin,
        categories=categories, cells=cells, roads=roads, segments=segments, markets=mkts,
        premises=prem, stations=stations, people=roster.people,
        assignments=roster.assignments, problems=problems, parks=parks_gdf,
    )  # fmt: skip


def read_categories() -> pd.DataFrame:
    """The default problem category table (``data/categories.csv``)."""
    return pd.read_csv(CATEGORIES_CSV, dtype={"code": str, "major_code": str})


def _responsible(
    cells: gpd.GeoDataFrame,
    comms: gpd.GeoDataFrame,
    parks: list[tuple[str, shapely.Geometry]],
    *,
    rng: np.random.Generator,
) -> gpd.GeoDataFrame:
    """Responsible body of each cell: the community (属地兜底), a park's management for
    cells mostly inside a park, and none for a few (a gap to find)."""
    out = cells.copy()
    names = dict(zip(comms.code, comms.name, strict=True))
    body = out.community_code.map(names).astype(object)
    geoms = np.asarray(out.geometry.values, dtype=object)
    for name, park in parks:
        share = shapely.area(shapely.intersection(geoms, park)) / shapely.area(geoms)
        body[share > 0.5] = f"{name}管理处"
    body[rng.random(len(out)) < 0.015] = None
    out["responsible_body"] = body
    out["valid_from"] = dt.date(2024, 1, 1)
    out["valid_to"] = None
    return out


def _pick_catering(
    segments: gpd.GeoDataFrame, zone: NDArray[np.str_], rng: np.random.Generator, area_km2: float
) -> set[str]:
    ok = segments.road_class.isin(["次干路", "支路"]).to_numpy() & (zone != "modern")
    pool = segments.road_name[ok].unique()
    n = min(len(pool), max(3, round(area_km2 / 8)))
    return set(rng.choice(pool, size=n, replace=False)) if n else set()


def _locate_points(frame: gpd.GeoDataFrame, comms: gpd.GeoDataFrame) -> NDArray[np.object_]:
    pts = shapely.point_on_surface(np.asarray(frame.geometry.values, dtype=object))
    tree = shapely.STRtree(np.asarray(comms.geometry.values, dtype=object))
    hit = np.full(len(pts), -1)
    p, c = tree.query(pts, predicate="intersects")
    hit[p[::-1]] = c[::-1]
    miss = np.flatnonzero(hit < 0)
    if len(miss):
        _, near = tree.query_nearest(pts[miss], all_matches=False)
        hit[miss] = near
    return comms.code.to_numpy(dtype=object)[hit]


def _anchors(segments: gpd.GeoDataFrame, mkts: gpd.GeoDataFrame, prem: gpd.GeoDataFrame) -> Anchors:
    streets = segments[segments.kind == "street"]
    lanes = segments[segments.kind == "lane"]
    s_geoms = np.asarray(streets.geometry.values, dtype=object)
    l_geoms = np.asarray(lanes.geometry.values, dtype=object)
    # hutong entrances: lane ends that meet a street
    ends = np.concatenate([shapely.get_point(l_geoms, 0), shapely.get_point(l_geoms, -1)])
    owner = np.concatenate([np.arange(len(l_geoms))] * 2)
    tree = shapely.STRtree(s_geoms)
    e_idx, _ = tree.query(ends, predicate="dwithin", distance=3.0)
    e_idx = np.unique(e_idx)
    class_w = streets.road_class.map({"快速路": 0.3, "主干路": 1.5, "次干路": 1.2}).fillna(1.0)
    cat = prem[prem.kind == "catering"]
    toilets = prem[prem.kind.isin(["public_toilet", "garbage_station"])]

    def xy(frame: gpd.GeoDataFrame) -> NDArray[np.float64]:
        return shapely.get_coordinates(shapely.centroid(np.asarray(frame.geometry.values)))

    return Anchors(
        market_xy=xy(mkts), market_name=mkts.name.to_numpy(dtype=object),
        catering_xy=xy(cat), catering_name=cat.name.to_numpy(dtype=object),
        entrance_xy=shapely.get_coordinates(ends[e_idx]),
        entrance_name=lanes.road_name.to_numpy(dtype=object)[owner[e_idx]],
        street_lines=s_geoms,
        street_weight=shapely.length(s_geoms) * class_w.to_numpy(dtype=float),
        street_name=streets.road_name.to_numpy(dtype=object),
        lane_lines=l_geoms, lane_name=lanes.road_name.to_numpy(dtype=object),
        toilet_xy=xy(toilets), toilet_name=toilets.name.to_numpy(dtype=object),
    )  # fmt: skip


def _admin(
    base: _Base, offices: gpd.GeoDataFrame, comms: gpd.GeoDataFrame, *, rng: np.random.Generator
) -> gpd.GeoDataFrame:
    """District, street office and community rows with populations and centres."""
    zone_density = {"old": 24_000.0, "outer": 20_000.0, "modern": 14_000.0}
    rp = shapely.get_coordinates(shapely.point_on_surface(np.asarray(comms.geometry.values)))
    zone = base.zone_of(rp[:, 0], rp[:, 1])
    parks = shapely.union_all([p for _, p in base.parks]) if base.parks else shapely.Polygon()
    living = shapely.area(shapely.difference(np.asarray(comms.geometry.values), parks)) / 1e6
    density = np.array([zone_density[z] for z in zone])
    pop = np.round(living * density * rng.lognormal(0, 0.25, len(comms)) / 10) * 10
    comm_rows = pd.DataFrame(
        {
            "code": comms.code, "name": comms.name, "level": "community",
            "parent_code": comms.parent_code, "population": pop.astype(int),
            "centre_x": comms.seed_x, "centre_y": comms.seed_y, "geometry": comms.geometry,
        }
    )  # fmt: skip
    known = base.divisions.set_index("code")[["x", "y"]]
    office_pop = comm_rows.groupby("parent_code")["population"].sum()
    o_rp = shapely.get_coordinates(shapely.point_on_surface(np.asarray(offices.geometry.values)))
    ox = known.reindex(offices.code)["x"].to_numpy()
    oy = known.reindex(offices.code)["y"].to_numpy()
    inside = ~np.isnan(ox)
    inside[inside] = shapely.contains_xy(np.asarray(offices.geometry.values)[inside],
                                         ox[inside], oy[inside])  # fmt: skip
    office_rows = pd.DataFrame(
        {
            "code": offices.code, "name": offices.name, "level": "street_office",
            "parent_code": dongcheng.DISTRICT_CODE,
            "population": office_pop.reindex(offices.code).fillna(0).astype(int).to_numpy(),
            "centre_x": np.where(inside, ox, o_rp[:, 0]), "centre_y": np.where(inside, oy, o_rp[:, 1]),
            "geometry": offices.geometry,
        }
    )  # fmt: skip
    centre = base.district_centre or (base.district.centroid.x, base.district.centroid.y)
    district_row = pd.DataFrame(
        {
            "code": [dongcheng.DISTRICT_CODE], "name": [base.district_name],
            "level": ["district"], "parent_code": [None],
            "population": [int(comm_rows.population.sum())],
            "centre_x": [centre[0]], "centre_y": [centre[1]], "geometry": [base.district],
        }
    )  # fmt: skip
    rows = pd.concat([district_row, office_rows, comm_rows], ignore_index=True)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=offices.crs)
