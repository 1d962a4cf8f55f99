"""Spatial weights: who counts as whose neighbour, as sparse 0/1 matrices.

Every function returns a symmetric ``scipy.sparse.csr_matrix`` of float64 with ones
where two features are neighbours and an empty diagonal; row ``i`` belongs to the
``i``-th feature in the input's order (not its index label). Hotspot statistics add
the feature itself where they need it (Gi* counts a cell as its own neighbour).

- :func:`contiguity_weights`: polygons sharing a boundary (rook) or touching at
  least at a point (queen), with an optional snapping tolerance for real grid
  layers whose neighbours are separated by slivers.
- :func:`distance_band_weights`: centroids within a fixed distance (ArcGIS's
  "fixed distance band"); :func:`min_threshold_m` gives the smallest band that
  leaves no feature without a neighbour.
- :func:`network_weights`: road segments meeting along the network
  (:func:`gis.network.segment_adjacency`), optionally up to ``steps`` joins away.
"""

from __future__ import annotations

from typing import Literal

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from gis.crs import require_projected
from gis.errors import DataError
from gis.network import segment_adjacency

Contiguity = Literal["queen", "rook"]


def _geometries(data: gpd.GeoDataFrame | gpd.GeoSeries) -> NDArray[np.object_]:
    series = data.geometry if isinstance(data, gpd.GeoDataFrame) else data
    return np.asarray(series.values, dtype=object)


def _symmetric(rows: NDArray[np.intp], cols: NDArray[np.intp], n: int) -> sp.csr_matrix:
    keep = rows != cols
    rows, cols = rows[keep], cols[keep]
    both_r = np.concatenate([rows, cols])
    both_c = np.concatenate([cols, rows])
    m = sp.coo_matrix((np.ones(len(both_r)), (both_r, both_c)), shape=(n, n)).tocsr()
    m.data[:] = 1.0  # duplicates were summed by the conversion
    m.sort_indices()
    return m


def _check_missing(geoms: NDArray[np.object_], *, func: str) -> None:
    bad = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if len(bad):
        msg = (
            f"{func}: {len(bad)} features have no geometry (first at positions "
            f"{bad[:5].tolist()}); drop or repair them before building weights"
        )
        raise DataError(msg)


def contiguity_weights(
    polygons: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    kind: Contiguity = "queen",
    tolerance_m: float = 0.0,
) -> sp.csr_matrix:
    """Polygon contiguity: queen (any contact) or rook (a shared stretch of boundary).

    Parameters
    ----------
    polygons
        Polygons in a metric CRS, e.g. unit grid cells.
    kind
        ``"queen"``: neighbours touch at least at a point. ``"rook"``: neighbours
        share more than ``2 * tolerance_m`` of boundary (a bare corner never counts).
    tolerance_m
        Gap up to which polygons still count as touching (0: exact contact).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoSeries([box(0, 0, 1, 1), box(1, 0, 2, 1), box(1, 1, 2, 2)], crs=4548)
    >>> contiguity_weights(cells).toarray().astype(int).tolist()
    [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    >>> contiguity_weights(cells, kind="rook").toarray().astype(int).tolist()
    [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    """
    require_projected(polygons, func="contiguity_weights")
    if kind not in ("queen", "rook"):
        msg = f"contiguity_weights: kind must be 'queen' or 'rook', got {kind!r}"
        raise DataError(msg)
    if tolerance_m < 0:
        msg = f"contiguity_weights: tolerance_m must be >= 0, got {tolerance_m}"
        raise DataError(msg)
    geoms = _geometries(polygons)
    n = len(geoms)
    if n == 0:
        return sp.csr_matrix((0, 0), dtype=np.float64)
    _check_missing(geoms, func="contiguity_weights")
    tree = shapely.STRtree(geoms)
    if tolerance_m > 0:
        a, b = tree.query(geoms, predicate="dwithin", distance=tolerance_m)
    else:
        a, b = tree.query(geoms, predicate="intersects")
    upper = a < b
    a, b = a[upper], b[upper]
    if kind == "rook" and len(a):
        boundaries = shapely.boundary(geoms)
        if tolerance_m > 0:
            reach = shapely.buffer(geoms, tolerance_m)
            shared = shapely.length(shapely.intersection(boundaries[a], reach[b]))
        else:
            shared = shapely.length(shapely.intersection(boundaries[a], boundaries[b]))
        keep = shared > 2.0 * tolerance_m
        a, b = a[keep], b[keep]
    return _symmetric(a, b, n)


