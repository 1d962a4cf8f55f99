"""Road segments (路段): centrelines cut between cross streets, named from them.

A street is cut where it meets another named *street* (a hutong entrance does not
end a segment: the rule is one segment between two cross streets, 一路段一街长). Very
short pieces (between the two carriageways of a cross street, say) join a neighbour;
very long ones are cut at about equal lengths, preferably where a lane comes in, and
the cut gets a name a person can find (``东四十条以北400米``). Lanes (小街巷/胡同) are
managed whole (一巷一人): they are cut only where they cross a street. Each segment is
named ``道路名（起点路—终点路）`` from the roads at its ends; an end that meets no road
is a dead end (尽头) or, where the road leaves the district, the district boundary
(e.g. 东城区界), so a name never has an empty end (``道路名（—终点路）``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from gis.crs import require_projected
from gis.errors import DataError

Kind = Literal["street", "lane"]

#: Road classes managed as lanes (小街巷/胡同), in Chinese and English.
LANE_CLASSES = frozenset({"胡同", "小街巷", "街巷", "小巷", "巷", "lane", "hutong", "alley"})

#: Importance of road classes, used to name a junction after its main road.
CLASS_RANK: dict[str, int] = {
    "快速路": 5,
    "expressway": 5,
    "motorway": 5,
    "主干路": 4,
    "trunk": 4,
    "primary": 4,
    "arterial": 4,
    "次干路": 3,
    "secondary": 3,
    "支路": 2,
    "tertiary": 2,
    "branch": 2,
    "胡同": 1,
    "小街巷": 1,
    "街巷": 1,
    "lane": 1,
    "hutong": 1,
    "alley": 1,
}

#: The name of a segment end that meets no other road.
DEAD_END = "尽头"


def classify_kind(
    road_class: pd.Series, *, lane_classes: Iterable[str] = LANE_CLASSES
) -> pd.Series:
    """``"lane"`` for lane classes (小街巷/胡同), ``"street"`` for everything else.

    >>> classify_kind(pd.Series(["主干路", "胡同", None])).tolist()
    ['street', 'lane', 'street']
    """
    lanes = {str(c).strip().lower() for c in lane_classes}
    is_lane = road_class.astype("string").str.strip().str.lower().isin(lanes).fillna(False)
    return pd.Series(np.where(is_lane, "lane", "street"), index=road_class.index)


def segment_label(road_name: object, from_name: object = None, to_name: object = None) -> str:
    """The notice-board name of a segment: ``道路名（起点路—终点路）``.

    Missing values (None, NaN, NA, "") count as no road: one missing end is a dead end
    (尽头), two make the road name alone.

    >>> segment_label("东四北大街", "东四十条", "张自忠路")
    '东四北大街（东四十条—张自忠路）'
    >>> segment_label("史家胡同", "东四南大街", None)
    '史家胡同（东四南大街—尽头）'
    >>> segment_label("青年湖西里", float("nan"), None)
    '青年湖西里'
    """
    name, start, end = (_text(v) for v in (road_name, from_name, to_name))
    if not start and not end:
        return name or ""
    return f"{name or ''}（{start or DEAD_END}—{end or DEAD_END}）"


def _text(value: object) -> str | None:
    """``value`` as text, or None when it is missing (None, NaN, NA, "")."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value) or None


@dataclass
class _Junction:
    pos: float
    name: str
    is_street: bool
    rank: int


@dataclass
class _Piece:
    a: float
    b: float
    start: str | None
    end: str | None

    @property
    def length(self) -> float:
        return self.b - self.a


def _direction(dx: float, dy: float) -> str:
    if abs(dx) >= abs(dy):
        return "东" if dx > 0 else "西"
    return "北" if dy > 0 else "南"


def _dedupe_coords(coords: NDArray[np.float64]) -> NDArray[np.float64]:
    keep = np.ones(len(coords), dtype=bool)
    keep[1:] = np.any(coords[1:] != coords[:-1], axis=1)
    return coords[keep]


class _Path:
    """A line as coordinates and cumulative distances, cut by distance."""

    def __init__(self, coords: NDArray[np.float64], *, ring: bool) -> None:
        coords = _dedupe_coords(coords)
        self.length = float(np.hypot(*np.diff(coords, axis=0).T).sum())
        if ring:  # walk round twice, so pieces may pass the ring's first vertex
            coords = np.vstack([coords, coords[1:]])
        self.coords = coords
        self.cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(coords, axis=0).T))])

    def point(self, d: float) -> tuple[float, float]:
        return (
            float(np.interp(d, self.cum, self.coords[:, 0])),
            float(np.interp(d, self.cum, self.coords[:, 1])),
        )

    def cut(self, a: float, b: float) -> shapely.LineString:
        inner = self.coords[(self.cum > a) & (self.cum < b)]
        return shapely.LineString(np.vstack([self.point(a), inner, self.point(b)]))


