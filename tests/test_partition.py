"""The balanced, connected partitioner: coverage, connectivity, balance and locks."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.spatial import Delaunay

from gis.assignment import suggest_heads, workload
from gis.ejection import Parts, find_chain
from gis.errors import DataError
from gis.partition import balanced_partition
from gis.recombination import Recombiner

#: A time limit no refinement here needs on a quiet machine: on a busy one the default
#: (4 s) could stop it before the balance is reached, and these tests check the balance.
SLACK_S = 60.0


def _path(n: int) -> sp.csr_matrix:
    return sp.diags([1.0, 1.0], [-1, 1], shape=(n, n)).tocsr()


def _lattice(rows: int, cols: int) -> sp.csr_matrix:
    idx = np.arange(rows * cols).reshape(rows, cols)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    m = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(rows * cols,) * 2)
    return (m + m.T).tocsr()


def _street_network(n_nodes: int, seed: int) -> sp.csr_matrix:
    """Line graph of a thinned Delaunay network: segments meeting at junctions."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1, (n_nodes, 2))
    tri = Delaunay(pts).simplices
    edges = np.unique(
        np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]]), 1), axis=0
    )
    edges = edges[rng.random(len(edges)) < 0.55]
    inc = sp.coo_matrix(
        (np.ones(2 * len(edges)), (np.repeat(np.arange(len(edges)), 2), edges.ravel())),
        shape=(len(edges), n_nodes),
    ).tocsr()
    line = (inc @ inc.T).tocsr()
    line.setdiag(0)
    line.eliminate_zeros()
    _, lab = sp.csgraph.connected_components(line, directed=False)
    keep = lab == np.bincount(lab).argmax()
    return line[keep][:, keep].tocsr()


def _connected_parts(adj: sp.csr_matrix, labels: np.ndarray) -> bool:
    for p in np.unique(labels):
        m = np.flatnonzero(labels == p)
        n, _ = sp.csgraph.connected_components(adj[m][:, m], directed=False)
        if n != 1:
            return False
    return True


def test_path_is_cut_in_the_middle_around_a_lock() -> None:
    p = balanced_partition(_path(6), [1.0] * 6, n_parts=2, locked=[1, -1, -1, -1, -1, -1])
    assert p.labels.tolist() == [1, 1, 1, 0, 0, 0]
    assert p.max_over_mean == 1.0 and p.connected and p.balanced and p.notes == ()


def test_lattice_parts_cover_connect_and_balance() -> None:
    adj = _lattice(12, 12)
    p = balanced_partition(adj, np.ones(144), n_parts=6)
    assert (p.labels >= 0).all()
    assert np.bincount(p.labels).tolist() == [24] * 6
    assert _connected_parts(adj, p.labels) and p.connected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_street_network_with_uneven_workloads(seed: int) -> None:
    adj = _street_network(700, seed)
    rng = np.random.default_rng(seed)
    w = rng.gamma(2.0, 0.5, adj.shape[0]) + rng.poisson(0.3, adj.shape[0]) * 2.0
    p = balanced_partition(adj, w, n_parts=25, seed=seed, time_limit_s=SLACK_S)
    assert (p.labels >= 0).all() and len(np.unique(p.labels)) == 25
    assert _connected_parts(adj, p.labels)
    assert p.max_over_mean <= 1.05, p.notes
    assert np.isclose(p.loads.sum(), w.sum())


def test_locked_vertices_keep_their_part_and_count_in_the_balance() -> None:
    adj = _path(10)
    locked = np.full(10, -1)
    locked[[0, 1, 2]] = 0  # part 0 already holds 3 of 10
    locked[9] = 1
    p = balanced_partition(adj, np.ones(10), n_parts=2, locked=locked)
    assert p.labels.tolist() == [0] * 5 + [1] * 5
    heavy = np.full(10, -1)
    heavy[:7] = 0  # locked load alone is 1.4 × the mean: infeasible, and said so
    q = balanced_partition(adj, np.ones(10), n_parts=2, locked=heavy)
    assert (q.labels[:7] == 0).all() and not q.balanced
    assert any("locked vertices" in n for n in q.notes)


