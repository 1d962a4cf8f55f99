"""Benchmark: where to add bait stations (LSCP and MCLP), against PySAL spopt.

Two parts, both pure Python (no database):

1. **Scaling** on the same instances: rows of shops, markets, hotels and toilets along
   a street with some working stations, judged by the default profile; the uncovered
   stretches are the demand and the stretch ends the candidates. Ours:
   ``gis.covering.solve_lscp``/``solve_mclp`` (HiGHS via ``scipy.optimize.milp`` on the
   sparse coverage matrix). Peer: ``spopt.locate.LSCP``/``MCLP.from_cost_matrix``
   (a dense demand x candidate matrix turned into a PuLP model, solved by the CBC
   that PuLP ships). Both must reach the same proven optimum.
2. **Whole district**: a synthetic district the size of Dongcheng (42 km2: catering
   streets, markets, hotels and supermarkets, toilets and garbage stations, schools
   and main roads as exclusion zones, stations at about two thirds of the required
   density, some damaged), evaluated and sited end to end with a 30 s time limit.
3. **Demo district** (``--part demo``): the demo engineer's Dongcheng at size "S"
   (``etl.demo.build``), markets, premises, stations, schools and main roads as the
   loaders would store them, evaluated and sited with a 30 s limit.
4. **Problems outside cells** (``--part outside``, needs PostGIS): 50,000 cells of
   100 m and 2,000,000 problems (1% outside the grid, stored ``cell_id`` derived as
   the loader does) in a database of its own (``--database``), then
   ``db.queries.coverage.problems_outside_cells`` timed warm, trusting the stored
   cells and rechecking every geometry.

    python bench/bench_siting.py                 # parts 1 and 2
    python bench/bench_siting.py --part district # only the whole district
    python bench/bench_siting.py --part outside  # only the gap query
    python bench/bench_siting.py --part demo     # the demo district, size S (etl.demo)
    python bench/bench_siting.py --sizes 40 80 --repeat 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely

from gis.bait import BaitEvaluation, evaluate_bait_coverage, exclusion_zones
from gis.covering import solve_lscp, solve_mclp
from gis.profiles import load_bait_profile
from gis.siting import bait_siting_instance, suggest_bait_sites

CRS = 4548
PROFILE = load_bait_profile()


def _stations_along(
    frame: gpd.GeoDataFrame, rng: np.random.Generator, *, share: float
) -> gpd.GeoDataFrame:
    """About ``share`` of the stations each outline needs, at random places on it."""
    rules = {r.id: r for r in PROFILE.rules}
    rule = frame["kind"].map(PROFILE.kind_to_rule())
    spacing = rule.map(lambda r: rules[r].spacing_m if rules[r].mode == "perimeter" else 0.0)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    is_point = shapely.get_type_id(geoms) == 0
    outline = np.where(is_point, shapely.buffer(geoms, 3.0), geoms)
    ring = shapely.get_exterior_ring(outline)
    length = np.asarray(shapely.length(ring))
    need = np.where(
        spacing.to_numpy() > 0, np.ceil(length / np.maximum(spacing.to_numpy(), 1.0)), 1
    )
    count = rng.binomial(need.astype(int), share)
    owner = np.repeat(np.arange(len(frame)), count)
    pts = shapely.line_interpolate_point(ring[owner], rng.uniform(0, length[owner]))
    state = rng.choice(["intact", "damaged", "missing"], len(owner), p=[0.85, 0.1, 0.05])
    return gpd.GeoDataFrame({"state": state}, geometry=pts, crs=CRS)


def street_instance(n_premises: int, seed: int) -> BaitEvaluation:
    """Premises in a row along one street (shared walls and gaps), a third covered."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(["catering"] * 5 + ["market", "hotel", "toilet"], n_premises)
    w = np.where(kinds == "market", rng.uniform(30, 60, n_premises), rng.uniform(8, 25, n_premises))
    w = np.where(kinds == "toilet", 6.0, w)
    gap = rng.choice([0.0, 0.0, 3.0, 12.0], n_premises)
    x0 = np.cumsum(w + gap) - (w + gap)
    d = rng.uniform(8, 25, n_premises)
    geoms = np.where(
        kinds == "toilet",
        shapely.points(x0 + 3, -8.0),
        shapely.box(x0, 0.0, x0 + w, d),
    )
    frame = gpd.GeoDataFrame({"kind": kinds}, geometry=geoms, crs=CRS)
    return evaluate_bait_coverage(frame, _stations_along(frame, rng, share=0.35), profile=PROFILE)