def _junctions(
    parts: NDArray[np.object_],
    owner: NDArray[np.intp],
    *,
    names: NDArray[np.object_],
    is_street: NDArray[np.bool_],
    rank: NDArray[np.int_],
    snap_m: float,
) -> pd.DataFrame:
    """Where each part meets a road of another name: part, position, the other road."""
    tree = shapely.STRtree(parts)
    i, j = tree.query(parts, predicate="dwithin", distance=snap_m)
    keep = names[owner[i]] != names[owner[j]]
    i, j = i[keep], j[keep]
    frames = []
    # crossings and touches
    inter = shapely.intersection(parts[i], parts[j])
    pts, k = shapely.get_parts(inter, return_index=True)
    lines = shapely.get_type_id(pts) == 1
    if lines.any():  # shared stretches: their ends are the junctions
        ends = shapely.boundary(pts[lines])
        epts, ek = shapely.get_parts(ends, return_index=True)
        pts = np.concatenate([pts[~lines], epts])
        k = np.concatenate([k[~lines], k[lines][ek]])
    frames.append((i[k], j[k], pts))
    # near misses: an end of one line stops just short of the other
    for which in (0, -1):
        end_j = shapely.get_point(parts[j], which)
        near = shapely.dwithin(parts[i], end_j, snap_m)
        frames.append((i[near], j[near], end_j[near]))
        end_i = shapely.get_point(parts[i], which)
        near_i = shapely.dwithin(parts[j], end_i, snap_m)
        frames.append((i[near_i], j[near_i], end_i[near_i]))
    ii = np.concatenate([f[0] for f in frames])
    jj = np.concatenate([f[1] for f in frames])
    pp = np.concatenate([f[2] for f in frames])
    pos = shapely.line_locate_point(parts[ii], pp)
    return pd.DataFrame(
        {
            "part": ii,
            "pos": pos,
            "name": names[owner[jj]],
            "is_street": is_street[owner[jj]],
            "rank": rank[owner[jj]],
        }
    )


def _cluster(junctions: list[_Junction], tol: float) -> list[list[_Junction]]:
    junctions = sorted(junctions, key=lambda j: j.pos)
    groups: list[list[_Junction]] = []
    for jn in junctions:
        if groups and jn.pos - groups[-1][-1].pos <= tol:
            groups[-1].append(jn)
        else:
            groups.append([jn])
    return groups


def _best(group: list[_Junction]) -> _Junction:
    return min(group, key=lambda j: (not j.is_street, -j.rank, j.name))


def _split_part(
    path: _Path,
    junctions: list[_Junction],
    *,
    ring: bool,
    kind: str,
    road_name: str,
    split_by: str,
    min_length_m: float,
    max_length_m: float | None,
) -> list[_Piece]:
    length = path.length
    tol = 1.0
    groups = _cluster(junctions, tol)
    if ring and len(groups) > 1 and groups[0][0].pos + length - groups[-1][-1].pos <= tol:
        groups[0] = groups[0] + groups.pop()
    cuts: list[tuple[float, str]] = []
    minor: list[tuple[float, str]] = []
    start_name: str | None = None
    end_name: str | None = None
    for g in groups:
        best = _best(g)
        cutter = [j for j in g if j.is_street or split_by == "all"]
        pos = float(np.mean([j.pos for j in g]))
        if not ring and pos <= tol:
            start_name = best.name
        elif not ring and pos >= length - tol:
            end_name = best.name
        elif cutter:
            cuts.append((pos, _best(cutter).name))
        else:
            minor.append((pos, best.name))
    pieces: list[_Piece] = []
    if ring:
        if not cuts:
            return [_Piece(0.0, length, None, None)]
        for (a, na), (b, nb) in zip(
            cuts, [*cuts[1:], (cuts[0][0] + length, cuts[0][1])], strict=True
        ):
            pieces.append(_Piece(a, b, na, nb))
    else:
        bounds = [(0.0, start_name), *cuts, (length, end_name)]
        pieces = [_Piece(a, b, na, nb) for (a, na), (b, nb) in itertools.pairwise(bounds)]
    pieces = _merge_short(pieces, min_length_m)
    if max_length_m is not None and kind == "street":
        pieces = [
            p
            for q in pieces
            for p in _split_long(path, q, minor, max_length_m=max_length_m, road_name=road_name)
        ]
    return pieces


