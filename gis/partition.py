"""Balanced, connected graph partitions with locked vertices.

Given a graph (road segments meeting along the network), a workload per vertex and a
number of parts (people), :func:`balanced_partition` gives every vertex a part so that
each part is connected in the graph and the heaviest part is within ``max_imbalance``
of the mean. Vertices can be locked to a part beforehand; they never move.

How: the graph is split into its connected pieces, and parts are shared among them in
proportion to their load (D'Hondt: each next part goes to the piece whose load per
part is highest). Each piece is cut by METIS (multilevel k-way with contiguous parts);
with locked vertices, only the free vertices' own pieces are cut, each into as many
parts as its load holds, and pockets too small for a head of their own are absorbed
by the locked parts around them; stray fragments go to their lightest neighbour.
METIS alone leaves 5-35% imbalance on street networks once parts must be contiguous,
so three refinements of :mod:`gis.recombination` follow, each keeping every part
connected and every locked vertex in place: a few passes of *diffusion* move load
along the least-squares flow between parts, from overloaded areas to light ones far
away; *recombinations* then merge the heaviest part with a lighter neighbour, or with
a region of parts around it, and cut the union again along random spanning trees
where the loads come out even; *ejection chains* (:mod:`gis.ejection`) of exact moves
of border segments finish what the random cuts miss. A change is kept only if the
heaviest load among the parts it touches goes down, so the refinement ends: when the
target is met, when nothing more can be relieved, or at the time limit. A fresh start
from another seed follows only when the first got stuck with time to spare; a last
pass raises the lightest parts where it can.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field

import numpy as np
import pymetis
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import breadth_first_order

from gis.errors import DataError
from gis.recombination import Recombiner

_EPS = 1e-9
#: Starts (other METIS and refinement seeds) when a refinement stalls above target: the
#: share of the time limit by which each must end. A start stuck in a corner of the
#: network that random cuts cannot reach is often beaten by a fresh one in less time.
_SHARES = (0.45, 0.75, 1.0)
#: Diffusion passes at most, each while it still evens the loads out markedly.
_DIFFUSIONS = 4
#: Flows smaller than this share of the mean load are left to the recombinations.
_MIN_FLOW = 0.02
# METIS's allowed imbalance in 1/1000; tighter than its default (30) gives the refinement
# fewer parts to fix, and tighter still makes contiguous METIS parts ragged.
_UFACTOR = 10


@dataclass(frozen=True)
class Partition:
    """Result of :func:`balanced_partition`.

    ``labels`` gives the part of each vertex (-1 only when the graph has more pieces
    than parts could cover, which raises instead); ``loads`` the total weight of each
    part; ``pieces`` how many connected pieces each part has (1 is connected, 0 empty).
    ``notes`` explain in words why a target could not be met.
    """

    labels: NDArray[np.intp]
    loads: NDArray[np.float64]
    pieces: NDArray[np.intp]
    max_imbalance: float
    notes: tuple[str, ...] = field(default=())

    @property
    def max_over_mean(self) -> float:
        """Heaviest part's load over the mean load."""
        mean = float(self.loads.mean()) if len(self.loads) else 0.0
        return float(self.loads.max()) / mean if mean > 0 else 1.0

    @property
    def min_over_mean(self) -> float:
        """Lightest part's load over the mean load."""
        mean = float(self.loads.mean()) if len(self.loads) else 0.0
        return float(self.loads.min()) / mean if mean > 0 else 1.0

    @property
    def connected(self) -> bool:
        """Whether every non-empty part is connected."""
        return bool((self.pieces <= 1).all())

    @property
    def balanced(self) -> bool:
        """Whether the heaviest part is within ``max_imbalance`` of the mean."""
        return self.max_over_mean <= 1.0 + self.max_imbalance + 1e-9


