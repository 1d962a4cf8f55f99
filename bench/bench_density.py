"""Benchmark: problem density, 2,000,000 problems into 50,000 grid cells (target < 1 s warm).

Builds synthetic data in its own database (``citygrid_bench_hot`` unless
``--database`` says otherwise) with SQL only: 50,000 cells of 100 m in 200
communities and 20 street offices, 20,000 road segments, 30 categories, and
2,000,000 problems spread over 2023-2024. Then times ``db.queries.density.density``
warm (median of ``--runs`` after one warm-up) for several windows and units, with and
with the per-place indexes of migration 0001 and with the partial ones of 0004 that
replaced them (and, with ``--covering``, a covering index that was tried and rejected).

    python bench/bench_density.py            # build once, then time
    python bench/bench_density.py --rebuild  # rebuild the data
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TZ = ZoneInfo("Asia/Shanghai")

#: The per-place time indexes of migration 0001, which 0004 replaced: density counts
#: leave voided reports out, so these cannot answer them alone.
OLD_INDEXES = (
    "CREATE INDEX IF NOT EXISTS problems_cell_time ON problems (cell_id, reported_at)",
    "CREATE INDEX IF NOT EXISTS problems_segment_time ON problems (segment_id, reported_at)",
)
#: Migration 0004's partial indexes (an index-only, parallel, pre-sorted scan instead of
#: a heap scan and hashing); the script leaves the database with these.
PROPOSED_INDEXES = (
    (
        "CREATE INDEX IF NOT EXISTS problems_live_cell_time ON problems (cell_id, reported_at) "
        "WHERE status <> 'void'"
    ),
    (
        "CREATE INDEX IF NOT EXISTS problems_live_segment_time ON problems (segment_id, reported_at) "
        "WHERE status <> 'void'"
    ),
)
#: Tried and rejected: one covering index for every unit (no faster, as large as the table).
COVERING_INDEX = (
    "CREATE INDEX IF NOT EXISTS problems_time_places ON problems (reported_at) "
    "INCLUDE (cell_id, segment_id, community_id, street_office_id, category_code, source, status)"
)
EXTRA_INDEXES = (
    "problems_live_cell_time",
    "problems_live_segment_time",
    "problems_time_places",
    "problems_cell_time",
    "problems_segment_time",
)

N_CELLS_X, N_CELLS_Y = 250, 200  # 50,000 cells
N_COMMUNITIES = 200
N_OFFICES = 20
N_SEGMENTS = 20_000
N_PROBLEMS = 2_000_000

BUILD = [
    (
        "TRUNCATE problems, problem_categories, road_segments, grid_cells, admin_areas "
        "RESTART IDENTITY CASCADE"
    ),
    f"""INSERT INTO admin_areas (id, code, name, level, parent_code, population, geom)
        SELECT 1000 + s, '110101' || lpad(s::text, 3, '0') || '000', '街道' || s, 'street_office',
               '110101000000', 40000 + s * 1000,
               ST_Multi(ST_MakeEnvelope(500000 + (s - 1) * 1250, 4400000,
                                        500000 + s * 1250, 4420000, 4548))
        FROM generate_series(1, {N_OFFICES}) s""",
    f"""INSERT INTO admin_areas (id, code, name, level, parent_code, population, geom)
        SELECT 2000 + c, '110101' || lpad(((c - 1) / 10 + 1)::text, 3, '0')
                   || lpad(((c - 1) % 10 + 1)::text, 3, '0'),
               '社区' || c, 'community',
               '110101' || lpad(((c - 1) / 10 + 1)::text, 3, '0') || '000', 3000 + c * 10,
               ST_Multi(ST_MakeEnvelope(500000 + (c - 1) * 125, 4400000,
                                        500000 + c * 125, 4420000, 4548))
        FROM generate_series(1, {N_COMMUNITIES}) c""",
    f"""INSERT INTO grid_cells (id, code, community_id, area_m2, geom)
        SELECT k + 1, '110101' || lpad((k + 1)::text, 9, '0'),
               2000 + (k % {N_CELLS_X}) * {N_COMMUNITIES} / {N_CELLS_X} + 1, 10000,
               ST_Multi(ST_MakeEnvelope(500000 + (k % {N_CELLS_X}) * 100,
                                        4400000 + (k / {N_CELLS_X}) * 100,
                                        500000 + (k % {N_CELLS_X}) * 100 + 100,
                                        4400000 + (k / {N_CELLS_X}) * 100 + 100, 4548))
        FROM generate_series(0, {N_CELLS_X * N_CELLS_Y - 1}) k""",
    f"""INSERT INTO road_segments (id, code, road_name, street_office_id, community_id, length_m, geom)
        SELECT k + 1, 'S' || k, '路' || (k / 100), 1000 + (k % {N_CELLS_X}) * {N_OFFICES} / {N_CELLS_X} + 1,
               2000 + (k % {N_CELLS_X}) * {N_COMMUNITIES} / {N_CELLS_X} + 1, 100,
               ST_Multi(ST_MakeLine(ST_MakePoint(500000 + (k % {N_CELLS_X}) * 100,
                                                 4400000 + (k / {N_CELLS_X}) * 100),
                                    ST_MakePoint(500000 + (k % {N_CELLS_X}) * 100 + 100,
                                                 4400000 + (k / {N_CELLS_X}) * 100))::geometry(LineString, 4548))
        FROM generate_series(0, {N_SEGMENTS - 1}) k""",
    """INSERT INTO problem_categories (code, name, major_code, major_name, patrol_category)
        SELECT lpad((6 + m)::text, 2, '0') || lpad(i::text, 3, '0'), '小类' || m || '-' || i,
               lpad((6 + m)::text, 2, '0'), '大类' || m, m % 5 + 1
        FROM generate_series(0, 5) m, generate_series(1, 5) i""",
    # Problems: a skewed cell choice (some cells busier), places derived like the loader
    # does, stored in time order as a loader appending each month's cases stores them.
    f"""INSERT INTO problems (case_no, category_code, source, status, reported_at, cell_id,
                             community_id, street_office_id, segment_id, geom)
        SELECT 'B' || g, cat, src, CASE WHEN g % 50 = 0 THEN 'void' ELSE 'closed' END, at, cell,
               2000 + ((cell - 1) % {N_CELLS_X}) * {N_COMMUNITIES} / {N_CELLS_X} + 1,
               1000 + ((cell - 1) % {N_CELLS_X}) * {N_OFFICES} / {N_CELLS_X} + 1,
               CASE WHEN cell <= {N_SEGMENTS} THEN cell END,
               ST_SetSRID(ST_MakePoint(500000 + ((cell - 1) % {N_CELLS_X}) * 100 + 50,
                                       4400000 + ((cell - 1) / {N_CELLS_X}) * 100 + 50), 4548)
        FROM (
            SELECT g,
                   1 + floor(power(random(), 1.6) * {N_CELLS_X * N_CELLS_Y})::int AS cell,
                   lpad((6 + (g % 6))::text, 2, '0') || lpad((1 + (g / 7) % 5)::text, 3, '0') AS cat,
                   (ARRAY['patrol','patrol','patrol','patrol','12345','photo','video'])[1 + g % 7] AS src,
                   timestamptz '2023-01-01 00:00+08' + random() * interval '731 days' AS at
            FROM generate_series(1, {N_PROBLEMS}) g
        ) s
        ORDER BY at""",
    "VACUUM (ANALYZE) problems",
    "VACUUM (ANALYZE) grid_cells",
    "VACUUM (ANALYZE) road_segments",
    "VACUUM (ANALYZE) admin_areas",
]

CASES = [
    (
        "cell, one month + comparisons",
        "cell",
        dt.datetime(2024, 6, 1, tzinfo=TZ),
        dt.datetime(2024, 7, 1, tzinfo=TZ),
        {},
    ),
    (
        "cell, year 2024 vs 2023 (all 2M rows)",
        "cell",
        dt.datetime(2024, 1, 1, tzinfo=TZ),
        dt.datetime(2025, 1, 1, tzinfo=TZ),
        {},
    ),
    (
        "cell, all two years in the window",
        "cell",
        dt.datetime(2023, 1, 1, tzinfo=TZ),
        dt.datetime(2025, 1, 1, tzinfo=TZ),
        {},
    ),
    (
        "cell, year, major code 06 + source",
        "cell",
        dt.datetime(2024, 1, 1, tzinfo=TZ),
        dt.datetime(2025, 1, 1, tzinfo=TZ),
        {"categories": ["06"], "sources": ["patrol"]},
    ),
    (
        "segment, year",
        "segment",
        dt.datetime(2024, 1, 1, tzinfo=TZ),
        dt.datetime(2025, 1, 1, tzinfo=TZ),
        {},
    ),
    (
        "community, year, by patrol category",
        "community",
        dt.datetime(2024, 1, 1, tzinfo=TZ),
        dt.datetime(2025, 1, 1, tzinfo=TZ),
        {"by": "patrol_category"},
    ),
    (
        "street office, year",
        "street_office",
        dt.datetime(2024, 1, 1, tzinfo=TZ),
        dt.datetime(2025, 1, 1, tzinfo=TZ),
        {},
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="citygrid_bench_hot")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--proposed-only", action="store_true", help="skip the timings with the 0001 indexes"
    )
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of case 3")
    parser.add_argument(
        "--covering", action="store_true", help="also time the rejected covering index"
    )
    args = parser.parse_args()
    os.environ["CITYGRID_DB_NAME"] = args.database

    import pandas as pd
    import sqlalchemy as sa

    from citygrid.settings import get_settings
    from db import migrate
    from db.engine import ensure_server, make_engine
    from db.queries.density import density, fetch_frame

    settings = get_settings()
    ensure_server(settings)
    engine = make_engine(settings)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        have = conn.scalar(sa.text("SELECT count(*) FROM problems"))
    if args.rebuild or have != N_PROBLEMS:
        t0 = time.perf_counter()
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            for stmt in BUILD:
                conn.execute(sa.text(stmt))
        print(f"built synthetic data in {time.perf_counter() - t0:.1f} s")

    def set_indexes(*statements: str) -> None:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            for name in EXTRA_INDEXES:
                conn.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
            for stmt in statements:
                conn.execute(sa.text(stmt))
            conn.execute(sa.text("VACUUM (ANALYZE) problems"))

    def timed(func: object, runs: int) -> list[float]:
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            func()  # type: ignore[operator]
            times.append(time.perf_counter() - t)
        return times

    def run_cases(label: str) -> dict[str, float]:
        medians = {}
        print(f"\n{label}")
        with engine.connect() as conn:
            for name, unit, start, end, kw in CASES:
                out = density(conn, unit=unit, start=start, end=end, **kw)  # warm-up
                times = timed(
                    lambda unit=unit, start=start, end=end, kw=kw: density(
                        conn, unit=unit, start=start, end=end, **kw
                    ),
                    args.runs,
                )
                med = statistics.median(times)
                medians[name] = med
                print(
                    f"  {name:40s} median {med * 1000:6.0f} ms  (min {min(times) * 1000:.0f}, "
                    f"max {max(times) * 1000:.0f}; {len(out)} rows, {int(out['n'].sum())} counted)"
                )
        return medians

    def run_peers() -> dict[str, float]:
        """The floor (a bare GROUP BY of the window) and reading the rows into pandas."""
        start, end = CASES[2][2], CASES[2][3]
        params = {"s": start, "e": end}
        floor_sql = (
            "SELECT cell_id, count(*) FROM problems WHERE reported_at >= :s AND reported_at < :e "
            "AND status <> 'void' GROUP BY cell_id"
        )
        rows_sql = sa.text(
            "SELECT cell_id FROM problems WHERE reported_at >= :s AND reported_at < :e "
            "AND status <> 'void'"
        )
        with engine.connect() as conn:
            fetch_frame(conn, floor_sql, params)  # same reading path as density()
            floor = statistics.median(
                timed(lambda: fetch_frame(conn, floor_sql, params), args.runs)
            )

            def in_pandas() -> None:
                frame = pd.read_sql(rows_sql, conn, params=params)
                frame.groupby("cell_id").size()

            in_pandas()
            pandas_time = statistics.median(timed(in_pandas, max(2, args.runs // 2)))
        print("\npeers with the 0004 indexes, all two years in the window (2M rows, 50,000 cells):")
        print(f"  bare SELECT cell_id, count(*) ... GROUP BY    median {floor * 1000:6.0f} ms")
        print(
            f"  read the rows into pandas, then groupby       median {pandas_time * 1000:6.0f} ms"
        )
        return {"floor": floor, "pandas": pandas_time}

    base: dict[str, float] = {}
    if not args.proposed_only:
        set_indexes(*OLD_INDEXES)
        base = run_cases("indexes of migration 0001 (before 0004)")
    covered = base
    if args.covering:
        set_indexes(COVERING_INDEX)
        covered = run_cases("with one covering index problems_time_places (rejected)")
    set_indexes(*PROPOSED_INDEXES)
    proposed = run_cases("with the partial indexes of migration 0004")
    peers = run_peers()
    main_case = CASES[2][0]
    print("\nratios (median / median, same run):")
    if base:
        print(f"  {'case':40s} {'covering/0001':>14s} {'0004/0001':>14s}")
    for name in base:
        cover = f"{covered[name] / base[name]:14.2f}" if args.covering else f"{'-':>14s}"
        print(f"  {name:40s} {cover} {proposed[name] / base[name]:14.2f}")
    print(
        f"  main case with the 0004 indexes vs bare GROUP BY: {proposed[main_case] / peers['floor']:.2f}; "
        f"vs pandas: {proposed[main_case] / peers['pandas']:.2f}"
    )
    if args.explain:
        from db.queries.density import density_query

        with engine.connect() as conn:
            _, unit, start, end, kw = CASES[2]
            sql, params, _ = density_query(conn, unit=unit, start=start, end=end, **kw)
            plan = conn.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS) " + sql), params).scalars()
            print("\n" + "\n".join(plan))
    engine.dispose()


if __name__ == "__main__":
    main()