def _merge_short(pieces: list[_Piece], min_length_m: float) -> list[_Piece]:
    pieces = list(pieces)
    while len(pieces) > 1:
        k = min(range(len(pieces)), key=lambda n: pieces[n].length)
        if pieces[k].length >= min_length_m:
            break
        left = pieces[k - 1].length if k > 0 else math.inf
        right = pieces[k + 1].length if k + 1 < len(pieces) else math.inf
        if left <= right:
            prev = pieces[k - 1]
            pieces[k - 1 : k + 1] = [_Piece(prev.a, pieces[k].b, prev.start, pieces[k].end)]
        else:
            nxt = pieces[k + 1]
            pieces[k : k + 2] = [_Piece(pieces[k].a, nxt.b, pieces[k].start, nxt.end)]
    return pieces


def _split_long(
    path: _Path,
    piece: _Piece,
    minor: list[tuple[float, str]],
    *,
    max_length_m: float,
    road_name: str,
) -> list[_Piece]:
    n = math.ceil(piece.length / max_length_m)
    if n <= 1:
        return [piece]
    step = piece.length / n
    inner = [(p, name) for p, name in minor if piece.a < p < piece.b]
    cuts: list[tuple[float, str]] = []
    for i in range(1, n):
        ideal = piece.a + i * step
        near = [(abs(p - ideal), p, name) for p, name in inner if abs(p - ideal) <= 0.3 * step]
        if near:
            _, p, name = min(near)
            cuts.append((p, name))
            continue
        # no lane entrance near: name the cut by its distance from the nearer named end
        if piece.start and (not piece.end or ideal - piece.a <= piece.b - ideal):
            ref_pos, ref = piece.a, piece.start
        elif piece.end:
            ref_pos, ref = piece.b, piece.end
        else:
            ref_pos, ref = piece.a, f"{road_name}起点"
        x0, y0 = path.point(ref_pos)
        x1, y1 = path.point(ideal)
        dist = round(abs(ideal - ref_pos) / 10.0) * 10
        cuts.append((ideal, f"{ref}以{_direction(x1 - x0, y1 - y0)}{dist:.0f}米"))
    bounds = [(piece.a, piece.start), *cuts, (piece.b, piece.end)]
    return [_Piece(a, b, na, nb) for (a, na), (b, nb) in itertools.pairwise(bounds)]