def _centroid_xy(data: gpd.GeoDataFrame | gpd.GeoSeries, *, func: str) -> NDArray[np.float64]:
    require_projected(data, func=func)
    geoms = _geometries(data)
    _check_missing(geoms, func=func)
    return np.asarray(shapely.get_coordinates(shapely.centroid(geoms)), dtype=np.float64)


def distance_band_weights(
    features: gpd.GeoDataFrame | gpd.GeoSeries, *, threshold_m: float
) -> sp.csr_matrix:
    """Fixed distance band: features whose centroids lie within ``threshold_m``.

    Parameters
    ----------
    features
        Any geometries in a metric CRS; their centroids are compared.
    threshold_m
        Band width; pairs at exactly this distance are neighbours.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> pts = gpd.GeoSeries([Point(0, 0), Point(100, 0), Point(250, 0)], crs=4548)
    >>> distance_band_weights(pts, threshold_m=150).toarray().astype(int).tolist()
    [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    """
    if not np.isfinite(threshold_m) or threshold_m <= 0:
        msg = f"distance_band_weights: threshold_m must be a positive distance, got {threshold_m}"
        raise DataError(msg)
    xy = _centroid_xy(features, func="distance_band_weights")
    n = len(xy)
    if n == 0:
        return sp.csr_matrix((0, 0), dtype=np.float64)
    pairs = cKDTree(xy).query_pairs(r=threshold_m, output_type="ndarray")
    return _symmetric(pairs[:, 0], pairs[:, 1], n)


def min_threshold_m(features: gpd.GeoDataFrame | gpd.GeoSeries) -> float:
    """The smallest distance band that gives every feature at least one neighbour.

    This is the largest nearest-neighbour distance between centroids (ArcGIS uses it
    as the default band). Fewer than two features have no such distance.

    >>> from shapely.geometry import Point
    >>> pts = gpd.GeoSeries([Point(0, 0), Point(100, 0), Point(250, 0)], crs=4548)
    >>> min_threshold_m(pts)
    150.0
    """
    xy = _centroid_xy(features, func="min_threshold_m")
    if len(xy) < 2:
        msg = f"min_threshold_m: needs at least two features, got {len(xy)}"
        raise DataError(msg)
    dist, _ = cKDTree(xy).query(xy, k=2)
    return float(np.max(dist[:, 1]))


def network_weights(
    segments: gpd.GeoDataFrame | gpd.GeoSeries, *, tolerance_m: float = 1.0, steps: int = 1
) -> sp.csr_matrix:
    """Road segments as neighbours along the network, up to ``steps`` joins away.

    Parameters
    ----------
    segments
        Line geometries in a metric CRS.
    tolerance_m
        How close an end must come to another segment to count as a join.
    steps
        1: segments that meet; 2: also the segments meeting those; and so on.

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> road = gpd.GeoSeries([LineString([(0, 0), (100, 0)]), LineString([(100, 0), (200, 0)]),
    ...                       LineString([(200, 0), (300, 0)])], crs=4548)
    >>> network_weights(road).toarray().astype(int).tolist()
    [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    >>> network_weights(road, steps=2).toarray().astype(int).tolist()
    [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    """
    if steps < 1:
        msg = f"network_weights: steps must be 1 or more, got {steps}"
        raise DataError(msg)
    adjacency = segment_adjacency(segments, tolerance_m=tolerance_m).astype(np.float64)
    n = adjacency.shape[0]
    reach = adjacency
    if steps > 1:
        step = adjacency + sp.identity(n, format="csr")
        reach = step
        for _ in range(steps - 1):
            reach = reach @ step
            reach.data[:] = 1.0  # only whether a path exists matters, not how many
    coo = sp.triu(reach, k=1).tocoo()
    return _symmetric(coo.row.astype(np.intp), coo.col.astype(np.intp), n)


def neighbour_counts(weights: sp.spmatrix) -> NDArray[np.int64]:
    """Number of neighbours of every feature (the feature itself not counted).

    >>> neighbour_counts(sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0]]))).tolist()
    [2, 1, 1]
    """
    coo = sp.coo_matrix(weights)
    off = (coo.row != coo.col) & (coo.data != 0)
    return np.bincount(coo.row[off], minlength=coo.shape[0]).astype(np.int64)


def islands(weights: sp.spmatrix) -> NDArray[np.intp]:
    """Positions of features without any neighbour.

    >>> islands(sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]]))).tolist()
    [2]
    """
    return np.flatnonzero(neighbour_counts(weights) == 0)
