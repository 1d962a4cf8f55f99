"""Ejection chains: exact single moves that bring a part within a load ceiling.

The last step of :func:`gis.partition.balanced_partition`, for a part the
recombinations of :mod:`gis.recombination` left just above the ceiling. A part sheds
one *unit*: a vertex on its border, with whatever would be cut off from the rest of
the part without it (so the part stays connected), to a neighbouring part the vertex
touches (so that part stays connected). If the receiver ends above the ceiling, it
sheds a unit of its own to a third part, and so on: an ejection chain (Glover 1996).
Chains are searched shortest first, units lightest first, each move exact, no locked
vertex moved, every part in the chain kept within the floor and the ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

_EPS = 1e-9


@dataclass(frozen=True)
class Unit:
    """Vertices a part can give away whole, and the parts that could take them."""

    vertices: NDArray[np.intp]
    weight: float
    targets: tuple[int, ...]
    #: Two units bound for the same part are moved together; each hangs on by its own.
    groups: tuple[NDArray[np.intp], ...] = ()

    @property
    def pieces(self) -> int:
        """How many units move together (1 or 2)."""
        return max(len(self.groups), 1)


@dataclass(frozen=True)
class _Local:
    """A part's own graph: its vertices, their neighbours inside it, what they border."""

    vertices: list[int]
    nbrs: list[list[int]]  # positions in ``vertices``
    border: dict[int, set[int]]  # position -> other parts it touches


@dataclass
class Parts:
    """The state a chain is searched in: the graph, the weights, labels and loads.

    Parts are small (a few dozen segments), so their own graphs are walked in plain
    Python, kept until :meth:`forget` is told a part changed.
    """

    indptr: NDArray[np.intp]
    indices: NDArray[np.intp]
    w: NDArray[np.float64]
    labels: NDArray[np.intp]
    lock: NDArray[np.intp]
    loads: NDArray[np.float64]
    _locals: dict[int, _Local] = field(default_factory=dict, repr=False)
    _units: dict[int, list[Unit]] = field(default_factory=dict, repr=False)

    def forget(self, parts: NDArray[np.intp]) -> None:
        """Drop what was worked out for ``parts``, whose vertices changed."""
        for q in parts.tolist():
            self._locals.pop(q, None)
            self._units.pop(q, None)

    def local(self, q: int) -> _Local:
        """Part q's own graph."""
        if q not in self._locals:
            mine = np.flatnonzero(self.labels == q).tolist()
            pos = {v: i for i, v in enumerate(mine)}
            nbrs: list[list[int]] = [[] for _ in mine]
            border: dict[int, set[int]] = {}
            for i, v in enumerate(mine):
                for u in self.indices[self.indptr[v] : self.indptr[v + 1]].tolist():
                    j = pos.get(u)
                    if j is not None:
                        nbrs[i].append(j)
                    elif self.labels[u] >= 0:
                        border.setdefault(i, set()).add(int(self.labels[u]))
            self._locals[q] = _Local(mine, nbrs, border)
        return self._locals[q]

    def units(self, q: int) -> list[Unit]:
        """Every unit part q could shed, lightest first."""
        if q in self._units:
            return self._units[q]
        part = self.local(q)
        n = len(part.vertices)
        out = []
        for i, targets in part.border.items() if n > 1 else ():
            if self.lock[part.vertices[i]] >= 0:
                continue
            comps = _components(part.nbrs, skip={i})
            heavy = max(comps, key=lambda c: sum(self.w[part.vertices[j]] + _EPS for j in c))
            unit = [part.vertices[i]] + [
                part.vertices[j] for c in comps if c is not heavy for j in c
            ]
            vertices = np.asarray(unit, dtype=np.intp)
            if (self.lock[vertices] >= 0).any():
                continue
            out.append(Unit(vertices, float(self.w[vertices].sum()), tuple(sorted(targets))))
        self._units[q] = sorted(out, key=lambda u: u.weight)
        return self._units[q]

    def connected_without(self, q: int, removed: set[int]) -> bool:
        """Whether part q stays connected once the vertices ``removed`` leave it."""
        part = self.local(q)
        skip = {i for i, v in enumerate(part.vertices) if v in removed}
        if len(skip) == len(part.vertices):
            return False
        return len(_components(part.nbrs, skip=skip)) == 1

    def attach(self, unit: Unit, r: int) -> list[set[int]]:
        """Vertices of part r that hold ``unit`` to r once moved, one set per unit moved:
        r must keep at least one vertex of each set."""
        out = []
        for group in unit.groups or (unit.vertices,):
            touching = np.concatenate(
                [self.indices[self.indptr[v] : self.indptr[v + 1]] for v in group]
            )
            out.append({int(u) for u in touching if self.labels[u] == r})
        return out