def balanced_partition(
    adjacency: sp.spmatrix | sp.sparray,
    weights: ArrayLike,
    *,
    n_parts: int,
    locked: ArrayLike | None = None,
    max_imbalance: float = 0.05,
    seed: int = 0,
    time_limit_s: float = 4.0,
) -> Partition:
    """Split a graph into ``n_parts`` connected parts of nearly equal weight.

    Parameters
    ----------
    adjacency
        Symmetric adjacency (n × n); non-zero entries are edges.
    weights
        Non-negative workload per vertex.
    n_parts
        Number of parts.
    locked
        Part of each vertex fixed in advance, or -1 where free.
    max_imbalance
        The heaviest part may exceed the mean by this fraction (0.05: 5%).
    seed
        Random seed of METIS and the refinement: results are reproducible for a given
        seed unless the time limit cuts the refinement short.
    time_limit_s
        Wall-clock time the refinement may take; past it, the best partition found so
        far is returned and the notes say the target was missed.

    Returns
    -------
    Partition

    Examples
    --------
    A path of six equal vertices in two parts, the first vertex locked to part 1:

    >>> import scipy.sparse as sp
    >>> path = sp.diags([1.0, 1.0], [-1, 1], shape=(6, 6))
    >>> p = balanced_partition(path, [1.0] * 6, n_parts=2, locked=[1, -1, -1, -1, -1, -1])
    >>> p.labels.tolist(), p.loads.tolist(), p.connected
    ([1, 1, 1, 0, 0, 0], [3.0, 3.0], True)
    """
    started = time.perf_counter()
    adj, w, lock = _validate(adjacency, weights, n_parts, locked)
    n = adj.shape[0]
    if n == 0:
        empty = np.zeros(n_parts, dtype=np.intp)
        return Partition(np.zeros(0, np.intp), np.zeros(n_parts), empty, max_imbalance)
    notes: list[str] = []
    _, comp_raw = sp.csgraph.connected_components(adj, directed=False)
    comp = np.asarray(comp_raw, dtype=np.intp)
    n_comp = int(comp.max()) + 1
    comp_load = np.bincount(comp, weights=w, minlength=n_comp).astype(np.float64)
    comp_size = np.bincount(comp, minlength=n_comp)
    home = _home_components(lock, w, comp, n_comp)
    floor = np.bincount(np.asarray(list(home.values()), dtype=np.intp), minlength=n_comp)
    counts = _apportion(comp_load, comp_size, n_parts, floor)
    if counts.sum() < n_parts:
        notes.append(
            f"{n_parts - int(counts.sum())} of {n_parts} parts stay empty: there are more "
            "parts than vertices"
        )
    mean = float(w.sum()) / n_parts
    hi, lo = (1.0 + max_imbalance) * mean, (1.0 - max_imbalance) * mean
    # no part can be lighter than its heaviest vertex or its locked load: aim at what is
    # possible (the notes still measure against the target asked for)
    locked_load = np.bincount(lock[lock >= 0], weights=w[lock >= 0], minlength=n_parts)
    hi = max(hi, float(w.max()), float(locked_load.max()))
    best: Recombiner | None = None
    timed_out = False
    for attempt, share in enumerate(_SHARES):
        until = started + share * time_limit_s
        if best is not None and (best.loads.max() <= hi + _EPS or time.perf_counter() >= until):
            break
        start = seed + 7919 * attempt
        if (lock >= 0).any():
            labels = _initial_locked(adj, w, lock, n_parts=n_parts, seed=start)
        else:
            labels = _initial(
                adj, w, lock, comp=comp, counts=counts, home=home, n_parts=n_parts, seed=start
            )
        labels = _grow(adj, w, _keep_cores(adj, w, labels, lock >= 0), n_parts)
        labels = _seed_empty(
            adj, w, labels, lock, comp=comp, counts=counts, home=home, n_parts=n_parts
        )
        ref = Recombiner(adj, w, labels, lock, n_parts, seed=start, deadline=until)
        means = _piece_means(labels, comp, comp_load, mean=mean, n_parts=n_parts)
        _refine(ref, means=means, hi=hi, lo=lo, min_flow=_MIN_FLOW * mean)
        timed_out |= ref.out_of_time()
        if best is None or ref.loads.max() < best.loads.max():
            best = ref
    assert best is not None
    best.deadline = started + time_limit_s
    ceiling = max(hi, float(best.loads.max()))
    # the lightest parts last: a diffusion pass fills light areas from afar (no part
    # above the ceiling), then single light parts take load from their neighbours
    means = _piece_means(best.labels, comp, comp_load, mean=mean, n_parts=n_parts)
    best.diffuse(means=means, min_flow=_MIN_FLOW * mean, hi=ceiling)
    best.pull(lo=lo, ceiling=ceiling, max_tries=2 * n_parts)
    labels = np.asarray(best.labels, dtype=np.intp)
    ok = labels >= 0
    loads = np.bincount(labels[ok], weights=w[ok], minlength=n_parts).astype(np.float64)
    result = Partition(labels, loads, _count_pieces(adj, labels, n_parts), max_imbalance)
    notes += _explain(result, w, lock, comp=comp, comp_load=comp_load, counts=counts, mean=mean)
    if timed_out and not result.balanced:
        notes.append(
            f"the refinement stopped at the time limit ({time_limit_s:g} s) before reaching "
            "the target; allow more time or relax the target"
        )
    return Partition(result.labels, result.loads, result.pieces, max_imbalance, tuple(notes))


