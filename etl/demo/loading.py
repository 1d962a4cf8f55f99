"""Load a demo folder into the database through the loaders a user would use.

Files go through :func:`etl.load.load_file` in dependency order (areas before what
lies in them, segments before the roster that names them, categories before
problems). A file whose exact content was loaded before is skipped; the loaders
would find nothing to change, but skipping is faster. A database holding another
demo size is refused rather than mixed.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from db.access import SYSTEM, Actor, require
from db.queries.derive import completed_loads
from etl.demo.build import beijing_now
from etl.demo.files import FILES, days_behind, find_file, gunzip_to, read_manifest, shift_files
from etl.load import LoadReport, load_file
from etl.readers import sha256_of
from gis.errors import DataError

DEMO_PREFIX = "demo-"

#: Called when a file starts (layer, file, index, total) and as rows are done.
Started = Callable[[str, str, int, int], None]
Progress = Callable[[int, int | None], None]


@dataclass
class Outcome:
    """What happened to one file: loaded (with its report) or skipped."""

    layer: str
    file: str
    report: LoadReport | None


def demo_tag(manifest: dict[str, object]) -> str:
    """The name under which a demo folder's files are recorded: ``demo-S-2004``."""
    return f"{DEMO_PREFIX}{manifest['size']}-{manifest['seed']}"


def shifted_copies(folder: Path, work_dir: Path, *, now: dt.datetime) -> dict[str, Path]:
    """The timed files of ``folder`` moved to the day of ``now`` and cut at ``now``.

    Copies are made in ``work_dir`` at most once an hour for the same files: a folder
    whose timed files changed (a sample regenerated or pulled within the hour) is
    shifted again. Returns layer -> copy, or nothing when ``folder`` is up to date.
    """
    manifest = read_manifest(folder)
    as_of = dt.datetime.fromisoformat(str(manifest["as_of"]))
    days = days_behind(str(manifest["as_of"]), now.date())
    work_dir.mkdir(parents=True, exist_ok=True)
    if not days and now >= as_of:
        return {}
    target = work_dir / f"shifted-{now:%Y%m%d%H}"
    for old in work_dir.glob("shifted-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    timed = [f for f in FILES if f.timed]
    sources = "\n".join(sha256_of(find_file(folder, f.file))[0] for f in timed)
    done = target / ".complete"  # names the sources the copies were made from
    if not done.is_file() or done.read_text(encoding="utf-8") != sources:
        shift_files(folder, target, days=days, now=now)
        done.write_text(sources, encoding="utf-8")
    return {f.layer: target / f.file for f in timed}


def load_demo(
    engine: Engine,
    folder: Path,
    *,
    work_dir: Path,
    actor: Actor = SYSTEM,
    now: dt.datetime | None = None,
    started: Started | None = None,
    progress: Progress | None = None,
    skip_loaded: bool = True,
) -> list[Outcome]:
    """Load the demo district in ``folder`` (see :mod:`etl.demo.files`).

    Timed files are first moved forward by whole days to today (Beijing) and cut at
    ``now`` (the current hour by default), into ``work_dir``: the newest problems are
    today's and none lies in the future.
    """
    require(actor, "data.load", what="load the demo district")
    manifest = read_manifest(folder)
    tag = demo_tag(manifest)
    now = (now or beijing_now()).replace(minute=0, second=0, microsecond=0)
    with engine.connect() as conn:
        loaded = completed_loads(conn, name_prefix=DEMO_PREFIX)
    others = sorted({n.split("/")[0] for n in loaded.file_name} - {tag})
    if others:
        msg = (
            f"the database already holds another demo district ({', '.join(others)}); "
            "load this one into another database (set CITYGRID_DB_NAME) or empty this one "
            "with `citygrid db reset`"
        )
        raise DataError(msg)
    done = set(zip(loaded.layer, loaded.file_sha256, strict=True))

    paths = shifted_copies(folder, work_dir, now=now)
    outcomes: list[Outcome] = []
    files = [f for f in FILES if f.layer in {d["layer"] for d in manifest["files"]}]  # type: ignore[attr-defined,index]
    for i, f in enumerate(files):
        path = paths.get(f.layer) or find_file(folder, f.file)
        if path.suffix == ".gz":
            path = gunzip_to(path, work_dir / f.file)
        if not path.is_file():
            msg = f"demo file {path} is missing; rebuild the demo with `citygrid demo --rebuild`"
            raise DataError(msg)
        if started:
            started(f.layer, f.file, i, len(files))
        sha, _ = sha256_of(path)
        if skip_loaded and (f.layer, sha) in done:
            outcomes.append(Outcome(f.layer, f.file, None))
            continue
        report = load_file(
            engine, f.layer, path, actor=actor, coords=f.coords,  # type: ignore[arg-type]
            progress=progress, file_name=f"{tag}/{f.file}",
        )  # fmt: skip
        if report.status != "done":
            msg = (
                f"loading {f.file} into {f.layer} ended {report.status}: "
                f"{'; '.join(report.messages) or report.reasons}"
            )
            raise DataError(msg)
        outcomes.append(Outcome(f.layer, f.file, report))
    return outcomes