def segment_roads(
    roads: gpd.GeoDataFrame,
    *,
    name_col: str = "name",
    class_col: str = "road_class",
    code_col: str = "code",
    kind_col: str | None = "kind",
    min_length_m: float = 40.0,
    max_length_m: float | None = 800.0,
    split_by: Literal["streets", "all"] = "streets",
    snap_m: float = 2.0,
    lane_classes: Iterable[str] = LANE_CLASSES,
    boundary: shapely.Geometry | None = None,
    boundary_name: str = "区界",
) -> gpd.GeoDataFrame:
    """Cut road centrelines into segments between cross streets, and name them.

    Parameters
    ----------
    roads
        Named centrelines (LineString or MultiLineString) in a metric CRS.
    name_col, class_col, code_col, kind_col
        Columns with the road name, class (主干路, 胡同, ...), code and kind (street or
        lane). A missing code is made from the row number. A road is a lane when its
        kind or its class says so (see :func:`classify_kind`).
    min_length_m
        Pieces shorter than this join the shorter neighbour on the same road.
    max_length_m
        Streets longer than this are cut into equal parts, at a lane entrance where one
        is near; None never cuts by length. Lanes are never cut by length.
    split_by
        ``"streets"``: cut where a street of another name meets (the practice);
        ``"all"``: also where a lane meets.
    snap_m
        A road ending this close to another meets it (gaps in digitised data), or
        this close to the outline of ``boundary`` leaves the district there.
    lane_classes
        Road classes managed as lanes.
    boundary, boundary_name
        The district (a polygon, in the roads' CRS) and the name of its boundary: a
        road end on the outline, meeting no road, is named ``boundary_name`` instead
        of :data:`DEAD_END`.

    Returns
    -------
    GeoDataFrame
        ``code`` (road code + ``-`` + 3-digit number along the road), ``road_code``,
        ``road_name``, ``from_name``, ``to_name``, ``name`` (``道路名（起点路—终点路）``),
        ``road_class``, ``kind``, ``length_m``, geometry. An end meeting no road is
        ``boundary_name`` on the district's outline and :data:`DEAD_END` elsewhere, so
        ``from_name`` and ``to_name`` are both given, or both None for a road that
        meets no other road at all (named by its road name alone).

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> roads = gpd.GeoDataFrame(
    ...     {"code": ["a", "b", "c"], "name": ["东四北大街", "东四十条", "张自忠路"],
    ...      "road_class": ["主干路"] * 3},
    ...     geometry=[LineString([(0, 0), (0, 900)]), LineString([(-200, 300), (200, 300)]),
    ...               LineString([(-200, 600), (200, 600)])], crs=4548)
    >>> segment_roads(roads).query("road_code == 'a'").name.tolist()
    ['东四北大街（尽头—东四十条）', '东四北大街（东四十条—张自忠路）', '东四北大街（张自忠路—尽头）']
    >>> district = shapely.box(-500, 0, 500, 2000)  # the street starts on the boundary
    >>> segs = segment_roads(roads, boundary=district, boundary_name="东城区界")
    >>> segs.query("road_code == 'a'")[["from_name", "to_name"]].iloc[0].tolist()
    ['东城区界', '东四十条']
    """
    crs = require_projected(roads, func="segment_roads")
    for col in (name_col, class_col):
        if col not in roads.columns:
            msg = (
                f"segment_roads: column {col!r} not found; columns are {list(roads.columns)}; "
                f"pass {'name_col' if col == name_col else 'class_col'}="
            )
            raise DataError(msg)
    geoms = np.asarray(roads.geometry.values, dtype=object)
    types = shapely.get_type_id(geoms)
    bad = ~np.isin(types, (1, 2, 5)) | shapely.is_empty(geoms)
    if bad.any():
        msg = (
            f"segment_roads: {int(bad.sum())} roads are not lines (rows "
            f"{list(roads.index[bad][:5])}); give centrelines as LineString/MultiLineString"
        )
        raise DataError(msg)
    names = roads[name_col].astype("string").str.strip()
    if names.isna().any() or (names == "").any():
        unnamed = list(roads.index[names.isna() | (names == "")][:5])
        msg = f"segment_roads: roads without a name (rows {unnamed}); every road needs its name"
        raise DataError(msg)
    codes = (
        roads[code_col].astype(str)
        if code_col in roads.columns
        else pd.Series([f"R{i + 1:05d}" for i in range(len(roads))], index=roads.index)
    )
    kind = classify_kind(roads[class_col], lane_classes=lane_classes)
    if kind_col and kind_col in roads.columns:
        # a lane by its kind or by its class: a kind of "street" is often only a default
        given = roads[kind_col].astype("string").str.strip().str.lower()
        kind = pd.Series(np.where((given == "lane").fillna(False) | (kind == "lane"), "lane",
                                  "street"), index=roads.index)  # fmt: skip
    rclass = roads[class_col].astype("string")
    rank = np.array([CLASS_RANK.get(str(c).strip().lower(), 0) for c in rclass.fillna("")])

    rings = types == 2
    if rings.any():
        geoms = geoms.copy()
        geoms[rings] = shapely.linestrings(
            shapely.get_coordinates(geoms[rings], return_index=True)[0],
            indices=shapely.get_coordinates(geoms[rings], return_index=True)[1],
        )
    merged = shapely.line_merge(geoms)
    parts, owner = shapely.get_parts(merged, return_index=True)
    name_arr = names.to_numpy(dtype=object)
    is_street = (kind == "street").to_numpy()
    junc = _junctions(parts, owner, names=name_arr, is_street=is_street, rank=rank, snap_m=snap_m)
    order = np.argsort(junc["part"].to_numpy(), kind="stable")
    j_part = junc["part"].to_numpy()[order]
    j_pos = junc["pos"].to_numpy()[order].tolist()
    j_name = junc["name"].to_numpy(dtype=object)[order].tolist()
    j_street = junc["is_street"].to_numpy()[order].tolist()
    j_rank = junc["rank"].to_numpy()[order].tolist()
    starts = np.searchsorted(j_part, np.arange(len(parts) + 1))
    by_part = {
        p: [
            _Junction(j_pos[k], str(j_name[k]), bool(j_street[k]), int(j_rank[k]))
            for k in range(starts[p], starts[p + 1])
        ]
        for p in range(len(parts))
        if starts[p + 1] > starts[p]
    }
    rows: list[dict[str, object]] = []
    open_ends: list[tuple[int, str, float, float]] = []  # row, which end, x, y
    seq: dict[int, int] = {}
    kinds = kind.to_numpy()
    code_arr = codes.to_numpy(dtype=object)
    class_arr = [None if pd.isna(c) else str(c) for c in rclass]
    for p, (part, o) in enumerate(zip(parts, owner, strict=True)):
        coords = shapely.get_coordinates(part)
        ring = bool(shapely.is_closed(part)) and len(coords) > 3
        path = _Path(coords, ring=ring)
        if path.length == 0:
            continue
        pieces = _split_part(
            path,
            by_part.get(p, []),
            ring=ring,
            kind=str(kinds[o]),
            road_name=str(name_arr[o]),
            split_by=split_by,
            min_length_m=min_length_m,
            max_length_m=max_length_m,
        )
        for piece in pieces:
            seq[o] = seq.get(o, 0) + 1
            if piece.start is None:
                open_ends.append((len(rows), "from_name", *path.point(piece.a)))
            if piece.end is None:
                open_ends.append((len(rows), "to_name", *path.point(piece.b)))
            rows.append(
                {
                    "code": f"{code_arr[o]}-{seq[o]:03d}",
                    "road_code": code_arr[o],
                    "road_name": name_arr[o],
                    "from_name": piece.start,
                    "to_name": piece.end,
                    "road_class": class_arr[o],
                    "kind": str(kinds[o]),
                    "length_m": piece.length,
                    "geometry": path.cut(piece.a, piece.b),
                }
            )
    _name_open_ends(rows, open_ends, boundary=boundary, boundary_name=boundary_name, snap_m=snap_m)
    for row in rows:
        row["name"] = segment_label(row["road_name"], row["from_name"], row["to_name"])
    columns = [
        "code",
        "road_code",
        "road_name",
        "from_name",
        "to_name",
        "name",
        "road_class",
        "kind",
        "length_m",
        "geometry",
    ]
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=columns), geometry="geometry", crs=crs)


