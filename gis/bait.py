"""Bait stations judged by a rule profile: which markets and key premises fall short.

:func:`evaluate_bait_coverage` applies a :class:`~gis.profiles.BaitProfile` to markets
and key premises; :mod:`gis.coverage` turns the result into gap layers with reasons
and :mod:`gis.siting` suggests where to add stations.

How a perimeter rule is judged: each outline (a polygon's exterior ring, a line, or
the nominal square of a point) is cut into equal stretches of at most a quarter of
the rule's spacing ``S``. A working station within ``attach_m`` of the outline covers
every stretch whose midpoint lies within ``S/2`` of it, measured along the outline.
The outline passes when every stretch outside the exclusion zones is covered, so a
closed outline of length ``L`` needs ``ceil(L/S)`` stations and no fewer: the quarter
step makes a station cover exactly ``S`` metres of outline. A count rule (garbage
stations, toilets) passes when at least ``min_stations`` working stations stand
within ``attach_m`` of the facility.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from numpy.typing import NDArray

from gis.crs import require_projected
from gis.errors import CRSError, DataError
from gis.profiles import BaitProfile, normalise_kind

_STEPS_PER_SPACING = 4
_EPS_M = 1e-6

Geoms = NDArray[np.object_]


def exclusion_zones(
    premises: gpd.GeoDataFrame, segments: gpd.GeoDataFrame, *, profile: BaitProfile
) -> gpd.GeoDataFrame:
    """The profile's exclusion zones, one buffered feature per source feature.

    ``premises`` needs a ``kind`` column, ``segments`` a ``road_class`` column.

    >>> from shapely.geometry import Point
    >>> from gis.profiles import load_bait_profile
    >>> schools = gpd.GeoDataFrame({"kind": ["幼儿园"]}, geometry=[Point(0, 0)], crs=4548)
    >>> roads = gpd.GeoDataFrame({"road_class": []}, geometry=[], crs=4548)
    >>> z = exclusion_zones(schools, roads, profile=load_bait_profile())
    >>> z["exclusion_id"].tolist(), round(float(z.area.iloc[0]) / 10_000)
    (['school'], 3)
    """
    require_projected(premises, func="exclusion_zones")
    require_projected(segments, func="exclusion_zones")
    parts: list[gpd.GeoDataFrame] = []
    for ex in profile.exclusions:
        if ex.source == "premises":
            frame, column, values = premises, "kind", ex.kinds
        else:
            frame, column, values = segments, "road_class", ex.road_classes
        if len(frame) == 0:
            continue
        if column not in frame:
            msg = (
                f"exclusion_zones: exclusion {ex.id!r} needs a {column!r} column; "
                f"columns are: {', '.join(map(str, frame.columns))}"
            )
            raise DataError(msg)
        wanted = {normalise_kind(v) for v in values}
        hit = frame[column].fillna("").astype(str).map(normalise_kind).isin(wanted).to_numpy()
        if not hit.any():
            continue
        zone = frame.geometry.values[hit].buffer(ex.buffer_m)
        parts.append(
            gpd.GeoDataFrame(
                {"exclusion_id": ex.id, "name_zh": ex.name_zh, "name_en": ex.name_en},
                geometry=np.asarray(zone),
                index=pd.RangeIndex(int(hit.sum())),
                crs=premises.crs,
            )
        )
    if not parts:
        return gpd.GeoDataFrame(
            {"exclusion_id": [], "name_zh": [], "name_en": []}, geometry=[], crs=premises.crs
        )
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=premises.crs)


@dataclass(frozen=True)
class _Paths:
    """Outlines of perimeter-rule premises, cut into stretches (one demand row each)."""

    geoms: Geoms
    owner: NDArray[np.intp]
    n: NDArray[np.intp]
    step_m: NDArray[np.float64]
    closed: NDArray[np.bool_]
    reach_m: NDArray[np.float64]
    attach_m: NDArray[np.float64]
    first_row: NDArray[np.intp]


@dataclass(frozen=True)
class _Footprints:
    """Count-rule facilities (one demand row each)."""

    geoms: Geoms
    owner: NDArray[np.intp]
    attach_m: NDArray[np.float64]
    row: NDArray[np.intp]


def _pairs_within(
    points: Geoms, targets: Geoms, attach_m: NDArray[np.float64]
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """(point, target) pairs whose distance is within the target's own ``attach_m``."""
    if len(points) == 0 or len(targets) == 0:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty
    tree = shapely.STRtree(targets)
    pi, ti = tree.query(points, predicate="dwithin", distance=float(attach_m.max()) + _EPS_M)
    keep = shapely.distance(points[pi], targets[ti]) <= attach_m[ti] + _EPS_M
    return pi[keep].astype(np.intp), ti[keep].astype(np.intp)


