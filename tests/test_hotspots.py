"""Gi* hot spots: hand-checked lattices, esda as the reference, and the PostGIS path."""

from __future__ import annotations

import datetime as dt
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sqlalchemy as sa
from shapely.geometry import LineString, box
from sqlalchemy.engine import Connection

from db.access import SYSTEM, Actor
from db.queries import hotspots as hq
from gis import hotspots as hs
from gis import weights
from gis.errors import DataError
from tests.test_density import (
    END,
    START,
    TZ,
    Problem,
    insert_admin_and_cells,
    insert_problems,
    insert_segments,
)


def lattice(nx: int, ny: int) -> gpd.GeoDataFrame:
    cells = [box(x, y, x + 1, y + 1) for y in range(ny) for x in range(nx)]
    return gpd.GeoDataFrame(geometry=cells, crs=4548)


def hot_corner() -> np.ndarray:
    """5x5 lattice, row-major: the 2x2 corner at cells 0, 1, 5, 6 has 10 problems each."""
    y = np.zeros(25)
    y[[0, 1, 5, 6]] = 10.0
    return y


def test_hot_corner_by_hand() -> None:
    y = hot_corner()
    g = hs.gi_star(y, weights.contiguity_weights(lattice(5, 5)))
    # mean 1.6, population variance 16 - 1.6^2 = 13.44
    # corner: its 4-cell neighbourhood holds 40: z = (40 - 4*1.6) / sqrt(13.44*(25*4 - 16)/24)
    assert g.z[0] == pytest.approx(math.sqrt(24.0), abs=1e-12)
    # far corner: 4 empty cells: z = -6.4 / sqrt(47.04)
    assert g.z[24] == pytest.approx(-6.4 / math.sqrt(47.04), abs=1e-12)
    # centre: 9 cells holding 10: z = (10 - 9*1.6) / sqrt(13.44*(25*9 - 81)/24)
    assert g.z[12] == pytest.approx(-4.4 / math.sqrt(80.64), abs=1e-12)
    assert g.n_neighbours[[0, 2, 12]].tolist() == [3, 5, 8]
    assert g.local_mean[0] == 10.0
    assert g.local_mean[12] == pytest.approx(10 / 9)
    assert g.global_mean == pytest.approx(1.6)
    assert g.global_sd == pytest.approx(math.sqrt(13.44))
    assert g.p[0] == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(math.sqrt(24) / math.sqrt(2)))))
    classes = hs.confidence_classes(g.z, g.p, fdr=True)
    assert classes[0] == 3
    assert classes[24] == 0


def test_fdr_is_benjamini_hochberg_as_arcgis_applies_it() -> None:
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216])
    q = hs.fdr_adjust(p)
    assert q.round(5).tolist() == [
        0.01,
        0.04,
        0.084,
        0.084,
        0.084,
        0.1,
        0.10571,
        0.216,
        0.216,
        0.216,
    ]
    # ArcGIS's critical p per level: the largest p_(k) with p_(k) <= k/m * alpha
    for alpha, expected_k in ((0.10, 6), (0.05, 2), (0.01, 1)):
        ok = p <= np.arange(1, 11) / 10 * alpha
        assert np.flatnonzero(ok).max() + 1 == expected_k
        assert int((q <= alpha).sum()) == expected_k
    z = np.full(10, 2.0)
    assert hs.confidence_classes(z, p).tolist() == [3, 2, 1, 1, 1, 1, 0, 0, 0, 0]
    assert hs.confidence_classes(-z, p, fdr=False).tolist() == [-3, -3, -2, -2, -2, -1, -1, 0, 0, 0]


def test_constant_values_have_nothing_to_test() -> None:
    g = hs.gi_star(np.full(9, 4.0), weights.contiguity_weights(lattice(3, 3)))
    assert g.z.tolist() == [0.0] * 9
    assert g.p.tolist() == [1.0] * 9
    everything = sp.csr_matrix(np.ones((4, 4)) - np.eye(4))
    assert hs.gi_star([1, 2, 3, 4], everything).z.tolist() == [0.0] * 4


