"""Spatial weights: hand-checked lattices and segments, and libpysal as the reference."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
import shapely
from shapely.geometry import LineString, Point, box

from gis import weights
from gis.errors import CRSError, DataError


def lattice(nx: int, ny: int, *, size: float = 100.0) -> gpd.GeoDataFrame:
    cells = [
        box(x * size, y * size, (x + 1) * size, (y + 1) * size)
        for y in range(ny)
        for x in range(nx)
    ]
    return gpd.GeoDataFrame({"n": np.arange(nx * ny)}, geometry=cells, crs=4548)


def assert_binary_symmetric(w: sp.csr_matrix) -> None:
    assert (w != w.T).nnz == 0
    assert np.all(w.diagonal() == 0)
    assert set(np.unique(w.data)) <= {1.0}


def test_lattice_queen_and_rook_neighbour_counts() -> None:
    cells = lattice(5, 5)
    queen = weights.contiguity_weights(cells)
    rook = weights.contiguity_weights(cells, kind="rook")
    assert_binary_symmetric(queen)
    assert_binary_symmetric(rook)
    q = weights.neighbour_counts(queen).reshape(5, 5)
    r = weights.neighbour_counts(rook).reshape(5, 5)
    assert q[0, 0] == 3 and q[0, 2] == 5 and q[2, 2] == 8
    assert r[0, 0] == 2 and r[0, 2] == 3 and r[2, 2] == 4
    assert queen.nnz == 2 * (2 * 5 * 4 + 2 * 4 * 4)  # rook edges + both diagonals
    assert rook.nnz == 2 * (2 * 5 * 4)
    # the centre cell (12) and its neighbours, row by row
    assert sorted(queen[12].indices.tolist()) == [6, 7, 8, 11, 13, 16, 17, 18]
    assert sorted(rook[12].indices.tolist()) == [7, 11, 13, 17]


def test_tolerance_bridges_slivers_but_never_makes_a_corner_a_rook_neighbour() -> None:
    gap = 0.05
    cells = gpd.GeoSeries(
        [box(0, 0, 100, 100), box(100 + gap, 0, 200, 100), box(200 + gap, 100 + gap, 300, 200)],
        crs=4548,
    )
    assert weights.contiguity_weights(cells).nnz == 0
    queen = weights.contiguity_weights(cells, tolerance_m=0.1).toarray().astype(int)
    rook = weights.contiguity_weights(cells, kind="rook", tolerance_m=0.1).toarray().astype(int)
    assert queen.tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    assert rook.tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 0]]


def test_inputs_are_not_changed_and_order_not_index_defines_rows() -> None:
    cells = lattice(3, 1).set_index(np.array([30, 10, 20]))
    before = cells.copy()
    w = weights.contiguity_weights(cells)
    assert cells.equals(before)
    assert w.toarray().astype(int).tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]


def test_distance_band_and_min_threshold() -> None:
    pts = gpd.GeoSeries([Point(0, 0), Point(100, 0), Point(100, 100), Point(400, 0)], crs=4548)
    w = weights.distance_band_weights(pts, threshold_m=100)  # exactly 100 m counts
    assert w.toarray().astype(int).tolist() == [
        [0, 1, 0, 0],
        [1, 0, 1, 0],
        [0, 1, 0, 0],
        [0, 0, 0, 0],
    ]
    assert weights.islands(w).tolist() == [3]
    band = weights.min_threshold_m(pts)
    assert band == pytest.approx(300.0)
    assert len(weights.islands(weights.distance_band_weights(pts, threshold_m=band))) == 0


def test_distance_band_uses_centroids_of_polygons() -> None:
    cells = lattice(3, 3)
    w = weights.distance_band_weights(cells, threshold_m=100.0)
    assert (w != weights.contiguity_weights(cells, kind="rook")).nnz == 0
    w = weights.distance_band_weights(cells, threshold_m=150.0)  # diagonal centroids: 141 m
    assert (w != weights.contiguity_weights(cells)).nnz == 0


def test_network_weights_follow_joins_not_crossings() -> None:
    segs = gpd.GeoSeries(
        [
            LineString([(0, 0), (100, 0)]),  # 0
            LineString([(100, 0), (200, 0)]),  # 1: continues 0
            LineString([(150, -50), (150, 50)]),  # 2: crosses 1 without a node (a bridge)
            LineString([(100, 0), (100, 100)]),  # 3: T at the end of 0 and start of 1
            LineString([(100, 100), (100, 200)]),  # 4: continues 3
        ],
        crs=4548,
    )
    w = weights.network_weights(segs)
    assert_binary_symmetric(w)
    assert w.toarray().astype(int).tolist() == [
        [0, 1, 0, 1, 0],
        [1, 0, 0, 1, 0],
        [0, 0, 0, 0, 0],
        [1, 1, 0, 0, 1],
        [0, 0, 0, 1, 0],
    ]
    two = weights.network_weights(segs, steps=2).toarray().astype(int)
    assert two[0].tolist() == [0, 1, 0, 1, 1]
    assert two[2].tolist() == [0, 0, 0, 0, 0]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda g: weights.contiguity_weights(g, kind="bishop"), "kind must be 'queen' or 'rook'"),
        (lambda g: weights.contiguity_weights(g, tolerance_m=-1), "tolerance_m must be >= 0"),
        (lambda g: weights.distance_band_weights(g, threshold_m=0), "positive distance"),
        (lambda g: weights.network_weights(g, steps=0), "steps must be 1 or more"),
    ],
)
def test_bad_options_say_what_to_change(call: object, match: str) -> None:
    with pytest.raises(DataError, match=match):
        call(lattice(2, 2))  # type: ignore[operator]


def test_geographic_or_missing_geometries_are_refused() -> None:
    lonlat = gpd.GeoSeries([box(116.0, 39.0, 116.001, 39.001)], crs=4326)
    with pytest.raises(CRSError, match="needs metric projected coordinates"):
        weights.contiguity_weights(lonlat)
    holes = gpd.GeoSeries([box(0, 0, 1, 1), None, shapely.Polygon()], crs=4548)
    with pytest.raises(DataError, match="2 features have no geometry"):
        weights.contiguity_weights(holes)
    assert weights.contiguity_weights(gpd.GeoSeries([], crs=4548)).shape == (0, 0)


def _libpysal_matrix(w: object, n: int) -> sp.csr_matrix:
    full = w.full()[0]  # type: ignore[attr-defined]
    assert full.shape == (n, n)
    return sp.csr_matrix(full)


@pytest.mark.reference
def test_contiguity_matches_libpysal_on_irregular_polygons() -> None:
    import libpysal

    rng = np.random.default_rng(7)
    pts = shapely.points(rng.uniform(0, 1000, size=(150, 2)))
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=box(0, 0, 1000, 1000))
    )
    cells = shapely.intersection(cells, box(0, 0, 1000, 1000))
    frame = gpd.GeoDataFrame(geometry=cells, crs=4548)
    for kind, ref_cls in (("queen", libpysal.weights.Queen), ("rook", libpysal.weights.Rook)):
        ref = ref_cls.from_dataframe(frame, use_index=False, silence_warnings=True)
        mine = weights.contiguity_weights(frame, kind=kind)  # type: ignore[arg-type]
        assert (mine != _libpysal_matrix(ref, len(frame))).nnz == 0, kind


@pytest.mark.reference
def test_distance_band_matches_libpysal() -> None:
    import libpysal

    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 2000, size=(300, 2))
    pts = gpd.GeoSeries(shapely.points(xy), crs=4548)
    ref = libpysal.weights.DistanceBand(xy, threshold=180.0, binary=True, silence_warnings=True)
    mine = weights.distance_band_weights(pts, threshold_m=180.0)
    assert (mine != _libpysal_matrix(ref, len(xy))).nnz == 0
    assert weights.min_threshold_m(pts) == pytest.approx(
        libpysal.weights.min_threshold_distance(xy)
    )