def find_chain(
    parts: Parts,
    p: int,
    *,
    ceiling: float,
    floor: float,
    start_ceiling: float | None = None,
    start_floor: float | None = None,
    max_moves: int = 5,
    budget: int = 400,
) -> list[tuple[Unit, int]] | None:
    """Moves (unit, to part) that bring part p to or under ``ceiling``, or None.

    Every part on the chain ends between ``floor`` and ``ceiling`` (a part already
    under ``floor`` is not taken lower); p itself under ``start_ceiling`` and, if it
    must shed much, down to ``start_floor`` when given. Chains of one move are tried first, then two,
    up to ``max_moves``; ``budget`` bounds the units looked at in each round.

    Examples
    --------
    A path 0-1-2-3-4-5 in parts [0, 0, 0, 0, 1, 1] with unit weights: part 0 sheds
    vertex 3 to part 1.

    >>> import scipy.sparse as sp
    >>> adj = sp.diags([1.0, 1.0], [-1, 1], shape=(6, 6)).tocsr()
    >>> labels = np.array([0, 0, 0, 0, 1, 1])
    >>> parts = Parts(adj.indptr, adj.indices, np.ones(6), labels, np.full(6, -1),
    ...               np.array([4.0, 2.0]))
    >>> [(u.vertices.tolist(), r) for u, r in find_chain(parts, 0, ceiling=3.0, floor=0.0)]
    [([3], 1)]
    """
    search = _Search(parts, ceiling=ceiling, floor=floor, start=int(p))
    if start_ceiling is not None:
        search.start_ceiling = start_ceiling
    if start_floor is not None:
        search.start_floor = min(search.start_floor, start_floor)
    for depth in range(1, max_moves + 1):
        search.left = budget
        found = search.run(int(p), 0.0, [], {int(p)}, depth)
        if found is not None:
            return found
    return None