def _stretches_hit(
    paths: _Paths, path_idx: NDArray[np.intp], t: NDArray[np.float64]
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """For points at outline position ``t`` on ``path_idx``: (pair, demand row) hits."""
    d = paths.step_m[path_idx]
    reach = paths.reach_m[path_idx] + _EPS_M
    n = paths.n[path_idx]
    kmin = np.ceil((t - reach) / d - 0.5).astype(np.intp)
    kmax = np.floor((t + reach) / d - 0.5).astype(np.intp)
    closed = paths.closed[path_idx]
    kmin = np.where(closed, kmin, np.maximum(kmin, 0))
    kmax = np.where(closed, kmax, np.minimum(kmax, n - 1))
    wraps_all = closed & (kmax - kmin + 1 >= n)
    kmin = np.where(wraps_all, 0, kmin)
    kmax = np.where(wraps_all, n - 1, kmax)
    counts = np.maximum(kmax - kmin + 1, 0)
    pair = np.repeat(np.arange(len(t), dtype=np.intp), counts)
    starts = np.cumsum(counts) - counts
    k = kmin[pair] + (np.arange(int(counts.sum()), dtype=np.intp) - starts[pair])
    k = np.where(closed[pair], np.mod(k, n[pair]), k)
    return pair, paths.first_row[path_idx[pair]] + k


_Attached = tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]


@dataclass(frozen=True)
class BaitEvaluation:
    """Bait-station coverage of markets and key premises under one profile.

    Attributes
    ----------
    premises
        The input rows (same index) with ``rule_id``, ``mode``, ``status`` (``ok``,
        ``short``, ``exempt`` when wholly inside exclusion zones, ``no_rule``),
        ``outline_m``, ``required``, ``counted`` and ``uncovered_m``.
    demand
        One row per outline stretch (``mode`` perimeter) or count-rule facility, with
        ``premises_pos`` (position in ``premises``), ``need``, ``excluded``,
        ``have`` (working stations covering it) and a point geometry.
    stations
        The input stations with ``counts`` and ``exclusion_id`` (zone it stands in).
    zones
        The exclusion zones used.
    """

    premises: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    profile: BaitProfile
    paths: _Paths
    footprints: _Footprints

    def coverage_of(self, points: Geoms) -> sp.csr_matrix:
        """0/1 matrix, demand rows x ``points``: which stretches a station there covers."""
        pts = np.asarray(points, dtype=object)
        return self._coverage(pts, self._attached(pts))

    def _attached(self, pts: Geoms) -> _Attached:
        """(point, outline) and (point, facility) pairs within the rules' attach distance."""
        pi, qi = _pairs_within(pts, self.paths.geoms, self.paths.attach_m)
        fi, gi = _pairs_within(pts, self.footprints.geoms, self.footprints.attach_m)
        return pi, qi, fi, gi

    def _coverage(self, pts: Geoms, attached: _Attached) -> sp.csr_matrix:
        pi, qi, fi, gi = attached
        rows: list[NDArray[np.intp]] = []
        cols: list[NDArray[np.intp]] = []
        if len(pi):
            t = shapely.line_locate_point(self.paths.geoms[qi], pts[pi])
            pair, row = _stretches_hit(self.paths, qi, np.asarray(t, dtype=np.float64))
            rows.append(row)
            cols.append(pi[pair])
        rows.append(self.footprints.row[gi])
        cols.append(fi)
        r = np.concatenate(rows) if rows else np.empty(0, dtype=np.intp)
        c = np.concatenate(cols) if cols else np.empty(0, dtype=np.intp)
        m = sp.csr_matrix(
            (np.ones(len(r), dtype=np.int8), (r, c)), shape=(len(self.demand), len(pts))
        )
        m.sum_duplicates()
        m.data[:] = 1
        return m

    def in_zone(self, points: Geoms) -> NDArray[np.intp]:
        """Position in ``zones`` of a zone each point lies in, or -1."""
        return _zone_of(np.asarray(points, dtype=object), self.zones)


