"""Benchmark: load 1,000,000 problem points from GeoPackage and from CSV, with validation and
derivations, against ogr2ogr, GeoDataFrame.to_postgis and the physical limit (psql \\copy).

Every method runs in its own process, into the same ``problems`` table (emptied and
checkpointed before each run), on the same server, from the same files, in the same
run; the order of methods is shuffled in each round. Reported: the median wall time of
``--runs`` rounds (process start included for every method), and per-round ratios.

* ``citygrid csv|gpkg``: ``etl.load.load_file`` (validation, GCJ/CRS handling, cell,
  community, street office and nearest segment for every point, run record, rejects).
* ``ogr2ogr csv|gpkg``: Debian's GDAL, ``PG_USE_COPY=YES``, ``-append`` into the same
  table with reprojection; it derives nothing and checks nothing.
* ``to_postgis``: ``geopandas.read_file`` + ``to_crs`` + ``to_postgis(if_exists="append")``.
* ``psql \\copy``: the rows exactly as citygrid stored them (derived columns included),
  pre-encoded as CSV with hex EWKB: the least work a load into this table can do.

The synthetic district (``bench_load_district``) has thousands of cells and segments.

    python bench/bench_load.py                      # 1,000,000 rows, 3 rounds
    python bench/bench_load.py --rows 200000 --runs 1 --no-to-postgis
    python bench/bench_load.py --memory 1000000 10000000   # peak RSS of citygrid csv
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from db.access import Actor  # noqa: E402  (after the path is set)

#: The operator at the server who runs the benchmark.
BENCH = Actor(username="system:bench", role="system")

COLUMNS = (
    "case_no, category_code, source, status, reported_at, deadline, closed_at, description, "
    "address, cell_id, community_id, street_office_id, segment_id, segment_dist_m, geom, "
    "load_run_id"
)


def _settings_env(database: str) -> dict[str, str]:
    env = dict(os.environ)
    env["CITYGRID_DB_NAME"] = database
    env["PYTHONPATH"] = str(ROOT)
    return env


def _engine() -> Any:
    from db import migrate
    from db.engine import ensure_server, make_engine

    ensure_server()
    engine = make_engine()
    migrate.upgrade(engine)
    return engine


def _pg(engine: Any) -> tuple[str, dict[str, str]]:
    """A libpq connection string and environment (password kept out of argv)."""
    url = engine.url
    env = dict(os.environ, PGPASSWORD=url.password or "")
    return f"host={url.host} port={url.port} dbname={url.database} user={url.username}", env


def _sql(engine: Any, *statements: str) -> None:
    import sqlalchemy as sa

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for s in statements:
            conn.execute(sa.text(s))


def setup_district(engine: Any, work: Path) -> dict[str, int]:
    """Load the synthetic district (admin areas, cells, segments, categories) once."""
    import sqlalchemy as sa

    from bench import bench_load_district as district
    from etl.load import load_file

    with engine.connect() as conn:
        have = conn.scalar(sa.text("SELECT count(*) FROM grid_cells"))
    if not have:
        layers = district.build()
        for name, frame in layers.items():
            frame.to_file(work / f"{name}.gpkg")
            report = load_file(engine, name, work / f"{name}.gpkg", actor=BENCH)
            assert report.status == "done" and not report.n_rejected, report.rejects
        district.categories().to_csv(work / "categories.csv", index=False)
        load_file(engine, "categories", work / "categories.csv", actor=BENCH)
    with engine.connect() as conn:
        return {
            t: int(conn.scalar(sa.text(f"SELECT count(*) FROM {t}")) or 0)
            for t in ("admin_areas", "grid_cells", "road_segments", "problem_categories")
        }


def write_files(rows: int, work: Path, *, gpkg: bool = True) -> dict[str, Path]:
    """The benchmark's problem files (cached): CSV with lon/lat, GeoPackage in EPSG:4326."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyogrio
    import shapely

    from bench import bench_load_district as district

    csv_path = work / f"problems-{rows}.csv"
    gpkg_path = work / f"problems-{rows}.gpkg"
    step = 1_000_000
    if not csv_path.is_file():
        tmp = csv_path.with_suffix(".tmp")
        writer = None
        for start in range(0, rows, step):
            part = district.problems(min(step, rows - start), seed=start + 1, offset=start)
            if writer is None:
                writer = pacsv.CSVWriter(tmp, part.schema)
            writer.write_table(part)
        assert writer is not None
        writer.close()
        tmp.rename(csv_path)
    if gpkg and not gpkg_path.is_file():
        table = district.problems(rows, seed=1) if rows <= step else None
        assert table is not None, "GeoPackage files are written for up to 1,000,000 rows"
        lon = table.column("lon").to_numpy()
        lat = table.column("lat").to_numpy()
        geom = pa.array(shapely.to_wkb(shapely.points(lon, lat)), pa.binary())
        out = table.drop_columns(["lon", "lat"]).append_column("geometry", geom)
        tmp = gpkg_path.with_suffix(".tmp.gpkg")
        pyogrio.write_arrow(
            out,
            tmp,
            layer="problems",
            driver="GPKG",
            geometry_name="geometry",
            geometry_type="Point",
            crs="EPSG:4326",
        )
        tmp.rename(gpkg_path)
    return {"csv": csv_path, "gpkg": gpkg_path}