def _refine(
    ref: Recombiner, *, means: NDArray[np.float64], hi: float, lo: float, min_flow: float
) -> None:
    """Diffuse while that evens the loads out markedly, then recombine and repair."""
    spread = float(((ref.loads - means) ** 2).sum())
    for _ in range(_DIFFUSIONS if ref.loads.max() > hi else 0):  # on the flow the last left
        ref.diffuse(means=means, min_flow=min_flow, hi=hi)
        before, spread = spread, float(((ref.loads - means) ** 2).sum())
        if spread > 0.7 * before or ref.loads.max() <= hi:
            break
    ref.push(hi=hi, lo=lo)
    ref.repair(hi=hi, lo=lo)


def _validate(
    adjacency: sp.spmatrix | sp.sparray, weights: ArrayLike, n_parts: int, locked: ArrayLike | None
) -> tuple[sp.csr_matrix, NDArray[np.float64], NDArray[np.intp]]:
    adj = sp.csr_matrix(adjacency)
    n = adj.shape[0]
    if adj.shape != (n, n):
        msg = f"balanced_partition: adjacency must be square, got {adj.shape}"
        raise DataError(msg)
    adj = adj.maximum(adj.T).tocsr()
    adj.setdiag(0)
    adj.eliminate_zeros()
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
        msg = (
            f"balanced_partition: weights must be {n} finite non-negative numbers, got shape "
            f"{w.shape} with {int((~np.isfinite(w)).sum())} missing and {int((w < 0).sum())} "
            "negative; fill missing lengths or problem counts first"
        )
        raise DataError(msg)
    if n_parts < 1:
        msg = f"balanced_partition: n_parts must be at least 1, got {n_parts}; name some people"
        raise DataError(msg)
    lock = np.full(n, -1, dtype=np.intp) if locked is None else np.asarray(locked, dtype=np.intp)
    if lock.shape != (n,) or (lock >= n_parts).any() or (lock < -1).any():
        msg = f"balanced_partition: locked must hold -1 or a part below {n_parts} for each vertex"
        raise DataError(msg)
    return adj, w, lock


def _home_components(
    lock: NDArray[np.intp], w: NDArray[np.float64], comp: NDArray[np.intp], n_comp: int
) -> dict[int, int]:
    """Piece of the graph each locked part belongs to: where most of its locked load is."""
    home: dict[int, int] = {}
    for p in np.unique(lock[lock >= 0]).tolist():
        m = lock == p
        home[int(p)] = int(np.bincount(comp[m], weights=w[m] + _EPS, minlength=n_comp).argmax())
    return home


def _apportion(
    comp_load: NDArray[np.float64],
    comp_size: NDArray[np.intp],
    n_parts: int,
    floor: NDArray[np.intp],
) -> NDArray[np.intp]:
    """Parts per piece: at least one (and the locked ones), the rest by highest load per part."""
    counts = np.maximum(floor, 1).astype(np.intp)
    if counts.sum() > n_parts:
        msg = (
            f"the road network falls into {len(comp_load)} pieces not connected to each other, "
            f"which need at least {int(counts.sum())} heads (one per piece), but only {n_parts} "
            "people are available; add people, or join the pieces (look for gaps in the road data)"
        )
        raise DataError(msg)
    heap = [(-float(comp_load[c]) / counts[c], c) for c in range(len(comp_load))]
    heapq.heapify(heap)
    spare = n_parts - int(counts.sum())
    while spare > 0 and heap:
        _, c = heapq.heappop(heap)
        if counts[c] >= comp_size[c]:
            continue
        counts[c] += 1
        spare -= 1
        heapq.heappush(heap, (-float(comp_load[c]) / counts[c], c))
    return counts