def _zone_of(points: Geoms, zones: gpd.GeoDataFrame) -> NDArray[np.intp]:
    out = np.full(len(points), -1, dtype=np.intp)
    if len(zones) == 0 or len(points) == 0:
        return out
    tree = shapely.STRtree(np.asarray(zones.geometry.values, dtype=object))
    pi, zi = tree.query(points, predicate="intersects")
    out[pi[::-1]] = zi[::-1]  # the first zone listed wins
    return out


def _covered_by_zones(geoms: Geoms, zones: gpd.GeoDataFrame) -> NDArray[np.bool_]:
    """Whether each geometry lies wholly inside the union of the zones.

    Only the zones a geometry meets are united for it, in rounds of one zone each
    (vectorised): uniting every zone of a city first costs seconds, this milliseconds.
    """
    out = np.zeros(len(geoms), dtype=bool)
    if len(zones) == 0 or len(geoms) == 0:
        return out
    zone_geoms = np.asarray(zones.geometry.values, dtype=object)
    gi, zi = shapely.STRtree(zone_geoms).query(geoms, predicate="intersects")
    if len(gi) == 0:
        return out
    order = np.lexsort((zi, gi))
    gi, zi = gi[order], zi[order]
    hit, first, count = np.unique(gi, return_index=True, return_counts=True)
    slot = np.repeat(np.arange(len(hit)), count)
    rank = np.arange(len(gi)) - first[slot]
    united = zone_geoms[zi[first]].copy()
    for r in range(1, int(count.max())):
        at = rank == r
        united[slot[at]] = shapely.union(united[slot[at]], zone_geoms[zi[at]])
    out[hit] = shapely.covered_by(geoms[hit], united)
    return out


def _footprints(geoms: Geoms, side_m: NDArray[np.float64]) -> Geoms:
    """Points become squares of side ``side_m`` centred on them; others are kept."""
    out = geoms.copy()
    is_point = shapely.get_type_id(geoms) == 0
    if is_point.any():
        xy = shapely.get_coordinates(geoms[is_point])
        h = side_m[is_point] / 2.0
        out[is_point] = shapely.box(xy[:, 0] - h, xy[:, 1] - h, xy[:, 0] + h, xy[:, 1] + h)
    return out


