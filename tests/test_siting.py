"""Set covering and maximal covering (gis.covering) and bait-station siting (gis.siting):
hand-checked cases, and PySAL spopt as the reference."""

from __future__ import annotations

import itertools
import warnings

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
from shapely.geometry import Point, box

from gis.bait import BaitEvaluation, evaluate_bait_coverage, exclusion_zones
from gis.covering import solve_lscp, solve_mclp
from gis.errors import DataError
from gis.profiles import DEFAULT_BAIT_PROFILE, BaitProfile, load_bait_profile, parse_bait_profile
from gis.siting import bait_siting_instance, suggest_bait_sites

CRS = 4548
NO_STATIONS = gpd.GeoDataFrame({"state": []}, geometry=[], crs=CRS)


@pytest.fixture(scope="module")
def profile() -> BaitProfile:
    return load_bait_profile()


def _market(profile: BaitProfile, **kwargs: object) -> BaitEvaluation:
    frame = gpd.GeoDataFrame(
        {"kind": ["market"], "code": ["M1"]}, geometry=[box(0, 0, 40, 40)], crs=CRS
    )
    return evaluate_bait_coverage(frame, NO_STATIONS, profile=profile, **kwargs)  # type: ignore[arg-type]


# --- the solvers on matrices ---------------------------------------------------------------


def test_lscp_on_a_ring_of_rows() -> None:
    # six rows in a ring, each candidate covers two neighbours: three are needed
    a = np.zeros((6, 6), dtype=int)
    for j in range(6):
        a[j, j] = a[(j + 1) % 6, j] = 1
    r = solve_lscp(sp.csr_matrix(a))
    assert (r.status, r.objective, r.mip_gap, r.proven_optimal) == ("optimal", 3.0, 0.0, True)
    assert (a[:, r.chosen].sum(axis=1) >= 1).all()


def test_lscp_with_need_and_errors() -> None:
    a = np.array([[1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 0, 1]])
    r = solve_lscp(a, need=[2, 1, 1])  # two of the first three, and the last
    assert r.objective == 3.0 and 3 in r.chosen.tolist()
    assert solve_lscp(a, need=[1, 2, 1]).objective == 2.0  # column 3 and one of 1, 2
    with pytest.raises(DataError, match="1 demand row\\(s\\) cannot be covered"):
        solve_lscp(a, need=[1, 1, 2])
    with pytest.raises(DataError, match="need: expected 3"):
        solve_lscp(a, need=[1, 1])
    with pytest.raises(DataError, match="time_limit_s"):
        solve_lscp(a, time_limit_s=0)
    empty = solve_lscp(np.zeros((0, 3)))
    assert empty.objective == 0.0 and empty.chosen.tolist() == []


def test_mclp_weights_groups_and_budget() -> None:
    a = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]])
    w = np.array([1.0, 1.0, 1.0, 4.0, 0.5])
    r = solve_mclp(a, budget=1, weights=w)
    assert (r.objective, r.chosen.tolist(), r.status) == (4.5, [2], "optimal")
    r = solve_mclp(a, budget=2, weights=w)
    assert r.objective == 6.5
    # groups: rows 0-2 are one premises, rows 3-4 another
    g = [0, 0, 0, 1, 1]
    r = solve_mclp(a, budget=1, groups=g)
    assert (r.objective, r.chosen.tolist()) == (1.0, [2])  # one station closes premises 1
    r = solve_mclp(a, budget=2, groups=g)
    assert r.objective == 1.0 and r.bound == 1.0  # premises 0 needs two stations on its own
    r = solve_mclp(a, budget=3, groups=g)
    assert r.objective == 2.0
    assert solve_mclp(a, budget=0).chosen.tolist() == []
    with pytest.raises(DataError, match="budget"):
        solve_mclp(a, budget=-1)
    with pytest.raises(DataError, match="weights"):
        solve_mclp(a, budget=1, weights=[1, 2])


def test_mclp_groups_match_brute_force() -> None:
    rng = np.random.default_rng(7)
    for _ in range(5):
        a = (rng.random((14, 10)) < 0.25).astype(int)
        groups = rng.integers(0, 5, 14)
        for budget in (2, 3):
            best = 0
            for combo in itertools.combinations(range(10), budget):
                met = a[:, list(combo)].sum(axis=1) >= 1
                best = max(best, len(set(groups)) - len(set(groups[~met])))
            assert solve_mclp(a, budget=budget, groups=groups).objective == best


def test_time_limit_reports_a_gap_or_optimality() -> None:
    rng = np.random.default_rng(3)
    rows, cols = 1500, 1500
    a = sp.random(rows, cols, density=4 / cols, random_state=rng, format="csr")
    a = (
        a
        + sp.csr_matrix(
            (np.ones(rows), (np.arange(rows), rng.integers(0, cols, rows))), shape=(rows, cols)
        )
    ).tocsr()
    r = solve_mclp(a, budget=60, time_limit_s=0.05)
    assert r.status in ("optimal", "time_limit")
    assert r.solve_time_s < 5.0
    if r.status == "time_limit" and r.chosen.size:
        assert r.mip_gap is not None and r.mip_gap >= 0
        assert r.bound is not None and r.bound >= r.objective
        assert len(r.chosen) <= 60