def test_hotspots_keeps_index_and_does_not_change_its_input() -> None:
    cells = lattice(5, 5).assign(n=hot_corner())
    cells.index = pd.Index(range(100, 125), name="unit_id")
    before = cells.copy()
    out = hs.hotspots(cells, column="n", weights=weights.contiguity_weights(cells))
    assert cells.equals(before)
    assert isinstance(out, gpd.GeoDataFrame)
    assert out.index.equals(cells.index)
    assert out.loc[100, "gi_label_zh"] == "热点（99%置信）"
    assert out.loc[100, "gi_label_en"] == "Hot spot, 99% confidence"
    assert out.loc[124, "gi_label_zh"] == "不显著"
    assert set(out.columns) >= {
        "gi_z",
        "gi_p",
        "gi_p_fdr",
        "gi_class",
        "n_neighbours",
        "local_mean",
        "global_mean",
    }


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: hs.gi_star([1, 2, np.nan], sp.csr_matrix((3, 3))), "1 are missing or infinite"),
        (
            lambda: hs.gi_star([1, 2, 3], sp.csr_matrix((4, 4))),
            "weights are 4x4 but there are 3 values",
        ),
        (lambda: hs.gi_star([1, 2, 3], sp.csr_matrix((3, 3)), transform="x"), "transform must be"),
        (lambda: hs.gi_star([1, 2], sp.csr_matrix((2, 2))), "at least 3 features"),
        (
            lambda: hs.hotspots(
                pd.DataFrame({"a": [1]}), column="n", weights=sp.csr_matrix((1, 1))
            ),
            "column 'n' not found; columns are: a",
        ),
    ],
)
def test_bad_inputs_say_what_to_change(call: object, match: str) -> None:
    with pytest.raises(DataError, match=match):
        call()  # type: ignore[operator]


def road(n: int) -> gpd.GeoSeries:
    return gpd.GeoSeries(
        [LineString([(i * 100, 0), ((i + 1) * 100, 0)]) for i in range(n)], crs=4548
    )


def test_network_hot_stretch_on_a_road() -> None:
    counts = np.array([0, 0, 1, 9, 12, 10, 1, 0, 0, 0, 0, 1])
    g = hs.gi_star(counts, weights.network_weights(road(12)))
    assert int(np.argmax(g.z)) == 4
    assert g.n_neighbours.tolist() == [1] + [2] * 10 + [1]
    assert g.local_mean[4] == pytest.approx(31 / 3)
    assert hs.confidence_classes(g.z, g.p, fdr=False)[4] == 3


def _esda_z(y: np.ndarray, w: sp.csr_matrix, transform: str) -> np.ndarray:
    import libpysal
    from esda import getisord

    lw = libpysal.weights.WSP(sp.csr_matrix(w)).to_W(silence_warnings=True)
    # binary: esda puts 1 on the diagonal (star=True); row: the same self-weight of 1
    # (star=1.0), then row-standardises
    star: bool | float = True if transform == "B" else 1.0
    return np.asarray(getisord.G_Local(y, lw, transform=transform, star=star, permutations=0).Zs)


@pytest.mark.reference
@pytest.mark.parametrize("transform", ["binary", "row"])
def test_z_equals_esda_on_the_same_weights(transform: str) -> None:
    rng = np.random.default_rng(11)
    cells = lattice(12, 10)
    y = rng.poisson(3.0, size=len(cells)).astype(float)
    y[:15] += rng.poisson(6.0, size=15)
    esda_transform = "B" if transform == "binary" else "R"
    for w in (
        weights.contiguity_weights(cells),
        weights.contiguity_weights(cells, kind="rook"),
        weights.distance_band_weights(cells, threshold_m=2.5),
    ):
        mine = hs.gi_star(y, w, transform=transform)  # type: ignore[arg-type]
        np.testing.assert_allclose(mine.z, _esda_z(y, w, esda_transform), rtol=0, atol=1e-6)


@pytest.mark.reference
def test_network_z_equals_esda() -> None:
    rng = np.random.default_rng(5)
    w = weights.network_weights(road(40), steps=2)
    y = rng.poisson(2.0, size=40).astype(float)
    np.testing.assert_allclose(hs.gi_star(y, w).z, _esda_z(y, w, "B"), rtol=0, atol=1e-6)


# --- the PostGIS path ---------------------------------------------------------------


def _corner_problems(
    cell_community: dict[int, int], community_office: dict[int, int]
) -> list[Problem]:
    """12 problems in each of cells 1, 2, 6, 7 (top-left 2x2 of a 5x5 block), 1 in cell 25."""
    out = []
    at = dt.datetime(2024, 3, 10, 9, 0, tzinfo=TZ)
    for cell, k in [(1, 12), (2, 12), (6, 12), (7, 12), (25, 1)]:
        com = cell_community[cell]
        out += [Problem(cell, 1, com, community_office[com], "06010", "patrol", "closed", at)] * k
    return out


