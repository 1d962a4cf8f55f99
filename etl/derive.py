"""Places derived at load: the grid cell, community and street office a feature lies in,
and the nearest road segment, by bulk lookups over the reference layers.

The reference layers (thousands of polygons and lines) are read once per load and
indexed by :mod:`gis.locate`; the features of each chunk are then placed in a few
vectorised queries, so a million problems need no per-row SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from sqlalchemy.engine import Connection

from db.queries import loads as q
from gis.locate import NONE, PolygonIndex, SegmentIndex

__all__ = ["NONE", "Places", "representative_points"]

Ints = NDArray[np.int64]
Geoms = NDArray[np.object_]


@dataclass
class Places:
    """Reference layers for placing features: cells, communities, street offices, segments."""

    area_ids: dict[str, int]  # 12-digit code -> id
    area_level: dict[int, str]
    parent: dict[int, int]  # area id -> parent area id
    communities: PolygonIndex
    offices: PolygonIndex
    cells: PolygonIndex
    cell_community: dict[int, int]
    segment_ids: Ints
    segment_geoms: Geoms
    segment_index: SegmentIndex | None = None

    @classmethod
    def read(cls, conn: Connection, *, segments: bool = False) -> Places:
        """Read the reference layers from the database (segments only when needed)."""
        areas = q.admin_areas(conn)
        cells = q.grid_cells(conn)
        segs = q.road_segments(conn) if segments else pd.DataFrame({"id": [], "wkb": []})

        def layer(frame: pd.DataFrame) -> PolygonIndex:
            return PolygonIndex.build(frame["id"].to_numpy(dtype=np.int64), _geoms(frame))

        seg_geoms = _geoms(segs)
        seg_keep = ~shapely.is_missing(seg_geoms)

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
            segment_ids=segs["id"].to_numpy(dtype=np.int64)[seg_keep],
            segment_geoms=seg_geoms[seg_keep],
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

    def nearest_segment_xy(
        self, x: NDArray[np.float64], y: NDArray[np.float64], *, max_distance_m: float
    ) -> tuple[Ints, NDArray[np.float64]]:
        """Nearest segment id within ``max_distance_m`` of each point, and its distance
        (NaN when none); ties go to the lowest segment id."""
        if len(self.segment_ids) == 0 or len(x) == 0:
            return np.full(len(x), NONE, dtype=np.int64), np.full(len(x), np.nan)
        index = self.segment_index
        if index is None or index.max_distance_m != max_distance_m:
            index = SegmentIndex.build(
                self.segment_ids, self.segment_geoms, max_distance_m=max_distance_m
            )
            self.segment_index = index
        return index.nearest(x, y)


def _geoms(frame: pd.DataFrame) -> Geoms:
    wkb = np.asarray(list(frame["wkb"]), dtype=object)
    return np.asarray(shapely.from_wkb(wkb), dtype=object)


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
