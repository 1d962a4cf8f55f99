"""Regions around points: Voronoi tilings clipped to an outline, seeds placed in gaps.

Used where boundaries must be derived from centres (communities known only by a
centre point) and to cut a polygon into pieces of about equal area (unit grid cells).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from gis.crs import require_projected
from gis.errors import DataError
from gis.faces import (
    Floats,
    Geoms,
    absorb_detached,
    dissolve,
    polygonize_within,
    shared_borders,
)


def _voronoi_edges(xy: Floats, extent: BaseGeometry) -> Geoms:
    if len(xy) < 2:
        return np.empty(0, dtype=object)
    edges = shapely.voronoi_polygons(
        shapely.multipoints(xy), extend_to=shapely.envelope(extent), only_edges=True
    )
    return np.asarray(shapely.get_parts(edges), dtype=object)


def voronoi_faces(
    xy: Floats, extent: BaseGeometry, *, lines: Geoms | None = None
) -> tuple[Geoms, NDArray[np.intp]]:
    """Faces of ``extent`` cut by the Voronoi edges of ``xy`` (and ``lines``), with the
    index of the nearest point of each face."""
    cuts = _voronoi_edges(xy, extent)
    if lines is not None and len(lines):
        cuts = np.concatenate([cuts, np.asarray(lines, dtype=object)])
    faces = polygonize_within(extent, cuts)
    if len(faces) == 0:
        return faces, np.empty(0, dtype=np.intp)
    rep = shapely.get_coordinates(shapely.point_on_surface(faces))
    _, nearest = cKDTree(xy).query(rep)
    return faces, np.asarray(nearest, dtype=np.intp)


def voronoi_regions(seeds: gpd.GeoSeries, *, extent: BaseGeometry) -> gpd.GeoSeries:
    """Voronoi regions of point ``seeds``, clipped to ``extent``, each in one piece.

    The regions tile the extent exactly. Where the extent's shape cuts a region in
    two, the piece away from the seed joins the neighbour it shares most border with.

    Parameters
    ----------
    seeds
        Distinct points inside ``extent``, in a metric CRS.
    extent
        Polygon or MultiPolygon to tile (holes allowed).

    Returns
    -------
    GeoSeries
        One (Multi)Polygon per seed, with the seeds' index and CRS.

    Examples
    --------
    >>> from shapely.geometry import Point, box
    >>> s = gpd.GeoSeries([Point(25, 50), Point(75, 50)], crs=4548)
    >>> voronoi_regions(s, extent=box(0, 0, 100, 100)).area.tolist()
    [5000.0, 5000.0]
    """
    require_projected(seeds, func="voronoi_regions")
    if len(seeds) == 0:
        return gpd.GeoSeries([], index=seeds.index, crs=seeds.crs)
    geoms = np.asarray(seeds.values, dtype=object)
    bad = ~(shapely.get_type_id(geoms) == 0) | shapely.is_empty(geoms)
    if bad.any():
        msg = (
            f"voronoi_regions: seeds must be points; got {int(bad.sum())} other or empty "
            f"geometries (index {list(seeds.index[bad][:5])}); use .centroid first"
        )
        raise DataError(msg)
    xy = shapely.get_coordinates(geoms)
    outside = ~shapely.contains_xy(extent, xy[:, 0], xy[:, 1])
    if outside.any():
        msg = (
            f"voronoi_regions: {int(outside.sum())} seeds lie outside the extent (index "
            f"{list(seeds.index[outside][:5])}); move them inside or drop them"
        )
        raise DataError(msg)
    _, first = np.unique(xy, axis=0, return_index=True)
    if len(first) < len(xy):
        dup = np.setdiff1d(np.arange(len(xy)), first)
        msg = (
            f"voronoi_regions: {len(dup)} seeds repeat another seed's position (index "
            f"{list(seeds.index[dup][:5])}); drop or move the duplicates"
        )
        raise DataError(msg)
    faces, label = voronoi_faces(xy, extent)
    anchor = faces_holding(faces, xy)
    label = absorb_detached(label, shapely.area(faces), shared_borders(faces), anchor=anchor)
    regions = dissolve(faces, label, len(xy))
    return gpd.GeoSeries(regions, index=seeds.index, crs=seeds.crs)


def faces_holding(faces: Geoms, xy: Floats) -> NDArray[np.intp]:
    """Index of the face holding each point (on an edge: either face; outside: none).

    >>> from shapely.geometry import box
    >>> faces_holding(np.array([box(0, 0, 1, 1), box(1, 0, 2, 1)]), np.array([[1.5, 0.5]])).tolist()
    [1]
    """
    tree = shapely.STRtree(faces)
    pts, idx = tree.query(shapely.points(xy), predicate="intersects")
    anchor = np.full(len(xy), -1, dtype=np.intp)
    anchor[pts[::-1]] = idx[::-1]
    return anchor[anchor >= 0]


def lattice_points(extent: BaseGeometry, *, spacing_m: float) -> Floats:
    """Points of a square lattice (offset by half a step) inside ``extent``.

    >>> from shapely.geometry import box
    >>> lattice_points(box(0, 0, 20, 10), spacing_m=10).tolist()
    [[5.0, 5.0], [15.0, 5.0]]
    """
    x0, y0, x1, y1 = extent.bounds
    xs = np.arange(x0 + spacing_m / 2, x1, spacing_m)
    ys = np.arange(y0 + spacing_m / 2, y1, spacing_m)
    gx, gy = np.meshgrid(xs, ys)
    x, y = gx.ravel(), gy.ravel()
    inside = shapely.contains_xy(extent, x, y)
    return np.column_stack([x[inside], y[inside]])


def place_seeds(
    extent: BaseGeometry, existing: Floats, n: int, *, spacing_m: float = 25.0
) -> Floats:
    """Place ``n`` new points in the emptiest parts of ``extent``, one by one.

    Each new point is the lattice point farthest from every point placed so far
    (farthest-point sampling): deterministic and evenly spread.

    >>> from shapely.geometry import box
    >>> place_seeds(box(0, 0, 100, 10), np.array([[5.0, 5.0]]), 1, spacing_m=10).tolist()
    [[95.0, 5.0]]
    """
    if n <= 0:
        return np.empty((0, 2))
    cand = lattice_points(extent, spacing_m=spacing_m)
    if len(cand) == 0:
        rp = shapely.get_coordinates(shapely.point_on_surface(extent))
        cand = rp
    return place_seeds_from(cand, existing, n)


def centroidal_seeds(
    extent: BaseGeometry,
    n: int,
    *,
    spacing_m: float | None = None,
    fixed: Floats | None = None,
    iterations: int = 15,
) -> Floats:
    """``n`` points whose Voronoi regions inside ``extent`` have about equal area.

    Lloyd's algorithm on a lattice sample of the extent (a centroidal Voronoi
    tessellation), started from farthest-point seeds: deterministic, no randomness.
    ``fixed`` points take part but do not move; they are not returned.

    >>> from shapely.geometry import box
    >>> s = centroidal_seeds(box(0, 0, 200, 100), 2, spacing_m=10)
    >>> s[:, 1].tolist(), float(abs(s[1, 0] - s[0, 0]))
    ([50.0, 50.0], 100.0)
    """
    fixed = np.empty((0, 2)) if fixed is None else np.asarray(fixed, dtype=float)
    if n <= 0:
        return np.empty((0, 2))
    if spacing_m is None:
        spacing_m = float(np.sqrt(extent.area / ((n + len(fixed)) * 16.0)))
    sample = lattice_points(extent, spacing_m=spacing_m)
    if len(sample) < 2 * (n + len(fixed)):
        spacing_m /= 3.0
        sample = lattice_points(extent, spacing_m=spacing_m)
    if len(sample) <= n:
        return place_seeds(extent, fixed, n, spacing_m=spacing_m)
    seeds = _initial_seeds(extent, fixed, n, spacing_m=spacing_m)
    k_fixed = len(fixed)
    for _ in range(iterations):
        allpts = np.vstack([fixed, seeds])
        _, owner = cKDTree(allpts).query(sample)
        owner = owner - k_fixed
        mine = owner >= 0
        counts = np.bincount(owner[mine], minlength=n)
        sx = np.bincount(owner[mine], weights=sample[mine, 0], minlength=n)
        sy = np.bincount(owner[mine], weights=sample[mine, 1], minlength=n)
        moved = counts > 0
        new = seeds.copy()
        new[moved, 0] = sx[moved] / counts[moved]
        new[moved, 1] = sy[moved] / counts[moved]
        # a centroid of a concave region may fall outside: keep the old point there
        ok = shapely.contains_xy(extent, new[:, 0], new[:, 1])
        new[~ok] = seeds[~ok]
        shift = float(np.max(np.hypot(*(new - seeds).T)))
        seeds = new
        if shift < spacing_m * 0.05:
            break
    return seeds


def _initial_seeds(extent: BaseGeometry, fixed: Floats, n: int, *, spacing_m: float) -> Floats:
    """Evenly spread starting points: a coarse lattice of about ``n`` points, thinned
    or topped up by farthest-point sampling (cheap next to sampling the fine lattice)."""
    coarse = lattice_points(extent, spacing_m=float(np.sqrt(extent.area / n)))
    if len(coarse) >= n:
        return place_seeds_from(coarse, fixed, n)
    extra = place_seeds(extent, np.vstack([fixed, coarse]), n - len(coarse), spacing_m=spacing_m)
    return np.vstack([coarse, extra])


def place_seeds_from(candidates: Floats, existing: Floats, n: int) -> Floats:
    """Farthest-point sampling of ``n`` of ``candidates`` (see :func:`place_seeds`)."""
    start = -1
    if len(existing):
        dist, _ = cKDTree(existing).query(candidates)
    else:
        dist = np.full(len(candidates), np.inf)
        start = int(np.argmin(np.hypot(*(candidates - candidates.mean(axis=0)).T)))
    out = np.empty((n, 2))
    for k in range(n):
        i = start if k == 0 and start >= 0 else int(np.argmax(dist))
        out[k] = candidates[i]
        dist = np.minimum(dist, np.hypot(*(candidates - candidates[i]).T))
    return out