def _metis(sub: sp.csr_matrix, w: NDArray[np.float64], k: int, seed: int) -> NDArray[np.intp]:
    if k <= 1 or sub.shape[0] <= 1:
        return np.zeros(sub.shape[0], dtype=np.intp)
    mean = float(w.mean()) or 1.0
    vw = np.maximum(1, np.round(w / mean * 100.0)).astype(np.int64)
    opts = pymetis.Options()
    opts.seed = seed
    opts.contig = 1
    opts.ufactor = _UFACTOR
    graph = pymetis.CSRAdjacency(sub.indptr, sub.indices)
    try:
        _, parts = pymetis.part_graph(k, graph, vweights=vw, options=opts)
    except RuntimeError:  # METIS refuses contiguity on some inputs; repaired below instead
        opts.contig = 0
        _, parts = pymetis.part_graph(k, graph, vweights=vw, options=opts)
    return np.asarray(parts, dtype=np.intp)


def _initial(
    adj: sp.csr_matrix,
    w: NDArray[np.float64],
    lock: NDArray[np.intp],
    *,
    comp: NDArray[np.intp],
    counts: NDArray[np.intp],
    home: dict[int, int],
    n_parts: int,
    seed: int,
) -> NDArray[np.intp]:
    """METIS per piece; its parts matched to the locked parts living there, then locks forced."""
    free = iter(sorted(set(range(n_parts)) - set(home)))
    labels = np.full(adj.shape[0], -1, dtype=np.intp)
    order = np.argsort(comp, kind="stable")
    bounds = np.searchsorted(comp[order], np.arange(len(counts) + 1))
    for c in range(len(counts)):
        idx = order[bounds[c] : bounds[c + 1]]
        k = int(counts[c])
        raw = _metis(adj[idx][:, idx].tocsr(), w[idx], k, seed)
        mine = sorted(p for p, hc in home.items() if hc == c)
        ids = np.full(k, -1, dtype=np.intp)
        if mine:
            overlap = np.zeros((k, len(mine)))
            sub_lock = lock[idx]
            for j, p in enumerate(mine):
                m = sub_lock == p
                overlap[:, j] = np.bincount(raw[m], weights=w[idx][m] + _EPS, minlength=k)
            rows, cols = linear_sum_assignment(-overlap)
            ids[rows] = np.asarray(mine, dtype=np.intp)[cols]
        for r in np.flatnonzero(ids < 0):
            ids[r] = next(free)
        labels[idx] = ids[raw]
    is_locked = lock >= 0
    labels[is_locked] = lock[is_locked]
    return labels


def _initial_locked(
    adj: sp.csr_matrix, w: NDArray[np.float64], lock: NDArray[np.intp], *, n_parts: int, seed: int
) -> NDArray[np.intp]:
    """With locks: locked parts as they are, free people shared over the free pieces.

    Cutting the whole graph and forcing the locks afterwards strands free pockets
    between locked areas in parts that cannot shed them. Instead the free vertices'
    own pieces are cut: a piece gets as many free parts as its load holds mean loads
    (rounded, then evened out to the number of free people), so a pocket under half a
    mean load that touches locked parts gets none and is absorbed by them.
    """
    free = np.flatnonzero(lock < 0)
    labels = lock.copy()
    free_ids = sorted(set(range(n_parts)) - {int(p) for p in np.unique(lock[lock >= 0])})
    if len(free) == 0:
        return labels
    sub = adj[free][:, free].tocsr()
    _, fc_raw = sp.csgraph.connected_components(sub, directed=False)
    fc = np.asarray(fc_raw, dtype=np.intp)
    n_fc = int(fc.max()) + 1
    load = np.bincount(fc, weights=w[free], minlength=n_fc).astype(np.float64)
    size = np.bincount(fc, minlength=n_fc)
    touches = np.zeros(n_fc, dtype=bool)
    coo = adj.tocoo()
    edge = (lock[coo.row] < 0) & (lock[coo.col] >= 0)
    pos = np.full(len(lock), -1, dtype=np.intp)
    pos[free] = np.arange(len(free))
    touches[fc[pos[coo.row[edge]]]] = True
    floor = (~touches).astype(np.intp)
    if floor.sum() > len(free_ids):
        msg = (
            f"{int(floor.sum())} stretches of unassigned street are cut off from every locked "
            f"head, but only {len(free_ids)} free people are available; add people or unlock "
            "some segments"
        )
        raise DataError(msg)
    mean = float(w.sum()) / n_parts
    counts = np.minimum(np.maximum(np.rint(load / mean).astype(np.intp), floor), size)
    while counts.sum() > len(free_ids):  # take from where it hurts least
        can = np.flatnonzero(counts > floor)
        c = can[np.argmin(load[can] / np.maximum(counts[can] - 1, 0.5))]
        counts[c] -= 1
    while counts.sum() < len(free_ids):  # give where the load per part is highest
        can = np.flatnonzero(counts < size)
        if len(can) == 0:
            break
        c = can[np.argmax(load[can] / np.maximum(counts[can], 0.5))]
        counts[c] += 1
    ids = iter(free_ids)
    order = np.argsort(fc, kind="stable")
    bounds = np.searchsorted(fc[order], np.arange(n_fc + 1))
    for c in range(n_fc):
        k = int(counts[c])
        if k == 0:
            continue  # absorbed by the locked parts around it
        idx = order[bounds[c] : bounds[c + 1]]
        raw = _metis(sub[idx][:, idx].tocsr(), w[free][idx], k, seed)
        part_ids = np.asarray([next(ids) for _ in range(k)], dtype=np.intp)
        labels[free[idx]] = part_ids[raw]
    labels[(lock < 0) & (labels == lock)] = -1
    return labels


