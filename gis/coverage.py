"""Coverage gaps: what nobody answers for, and bait stations judged by a rule profile.

Two halves. The gap catalogue (:data:`GAP_TYPES`, :data:`REASONS`, :func:`gap_frame`)
gives every gap, whichever query found it, the same columns: a reason code with
Chinese and English text, the object it concerns and a location. The bait-station
evaluation (:func:`evaluate_bait_coverage`) applies a :class:`~gis.profiles.BaitProfile`
to markets and key premises.

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
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from numpy.typing import NDArray

from gis.crs import require_projected
from gis.errors import CRSError, DataError
from gis.profiles import BaitProfile, normalise_kind

#: Columns every gap layer starts with (a layer may add its own after them).
GAP_COLUMNS = (
    "gap_type",
    "reason_code",
    "reason_zh",
    "reason_en",
    "object_type",
    "object_id",
    "object_code",
    "name",
    "street_office_id",
    "geometry",
)

#: Gap layers: key -> (Chinese title, English title).
GAP_TYPES: dict[str, tuple[str, str]] = {
    "segment_no_head": ("无三级街长的路段", "road segments without a level-3 street head"),
    "lane_no_head": ("无巷长的小街巷", "lanes without a lane head"),
    "cell_no_body": ("未指定责任主体的单元网格", "grid cells without a responsible body"),
    "problem_outside_cells": ("不在任何网格内的问题", "problems outside every grid cell"),
    "premises_bait": (
        "毒饵站不达标的市场和重点场所",
        "markets and key premises failing the bait-station rule",
    ),
    "station_fault": ("损坏、缺失或逾期未巡查的毒饵站", "damaged, missing or overdue stations"),
    "station_misplaced": ("位于禁设区的毒饵站", "stations inside an exclusion zone"),
}

#: Reason code -> (Chinese template, English template); fields come from the row.
REASONS: dict[str, tuple[str, str]] = {
    "segment_no_head": ("路段没有三级街长", "the segment has no level-3 street head"),
    "segment_head_inactive": (
        "路段的三级街长已停用（{person_count}人）",
        "the segment's level-3 street head is no longer active ({person_count})",
    ),
    "lane_no_head": ("小街巷没有巷长", "the lane has no lane head"),
    "lane_head_inactive": (
        "小街巷的巷长已停用（{person_count}人）",
        "the lane's head is no longer active ({person_count})",
    ),
    "cell_no_body": (
        "网格未指定责任主体，也没有所属社区可兜底",
        "the cell names no responsible body and has no community to fall back on",
    ),
    "cell_community_fallback": (
        "网格未指定责任主体，由所属社区兜底",
        "the cell names no responsible body; its community answers for it",
    ),
    "problem_outside_cells": (
        "问题位置不在任何单元网格内",
        "the problem lies outside every unit grid cell",
    ),
    "bait_perimeter_short": (
        (
            "周边毒饵站不足：按{spacing_m:.0f}米间距应设{required}个，有效{counted}个，"
            "{uncovered_m:.0f}米未覆盖"
        ),
        (
            "too few bait stations: {required} needed at {spacing_m:.0f} m spacing, "
            "{counted} working, {uncovered_m:.0f} m of outline uncovered"
        ),
    ),
    "bait_count_short": (
        "毒饵站不足：应设{required}个，有效{counted}个",
        "too few bait stations: {required} needed, {counted} working",
    ),
    "station_damaged": ("毒饵站损坏", "the station is damaged"),
    "station_missing": ("毒饵站缺失", "the station is missing"),
    "station_never_inspected": ("毒饵站没有巡查记录", "the station has never been inspected"),
    "station_overdue": (
        "毒饵站超过{max_age_days}天未巡查（上次{last_inspected}）",
        "the station was not inspected for over {max_age_days} days (last {last_inspected})",
    ),
    "station_in_exclusion": (
        "毒饵站位于禁设区：{zone_zh}",
        "the station stands in an exclusion zone: {zone_en}",
    ),
}

#: Reason code -> short (Chinese, English) label, for legends and counts.
REASON_LABELS: dict[str, tuple[str, str]] = {
    "segment_no_head": ("无街长", "no head"),
    "segment_head_inactive": ("街长已停用", "head inactive"),
    "lane_no_head": ("无巷长", "no lane head"),
    "lane_head_inactive": ("巷长已停用", "lane head inactive"),
    "cell_no_body": ("无责任主体且无社区", "no body, no community"),
    "cell_community_fallback": ("社区兜底", "community answers"),
    "problem_outside_cells": ("网格外", "outside cells"),
    "bait_perimeter_short": ("外沿毒饵站不足", "outline short of stations"),
    "bait_count_short": ("毒饵站数量不足", "too few stations"),
    "station_damaged": ("损坏", "damaged"),
    "station_missing": ("缺失", "missing"),
    "station_never_inspected": ("从未巡查", "never inspected"),
    "station_overdue": ("逾期未巡查", "inspection overdue"),
    "station_in_exclusion": ("位于禁设区", "in exclusion zone"),
}

#: Readable column headers for exports: column -> (Chinese, English).
GAP_HEADERS: dict[str, tuple[str, str]] = {
    "gap_type": ("缺口类型", "gap type"),
    "reason_code": ("原因代码", "reason code"),
    "reason_zh": ("原因", "reason (Chinese)"),
    "reason_en": ("原因（英文）", "reason"),
    "object_type": ("对象类型", "object type"),
    "object_id": ("对象ID", "object id"),
    "object_code": ("编码", "code"),
    "name": ("名称", "name"),
    "street_office_id": ("街道ID", "street office id"),
}

_STEPS_PER_SPACING = 4
_EPS_M = 1e-6


def reason_texts(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Chinese and English reason text for each row's ``reason_code``.

    Templates with fields take them from the row's columns.

    >>> zh, en = reason_texts(pd.DataFrame({"reason_code": ["lane_no_head"]}))
    >>> en.tolist()
    ['the lane has no lane head']
    """
    codes = frame["reason_code"].astype(str)
    unknown = sorted(set(codes) - set(REASONS))
    if unknown:
        msg = f"reason_texts: unknown reason code(s) {unknown}; known: {sorted(REASONS)}"
        raise DataError(msg)
    zh = codes.map(lambda c: REASONS[c][0])
    en = codes.map(lambda c: REASONS[c][1])
    templated = codes.map(lambda c: "{" in REASONS[c][0] or "{" in REASONS[c][1])
    if templated.any():
        # only the few templated rows are formatted one by one
        rows = frame.loc[templated.to_numpy()]
        zh.loc[templated] = [
            REASONS[r["reason_code"]][0].format(**r) for r in rows.to_dict("records")
        ]
        en.loc[templated] = [
            REASONS[r["reason_code"]][1].format(**r) for r in rows.to_dict("records")
        ]
    return zh, en