def _load_corner(conn: Connection) -> None:
    cell_community = insert_admin_and_cells(conn, nx=5, ny=5)
    insert_problems(conn, _corner_problems(cell_community, {11: 10, 12: 10, 21: 20}))


@pytest.mark.db
def test_cell_hotspots_from_postgis_match_the_pure_core(conn: Connection) -> None:
    _load_corner(conn)
    out = hq.hotspots(conn, unit="cell", start=START, end=END)
    assert isinstance(out, gpd.GeoDataFrame)
    assert len(out) == 25
    counts = out["n"].to_numpy()
    assert counts.sum() == 49
    expected = hs.gi_star(counts, weights.contiguity_weights(out.geometry.reset_index(drop=True)))
    np.testing.assert_allclose(out["gi_z"], expected.z)
    assert out.loc[1, "gi_class"] == 3
    assert out.attrs["weights"]["weights"] == "queen"
    rook = hq.hotspots(conn, unit="cell", start=START, end=END, weights="rook")
    assert rook.loc[13, "n_neighbours"] == 4
    band = hq.hotspots(conn, unit="cell", start=START, end=END, weights="distance")
    assert band.attrs["weights"]["distance_m"] == pytest.approx(100.0)
    with pytest.raises(DataError, match="weights 'network' do not apply to cells"):
        hq.hotspots(conn, unit="cell", start=START, end=END, weights="network")


def _people_and_assignments(conn: Connection) -> None:
    conn.execute(
        sa.text("INSERT INTO people (id, person_key, name, phone) VALUES (:i, :k, :n, :p)"),
        [
            {"i": 1, "k": "p1", "n": "王小明", "p": "13812345678"},
            {"i": 2, "k": "p2", "n": "李四", "p": "13900001111"},
            {"i": 3, "k": "p3", "n": "赵六", "p": "13700002222"},
            {"i": 4, "k": "p4", "n": "孙七", "p": None},
            {"i": 5, "k": "p5", "n": "周八", "p": "13600003333"},
            {"i": 6, "k": "p6", "n": "吴九", "p": "13500004444"},
        ],
    )
    ended = dt.datetime(2024, 1, 1, tzinfo=TZ)
    rows = [
        # segment 1: one active level-3 head under a level-2 supervisor; an ended one
        (1, "segment", 1, "street_head", 3, 2, None),
        (3, "segment", 1, "street_head", 3, 2, ended),
        # segment 2: only a level-2 head (not a level-3 one)
        (2, "segment", 2, "street_head", 2, None, None),
        # segment 3: two active level-3 heads (a violation the list must show)
        (4, "segment", 3, "street_head", 3, None, None),
        (5, "segment", 3, "street_head", 3, None, None),
        # cell 1: a grid worker
        (6, "cell", 1, "grid_worker", None, None, None),
    ]
    conn.execute(
        sa.text(
            "INSERT INTO assignments (person_id, target_type, target_id, role, level, supervisor_id, "
            "valid_from, valid_to, assigned_by) VALUES (:p, :tt, :t, :r, :l, :s, :vf, :vt, 'test')"
        ),
        [
            {
                "p": p,
                "tt": tt,
                "t": t,
                "r": r,
                "l": lv,
                "s": sup,
                "vf": dt.datetime(2023, 1, 1, tzinfo=TZ),
                "vt": vt,
            }
            for p, tt, t, r, lv, sup, vt in rows
        ],
    )
    conn.execute(
        sa.text("UPDATE grid_cells SET responsible_body = '东华门街道城管执法队' WHERE id = 2")
    )


