"""Places derived at load: the grid cell, community and street office a feature lies in,
and the nearest road segment, by bulk lookups over the reference layers.

The reference layers (thousands of polygons and lines) are read once per load and
indexed by :mod:`gis.locate`; the features of each chunk are then placed in a few
vectorised queries, so a million problems need no per-row SQL.

Grid cells have dates (``valid_from`` to ``valid_to``, both included): a problem goes
to the lowest-id cell holding it that is in force on its report date in the
deployment's time zone; other features to a cell in force today. The same rule,
in SQL, places problems again when a layer is regenerated
(:mod:`db.queries.regenerate`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from numpy.typing import NDArray
from sqlalchemy.engine import Connection

from db.queries import loads as q
from gis.locate import NONE, PolygonIndex, SegmentIndex, lowest_per_point

__all__ = ["NONE", "NO_DAY", "Places", "report_days", "representative_points"]

Ints = NDArray[np.int64]
Geoms = NDArray[np.object_]

#: "No date" among day numbers (days since 1970-01-01): judged as today.
NO_DAY = np.iinfo(np.int64).min
# open ends of a cell's dates, as day numbers
_EVER_BEFORE = NO_DAY // 2
_EVER_AFTER = np.iinfo(np.int64).max // 2


def _day_numbers(values: pd.Series, *, missing: int) -> Ints:
    # through NumPy, not pandas: a "forever" date such as 9999-12-31 is out of pandas' range
    days = np.array(values.tolist(), dtype="datetime64[D]")
    out = days.astype(np.int64)
    out[np.isnat(days)] = missing
    return out


def report_days(reported_at: pa.Array, *, tz: str) -> Ints:
    """Day number (days since 1970-01-01) of each report date in zone ``tz``, the way
    cells' dates are compared; :data:`NO_DAY` where there is no date."""
    if not pa.types.is_timestamp(reported_at.type):
        return np.full(len(reported_at), NO_DAY, dtype=np.int64)
    if isinstance(reported_at, pa.ChunkedArray):
        reported_at = reported_at.combine_chunks()
    unit = reported_at.type.unit
    if reported_at.type.tz is None:  # naive times are UTC instants (etl.values.timestamps)
        reported_at = reported_at.cast(pa.timestamp(unit, "UTC"))
    local = pc.local_timestamp(reported_at.cast(pa.timestamp(unit, tz)))
    days = local.cast(pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)
    out = np.full(len(days), NO_DAY, dtype=np.int64)
    valid = ~np.isnan(days.astype(float))
    out[valid] = days[valid].astype(np.int64)
    return out


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
    # first and last day in force of each cell of ``cells`` (in its order), and today
    cell_from: Ints | None = None
    cell_to: Ints | None = None
    today: int = 0

    @classmethod
    def read(
        cls, conn: Connection, *, segments: bool = False, today: dt.date | None = None
    ) -> Places:
        """Read the reference layers from the database (segments only when needed).

        ``today`` (in the deployment's zone; default: :func:`citygrid.clock.today`) is
        the day cells must be in force on for features that carry no date.
        """
        from citygrid import clock

        areas = q.admin_areas(conn)
        cells = q.grid_cells(conn)
        segs = q.road_segments(conn) if segments else pd.DataFrame({"id": [], "wkb": []})

        def layer(frame: pd.DataFrame) -> PolygonIndex:
            return PolygonIndex.build(frame["id"].to_numpy(dtype=np.int64), _geoms(frame))

        seg_geoms = _geoms(segs)
        seg_keep = ~shapely.is_missing(seg_geoms)
        cell_index = layer(cells)
        by_id = pd.DataFrame(
            {
                "f": _day_numbers(cells["valid_from"], missing=_EVER_BEFORE),
                "t": _day_numbers(cells["valid_to"], missing=_EVER_AFTER),
            },
            index=cells["id"].to_numpy(dtype=np.int64),
        ).reindex(cell_index.ids)
        dated = bool(((by_id.f != _EVER_BEFORE) | (by_id.t != _EVER_AFTER)).any())
        day = today or clock.today()

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
            cells=cell_index,
            cell_community={
                int(i): int(c)
                for i, c in zip(cells["id"], cells["community_id"], strict=True)
                if pd.notna(c)
            },
            segment_ids=segs["id"].to_numpy(dtype=np.int64)[seg_keep],
            segment_geoms=seg_geoms[seg_keep],
            cell_from=by_id.f.to_numpy(dtype=np.int64) if dated else None,
            cell_to=by_id.t.to_numpy(dtype=np.int64) if dated else None,
            today=int(np.datetime64(day, "D").astype(np.int64)),
        )

    def _in_force(self, item: NDArray[np.intp], day: Ints) -> NDArray[np.bool_]:
        """Whether cell ``item`` (position in ``cells``) is in force on ``day``, pairwise."""
        if self.cell_from is None or self.cell_to is None:
            return np.ones(len(item), dtype=bool)
        day = np.where(day == NO_DAY, self.today, day)
        return (self.cell_from[item] <= day) & (day <= self.cell_to[item])

    def cell_of(self, points: Geoms) -> Ints:
        """The lowest-id cell in force today holding each point (:data:`NONE`: none)."""
        index = self.cells
        out = np.full(len(points), NONE, dtype=np.int64)
        if self.cell_from is None or len(index.ids) == 0 or len(points) == 0:
            return index.first_hit(points)
        pt, item = index.tree.query(points, predicate="intersects")
        keep = self._in_force(item, np.full(len(pt), self.today, dtype=np.int64))
        return lowest_per_point(out, pt[keep], index.ids[item[keep]])

    def cell_of_xy(
        self, x: NDArray[np.float64], y: NDArray[np.float64], days: Ints | None = None
    ) -> Ints:
        """The lowest-id cell holding each point and in force on its day (``days``, day
        numbers; today where :data:`NO_DAY` or not given)."""
        index = self.cells
        if self.cell_from is None or index.buckets is None or len(x) == 0:
            return index.first_hit_xy(x, y)
        out = np.full(len(x), NONE, dtype=np.int64)
        day = np.full(len(x), NO_DAY, dtype=np.int64) if days is None else days
        pt, item = index.buckets.candidates(x, y)
        keep = self._in_force(item, day[pt])
        pt, item = pt[keep], item[keep]
        hit = shapely.intersects_xy(index.geoms[item], x[pt], y[pt])
        return lowest_per_point(out, pt[hit], index.ids[item[hit]])

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
        cell = self.cell_of(points)
        community = _lookup(cell, self.cell_community)
        missing = community == NONE
        if missing.any():
            community[missing] = self.communities.first_hit(points[missing])
        office = _map_unique(community, self.office_of)
        missing = office == NONE
        if missing.any():
            office[missing] = self.offices.first_hit(points[missing])
        return cell, community, office

    def locate_xy(
        self, x: NDArray[np.float64], y: NDArray[np.float64], *, days: Ints | None = None
    ) -> tuple[Ints, Ints, Ints]:
        """:meth:`locate` for coordinates (the path a million problem points take), with
        cells in force on ``days`` (day numbers, e.g. :func:`report_days`)."""
        cell = self.cell_of_xy(x, y, days)
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
