"""gis.locate: bucket lookups agree with GEOS on random layers, ties and edge cases."""

from __future__ import annotations

import numpy as np
import shapely

from gis.locate import NONE, Buckets, PolygonIndex, SegmentIndex, point_edge_distance


def _random_lines(rng: np.random.Generator, n: int) -> np.ndarray:
    starts = rng.uniform(0, 2000, (n, 2))
    ends = starts + rng.normal(0, 150, (n, 2))
    mids = (starts + ends) / 2 + rng.normal(0, 20, (n, 2))
    return np.array(
        [shapely.LineString([a, m, b]) for a, m, b in zip(starts, mids, ends, strict=True)]
    )


def test_nearest_segment_agrees_with_strtree_within_the_distance() -> None:
    rng = np.random.default_rng(1)
    lines = _random_lines(rng, 400)
    ids = np.arange(100, 500, dtype=np.int64)
    x, y = rng.uniform(-100, 2100, (2, 5000))
    index = SegmentIndex.build(ids, lines, max_distance_m=60.0)
    seg, dist = index.nearest(x, y, batch=777)  # batches of an odd size
    points = shapely.points(x, y)
    tree = shapely.STRtree(lines)
    (pt, ln), d = tree.query_nearest(points, max_distance=60.0, return_distance=True)
    expect_d = np.full(len(x), np.nan)
    expect_d[pt] = d
    assert np.array_equal(np.isnan(dist), np.isnan(expect_d))
    assert np.allclose(dist[~np.isnan(dist)], expect_d[~np.isnan(expect_d)], atol=1e-6)
    lowest = {}
    for p, line in zip(pt, ln, strict=True):
        lowest[p] = min(lowest.get(p, 10**9), int(ids[line]))
    found = seg[~np.isnan(dist)]
    assert found.tolist() == [lowest[p] for p in np.flatnonzero(~np.isnan(dist))]
    assert (seg[np.isnan(dist)] == NONE).all()


def test_ties_go_to_the_lowest_id_whatever_the_order() -> None:
    a = shapely.LineString([(0, 0), (100, 0)])
    b = shapely.LineString([(0, 20), (100, 20)])
    for ids in ([5, 3], [3, 5]):
        index = SegmentIndex.build(np.array(ids), np.array([a, b]), max_distance_m=50.0)
        seg, dist = index.nearest(np.array([50.0]), np.array([10.0]))
        assert (seg.tolist(), dist.tolist()) == ([3], [10.0])


def test_multilines_nan_points_and_an_empty_index() -> None:
    multi = shapely.MultiLineString([[(0, 0), (10, 0)], [(100, 0), (110, 0)]])
    index = SegmentIndex.build(np.array([9]), np.array([multi]), max_distance_m=5.0)
    seg, dist = index.nearest(np.array([105.0, np.nan, 50.0]), np.array([3.0, 1.0, 0.0]))
    assert seg.tolist() == [9, NONE, NONE]
    assert dist[0] == 3.0 and np.isnan(dist[1:]).all()
    empty = SegmentIndex.build(
        np.zeros(0, np.int64), np.array([], dtype=object), max_distance_m=5.0
    )
    assert empty.nearest(np.array([1.0]), np.array([1.0]))[0].tolist() == [NONE]


def test_polygons_hold_points_like_geos_and_the_lowest_id_wins() -> None:
    rng = np.random.default_rng(2)
    centres = rng.uniform(0, 1000, (300, 2))
    polys = shapely.buffer(shapely.points(centres), rng.uniform(5, 60, 300))
    polys[7] = None  # a missing geometry is left out
    ids = rng.permutation(np.arange(1000, 1300)).astype(np.int64)
    before = [None if p is None else p.wkb for p in polys]
    index = PolygonIndex.build(ids, polys)
    assert [None if p is None else p.wkb for p in polys] == before  # inputs unchanged
    x, y = rng.uniform(-50, 1050, (2, 4000))
    got = index.first_hit_xy(x, y)
    pts = shapely.points(x, y)
    expect = np.full(len(x), NONE)
    for k, poly in enumerate(polys):
        if poly is None:
            continue
        inside = shapely.intersects(poly, pts)
        better = inside & ((expect == NONE) | (ids[k] < expect))
        expect[better] = ids[k]
    assert np.array_equal(got, expect)
    assert np.array_equal(index.first_hit(pts), expect)


def test_buckets_grow_rather_than_exceed_a_few_million() -> None:
    bounds = np.array([[0.0, 0.0, 1e6, 1e6]])
    b = Buckets.build(bounds, size_m=1.0)
    assert b.nx * b.ny <= 4_100_000
    pt, box = b.candidates(np.array([5e5, -1.0]), np.array([5e5, 0.0]))
    assert (pt.tolist(), box.tolist()) == ([0], [0])


def test_point_edge_distance_of_a_degenerate_edge() -> None:
    d = point_edge_distance(
        np.array([3.0]), np.array([4.0]), x1=np.zeros(1), y1=np.zeros(1), x2=np.zeros(1),
        y2=np.zeros(1),
    )  # fmt: skip
    assert d.tolist() == [5.0]