def gap_frame(frame: pd.DataFrame, *, gap_type: str, crs: Any) -> gpd.GeoDataFrame:
    """Give rows found by any gap query the standard gap columns, in order.

    ``frame`` needs ``reason_code`` and ``geometry`` and may have the other
    :data:`GAP_COLUMNS`; extra columns are kept after them.

    >>> from shapely.geometry import Point
    >>> f = pd.DataFrame({"reason_code": ["station_missing"], "object_id": [7],
    ...                   "geometry": [Point(0, 0)]})
    >>> g = gap_frame(f, gap_type="station_fault", crs=4548)
    >>> g[["gap_type", "reason_zh", "object_id"]].values.tolist()
    [['station_fault', '毒饵站缺失', 7]]
    """
    if gap_type not in GAP_TYPES:
        msg = f"gap_frame: unknown gap type {gap_type!r}; known: {sorted(GAP_TYPES)}"
        raise DataError(msg)
    out = pd.DataFrame(index=frame.index)
    out["gap_type"] = gap_type
    out["reason_code"] = frame["reason_code"].astype(str)
    zh, en = reason_texts(frame) if len(frame) else (pd.Series(), pd.Series())
    out["reason_zh"] = zh.astype(object) if len(frame) else pd.Series(dtype=object)
    out["reason_en"] = en.astype(object) if len(frame) else pd.Series(dtype=object)
    out["object_type"] = frame.get("object_type", None)
    out["object_id"] = frame["object_id"].astype("Int64") if "object_id" in frame else pd.NA
    for col in ("object_code", "name"):
        out[col] = frame[col].astype(object) if col in frame else None
    out["street_office_id"] = (
        frame["street_office_id"].astype("Int64") if "street_office_id" in frame else pd.NA
    )
    geometry = frame.geometry.values if isinstance(frame, gpd.GeoDataFrame) else frame["geometry"]
    out["geometry"] = gpd.GeoSeries(geometry, index=frame.index, crs=crs)
    for col in (c for c in frame.columns if c not in GAP_COLUMNS):
        out[col] = frame[col]
    return gpd.GeoDataFrame(out, geometry="geometry", crs=crs)


