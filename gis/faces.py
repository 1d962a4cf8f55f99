"""Faces of a polygon cut by lines: noding, polygonizing, shared borders, merging.

Every tiling in CityGrid (communities around their centres, unit grid cells, blocks
between roads) is built the same way: the outline and the cutting lines are noded
together and polygonized into faces, each face gets a label, and labels are merged.
Faces made this way share their edges vertex for vertex, so neighbours are found by
matching edges (no geometric predicates) and unions are exact, which is what makes
"no gaps, no overlaps" hold by construction rather than by tolerance.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from gis.errors import DataError

Geoms = NDArray[np.object_]
Ints = NDArray[np.intp]
Floats = NDArray[np.float64]


def polygonize_within(extent: BaseGeometry, lines: Sequence[BaseGeometry] | Geoms) -> Geoms:
    """Faces of ``extent`` (a Polygon or MultiPolygon) cut by ``lines``.

    Lines may stick out of the extent or end inside it (dead ends): only closed faces
    inside the extent are returned. Holes stay holes.

    >>> from shapely.geometry import LineString, box
    >>> faces = polygonize_within(box(0, 0, 10, 10), [LineString([(5, -1), (5, 11)])])
    >>> sorted(float(a) for a in shapely.area(faces))
    [50.0, 50.0]
    """
    cuts = np.asarray(lines, dtype=object)
    if len(cuts):
        cuts = cuts[~shapely.is_empty(cuts) & ~shapely.is_missing(cuts)]
        # Lines are cut to the extent's box first: noding far-away linework is wasted work.
        cuts = shapely.clip_by_rect(cuts, *shapely.buffer(extent, 1.0).bounds)
    linework = np.concatenate([np.array([shapely.boundary(extent)], dtype=object), cuts])
    try:
        noded = shapely.union_all(linework)
    except shapely.errors.GEOSException:
        noded = shapely.union_all(linework, grid_size=1e-4)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    if len(faces) == 0:
        return np.empty(0, dtype=object)
    inside = shapely.contains(extent, shapely.point_on_surface(faces))
    return np.asarray(faces[inside], dtype=object)


def shared_borders(faces: Geoms) -> sp.csr_matrix:
    """Symmetric matrix of the border length each pair of faces shares.

    Faces must come from one noding (such as :func:`polygonize_within`), so that a
    shared border consists of identical edges in both faces.

    >>> from shapely.geometry import box
    >>> shared_borders(np.array([box(0, 0, 1, 1), box(1, 0, 2, 1), box(5, 5, 6, 6)])).toarray()
    array([[0., 1., 0.],
           [1., 0., 0.],
           [0., 0., 0.]])
    """
    n = len(faces)
    if n == 0:
        return sp.csr_matrix((0, 0))
    rings, ring_face = shapely.get_rings(faces, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same = ring_of[1:] == ring_of[:-1]
    a = coords[:-1][same]
    b = coords[1:][same]
    owner = ring_face[ring_of[:-1][same]]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    p = np.where(swap[:, None], b, a)
    q = np.where(swap[:, None], a, b)
    order = np.lexsort((q[:, 1], q[:, 0], p[:, 1], p[:, 0]))
    p, q, owner = p[order], q[order], owner[order]
    dup = np.all(p[1:] == p[:-1], axis=1) & np.all(q[1:] == q[:-1], axis=1)
    i = owner[:-1][dup]
    j = owner[1:][dup]
    keep = i != j
    i, j = i[keep], j[keep]
    length = np.hypot(*(q[:-1][dup][keep] - p[:-1][dup][keep]).T)
    m = sp.coo_matrix((length, (i, j)), shape=(n, n)).tocsr()
    return (m + m.T).tocsr()


def group_borders(labels: Ints, borders: sp.csr_matrix, n_groups: int) -> sp.csr_matrix:
    """Border lengths between groups of faces (``labels[i]`` is face ``i``'s group).

    >>> import scipy.sparse as sp
    >>> b = sp.csr_matrix(np.array([[0, 1.0, 2.0], [1.0, 0, 3.0], [2.0, 3.0, 0]]))
    >>> group_borders(np.array([0, 0, 1]), b, 2).toarray()
    array([[0., 5.],
           [5., 0.]])
    """
    coo = borders.tocoo()
    r = labels[coo.row]
    c = labels[coo.col]
    keep = r != c
    # coo -> csr sums the duplicate (row, col) entries: the groups' total borders
    return sp.coo_matrix((coo.data[keep], (r[keep], c[keep])), shape=(n_groups, n_groups)).tocsr()


def merge_small(
    areas: Floats,
    borders: sp.csr_matrix,
    *,
    min_area: float,
    force: NDArray[np.bool_] | None = None,
    protect: NDArray[np.bool_] | None = None,
) -> Ints:
    """Merge groups smaller than ``min_area`` into the neighbour sharing most border.

    The smallest group goes first, and a merged group that is still too small keeps
    merging. Groups with no neighbour stay as they are. ``force`` marks groups that
    merge whatever their area (thin strips); ``protect`` marks groups that may receive
    others but are never merged away themselves.

    Returns the surviving group of every input group.

    >>> import scipy.sparse as sp
    >>> b = sp.csr_matrix(np.array([[0, 2.0, 0], [2.0, 0, 1.0], [0, 1.0, 0]]))
    >>> merge_small(np.array([1.0, 10.0, 10.0]), b, min_area=5.0).tolist()
    [1, 1, 2]
    """
    n = len(areas)
    parent = np.arange(n)
    area = np.asarray(areas, dtype=float).copy()
    coo = sp.triu(borders, k=1).tocoo()
    adj: list[dict[int, float]] = [{} for _ in range(n)]
    for i, j, w in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True):
        adj[i][j] = adj[i].get(j, 0.0) + w
        adj[j][i] = adj[j].get(i, 0.0) + w
    keep = np.zeros(n, dtype=bool) if protect is None else np.asarray(protect, dtype=bool)
    must = np.zeros(n, dtype=bool) if force is None else np.asarray(force, dtype=bool).copy()
    heap = [
        (float(area[g]), g) for g in range(n) if (area[g] < min_area or must[g]) and not keep[g]
    ]
    heapq.heapify(heap)
    while heap:
        a, g = heapq.heappop(heap)
        small = area[g] < min_area or must[g]
        if parent[g] != g or a != area[g] or not small or not adj[g]:
            continue
        h = max(adj[g].items(), key=lambda kv: (kv[1], -kv[0]))[0]
        parent[g] = h
        must[g] = False
        area[h] += area[g]
        for k, w in adj[g].items():
            if k == h:
                continue
            adj[h][k] = adj[h].get(k, 0.0) + w
            adj[k][h] = adj[k].get(h, 0.0) + w
            del adj[k][g]
        del adj[h][g]
        adj[g] = {}
        if area[h] < min_area and not keep[h]:
            heapq.heappush(heap, (float(area[h]), h))
    # path compression: every group points at its surviving root
    while True:
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            return parent
        parent = nxt


def connected_parts(labels: Ints, borders: sp.csr_matrix) -> Ints:
    """Split labels into connected parts: faces with one label that touch share a part.

    >>> import scipy.sparse as sp
    >>> b = sp.csr_matrix(np.array([[0, 1.0, 0], [1.0, 0, 0], [0, 0, 0]]))
    >>> connected_parts(np.array([0, 0, 0]), b).tolist()
    [0, 0, 1]
    """
    coo = borders.tocoo()
    same = labels[coo.row] == labels[coo.col]
    n = len(labels)
    inner = sp.coo_matrix((np.ones(int(same.sum())), (coo.row[same], coo.col[same])), shape=(n, n))
    _, part = sp.csgraph.connected_components(inner, directed=False)
    return np.asarray(part, dtype=np.intp)


def absorb_detached(
    labels: Ints, areas: Floats, borders: sp.csr_matrix, *, anchor: Ints | None = None
) -> Ints:
    """Give every detached piece of a label to the neighbour it shares most border with.

    A label keeps the connected part holding its ``anchor`` face (by default its
    largest part); other parts join a neighbouring label. Parts with no neighbour
    (islands) keep their label.

    >>> import scipy.sparse as sp
    >>> b = sp.csr_matrix(np.array([[0, 1.0, 0], [1.0, 0, 1.0], [0, 1.0, 0]]))
    >>> absorb_detached(np.array([0, 1, 0]), np.array([5.0, 5.0, 1.0]), b).tolist()
    [0, 1, 1]
    """
    labels = np.asarray(labels, dtype=np.intp).copy()
    if len(labels) == 0:
        return labels
    for _ in range(len(labels) + 1):
        part = connected_parts(labels, borders)
        n_parts = int(part.max()) + 1
        part_area = np.bincount(part, weights=areas, minlength=n_parts)
        part_label = np.zeros(n_parts, dtype=np.intp)
        part_label[part] = labels
        main = np.zeros(n_parts, dtype=bool)
        if anchor is None:
            order = np.lexsort((-part_area, part_label))
            first = np.ones(n_parts, dtype=bool)
            first[1:] = part_label[order][1:] != part_label[order][:-1]
            main[order[first]] = True
        else:
            main[part[anchor]] = True
            has_anchor = np.zeros(int(labels.max()) + 1, dtype=bool)
            has_anchor[part_label[main]] = True
            main |= ~has_anchor[part_label]
        pb = group_borders(part, borders, n_parts).tocoo()
        moving = ~main[pb.row] & (part_label[pb.row] != part_label[pb.col])
        if not moving.any():
            return labels
        rows, cols, w = pb.row[moving], pb.col[moving], pb.data[moving]
        # the longest border wins; ties go to the smaller part index for determinism
        order = np.lexsort((cols, -w, rows))
        first = np.ones(len(order), dtype=bool)
        first[1:] = rows[order][1:] != rows[order][:-1]
        src = rows[order][first]
        dst = cols[order][first]
        target = np.full(n_parts, -1)
        target[src] = part_label[dst]
        # Move first the detached parts that border a kept part, so that chains of
        # detached parts resolve from the outside in.
        go = np.zeros(n_parts, dtype=bool)
        go[src[main[dst]]] = True
        if not go.any():
            go[src] = True
        move = go[part]
        labels[move] = target[part[move]]
    msg = "absorb_detached did not converge"
    raise DataError(msg)


def dissolve(faces: Geoms, labels: Ints, n_groups: int) -> Geoms:
    """Union of the faces of each group (exact, faces share edges); empty if none."""
    out = np.full(n_groups, shapely.Polygon(), dtype=object)
    if len(faces) == 0:
        return out
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    bounds = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1], True])
    for s, e in itertools.pairwise(bounds):
        members = faces[order[s:e]]
        g = int(sorted_labels[s])
        if len(members) == 1:
            out[g] = members[0]
            continue
        try:
            out[g] = shapely.coverage_union_all(members)
        except shapely.errors.GEOSException:
            out[g] = shapely.union_all(members)
    return out
