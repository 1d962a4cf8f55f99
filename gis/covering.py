"""Generic covering models: set covering (LSCP) and budgeted maximal covering (MCLP).

Both are solved exactly as mixed-integer programmes by HiGHS through
:func:`scipy.optimize.milp`, on a sparse demand x candidate coverage matrix, so the
model grows with the number of (demand, candidate) pairs that actually cover each
other rather than with their product (PySAL ``spopt`` builds a dense model). A time
limit stops the solver with the best solution found and its proven gap.

- :func:`solve_lscp`: the fewest candidates such that every demand row ``i`` is
  covered at least ``need[i]`` times (Toregas et al. 1971; with ``need`` = 1 it is
  the classic LSCP).
- :func:`solve_mclp`: with at most ``budget`` candidates, the largest weight of
  demand rows covered (Church & ReVelle 1974), or, with ``groups``, the most groups
  whose every row is covered, ties broken by covered weight. Large instances are
  solved exactly by parts, the budget shared out by dynamic programming.

Nothing here knows about bait stations: :mod:`gis.siting` builds the instances.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import Bounds, LinearConstraint, milp

from gis.errors import DataError

SolveStatus = Literal["optimal", "time_limit", "infeasible", "failed"]

# Parts solved together in one MILP by the decomposition: fewer calls, but a branch and
# bound over many parts at once works harder to prove them all (benchmarked).
_PARTS_PER_MILP = 64
# A part whose choices of k stations number at most this is solved by trying them all.
_ENUMERATE_MAX = 20_000
# Demand rows above which solve_mclp decomposes by default (one MILP is quicker below).
_DECOMPOSE_ROWS = 3000


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


@dataclass(frozen=True)
class _Mclp:
    """A maximal covering model after validation: rows that can never be met are out."""

    a: sp.csr_matrix  # rows x candidate columns still in play
    cols: NDArray[np.intp]  # their numbers in the caller's matrix
    need: NDArray[np.float64]
    weight: NDArray[np.float64]
    group: NDArray[np.intp]  # group of each row, -1 for none (or a group that cannot be met)
    n_groups: int
    by_groups: bool
    tie: float  # weight of covered demand in the objective when groups count

    def value(self, pick: NDArray[np.intp]) -> tuple[float, float]:
        """(model objective, reported objective) of choosing local columns ``pick``."""
        have = np.asarray(self.a[:, pick].sum(axis=1)).ravel()
        met = have >= self.need
        if not self.by_groups:
            y = met if (self.need > 1).any() else have > 0
            return float(self.weight[y].sum()), float(self.weight[met].sum())
        credit = float((self.weight * np.minimum(1.0, have / self.need)).sum())
        valid = self.group >= 0
        full = float(self.n_groups - len(np.unique(self.group[valid & ~met])))
        return full + self.tie * credit, full

    def restrict(self, rows: NDArray[np.intp], cols: NDArray[np.intp]) -> _Mclp:
        """The model on some rows and local columns (groups renumbered)."""
        group = self.group[rows]
        present, local = np.unique(group[group >= 0], return_inverse=True)
        new_group = np.full(len(rows), -1, dtype=np.intp)
        new_group[group >= 0] = local
        return _Mclp(
            a=self.a[rows][:, cols].tocsr(),
            cols=cols,
            need=self.need[rows],
            weight=self.weight[rows],
            group=new_group,
            n_groups=len(present),
            by_groups=self.by_groups,
            tie=self.tie,
        )


def _prepare(
    coverage: sp.spmatrix | sp.sparray | NDArray[np.generic],
    weights: ArrayLike | None,
    need: ArrayLike | None,
    groups: ArrayLike | None,
) -> _Mclp:
    a = _as_csr(coverage)
    n_rows = a.shape[0]
    b = _need(need, n_rows)
    w = np.ones(n_rows) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n_rows,) or (w < 0).any():
        msg = f"weights: expected {n_rows} numbers >= 0 (one per demand row), got {w.shape}"
        raise DataError(msg)
    meetable = np.asarray(a.sum(axis=1)).ravel() >= b
    g = np.full(n_rows, -1, dtype=np.intp)
    n_groups, tie = 0, 1.0
    if groups is not None:
        labels = np.asarray(groups)
        if labels.shape != (n_rows,):
            msg = f"groups: expected one label per demand row ({n_rows}), got {labels.shape}"
            raise DataError(msg)
        _, g = np.unique(labels, return_inverse=True)
        # a group with a row no choice can meet can never count: only its tie-break stays
        hopeless = np.zeros(int(g.max(initial=-1)) + 1, dtype=bool)
        hopeless[g[~meetable]] = True
        remap = np.full(len(hopeless), -1, dtype=np.intp)
        remap[~hopeless] = np.arange(int((~hopeless).sum()))
        g = remap[g]
        # the tie-break adds less than 1/2 in all: see _whole for why that matters
        n_groups, tie = int((~hopeless).sum()), 0.5 / (float(w.sum()) + 1.0)
    rows = np.flatnonzero(meetable)
    a, b, w, g = a[rows], b[rows], w[rows], g[rows]
    cols = _undominated(a, b)
    return _Mclp(
        a=a[:, cols].tocsr(),
        cols=cols,
        need=b,
        weight=w,
        group=g.astype(np.intp),
        n_groups=n_groups,
        by_groups=groups is not None,
        tie=tie,
    )


def _undominated(a: sp.csr_matrix, need: NDArray[np.float64]) -> NDArray[np.intp]:
    """Columns worth keeping: those covering something and not dominated by another.

    Column j is dominated by k when k covers every row j covers (and more, or the same
    with a lower number). Dropping j loses no optimum as long as every row j covers
    needs one station only (a row needing two may need both).
    """
    count = np.asarray(a.sum(axis=0)).ravel()
    overlap = (a.T @ a).tocoo()
    j, k, both = overlap.row, overlap.col, overlap.data
    dominated = (
        (j != k) & (both == count[j]) & ((count[k] > count[j]) | ((count[k] == count[j]) & (k < j)))
    )
    drop = np.zeros(a.shape[1], dtype=bool)
    drop[j[dominated]] = True
    if (need > 1).any():
        drop &= ~(np.asarray(a[need > 1].sum(axis=0)).ravel() > 0)
    return np.flatnonzero(~drop & (count > 0)).astype(np.intp)


def _milp_model(
    m: _Mclp, budget: int, parts: NDArray[np.intp] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.int8], list[LinearConstraint]]:
    """Variables [x (columns), y (rows), z (groups)]; the objective is negated.

    Rows: A x - need y >= 0 with y in [0, 1] the row's covered-ness (continuous where
    rows need one station: at any integral x it is then integral too); budget: sum x <=
    budget (for each part of the columns when ``parts`` numbers them); groups:
    y_i - z_g >= 0 for each row i of group g.
    """
    n_rows, nc = m.a.shape
    ng = m.n_groups
    width = nc + n_rows + ng
    part = np.zeros(nc, np.intp) if parts is None else parts
    cover = sp.hstack([m.a, -sp.diags(m.need), sp.csr_matrix((n_rows, ng))], format="csr")
    budget_row = sp.csr_matrix(
        (np.ones(nc), (part, np.arange(nc))), shape=(int(part.max(initial=0)) + 1, width)
    )
    constraints = [
        LinearConstraint(cover, lb=0, ub=np.inf),
        LinearConstraint(budget_row, lb=0, ub=budget),
    ]
    if not m.by_groups:
        c = np.concatenate([np.zeros(nc), -m.weight])
        y_int = np.int8(1 if (m.need > 1).any() else 0)
        integrality = np.concatenate([np.ones(nc, np.int8), np.full(n_rows, y_int, np.int8)])
        return c, integrality, constraints
    c = np.concatenate([np.zeros(nc), -m.tie * m.weight, -np.ones(ng)])
    integrality = np.concatenate(
        [np.ones(nc, np.int8), np.zeros(n_rows, np.int8), np.ones(ng, np.int8)]
    )
    rows = np.flatnonzero(m.group >= 0)
    if len(rows):
        r = np.arange(len(rows))
        link = sp.csr_matrix(
            (
                np.concatenate([np.ones(len(rows)), -np.ones(len(rows))]),
                (np.concatenate([r, r]), np.concatenate([nc + rows, nc + n_rows + m.group[rows]])),
            ),
            shape=(len(rows), width),
        )
        constraints.append(LinearConstraint(link, lb=0, ub=np.inf))
    return c, integrality, constraints


def _whole(
    m: _Mclp,
    budget: int,
    *,
    time_limit_s: float,
    mip_rel_gap: float,
    parts: NDArray[np.intp] | None = None,
) -> SolveResult:
    """One MILP over the whole model; ``chosen`` are numbers from ``m.cols``.

    With groups, the objective is groups + tie-break, the tie-break below 1/2 in all;
    an absolute gap below 1/2 then proves the number of groups optimal, so the solver
    may stop there instead of proving the tie-break too (which can take long).
    """
    c, integrality, constraints = _milp_model(m, budget, parts)
    if m.by_groups:
        mip_rel_gap = max(mip_rel_gap, 0.5 / (m.n_groups + 1.0))
    res, took = _run(
        c,
        integrality=integrality,
        constraints=constraints,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
    )
    status = _status(res)
    x = getattr(res, "x", None)
    message = str(getattr(res, "message", ""))
    if x is None:
        return SolveResult(np.empty(0, np.intp), float("nan"), None, None, status, took, message)
    pick = np.flatnonzero(x[: m.a.shape[1]] > 0.5)
    _, objective = m.value(pick)
    bound_raw = getattr(res, "mip_dual_bound", None)
    bound = None if bound_raw is None else -float(bound_raw)
    if bound is not None and m.by_groups:
        # the tie-break adds less than 1/2 to the group count
        bound = float(np.floor(bound + 1e-9))
    gap_raw = getattr(res, "mip_gap", None)
    return SolveResult(
        chosen=m.cols[pick],
        objective=objective,
        bound=bound,
        mip_gap=0.0 if status == "optimal" else (None if gap_raw is None else float(gap_raw)),
        status=status,
        solve_time_s=took,
        message=message,
    )


def _component_labels(m: _Mclp) -> tuple[NDArray[np.intp], NDArray[np.intp], int]:
    """Connected component of each row and each column (rows of one group are joined)."""
    n_rows, nc = m.a.shape
    rows = np.flatnonzero(m.group >= 0)
    link = sp.csr_matrix((np.ones(len(rows)), (rows, m.group[rows])), shape=(n_rows, m.n_groups))
    graph = sp.bmat([[None, m.a, link], [m.a.T, None, None], [link.T, None, None]], format="csr")
    n, labels = sp.csgraph.connected_components(graph, directed=False)
    return labels[:n_rows].astype(np.intp), labels[n_rows : n_rows + nc].astype(np.intp), int(n)


def _single_values(m: _Mclp) -> NDArray[np.float64]:
    """Model objective of each column chosen on its own (one station needs no MILP)."""
    coo = m.a.tocoo()
    r, j = coo.row, coo.col
    nc = m.a.shape[1]
    if not m.by_groups:
        ok = m.need[r] <= 1
        return np.asarray(
            np.bincount(j[ok], weights=m.weight[r[ok]], minlength=nc), dtype=np.float64
        )
    credit = m.tie * np.bincount(j, weights=m.weight[r] / m.need[r], minlength=nc)
    size = np.bincount(m.group[m.group >= 0], minlength=m.n_groups)
    ok = (m.need[r] <= 1) & (m.group[r] >= 0)
    pairs = sp.csr_matrix(
        (np.ones(int(ok.sum())), (j[ok], m.group[r[ok]])), shape=(nc, m.n_groups)
    ).tocoo()
    complete = pairs.data == size[pairs.col]
    return np.asarray(credit + np.bincount(pairs.row[complete], minlength=nc), dtype=np.float64)


def _knapsack(values: NDArray[np.float64], budget: int) -> NDArray[np.intp]:
    """Stations per part (row ``i`` of ``values``: best totals with 0, 1, ... stations,
    non-decreasing) maximising the sum with at most ``budget`` in all."""
    n_parts = values.shape[0]
    best = np.zeros(budget + 1)
    choice = np.zeros(
        (n_parts, budget + 1), dtype=np.int16 if values.shape[1] < 2**15 else np.int32
    )
    for i in range(n_parts):
        f = values[i]
        steps = np.flatnonzero(np.diff(f) > 0) + 1  # only where the part gains something
        new = best.copy()
        for t in steps:
            cand = best[: budget + 1 - t] + f[t]
            better = cand > new[t:] + 1e-12
            new[t:][better] = cand[better]
            choice[i, t:][better] = t
        best = new
    taken = np.zeros(n_parts, dtype=np.intp)
    k = budget
    for i in range(n_parts - 1, -1, -1):
        taken[i] = choice[i, k]
        k -= int(taken[i])
    return taken


def _part_values(
    m: _Mclp, pick: NDArray[np.intp], row_part: NDArray[np.intp], n_parts: int
) -> NDArray[np.float64]:
    """Model objective of choosing local columns ``pick``, summed by part of the rows."""
    have = np.asarray(m.a[:, pick].sum(axis=1)).ravel()
    met = have >= m.need
    if not m.by_groups:
        y = met if (m.need > 1).any() else have > 0
        return np.bincount(row_part, weights=m.weight * y, minlength=n_parts).astype(np.float64)
    credit = np.bincount(
        row_part, weights=m.tie * m.weight * np.minimum(1.0, have / m.need), minlength=n_parts
    )
    valid = m.group >= 0
    group_part = np.zeros(m.n_groups, np.intp)
    group_part[m.group[valid]] = row_part[valid]
    done = np.ones(m.n_groups, dtype=bool)
    done[m.group[valid & ~met]] = False
    return np.asarray(credit + np.bincount(group_part[done], minlength=n_parts), np.float64)


def _enumerate(m: _Mclp, k: int) -> tuple[float, NDArray[np.intp]]:
    """Best model objective over every choice of exactly ``k`` columns, and that choice.

    For the many small parts of a city this is faster than a MILP (no solver call).
    """
    n = m.a.shape[1]
    count = math.comb(n, k)
    combos = np.fromiter(
        itertools.chain.from_iterable(itertools.combinations(range(n), k)),
        dtype=np.intp,
        count=count * k,
    ).reshape(count, k)
    dense = m.a.T.toarray().astype(np.int8)  # columns x rows
    have = dense[combos].sum(axis=1, dtype=np.int16)  # choices x rows
    met = have >= m.need
    if not m.by_groups:
        y = met if (m.need > 1).any() else have > 0
        value = y @ m.weight
    else:
        value = m.tie * (np.minimum(1.0, have / m.need) @ m.weight)
        valid = np.flatnonzero(m.group >= 0)
        if len(valid):
            members = np.zeros((len(m.need), m.n_groups))
            members[valid, m.group[valid]] = 1.0
            value = value + ((~met) @ members == 0).sum(axis=1)
    best = int(np.argmax(value))
    return float(value[best]), combos[best]


def _decomposed(
    m: _Mclp, budget: int, *, deadline: float, mip_rel_gap: float
) -> SolveResult | None:
    """Exact MCLP by parts; None when there is one part, or no full cover in time.

    The demand falls apart into many small independent parts (one shop row, one
    market). For each, its best value with 0, 1, ..., L stations is found (L closes all
    of its gaps, 1 needs no MILP), then a dynamic programme shares the budget out over
    the parts: a multiple-choice knapsack. Every part that needs k stations is solved
    in the same MILP (one budget row per part), so there are about max L MILPs, not
    one per part and k.
    """
    start = time.perf_counter()
    full = solve_lscp(m.a, need=m.need, time_limit_s=max(deadline - start, 1e-3))
    if np.isnan(full.objective):
        return None
    if budget >= len(full.chosen):
        objective = m.value(full.chosen)[1]
        took = time.perf_counter() - start
        chosen = m.cols[full.chosen]
        return SolveResult(chosen, objective, objective, 0.0, "optimal", took, "all covered")
    row_c, col_c, n_comp = _component_labels(m)
    present = np.unique(row_c)
    if len(present) == 1:
        return None  # one part: nothing to decompose
    # renumber the parts that have demand 0..P-1 (parts of columns only are dropped)
    number = np.full(n_comp, -1, np.intp)
    number[present] = np.arange(len(present))
    row_p, col_p = number[row_c], number[col_c]
    n_parts = len(present)
    n_full = np.bincount(col_p[full.chosen], minlength=n_parts)
    total = _part_values(m, full.chosen, row_p, n_parts)
    top = min(budget, int(n_full.max()))  # no part uses more stations than this
    low = np.zeros((n_parts, top + 1))
    high = np.zeros((n_parts, top + 1))
    choice: dict[tuple[int, int], NDArray[np.intp]] = {}
    # k at or above a part's full count: everything; k = 1: the best single column
    for k in range(1, top + 1):
        done = n_full <= k
        low[done, k] = high[done, k] = total[done]
        high[~done, k] = total[~done]
    single = _single_values(m)
    keep = col_p >= 0
    order = np.lexsort((-single[keep], col_p[keep]))
    cols_kept = np.flatnonzero(keep)[order]
    first = np.searchsorted(col_p[cols_kept], np.arange(n_parts))
    best_col = cols_kept[first]
    one = n_full >= 2
    low[one, 1] = high[one, 1] = single[best_col[one]]
    proven = True
    n_cols = np.bincount(col_p, minlength=n_parts)
    row_order = np.argsort(row_p, kind="stable")
    row_start = np.searchsorted(row_p[row_order], np.arange(n_parts + 1))
    col_order = np.argsort(col_p, kind="stable")
    col_start = np.searchsorted(col_p[col_order], np.arange(n_parts + 1))
    small: dict[int, _Mclp] = {}
    for k in range(2, top + 1):
        waiting = np.flatnonzero(n_full > k)
        few = np.array([math.comb(int(n_cols[q]), k) <= _ENUMERATE_MAX for q in waiting], bool)
        for part in waiting[few]:
            q = int(part)
            if q not in small:
                small[q] = m.restrict(
                    row_order[row_start[q] : row_start[q + 1]],
                    col_order[col_start[q] : col_start[q + 1]],
                )
            value, local_pick = _enumerate(small[q], k)
            low[q, k] = high[q, k] = value
            choice[(q, k)] = small[q].cols[local_pick]
        many = waiting[~few]
        for at in range(0, len(many), _PARTS_PER_MILP):
            active = many[at : at + _PARTS_PER_MILP]
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                proven = False
                low[active, k] = low[active, k - 1]
                continue
            rows = np.flatnonzero(np.isin(row_p, active))
            cols = np.flatnonzero(np.isin(col_p, active))
            sub = m.restrict(rows, cols)
            local = np.full(n_parts, -1, np.intp)
            local[active] = np.arange(len(active))
            res = _whole(
                sub, k, time_limit_s=remaining, mip_rel_gap=mip_rel_gap, parts=local[col_p[cols]]
            )
            if np.isnan(res.objective):
                proven = False
                low[active, k] = low[active, k - 1]
                continue
            pick = np.searchsorted(cols, res.chosen)
            values = _part_values(sub, pick, local[row_p[rows]], len(active))
            low[active, k] = values
            exact = res.status == "optimal" and mip_rel_gap == 0
            if exact and m.by_groups:
                # the number of groups is proven, the tie-break only bounded
                tie_max = np.bincount(
                    local[row_p[rows]], weights=sub.tie * sub.weight, minlength=len(active)
                )
                high[active, k] = np.floor(values + 1e-9) + tie_max
            elif exact:
                high[active, k] = values
            else:
                proven = False
            chosen_part = col_p[res.chosen]
            for part in active:
                choice[(int(part), k)] = res.chosen[chosen_part == part]
    # more stations never do worse: carry a better smaller choice forward
    use = np.tile(np.arange(top + 1), (n_parts, 1))
    for k in range(1, top + 1):
        worse = low[:, k] < low[:, k - 1]
        low[worse, k] = low[worse, k - 1]
        use[worse, k] = use[worse, k - 1]
    high = np.maximum.accumulate(high, axis=1)
    taken = _knapsack(low, budget)
    picks = []
    for part in np.flatnonzero(taken):
        k = int(use[part, taken[part]])
        if k >= n_full[part]:
            picks.append(full.chosen[col_p[full.chosen] == part])
        elif k == 1:
            picks.append(best_col[[part]])
        elif k > 0:
            picks.append(choice[(int(part), k)])
    chosen = np.sort(np.concatenate(picks)) if picks else np.empty(0, np.intp)
    objective = m.value(chosen)[1]
    took = time.perf_counter() - start
    message = f"{n_parts} parts"
    if proven:
        return SolveResult(m.cols[chosen], objective, objective, 0.0, "optimal", took, message)
    bound = float(high[np.arange(n_parts), _knapsack(high, budget)].sum())
    if m.by_groups:
        bound = float(np.floor(bound + 1e-9))  # groups are whole numbers
    gap = max(0.0, (bound - objective) / max(abs(bound), 1e-9))
    return SolveResult(m.cols[chosen], objective, bound, gap, "time_limit", took, message)


def solve_mclp(
    coverage: sp.spmatrix | sp.sparray | NDArray[np.generic],
    *,
    budget: int,
    weights: ArrayLike | None = None,
    need: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    time_limit_s: float = 30.0,
    mip_rel_gap: float = 0.0,
    decompose: bool | None = None,
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
    decompose
        True: solve the independent parts of the demand separately and share the
        budget out by dynamic programming (exact, and far faster on a city's many
        small parts). False: one MILP for everything (faster on small instances).
        None: decompose above a few thousand demand rows.

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
    if time_limit_s <= 0:
        msg = f"time_limit_s must be greater than 0, got {time_limit_s}"
        raise DataError(msg)
    m = _prepare(coverage, weights, need, groups)
    if m.a.shape[0] == 0 or m.a.shape[1] == 0 or budget == 0:
        return SolveResult(np.empty(0, np.intp), 0.0, 0.0, 0.0, "optimal", 0.0, "nothing to do")
    deadline = time.perf_counter() + time_limit_s
    if decompose is None:
        decompose = m.a.shape[0] > _DECOMPOSE_ROWS
    if decompose:
        res = _decomposed(m, int(budget), deadline=deadline, mip_rel_gap=mip_rel_gap)
        if res is not None:
            return res
    remaining = max(deadline - time.perf_counter(), 1e-3)
    return _whole(m, int(budget), time_limit_s=remaining, mip_rel_gap=mip_rel_gap)