# --- bait-station siting -------------------------------------------------------------------


def test_market_lscp_and_budgets(profile: BaitProfile) -> None:
    ev = _market(profile)
    r = suggest_bait_sites(ev)
    assert (r.method, r.solve.status, len(r.sites)) == ("lscp", "optimal", 8)
    assert (r.premises_open, r.premises_covered, r.demand_open, r.demand_covered) == (1, 1, 32, 32)
    assert r.sites["serves"].tolist() == ["M1"] * 8
    assert r.sites.geometry.distance(box(0, 0, 40, 40).exterior).max() < 1e-6
    part = suggest_bait_sites(ev, budget=3)
    assert (part.method, len(part.sites), part.premises_covered) == ("mclp", 3, 0)
    assert part.demand_covered == 12  # each station covers 20 m: four 5 m stretches
    demand = suggest_bait_sites(ev, budget=3, objective="demand")
    assert demand.solve.objective == 12.0
    summary = suggest_bait_sites(ev, budget=8).summary()
    assert summary["premises_covered"] == 1 and summary["new_stations"] == 8


def test_existing_stations_are_kept_and_only_gaps_filled(profile: BaitProfile) -> None:
    market = gpd.GeoDataFrame({"kind": ["market"]}, geometry=[box(0, 0, 40, 40)], crs=CRS)
    st = gpd.GeoDataFrame(
        {"state": ["intact", "intact", "damaged"]},
        geometry=[Point(0, 0), Point(40, 40), Point(20, 0)],
        crs=CRS,
    )
    ev = evaluate_bait_coverage(market, st, profile=profile)
    r = suggest_bait_sites(ev)
    assert len(r.sites) == 6  # 160 m less the 2 x 20 m the two intact ones cover
    assert r.sites["serves"].tolist() == ["0"] * 6  # no code column: the position


def test_siting_respects_exclusion_zones(profile: BaitProfile) -> None:
    road = gpd.GeoDataFrame(
        {"road_class": ["primary"]}, geometry=[box(-50, -20, 90, -5).exterior], crs=CRS
    )
    zones = exclusion_zones(NO_STATIONS.assign(kind=[]), road, profile=profile)
    ev = _market(profile, zones=zones)
    r = suggest_bait_sites(ev)
    assert len(r.sites) == 5
    assert (ev.in_zone(r.sites.geometry.values) < 0).all()
    assert r.sites.geometry.y.min() > 10.0 - 1e-9


def test_uncoverable_demand_is_set_aside(profile: BaitProfile) -> None:
    # a zone over everything but a 1 m hole around the middle of the first 5 m stretch
    # (the outline starts at (40, 0) and runs north): that stretch needs a station, but
    # every candidate that could cover it lies in the zone
    hole = Point(40, 2.5).buffer(1.0)
    zones = gpd.GeoDataFrame(
        {"exclusion_id": ["school"], "name_zh": ["学校"], "name_en": ["school"]},
        geometry=[box(-50, -50, 90, 90).difference(hole)],
        crs=CRS,
    )
    ev = _market(profile, zones=zones)
    assert int((~ev.demand["excluded"]).sum()) == 1
    assert ev.premises["status"].tolist() == ["short"]
    inst = bait_siting_instance(ev)
    assert (len(inst.demand), len(inst.uncoverable)) == (0, 1)
    r = suggest_bait_sites(ev)
    assert len(r.sites) == 0 and r.summary()["uncoverable"] == 1


def test_count_rule_needing_two_stations() -> None:
    text = DEFAULT_BAIT_PROFILE.read_text(encoding="utf-8").replace(
        "min_stations = 1 ", "min_stations = 2 "
    )
    two = parse_bait_profile(text)
    toilets = gpd.GeoDataFrame(
        {"kind": ["公厕", "公厕"]}, geometry=[Point(0, 0), Point(12, 0)], crs=CRS
    )
    st = gpd.GeoDataFrame({"state": ["intact"]}, geometry=[Point(-4, 0)], crs=CRS)
    ev = evaluate_bait_coverage(toilets, st, profile=two)
    # the first has one of two; the second (12 m east) has none: two shared stations do
    assert ev.premises["counted"].tolist() == [1, 0]
    r = suggest_bait_sites(ev)
    assert len(r.sites) == 2 and r.premises_covered == 2


# --- the reference: PySAL spopt on the same instances ----------------------------------------