def test_heads_locked_from_an_earlier_plan_keep_their_areas() -> None:
    adj = _street_network(2000, 11)
    rng = np.random.default_rng(11)
    w = rng.gamma(2.0, 0.5, adj.shape[0]) + rng.poisson(0.3, adj.shape[0]) * 2.0
    earlier = balanced_partition(adj, w, n_parts=40, seed=5).labels
    locked = np.where(earlier < 10, earlier, -1)  # heads 0-9 keep all their segments
    p = balanced_partition(adj, w, n_parts=40, locked=locked, seed=1, time_limit_s=SLACK_S)
    assert (p.labels[locked >= 0] == locked[locked >= 0]).all()
    assert _connected_parts(adj, p.labels)
    assert p.max_over_mean <= 1.05, p.notes


def test_disconnected_network_shares_people_by_load() -> None:
    adj = sp.block_diag([_lattice(6, 6), _lattice(3, 4)]).tocsr()  # 36 + 12 vertices
    p = balanced_partition(adj, np.ones(48), n_parts=4)
    assert len(np.unique(p.labels[:36])) == 3 and len(np.unique(p.labels[36:])) == 1
    assert p.connected and p.max_over_mean == 1.0


def test_more_pieces_than_people_is_refused() -> None:
    adj = sp.block_diag([_path(3), _path(3), _path(3)]).tocsr()
    with pytest.raises(DataError, match=r"3 pieces .* only 2 people"):
        balanced_partition(adj, np.ones(9), n_parts=2)


def test_a_segment_heavier_than_the_target_is_reported_infeasible() -> None:
    w = np.ones(12)
    w[5] = 9.0  # mean per part (4 parts) is 5, one segment weighs 9
    p = balanced_partition(_path(12), w, n_parts=4)
    assert not p.balanced and p.connected
    assert any(n.startswith("infeasible: 1 vertex") for n in p.notes)


def test_bad_input_is_named() -> None:
    with pytest.raises(DataError, match="weights must be 3 finite non-negative"):
        balanced_partition(_path(3), [1.0, np.nan, 1.0], n_parts=2)
    with pytest.raises(DataError, match="n_parts must be at least 1"):
        balanced_partition(_path(3), [1.0] * 3, n_parts=0)


def test_suggest_heads_fills_gaps_around_locked_heads() -> None:
    adj = _lattice(6, 6)
    segs = pd.DataFrame(
        {"length_m": np.full(36, 100.0), "problems": np.r_[np.zeros(18), np.full(18, 2)]},
        index=pd.RangeIndex(1000, 1036),
    )
    locked = pd.Series({1000: 77, 1001: 77, 1035: 88})
    before = segs.copy()
    s = suggest_heads(segs, adj, [5, 6, 7], locked=locked, time_limit_s=SLACK_S)
    pd.testing.assert_frame_equal(segs, before)
    a = s.assignment
    assert a.loc[[1000, 1001], "person_id"].tolist() == [77, 77] and a.loc[1035, "person_id"] == 88
    assert a["locked"].sum() == 3
    assert sorted(s.heads.index) == [5, 6, 7, 77, 88]
    assert s.heads["n_segments"].sum() == 36
    assert np.isclose(s.heads["workload"].sum(), workload(segs).sum())
    assert s.connected and s.max_over_mean <= 1.05
    assert any("added to the people" in n for n in s.notes)


