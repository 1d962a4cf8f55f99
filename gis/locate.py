"""Where points are: the polygon holding each point and the nearest line within a distance.

Both lookups are built once over a reference layer (thousands of grid cells or road
segments) and then answer for millions of points in a few vectorised passes. Boxes
are registered in square buckets (:class:`Buckets`); a point is then tested only
against what shares its bucket, with coordinates as NumPy arrays, so no shapely
point object is made per point. For a million points against thousands of
segments this is several times faster than one GEOS nearest-neighbour query per
point, and gives the same answers.

Ids are integers; :data:`NONE` (-1) means "none found". Ties go to the lowest id.
Coordinates are in one metric CRS (the caller's working CRS).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Geoms = NDArray[np.object_]

#: "No id" in the integer arrays returned here.
NONE = -1

_MAX_BUCKETS = 4e6


@dataclass(frozen=True)
class Buckets:
    """Boxes registered in the square buckets they touch: candidate (point, box) pairs.

    Build with :meth:`build`; :meth:`candidates` lists, for each point, the boxes
    registered in its bucket (a superset of the boxes that hold it).

    Examples
    --------
    >>> b = Buckets.build(np.array([[0.0, 0, 10, 10], [20, 0, 30, 10]]), size_m=10.0)
    >>> pt, box = b.candidates(np.array([5.0, 25.0, 99.0]), np.array([5.0, 5.0, 5.0]))
    >>> pt.tolist(), box.tolist()
    ([0, 1], [0, 1])
    """

    x0: float
    y0: float
    size_m: float
    nx: int
    ny: int
    start: Ints
    entries: Ints

    @classmethod
    def build(cls, bounds: Floats, *, size_m: float) -> Buckets:
        """Index boxes ``bounds`` (n x 4: minx, miny, maxx, maxy) in buckets of ``size_m``.

        The bucket side grows when ``size_m`` would make more than about four million
        buckets over the boxes' extent.
        """
        bounds = np.asarray(bounds, dtype=float).reshape(-1, 4)
        if len(bounds) == 0:
            return cls(0.0, 0.0, 1.0, 1, 1, np.zeros(2, dtype=np.int64), np.zeros(0, np.int64))
        lox, loy, hix, hiy = bounds.T
        x0, y0 = float(lox.min()), float(loy.min())
        span = max(float(hix.max()) - x0, 1.0) * max(float(hiy.max()) - y0, 1.0)
        size = max(float(size_m), 1.0, float(np.sqrt(span / _MAX_BUCKETS)))
        ix0 = ((lox - x0) // size).astype(np.int64)
        ix1 = ((hix - x0) // size).astype(np.int64)
        iy0 = ((loy - y0) // size).astype(np.int64)
        iy1 = ((hiy - y0) // size).astype(np.int64)
        nx, ny = int(ix1.max()) + 1, int(iy1.max()) + 1
        wide = ix1 - ix0 + 1
        counts = wide * (iy1 - iy0 + 1)
        item = np.repeat(np.arange(len(lox), dtype=np.int64), counts)
        k = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        bucket = (iy0[item] + k // wide[item]) * nx + ix0[item] + k % wide[item]
        order = np.lexsort((item, bucket))
        start = np.searchsorted(bucket[order], np.arange(nx * ny + 1)).astype(np.int64)
        return cls(x0, y0, size, nx, ny, start, item[order])

    def candidates(self, x: Floats, y: Floats) -> tuple[NDArray[np.intp], Ints]:
        """(point, box) pairs whose bucket is shared, grouped by point in order.

        Within a point, boxes come in the order they were given to :meth:`build`.
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        with np.errstate(invalid="ignore"):
            ix = np.floor((x - self.x0) / self.size_m)
            iy = np.floor((y - self.y0) / self.size_m)
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        bucket = np.where(inside, iy * self.nx + ix, 0).astype(np.int64)
        first = self.start[bucket]
        count = np.where(inside, self.start[bucket + 1] - first, 0)
        total = int(count.sum())
        point = np.repeat(np.arange(len(x)), count)
        offset = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        return point, self.entries[np.repeat(first, count) + offset]


