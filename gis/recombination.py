"""Balancing connected parts: diffusion along a flow, and recombination of neighbours.

The refinement behind :func:`gis.partition.balanced_partition`, on parts that are
each connected. *Diffusion* (:meth:`Recombiner.diffuse`) moves load along the flow
on the graph of parts that evens the loads out with the least sum of squares, so an
overloaded area hands load on to light parts far away. A *recombination*
(:meth:`Recombiner.propose`) merges a few neighbouring parts and cuts their union
again into as many connected parts: a random spanning tree of the union is drawn,
and cutting one of its edges splits it into two connected sides, one of which
becomes a part; repeated on the rest until every part has its own. A tree offers a
cut at almost any weight, so among a batch of trees the cut closest to the load
wanted can be chosen, within a ceiling and a floor. Locked vertices keep their part:
trees join each part's locked vertices first, and a cut must leave each part's
locked vertices on one side.

This is the recombination ("ReCom") step of redistricting Markov chains (DeFord,
Duchin and Solomon 2021), used greedily (:meth:`Recombiner.push`): the heaviest part
is recombined with a lighter neighbour, relieved by an exact ejection chain
(:mod:`gis.ejection`), or recombined with a region of parts around it, and a change
is kept only if the heaviest load among the parts it touches goes down. Batches of
trees are drawn, cut and summed with SciPy and NumPy at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree
from scipy.sparse.linalg import spsolve

from gis.ejection import Parts, find_chain

_EPS = 1e-9
#: Region sizes (in parts) tried around a heavy part that no pair can relieve; larger
#: regions were tried too and seldom paid for the time their failures took.
REGION_SIZES = (3, 4, 6)
#: Parts at most in a ring of neighbours around a heavy part.
RING_PARTS = 8
#: Trees drawn per cut: a first batch, and a larger one when no cut fits.
TREES = (12, 36)
#: Fresh tries at cutting a region of more than two parts.
PEELS = 3
#: Times a part that could not be relieved is tried again after its neighbours changed.
MAX_FAILS = 2


@dataclass(frozen=True)
class _Sub:
    """A vertex set to cut: its local edges (i < j), tiers, loads and lock columns."""

    ei: NDArray[np.intp]
    ej: NDArray[np.intp]
    tier: NDArray[np.float64]
    w: NDArray[np.float64]
    locks: NDArray[np.float64]  # one column per lock present: 1 where locked to it
    present: NDArray[np.intp]  # the part of each lock column
    own: NDArray[np.float64]  # with an aim: weight in the two parts recombined, else empty


class Recombiner:
    """Connected parts of a graph, rebalanced by recombining neighbouring parts.

    ``labels`` gives each vertex's part (every vertex assigned, every part connected);
    ``lock`` the part a vertex is locked to, or -1. Work stops at ``deadline`` (a
    :func:`time.perf_counter` value).
    """

    def __init__(
        self,
        adj: sp.csr_matrix,
        w: NDArray[np.float64],
        labels: NDArray[np.intp],
        lock: NDArray[np.intp],
        n_parts: int,
        *,
        seed: int,
        deadline: float,
    ) -> None:
        self.indptr = np.asarray(adj.indptr, dtype=np.intp)
        self.indices = np.asarray(adj.indices, dtype=np.intp)
        self.w = w
        self.labels = labels.copy()
        self.lock = lock
        self.n_parts = n_parts
        self.rng = np.random.default_rng(seed)
        self.deadline = deadline
        ok = self.labels >= 0
        self.loads: NDArray[np.float64] = np.bincount(
            self.labels[ok], weights=w[ok], minlength=n_parts
        ).astype(np.float64)
        coo = sp.triu(adj, k=1).tocoo()
        self._erow = np.asarray(coo.row, dtype=np.intp)
        self._ecol = np.asarray(coo.col, dtype=np.intp)
        self._pos = np.full(len(w), -1, dtype=np.intp)
        self._in = np.zeros(n_parts + 1, dtype=bool)  # index -1 (unassigned) stays False
        self._parts = Parts(self.indptr, self.indices, w, self.labels, lock, self.loads)
        self._last = np.zeros(0, dtype=np.intp)

    # --- looking around ---------------------------------------------------------------

    def out_of_time(self) -> bool:
        """Whether the deadline has passed."""
        return time.perf_counter() > self.deadline

    def members(self, parts: NDArray[np.intp]) -> NDArray[np.intp]:
        """Vertices of some parts, in increasing order."""
        self._in[parts] = True
        idx = np.flatnonzero(self._in[self.labels])
        self._in[parts] = False
        return idx

    def _gather(self, idx: NDArray[np.intp]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Every edge leaving ``idx``: (position in idx, neighbour vertex)."""
        starts = self.indptr[idx]
        counts = self.indptr[idx + 1] - starts
        rows = np.repeat(np.arange(len(idx)), counts)
        first = np.cumsum(counts) - counts
        flat = np.arange(int(counts.sum())) - np.repeat(first - starts, counts)
        return rows, self.indices[flat]

    def neighbours(self, parts: NDArray[np.intp]) -> NDArray[np.intp]:
        """Parts touching any of ``parts``, lightest first."""
        _, nbr = self._gather(self.members(parts))
        found = np.unique(self.labels[nbr])
        found = found[(found >= 0) & ~np.isin(found, parts)]
        return found[np.argsort(self.loads[found], kind="stable")]

    # --- cutting ----------------------------------------------------------------------

    def _subgraph(self, idx: NDArray[np.intp], pair: tuple[int, int] | None = None) -> _Sub:
        self._pos[idx] = np.arange(len(idx))
        rows, nbr = self._gather(idx)
        cols = self._pos[nbr]
        self._pos[idx] = -1
        keep = cols > rows
        ei, ej = rows[keep], cols[keep]
        lk = self.lock[idx]
        present = np.unique(lk[lk >= 0])
        locks = (lk[:, None] == present[None, :]).astype(np.float64)
        li, lj = lk[ei], lk[ej]
        both = (li >= 0) & (lj >= 0)
        # trees join each part's locked vertices first and two parts' locked vertices
        # directly last, so the path between them runs through free vertices, which
        # is where a cut can move load
        tier = np.where(both & (li == lj), 0.0, np.where(both, 2.0, 1.0))
        own = np.zeros((len(idx), 0))
        if pair is not None:
            lab = self.labels[idx][:, None]
            own = (lab == np.asarray(pair)[None, :]) * (self.w[idx] + _EPS)[:, None]
        return _Sub(ei, ej, tier, self.w[idx], locks, present.astype(np.intp), own)

    def _cut(
        self,
        sub: _Sub,
        k: int,
        *,
        ceiling: float,
        floor: float,
        n_trees: int,
        aim: tuple[int, int, float] | None = None,
    ) -> NDArray[np.bool_] | None:
        """One connected piece that can be a part of its own, the rest cut in k - 1 later.

        The piece is a side of a random spanning tree's edge, within ``floor``..
        ``ceiling`` with the rest able to hold k - 1 parts within them, holding one
        part's locked vertices whole or none (one part's, necessarily, when every
        remaining part has locks). Of those in the batch, its load is the closest to an
        even share, or, with ``aim`` (p, q, load) for two parts, the cut leaves part p
        (named as :meth:`_name` will) closest to that load.
        """
        n = len(sub.w)
        total = float(sub.w.sum())
        lock_total = sub.locks.sum(axis=0)
        n_locks = sub.locks.shape[1]
        big = n * n_trees
        off = (np.arange(n_trees, dtype=np.intp) * n)[:, None]
        weight = 1.0 + sub.tier[None, :] + self.rng.random((n_trees, len(sub.ei)))
        roots = np.arange(n_trees, dtype=np.intp) * n + self.rng.integers(0, n, n_trees)
        # rows come sorted (tree by tree, ``ei`` ascending, the super-root last), so the
        # matrix is built as CSR directly, without COO's sort
        rows = np.concatenate([(sub.ei + off).ravel(), np.full(n_trees, big, dtype=np.intp)])
        cols = np.concatenate([(sub.ej + off).ravel(), roots])
        data = np.concatenate([weight.ravel(), np.ones(n_trees)])
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=big + 1))])
        graph = sp.csr_matrix((data, cols, indptr), shape=(big + 1, big + 1))
        tree = minimum_spanning_tree(graph)
        order, pred = breadth_first_order(tree, big, directed=False, return_predecessors=True)
        if len(order) < big + 1:
            return None  # the set is not connected: no tree spans it
        anc = np.asarray(pred, dtype=np.intp)
        anc[big] = big
        cand = np.flatnonzero(anc[:big] != big)  # cutting above a root splits nothing
        values = np.column_stack([sub.w, sub.locks, sub.own])
        width = values.shape[1]
        acc = np.vstack([np.tile(values, (n_trees, 1)), np.zeros((1, width))])
        column = np.arange(width)
        jumps = []
        while not (anc == big).all():  # subtree sums by pointer doubling
            jumps.append(anc)
            slots = (anc[:, None] * width + column).ravel()
            acc += np.bincount(slots, weights=acc.ravel(), minlength=acc.size).reshape(acc.shape)
            anc = anc[anc]
        sums = acc[cand]
        share = total / k
        best: tuple[float, int, bool] | None = None
        for inside in (True, False):
            piece_sums = sums if inside else values.sum(axis=0)[None, :] - sums
            piece = piece_sums[:, 0]
            held = piece_sums[:, 1 : 1 + n_locks]
            whole = (np.abs(held - lock_total[None, :]) < 0.5) & (lock_total[None, :] > 0)
            none = held < 0.5  # counts of locked vertices, summed as floats
            taken = whole.sum(axis=1)
            ok = (whole | none).all(axis=1) & (taken <= 1) & (n_locks - taken <= k - 1)
            ok &= (piece >= floor - _EPS) & (piece <= ceiling + _EPS)
            rest = total - piece
            ok &= (rest >= (k - 1) * floor - _EPS) & (rest <= (k - 1) * ceiling + _EPS)
            if not ok.any():
                continue
            if aim is not None:
                gap = np.abs(piece - self._aimed(sub, piece_sums, whole, aim, total))
            else:
                # closest to an even share, preferring cuts that leave the rest's mean in
                # the middle half of floor..ceiling, where the later cuts have room
                mean_rest = rest / max(k - 1, 1)
                roomy = (2 * mean_rest <= share + ceiling) & (2 * mean_rest >= share + floor)
                gap = np.abs(piece - share) + np.where(roomy | (k == 2), 0.0, total)
            gap = np.where(ok, gap, np.inf)
            i = int(np.argmin(gap))
            if best is None or gap[i] < best[0]:
                best = (float(gap[i]), int(cand[i]), inside)
        if best is None:
            return None
        _, x, inside = best
        flag = np.zeros(big + 1, dtype=bool)
        flag[x] = True
        for a in jumps:  # v is below x if x is among its ancestors
            flag |= flag[a]
        t = x // n
        below = flag[t * n : (t + 1) * n]
        return below if inside else ~below

    @staticmethod
    def _aimed(
        sub: _Sub,
        piece_sums: NDArray[np.float64],
        whole: NDArray[np.bool_],
        aim: tuple[int, int, float],
        total: float,
    ) -> NDArray[np.float64]:
        """The load each candidate piece should have: p's aim if it would be named p."""
        p, q, load_p = aim
        n_locks = sub.locks.shape[1]
        if p in sub.present:
            is_p = whole[:, int(np.searchsorted(sub.present, p))]
        elif q in sub.present:
            is_p = ~whole[:, int(np.searchsorted(sub.present, q))]
        else:  # the free piece overlapping p more, as linear_sum_assignment names it
            own_p, own_q = piece_sums[:, 1 + n_locks], piece_sums[:, 2 + n_locks]
            all_p, all_q = sub.own.sum(axis=0)
            is_p = 2 * (own_p - own_q) >= all_p - all_q
        return np.where(is_p, load_p, total - load_p)

    def propose(
        self,
        region: NDArray[np.intp],
        *,
        ceiling: float,
        floor: float,
        aim: float | None = None,
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]] | None:
        """Cut the union of ``region``'s parts into as many connected parts, each within
        ``floor``..``ceiling``; return the vertices and their new parts, or None.
        ``aim``: for two parts, the load the first should end with (else even shares).

        Parts are cut off one at a time; when what is left cannot be cut (a narrow
        neck can leave only lumps too big or too small), the cutting starts again, a
        few times for a region of several parts.
        """
        idx = self.members(region)
        k = len(region)
        for _ in range(1 if k == 2 else PEELS):
            piece = self._peel(idx, region, ceiling=ceiling, floor=floor, aim=aim)
            if piece is not None:
                return idx, self._name(idx, piece, region)
            if self.out_of_time():
                break
        return None

    def _peel(
        self,
        idx: NDArray[np.intp],
        region: NDArray[np.intp],
        *,
        ceiling: float,
        floor: float,
        aim: float | None,
    ) -> NDArray[np.intp] | None:
        k = len(region)
        pair = (int(region[0]), int(region[1])) if aim is not None and k == 2 else None
        piece = np.full(len(idx), -1, dtype=np.intp)
        left = np.arange(len(idx))
        for step in range(k - 1):
            sub = self._subgraph(idx[left], pair)
            goal = None if pair is None or aim is None else (*pair, aim)
            for n_trees in TREES:
                side = self._cut(
                    sub, k - step, ceiling=ceiling, floor=floor, n_trees=n_trees, aim=goal
                )
                if side is not None:
                    break
            else:
                return None
            piece[left[side]] = step
            left = left[~side]
        rest = float(self.w[idx[left]].sum())
        if not floor - _EPS <= rest <= ceiling + _EPS:
            return None
        piece[left] = k - 1
        return piece

    def _name(
        self, idx: NDArray[np.intp], piece: NDArray[np.intp], region: NDArray[np.intp]
    ) -> NDArray[np.intp]:
        """Part ids for the pieces: a locked part's for the piece holding its locks, the
        free ids matched to the pieces they overlap most (fewest vertices change hands)."""
        k = len(region)
        lk = self.lock[idx]
        named = np.full(k, -1, dtype=np.intp)
        has = lk >= 0
        named[piece[has]] = lk[has]
        free_ids = np.setdiff1d(region, named[named >= 0])
        free_pieces = np.flatnonzero(named < 0)
        if len(free_pieces):
            old = np.searchsorted(free_ids, self.labels[idx])
            mine = (old < len(free_ids)) & (
                free_ids[np.minimum(old, len(free_ids) - 1)] == self.labels[idx]
            )
            overlap = np.zeros((k, len(free_ids)))
            np.add.at(overlap, (piece[mine], old[mine]), self.w[idx][mine] + _EPS)
            r, c = linear_sum_assignment(-overlap[free_pieces])
            named[free_pieces[r]] = free_ids[c]
        return named[piece]

    def apply(self, idx: NDArray[np.intp], new: NDArray[np.intp]) -> None:
        """Give the vertices ``idx`` their new parts."""
        self._parts.forget(np.unique(np.concatenate([self.labels[idx], new])))
        np.subtract.at(self.loads, self.labels[idx], self.w[idx])
        np.add.at(self.loads, new, self.w[idx])
        self.labels[idx] = new

    # --- balancing --------------------------------------------------------------------

    def diffuse(self, *, means: NDArray[np.float64], min_flow: float, hi: float) -> None:
        """Move load from heavy parts towards light ones along the least-squares flow.

        The flow on the graph of parts (parts joined where they touch) that evens the
        loads out with the smallest sum of squares solves a Laplacian system (Hu,
        Blake and Emerson 1998); it moves load across whole regions, which local
        recombinations cannot. Parts are visited from the highest potential down, so
        each hands on what it received; every hand-over recombines two neighbours,
        aiming at the flow, and only cuts that bring the giver nearer to it are kept.
        ``means`` is the load each part should carry; flows under ``min_flow`` are left.
        No hand-over makes the receiver heavier than ``hi`` or the giver, whichever is
        more: a part whose onward flow fails must not end as the heaviest.
        """
        a, b = self.labels[self._erow], self.labels[self._ecol]
        keep = (a != b) & (a >= 0) & (b >= 0)
        pairs = np.unique(np.sort(np.column_stack([a[keep], b[keep]]), axis=1), axis=0)
        if len(pairs) == 0:
            return
        n = self.n_parts
        ones = np.ones(len(pairs))
        adj = sp.coo_matrix((ones, (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        adj = (adj + adj.T).tocsr()
        lap = sp.diags(np.asarray(adj.sum(axis=1)).ravel() + 1e-9) - adj
        x = spsolve(lap.tocsc(), self.loads - means)
        flow = x[pairs[:, 0]] - x[pairs[:, 1]]
        src = np.where(flow > 0, pairs[:, 0], pairs[:, 1])
        dst = np.where(flow > 0, pairs[:, 1], pairs[:, 0])
        amount = np.abs(flow)
        for p in np.argsort(-x, kind="stable"):
            out = np.flatnonzero((src == p) & (amount >= min_flow))
            out = out[np.argsort(-amount[out], kind="stable")]
            for j, e in enumerate(out):
                if self.out_of_time():
                    return
                excess = float(self.loads[p] - means[p])
                if excess < min_flow:
                    break
                move = amount[e] * excess / float(amount[out[j:]].sum())
                q = int(dst[e])
                region = np.asarray([p, q], dtype=np.intp)
                top = max(hi, float(self.loads[p]))
                found = self.propose(
                    region, ceiling=top, floor=0.0, aim=float(self.loads[p]) - move
                )
                if found is None:
                    continue
                idx, new = found
                after = float(self.w[idx][new == p].sum())
                if abs(after - (self.loads[p] - move)) < move:
                    self.apply(idx, new)

    def _regions(self, p: int) -> list[NDArray[np.intp]]:
        """Regions around p: grown by the lightest neighbouring part first (light parts
        take load), and rings of neighbours (load stuck between heavy parts can leave
        through the parts around them)."""
        region = np.asarray([p], dtype=np.intp)
        light: list[NDArray[np.intp]] = []
        for size in REGION_SIZES:
            while len(region) < size:
                around = self.neighbours(region)
                if len(around) == 0:
                    break
                region = np.append(region, around[0])
            if len(region) == size:
                light.append(region.copy())
        rings: list[NDArray[np.intp]] = []
        ring = np.asarray([p], dtype=np.intp)
        for _ in range(2):
            around = self.neighbours(ring)[: RING_PARTS - len(ring)]
            if len(around) == 0:
                break
            ring = np.concatenate([ring, around])
            rings.append(ring)
        small = [r for r in light if len(r) < len(rings[0])] if rings else light
        seen: set[tuple[int, ...]] = set()
        out = []
        for r in [*small, *rings, *light]:
            key = tuple(sorted(r.tolist()))
            if len(r) > 2 and key not in seen:
                seen.add(key)
                out.append(r)
        return out

    def relieve(
        self, p: int, *, hi: float, lo: float, thorough: bool = True
    ) -> NDArray[np.intp] | None:
        """Lower part p's load; the parts changed, or None.

        First by recombining p with a light neighbour, then by an exact ejection chain
        (:func:`gis.ejection.find_chain`), then (``thorough``) by recombining a region
        around p, and at last with a heavier neighbour. No part ends heavier than p
        was, nor below ``lo`` unless one of those recombined already was.
        """
        top = float(self.loads[p])
        ceiling = top - max(_EPS, 1e-6 * top)
        pairs = [np.asarray([p, q], dtype=np.intp) for q in self.neighbours(np.asarray([p]))]
        light = [r for r in pairs if self.loads[r].mean() <= hi]
        if self._recombine(light, hi=hi, lo=lo, ceiling=ceiling):
            return self._last
        chain = find_chain(self._parts, p, ceiling=hi, floor=lo)
        if chain is not None:
            for unit, r in chain:
                self.apply(unit.vertices, np.full(len(unit.vertices), r, dtype=np.intp))
            return np.asarray([p, *(r for _, r in chain)], dtype=np.intp)
        if thorough and self._recombine(
            [*self._regions(p), *pairs[len(light) :]], hi=hi, lo=lo, ceiling=ceiling
        ):
            return self._last
        return None

    def _recombine(
        self, regions: list[NDArray[np.intp]], *, hi: float, lo: float, ceiling: float
    ) -> bool:
        """Recombine the first of ``regions`` that can be cut with every part under
        ``ceiling`` (under ``hi`` where the region can hold that); remember it."""
        for region in regions:
            if self.out_of_time():
                return False
            mean = float(self.loads[region].mean())
            if mean >= ceiling:
                continue
            floor = max(0.0, min(float(self.loads[region].min()), lo))
            # a pair within the target if it can hold it, else (and any larger region) at
            # least lighter than p: the target first seldom pays for more than two parts
            pair_fits = len(region) == 2 and mean <= hi
            for cap in (min(hi, ceiling), ceiling) if pair_fits else (ceiling,):
                found = self.propose(region, ceiling=cap, floor=floor)
                if found is not None:
                    self.apply(*found)
                    self._last = region
                    return True
        return False

    def push(self, *, hi: float, lo: float) -> None:
        """Recombine around the heaviest part above ``hi`` until none is left, no part
        can be relieved, or time is up. A part that cannot be relieved is set aside
        until a recombination next to it succeeds, twice at most."""
        stuck: set[int] = set()
        failed: dict[int, int] = {}
        while not self.out_of_time():
            over = np.flatnonzero(self.loads > hi + _EPS)
            over = over[~np.isin(over, list(stuck))]
            if len(over) == 0:
                return
            p = int(over[np.argmax(self.loads[over])])
            changed = self.relieve(p, hi=hi, lo=lo)
            if changed is None and p not in failed:
                changed = self._make_room(p, hi=hi, lo=lo)
            if changed is None:
                stuck.add(p)
                failed[p] = failed.get(p, 0) + 1
            else:
                near = set(changed.tolist()) | set(self.neighbours(changed).tolist())
                stuck -= {q for q in near if failed.get(q, 0) < MAX_FAILS}

    def _make_room(self, p: int, *, hi: float, lo: float) -> NDArray[np.intp] | None:
        """Move a unit out of p after relieving its receiver to make room for it.

        Where the parts around p are nearly full, no move out of p fits as things
        stand; a receiver lowered to ``hi`` less the unit's weight takes the unit.
        """
        excess = float(self.loads[p]) - hi
        bottom = min(lo, float(self.loads[p]))
        for unit in self._parts.units(p):
            if unit.weight < excess - _EPS:
                continue
            if float(self.loads[p]) - unit.weight < bottom - _EPS:
                break
            for r in unit.targets:
                room = hi - unit.weight
                if self.out_of_time() or room <= lo:
                    return None
                if self.loads[r] > room + _EPS:
                    self._lower(r, room=room, hi=hi, lo=lo)
                if self.loads[r] > room + _EPS:
                    continue
                for again in self._parts.units(p):  # p is as it was; its units may not be
                    if np.array_equal(again.vertices, unit.vertices) and r in again.targets:
                        self.apply(unit.vertices, np.full(len(unit.vertices), r, dtype=np.intp))
                        return np.asarray([p, r], dtype=np.intp)
        return None

    def _lower(self, r: int, *, room: float, hi: float, lo: float) -> bool:
        """Bring part r to ``room`` or under, its neighbours staying under ``hi``: by a
        recombination with a neighbour aimed there, or by an exact ejection chain."""
        start = float(self.loads[r])
        for q in self.neighbours(np.asarray([r])):
            if self.out_of_time() or self.loads[q] + start - room > hi:
                break  # neighbours come lightest first: the rest have less room still
            region = np.asarray([r, q], dtype=np.intp)
            found = self.propose(
                region, ceiling=hi, floor=lo, aim=max(lo, room - 0.5 * (room - lo))
            )
            if found is not None:
                idx, new = found
                if float(self.w[idx][new == r].sum()) <= room + _EPS:
                    self.apply(idx, new)
                    return True
        chain = find_chain(self._parts, r, ceiling=hi, floor=lo, start_ceiling=room)
        if chain is None:
            return False
        for unit, q in chain:
            self.apply(unit.vertices, np.full(len(unit.vertices), q, dtype=np.intp))
        return True

    def repair(self, *, hi: float, lo: float) -> None:
        """Bring parts still above ``hi`` under it by ejection chains of exact moves
        (:func:`gis.ejection.find_chain`), none taking a part below ``lo`` but the part
        relieved, which may go as low as the lightest part there is."""
        failed: set[int] = set()
        while not self.out_of_time():
            over = np.flatnonzero(self.loads > hi + _EPS)
            over = over[~np.isin(over, list(failed))]
            if len(over) == 0:
                return
            p = int(over[np.argmax(self.loads[over])])
            chain = find_chain(
                self._parts,
                p,
                ceiling=hi,
                floor=lo,
                start_floor=float(self.loads[self.loads > 0].min()),
            )
            if chain is None:
                failed.add(p)
                continue
            for unit, r in chain:
                self.apply(unit.vertices, np.full(len(unit.vertices), r, dtype=np.intp))

    def pull(self, *, lo: float, ceiling: float, max_tries: int) -> None:
        """Raise parts below ``lo``, the lightest first, never above ``ceiling``: by
        recombining one with a heavier neighbour, or by taking a unit of border segments
        from one (:meth:`gis.ejection.Parts.units`). Fairness for the lightest heads, not
        the target itself: ``max_tries`` and the deadline bound it."""
        stuck: set[int] = set()
        for _ in range(max_tries):
            if self.out_of_time():
                return
            under = np.flatnonzero((self.loads < lo - _EPS) & (self.loads > 0))
            under = under[~np.isin(under, list(stuck))]
            if len(under) == 0:
                return
            d = int(under[np.argmin(self.loads[under])])
            q = self._raise(d, ceiling=ceiling)
            if q is None:
                stuck.add(d)
            else:
                stuck -= {d, q}

    def _raise(self, d: int, *, ceiling: float) -> int | None:
        """Move load into part d from a heavier neighbour; that neighbour, or None."""
        low = float(self.loads[d])
        heavier = [int(q) for q in self.neighbours(np.asarray([d]))[::-1]]
        for q in heavier:
            region = np.asarray([d, q], dtype=np.intp)
            mean = float(self.loads[region].mean())
            if mean <= low + _EPS:
                break
            floor = low + min(1e-6 * mean, (mean - low) / 2)
            found = self.propose(region, ceiling=ceiling, floor=floor)
            if found is not None:
                self.apply(*found)
                return q
        for q in heavier:  # a unit whose move leaves both above d's load as it was
            top = float(self.loads[q])
            for unit in self._parts.units(q):
                if top - unit.weight <= low or low + unit.weight > ceiling:
                    break
                if d in unit.targets:
                    self.apply(unit.vertices, np.full(len(unit.vertices), d, dtype=np.intp))
                    return q
        return None
