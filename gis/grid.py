"""Unit grid cells (单元网格): tiling communities into cells of about 10,000 m².

A community is first cut along road centrelines into blocks (when roads are given);
blocks too small or too thin to stand alone rejoin a neighbour, so a road only splits
cells where sizes stay sane. Each block is then cut into ``round(area / target)``
pieces of about equal area by a centroidal Voronoi tessellation, detached pieces and
slivers join the neighbour they share most border with, and cells are numbered
west→east, north→south within their community. All pieces come from one noding, so
the cells tile each community exactly; :func:`check_tiling` verifies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from gis.crs import require_projected
from gis.errors import DataError
from gis.faces import (
    Floats,
    Geoms,
    absorb_detached,
    dissolve,
    group_borders,
    merge_small,
    polygonize_within,
    shared_borders,
)
from gis.voronoi import centroidal_seeds, faces_holding, voronoi_faces

CodeScheme = Literal["14", "15", "15an"]

_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MAX_SEQ = {"14": 99, "15": 999, "15an": 36**3 - 1}


def _merge_pieces(
    faces: Geoms, *, min_area_m2: float, min_width_m: float, anchor: NDArray[np.intp] | None
) -> Geoms:
    """Merge slivers (small or thin faces) into neighbours; return the merged pieces."""
    if len(faces) <= 1:
        return faces
    areas = shapely.area(faces)
    borders = shared_borders(faces)
    width = 2.0 * areas / np.maximum(shapely.length(faces), 1e-9)
    labels = np.arange(len(faces))
    if anchor is not None:
        labels = absorb_detached(labels, areas, borders, anchor=anchor)
    n = int(labels.max()) + 1
    group_area = np.asarray(np.bincount(labels, weights=areas, minlength=n), dtype=float)
    gb = group_borders(labels, borders, n)
    thin = np.zeros(n, dtype=bool)
    thin[labels] = width < min_width_m
    root = merge_small(group_area, gb, min_area=min_area_m2, force=thin)
    final = root[labels]
    _, final = np.unique(final, return_inverse=True)
    return dissolve(faces, final, int(final.max()) + 1)


def _tile_block(block: BaseGeometry, *, target_area_m2: float, min_area_m2: float) -> Geoms:
    n = max(1, round(block.area / target_area_m2))
    if n == 1:
        return np.array([block], dtype=object)
    seeds = centroidal_seeds(block, n)
    faces, label = voronoi_faces(seeds, block)
    areas = shapely.area(faces)
    detached = len(faces) > len(np.unique(label))
    if not detached and areas.min() >= min_area_m2:
        return faces  # the usual case: one face per cell, none too small
    borders = shared_borders(faces)
    if detached:
        # Faces of one Voronoi region are one piece unless the block's shape cut it: the
        # piece holding the seed keeps the cell, the others join their neighbours.
        label = absorb_detached(label, areas, borders, anchor=faces_holding(faces, seeds))
    n_lab = int(label.max()) + 1
    root = merge_small(
        np.asarray(np.bincount(label, weights=areas, minlength=n_lab), dtype=float),
        group_borders(label, borders, n_lab),
        min_area=min_area_m2,
    )
    final = root[label]
    _, final = np.unique(final, return_inverse=True)
    return dissolve(faces, final, int(final.max()) + 1)


def _join_islands(blocks: Geoms, *, min_area_m2: float) -> Geoms:
    """Small pieces that touch nothing (islands of a multipolygon) join the nearest
    block, making a multi-part cell rather than a cell of a few square metres."""
    small = shapely.area(blocks) < min_area_m2
    if not small.any() or small.all():
        return blocks
    big = np.flatnonzero(~small)
    tree = shapely.STRtree(blocks[big])
    src, nearest = tree.query_nearest(blocks[small], all_matches=False)
    out = blocks[big].copy()
    for s, t in zip(np.flatnonzero(small)[src].tolist(), nearest.tolist(), strict=True):
        out[t] = shapely.union(out[t], blocks[s])
    return np.asarray(out, dtype=object)


def _tile_community(
    area: BaseGeometry,
    roads: Geoms,
    *,
    target_area_m2: float,
    min_area_m2: float,
    min_width_m: float,
) -> Geoms:
    blocks = polygonize_within(area, roads)
    if len(blocks) == 0:
        return np.empty(0, dtype=object)
    blocks = _merge_pieces(blocks, min_area_m2=min_area_m2, min_width_m=min_width_m, anchor=None)
    blocks = _join_islands(blocks, min_area_m2=min_area_m2)
    cells = [_tile_block(b, target_area_m2=target_area_m2, min_area_m2=min_area_m2) for b in blocks]
    return np.concatenate(cells)


def max_sequence(scheme: CodeScheme) -> int:
    """The most cells one community can number under ``scheme``.

    >>> max_sequence("14"), max_sequence("15"), max_sequence("15an")
    (99, 999, 46655)
    """
    return _MAX_SEQ[scheme]


def sequence_codes(n: int, *, scheme: CodeScheme, start: int = 1) -> list[str]:
    """The last digits of ``n`` cell codes in one community, in numbering order.

    Numbering starts at ``start`` (after the sequences a community already used, when
    old codes must not be given to new cells); a community that is one cell numbered
    from the start is ``00`` under scheme 14.

    >>> sequence_codes(1, scheme="14"), sequence_codes(3, scheme="15")
    (['00'], ['001', '002', '003'])
    >>> sequence_codes(2, scheme="15an")[-1], sequence_codes(37, scheme="15an")[-1]
    ('002', '011')
    >>> sequence_codes(2, scheme="14", start=7)
    ['07', '08']
    """
    last = start + n - 1
    if last > _MAX_SEQ[scheme]:
        msg = (
            f"sequence_codes: {n} cells numbered from {start} reach {last}, but code scheme "
            f"{scheme} allows at most {_MAX_SEQ[scheme]}; use a larger target area or scheme 15"
        )
        raise DataError(msg)
    if scheme == "14":
        return ["00"] if (n, start) == (1, 1) else [f"{i:02d}" for i in range(start, last + 1)]
    if scheme == "15":
        return [f"{i:03d}" for i in range(start, last + 1)]
    return [_B36[i // 1296] + _B36[(i // 36) % 36] + _B36[i % 36] for i in range(start, last + 1)]


def sequence_number(code: str, *, scheme: CodeScheme) -> int | None:
    """The sequence number of a cell code under ``scheme`` (None if it does not follow it).

    >>> sequence_number("110101001001017", scheme="15"), sequence_number("11010100100100", scheme="14")
    (17, 0)
    >>> sequence_number("11010100100A", scheme="15an") is None
    True
    """
    width = 2 if scheme == "14" else 3
    if len(code) != 12 + width:
        return None
    tail = code[12:]
    if scheme == "15an":
        if any(ch not in _B36 for ch in tail):
            return None
        return _B36.index(tail[0]) * 1296 + _B36.index(tail[1]) * 36 + _B36.index(tail[2])
    return int(tail) if tail.isdigit() else None


def reading_order(geoms: Geoms, *, row_height_m: float) -> NDArray[np.intp]:
    """Order of cells west→east within rows, rows north→south (by representative point).

    >>> from shapely.geometry import box
    >>> cells = np.array([box(10, 0, 20, 10), box(0, 0, 10, 10), box(0, 10, 10, 20)])
    >>> reading_order(cells, row_height_m=10).tolist()
    [2, 1, 0]
    """
    xy = shapely.get_coordinates(shapely.point_on_surface(geoms))
    top = shapely.total_bounds(geoms)[3]
    row = np.floor((top - xy[:, 1]) / row_height_m)
    # ties (same row, same x) go north first, then by area: never by input order
    return np.lexsort((shapely.area(geoms), -xy[:, 1], xy[:, 0], row))


def grid_cells(
    communities: gpd.GeoDataFrame,
    *,
    code_col: str = "code",
    target_area_m2: float = 10_000.0,
    min_area_share: float = 0.35,
    min_width_m: float = 20.0,
    scheme: CodeScheme = "15",
    roads: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    fit_scheme: bool = False,
    first_sequence: Mapping[str, int] | None = None,
    name_col: str = "name",
) -> gpd.GeoDataFrame:
    """Tile every community with unit grid cells of about ``target_area_m2``.

    Parameters
    ----------
    communities
        Community polygons (holes and several parts allowed) in a metric CRS, with
        their 12-digit codes in ``code_col``.
    target_area_m2
        Intended cell area; cells come out between about 0.5 and 1.5 times it.
    min_area_share
        Pieces smaller than this share of the target join a neighbour (slivers).
    min_width_m
        Pieces thinner on average (twice area over perimeter) join a neighbour too.
    scheme
        Code scheme: ``"14"`` (community code + 2 digits, ``00`` for a community that
        is one cell), ``"15"`` (+ 3 digits) or ``"15an"`` (+ 3 characters ``[0-9A-Z]``),
        numbered west→east, north→south.
    roads
        Optional centrelines to split cells along, where the pieces stay large enough.
    fit_scheme
        When a community needs more cells than the scheme can number (99 under
        scheme 14), enlarge its target area just enough to fit, instead of refusing.
    first_sequence
        Community code -> first sequence number to use (default 1), so that new cells
        do not take the codes of old ones.
    name_col
        Column of community names, used in messages when present.

    Returns
    -------
    GeoDataFrame
        ``code``, ``community_code``, ``area_m2`` and the cell geometry;
        ``attrs["fitted"]`` maps each community whose target area ``fit_scheme``
        enlarged to the area used.

    Raises
    ------
    DataError
        Among others, in one line for all of them, when communities need more cells
        than the scheme numbers and ``fit_scheme`` is off.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> c = gpd.GeoDataFrame({"code": ["110101001001"]}, geometry=[box(0, 0, 300, 200)],
    ...                      crs=4548)
    >>> cells = grid_cells(c)
    >>> len(cells), cells.code.iloc[0], round(float(cells.area_m2.sum()))
    (6, '110101001001001', 60000)
    """
    crs = require_projected(communities, func="grid_cells")
    if code_col not in communities.columns:
        msg = (
            f"grid_cells: column {code_col!r} not found; columns are "
            f"{list(communities.columns)}; pass code_col="
        )
        raise DataError(msg)
    if target_area_m2 <= 0:
        msg = f"grid_cells: target_area_m2 must be positive, got {target_area_m2}"
        raise DataError(msg)
    if scheme not in _MAX_SEQ:
        msg = f"grid_cells: unknown code scheme {scheme!r}; use 14, 15 or 15an"
        raise DataError(msg)
    codes = communities[code_col].astype(str)
    bad = ~codes.str.fullmatch(r"\d{12}")
    if bad.any():
        msg = (
            f"grid_cells: community codes must have 12 digits; got {list(codes[bad][:5])}; "
            "use the statistical division code (统计用区划代码)"
        )
        raise DataError(msg)
    if codes.duplicated().any():
        msg = f"grid_cells: community codes repeat: {sorted(set(codes[codes.duplicated()]))[:5]}"
        raise DataError(msg)
    geoms = np.asarray(communities.geometry.values, dtype=object)
    kinds = shapely.get_type_id(geoms)
    if not np.isin(kinds, (3, 6)).all() or shapely.is_empty(geoms).any():
        msg = "grid_cells: every community needs a non-empty Polygon or MultiPolygon"
        raise DataError(msg)
    invalid = ~shapely.is_valid(geoms)
    geoms = geoms.copy()
    geoms[invalid] = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)

    road_geoms: Geoms = np.empty(0, dtype=object)
    if roads is not None:
        if roads.crs is not None and roads.crs != communities.crs:
            roads = roads.to_crs(crs)
        road_geoms = np.asarray(roads.geometry.values, dtype=object)
        road_geoms = road_geoms[~shapely.is_empty(road_geoms)]
    tree = shapely.STRtree(road_geoms) if len(road_geoms) else None

    names = (
        communities[name_col].astype(str).tolist()
        if name_col in communities.columns
        else [""] * len(codes)
    )
    first = dict(first_sequence or {})
    out_geoms: list[Geoms] = []
    out_codes: list[str] = []
    out_comm: list[str] = []
    fitted: dict[str, float] = {}
    too_many: list[tuple[str, str, int, int]] = []
    for code, name, area in zip(codes.tolist(), names, geoms, strict=True):
        lines = road_geoms[tree.query(area, predicate="intersects")] if tree else road_geoms
        start = max(1, int(first.get(code, 1)))
        room = _MAX_SEQ[scheme] - start + 1
        target = target_area_m2
        cells = _tile_community(
            area,
            lines,
            target_area_m2=target,
            min_area_m2=min_area_share * target,
            min_width_m=min_width_m,
        )
        if fit_scheme and room > 0 and len(cells) > room:
            cells, target = _fit(
                area,
                lines,
                room=room,
                target_area_m2=target,
                min_area_share=min_area_share,
                min_width_m=min_width_m,
            )
            fitted[code] = target
        if len(cells) > room:
            too_many.append((code, name, len(cells), room))
            continue
        cells = cells[reading_order(cells, row_height_m=float(np.sqrt(target)))]
        out_geoms.append(cells)
        out_codes.extend(code + s for s in sequence_codes(len(cells), scheme=scheme, start=start))
        out_comm.extend([code] * len(cells))
    if too_many:
        raise DataError(_too_many_message(too_many, scheme=scheme, target_area_m2=target_area_m2))
    allcells = np.concatenate(out_geoms) if out_geoms else np.empty(0, dtype=object)
    result = gpd.GeoDataFrame(
        {"code": out_codes, "community_code": out_comm, "area_m2": shapely.area(allcells)},
        geometry=gpd.GeoSeries(allcells, crs=crs),
    )
    problems = check_tiling(result, communities.assign(**{code_col: codes}), community_key=code_col)
    if len(problems):
        msg = (
            f"grid_cells: the cells do not tile the communities: {problems.to_dict('records')[:3]}"
        )
        raise DataError(msg)
    result.attrs["fitted"] = fitted
    return result


def _fit(
    area: BaseGeometry,
    lines: Geoms,
    *,
    room: int,
    target_area_m2: float,
    min_area_share: float,
    min_width_m: float,
) -> tuple[Geoms, float]:
    """The community's cells at the smallest target area (to within 1%) that gives at
    most ``room`` cells, and that area.

    The count falls as the target grows, but not smoothly (blocks between roads each
    keep at least one cell), so the area is found by doubling, then bisection.
    """

    def tile(target: float) -> Geoms:
        return _tile_community(
            area,
            lines,
            target_area_m2=target,
            min_area_m2=min_area_share * target,
            min_width_m=min_width_m,
        )

    low, high = target_area_m2, target_area_m2 * 2.0
    cells = tile(high)
    while len(cells) > room:
        if high > 4.0 * area.area:  # every block has merged into one: no larger area helps
            return cells, high
        low, high = high, high * 2.0
        cells = tile(high)
    while high - low > 0.01 * low:
        mid = 0.5 * (low + high)
        trial = tile(mid)
        if len(trial) > room:
            low = mid
        else:
            high, cells = mid, trial
    return cells, high


def _too_many_message(
    found: list[tuple[str, str, int, int]], *, scheme: CodeScheme, target_area_m2: float
) -> str:
    """One line: which communities need more cells than the scheme numbers, and the fixes."""
    found = sorted(found, key=lambda f: f[3] - f[2])
    code, name, need, room = found[0]
    who = f"{code}{f' {name}' if name else ''}"
    numbered = (
        f"at most {_MAX_SEQ[scheme]} cells per community"
        if room == _MAX_SEQ[scheme]
        else f"only {max(room, 0)} more cells there"
    )
    others = ""
    if len(found) > 1:
        listed = ", ".join(f"{c} ({n} cells)" for c, _, n, _ in found[1:4])
        more = f" and {len(found) - 4} more" if len(found) > 4 else ""
        others = f" (also {listed}{more})"
    # the area at which the worst community's cells would about fit
    fits = max(target_area_m2 * n / max(r, 1) for _, _, n, r in found)
    fits = float(np.ceil(fits * 1.05 / 500.0) * 500.0)
    return (
        f"grid_cells: community {who} needs {need} cells of {target_area_m2:,.0f} m², but code "
        f"scheme {scheme} numbers {numbered}{others}; raise the target area (about "
        f"{fits:,.0f} m²), use code scheme 15, or enlarge only these communities just "
        "enough (fit_scheme=True; `citygrid grid generate --fit-scheme`)"
    )


def check_tiling(
    cells: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    *,
    community_key: str = "code",
    cell_community_col: str = "community_code",
    tolerance_m2: float = 0.01,
) -> pd.DataFrame:
    """Every way the cells fail to tile their communities: gaps, overlaps, spill-over.

    Returns one row per problem (``community_code``, ``problem``, ``area_m2``); an
    empty frame means the cells cover each community exactly once.

    >>> from shapely.geometry import box
    >>> com = gpd.GeoDataFrame({"code": ["1"]}, geometry=[box(0, 0, 2, 1)], crs=4548)
    >>> cells = gpd.GeoDataFrame({"community_code": ["1", "1"]},
    ...                          geometry=[box(0, 0, 1, 1), box(0.5, 0, 1.5, 1)], crs=4548)
    >>> check_tiling(cells, com)[["problem", "area_m2"]].to_dict("records")
    [{'problem': 'gap', 'area_m2': 0.5}, {'problem': 'overlap', 'area_m2': 0.5}]
    """
    require_projected(cells, func="check_tiling")
    rows: list[dict[str, object]] = []
    cell_geoms = np.asarray(cells.geometry.values, dtype=object)
    cell_comm = cells[cell_community_col].astype(str).to_numpy()
    areas = shapely.area(cell_geoms)
    by_comm = pd.Series(np.arange(len(cells))).groupby(cell_comm).apply(list).to_dict()
    for code, geom in zip(
        communities[community_key].astype(str), communities.geometry.values, strict=True
    ):
        idx = by_comm.get(code, [])
        tol = max(tolerance_m2, 1e-9 * float(geom.area))
        if not idx:
            rows.append({"community_code": code, "problem": "no cells", "area_m2": geom.area})
            continue
        union = shapely.union_all(cell_geoms[idx])
        gap = float(shapely.area(shapely.difference(geom, union)))
        overlap = float(areas[idx].sum() - union.area)
        spill = float(shapely.area(shapely.difference(union, geom)))
        for problem, value in (("gap", gap), ("overlap", overlap), ("outside", spill)):
            if value > tol:
                rows.append({"community_code": code, "problem": problem, "area_m2": value})
    known = set(communities[community_key].astype(str))
    rows.extend(
        {
            "community_code": code,
            "problem": "unknown community",
            "area_m2": float(areas[cell_comm == code].sum()),
        }
        for code in sorted(set(cell_comm) - known)
    )
    return pd.DataFrame(rows, columns=["community_code", "problem", "area_m2"])


def cell_stats(cells: gpd.GeoDataFrame, *, target_area_m2: float = 10_000.0) -> dict[str, float]:
    """Count and area distribution of cells, as shares of the target (for reports).

    >>> from shapely.geometry import box
    >>> c = gpd.GeoDataFrame(geometry=[box(0, 0, 100, 100), box(0, 0, 100, 50)], crs=4548)
    >>> cell_stats(c)["median_share"]
    0.75
    """
    a: Floats = np.asarray(shapely.area(np.asarray(cells.geometry.values, dtype=object)))
    if len(a) == 0:
        return {"n": 0.0, "min_share": 0.0, "median_share": 0.0, "max_share": 0.0}
    return {
        "n": float(len(a)),
        "min_share": float(a.min() / target_area_m2),
        "median_share": float(np.median(a) / target_area_m2),
        "max_share": float(a.max() / target_area_m2),
    }
