"""Emerging hot spots: Mann-Kendall against pymannkendall, space-time Gi* against esda,
hand-built cases for every pattern, and the monthly counts from PostGIS."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from shapely.geometry import box
from sqlalchemy.engine import Connection

from db.queries import hotspots as hq
from gis import emerging as em
from gis import weights
from gis.errors import DataError
from tests.test_density import TZ, insert_admin_and_cells, insert_problems, random_problems

N = 10  # periods of the hand-built cases

# (classes per period, trend z, trend p) -> pattern; cold cases mirror hot ones below
HOT_CASES = {
    "new_hot": ([0] * 9 + [3], 1.0, 0.3),
    "consecutive_hot": ([0] * 7 + [1, 2, 3], 2.5, 0.01),
    "intensifying_hot": ([2] * 10, 2.5, 0.01),
    "persistent_hot": ([2] * 10, 0.4, 0.7),
    "diminishing_hot": ([3] * 10, -2.5, 0.01),
    "sporadic_hot": ([2, 0, 0, 2, 0, 2, 0, 0, 0, 1], 0.1, 0.9),
    "oscillating_hot": ([-2, 0, 0, 0, 0, 0, 0, 0, 0, 2], 1.0, 0.3),
    "historical_hot": ([2] * 9 + [0], -1.0, 0.3),
}


def _mirror(case: tuple[list[int], float, float]) -> tuple[list[int], float, float]:
    classes, z, p = case
    return [-c for c in classes], -z, p


CASES = {
    **HOT_CASES,
    **{k.replace("_hot", "_cold"): _mirror(v) for k, v in HOT_CASES.items()},
    "none": ([0] * 10, 0.0, 1.0),
}


@pytest.mark.parametrize("pattern", sorted(CASES))
def test_every_pattern_from_a_hand_built_series(pattern: str) -> None:
    classes, z, p = CASES[pattern]
    assert len(classes) == N
    assert em.classify_patterns([classes], [z], [p]).tolist() == [pattern]
    assert pattern in em.PATTERN_LABELS


def test_pattern_edge_cases() -> None:
    rows = {
        # hot once, long ago, and not since: nothing ongoing to report
        "none": [2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        # hot in 9 of 10 periods but a cold spot now: the final period decides
        "oscillating_cold": [2] * 9 + [-2],
        # a final run of hot spots after an earlier one is sporadic, not consecutive
        "sporadic_hot": [2, 0, 0, 0, 0, 0, 0, 0, 2, 2],
        # 90 % is enough for a persistent hot spot
        "persistent_hot": [0] + [2] * 9,
        # a significant trend without 90 % hot periods does not intensify
        "consecutive_hot": [0, 0, 0, 0, 0, 0, 1, 1, 1, 1],
    }
    got = em.classify_patterns(list(rows.values()), [3.0] * 5, [0.001] * 5)
    assert dict(zip(rows, got, strict=True)) == {
        **{k: k for k in rows},
        "persistent_hot": "intensifying_hot",  # the trend is significant here
    }
    # at 95 % confidence, 90 % bins (class 1) are not spots
    assert em.classify_patterns([[0] * 9 + [1]], [0.0], [1.0], confidence=95).tolist() == ["none"]
    with pytest.raises(DataError, match="confidence must be 90, 95 or 99"):
        em.classify_patterns([[0, 1]], [0.0], [1.0], confidence=80)
    with pytest.raises(DataError, match="2 places but 1 trend z"):
        em.classify_patterns([[0, 1], [1, 1]], [0.0], [1.0])


@pytest.mark.reference
def test_mann_kendall_equals_pymannkendall() -> None:
    import pymannkendall as mk

    rng = np.random.default_rng(2)
    series = np.vstack(
        [
            rng.normal(size=(30, 12)),
            rng.integers(0, 4, size=(30, 12)).astype(float),  # many ties
            np.cumsum(rng.normal(size=(10, 24)), axis=1)[:, :12],
            np.zeros((1, 12)),
        ]
    )
    got = em.mann_kendall(series)
    for i, x in enumerate(series):
        ref = mk.original_test(x)
        assert got.s[i] == pytest.approx(ref.s, abs=1e-9)
        assert got.var_s[i] == pytest.approx(ref.var_s, abs=1e-9)
        assert got.z[i] == pytest.approx(ref.z, abs=1e-12)
        assert got.p[i] == pytest.approx(ref.p, abs=1e-12)
        assert got.tau[i] == pytest.approx(ref.Tau, abs=1e-12)


def test_mann_kendall_by_hand() -> None:
    r = em.mann_kendall([[1, 2, 2, 3]])
    # pairs: +1 +1 +1 0 +1 +1 -> S = 5; ties: one group of 2 -> var = (4*3*13 - 2*1*9) / 18
    assert r.s.tolist() == [5.0]
    assert r.var_s[0] == pytest.approx((4 * 3 * 13 - 18) / 18)
    assert r.z[0] == pytest.approx(4 / np.sqrt((4 * 3 * 13 - 18) / 18))
    with pytest.raises(DataError, match="3 or more periods"):
        em.mann_kendall([[1, 2]])


def test_space_time_neighbourhood_looks_back_only() -> None:
    w = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]]))
    st = em.space_time_weights(w, 3, time_steps=1).toarray().astype(int)
    # bin (place 0, period 2) = row 6: places 0 and 1 in periods 1 and 2, never period 0
    assert st[6].tolist() == [0, 0, 0, 1, 1, 0, 1, 1, 0]
    # bin (place 2, period 0) = row 2: only itself (no neighbours, no earlier period)
    assert st[2].tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert em.space_time_weights(w, 3, time_steps=0).toarray()[6].astype(int).tolist() == [
        0,
        0,
        0,
        0,
        0,
        0,
        1,
        1,
        0,
    ]


@pytest.mark.reference
@pytest.mark.parametrize("time_steps", [0, 1, 2, 5])
def test_space_time_gi_star_equals_esda_on_the_explicit_cube(time_steps: int) -> None:
    import libpysal
    from esda import getisord

    rng = np.random.default_rng(time_steps)
    cells = gpd.GeoSeries([box(x, y, x + 1, y + 1) for y in range(4) for x in range(5)], crs=4548)
    w = weights.contiguity_weights(cells)
    cube = rng.poisson(2.0, size=(20, 6)).astype(float)
    z, p = em.space_time_gi_star(cube, w, time_steps=time_steps)
    st = em.space_time_weights(w, 6, time_steps=time_steps)
    lw = libpysal.weights.WSP(st).to_W(silence_warnings=True)
    flat = cube.T.ravel()  # period-major, as the explicit matrix orders bins
    ref = getisord.G_Local(flat, lw, transform="B", star=None, permutations=0)
    np.testing.assert_allclose(z, np.asarray(ref.Zs).reshape(6, 20).T, rtol=0, atol=1e-6)
    assert np.all((p > 0) & (p <= 1))


LATTICE = gpd.GeoSeries([box(x, y, x + 1, y + 1) for y in range(7) for x in range(7)], crs=4548)
BLOCK = [16, 17, 18, 23, 24, 25, 30, 31, 32]  # the 3x3 block around the centre cell 24


@pytest.mark.parametrize(
    ("profile", "pattern"),
    [
        (np.linspace(6, 20, 12).round(), "intensifying_hot"),
        (np.linspace(20, 6, 12).round(), "diminishing_hot"),
        ([8] * 12, "persistent_hot"),
        ([0] * 11 + [15], "new_hot"),
        ([0] * 8 + [12] * 4, "consecutive_hot"),
        ([10, 0, 0, 10, 0, 0, 10, 0, 0, 0, 0, 10], "sporadic_hot"),
    ],
)
def test_emerging_hotspots_end_to_end(profile: list[float], pattern: str) -> None:
    rng = np.random.default_rng(1)
    cube = rng.poisson(1.0, size=(49, 12)).astype(float)
    cube[BLOCK] += np.asarray(profile)
    counts = pd.DataFrame(cube, index=pd.RangeIndex(100, 149, name="unit_id"))
    out = em.emerging_hotspots(counts, weights=weights.contiguity_weights(LATTICE))
    centre = out.loc[124]
    assert centre["pattern"] == pattern
    assert centre["label_en"] == em.PATTERN_LABELS[pattern][1]
    assert out.index.equals(counts.index)
    assert centre["total"] == cube[24].sum()
    assert (out.loc[[100, 106, 142, 148], "pattern"] == "none").all()  # quiet corners


def test_emerging_needs_three_periods() -> None:
    with pytest.raises(DataError, match="at least 3 periods"):
        em.emerging_hotspots(
            pd.DataFrame(np.zeros((49, 2))), weights=weights.contiguity_weights(LATTICE)
        )


@pytest.mark.db
def test_monthly_counts_from_postgis(conn: Connection) -> None:
    cell_community = insert_admin_and_cells(conn, nx=5, ny=5)
    problems = random_problems(
        cell_community,
        {11: 10, 12: 10, 21: 20},
        n=800,
        seed=9,
        first=dt.datetime(2023, 12, 20, tzinfo=TZ),
        days=200,
    )
    insert_problems(conn, problems)
    cube = hq.monthly_counts(conn, unit="cell", start=dt.date(2024, 1, 1), end=dt.date(2024, 7, 1))
    assert cube.columns.tolist() == [dt.date(2024, m, 1) for m in range(1, 7)]
    assert cube.index.tolist() == list(range(1, 26))
    want = Counter(
        (p.cell_id, dt.date(p.reported_at.year, p.reported_at.month, 1))
        for p in problems
        if p.status != "void"
        and p.cell_id is not None
        and dt.datetime(2024, 1, 1, tzinfo=TZ) <= p.reported_at < dt.datetime(2024, 7, 1, tzinfo=TZ)
    )
    got = {(c, m): int(v) for (c, m), v in cube.stack().items() if v}
    assert got == dict(want)
    out = hq.emerging(conn, unit="cell", start=dt.date(2024, 1, 1), end=dt.date(2024, 7, 1))
    assert isinstance(out, gpd.GeoDataFrame)
    assert len(out) == 25
    assert set(out["pattern"]) <= set(em.PATTERN_LABELS)
    assert out.attrs["months"][0] == "2024-01-01"
    assert out.loc[1, "street_office"] == "东华门街道"
    # a period inside one month still counts that whole calendar month
    part = hq.monthly_counts(
        conn, unit="cell", start=dt.date(2024, 3, 10), end=dt.date(2024, 3, 20)
    )
    assert part.columns.tolist() == [dt.date(2024, 3, 1)]
    assert int(part.to_numpy().sum()) == int(cube[dt.date(2024, 3, 1)].sum())
