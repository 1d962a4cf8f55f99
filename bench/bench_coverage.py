"""Benchmark: the whole district's coverage gaps and bait-station evaluation, warm.

Read-only against a loaded district (by default the dashboard's size "L",
``citygrid_dash_l``: 49,997 cells, 20,507 segments, 42,738 premises, 23,380 bait
stations, 2,000,000 problems); every query runs in a ``READ ONLY`` transaction.

Timed after one warm-up run of everything, in ``--repeat`` rounds (each part once per
round), medians reported:

- ``db.queries.coverage.bait_evaluation``: the big screen's bait-station panel
  (target under 2 s);
- ``db.queries.coverage.coverage_gaps``: every gap layer, problems outside cells listed
  up to the default limit (target under 5 s);
- and, to show where the time goes, each SQL gap layer, the bait inputs (SQL and
  exclusion buffers), the rule evaluation and the gap frames on their own.

The load average (1 minute) is read before and after: the machine is shared.

    python bench/bench_coverage.py                       # citygrid_dash_l, 5 runs
    python bench/bench_coverage.py --database citygrid_demo --repeat 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGETS_S = {"bait_evaluation": 2.0, "coverage_gaps": 5.0}


def _size(result: Any) -> str:
    if isinstance(result, dict):
        return ", ".join(f"{k} {v.attrs.get('total', len(v)):,}" for k, v in result.items())
    if isinstance(result, tuple):
        return " / ".join(f"{len(x):,}" for x in result)
    if hasattr(result, "premises"):
        counts = result.premises["status"].value_counts().to_dict()
        return f"{len(result.premises):,} premises ({counts}), {len(result.demand):,} stretches"
    return f"{len(result):,} rows"


def _time(
    parts: list[tuple[str, Callable[[], Any]]], repeat: int
) -> list[tuple[str, list[float], Any]]:
    """Run every part once to warm up, then ``repeat`` rounds of every part in turn.

    Round-robin rather than part after part: a burst of the other engineers' jobs then
    slows one run of each part, not every run of one part.
    """
    results = {name: run() for name, run in parts}  # warm: PostgreSQL's caches, imports
    times: dict[str, list[float]] = {name: [] for name, _ in parts}
    for _ in range(repeat):
        for name, run in parts:
            start = time.perf_counter()
            results[name] = run()
            times[name].append(time.perf_counter() - start)
    return [(name, times[name], results[name]) for name, _ in parts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="citygrid_dash_l")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import sqlalchemy as sa

    from db.engine import make_engine
    from db.queries import coverage as q
    from gis.bait import evaluate_bait_coverage
    from gis.coverage import bait_gaps
    from gis.profiles import load_bait_profile

    profile = load_bait_profile()
    as_of = dt.date.today()
    engine = make_engine(database=args.database)
    load_before = os.getloadavg()[0]
    with engine.connect() as conn:
        conn.execute(sa.text("SET TRANSACTION READ ONLY"))
        inputs = q.bait_inputs(conn, profile=profile)
        evaluation = q.bait_evaluation(conn, profile=profile, as_of=as_of)
        days = profile.stations.inspection_max_age_days
        parts: list[tuple[str, Callable[[], Any]]] = [
            ("bait_evaluation", lambda: q.bait_evaluation(conn, profile=profile, as_of=as_of)),
            ("coverage_gaps", lambda: q.coverage_gaps(conn, profile=profile, as_of=as_of)),
            ("  segments without a head", lambda: q.heads_missing(conn, kind="street")),
            ("  lanes without a head", lambda: q.heads_missing(conn, kind="lane")),
            ("  cells without a body", lambda: q.cells_without_body(conn, as_of=as_of)),
            ("  problems outside cells", lambda: q.problems_outside_cells(conn)),
            (
                "  station faults",
                lambda: q.station_faults(conn, max_age_days=days, as_of=as_of),
            ),
            ("  bait inputs (SQL, zones)", lambda: q.bait_inputs(conn, profile=profile)),
            (
                "  rule evaluation (gis.bait)",
                lambda: evaluate_bait_coverage(
                    inputs[0], inputs[1], profile=profile, zones=inputs[2], as_of=as_of
                ),
            ),
            ("  bait gap frames", lambda: bait_gaps(evaluation)),
        ]
        rows = [(name, times, _size(result)) for name, times, result in _time(parts, args.repeat)]
    engine.dispose()
    load_after = os.getloadavg()[0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"\n## Coverage gaps, database {args.database}, {args.repeat} warm runs\n")
    print(f"load average (1 min) {load_before:.1f} before, {load_after:.1f} after; ", end="")
    print(f"peak RSS {peak_mb:,.0f} MB\n")
    print("| what | median s | min s | max s | target | result |")
    print("|---|---:|---:|---:|---|---|")
    for name, times, size in rows:
        median = statistics.median(times)
        target = TARGETS_S.get(name)
        verdict = "" if target is None else ("met" if median < target else "missed")
        print(
            f"| {name} | {median:.3f} | {min(times):.3f} | {max(times):.3f} "
            f"| {'' if target is None else f'< {target:g} s {verdict}'} | {size} |"
        )


if __name__ == "__main__":
    main()