# --------------------------------------------------------------------------------------
# Bait stations
# --------------------------------------------------------------------------------------

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
        rows: list[NDArray[np.intp]] = []
        cols: list[NDArray[np.intp]] = []
        pi, qi = _pairs_within(pts, self.paths.geoms, self.paths.attach_m)
        if len(pi):
            t = shapely.line_locate_point(self.paths.geoms[qi], pts[pi])
            pair, row = _stretches_hit(self.paths, qi, np.asarray(t, dtype=np.float64))
            rows.append(row)
            cols.append(pi[pair])
        fi, gi = _pairs_within(pts, self.footprints.geoms, self.footprints.attach_m)
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
    stations: gpd.GeoDataFrame, profile: BaitProfile, as_of: dt.date
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
        The day inspections are judged on (today when omitted).

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
    as_of = as_of or dt.date.today()
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
        zone_union = shapely.union_all(np.asarray(zones.geometry.values, dtype=object))
        excluded[n_per:] = np.asarray(shapely.covered_by(foot[cnt_pos], zone_union), dtype=bool)
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
    cover = evaluation.coverage_of(st_geoms[counts])
    have = np.asarray(cover.sum(axis=1)).ravel().astype(np.intp)
    demand["have"] = have
    short_row = ~excluded & (have < demand["need"].to_numpy())

    # stations attached to each premises (distinct), for the report
    counted = np.zeros(len(premises), dtype=np.intp)
    sp_i, sp_p = _pairs_within(st_geoms[counts], paths.geoms, paths.attach_m)
    sc_i, sc_f = _pairs_within(st_geoms[counts], footprints.geoms, footprints.attach_m)
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


def bait_gaps(evaluation: BaitEvaluation) -> dict[str, gpd.GeoDataFrame]:
    """Gap layers from an evaluation: ``premises_bait`` and ``station_misplaced``.

    Premises rows keep ``code``/``name``/``object_type``/``object_id``/
    ``street_office_id`` when the input had them.
    """
    p = evaluation.premises
    crs = p.crs
    short = p[p["status"] == "short"]
    frame = pd.DataFrame(
        {
            "reason_code": np.where(
                short["mode"] == "perimeter", "bait_perimeter_short", "bait_count_short"
            ),
            "rule_id": short["rule_id"],
            "kind": short["kind"],
            "required": short["required"].astype(int),
            "counted": short["counted"].astype(int),
            "uncovered_m": short["uncovered_m"].astype(float),
            "spacing_m": short["spacing_m"].astype(float),
            "outline_m": short["outline_m"].astype(float),
            "geometry": short.geometry.values,
        },
        index=short.index,
    )
    for src, dst in (
        ("object_type", "object_type"),
        ("object_id", "object_id"),
        ("code", "object_code"),
        ("name", "name"),
        ("street_office_id", "street_office_id"),
    ):
        if src in short:
            frame[dst] = short[src]
    layers = {"premises_bait": gap_frame(frame, gap_type="premises_bait", crs=crs)}

    st = evaluation.stations
    misplaced = st[st["exclusion_id"].notna()] if "exclusion_id" in st else st.iloc[:0]
    zones = {e.id: e for e in evaluation.profile.exclusions}
    mframe = pd.DataFrame(
        {
            "reason_code": "station_in_exclusion",
            "zone_zh": misplaced["exclusion_id"].map(lambda z: zones[z].name_zh),
            "zone_en": misplaced["exclusion_id"].map(lambda z: zones[z].name_en),
            "exclusion_id": misplaced["exclusion_id"],
            "state": misplaced["state"],
            "geometry": misplaced.geometry.values,
        },
        index=misplaced.index,
    )
    for src, dst in (("id", "object_id"), ("code", "object_code")):
        if src in misplaced:
            mframe[dst] = misplaced[src]
    mframe["object_type"] = "station"
    layers["station_misplaced"] = gap_frame(mframe, gap_type="station_misplaced", crs=crs)
    return layers


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
