"""Where to add bait stations: the fewest that close every gap, or the best K.

:func:`bait_siting_instance` turns a :class:`~gis.bait.BaitEvaluation` into a covering
instance: demand is every stretch of outline (or count-rule facility) that working
stations leave uncovered, candidates are the stretch ends of those outlines (and
points around those facilities) outside the exclusion zones. :func:`suggest_bait_sites`
solves it with the generic solvers of :mod:`gis.covering` (set covering, LSCP, or
budgeted maximal covering, MCLP), which are re-exported here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from numpy.typing import NDArray

from gis.bait import BaitEvaluation
from gis.covering import SolveResult, SolveStatus, solve_lscp, solve_mclp

__all__ = [
    "Objective",
    "SitingInstance",
    "SitingResult",
    "SolveResult",
    "SolveStatus",
    "bait_siting_instance",
    "solve_lscp",
    "solve_mclp",
    "suggest_bait_sites",
]

Objective = Literal["premises", "demand"]

_COUNT_CANDIDATE_STEP_M = 5.0


@dataclass(frozen=True)
class SitingInstance:
    """Demand, candidates and who covers whom, ready for :func:`solve_lscp`/:func:`solve_mclp`.

    ``demand`` rows are the uncovered, coverable rows of the evaluation's demand
    (``demand_row`` points back to it) with ``need`` still missing; ``uncoverable``
    are those no candidate outside the exclusion zones can cover.
    """

    demand: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    coverage: sp.csr_matrix
    uncoverable: gpd.GeoDataFrame
    build_time_s: float


def _dedupe(points: NDArray[np.object_]) -> NDArray[np.object_]:
    if len(points) == 0:
        return points
    xy = np.round(shapely.get_coordinates(points), 2)
    _, first = np.unique(xy, axis=0, return_index=True)
    return points[np.sort(first)]


def bait_siting_instance(evaluation: BaitEvaluation) -> SitingInstance:
    """Demand and candidate sites for new bait stations, from an evaluation.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> from gis.bait import evaluate_bait_coverage
    >>> from gis.profiles import load_bait_profile
    >>> m = gpd.GeoDataFrame({"kind": ["market"]}, geometry=[box(0, 0, 40, 40)], crs=4548)
    >>> none = gpd.GeoDataFrame({"state": []}, geometry=[], crs=4548)
    >>> inst = bait_siting_instance(evaluate_bait_coverage(m, none, profile=load_bait_profile()))
    >>> inst.coverage.shape, solve_lscp(inst.coverage).objective
    ((32, 32), 8.0)
    """
    start = time.perf_counter()
    d = evaluation.demand
    crs = d.crs
    open_rows = np.flatnonzero((~d["excluded"] & (d["have"] < d["need"])).to_numpy(dtype=bool))
    rows = d.iloc[open_rows]
    paths = evaluation.paths
    per_paths = np.unique(rows.loc[rows["mode"] == "perimeter", "path"].to_numpy())
    n = paths.n[per_paths] + (~paths.closed[per_paths]).astype(np.intp)
    owner = np.repeat(per_paths, n)
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    per_cands = shapely.line_interpolate_point(paths.geoms[owner], k * paths.step_m[owner])
    fp = evaluation.footprints
    count_rows = rows.loc[rows["mode"] == "count"].index.to_numpy()
    fp_idx = np.flatnonzero(np.isin(fp.row, count_rows))
    rings = shapely.get_exterior_ring(fp.geoms[fp_idx]) if len(fp_idx) else np.empty(0, object)
    ring_len = np.asarray(shapely.length(rings), dtype=np.float64)
    m = np.maximum(np.ceil(ring_len / _COUNT_CANDIDATE_STEP_M), 4).astype(np.intp)
    ring_of = np.repeat(np.arange(len(rings)), m)
    j = np.arange(int(m.sum())) - np.repeat(np.cumsum(m) - m, m)
    cnt_cands = shapely.line_interpolate_point(
        rings[ring_of], j * (ring_len[ring_of] / m[ring_of]) if len(rings) else np.empty(0)
    )
    cands = _dedupe(np.concatenate([per_cands, cnt_cands]).astype(object))
    cands = cands[evaluation.in_zone(cands) < 0]
    full = evaluation.coverage_of(cands)
    a = full[open_rows].tocsr()
    need = (rows["need"] - rows["have"]).to_numpy(dtype=np.intp)
    coverable = np.asarray(a.sum(axis=1)).ravel() >= need
    demand = rows.iloc[np.flatnonzero(coverable)].copy()
    demand["demand_row"] = open_rows[coverable]
    demand["need"] = need[coverable]
    demand = demand.reset_index(drop=True)
    uncoverable = rows.iloc[np.flatnonzero(~coverable)].copy()
    uncoverable["demand_row"] = open_rows[~coverable]
    candidates = gpd.GeoDataFrame({"candidate": np.arange(len(cands))}, geometry=cands, crs=crs)
    return SitingInstance(
        demand=gpd.GeoDataFrame(demand, geometry="geometry", crs=crs),
        candidates=candidates,
        coverage=a[np.flatnonzero(coverable)].tocsr(),
        uncoverable=gpd.GeoDataFrame(
            uncoverable.reset_index(drop=True), geometry="geometry", crs=crs
        ),
        build_time_s=time.perf_counter() - start,
    )


@dataclass(frozen=True)
class SitingResult:
    """Suggested new stations and how much they achieve.

    ``sites`` has one Point per new station with ``serves`` (codes, or positions, of
    the premises it helps) and ``street_office_id`` of the first of them.
    """

    sites: gpd.GeoDataFrame
    instance: SitingInstance
    solve: SolveResult
    method: Literal["lscp", "mclp"]
    budget: int | None
    premises_open: int
    premises_covered: int
    demand_open: int
    demand_covered: int

    def summary(self) -> dict[str, object]:
        """Plain figures for a report or a log line."""
        return {
            "method": self.method,
            "budget": self.budget,
            "new_stations": len(self.sites),
            "status": self.solve.status,
            "mip_gap": self.solve.mip_gap,
            "objective": self.solve.objective,
            "bound": self.solve.bound,
            "premises_open": self.premises_open,
            "premises_covered": self.premises_covered,
            "demand_open": self.demand_open,
            "demand_covered": self.demand_covered,
            "uncoverable": len(self.instance.uncoverable),
            "build_time_s": round(self.instance.build_time_s, 3),
            "solve_time_s": round(self.solve.solve_time_s, 3),
        }


def suggest_bait_sites(
    evaluation: BaitEvaluation,
    *,
    budget: int | None = None,
    objective: Objective = "premises",
    time_limit_s: float = 30.0,
    mip_rel_gap: float = 0.0,
) -> SitingResult:
    """Where to add bait stations: all gaps closed (LSCP) or the best ``budget`` sites (MCLP).

    Parameters
    ----------
    evaluation
        From :func:`gis.bait.evaluate_bait_coverage`.
    budget
        None: the fewest stations that close every coverable gap. A number: at most
        that many stations, covering the most premises (``objective="premises"``) or
        the most outline stretches and facilities (``"demand"``).
    time_limit_s, mip_rel_gap
        Solver limits; the result states whether optimality was proven.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> from gis.bait import evaluate_bait_coverage
    >>> from gis.profiles import load_bait_profile
    >>> m = gpd.GeoDataFrame({"kind": ["market", "catering"], "code": ["M1", "C1"]},
    ...                      geometry=[box(0, 0, 40, 40), box(100, 0, 110, 10)], crs=4548)
    >>> none = gpd.GeoDataFrame({"state": []}, geometry=[], crs=4548)
    >>> ev = evaluate_bait_coverage(m, none, profile=load_bait_profile())
    >>> r = suggest_bait_sites(ev)
    >>> len(r.sites), r.premises_covered
    (10, 2)
    >>> r = suggest_bait_sites(ev, budget=2)
    >>> r.premises_covered, r.sites["serves"].tolist()
    (1, ['C1', 'C1'])
    """
    inst = bait_siting_instance(evaluation)
    groups = inst.demand["premises_pos"].to_numpy()
    need = inst.demand["need"].to_numpy()
    if budget is None:
        res = solve_lscp(
            inst.coverage, need=need, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap
        )
        method: Literal["lscp", "mclp"] = "lscp"
    else:
        res = solve_mclp(
            inst.coverage,
            budget=budget,
            need=need,
            groups=groups if objective == "premises" else None,
            time_limit_s=time_limit_s,
            mip_rel_gap=mip_rel_gap,
        )
        method = "mclp"
    a = inst.coverage
    picked = a[:, res.chosen]
    met = np.asarray(picked.sum(axis=1)).ravel() >= need
    p = evaluation.premises
    labels = (
        p["code"].astype(str).to_numpy(dtype=object)
        if "code" in p
        else np.array([str(i) for i in range(len(p))], dtype=object)
    )
    coo = picked.tocoo()
    pairs = pd.DataFrame({"site": coo.col, "premises_pos": groups[coo.row]}).drop_duplicates()
    pairs = pairs.sort_values(["site", "premises_pos"])
    serves = pairs.groupby("site")["premises_pos"].agg(lambda s: ";".join(labels[s.to_numpy()]))
    first = pairs.groupby("site")["premises_pos"].first()
    sites = gpd.GeoDataFrame(
        {
            "site_no": np.arange(1, len(res.chosen) + 1),
            "candidate": res.chosen,
            "serves": serves.reindex(range(len(res.chosen))).fillna("").to_numpy(dtype=object),
            "stretches": np.asarray(picked.sum(axis=0)).ravel().astype(np.intp),
        },
        geometry=inst.candidates.geometry.values[res.chosen],
        crs=inst.candidates.crs,
    )
    if "street_office_id" in p:
        office = p["street_office_id"].to_numpy(dtype=object)
        where = first.reindex(range(len(sites))).to_numpy(dtype=np.float64)
        known = ~np.isnan(where)
        ids = np.full(len(sites), None, dtype=object)
        ids[known] = office[where[known].astype(np.intp)]
        sites["street_office_id"] = pd.array(ids, dtype="Int64")
    open_groups = np.unique(groups)
    return SitingResult(
        sites=sites,
        instance=inst,
        solve=res,
        method=method,
        budget=budget,
        premises_open=len(open_groups),
        premises_covered=len(open_groups) - len(np.unique(groups[~met])),
        demand_open=len(need),
        demand_covered=int(met.sum()),
    )
