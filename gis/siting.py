"""Where to add bait stations: set covering (LSCP) and budgeted maximal covering (MCLP).

Both are solved exactly as mixed-integer programmes by HiGHS through
:func:`scipy.optimize.milp`, on a sparse demand x candidate coverage matrix, so the
model grows with the number of (demand, candidate) pairs that actually cover each
other rather than with their product. A time limit stops the solver with the best
solution found and its proven gap.

- :func:`solve_lscp`: the fewest candidates such that every demand row ``i`` is
  covered at least ``need[i]`` times (Toregas et al. 1971; with ``need`` = 1 it is
  the classic LSCP).
- :func:`solve_mclp`: with at most ``budget`` candidates, the largest weight of
  demand rows covered (Church & ReVelle 1974), or, with ``groups``, the most groups
  (premises) whose every row is covered, ties broken by covered weight.
- :func:`bait_siting_instance` and :func:`suggest_bait_sites` build both from a
  :class:`~gis.coverage.BaitEvaluation`: demand is every stretch of outline (or
  count-rule facility) that working stations leave uncovered, candidates are the
  stretch ends of those outlines (and points around those facilities) outside the
  exclusion zones.
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
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import Bounds, LinearConstraint, milp

from gis.coverage import BaitEvaluation
from gis.errors import DataError

SolveStatus = Literal["optimal", "time_limit", "infeasible", "failed"]
Objective = Literal["premises", "demand"]

_COUNT_CANDIDATE_STEP_M = 5.0


@dataclass(frozen=True)
class SolveResult:
    """Outcome of one LSCP or MCLP solve.

    ``objective`` is the model's own measure (stations for LSCP; covered weight, or
    groups, for MCLP; NaN when the time limit came before any solution); ``bound``
    the solver's proven bound on it; ``mip_gap`` their relative difference (0 when
    proven optimal).
    """

    chosen: NDArray[np.intp]
    objective: float
    bound: float | None
    mip_gap: float | None
    status: SolveStatus
    solve_time_s: float
    message: str

    @property
    def proven_optimal(self) -> bool:
        """Whether the solver proved the solution optimal."""
        return self.status == "optimal"


def _as_csr(coverage: sp.spmatrix | sp.sparray | NDArray[np.generic]) -> sp.csr_matrix:
    m = sp.csr_matrix(coverage)
    m.sum_duplicates()
    m.data = (m.data != 0).astype(np.float64)
    m.eliminate_zeros()
    return m


def _need(need: ArrayLike | None, n_rows: int) -> NDArray[np.float64]:
    if need is None:
        return np.ones(n_rows, dtype=np.float64)
    out = np.asarray(need, dtype=np.float64)
    if out.shape != (n_rows,) or (out < 1).any():
        msg = f"need: expected {n_rows} whole numbers >= 1 (one per demand row), got {out.shape}"
        raise DataError(msg)
    return out


def _status(res: object) -> SolveStatus:
    code = getattr(res, "status", 4)
    if code == 0:
        return "optimal"
    if code == 1:
        return "time_limit"
    if code == 2:
        return "infeasible"
    return "failed"


def _run(
    c: NDArray[np.float64],
    *,
    integrality: NDArray[np.int8],
    constraints: list[LinearConstraint],
    time_limit_s: float,
    mip_rel_gap: float,
) -> tuple[object, float]:
    if time_limit_s <= 0:
        msg = f"time_limit_s must be greater than 0, got {time_limit_s}"
        raise DataError(msg)
    start = time.perf_counter()
    res = milp(
        c,
        integrality=integrality,
        bounds=Bounds(np.zeros(len(c)), np.ones(len(c))),
        constraints=constraints,
        options={"time_limit": float(time_limit_s), "mip_rel_gap": float(mip_rel_gap)},
    )
    return res, time.perf_counter() - start


def solve_lscp(
    coverage: sp.spmatrix | sp.sparray | NDArray[np.generic],
    *,
    need: ArrayLike | None = None,
    time_limit_s: float = 30.0,
    mip_rel_gap: float = 0.0,
) -> SolveResult:
    """Fewest candidates covering every demand row (``need`` times).

    Parameters
    ----------
    coverage
        Demand rows x candidate columns, non-zero where the candidate covers the row.
    need
        How many chosen candidates each row needs (1 each when omitted).
    time_limit_s, mip_rel_gap
        Stop after this long, or once the proven gap is this small.

    Examples
    --------
    >>> a = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 1]])
    >>> r = solve_lscp(a)
    >>> r.status, r.objective, len(r.chosen)
    ('optimal', 2.0, 2)
    """
    a = _as_csr(coverage)
    b = _need(need, a.shape[0])
    short = np.asarray(a.sum(axis=1)).ravel() < b
    if short.any():
        msg = (
            f"solve_lscp: {int(short.sum())} demand row(s) cannot be covered by the candidates "
            f"(first: row {int(np.flatnonzero(short)[0])}); drop them or add candidates"
        )
        raise DataError(msg)
    used = np.flatnonzero(np.asarray(a.sum(axis=0)).ravel() > 0)
    if a.shape[0] == 0 or len(used) == 0:
        return SolveResult(np.empty(0, np.intp), 0.0, 0.0, 0.0, "optimal", 0.0, "nothing to cover")
    sub = a[:, used].tocsc()
    res, took = _run(
        np.ones(len(used)),
        integrality=np.ones(len(used), dtype=np.int8),
        constraints=[LinearConstraint(sub, lb=b, ub=np.inf)],
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
    )
    status = _status(res)
    x = getattr(res, "x", None)
    chosen = used[np.flatnonzero(x > 0.5)] if x is not None else np.empty(0, np.intp)
    bound = getattr(res, "mip_dual_bound", None)
    gap = getattr(res, "mip_gap", None)
    return SolveResult(
        chosen=chosen.astype(np.intp),
        objective=float(len(chosen)) if x is not None else float("nan"),
        bound=None if bound is None else float(bound),
        mip_gap=0.0 if status == "optimal" else (None if gap is None else float(gap)),
        status=status,
        solve_time_s=took,
        message=str(getattr(res, "message", "")),
    )


def solve_mclp(
    coverage: sp.spmatrix | sp.sparray | NDArray[np.generic],
    *,
    budget: int,
    weights: ArrayLike | None = None,
    need: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    time_limit_s: float = 30.0,
    mip_rel_gap: float = 0.0,
) -> SolveResult:
    """At most ``budget`` candidates covering the most demand (or the most groups).

    Parameters
    ----------
    coverage
        Demand rows x candidate columns, non-zero where the candidate covers the row.
    budget
        How many candidates may be chosen.
    weights
        Weight of each demand row (1 each when omitted).
    need
        How many chosen candidates each row needs to count as covered.
    groups
        Group label of each row (e.g. its premises): then the objective is the
        number of groups with every row covered, ties broken by covered weight.
    time_limit_s, mip_rel_gap
        Stop after this long, or once the proven gap is this small.

    Examples
    --------
    >>> a = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]])
    >>> r = solve_mclp(a, budget=1, weights=[1, 1, 1, 5])
    >>> r.objective, r.chosen.tolist()
    (5.0, [2])
    >>> r = solve_mclp(a, budget=1, groups=[0, 0, 0, 1])
    >>> r.objective, r.chosen.tolist()
    (1.0, [2])
    """
    if int(budget) != budget or budget < 0:
        msg = f"budget must be a whole number of stations >= 0, got {budget!r}"
        raise DataError(msg)
    a = _as_csr(coverage)
    n_rows = a.shape[0]
    b = _need(need, n_rows)
    w = np.ones(n_rows) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n_rows,) or (w < 0).any():
        msg = f"weights: expected {n_rows} numbers >= 0 (one per demand row), got {w.shape}"
        raise DataError(msg)
    used = np.flatnonzero(np.asarray(a.sum(axis=0)).ravel() > 0)
    if n_rows == 0 or len(used) == 0 or budget == 0:
        return SolveResult(np.empty(0, np.intp), 0.0, 0.0, 0.0, "optimal", 0.0, "nothing to do")
    sub = a[:, used].tocsr()
    nc = len(used)
    eye = sp.identity(n_rows, format="csr")
    # rows: A x - need * y >= 0; y_i is covered-ness, continuous when need is 1 (then
    # integral at any integral x), integer otherwise
    cover = sp.hstack([sub, -sp.diags(b)], format="csr")
    budget_row = sp.hstack([sp.csr_matrix(np.ones((1, nc))), sp.csr_matrix((1, n_rows))])
    y_int = np.int8(1 if (b > 1).any() and groups is None else 0)
    if groups is None:
        c = np.concatenate([np.zeros(nc), -w])
        integrality = np.concatenate([np.ones(nc, np.int8), np.full(n_rows, y_int, np.int8)])
        constraints = [
            LinearConstraint(cover, lb=0, ub=np.inf),
            LinearConstraint(budget_row, lb=0, ub=budget),
        ]
    else:
        g_codes, g = np.unique(np.asarray(groups), return_inverse=True)
        if g.shape != (n_rows,):
            msg = f"groups: expected one label per demand row ({n_rows}), got {g.shape}"
            raise DataError(msg)
        ng = len(g_codes)
        tie = 1.0 / (float(w.sum()) + 1.0)
        c = np.concatenate([np.zeros(nc), -tie * w, -np.ones(ng)])
        integrality = np.concatenate(
            [np.ones(nc, np.int8), np.zeros(n_rows, np.int8), np.ones(ng, np.int8)]
        )
        link = sp.hstack(
            [
                sp.csr_matrix((n_rows, nc)),
                eye,
                -sp.csr_matrix((np.ones(n_rows), (np.arange(n_rows), g)), shape=(n_rows, ng)),
            ],
            format="csr",
        )
        constraints = [
            LinearConstraint(sp.hstack([cover, sp.csr_matrix((n_rows, ng))]), lb=0, ub=np.inf),
            LinearConstraint(sp.hstack([budget_row, sp.csr_matrix((1, ng))]), lb=0, ub=budget),
            LinearConstraint(link, lb=0, ub=np.inf),
        ]
    res, took = _run(
        c,
        integrality=integrality,
        constraints=constraints,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
    )
    status = _status(res)
    x = getattr(res, "x", None)
    if x is None:
        message = str(getattr(res, "message", ""))
        return SolveResult(np.empty(0, np.intp), float("nan"), None, None, status, took, message)
    pick = x[:nc] > 0.5
    chosen = used[pick]
    met = np.asarray(sub[:, pick].sum(axis=1)).ravel() >= b
    if groups is None:
        objective = float(w[met].sum())
        bound_raw = getattr(res, "mip_dual_bound", None)
        bound = None if bound_raw is None else -float(bound_raw)
    else:
        objective = float(len(g_codes) - len(np.unique(g[~met])))
        bound_raw = getattr(res, "mip_dual_bound", None)
        # the tie-break adds less than 1 to the group count: floor recovers the groups' bound
        bound = None if bound_raw is None else float(np.floor(-float(bound_raw) + 1e-9))
    gap_raw = getattr(res, "mip_gap", None)
    return SolveResult(
        chosen=chosen.astype(np.intp),
        objective=objective,
        bound=bound,
        mip_gap=0.0 if status == "optimal" else (None if gap_raw is None else float(gap_raw)),
        status=status,
        solve_time_s=took,
        message=str(getattr(res, "message", "")),
    )


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
    >>> from gis.coverage import evaluate_bait_coverage
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
        From :func:`gis.coverage.evaluate_bait_coverage`.
    budget
        None: the fewest stations that close every coverable gap. A number: at most
        that many stations, covering the most premises (``objective="premises"``) or
        the most outline stretches and facilities (``"demand"``).
    time_limit_s, mip_rel_gap
        Solver limits; the result states whether optimality was proven.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> from gis.coverage import evaluate_bait_coverage
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
