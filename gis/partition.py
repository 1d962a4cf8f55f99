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
so a refinement of our own follows: load is pushed from the heaviest part along a
chain of neighbouring parts to a lighter one (and then pulled into the lightest),
each hand-over redrawing the border of two neighbours by cutting a random spanning
tree of their union where the loads come out right. Both
sides of a tree cut are connected, so connectivity holds throughout; a chain is kept
only if it lowers the heaviest load on it (or raises the lightest), so it ends. When
the refinement stalls above the target, it starts afresh from other seeds (at most
three starts) and keeps the best.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pymetis
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment

from gis.errors import DataError

_EPS = 1e-9
#: Fresh starts (other METIS and refinement seeds) when a refinement stalls above target.
_ATTEMPTS = 3
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
        METIS random seed (results are reproducible for a given seed).

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
    best: _Refiner | None = None
    for attempt in range(_ATTEMPTS):  # a fresh start when the refinement gets stuck
        start = seed + 7919 * attempt
        if (lock >= 0).any():
            labels = _initial_locked(adj, w, lock, n_parts=n_parts, seed=start)
        else:
            labels = _initial(
                adj, w, lock, comp=comp, counts=counts, home=home, n_parts=n_parts, seed=start
            )
        labels = _keep_cores(adj, w, labels, lock >= 0)
        ref = _Refiner(adj, w, labels, lock >= 0, n_parts, seed=start)
        ref.grow()
        ref.seed_empty(comp, counts, home)
        for rnd in range(3):  # chains are randomised: a new round, with more trees per
            ref.trees = 16 * (rnd + 1)  # re-split, may free what the last one left
            ref.push(hi=hi, mean=mean)
            if max(ref.loads) <= hi:
                break
        if best is None or max(ref.loads) < max(best.loads):
            best = ref
        if max(best.loads) <= hi:
            break
    assert best is not None
    best.trees = 16
    best.pull(lo=lo, mean=mean, ceiling=max(hi, *best.loads), max_tries=2 * n_parts)
    labels = np.asarray(best.labels, dtype=np.intp)
    ok = labels >= 0
    loads = np.bincount(labels[ok], weights=w[ok], minlength=n_parts).astype(np.float64)
    result = Partition(labels, loads, _count_pieces(adj, labels, n_parts), max_imbalance)
    notes += _explain(result, w, lock, comp=comp, comp_load=comp_load, counts=counts, mean=mean)
    return Partition(result.labels, result.loads, result.pieces, max_imbalance, tuple(notes))


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


