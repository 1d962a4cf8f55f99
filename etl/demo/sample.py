"""Make the prebuilt sample in ``data/sample``: Dongcheng at size S, its last 14 months.

Run ``python -m etl.demo.sample`` (about half a minute). The files are the ones
``citygrid demo --size S`` writes, with problems cut to the last fourteen months (so
that the last 30 days, this month and last month all have the same period a year
earlier to compare with: 同比) and the larger files gzip-compressed to keep the
repository small; ``citygrid demo`` decompresses them before loading.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import shutil
from pathlib import Path

import pandas as pd

from etl.demo import DEFAULT_SEED, SAMPLE_DIR
from etl.demo.build import build
from etl.demo.files import MANIFEST, write_demo

#: Months of problems the sample keeps: the same month a year before last month began
#: 13 to 14 months ago, whatever the day (同比 of the monthly report).
SAMPLE_MONTHS = 14

_COMPRESS = (".gpkg", ".csv")


def make_sample(
    out: Path = SAMPLE_DIR, *, seed: int = DEFAULT_SEED, months: int = SAMPLE_MONTHS
) -> dict[str, object]:
    """Build Dongcheng (size S), keep ``months`` of problems, write ``out``."""
    data = build("S", seed=seed)
    cutoff = pd.Timestamp(data.as_of) - pd.DateOffset(months=months)
    reported = pd.to_datetime(data.problems.reported_at.str[:19])
    data.problems = data.problems[(reported >= cutoff).to_numpy()].reset_index(drop=True)
    if out.exists():
        shutil.rmtree(out)
    manifest = write_demo(data, out)
    for path in sorted(out.iterdir()):
        if path.suffix in _COMPRESS:
            with (
                path.open("rb") as fin,
                gzip.GzipFile(out / f"{path.name}.gz", "wb", compresslevel=9, mtime=0) as fout,
            ):
                shutil.copyfileobj(fin, fout)
            path.unlink()
    manifest["sample"] = {"problems_months": months, "built": dt.date.today().isoformat()}
    (out / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), "utf-8")
    return manifest


def main() -> None:
    """Command line entry."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR)
    parser.add_argument("--months", type=int, default=SAMPLE_MONTHS)
    args = parser.parse_args()
    make_sample(args.out, seed=args.seed, months=args.months)


if __name__ == "__main__":
    main()
