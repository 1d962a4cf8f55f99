"""Places derived at load: the grid cell, community and street office a feature lies in,
and the nearest road segment, by bulk STRtree queries over the reference layers.

The reference layers (thousands of polygons and lines) are read once per load; the
features of each chunk are then placed in a few vectorised queries, so a million
problems need no per-row SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from sqlalchemy.engine import Connection

from db.queries import loads as q

Ints = NDArray[np.int64]
Geoms = NDArray[np.object_]
NONE = -1  # "no id" in the integer arrays below


@dataclass
class _Buckets:
    """Boxes registered in the square buckets they touch: candidate pairs for points."""

    x0: float
    y0: float
    size: float
    nx: int
    ny: int
    start: Ints
    entries: Ints

    @classmethod
    def build(cls, bounds: NDArray[np.float64], *, size: float) -> _Buckets:
        """Index boxes ``bounds`` (n x 4: minx, miny, maxx, maxy) in buckets of ``size``."""
        lox, loy, hix, hiy = bounds.T
        x0, y0 = float(lox.min()), float(loy.min())
        span = max(float(hix.max()) - x0, 1.0) * max(float(hiy.max()) - y0, 1.0)
        size = max(size, 1.0, float(np.sqrt(span / 4e6)))  # at most ~4 million buckets
        ix0 = ((lox - x0) // size).astype(np.int64)
        ix1 = ((hix - x0) // size).astype(np.int64)
        iy0 = ((loy - y0) // size).astype(np.int64)
        iy1 = ((hiy - y0) // size).astype(np.int64)
        nx, ny = int(ix1.max()) + 1, int(iy1.max()) + 1
        wide = ix1 - ix0 + 1
        counts = wide * (iy1 - iy0 + 1)
        item = np.repeat(np.arange(len(lox)), counts)
        k = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        bucket = (iy0[item] + k // wide[item]) * nx + ix0[item] + k % wide[item]
        order = np.lexsort((item, bucket))
        start = np.searchsorted(bucket[order], np.arange(nx * ny + 1))
        return cls(x0, y0, size, nx, ny, start, item[order])

    def candidates(
        self, x: NDArray[np.float64], y: NDArray[np.float64]
    ) -> tuple[NDArray[np.intp], Ints]:
        """(point, box) pairs whose bucket is shared, grouped by point in order."""
        with np.errstate(invalid="ignore"):
            ix = np.floor((x - self.x0) / self.size)
            iy = np.floor((y - self.y0) / self.size)
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        bucket = np.where(inside, iy * self.nx + ix, 0).astype(np.int64)
        first = self.start[bucket]
        count = np.where(inside, self.start[bucket + 1] - first, 0)
        total = int(count.sum())
        point = np.repeat(np.arange(len(x)), count)
        offset = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        return point, self.entries[np.repeat(first, count) + offset]


@dataclass
class _Layer:
    ids: Ints
    geoms: Geoms
    tree: shapely.STRtree
    buckets: _Buckets | None

    @classmethod
    def build(cls, ids: Ints, wkb: list[bytes | None]) -> _Layer:
        geoms = np.asarray(shapely.from_wkb(np.asarray(wkb, dtype=object)), dtype=object)
        keep = ~shapely.is_missing(geoms)
        geoms, ids = geoms[keep], ids[keep]
        shapely.prepare(geoms)
        buckets = None
        if len(geoms):
            bounds = shapely.bounds(geoms)
            extent = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
            buckets = _Buckets.build(bounds, size=float(np.median(extent)))
        return cls(ids=ids, geoms=geoms, tree=shapely.STRtree(geoms), buckets=buckets)

    def first_hit(self, points: Geoms) -> Ints:
        """Id of the lowest-id polygon covering each point (NONE where none does)."""
        out = np.full(len(points), NONE, dtype=np.int64)
        if len(self.ids) == 0 or len(points) == 0:
            return out
        pt, hit = self.tree.query(points, predicate="intersects")
        return _lowest(out, pt, self.ids[hit])

    def first_hit_xy(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> Ints:
        """:meth:`first_hit` for coordinates, without building point objects."""
        out = np.full(len(x), NONE, dtype=np.int64)
        if self.buckets is None or len(x) == 0:
            return out
        pt, item = self.buckets.candidates(x, y)
        hit = shapely.intersects_xy(self.geoms[item], x[pt], y[pt])
        return _lowest(out, pt[hit], self.ids[item[hit]])


def _lowest(out: Ints, pt: NDArray[np.intp], ids: Ints) -> Ints:
    """``out`` with, for each point in ``pt``, the lowest of its ``ids``."""
    if pt.size == 0:
        return out
    order = np.lexsort((ids, pt))
    pt, ids = pt[order], ids[order]
    first = np.r_[True, pt[1:] != pt[:-1]]
    out[pt[first]] = ids[first]
    return out


@dataclass
class Places:
    """Reference layers for placing features: cells, communities, street offices, segments."""

    area_ids: dict[str, int]  # 12-digit code -> id
    area_level: dict[int, str]
    parent: dict[int, int]  # area id -> parent area id
    communities: _Layer
    offices: _Layer
    cells: _Layer
    cell_community: dict[int, int]
    segments: _Layer
    segment_index: SegmentIndex | None = None

    @classmethod
    def read(cls, conn: Connection, *, segments: bool = False) -> Places:
        """Read the reference layers from the database (segments only when needed)."""
        areas = q.admin_areas(conn)
        cells = q.grid_cells(conn)
        segs = q.road_segments(conn) if segments else pd.DataFrame({"id": [], "wkb": []})

        def layer(frame: pd.DataFrame) -> _Layer:
            return _Layer.build(frame["id"].to_numpy(dtype=np.int64), list(frame["wkb"]))

        return cls(
            area_ids={str(c): int(i) for c, i in zip(areas["code"], areas["id"], strict=True)},
            area_level={int(i): str(lv) for i, lv in zip(areas["id"], areas["level"], strict=True)},
            parent={
                int(i): int(p)
                for i, p in zip(areas["id"], areas["parent_id"], strict=True)
                if pd.notna(p)
            },
            communities=layer(areas[areas["level"] == "community"]),
            offices=layer(areas[areas["level"] == "street_office"]),
            cells=layer(cells),
            cell_community={
                int(i): int(c)
                for i, c in zip(cells["id"], cells["community_id"], strict=True)
                if pd.notna(c)
            },
            segments=layer(segs),
        )

    def office_of(self, area_ids: Ints) -> Ints:
        """Street office of each area id (itself for a street office; NONE if unknown)."""
        out = np.full(len(area_ids), NONE, dtype=np.int64)
        for k, a in enumerate(area_ids.tolist()):
            level = self.area_level.get(a)
            if level == "street_office":
                out[k] = a
            elif level == "community":
                p = self.parent.get(a, NONE)
                out[k] = p if self.area_level.get(p) == "street_office" else NONE
        return out

    def ids_for_codes(
        self, codes: NDArray[np.object_], level: str
    ) -> tuple[Ints, NDArray[np.bool_]]:
        """Area ids of 12-digit codes at ``level``; also the mask of codes given but unknown."""
        out = np.full(len(codes), NONE, dtype=np.int64)
        unknown = np.zeros(len(codes), dtype=bool)
        for k, c in enumerate(codes.tolist()):
            if c is None:
                continue
            i = self.area_ids.get(c)
            if i is None or self.area_level.get(i) != level:
                unknown[k] = True
            else:
                out[k] = i
        return out, unknown

    def locate(self, points: Geoms) -> tuple[Ints, Ints, Ints]:
        """Cell, community and street office of each point (NONE where not found).

        The community comes from the cell, or from community polygons when the point
        is outside every cell; the street office from the community, or from street
        office polygons.
        """
        cell = self.cells.first_hit(points)
        community = _lookup(cell, self.cell_community)
        missing = community == NONE
        if missing.any():
            community[missing] = self.communities.first_hit(points[missing])
        office = _map_unique(community, self.office_of)
        missing = office == NONE
        if missing.any():
            office[missing] = self.offices.first_hit(points[missing])
        return cell, community, office

    def locate_xy(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[Ints, Ints, Ints]:
        """:meth:`locate` for coordinates (the path a million problem points take)."""
        cell = self.cells.first_hit_xy(x, y)
        community = _lookup(cell, self.cell_community)
        missing = community == NONE
        if missing.any():
            community[missing] = self.communities.first_hit_xy(x[missing], y[missing])
        office = _map_unique(community, self.office_of)
        missing = office == NONE
        if missing.any():
            office[missing] = self.offices.first_hit_xy(x[missing], y[missing])
        return cell, community, office

    def nearest_segment(
        self, points: Geoms, *, max_distance_m: float
    ) -> tuple[Ints, NDArray[np.float64]]:
        """Nearest segment id within ``max_distance_m`` and its distance (NaN when none).

        Ties go to the lowest segment id.
        """
        if len(self.segments.ids) == 0 or len(points) == 0:
            return np.full(len(points), NONE, dtype=np.int64), np.full(len(points), np.nan)
        index = self.segment_index
        if index is None or index.max_distance_m != max_distance_m:
            index = SegmentIndex.build(
                self.segments.ids, self.segments.geoms, max_distance_m=max_distance_m
            )
            self.segment_index = index
        xy = shapely.get_coordinates(points)
        return index.nearest(xy[:, 0], xy[:, 1])

    def nearest_segment_xy(
        self, x: NDArray[np.float64], y: NDArray[np.float64], *, max_distance_m: float
    ) -> tuple[Ints, NDArray[np.float64]]:
        """:meth:`nearest_segment` for coordinates."""
        if len(self.segments.ids) == 0 or len(x) == 0:
            return np.full(len(x), NONE, dtype=np.int64), np.full(len(x), np.nan)
        index = self.segment_index
        if index is None or index.max_distance_m != max_distance_m:
            index = SegmentIndex.build(
                self.segments.ids, self.segments.geoms, max_distance_m=max_distance_m
            )
            self.segment_index = index
        return index.nearest(x, y)


def _lookup(keys: Ints, table: dict[int, int]) -> Ints:
    uniq, inverse = np.unique(keys, return_inverse=True)
    values = np.fromiter((table.get(int(k), NONE) for k in uniq), dtype=np.int64, count=len(uniq))
    return values[inverse]


def _map_unique(keys: Ints, func: object) -> Ints:
    uniq, inverse = np.unique(keys, return_inverse=True)
    return func(uniq)[inverse]  # type: ignore[operator,no-any-return]


def representative_points(geoms: Geoms) -> Geoms:
    """A point on each feature: the point itself, the middle of a line, a point in a polygon."""
    out = np.asarray(shapely.point_on_surface(geoms), dtype=object)
    lines = np.isin(shapely.get_type_id(geoms), [1, 5])
    if lines.any():
        merged = shapely.line_merge(geoms[lines])
        single = shapely.get_type_id(merged) == 1
        mids = np.asarray(shapely.point_on_surface(geoms[lines]), dtype=object)
        mids[single] = shapely.line_interpolate_point(merged[single], 0.5, normalized=True)
        out[lines] = mids
    return out


@dataclass
class SegmentIndex:
    """Line edges in square buckets, for nearest-within-distance queries done in NumPy.

    Each edge is registered in every bucket its bounding box, grown by the search
    distance, touches; a point then only measures the edges of its own bucket. For
    a million points against thousands of segments this is several times faster than
    one GEOS nearest-neighbour query per point.
    """

    x1: NDArray[np.float64]
    y1: NDArray[np.float64]
    x2: NDArray[np.float64]
    y2: NDArray[np.float64]
    owner: Ints
    buckets: _Buckets
    max_distance_m: float

    @classmethod
    def build(cls, ids: Ints, geoms: Geoms, *, max_distance_m: float) -> SegmentIndex:
        """Index the lines ``geoms`` (their ids ``ids``)."""
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
        return cls(x1, y1, x2, y2, owner, _Buckets.build(bounds, size=d), d)

    def nearest(
        self, px: NDArray[np.float64], py: NDArray[np.float64], *, batch: int = 50_000
    ) -> tuple[Ints, NDArray[np.float64]]:
        """Owner id of the nearest edge within the distance, and the distance (NaN: none)."""
        seg = np.full(len(px), NONE, dtype=np.int64)
        dist = np.full(len(px), np.nan)
        for lo in range(0, len(px), batch):
            s, d = self._nearest(px[lo : lo + batch], py[lo : lo + batch])
            seg[lo : lo + batch], dist[lo : lo + batch] = s, d
        return seg, dist

    def _nearest(
        self, px: NDArray[np.float64], py: NDArray[np.float64]
    ) -> tuple[Ints, NDArray[np.float64]]:
        n = len(px)
        seg = np.full(n, NONE, dtype=np.int64)
        dist = np.full(n, np.nan)
        point, edge = self.buckets.candidates(px, py)
        if point.size == 0:
            return seg, dist
        d = _point_edge_distance(
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
        is_best = d == np.repeat(best, count[has])
        cand = np.flatnonzero(is_best & np.isfinite(d))
        pts = point[cand]
        keep = np.r_[True, pts[1:] != pts[:-1]]
        seg[pts[keep]] = self.owner[edge[cand[keep]]]
        dist[pts[keep]] = d[cand[keep]]
        return seg, dist


def _point_edge_distance(
    px: NDArray[np.float64],
    py: NDArray[np.float64],
    *,
    x1: NDArray[np.float64],
    y1: NDArray[np.float64],
    x2: NDArray[np.float64],
    y2: NDArray[np.float64],
) -> NDArray[np.float64]:
    dx, dy = x2 - x1, y2 - y1
    length2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = ((px - x1) * dx + (py - y1) * dy) / length2
    t = np.clip(np.nan_to_num(t, nan=0.0), 0.0, 1.0)
    ex, ey = x1 + t * dx - px, y1 + t * dy - py
    return np.sqrt(ex * ex + ey * ey)