def _pieces(adj: sp.csr_matrix, labels: NDArray[np.intp]) -> NDArray[np.intp]:
    """Connected piece of every vertex within its own part."""
    coo = adj.tocoo()
    keep = (labels[coo.row] == labels[coo.col]) & (labels[coo.row] >= 0)
    g = sp.coo_matrix((np.ones(int(keep.sum())), (coo.row[keep], coo.col[keep])), shape=adj.shape)
    _, lab = sp.csgraph.connected_components(g, directed=False)
    return np.asarray(lab, dtype=np.intp)


def _count_pieces(adj: sp.csr_matrix, labels: NDArray[np.intp], n_parts: int) -> NDArray[np.intp]:
    piece = _pieces(adj, labels)
    pairs = np.unique(np.column_stack([labels, piece])[labels >= 0], axis=0)
    return np.bincount(pairs[:, 0], minlength=n_parts).astype(np.intp)


def _keep_cores(
    adj: sp.csr_matrix,
    w: NDArray[np.float64],
    labels: NDArray[np.intp],
    is_locked: NDArray[np.bool_],
) -> NDArray[np.intp]:
    """Free every vertex outside its part's core: the pieces holding locked vertices, or else
    the heaviest piece."""
    labels = labels.copy()
    piece = _pieces(adj, labels)
    keep = np.bincount(piece, weights=is_locked.astype(np.float64)) > 0
    part_has_lock = np.zeros(int(labels.max()) + 1, dtype=bool)
    part_has_lock[labels[is_locked]] = True
    piece_w = np.bincount(piece, weights=w + _EPS)
    order = np.lexsort((-piece_w[piece], labels))
    first = np.ones(len(order), dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    heads = order[first]
    heads = heads[~part_has_lock[labels[heads]]]
    keep[piece[heads]] = True
    labels[~keep[piece]] = -1
    return labels


def _explain(
    result: Partition,
    w: NDArray[np.float64],
    lock: NDArray[np.intp],
    *,
    comp: NDArray[np.intp],
    comp_load: NDArray[np.float64],
    counts: NDArray[np.intp],
    mean: float,
) -> list[str]:
    """Why the balance target was missed, in words a planner can act on."""
    if result.balanced or mean <= 0:
        return []
    limit = (1.0 + result.max_imbalance) * mean
    notes = [
        (
            f"balance target missed: the heaviest part carries {result.max_over_mean:.3f} × "
            f"the mean (target ≤ {1.0 + result.max_imbalance:.3f})"
        )
    ]
    heavy = np.flatnonzero(w > limit)
    if len(heavy):
        notes.append(
            f"infeasible: {len(heavy)} vertex/vertices alone weigh more than "
            f"{1.0 + result.max_imbalance:.2f} × the mean part load (heaviest: vertex "
            f"{int(heavy[np.argmax(w[heavy])])} at {float(w.max()) / mean:.2f} × the mean); "
            "split those segments or add weight to the others"
        )
    per_part = comp_load / np.maximum(counts, 1)
    notes.extend(
        f"infeasible: network piece {int(c)} ({int((comp == c).sum())} vertices) carries "
        f"{float(comp_load[c]) / mean:.2f} × the mean load but can hold only {int(counts[c])} "
        "part(s) without joining unconnected streets"
        for c in np.flatnonzero(per_part > limit)
    )
    locked_load = np.bincount(lock[lock >= 0], weights=w[lock >= 0], minlength=len(result.loads))
    over = np.flatnonzero(locked_load > limit)
    if len(over):
        notes.append(
            f"infeasible: the locked vertices of {len(over)} part(s) already weigh more than the "
            f"limit (heaviest: part {int(over[np.argmax(locked_load[over])])} at "
            f"{float(locked_load.max()) / mean:.2f} × the mean); unlock some of them"
        )
    return notes


def _grow(
    adj: sp.csr_matrix, w: NDArray[np.float64], labels: NDArray[np.intp], n_parts: int
) -> NDArray[np.intp]:
    """Give each unassigned vertex to its lightest assigned neighbour, outwards."""
    labels = labels.copy()
    ok = labels >= 0
    loads = np.bincount(labels[ok], weights=w[ok], minlength=n_parts)
    coo = adj.tocoo()
    row, col = np.asarray(coo.row, dtype=np.intp), np.asarray(coo.col, dtype=np.intp)
    while True:
        free = labels < 0
        edge = free[row] & ~free[col]
        if not edge.any():
            return labels
        u, q = row[edge], labels[col[edge]]
        order = np.lexsort((loads[q], u))
        u, q = u[order], q[order]
        first = np.ones(len(u), dtype=bool)
        first[1:] = u[1:] != u[:-1]
        labels[u[first]] = q[first]
        np.add.at(loads, q[first], w[u[first]])


def _tree_leaf(
    adj: sp.csr_matrix, labels: NDArray[np.intp], lock: NDArray[np.intp], q: int
) -> int | None:
    """A free vertex of part q whose removal keeps q connected: a leaf of a spanning tree."""
    mine = np.flatnonzero(labels == q)
    if len(mine) <= 1:
        return None
    order, pred = breadth_first_order(
        adj[mine][:, mine], 0, directed=False, return_predecessors=True
    )
    inner = np.zeros(len(mine), dtype=bool)
    inner[pred[pred >= 0]] = True
    leaves = [int(mine[v]) for v in order[::-1] if not inner[v] and lock[mine[v]] < 0]
    return leaves[0] if leaves else None


def _seed_empty(
    adj: sp.csr_matrix,
    w: NDArray[np.float64],
    labels: NDArray[np.intp],
    lock: NDArray[np.intp],
    *,
    comp: NDArray[np.intp],
    counts: NDArray[np.intp],
    home: dict[int, int],
    n_parts: int,
) -> NDArray[np.intp]:
    """Start each empty part with one vertex taken from the heaviest part of its piece."""
    ok = labels >= 0
    sizes = np.bincount(labels[ok], minlength=n_parts)
    empty = [p for p in range(n_parts) if sizes[p] == 0 and p not in home]
    if not empty:
        return labels
    labels = labels.copy()
    loads = np.bincount(labels[ok], weights=w[ok], minlength=n_parts)
    first = np.full(n_parts, -1, dtype=np.intp)
    first[labels[ok][::-1]] = np.flatnonzero(ok)[::-1]
    part_comp = {p: int(comp[first[p]]) for p in range(n_parts) if first[p] >= 0}
    in_comp = np.bincount(list(part_comp.values()), minlength=len(counts))
    needy = [c for c in range(len(counts)) for _ in range(int(counts[c] - in_comp[c]))]
    for p, c in zip(empty, needy, strict=False):
        donors = sorted((q for q, qc in part_comp.items() if qc == c), key=lambda q: -loads[q])
        for q in donors:
            leaf = _tree_leaf(adj, labels, lock, q)
            if leaf is not None:
                labels[leaf] = p
                loads[q] -= w[leaf]
                loads[p] += w[leaf]
                part_comp[p] = c
                break
    return labels


def _piece_means(
    labels: NDArray[np.intp],
    comp: NDArray[np.intp],
    comp_load: NDArray[np.float64],
    *,
    mean: float,
    n_parts: int,
) -> NDArray[np.float64]:
    """The load each part would carry if its network piece were shared evenly."""
    first = np.full(n_parts, -1, dtype=np.intp)
    ok = np.flatnonzero(labels >= 0)
    first[labels[ok][::-1]] = ok[::-1]
    part_comp = np.where(first >= 0, comp[np.maximum(first, 0)], -1)
    has = part_comp >= 0
    per_piece = np.bincount(part_comp[has], minlength=len(comp_load))
    out = np.full(len(first), mean)
    out[has] = comp_load[part_comp[has]] / per_piece[part_comp[has]]
    return out