def _outlines(geoms: Geoms) -> tuple[Geoms, NDArray[np.intp]]:
    """Exterior rings of polygon parts and the parts of lines, with their owner."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    kind = shapely.get_type_id(parts)
    rings = parts.copy()
    poly = kind == 3
    rings[poly] = shapely.get_exterior_ring(parts[poly])
    linear = np.isin(kind, (1, 2, 3))
    return rings[linear], np.asarray(owner[linear], dtype=np.intp)


def _check_inputs(premises: gpd.GeoDataFrame, stations: gpd.GeoDataFrame) -> None:
    require_projected(premises, func="evaluate_bait_coverage")
    if "kind" not in premises:
        msg = (
            "evaluate_bait_coverage: premises need a 'kind' column; columns are: "
            f"{', '.join(map(str, premises.columns))}"
        )
        raise DataError(msg)
    if len(stations):
        require_projected(stations, func="evaluate_bait_coverage")
        if stations.crs != premises.crs:
            msg = (
                f"evaluate_bait_coverage: stations are in {stations.crs.name} but premises in "
                f"{premises.crs.name}; reproject one to match the other"
            )
            raise CRSError(msg)
        if "state" not in stations:
            msg = "evaluate_bait_coverage: stations need a 'state' column (intact/damaged/missing)"
            raise DataError(msg)
        wrong = shapely.get_type_id(np.asarray(stations.geometry.values, dtype=object)) != 0
        if wrong.any():
            msg = (
                f"evaluate_bait_coverage: stations must be Points; {int(wrong.sum())} are not "
                f"(first: row {stations.index[wrong][0]!r})"
            )
            raise DataError(msg)


def _rule_ids(premises: gpd.GeoDataFrame, profile: BaitProfile) -> pd.Series:
    kinds = premises["kind"].fillna("").astype(str).map(normalise_kind)
    rule = kinds.map(profile.kind_to_rule())
    if "source" in premises:
        is_market = (premises["source"] == "market").to_numpy()
        rule = rule.where(~(is_market & rule.isna().to_numpy()), profile.markets_rule)
    return rule


def _counting(
    stations: gpd.GeoDataFrame, profile: BaitProfile, as_of: dt.date | None
) -> NDArray[np.bool_]:
    policy = profile.stations
    counts = stations["state"].isin(policy.count_states).to_numpy()
    if not policy.overdue_stations_count:
        if "last_inspected" not in stations:
            msg = (
                "evaluate_bait_coverage: the profile counts only stations inspected within "
                f"{policy.inspection_max_age_days} days, but stations have no 'last_inspected'"
            )
            raise DataError(msg)
        if as_of is None:
            # "today" belongs to the deployment's time zone, which this pure core does
            # not know: the caller says which day it is
            msg = (
                "evaluate_bait_coverage: the profile counts only stations inspected within "
                f"{policy.inspection_max_age_days} days, so it needs as_of= (the day to "
                "judge on, in the deployment's time zone)"
            )
            raise DataError(msg)
        last = pd.to_datetime(stations["last_inspected"])
        limit = pd.Timestamp(as_of - dt.timedelta(days=policy.inspection_max_age_days))
        counts = counts & (last >= limit).fillna(False).to_numpy(dtype=bool)
    return np.asarray(counts, dtype=bool)


def evaluate_bait_coverage(
    premises: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    *,
    profile: BaitProfile,
    zones: gpd.GeoDataFrame | None = None,
    as_of: dt.date | None = None,
) -> BaitEvaluation:
    """Judge the bait stations of markets and key premises by a rule profile.

    Parameters
    ----------
    premises
        Polygons, lines or points in a metric CRS with a ``kind`` column (and
        optionally ``source``: rows with ``'market'`` fall back to the profile's
        ``markets_rule``).
    stations
        Points with a ``state`` column (and ``last_inspected`` when the profile
        does not count overdue stations).
    profile
        The rules, e.g. :func:`gis.profiles.load_bait_profile`.
    zones
        Exclusion zones (:func:`exclusion_zones`); none when omitted.
    as_of
        The day inspections are judged on; needed only when the profile counts no
        overdue station (the caller knows the deployment's time zone, this core does not).

    Examples
    --------
    A 40 m x 40 m market needs 8 stations at 20 m spacing; 7 leave a gap.

    >>> from shapely.geometry import Point, box
    >>> from gis.profiles import load_bait_profile
    >>> market = gpd.GeoDataFrame({"kind": ["market"]}, geometry=[box(0, 0, 40, 40)], crs=4548)
    >>> xy = [(0, 0), (20, 0), (40, 0), (40, 20), (40, 40), (20, 40), (0, 40), (0, 20)]
    >>> st = gpd.GeoDataFrame({"state": ["intact"] * 8}, geometry=[Point(p) for p in xy],
    ...                       crs=4548)
    >>> p = load_bait_profile()
    >>> ev = evaluate_bait_coverage(market, st, profile=p)
    >>> ev.premises[["status", "required", "counted"]].values.tolist()
    [['ok', 8, 8]]
    >>> ev = evaluate_bait_coverage(market, st.iloc[:7], profile=p)
    >>> ev.premises[["status", "counted", "uncovered_m"]].values.tolist()
    [['short', 7, 20.0]]
    """
    _check_inputs(premises, stations)
    crs = premises.crs
    if zones is None:
        zones = gpd.GeoDataFrame(
            {"exclusion_id": [], "name_zh": [], "name_en": []}, geometry=[], crs=crs
        )
    rule_id = _rule_ids(premises, profile)
    has_rule = rule_id.notna().to_numpy()

    def per_row(field: str, missing: float) -> NDArray[np.float64]:
        values = {r.id: float(getattr(r, field)) for r in profile.rules}
        return np.asarray(rule_id.map(values).fillna(missing), dtype=np.float64)

    mode = rule_id.map({r.id: r.mode for r in profile.rules})
    geoms = np.asarray(premises.geometry.values, dtype=object)
    side = np.sqrt(per_row("point_footprint_m2", 0.0))
    attach = per_row("attach_m", 0.0)
    spacing = per_row("spacing_m", 0.0)
    minimum = per_row("min_stations", 0.0).astype(np.intp)
    foot = _footprints(geoms, side)

    # perimeter rules: outlines cut into stretches
    per_pos = np.flatnonzero(has_rule & (mode == "perimeter").to_numpy())
    outline, owner_local = _outlines(foot[per_pos])
    owner = per_pos[owner_local]
    length = np.asarray(shapely.length(outline), dtype=np.float64)
    keep = length > _EPS_M
    outline, owner, length = outline[keep], owner[keep], length[keep]
    n = np.maximum(np.ceil(length / (spacing[owner] / _STEPS_PER_SPACING) - 1e-9), 1).astype(
        np.intp
    )
    step = length / n
    first = (np.cumsum(n) - n).astype(np.intp)
    paths = _Paths(
        geoms=outline,
        owner=owner,
        n=n,
        step_m=step,
        closed=np.asarray(shapely.is_closed(outline), dtype=bool),
        reach_m=spacing[owner] / 2.0,
        attach_m=attach[owner],
        first_row=first,
    )
    n_per = int(n.sum())
    path_of = np.repeat(np.arange(len(outline), dtype=np.intp), n)
    k = np.arange(n_per, dtype=np.intp) - first[path_of]
    pos_m = (k + 0.5) * step[path_of]
    per_points = shapely.line_interpolate_point(outline[path_of], pos_m)

    # count rules: one row per facility
    cnt_pos = np.flatnonzero(has_rule & (mode == "count").to_numpy())
    footprints = _Footprints(
        geoms=foot[cnt_pos],
        owner=cnt_pos.astype(np.intp),
        attach_m=attach[cnt_pos],
        row=(n_per + np.arange(len(cnt_pos))).astype(np.intp),
    )
    cnt_points = shapely.point_on_surface(foot[cnt_pos]) if len(cnt_pos) else np.empty(0, object)

    demand_points = np.concatenate([per_points, cnt_points]).astype(object)
    excluded = _zone_of(demand_points, zones) >= 0
    if len(cnt_pos):
        # a facility is exempt only when its whole footprint lies in exclusion zones
        excluded[n_per:] = _covered_by_zones(foot[cnt_pos], zones)
    demand = gpd.GeoDataFrame(
        {
            "premises_pos": np.concatenate([owner[path_of], cnt_pos]).astype(np.intp),
            "mode": np.array(["perimeter"] * n_per + ["count"] * len(cnt_pos), dtype=object),
            "path": np.concatenate([path_of, np.full(len(cnt_pos), -1)]).astype(np.intp),
            "position_m": np.concatenate([pos_m, np.full(len(cnt_pos), np.nan)]),
            "stretch_m": np.concatenate([step[path_of], np.full(len(cnt_pos), np.nan)]),
            "need": np.concatenate([np.ones(n_per), minimum[cnt_pos]]).astype(np.intp),
            "excluded": excluded,
        },
        geometry=demand_points,
        crs=crs,
    )
    evaluation = BaitEvaluation(
        premises=premises,
        demand=demand,
        stations=stations,
        zones=zones,
        profile=profile,
        paths=paths,
        footprints=footprints,
    )

    # existing stations
    st_geoms = np.asarray(stations.geometry.values, dtype=object)
    counts = _counting(stations, profile, as_of) if len(stations) else np.zeros(0, dtype=bool)
    # the same pairs serve the coverage and the count of stations per premises
    working = st_geoms[counts]
    sp_i, sp_p, sc_i, sc_f = pairs = evaluation._attached(working)
    cover = evaluation._coverage(working, pairs)
    have = np.asarray(cover.sum(axis=1)).ravel().astype(np.intp)
    demand["have"] = have
    short_row = ~excluded & (have < demand["need"].to_numpy())

    # stations attached to each premises (distinct), for the report
    counted = np.zeros(len(premises), dtype=np.intp)
    attached = np.unique(
        np.column_stack(
            [
                np.concatenate([sp_i, sc_i]),
                np.concatenate([paths.owner[sp_p], footprints.owner[sc_f]]),
            ]
        ),
        axis=0,
    )
    np.add.at(counted, attached[:, 1], 1)

    pos = demand["premises_pos"].to_numpy()
    stretch = np.nan_to_num(demand["stretch_m"].to_numpy())
    n_rows = np.bincount(pos, minlength=len(premises))
    n_excl = np.bincount(pos, weights=excluded, minlength=len(premises))
    n_short = np.bincount(pos, weights=short_row, minlength=len(premises))
    outline_m = np.bincount(pos, weights=stretch, minlength=len(premises))
    eligible_m = np.bincount(pos, weights=stretch * ~excluded, minlength=len(premises))
    uncovered_m = np.bincount(pos, weights=stretch * short_row, minlength=len(premises))
    required = np.where(
        mode.to_numpy() == "perimeter",
        np.ceil(np.round(eligible_m, 6) / np.where(spacing > 0, spacing, 1.0)),
        np.where(n_excl < n_rows, minimum, 0),
    ).astype(np.intp)
    status = np.where(
        ~has_rule,
        "no_rule",
        np.where((n_rows > 0) & (n_excl == n_rows), "exempt", np.where(n_short > 0, "short", "ok")),
    )
    out = premises.copy()
    out["rule_id"] = np.where(has_rule, rule_id.to_numpy(dtype=object), None)
    out["mode"] = np.where(has_rule, mode.to_numpy(dtype=object), None)
    out["status"] = status
    out["outline_m"] = np.round(outline_m, 2)
    out["required"] = required
    out["counted"] = counted
    out["uncovered_m"] = np.round(uncovered_m, 2)
    out["spacing_m"] = spacing

    st_out = stations.copy()
    st_out["counts"] = counts
    zone_at = _zone_of(st_geoms, zones)
    st_out["exclusion_id"] = (
        np.where(zone_at >= 0, zones["exclusion_id"].to_numpy(dtype=object)[zone_at], None)
        if len(zones)
        else None
    )
    return BaitEvaluation(
        premises=out,
        demand=demand,
        stations=st_out,
        zones=zones,
        profile=profile,
        paths=paths,
        footprints=footprints,
    )


def uncovered_outline(evaluation: BaitEvaluation) -> gpd.GeoDataFrame:
    """Where stations are missing: the uncovered stretches of each failing outline.

    One row per premises (input index) with a MultiLineString of its uncovered
    stretches (each drawn as the chord between its ends).
    """
    d = evaluation.demand
    paths = evaluation.paths
    short = ((d["mode"] == "perimeter") & ~d["excluded"] & (d["have"] < d["need"])).to_numpy()
    rows = d[short]
    path = rows["path"].to_numpy()
    start = rows["position_m"].to_numpy() - rows["stretch_m"].to_numpy() / 2.0
    end = start + rows["stretch_m"].to_numpy()
    a = shapely.line_interpolate_point(paths.geoms[path], start)
    b = shapely.line_interpolate_point(paths.geoms[path], end)
    chords = (
        shapely.linestrings(
            np.stack([shapely.get_coordinates(a), shapely.get_coordinates(b)], axis=1)
        )
        if len(rows)
        else np.empty(0, dtype=object)
    )
    pos = rows["premises_pos"].to_numpy()
    index = evaluation.premises.index
    if len(rows) == 0:
        return gpd.GeoDataFrame(
            {"uncovered_m": []}, geometry=[], crs=evaluation.premises.crs, index=index[:0]
        )
    order = np.argsort(pos, kind="stable")
    uniq, first = np.unique(pos[order], return_index=True)
    merged = [
        shapely.line_merge(shapely.multilinestrings(chunk))
        for chunk in np.split(chords[order], first[1:])
    ]
    lengths = np.add.reduceat(rows["stretch_m"].to_numpy()[order], first)
    return gpd.GeoDataFrame(
        {"uncovered_m": np.round(lengths, 2)},
        geometry=merged,
        index=index[uniq],
        crs=evaluation.premises.crs,
    )


def perimeter_stations_needed(length_m: float, *, spacing_m: float) -> int:
    """Stations a clear outline (closed or open) needs under the rule.

    >>> perimeter_stations_needed(160.0, spacing_m=20.0)
    8
    >>> perimeter_stations_needed(50.0, spacing_m=20.0)
    3
    """
    if length_m <= 0:
        return 0
    return max(1, math.ceil(length_m / spacing_m - 1e-9))
