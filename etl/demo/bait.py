"""Rodent bait stations of the demo district, placed as a city that keeps its rules does.

Stations stand where the rule profile the coverage check applies (:mod:`gis.bait`)
asks: round each market's and key premises' outline at (a little under) the rule's
spacing, against the wall foot; one or two beside each garbage station and public
toilet; and none in the exclusion zones (near schools and kindergartens, on main and
secondary roads), the outline there being left bare. A survey of such a city still
finds gaps: premises that keep no stations, patchy markets, damaged and missing
stations, overdue inspections, and a few stations where the rules forbid them (keepers
who ignored the zones, a few out on a main road's pavement or beside schools).
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from etl.demo.places import Kerbs
from gis.bait import BaitEvaluation, evaluate_bait_coverage, exclusion_zones
from gis.profiles import BaitProfile

Floats = NDArray[np.float64]
Positions = NDArray[np.intp]

BAIT_TYPES = ("溴敌隆蜡块", "大隆毒饵", "杀鼠醚颗粒", "溴鼠灵蜡块")
#: Per kind: the share of premises that keep stations at all, and the share of those
#: that lost some (each of their stations gone with probability ``_PATCHY_LOSS``).
KEEPING: dict[str, tuple[float, float]] = {
    "market": (0.9, 0.25),
    "catering": (0.86, 0.06),
    "canteen": (0.92, 0.05),
    "hotel": (0.88, 0.08),
    "supermarket": (0.9, 0.08),
    "food_shop": (0.8, 0.08),
    "food_workshop": (0.85, 0.1),
    "grain_store": (0.88, 0.08),
    "garbage_station": (0.93, 0.0),
    "public_toilet": (0.9, 0.0),
}
_PATCHY_LOSS = 0.4
#: Share of keepers who ignore the exclusion zones and ring the whole outline.
_CARELESS = 0.06
#: Share of the premises fronting a main road with one more station out on the pavement.
_ON_PAVEMENT = 0.1
#: Share of count-rule facilities given one station more than the rule asks ([B]: 1-2).
_SECOND = 0.4
STATES = (("intact", 0.91), ("damaged", 0.06), ("missing", 0.03))
#: How far from the wall foot a station stands, metres (well within ``attach_m``).
_SETBACK_M = (0.3, 1.5)
#: Candidate spots tried round a facility for each of its stations.
_TRIES = 12


def _places(mkts: gpd.GeoDataFrame, prem: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    cols = ["source", "code", "kind", "geometry"]
    frame = pd.concat(
        [mkts.assign(source="market")[cols], prem.assign(source="premises")[cols]],
        ignore_index=True,
    )
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=prem.crs)


def _round_outlines(
    ev: BaitEvaluation,
    keeps: NDArray[np.bool_],
    careless: NDArray[np.bool_],
    spacing_share: Floats,
    rng: np.random.Generator,
) -> tuple[Floats, Positions]:
    """Stations along each kept outline's clear runs, evenly, 70-85% of the spacing.

    Each outline is first turned to begin at an excluded stretch, so that a clear run
    never wraps past its end; a careless keeper's outline has no excluded stretch.
    The slack under the spacing leaves room to move a spot off a zone's edge (by at
    most an eighth of the spacing) without opening a gap.
    """
    paths = ev.paths
    per = (ev.demand["mode"] == "perimeter").to_numpy()
    row_path = ev.demand["path"].to_numpy()[per].astype(np.intp)
    owner = paths.owner[row_path]
    excluded = ev.demand["excluded"].to_numpy()[per] & ~careless[owner]
    n = paths.n
    k = np.arange(len(row_path), dtype=np.intp) - paths.first_row[row_path]
    none = np.iinfo(np.intp).max
    first_ex = np.full(len(n), none, dtype=np.intp)
    np.minimum.at(first_ex, row_path, np.where(excluded, k, none))
    turn = np.where(paths.closed & (first_ex < n), first_ex, 0)
    order = np.lexsort(((k - turn[row_path]) % n[row_path], row_path))
    path, k, clear = row_path[order], k[order], ~excluded[order]
    turned = (k - turn[path]) % n[path]
    step = paths.step_m[path]
    begins = clear & ((turned == 0) | ~np.r_[False, clear[:-1]])
    run = np.cumsum(begins) - 1
    run_m = np.bincount(run[clear], weights=step[clear], minlength=int(begins.sum()))
    run_path = path[begins]
    run_start_m = k[begins] * step[begins]
    run_owner = paths.owner[run_path]
    spacing = 2.0 * paths.reach_m[run_path] * spacing_share[run_owner]
    count = np.where(keeps[run_owner], np.ceil(run_m / spacing - 1e-9), 0).astype(np.intp)
    r = np.repeat(np.arange(len(run_m), dtype=np.intp), count)
    j = np.arange(int(count.sum()), dtype=np.intp) - (np.cumsum(count) - count)[r]
    on = run_path[r]
    geoms = paths.geoms[on]
    length = paths.n[on] * paths.step_m[on]
    closed = paths.closed[on]
    t = run_start_m[r] + (j + 0.5) * run_m[r] / count[r]
    t = np.where(closed, np.mod(t, length), t)

    def at(s: Floats) -> Floats:
        s = np.where(closed, np.mod(s, length), np.clip(s, 0.0, length))
        pts = shapely.line_interpolate_point(geoms, s)
        return np.asarray(shapely.get_coordinates(pts), dtype=np.float64)

    pos = paths.owner[on]
    # a spot at the edge of a zone moves to the middle of its stretch, which is clear
    step = paths.step_m[on]
    edge = (ev.in_zone(shapely.points(at(t))) >= 0) & ~careless[pos]
    t = np.where(edge, (np.floor(t / step) + 0.5) * step, t)
    foot = at(t)
    tangent = at(t + 0.5) - at(t - 0.5)
    tangent /= np.maximum(np.hypot(tangent[:, 0], tangent[:, 1]), 1e-9)[:, None]
    # a ring's inside is on the left when it runs anticlockwise
    out = np.where(shapely.is_ccw(paths.geoms)[on], 1.0, -1.0)[:, None]
    normal = np.column_stack([tangent[:, 1], -tangent[:, 0]]) * out
    xy = foot + normal * rng.uniform(*_SETBACK_M, len(t))[:, None]
    # where the setback reaches into a zone, the station stands at the wall foot itself
    into = (ev.in_zone(shapely.points(xy)) >= 0) & ~careless[pos]
    xy[into] = foot[into]
    return xy, pos


def _beside_facilities(
    ev: BaitEvaluation,
    keeps: NDArray[np.bool_],
    careless: NDArray[np.bool_],
    rng: np.random.Generator,
) -> tuple[Floats, Positions]:
    """One or two stations beside each kept garbage station and toilet, off the zones."""
    fp = ev.footprints
    rows = ev.demand.iloc[fp.row]
    pos = fp.owner
    exempt = rows["excluded"].to_numpy(dtype=bool)
    go = keeps[pos] & (~exempt | careless[pos])
    need = rows["need"].to_numpy(dtype=np.intp)
    count = np.where(go, need + (rng.random(len(pos)) < _SECOND), 0)
    f = np.repeat(np.arange(len(pos), dtype=np.intp), count)
    geoms = fp.geoms[f]
    centre = shapely.get_coordinates(shapely.centroid(geoms))
    half = np.sqrt(shapely.area(geoms)) / 2.0
    reach = half[:, None] + rng.uniform(0.2, 0.8, (len(f), _TRIES)) * fp.attach_m[f][:, None]
    angle = rng.uniform(0.0, 2.0 * np.pi, (len(f), _TRIES))
    cand = centre[:, None, :] + reach[..., None] * np.stack([np.cos(angle), np.sin(angle)], -1)
    pts = shapely.points(cand.reshape(-1, 2))
    near = shapely.distance(pts, np.repeat(geoms, _TRIES)) <= np.repeat(fp.attach_m[f], _TRIES)
    clear = ev.in_zone(pts) < 0
    ok = (near & (clear | np.repeat(careless[pos[f]], _TRIES))).reshape(len(f), _TRIES)
    pick = np.argmax(ok, axis=1)
    has = ok.any(axis=1)
    return cand[np.arange(len(f)), pick][has], pos[f][has]


def _on_pavements(
    frame: gpd.GeoDataFrame, kerbs: Kerbs, rng: np.random.Generator
) -> tuple[Floats, Positions]:
    """A station out on the pavement of the main road a few premises front."""
    if len(kerbs.lines) == 0 or len(frame) == 0:
        return np.empty((0, 2)), np.empty(0, dtype=np.intp)
    centre = shapely.centroid(np.asarray(frame.geometry.values, dtype=object))
    reach = float(kerbs.lines_clear_m.max()) * 2.5
    pi, li = shapely.STRtree(kerbs.lines).query_nearest(centre, max_distance=reach)
    pi, first = np.unique(pi, return_index=True)
    li = li[first]
    lines, clear = kerbs.lines[li], kerbs.lines_clear_m[li]
    gap = shapely.distance(centre[pi], lines)
    pick = (gap <= clear * 2.0) & (rng.random(len(pi)) < _ON_PAVEMENT)
    pi, lines, clear, gap = pi[pick], lines[pick], clear[pick], gap[pick]
    kerb = shapely.get_coordinates(
        shapely.line_interpolate_point(lines, shapely.line_locate_point(lines, centre[pi]))
    )
    towards = (shapely.get_coordinates(centre[pi]) - kerb) / np.maximum(gap, 1e-9)[:, None]
    xy = kerb + towards * (clear * rng.uniform(0.75, 0.95, len(pi)))[:, None]
    return xy, pi.astype(np.intp)


def bait_stations(
    mkts: gpd.GeoDataFrame,
    prem: gpd.GeoDataFrame,
    segments: gpd.GeoDataFrame,
    *,
    profile: BaitProfile,
    as_of: dt.date,
    rng: np.random.Generator,
    code_prefix: str,
) -> gpd.GeoDataFrame:
    """Rodent bait stations placed by ``profile``, with realistic gaps and damage.

    ``segments`` (``road_class``) and the schools and kindergartens of ``prem`` give
    the exclusion zones, as they give them to the coverage check.
    """
    frame = _places(mkts, prem)
    zones = exclusion_zones(prem, segments, profile=profile)
    no_stations = gpd.GeoDataFrame(
        {"state": pd.Series([], dtype=object)}, geometry=gpd.GeoSeries([], crs=prem.crs)
    )
    ev = evaluate_bait_coverage(frame, no_stations, profile=profile, zones=zones)
    key = np.where(frame.source == "market", "market", frame.kind.astype(str))
    kept, lapsed = (np.array([KEEPING.get(str(k), (0.0, 0.0))[i] for k in key]) for i in (0, 1))
    n = len(frame)
    keeps = rng.random(n) < kept
    patchy = rng.random(n) < lapsed
    careless = rng.random(n) < _CARELESS
    spacing_share = rng.uniform(0.7, 0.85, n)
    xy_run, pos_run = _round_outlines(ev, keeps, careless, spacing_share, rng)
    xy_fac, pos_fac = _beside_facilities(ev, keeps, careless, rng)
    xy_pav, pos_pav = _on_pavements(frame[keeps], Kerbs.of(segments, profile), rng)
    pos_pav = np.flatnonzero(keeps)[pos_pav]
    xy = np.vstack([xy_run, xy_fac, xy_pav])
    pos = np.concatenate([pos_run, pos_fac, pos_pav])
    order = np.argsort(pos, kind="stable")  # a premises' stations numbered together
    xy, pos = xy[order], pos[order]
    lost = patchy[pos] & (rng.random(len(pos)) < _PATCHY_LOSS)
    xy, pos = xy[~lost], pos[~lost]
    owner = frame.code.to_numpy(dtype=object)[pos]
    # a few placed where the rules forbid them: next to schools and kindergartens
    schools = prem[prem.kind.isin(["school", "kindergarten"])]
    if len(schools):
        pick = schools.sample(n=min(len(schools), max(1, len(schools) // 15)), random_state=rng)
        centre = shapely.get_coordinates(shapely.centroid(np.asarray(pick.geometry.values)))
        xy = np.vstack([xy, centre + rng.normal(0, 25, centre.shape)])
        owner = np.concatenate([owner, np.full(len(centre), None, dtype=object)])
    return _with_records(xy, owner, as_of=as_of, rng=rng, code_prefix=code_prefix, crs=prem.crs)


def _with_records(
    xy: Floats,
    owner: NDArray[np.object_],
    *,
    as_of: dt.date,
    rng: np.random.Generator,
    code_prefix: str,
    crs: object,
) -> gpd.GeoDataFrame:
    """State, bait, installation and inspection dates, as a survey records them."""
    n = len(xy)
    state = rng.choice([s for s, _ in STATES], size=n, p=[p for _, p in STATES])
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
        crs=crs,
    )