@dataclass(frozen=True)
class PolygonIndex:
    """Polygons with integer ids, for "which polygon holds this point" in bulk.

    Examples
    --------
    >>> cells = PolygonIndex.build(np.array([7, 3]), np.array(
    ...     [shapely.box(0, 0, 10, 10), shapely.box(5, 0, 15, 10)]))
    >>> cells.first_hit_xy(np.array([1.0, 7.0, 14.0, 50.0]), np.array([1.0, 1.0, 1.0, 1.0]))
    array([ 7,  3,  3, -1])
    >>> cells.first_hit(shapely.points([1.0, 7.0], [1.0, 1.0])).tolist()
    [7, 3]
    """

    ids: Ints
    geoms: Geoms
    tree: shapely.STRtree
    buckets: Buckets | None

    @classmethod
    def build(cls, ids: Ints, geoms: Geoms) -> PolygonIndex:
        """Index ``geoms`` (their ``ids``); missing geometries are left out.

        The geometries are prepared for repeated tests (``shapely.prepare``, which
        changes no coordinate); the arrays given are not changed.
        """
        geoms = np.asarray(geoms, dtype=object)
        ids = np.asarray(ids, dtype=np.int64)
        keep = ~shapely.is_missing(geoms)
        geoms, ids = geoms[keep], ids[keep]
        shapely.prepare(geoms)
        buckets = None
        if len(geoms):
            bounds = shapely.bounds(geoms)
            extent = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
            buckets = Buckets.build(bounds, size_m=float(np.median(extent)))
        return cls(ids=ids, geoms=geoms, tree=shapely.STRtree(geoms), buckets=buckets)

    def first_hit(self, points: Geoms) -> Ints:
        """Id of the lowest-id polygon covering each point (:data:`NONE` where none does)."""
        points = np.asarray(points, dtype=object)
        out = np.full(len(points), NONE, dtype=np.int64)
        if len(self.ids) == 0 or len(points) == 0:
            return out
        pt, hit = self.tree.query(points, predicate="intersects")
        return lowest_per_point(out, pt, self.ids[hit])

    def first_hit_xy(self, x: Floats, y: Floats) -> Ints:
        """:meth:`first_hit` for coordinates, without building point objects."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        out = np.full(len(x), NONE, dtype=np.int64)
        if self.buckets is None or len(x) == 0:
            return out
        pt, item = self.buckets.candidates(x, y)
        hit = shapely.intersects_xy(self.geoms[item], x[pt], y[pt])
        return lowest_per_point(out, pt[hit], self.ids[item[hit]])


def lowest_per_point(out: Ints, pt: NDArray[np.intp], ids: Ints) -> Ints:
    """``out`` with, for each point in ``pt``, the lowest of its ``ids``."""
    if pt.size == 0:
        return out
    order = np.lexsort((ids, pt))
    pt, ids = pt[order], ids[order]
    first = np.r_[True, pt[1:] != pt[:-1]]
    out[pt[first]] = ids[first]
    return out


@dataclass(frozen=True)
class SegmentIndex:
    """Line edges in square buckets, for nearest-within-distance queries in NumPy.

    Each straight edge of the lines is registered in every bucket its bounding box,
    grown by ``max_distance_m``, touches; a point then measures only the edges of its
    own bucket.

    Examples
    --------
    >>> lines = np.array([shapely.LineString([(0, 0), (100, 0)]),
    ...                   shapely.LineString([(0, 30), (100, 30)])])
    >>> index = SegmentIndex.build(np.array([11, 12]), lines, max_distance_m=20.0)
    >>> seg, dist = index.nearest(np.array([50.0, 50.0, 50.0]), np.array([5.0, 15.0, 80.0]))
    >>> seg.tolist(), dist.round(1).tolist()
    ([11, 11, -1], [5.0, 15.0, nan])
    """

    x1: Floats
    y1: Floats
    x2: Floats
    y2: Floats
    owner: Ints
    buckets: Buckets
    max_distance_m: float

    @classmethod
    def build(cls, ids: Ints, geoms: Geoms, *, max_distance_m: float) -> SegmentIndex:
        """Index the lines ``geoms`` (LineString or MultiLineString; their ``ids``)."""
        geoms = np.asarray(geoms, dtype=object)
        ids = np.asarray(ids, dtype=np.int64)
        parts, part_owner = shapely.get_parts(geoms, return_index=True)
        coords, coord_part = shapely.get_coordinates(parts, return_index=True)
        same = coord_part[1:] == coord_part[:-1]
        x1, y1 = coords[:-1][same, 0], coords[:-1][same, 1]
        x2, y2 = coords[1:][same, 0], coords[1:][same, 1]
        owner = ids[part_owner[coord_part[:-1][same]]]
        d = float(max_distance_m)
        bounds = np.column_stack(
            [
                np.minimum(x1, x2) - d,
                np.minimum(y1, y2) - d,
                np.maximum(x1, x2) + d,
                np.maximum(y1, y2) + d,
            ]
        )
        return cls(x1, y1, x2, y2, owner, Buckets.build(bounds, size_m=d), d)

    def nearest(self, x: Floats, y: Floats, *, batch: int = 50_000) -> tuple[Ints, Floats]:
        """Id of the nearest line within the distance, and the distance (NaN: none).

        Points go ``batch`` at a time, so memory stays bounded for any number of them.
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        seg = np.full(len(x), NONE, dtype=np.int64)
        dist = np.full(len(x), np.nan)
        for lo in range(0, len(x), batch):
            s, d = self._nearest(x[lo : lo + batch], y[lo : lo + batch])
            seg[lo : lo + batch], dist[lo : lo + batch] = s, d
        return seg, dist

    def _nearest(self, px: Floats, py: Floats) -> tuple[Ints, Floats]:
        n = len(px)
        seg = np.full(n, NONE, dtype=np.int64)
        dist = np.full(n, np.nan)
        point, edge = self.buckets.candidates(px, py)
        if point.size == 0:
            return seg, dist
        d = point_edge_distance(
            px[point],
            py[point],
            x1=self.x1[edge],
            y1=self.y1[edge],
            x2=self.x2[edge],
            y2=self.y2[edge],
        )
        d[d > self.max_distance_m] = np.inf
        count = np.bincount(point, minlength=n)
        has = count > 0
        starts = (np.cumsum(count) - count)[has]
        best = np.minimum.reduceat(d, starts)
        is_best = (d == np.repeat(best, count[has])) & np.isfinite(d)
        cand = np.flatnonzero(is_best)
        pts, owners = point[cand], self.owner[edge[cand]]
        order = np.lexsort((owners, pts))  # ties: the lowest id
        pts, owners, cand = pts[order], owners[order], cand[order]
        keep = np.r_[True, pts[1:] != pts[:-1]]
        seg[pts[keep]] = owners[keep]
        dist[pts[keep]] = d[cand[keep]]
        return seg, dist


def point_edge_distance(
    px: Floats, py: Floats, *, x1: Floats, y1: Floats, x2: Floats, y2: Floats
) -> Floats:
    """Distance from each point to the straight edge (x1, y1)-(x2, y2) of the same row.

    >>> point_edge_distance(np.array([5.0, -3.0]), np.array([4.0, 0.0]), x1=np.zeros(2),
    ...                     y1=np.zeros(2), x2=np.array([10.0, 10.0]), y2=np.zeros(2)).tolist()
    [4.0, 3.0]
    """
    dx, dy = x2 - x1, y2 - y1
    length2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = ((px - x1) * dx + (py - y1) * dy) / length2
    t = np.clip(np.nan_to_num(t, nan=0.0), 0.0, 1.0)
    ex, ey = x1 + t * dx - px, y1 + t * dy - py
    return np.asarray(np.sqrt(ex * ex + ey * ey), dtype=float)