def test_a_stray_segment_joins_its_nearest_neighbour_and_notes_name_segments() -> None:
    import geopandas as gpd
    from shapely.geometry import LineString

    lines = [LineString([(i * 100.0, 0), (i * 100.0 + 100.0, 0)]) for i in range(6)]
    lines.append(LineString([(650.0, 40.0), (700.0, 40.0)]))  # cut off by a 40 m gap
    segs = gpd.GeoDataFrame(
        {"length_m": [100.0] * 6 + [50.0]}, geometry=lines, crs=4548, index=range(501, 508)
    )
    adj = sp.lil_matrix((7, 7))
    for i in range(5):
        adj[i, i + 1] = adj[i + 1, i] = 1
    s = suggest_heads(segs, adj.tocsr(), [1, 2])
    assert s.assignment.loc[507, "person_id"] == s.assignment.loc[506, "person_id"]
    assert any("1 small piece(s) of network (1 segments)" in n for n in s.notes)
    heavy = segs.assign(problems=[0, 0, 0, 0, 0, 0, 60])
    t = suggest_heads(heavy, adj.tocsr(), [1, 2, 3])
    assert any("heaviest: segment 507" in n for n in t.notes)


def test_ten_thousand_segment_scale_is_fast_enough() -> None:
    adj = _street_network(6000, 7)
    rng = np.random.default_rng(7)
    w = rng.gamma(2.0, 0.5, adj.shape[0])
    start = time.perf_counter()
    p = balanced_partition(adj, w, n_parts=200, seed=7, time_limit_s=SLACK_S)
    elapsed = time.perf_counter() - start
    assert p.connected and p.max_over_mean <= 1.05, p.notes
    # the benchmark holds the 5 s target; this guards against a gross regression on a
    # machine that may be busy with other work
    assert elapsed < 30.0


def _hotspot_weights(n: int, seed: int) -> np.ndarray:
    """Workloads that vary twentyfold: a few segments near markets weigh six times more."""
    rng = np.random.default_rng(seed)
    return rng.gamma(2.0, 0.5, n) * np.where(rng.random(n) < 0.05, 6.0, 1.0)


@pytest.mark.parametrize("seed", range(8))
def test_a_tight_target_is_met_on_every_seed(seed: int) -> None:
    adj = _street_network(2500, 3)
    w = _hotspot_weights(adj.shape[0], seed)
    p = balanced_partition(adj, w, n_parts=80, seed=seed, max_imbalance=0.01, time_limit_s=SLACK_S)
    assert p.max_over_mean <= 1.01 + 1e-9, p.notes
    assert _connected_parts(adj, p.labels) and p.notes == ()


def test_the_time_limit_is_kept_and_said() -> None:
    adj = _street_network(6000, 7)
    w = _hotspot_weights(adj.shape[0], 7)
    start = time.perf_counter()
    p = balanced_partition(adj, w, n_parts=200, seed=7, time_limit_s=0.0, max_imbalance=0.002)
    elapsed = time.perf_counter() - start
    assert elapsed < 3.0  # METIS only: the refinement stops at once
    assert p.connected and (p.labels >= 0).all()
    assert not p.balanced and any("time limit (0 s)" in n for n in p.notes)


def _parts_of(labels: list[int]) -> np.ndarray:
    return np.asarray(labels, dtype=np.intp)


def test_diffusion_hands_load_on_through_parts_that_are_full() -> None:
    # four parts in a row: 13, 10, 10, 7; pairs alone would stop at 11.5 / 8.5
    w = np.r_[np.full(10, 1.3), np.full(20, 1.0), np.full(10, 0.7)]
    labels = np.repeat(np.arange(4), 10)
    rec = Recombiner(
        _path(40), w, labels, np.full(40, -1), 4, seed=0, deadline=time.perf_counter() + 60
    )
    rec.diffuse(means=np.full(4, 10.0), min_flow=0.1, hi=10.5)
    assert np.abs(rec.loads - 10.0).max() <= 1.3  # within one segment of even
    assert np.isclose(rec.loads.sum(), 40.0)
    assert np.allclose(rec.loads, np.bincount(rec.labels, weights=w))
    assert _connected_parts(_path(40), rec.labels)


