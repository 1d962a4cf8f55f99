"""Road segments as a graph: which segments meet which along the network.

Two segments are neighbours when an end of one lies within ``tolerance_m`` of the
other (an end-to-end join, or a T-junction where one ends on the other). Crossings
without a shared node (bridges, tunnels) are not joins.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from numpy.typing import NDArray

from gis.crs import require_projected


def _endpoints(geoms: NDArray[np.object_]) -> tuple[NDArray[np.object_], NDArray[np.intp]]:
    """Start and end points of every line (multi-lines contribute each part's ends)."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    starts = shapely.points(shapely.get_coordinates(shapely.get_point(parts, 0)))
    ends = shapely.points(shapely.get_coordinates(shapely.get_point(parts, -1)))
    return np.concatenate([starts, ends]), np.concatenate([owner, owner])


def segment_adjacency(
    segments: gpd.GeoDataFrame | gpd.GeoSeries, *, tolerance_m: float = 1.0
) -> sp.csr_matrix:
    """Symmetric 0/1 adjacency of road segments meeting along the network.

    Row ``i`` belongs to the ``i``-th segment in the input's order (not its index label).

    Parameters
    ----------
    segments
        Line geometries in a metric CRS.
    tolerance_m
        How close an end must come to another segment to count as a join.

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> s = gpd.GeoSeries([LineString([(0, 0), (10, 0)]), LineString([(10, 0), (10, 10)]),
    ...                    LineString([(5, 0.5), (5, 9)]), LineString([(30, 0), (40, 0)])],
    ...                   crs=4548)
    >>> segment_adjacency(s).toarray().tolist()
    [[0, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    """
    require_projected(segments, func="segment_adjacency")
    geoms = np.asarray(
        segments.geometry.values if isinstance(segments, gpd.GeoDataFrame) else segments.values,
        dtype=object,
    )
    n = len(geoms)
    if n == 0:
        return sp.csr_matrix((0, 0), dtype=np.int8)
    ends, owner = _endpoints(geoms)
    tree = shapely.STRtree(geoms)
    end_idx, seg_idx = tree.query(ends, predicate="dwithin", distance=tolerance_m)
    a = owner[end_idx]
    b = seg_idx
    keep = a != b
    a, b = a[keep], b[keep]
    data = np.ones(len(a), dtype=np.int8)
    adj = sp.coo_matrix((data, (a, b)), shape=(n, n)).tocsr()
    adj = adj.maximum(adj.T)
    adj.data[:] = 1
    adj.eliminate_zeros()
    return adj.astype(np.int8).tocsr()


def components(adjacency: sp.csr_matrix) -> NDArray[np.intp]:
    """Connected-component label of every segment.

    >>> import scipy.sparse as sp
    >>> components(sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]]))).tolist()
    [0, 0, 1]
    """
    _, labels = sp.csgraph.connected_components(adjacency, directed=False)
    return np.asarray(labels, dtype=np.intp)