class _Search:
    """Depth-first search for an ejection chain of at most a given number of moves."""

    def __init__(self, parts: Parts, *, ceiling: float, floor: float, start: int) -> None:
        self.parts = parts
        self.ceiling = ceiling
        self.floor = floor
        self.start = start
        self.start_floor = min(floor, float(parts.loads[start]))
        self.start_ceiling = ceiling
        self.cache: dict[int, list[Unit]] = {}
        self.whole: dict[tuple[int, ...], bool] = {}
        self.left = 0

    def units(self, q: int) -> list[Unit]:
        """q's units, and pairs of them bound for the same part, lightest first."""
        if q not in self.cache:
            singles = self.parts.units(q)
            both = []
            for i, a in enumerate(singles):
                for b in singles[i + 1 :]:
                    common = tuple(sorted(set(a.targets) & set(b.targets)))
                    if common and not np.isin(a.vertices, b.vertices).any():
                        vertices = np.concatenate([a.vertices, b.vertices])
                        groups = (a.vertices, b.vertices)
                        both.append(Unit(vertices, a.weight + b.weight, common, groups))
            self.cache[q] = sorted([*singles, *both], key=lambda u: u.weight)
        return self.cache[q]

    def keeps_together(self, q: int, unit: Unit) -> bool:
        """Whether q stays connected without ``unit`` (a single unit always does)."""
        if unit.pieces == 1:
            return True
        key = (q, *unit.vertices.tolist())
        if key not in self.whole:
            self.whole[key] = self.parts.connected_without(q, set(key[1:]))
        return self.whole[key]

    def run(
        self, q: int, gained: float, held: list[set[int]], seen: set[int], moves: int
    ) -> list[tuple[Unit, int]] | None:
        """Part q, having received ``gained`` (held by the vertices ``held``), sheds a
        unit; None if no chain of at most ``moves`` moves gets everyone within limits."""
        loads, ceiling = self.parts.loads, self.ceiling
        now = float(loads[q]) + gained
        bottom = self.start_floor if q == self.start else min(self.floor, float(loads[q]))
        top = self.start_ceiling if q == self.start else ceiling
        for unit in self.units(q):
            if unit.weight < now - top - _EPS:
                continue  # too light to bring q under the ceiling
            if now - unit.weight < bottom - _EPS:
                break  # the rest are heavier still
            if _cuts_off(held, unit.vertices):
                continue  # it would cut off what q just received
            self.left -= 1
            if self.left < 0:
                return None
            if not self.keeps_together(q, unit):
                continue
            fits = [r for r in unit.targets if r not in seen]
            for r in fits:
                if loads[r] + unit.weight <= ceiling + _EPS:
                    return [(unit, r)]
            if moves <= 1:
                continue
            for r in sorted(fits, key=lambda r: float(loads[r])):
                held_r = self.parts.attach(unit, r)
                rest = self.run(r, unit.weight, held_r, seen | {r}, moves - 1)
                if rest is not None:
                    return [(unit, r), *rest]
        return self.two_units(q, now=now, bottom=bottom, top=top, held=held, seen=seen)

    def two_units(
        self,
        q: int,
        *,
        now: float,
        bottom: float,
        top: float,
        held: list[set[int]],
        seen: set[int],
    ) -> list[tuple[Unit, int]] | None:
        """Two units of q, each taken by a neighbour with room, when no single one is
        heavy enough; q must stay connected (and hold on to what it received)."""
        loads, ceiling = self.parts.loads, self.ceiling
        units = [u for u in self.units(q) if u.pieces == 1]
        for i, a in enumerate(units):
            for b in units[i + 1 :]:
                weight = a.weight + b.weight
                if weight < now - top - _EPS or now - weight < bottom - _EPS:
                    continue
                both = set(a.vertices.tolist()) | set(b.vertices.tolist())
                if len(both) < len(a.vertices) + len(b.vertices) or _cuts_off(held, both):
                    continue
                self.left -= 1
                if self.left < 0:
                    return None
                room = {r: ceiling - float(loads[r]) for r in {*a.targets, *b.targets} - seen}
                for ra in (r for r in a.targets if room.get(r, -1.0) >= a.weight - _EPS):
                    for rb in (r for r in b.targets if r in room):
                        need = b.weight + (a.weight if rb == ra else 0.0)
                        if room[rb] >= need - _EPS and self.parts.connected_without(q, both):
                            return [(a, ra), (b, rb)]
        return None


def _cuts_off(held: list[set[int]], leaving: NDArray[np.intp] | set[int]) -> bool:
    """Whether the vertices ``leaving`` take with them all that holds some unit received."""
    gone = set(leaving.tolist()) if isinstance(leaving, np.ndarray) else leaving
    return any(h <= gone for h in held)


def _components(nbrs: list[list[int]], *, skip: set[int]) -> list[list[int]]:
    """Connected pieces of a small graph (adjacency lists) without the vertices ``skip``."""
    seen = set(skip)
    out = []
    for start in range(len(nbrs)):
        if start in seen:
            continue
        seen.add(start)
        piece, stack = [start], [start]
        while stack:
            for j in nbrs[stack.pop()]:
                if j not in seen:
                    seen.add(j)
                    piece.append(j)
                    stack.append(j)
        out.append(piece)
    return out