def export_copy_file(engine: Any, path: Path) -> None:
    """The rows citygrid stored, as CSV with hex EWKB, for psql \\copy."""
    pg = engine.raw_connection()
    try:
        with pg.cursor() as cur, path.open("wb") as f:
            copy_sql = (
                f"COPY (SELECT {COLUMNS} FROM problems ORDER BY id) TO STDOUT WITH (FORMAT csv)"
            )
            with cur.copy(copy_sql) as copy:
                for block in copy:
                    f.write(block)
    finally:
        pg.close()


def _child(args: argparse.Namespace) -> None:
    """Run one method inside this (fresh) process and print its figures as JSON."""
    from db.engine import make_engine

    engine = make_engine()
    start = time.perf_counter()
    out: dict[str, Any] = {}
    if args.child == "citygrid":
        from etl.load import load_file

        report = load_file(engine, "problems", Path(args.file), actor=BENCH)
        out = {
            "inserted": report.n_inserted,
            "rejected": report.n_rejected,
            "status": report.status,
        }
    elif args.child == "to_postgis":
        import geopandas as gpd

        gdf = gpd.read_file(args.file, engine="pyogrio", use_arrow=True).to_crs(4548)
        gdf = gdf.rename_geometry("geom")
        gdf.to_postgis("problems", engine, if_exists="append", index=False)
        out = {"inserted": len(gdf)}
    out["inner_s"] = time.perf_counter() - start
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def run_method(
    name: str, engine: Any, files: dict[str, Path], copy_file: Path, env: dict[str, str]
) -> dict[str, Any]:
    """Empty the table, checkpoint, run one method in its own process; time it."""
    _sql(engine, "TRUNCATE problems", "CHECKPOINT")
    conninfo, pgenv = _pg(engine)
    if name.startswith("citygrid"):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "citygrid",
            "--file",
            str(files[name.split()[1]]),
        ]
        run_env = env
    elif name == "to_postgis":
        cmd = [sys.executable, __file__, "--child", "to_postgis", "--file", str(files["gpkg"])]
        run_env = env
    elif name.startswith("ogr2ogr"):
        src = files[name.split()[1]]
        cmd = [
            "ogr2ogr",
            "-f",
            "PostgreSQL",
            f"PG:{conninfo}",
            str(src),
            "-nln",
            "problems",
            "-append",
            "-t_srs",
            "EPSG:4548",
            "--config",
            "PG_USE_COPY",
            "YES",
        ]
        if src.suffix == ".csv":
            cmd += [
                "-oo",
                "X_POSSIBLE_NAMES=lon",
                "-oo",
                "Y_POSSIBLE_NAMES=lat",
                "-s_srs",
                "EPSG:4326",
            ]
        run_env = dict(pgenv, PG_USE_COPY="YES")
    else:
        copy_cmd = f"\\copy problems ({COLUMNS}) FROM '{copy_file}' WITH (FORMAT csv)"
        cmd = ["psql", conninfo, "-q", "-c", copy_cmd]
        run_env = pgenv
    start = time.perf_counter()
    done = subprocess.run(cmd, env=run_env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{name} failed: {done.stderr[-2000:]}")
    import sqlalchemy as sa

    with engine.connect() as conn:
        rows = int(conn.scalar(sa.text("SELECT count(*) FROM problems")) or 0)
    result: dict[str, Any] = {"method": name, "wall_s": wall, "rows": rows}
    if name.startswith(("citygrid", "to_postgis")):
        result |= json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database", default="citygrid_etl_bench")
    parser.add_argument("--work", type=Path, default=None, help="folder for the generated files")
    parser.add_argument("--no-to-postgis", dest="to_postgis", action="store_false")
    parser.add_argument("--memory", type=int, nargs="*", help="row counts for the peak-RSS runs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", choices=["citygrid", "to_postgis"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["CITYGRID_DB_NAME"] = args.database
    if args.child:
        _child(args)
        return
    from citygrid.settings import get_settings

    env = _settings_env(args.database)
    engine = _engine()
    work = args.work or get_settings().home / "bench-load"
    work.mkdir(parents=True, exist_ok=True)
    counts = setup_district(engine, work)
    print(f"district: {counts}", flush=True)
    results: dict[str, Any] = {"rows": args.rows, "district": counts, "runs": [], "memory": []}
    if args.memory:
        for n in args.memory:
            files = write_files(n, work, gpkg=False)
            r = run_method("citygrid csv", engine, files, Path(), env)
            print(
                f"memory {n:,} rows: {r['wall_s']:.1f} s, peak RSS {r['rss_mb']:.0f} MB", flush=True
            )
            results["memory"].append({"rows_in_file": n, **r})
    else:
        files = write_files(args.rows, work)
        copy_file = work / f"problems-{args.rows}.copy.csv"
        if not copy_file.is_file():
            run_method("citygrid csv", engine, files, copy_file, env)
            export_copy_file(engine, copy_file)
        methods = ["psql \\copy", "citygrid csv", "citygrid gpkg", "ogr2ogr csv", "ogr2ogr gpkg"]
        if args.to_postgis:
            methods.append("to_postgis")
        rng = random.Random(7)
        for round_no in range(args.runs):
            order = methods[:]
            rng.shuffle(order)
            for m in order:
                r = run_method(m, engine, files, copy_file, env) | {"round": round_no}
                print(
                    f"round {round_no}: {m:<14} {r['wall_s']:7.1f} s  ({r['rows']:,} rows)",
                    flush=True,
                )
                results["runs"].append(r)
        _summary(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")


def _summary(results: dict[str, Any]) -> None:
    runs = results["runs"]
    by: dict[str, list[float]] = {}
    for r in runs:
        by.setdefault(r["method"], []).append(r["wall_s"])
    print("\n| method | median s | rows/s | runs |\n|---|---:|---:|---:|")
    for m, t in by.items():
        med = statistics.median(t)
        print(f"| {m} | {med:.1f} | {results['rows'] / med:,.0f} | {len(t)} |")

    def ratio(a: str, b: str) -> list[float]:
        rounds = {r["round"] for r in runs}
        out = []
        for k in sorted(rounds):
            ta = [r["wall_s"] for r in runs if r["method"] == a and r["round"] == k]
            tb = [r["wall_s"] for r in runs if r["method"] == b and r["round"] == k]
            if ta and tb:
                out.append(tb[0] / ta[0])
        return out

    print("\n| comparison (same round) | median ratio | rounds |\n|---|---:|---:|")
    for a, b, label in (
        ("citygrid csv", "psql \\copy", "citygrid csv speed / \\copy speed"),
        ("citygrid gpkg", "psql \\copy", "citygrid gpkg speed / \\copy speed"),
        ("citygrid csv", "ogr2ogr csv", "citygrid csv speed / ogr2ogr csv speed"),
        ("citygrid gpkg", "ogr2ogr gpkg", "citygrid gpkg speed / ogr2ogr gpkg speed"),
        ("citygrid gpkg", "to_postgis", "citygrid gpkg speed / to_postgis speed"),
    ):
        rs = ratio(a, b)
        if rs:
            print(f"| {label} | {statistics.median(rs):.2f} | {len(rs)} |")


if __name__ == "__main__":
    main()