@pytest.mark.db
def test_top_segments_name_the_active_level3_street_head(conn: Connection) -> None:
    _load_corner(conn)
    insert_segments(conn)
    _people_and_assignments(conn)
    extra = [
        Problem(None, 3, None, 20, "06010", "12345", "closed", dt.datetime(2024, 3, 5, tzinfo=TZ))
    ] * 3
    insert_problems(conn, extra, prefix="X")
    out = hq.hotspots(conn, unit="segment", start=START, end=END)
    assert out.attrs["weights"]["weights"] == "network"
    assert out["n_neighbours"].to_dict() == {1: 1, 2: 2, 3: 1}
    top = hq.top_n(conn, out, unit="segment", actor=SYSTEM, n=3, by="count")
    assert top.index.tolist() == [1, 3, 2]
    assert top["rank"].tolist() == [1, 2, 3]
    assert top.loc[1, "street_head_name"] == "王小明"
    assert top.loc[1, "street_head_phone"] == "13812345678"
    assert top.loc[1, "supervisor_name"] == "李四"
    assert pd.isna(top.loc[2, "street_head_name"])
    heads = top.loc[3, "street_head_name"].split("、")
    phones = top.loc[3, "street_head_phone"].split("、")
    assert dict(zip(heads, phones, strict=True)) == {"孙七": "", "周八": "13600003333"}
    assert top.loc[1, "name"] == "东四北大街（东四十条—张自忠路）"
    viewer = Actor(username="guest", role="viewer")
    masked = hq.top_n(conn, out, unit="segment", actor=viewer, n=1, by="count")
    assert masked.loc[1, "street_head_name"] == "王**"
    assert masked.loc[1, "street_head_phone"] == "138****5678"


@pytest.mark.db
def test_top_cells_name_the_responsible_body_or_the_community(conn: Connection) -> None:
    _load_corner(conn)
    _people_and_assignments(conn)
    out = hq.hotspots(conn, unit="cell", start=START, end=END)
    top = hq.top_n(conn, out, unit="cell", actor=SYSTEM, n=4)
    assert set(top.index) == {1, 2, 6, 7}
    assert top.loc[2, "responsible_body"] == "东华门街道城管执法队"
    assert not top.loc[2, "responsible_fallback"]
    assert top.loc[1, "responsible_body"] == "多福巷社区"  # 属地兜底
    assert top.loc[1, "responsible_fallback"]
    assert top.loc[1, "grid_worker_name"] == "吴九"
    assert top["gi_z"].is_monotonic_decreasing
    assert top.loc[1, "street_office"] == "东华门街道"
    with pytest.raises(DataError, match="pass the result of hotspots"):
        hq.top_n(conn, pd.DataFrame({"n": [1]}), unit="cell", actor=SYSTEM)


@pytest.mark.db
def test_cli_prints_the_top_list_and_exports(
    clean_db: sa.engine.Engine,
    tmp_path: object,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pathlib import Path

    from citygrid.cli import main

    monkeypatch.setenv("COLUMNS", "240")  # rich would wrap the labels at 80

    with clean_db.begin() as c:
        _load_corner(c)
    out_dir = Path(str(tmp_path))
    csv_path, gpkg_path = out_dir / "hot.csv", out_dir / "hot.gpkg"
    argv = ["analyse", "hotspots", "--from", "2024-03", "--to", "2024-04", "--top", "3"]
    assert main([*argv, "--csv", str(csv_path), "--gpkg", str(gpkg_path)]) == 0
    printed = capsys.readouterr().out
    assert "cell hot spots 2024-03-01 – 2024-04-01" in printed
    assert "热点（99%置信）" in printed
    table = pd.read_csv(csv_path, encoding="utf-8-sig")
    assert len(table) == 25
    assert set(table["gi_class"]) >= {3}
    layer = gpd.read_file(gpkg_path, layer="hotspots_cell")
    assert len(layer) == 25
    assert layer.crs.to_epsg() == 4548
    with clean_db.connect() as c:
        audit = c.execute(
            sa.text(
                "SELECT action, entity_id, detail->>'rows' FROM audit_log WHERE entity_type = 'analysis'"
            )
        ).all()
    assert [tuple(r) for r in audit] == [("export", "hotspots_cell", "25")]
    assert (
        main(
            [
                "analyse",
                "density",
                "--unit",
                "street_office",
                "--from",
                "2024-03",
                "--to",
                "2024-04",
            ]
        )
        == 0
    )
    assert "东华门街道" in capsys.readouterr().out
    assert main(["analyse", "emerging", "--from", "2023-10", "--to", "2024-04"]) == 0
    assert "emerging cell hot spots, 2023-10 – 2024-03 (6 months)" in capsys.readouterr().out
    assert main([*argv, "--street-office", "和平里街道"]) == 1
    assert "error: street office 和平里街道 not found" in capsys.readouterr().err


def test_db_module_doctests() -> None:
    import doctest

    import db.queries.density
    import db.queries.hotspots

    for module in (db.queries.density, db.queries.hotspots):
        result = doctest.testmod(module)
        assert result.attempted > 0, module.__name__
        assert result.failed == 0, module.__name__