def district_instance(seed: int = 2025) -> tuple[BaitEvaluation, dict[str, int]]:
    """A Dongcheng-sized synthetic district (6.5 km x 6.5 km)."""
    rng = np.random.default_rng(seed)
    side, block = 6500.0, 160.0
    lines = np.arange(0.0, side + 1, block)
    # catering streets: 650 rows of 10 shops facing a street, shared walls and gaps
    n_rows, per_row = 650, 10
    sy = rng.choice(lines, n_rows)
    sx = rng.uniform(0, side - 250, n_rows)
    face = rng.choice([-1.0, 1.0], n_rows)
    w = rng.uniform(6, 18, (n_rows, per_row))
    gap = rng.choice([0.0, 0.0, 0.0, 2.0, 8.0], (n_rows, per_row))
    x0 = sx[:, None] + np.cumsum(w + gap, axis=1) - (w + gap)
    d = rng.uniform(8, 18, (n_rows, per_row))
    front = sy[:, None] + face[:, None] * 6.0
    y0 = np.where(face[:, None] > 0, front, front - d)
    shops = shapely.box(x0, y0, x0 + w, y0 + d).ravel()

    def boxes(n: int, lo: float, hi: float) -> np.ndarray:
        cx, cy = rng.uniform(0, side, n), rng.uniform(0, side, n)
        bw, bh = rng.uniform(lo, hi, n), rng.uniform(lo, hi, n)
        return shapely.box(cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)

    buildings = boxes(2000, 18, 55)
    markets = boxes(40, 40, 110)
    facilities = shapely.points(rng.uniform(0, side, 1400), rng.uniform(0, side, 1400))
    geoms = np.concatenate([shops, buildings, markets, facilities])
    kinds = np.concatenate(
        [
            np.full(len(shops), "catering"),
            rng.choice(["hotel", "supermarket", "food_shop", "grain_store"], len(buildings)),
            np.full(len(markets), "market"),
            rng.choice(["public_toilet"] * 5 + ["garbage_station"] * 2, len(facilities)),
        ]
    )
    frame = gpd.GeoDataFrame(
        {"kind": kinds, "code": [f"P{i:05d}" for i in range(len(geoms))]},
        geometry=geoms,
        crs=CRS,
    )
    schools = gpd.GeoDataFrame(
        {"kind": rng.choice(["school", "幼儿园"], 250)}, geometry=boxes(250, 50, 120), crs=CRS
    )
    main = lines[::5]
    roads = gpd.GeoDataFrame(
        {"road_class": ["主干路"] * (2 * len(main))},
        geometry=np.concatenate(
            [
                shapely.linestrings([[(0, y), (side, y)] for y in main]),
                shapely.linestrings([[(x, 0), (x, side)] for x in main]),
            ]
        ),
        crs=CRS,
    )
    stations = _stations_along(frame, rng, share=0.65)
    t = time.perf_counter()
    zones = exclusion_zones(schools, roads, profile=PROFILE)
    ev = evaluate_bait_coverage(frame, stations, profile=PROFILE, zones=zones)
    sizes = {
        "premises": len(frame),
        "stations": len(stations),
        "zones": len(zones),
        "demand rows": len(ev.demand),
        "evaluate_ms": round(1000 * (time.perf_counter() - t)),
    }
    return ev, sizes


def _spopt(model: str, a: sp.csr_matrix, **kw: Any) -> tuple[float, float, float]:
    """(objective, build s, solve s) of spopt on the dense form of ``a``."""
    import pulp
    from spopt.locate import LSCP, MCLP

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        cost = np.where(a.toarray() > 0, 0.0, 2.0)
        if model == "lscp":
            m = LSCP.from_cost_matrix(cost, service_radius=1.0)
        else:
            m = MCLP.from_cost_matrix(cost, service_radius=1.0, **kw)
        t1 = time.perf_counter()
        m = m.solve(pulp.PULP_CBC_CMD(msg=False), results=False)
        t2 = time.perf_counter()
    if pulp.LpStatus[m.problem.status] != "Optimal":
        msg = f"spopt {model} did not reach an optimum: {pulp.LpStatus[m.problem.status]}"
        raise RuntimeError(msg)
    return float(m.problem.objective.value()), t1 - t0, t2 - t1