class _Refiner:
    """Moves vertices between parts, never disconnecting one or moving a locked vertex.

    Plain Python lists and sets: each move touches a few dozen vertices, and NumPy's
    per-call overhead would dominate at that size.
    """

    def __init__(
        self,
        adj: sp.csr_matrix,
        w: NDArray[np.float64],
        labels: NDArray[np.intp],
        is_locked: NDArray[np.bool_],
        n_parts: int,
        *,
        seed: int = 0,
    ) -> None:
        self.rng = random.Random(seed)
        self.trees = 16
        self.close = 0.002 * float(w.sum()) / n_parts
        self.log: list[tuple[int, int]] = []
        self.last_path: list[int] = []
        ip, ix = adj.indptr, adj.indices
        self.nbrs: list[list[int]] = [ix[ip[i] : ip[i + 1]].tolist() for i in range(adj.shape[0])]
        self.w: list[float] = w.tolist()
        self.labels: list[int] = labels.tolist()
        self.locked: list[bool] = is_locked.tolist()
        ok = labels >= 0
        self.loads: list[float] = np.bincount(labels[ok], weights=w[ok], minlength=n_parts).tolist()
        self.members: list[set[int]] = [set() for _ in range(n_parts)]
        self.border: list[dict[int, int]] = [{} for _ in range(n_parts)]
        for v, p in enumerate(self.labels):
            if p >= 0:
                self.members[p].add(v)
                for u in self.nbrs[v]:
                    r = self.labels[u]
                    if r >= 0 and r != p:
                        self.border[p][r] = self.border[p].get(r, 0) + 1

    def move(self, v: int, q: int) -> None:
        p, border = self.labels[v], self.border
        for u in self.nbrs[v]:
            r = self.labels[u]
            if r < 0:
                continue
            if p >= 0 and r != p:
                for a, b in ((p, r), (r, p)):
                    if border[a][b] == 1:
                        del border[a][b]
                    else:
                        border[a][b] -= 1
            if r != q:
                border[q][r] = border[q].get(r, 0) + 1
                border[r][q] = border[r].get(q, 0) + 1
        if p >= 0:
            self.members[p].discard(v)
            self.loads[p] -= self.w[v]
        self.members[q].add(v)
        self.loads[q] += self.w[v]
        self.labels[v] = q

    def resplit(self, a: int, b: int, *, want_a: float, max_b: float, touch: int = -1) -> bool:
        """Redraw the border between parts a and b so that b carries about ``want_b``.

        The union of a and b is cut along a random spanning tree (a few trees are tried):
        both sides of a tree cut are connected, and a tree offers a cut at almost any
        weight. Locked vertices stay on their side, and b keeps touching part ``touch``
        (the next receiver along a chain). False when no cut keeps b ≤ ``max_b``.
        """
        union = list(self.members[a] | self.members[b])
        pos = {v: i for i, v in enumerate(union)}
        n = len(union)
        w = [self.w[v] for v in union]
        side = [
            (1 if self.labels[v] == b else 0) if self.locked[v] else -1 for v in union
        ]  # locked: 1 must stay in b, 0 must stay in a; -1 free
        total = sum(w)
        nb_b, nb_a = side.count(1), side.count(0)
        touching = [
            1 if touch >= 0 and any(self.labels[u] == touch for u in self.nbrs[v]) else 0
            for v in union
        ]
        n_touch = sum(touching)
        want_b = total - want_a
        now_b = self.loads[b]
        local = [[pos[u] for u in self.nbrs[v] if u in pos] for v in union]
        best: tuple[float, list[int], bool] | None = None
        edges = [(i, j) for i in range(n) for j in local[i] if i < j]
        # Trees join each locked group first (so one cut can separate a's locked vertices
        # from b's) and the two groups directly last (so the path between them runs
        # through free vertices, which is where a cut can move load)
        first = [(i, j) for i, j in edges if side[i] >= 0 and side[i] == side[j]]
        last = [(i, j) for i, j in edges if side[i] >= 0 and side[j] >= 0 and side[i] != side[j]]
        rest = [(i, j) for i, j in edges if side[i] < 0 or side[j] < 0]
        for _ in range(self.trees):
            if best is not None and best[0] <= self.close:
                break
            order, parent = _random_tree(n, (first, rest, last), self.rng)
            if len(order) < n:
                return False
            sub = w[:]
            in_b = [1 if s == 1 else 0 for s in side]
            in_a = [1 if s == 0 else 0 for s in side]
            tch = touching[:]
            for x in reversed(order[1:]):
                px = parent[x]
                sub[px] += sub[x]
                in_b[px] += in_b[x]
                in_a[px] += in_a[x]
                tch[px] += tch[x]
            for x in order[1:]:
                # subtree of x to b, rest to a; or subtree to a, rest to b
                for to_b, load_b in ((True, sub[x]), (False, total - sub[x])):
                    if to_b and (in_a[x] or in_b[x] != nb_b):
                        continue
                    if not to_b and (in_b[x] or in_a[x] != nb_a):
                        continue
                    if load_b > max_b or (
                        touch >= 0 and (tch[x] if to_b else n_touch - tch[x]) == 0
                    ):
                        continue
                    if min(load_b, total - load_b) <= _EPS or abs(load_b - now_b) <= _EPS:
                        continue
                    gap = abs(load_b - want_b)
                    if best is None or gap < best[0]:
                        best = (gap, _subtree(x, order, parent), to_b)
        if best is None:
            return False
        _, subtree, to_b = best
        chosen = {union[i] for i in subtree}
        for v in union:
            q = b if (v in chosen) == to_b else a
            if self.labels[v] != q:
                self.log.append((v, self.labels[v]))
                self.move(v, q)
        return True

    def chain(self, path: list[int], amount: float, *, ceiling: float) -> bool:
        """Shift about ``amount`` along ``path`` (neighbouring parts, giver first).

        The giver sheds ``amount``; each part on the way keeps its load and hands on the
        rest, so whatever lump a border allows is passed along. Kept only if the heaviest part on
        the path ends lighter than before (pushing), or the lightest heavier with the
        heaviest no heavier (pulling), nothing above ``ceiling``; otherwise undone.
        """
        before = [self.loads[q] for q in path]
        self.log = []
        ok = True
        last = len(path) - 2
        for i in range(last + 1):
            want = before[i] - (amount if i == 0 else 0.0)
            touch = path[i + 2] if i < last else -1
            cap = ceiling if i == last else float("inf")
            if not self.resplit(path[i], path[i + 1], want_a=want, max_b=cap, touch=touch):
                ok = False
                break
        after = [self.loads[q] for q in path]
        if (
            ok
            and max(after) <= ceiling + _EPS
            and (
                max(after) < max(before) - _EPS
                or (max(after) <= max(before) + _EPS and min(after) > min(before) + _EPS)
            )
        ):
            return True
        for v, q in reversed(self.log):
            self.move(v, q)
        return False

    def routes(
        self, start: int, accept: Callable[[int], bool], per_hop: int = 3
    ) -> list[list[int]]:
        """Shortest routes from ``start`` to the nearest acceptable parts, a few through
        each neighbour.

        Routes through different neighbours meet the network of parts from different
        sides, which is what frees a part whose cheapest contact is blocked.
        """
        out = []
        for first in sorted(self.border[start], key=self.loads.__getitem__):
            parent = {start: -1, first: start}
            frontier = [first]
            ends = [first] if accept(first) else []
            while frontier and len(ends) < per_hop:
                nxt = []
                for a in frontier:
                    for b in self.border[a]:
                        if b not in parent:
                            parent[b] = a
                            nxt.append(b)
                            if accept(b):
                                ends.append(b)
                frontier = nxt
            for end in ends[:per_hop]:
                route = [end]
                while route[-1] != start:
                    route.append(parent[route[-1]])
                out.append(route)
        return out

    def grow(self) -> None:
        """Give each unassigned vertex to its lightest assigned neighbour, outwards."""
        frontier = [v for v, p in enumerate(self.labels) if p < 0]
        while frontier:
            rest = []
            for v in frontier:
                qs = [self.labels[u] for u in self.nbrs[v] if self.labels[u] >= 0]
                if qs:
                    self.move(v, min(qs, key=self.loads.__getitem__))
                else:
                    rest.append(v)
            if len(rest) == len(frontier):
                return
            frontier = rest

    def seed_empty(
        self, comp: NDArray[np.intp], counts: NDArray[np.intp], home: dict[int, int]
    ) -> None:
        """Start each empty part with one vertex taken from the heaviest part of its piece."""
        empty = [p for p, m in enumerate(self.members) if not m and p not in home]
        if not empty:
            return
        part_comp = {p: int(comp[next(iter(m))]) for p, m in enumerate(self.members) if m}
        in_comp = np.bincount(list(part_comp.values()), minlength=len(counts))
        needy = [c for c in range(len(counts)) for _ in range(int(counts[c] - in_comp[c]))]
        for p, c in zip(empty, needy, strict=False):
            donors = sorted(
                (q for q, qc in part_comp.items() if qc == c), key=self.loads.__getitem__
            )
            for q in reversed(donors):
                leaf = self.tree_leaf(q)
                if leaf is not None:
                    self.move(leaf, p)
                    part_comp[p] = c
                    break

    def tree_leaf(self, q: int) -> int | None:
        """A free vertex of q whose removal keeps q connected: a leaf of a spanning tree."""
        if len(self.members[q]) <= 1:
            return None
        root = next(iter(self.members[q]))
        parent = {root: -1}
        order = [root]
        for x in order:
            for y in self.nbrs[x]:
                if y not in parent and self.labels[y] == q:
                    parent[y] = x
                    order.append(y)
        inner = set(parent.values())
        return next((v for v in reversed(order) if v not in inner and not self.locked[v]), None)

    def around(self, path: list[int]) -> set[int]:
        """The parts on a path and their neighbours."""
        return set(path).union(*(self.border[q] for q in path))

    def push(self, *, hi: float, mean: float, max_moves: int = 20_000) -> None:
        """Push load out of parts above ``hi`` along chains to lighter parts.

        A part no chain can help is set aside until a chain next to it succeeds (which
        may have opened a way for it).
        """
        loads, n = self.loads, len(self.loads)
        stuck: set[int] = set()
        for _ in range(max_moves):
            todo = [q for q in range(n) if q not in stuck and loads[q] > hi]
            if not todo:
                return
            p = max(todo, key=loads.__getitem__)
            limit = max(2 * hi - loads[p], mean)
            if any(
                self.chain(
                    r[::-1], min((loads[p] - loads[r[0]]) / 2, loads[p] - mean), ceiling=loads[p]
                )
                for r in self.routes(p, partial(_below, loads, limit))
            ):
                stuck -= self.around(self.last_path)
            else:
                stuck.add(p)

    def pull(self, *, lo: float, mean: float, ceiling: float, max_tries: int) -> None:
        """Pull load into parts below ``lo`` from heavier ones, never above ``ceiling``.

        Fairness for the lightest heads, not the target itself: ``max_tries`` bounds it.
        """
        loads, n = self.loads, len(self.loads)
        stuck: set[int] = set()
        for _ in range(max_tries):
            todo = [q for q in range(n) if q not in stuck and self.members[q] and loads[q] < lo]
            if not todo:
                return
            d = min(todo, key=loads.__getitem__)
            floor = min(2 * lo - loads[d], mean)
            if any(
                self.chain(r, min((loads[r[0]] - loads[d]) / 2, mean - loads[d]), ceiling=ceiling)
                for r in self.routes(d, partial(_above, loads, floor))
            ):
                stuck -= self.around(self.last_path)
            else:
                stuck.add(d)