def _name_open_ends(
    rows: list[dict[str, object]],
    open_ends: list[tuple[int, str, float, float]],
    *,
    boundary: shapely.Geometry | None,
    boundary_name: str,
    snap_m: float,
) -> None:
    """Name the ends of segments that meet no road: the boundary, else a dead end.

    A segment with one named end gets a name for the other; a road that meets no road
    at all keeps two empty ends unless one lies on the boundary.
    """
    if not open_ends:
        return
    on_edge = np.zeros(len(open_ends), dtype=bool)
    if boundary is not None and not shapely.is_empty(boundary):
        outline = shapely.boundary(boundary) if shapely.get_dimensions(boundary) == 2 else boundary
        xy = np.array([(x, y) for _, _, x, y in open_ends], dtype=float)
        on_edge = shapely.dwithin(outline, shapely.points(xy), max(snap_m, 0.5))
    for (row, which, _, _), edge in zip(open_ends, on_edge, strict=True):
        if edge:
            rows[row][which] = boundary_name
    for row in {r for r, _, _, _ in open_ends}:
        ends = rows[row]
        if (ends["from_name"] is None) != (ends["to_name"] is None):
            ends["from_name"] = ends["from_name"] or DEAD_END
            ends["to_name"] = ends["to_name"] or DEAD_END


def locate_lines(
    lines: gpd.GeoDataFrame | gpd.GeoSeries, areas: gpd.GeoDataFrame, *, key: str = "code"
) -> pd.Series:
    """The ``key`` of the area holding the middle of each line (nearest area if none).

    >>> from shapely.geometry import LineString, box
    >>> areas = gpd.GeoDataFrame({"code": ["w", "e"]}, geometry=[box(0, 0, 10, 10),
    ...                          box(10, 0, 20, 10)], crs=4548)
    >>> lines = gpd.GeoSeries([LineString([(1, 5), (8, 5)]), LineString([(8, 5), (19, 5)]),
    ...                        LineString([(30, 5), (40, 5)])], crs=4548)
    >>> locate_lines(lines, areas).tolist()
    ['w', 'e', 'e']
    """
    require_projected(areas, func="locate_lines")
    geoms = np.asarray(lines.geometry.values, dtype=object)
    mids = shapely.line_interpolate_point(geoms, 0.5, normalized=True)
    area_geoms = np.asarray(areas.geometry.values, dtype=object)
    tree = shapely.STRtree(area_geoms)
    found = np.full(len(geoms), -1)
    pt, ar = tree.query(mids, predicate="intersects")
    found[pt[::-1]] = ar[::-1]
    missing = np.flatnonzero(found < 0)
    if len(missing):
        _, near = tree.query_nearest(mids[missing], all_matches=False)
        found[missing] = near
    keys = areas[key].to_numpy(dtype=object)
    return pd.Series(keys[found], index=lines.index, name=key)