def _median(f: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return out, statistics.median(times)


def scaling(sizes: list[int], repeat: int, spopt_limit: int) -> None:
    print("## Scaling: same instances, ours against spopt\n")
    print(
        "| premises | demand x candidates | nnz | model | optimum ours / spopt "
        "| ours build+solve s | spopt build s | spopt solve s | spopt / ours |"
    )
    print("|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for n in sizes:
        inst = bait_siting_instance(street_instance(n, seed=n))
        a = inst.coverage
        budget = max(1, a.shape[0] // 12)
        weights = np.ones(a.shape[0])
        runs = {
            "LSCP": (partial(solve_lscp, a), {"model": "lscp"}),
            f"MCLP K={budget}": (
                partial(solve_mclp, a, budget=budget, weights=weights),
                {"model": "mclp", "weights": weights, "p_facilities": budget},
            ),
        }
        for label, (ours_f, peer) in runs.items():
            ours, t_ours = _median(ours_f, repeat)
            assert ours.proven_optimal, ours.message
            shape = f"{a.shape[0]:,} x {a.shape[1]:,}"
            if a.shape[0] * a.shape[1] > spopt_limit:
                print(
                    f"| {n} | {shape} | {a.nnz:,} | {label} | {ours.objective:g} / not run "
                    f"| {t_ours:.3f} | | | |"
                )
                continue
            kw = {k: v for k, v in peer.items() if k != "model"}
            reps = repeat if a.shape[0] * a.shape[1] < 2_000_000 else 1
            results = [_spopt(str(peer["model"]), a, **kw) for _ in range(reps)]
            obj = results[0][0]
            build = statistics.median(r[1] for r in results)
            solve = statistics.median(r[2] for r in results)
            assert abs(obj - ours.objective) < 1e-6, (label, obj, ours.objective)
            print(
                f"| {n} | {shape} | {a.nnz:,} | {label} | {ours.objective:g} / {obj:g} "
                f"| {t_ours:.3f} | {build:.2f} | {solve:.2f} | {(build + solve) / t_ours:.0f}x |"
            )
        sys.stdout.flush()


def district(time_limit_s: float, repeat: int) -> None:
    print("\n## Whole district (synthetic, Dongcheng-sized), 30 s limit\n")
    t = time.perf_counter()
    ev, sizes = district_instance()
    sizes["generate+evaluate_s"] = round(time.perf_counter() - t, 1)
    st = ev.premises["status"].value_counts().to_dict()
    print(f"inputs: {sizes}; premises status: {st}\n")
    print(
        "| run | demand x candidates | nnz | status | stations | premises covered "
        "| gap | bound | instance s | solve s (median) |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    first = suggest_bait_sites(ev, time_limit_s=time_limit_s)
    lscp_n = len(first.sites)
    for label, kw in (
        ("LSCP (close every gap)", {}),
        (f"MCLP premises, K={lscp_n // 2}", {"budget": lscp_n // 2}),
        (f"MCLP demand, K={lscp_n // 2}", {"budget": lscp_n // 2, "objective": "demand"}),
    ):
        results = [suggest_bait_sites(ev, time_limit_s=time_limit_s, **kw) for _ in range(repeat)]
        r = results[0]
        a = r.instance.coverage
        solve_s = statistics.median(x.solve.solve_time_s for x in results)
        build_s = statistics.median(x.instance.build_time_s for x in results)
        gap = "0 (proven)" if r.solve.proven_optimal else f"{100 * (r.solve.mip_gap or 0):.3f}%"
        print(
            f"| {label} | {a.shape[0]:,} x {a.shape[1]:,} | {a.nnz:,} | {r.solve.status} "
            f"| {len(r.sites):,} | {r.premises_covered:,} / {r.premises_open:,} | {gap} "
            f"| {r.solve.bound} | {build_s:.2f} | {solve_s:.2f} |"
        )
        sys.stdout.flush()
    dense_gb = first.instance.coverage.shape[0] * first.instance.coverage.shape[1] * 8 / 1e9
    print(
        f"\nspopt on the whole district: not run; its dense cost matrix alone is {dense_gb:.0f} GB"
    )


def demo(time_limit_s: float, repeat: int, seed: int) -> None:
    import pandas as pd

    from etl.demo.build import build

    t = time.perf_counter()
    d = build("S", seed=seed)
    built = time.perf_counter() - t
    markets = d.markets.assign(source="market")[["source", "code", "kind", "geometry"]]
    premises = d.premises.assign(source="premises")[["source", "code", "kind", "geometry"]]
    frame = gpd.GeoDataFrame(pd.concat([markets, premises], ignore_index=True), crs=d.crs)
    t = time.perf_counter()
    zones = exclusion_zones(d.premises, d.segments, profile=PROFILE)
    ev = evaluate_bait_coverage(frame, d.stations, profile=PROFILE, zones=zones)
    evaluated = time.perf_counter() - t
    status = ev.premises["status"].value_counts().to_dict()
    print(f"\n## Demo district, size S (seed {seed}), {time_limit_s:g} s limit\n")
    print(
        f"built in {built:.1f} s; {len(frame):,} markets and premises, {len(d.stations):,} "
        f"stations, {len(zones):,} exclusion zones, {len(ev.demand):,} demand rows; "
        f"evaluated in {evaluated:.2f} s; status: {status}\n"
    )
    _site_table(ev, time_limit_s, repeat)


def _site_table(ev: BaitEvaluation, time_limit_s: float, repeat: int) -> None:
    print(
        "| run | demand x candidates | nnz | status | stations | premises covered "
        "| gap | instance s | solve s (median) |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    first = suggest_bait_sites(ev, time_limit_s=time_limit_s)
    half = len(first.sites) // 2
    for label, kw in (
        ("LSCP (close every gap)", {}),
        (f"MCLP premises, K={half}", {"budget": half}),
        (f"MCLP demand, K={half}", {"budget": half, "objective": "demand"}),
    ):
        results = [suggest_bait_sites(ev, time_limit_s=time_limit_s, **kw) for _ in range(repeat)]
        r = results[0]
        a = r.instance.coverage
        gap = "0 (proven)" if r.solve.proven_optimal else f"{100 * (r.solve.mip_gap or 0):.3f}%"
        print(
            f"| {label} | {a.shape[0]:,} x {a.shape[1]:,} | {a.nnz:,} | {r.solve.status} "
            f"| {len(r.sites):,} | {r.premises_covered:,} / {r.premises_open:,} | {gap} "
            f"| {statistics.median(x.instance.build_time_s for x in results):.2f} "
            f"| {statistics.median(x.solve.solve_time_s for x in results):.2f} |"
        )
        sys.stdout.flush()


OUTSIDE_BUILD = (
    "TRUNCATE problems, grid_cells RESTART IDENTITY CASCADE",
    """INSERT INTO grid_cells (code, geom)
       SELECT lpad(i::text, 15, '0'), ST_Multi(ST_MakeEnvelope(
              449000 + (i % 250) * 100, 4420000 + (i / 250) * 100,
              449100 + (i % 250) * 100, 4420100 + (i / 250) * 100, 4548))
       FROM generate_series(0, 49999) i""",
    # the grid spans x 449000-474000; points reach 474250, so 1% fall outside
    """INSERT INTO problems (case_no, category_code, source, status, reported_at, geom)
       SELECT 'B' || i, '06010', 'patrol', 'reported',
              timestamptz '2024-01-01' + (i % 700) * interval '1 day',
              ST_SetSRID(ST_MakePoint(449000 + random() * 25250,
                                      4420000 + random() * 20000), 4548)
       FROM generate_series(1, 2000000) i""",
    """UPDATE problems p SET cell_id = c.id FROM grid_cells c
       WHERE ST_X(p.geom) < 474000 AND c.code = lpad((
             floor((ST_Y(p.geom) - 4420000) / 100) * 250
             + floor((ST_X(p.geom) - 449000) / 100))::int::text, 15, '0')""",
    "ANALYZE problems",
    "ANALYZE grid_cells",
)


def outside(database: str, repeat: int, *, rebuild: bool) -> None:
    import os

    os.environ["CITYGRID_DB_NAME"] = database
    import sqlalchemy as sa

    from db import migrate
    from db.engine import get_engine
    from db.queries.coverage import problems_outside_cells

    engine = get_engine()
    migrate.upgrade(engine)
    with engine.begin() as c:
        have = c.execute(sa.text("SELECT count(*) FROM problems")).scalar_one()
        if rebuild or have != 2_000_000:
            for sql in OUTSIDE_BUILD:
                c.execute(sa.text(sql))
    print(f"\n## Problems outside every cell (database {database}, 2,000,000 problems)\n")
    print("| mode | outside | median s | runs s |")
    print("|---|---:|---:|---:|")
    for recheck in (False, True):
        times, total = [], 0
        for _ in range(repeat + 1):  # the first run warms the cache
            with engine.connect() as c:
                t = time.perf_counter()
                frame = problems_outside_cells(c, recheck=recheck)
                times.append(time.perf_counter() - t)
                total = frame.attrs["total"]
        runs = ", ".join(f"{x:.2f}" for x in times[1:])
        label = "recheck every geometry" if recheck else "stored cell, probe the rest"
        print(f"| {label} | {total:,} | {statistics.median(times[1:]):.2f} | {runs} |")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--part", choices=["all", "scaling", "district", "demo", "outside"], default="all"
    )
    parser.add_argument("--seed", type=int, default=2004, help="Seed of the demo district.")
    parser.add_argument("--database", default="citygrid_bench_cover")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 60, 120, 240, 480])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--spopt-max-cells", type=int, default=30_000_000)
    parser.add_argument("--time-limit", type=float, default=30.0)
    args = parser.parse_args()
    if args.part in ("all", "scaling"):
        scaling(args.sizes, args.repeat, args.spopt_max_cells)
    if args.part in ("all", "district"):
        district(args.time_limit, args.repeat)
    if args.part == "demo":
        demo(args.time_limit, args.repeat, args.seed)
    if args.part == "outside":
        outside(args.database, args.repeat, rebuild=args.rebuild)


if __name__ == "__main__":
    main()