def _random_district(seed: int, n: int) -> BaitEvaluation:
    """Rows of shops and markets along streets, toilets, some stations; seeded."""
    rng = np.random.default_rng(seed)
    geoms, kinds = [], []
    x = 0.0
    for _ in range(n):
        kind = rng.choice(["catering", "catering", "market", "hotel", "toilet"])
        if kind == "toilet":
            geoms.append(Point(x + 3, -8))
            x += 6
        else:
            w = float(rng.uniform(8, 30 if kind != "market" else 45))
            d = float(rng.uniform(8, 25))
            geoms.append(box(x, 0, x + w, d))
            x += w + float(rng.choice([0.0, 0.0, 3.0, 12.0]))  # shared walls and gaps
        kinds.append(str(kind))
    frame = gpd.GeoDataFrame(
        {"kind": kinds, "code": [f"P{i}" for i in range(n)]}, geometry=geoms, crs=CRS
    )
    outline = frame.boundary.union_all()
    pts = [outline.interpolate(float(t)) for t in rng.uniform(0, outline.length, n)]
    st = gpd.GeoDataFrame(
        {"state": rng.choice(["intact", "intact", "damaged"], n)}, geometry=pts, crs=CRS
    )
    return evaluate_bait_coverage(frame, st, profile=load_bait_profile())


def _spopt(model: str, a: sp.csr_matrix, **kw: object) -> float:
    import pulp
    from spopt.locate import LSCP, MCLP

    cost = np.where(a.toarray() > 0, 0.0, 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # PuLP 4 migration notices
        if model == "lscp":
            m = LSCP.from_cost_matrix(cost, service_radius=1.0)
        else:
            m = MCLP.from_cost_matrix(cost, service_radius=1.0, **kw)  # type: ignore[arg-type]
        m = m.solve(pulp.PULP_CBC_CMD(msg=False), results=False)
    assert pulp.LpStatus[m.problem.status] == "Optimal"
    return float(m.problem.objective.value())


@pytest.mark.reference
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_lscp_matches_spopt(seed: int) -> None:
    inst = bait_siting_instance(_random_district(seed, 40))
    a = inst.coverage
    assert a.shape[0] > 50  # a real instance, not a trivial one
    ours = solve_lscp(a)
    assert ours.proven_optimal
    assert ours.objective == _spopt("lscp", a)


@pytest.mark.reference
@pytest.mark.parametrize(("seed", "budget"), [(5, 5), (6, 10), (7, 20), (8, 3)])
def test_mclp_matches_spopt(seed: int, budget: int) -> None:
    inst = bait_siting_instance(_random_district(seed, 40))
    a = inst.coverage
    weights = np.random.default_rng(seed).integers(1, 6, a.shape[0])
    ours = solve_mclp(a, budget=budget, weights=weights)
    assert ours.proven_optimal
    assert ours.objective == pytest.approx(_spopt("mclp", a, weights=weights, p_facilities=budget))


def _random_cover(seed: int, rows: int, cols: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    a = sp.random(rows, cols, density=min(1.0, 3 / cols), random_state=rng, format="csr")
    a = a + sp.csr_matrix(
        (np.ones(rows), (np.arange(rows), rng.integers(0, cols, rows))), shape=(rows, cols)
    )
    return (a > 0).astype(np.int8).tocsr()


@pytest.mark.parametrize("seed", range(4))
def test_decomposition_matches_one_milp(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # many small independent parts, like a city's shop rows and markets
    sizes = [(int(rng.integers(2, 12)), int(rng.integers(2, 9))) for _ in range(25)]
    a = sp.block_diag(
        [_random_cover(seed * 100 + i, r, c) for i, (r, c) in enumerate(sizes)], format="csr"
    )
    n = a.shape[0]
    weights = rng.integers(1, 5, n).astype(float)
    # a group (premises) per two parts: those parts must be solved together
    groups = np.repeat(np.arange(25) // 2, [r for r, _ in sizes])
    need = np.where(rng.random(n) < 0.1, 2, 1)
    for budget in (3, 17):
        for kw in ({"weights": weights}, {"groups": groups}, {"need": need, "weights": weights}):
            split = solve_mclp(a, budget=budget, decompose=True, **kw)  # type: ignore[arg-type]
            whole = solve_mclp(a, budget=budget, decompose=False, **kw)  # type: ignore[arg-type]
            assert split.proven_optimal and whole.proven_optimal
            assert split.objective == pytest.approx(whole.objective), (budget, kw)
            assert split.message.endswith("parts") and len(split.chosen) <= budget
            assert split.bound == pytest.approx(split.objective)


def test_decomposition_reports_a_gap_when_time_runs_out() -> None:
    a = sp.block_diag([_random_cover(i, 40, 30) for i in range(200)], format="csr")
    r = solve_mclp(a, budget=150, time_limit_s=0.3, decompose=True)
    assert r.status in ("time_limit", "optimal")
    assert r.solve_time_s < 5.0
    if r.status == "time_limit" and r.chosen.size:
        assert len(r.chosen) <= 150
        assert r.bound is not None and r.bound >= r.objective
        assert r.mip_gap is not None and 0.0 <= r.mip_gap < 1.0
    elif r.status == "time_limit":  # not even a full cover in time (a loaded machine)
        assert np.isnan(r.objective) and r.bound is None