def _below(loads: list[float], limit: float, q: int) -> bool:
    return loads[q] < limit


def _above(loads: list[float], limit: float, q: int) -> bool:
    return loads[q] > limit


def _random_tree(
    n: int, tiers: tuple[list[tuple[int, int]], ...], rng: random.Random
) -> tuple[list[int], list[int]]:
    """A random spanning tree (Kruskal on edges shuffled within each tier, tiers in
    order), as BFS order and parents."""
    root = list(range(n))

    def find(x: int) -> int:
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    ordered: list[tuple[int, int]] = []
    for tier in tiers:
        shuffled = tier[:]
        rng.shuffle(shuffled)
        ordered += shuffled
    tree: list[list[int]] = [[] for _ in range(n)]
    for i, j in ordered:
        ri, rj = find(i), find(j)
        if ri != rj:
            root[ri] = rj
            tree[i].append(j)
            tree[j].append(i)
    start = rng.randrange(n)
    parent = [-2] * n
    parent[start] = -1
    order = [start]
    for x in order:
        for y in tree[x]:
            if parent[y] == -2:
                parent[y] = x
                order.append(y)
    return order, parent


def _subtree(x: int, order: list[int], parent: list[int]) -> list[int]:
    """Vertices of the subtree rooted at x (positions in ``order``'s numbering)."""
    inside = {x}
    for y in order:
        if parent[y] in inside:
            inside.add(y)
    return list(inside)