def test_a_recombination_keeps_locks_and_cuts_connected_parts_within_bounds() -> None:
    adj = _lattice(6, 6)
    w = np.ones(36)
    labels = np.repeat(np.arange(3), 12)  # three bands of two rows
    lock = np.full(36, -1)
    lock[[0, 1]] = 0  # top-left corner stays with part 0
    lock[[34, 35]] = 2  # bottom-right with part 2
    rec = Recombiner(adj, w, labels, lock, 3, seed=1, deadline=time.perf_counter() + 60)
    # bands 0 and 2 do not touch: no spanning tree joins them
    assert rec.propose(np.asarray([0, 2]), ceiling=30.0, floor=0.0) is None
    found = rec.propose(np.arange(3), ceiling=12.0, floor=12.0)
    assert found is not None
    idx, new = found
    rec.apply(idx, new)
    assert rec.labels[[0, 1]].tolist() == [0, 0] and rec.labels[[34, 35]].tolist() == [2, 2]
    assert rec.loads.tolist() == [12.0, 12.0, 12.0]
    assert _connected_parts(adj, rec.labels)


def _ejection_world() -> Parts:
    """A (3 segments in a row) -> B (a junction and two stubs) -> C, D (two each).

    A at 3.2 must shed its end segment (1.2) to B; B then carries 3.4 and must shed
    0.4, which neither stub (0.35) alone is: both go, one to C and one to D.
    """
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (3, 5), (4, 6), (6, 7), (5, 8), (8, 9)]
    a, b = np.asarray(edges).T
    m = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(10, 10))
    adj = (m + m.T).tocsr()
    w = np.asarray([1.0, 1.0, 1.2, 1.5, 0.35, 0.35, 1.0, 1.0, 1.0, 1.0])
    labels = _parts_of([0, 0, 0, 1, 1, 1, 2, 2, 3, 3])
    loads = np.bincount(labels, weights=w)
    return Parts(adj.indptr, adj.indices, w, labels, np.full(10, -1), loads)


def test_an_ejection_chain_moves_exact_units_down_the_line() -> None:
    parts = _ejection_world()
    chain = find_chain(parts, 0, ceiling=3.0, floor=1.0)
    assert chain is not None
    moves = sorted((u.vertices.tolist(), r) for u, r in chain)
    assert moves == [([2], 1), ([4], 2), ([5], 3)]
    after = parts.loads.copy()
    for unit, r in chain:
        after[parts.labels[unit.vertices]] -= unit.weight
        after[r] += unit.weight
    assert np.allclose(after, [2.0, 2.7, 2.35, 2.35])


def test_an_ejection_chain_never_moves_a_locked_segment_or_goes_too_low() -> None:
    parts = _ejection_world()
    parts.lock[2] = 0  # A's end segment is locked: A has nothing to shed
    assert find_chain(parts, 0, ceiling=3.0, floor=1.0) is None
    parts.lock[2] = -1
    parts.forget(np.arange(4))
    assert find_chain(parts, 0, ceiling=3.0, floor=2.5) is None  # A would end at 2.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 7])  # 7: two units moved together, each held
def test_ejection_chains_keep_every_part_connected(seed: int) -> None:
    adj = _street_network(900, seed)
    n = adj.shape[0]
    start = balanced_partition(adj, np.ones(n), n_parts=30, seed=seed).labels
    rng = np.random.default_rng(seed)
    w = rng.gamma(2.0, 0.5, n)
    lock = np.where(rng.random(n) < 0.1, start, -1)
    labels = start.copy()
    loads = np.bincount(labels, weights=w, minlength=30)
    parts = Parts(adj.indptr, adj.indices, w, labels, lock, loads)
    ceiling, moved = float(np.quantile(loads, 0.7)), 0
    for p in np.argsort(-loads):
        if loads[p] <= ceiling:
            break
        chain = find_chain(parts, int(p), ceiling=ceiling, floor=0.5 * ceiling)
        for unit, r in chain or []:
            parts.forget(np.asarray([labels[unit.vertices[0]], r]))
            np.subtract.at(loads, labels[unit.vertices], w[unit.vertices])
            loads[r] += unit.weight
            labels[unit.vertices] = r
            moved += 1
        assert chain is None or loads[p] <= ceiling + 1e-9
    assert moved > 0
    assert _connected_parts(adj, labels)
    assert (labels[lock >= 0] == lock[lock >= 0]).all()
    assert np.allclose(loads, np.bincount(labels, weights=w, minlength=30))
