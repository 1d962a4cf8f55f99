"""``citygrid grid generate`` and ``citygrid roads segment``: derive cells and segments.

Both read what the database holds (community boundaries, road centrelines), derive
with the pure functions of ``gis.grid`` and ``gis.segments``, write the result to a
GeoPackage (kept, so it can be checked or edited) and load it through the same
loader a user's file would go through. In the load's one transaction they then
retire what the new layer replaces and place the problems already loaded again
(:mod:`db.queries.regenerate`): it all commits together, or, on an error or Ctrl-C,
nothing changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from citygrid.settings import get_settings


def _out_path(out: Path | None, stem: str) -> Path:
    if out is not None:
        return out
    from citygrid import clock

    folder = get_settings().home / "derived"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{stem}-{clock.now():%Y%m%d-%H%M%S}.gpkg"


def _echo_report(report: object) -> None:
    r = report
    click.echo(
        f"loaded: {r.n_inserted:,} new, {r.n_updated:,} updated, "  # type: ignore[attr-defined]
        f"{r.n_unchanged:,} unchanged, {r.n_rejected:,} rejected (run {r.run_id})"  # type: ignore[attr-defined]
    )


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback: a bar on a terminal, else a line at each tenth (for logs)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    if console.is_terminal:
        bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                       TimeRemainingColumn(), console=console, transient=True)  # fmt: skip
        task = bar.add_task(label, total=None)
        with bar:
            yield lambda done, total: bar.update(task, completed=done, total=total or None)
        return
    shown = [-1]

    def line(done: int, total: int) -> None:
        tenth = 10 * done // max(total, 1)
        if total and tenth > shown[0]:
            shown[0] = tenth
            click.echo(f"{label}: {done:,} of {total:,}", err=True)

    yield line


def _echo_assignments(retired: Any, *, what: str) -> None:
    """Say which assignments ended with the targets they named (kept as history)."""
    ended = retired.assignments
    if ended is None or ended.empty:
        return
    one = len(ended) == 1
    click.echo(
        f"{len(ended):,} assignment{'' if one else 's'} ended with the {what} "
        f"{'it' if one else 'they'} named (kept in the history, with a note); "
        "give the new ones their people:"
    )
    import pandas as pd

    for row in ended.head(10).itertuples():
        level = f" L{int(row.level)}" if pd.notna(row.level) else ""
        click.echo(f"  {row.person} ({row.role}{level}): {row.code} {row.label}".rstrip())
    if len(ended) > 10:
        click.echo(f"  ... and {len(ended) - 10:,} more (audit log: {retired.kind}.* actions)")


@click.group(name="grid")
def command() -> None:
    """Unit grid cells (单元网格)."""


@command.command(name="generate")
@click.option("--target-area-m2", type=float, default=10_000.0, show_default=True,
              help="Intended cell area.")  # fmt: skip
@click.option("--min-area-share", type=float, default=0.35, show_default=True,
              help="Pieces smaller than this share of the target join a neighbour.")  # fmt: skip
@click.option("--scheme", type=click.Choice(["14", "15", "15an"]), default=None,
              help="Cell code scheme (default: CITYGRID_GRID_CODE_SCHEME).")  # fmt: skip
@click.option("--follow-roads/--no-follow-roads", default=True, show_default=True,
              help="Split cells along street centrelines where sizes stay sane.")  # fmt: skip
@click.option("--fit-scheme", is_flag=True,
              help="Where a community needs more cells than the code scheme numbers (99 "
              "under scheme 14), enlarge its cells just enough instead of refusing.")  # fmt: skip
@click.option("--community", "codes", multiple=True,
              help="Only this community or street office (code; repeatable).")  # fmt: skip
@click.option("--valid-from", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Day the new cells come into force. Default: they replace the old cells "
              "of these communities for the whole history.")  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="GeoPackage to write (default: <home>/derived/grid_cells-<time>.gpkg).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Write the GeoPackage but do not load it.")
def generate(
    *,
    target_area_m2: float,
    min_area_share: float,
    scheme: str | None,
    follow_roads: bool,
    fit_scheme: bool,
    codes: tuple[str, ...],
    valid_from: dt.datetime | None,
    out: Path | None,
    dry_run: bool,
) -> None:
    """Tile every community with cells of about --target-area-m2 and load them.

    Cells tile each community exactly (checked), are coded community code + sequence
    (west→east, north→south) and name the community as their responsible body.

    \b
    The new cells replace the old ones of the same communities, in one transaction
    with the load (Ctrl-C changes nothing):
    - by default for the whole history: the old cells are removed (their rows go to
      the audit log), the new ones are in force from the start, so every period's
      counts and every problem use the new grid;
    - with --valid-from DAY (a re-division that took effect that day): the old cells
      stay in force until the day before and keep the problems reported until then;
      the new cells get codes the old ones never used.
    Problems already loaded are placed again (cell, community, street office) by
    their report date; assignments on retired cells end, are kept and are listed.
    """
    import pandas as pd

    from citygrid.cli.db_cmd import prepare_database
    from citygrid.cli.user_cmd import operator
    from db.engine import make_engine
    from db.queries import derive
    from db.queries import regenerate as regen
    from etl.load import load_file
    from gis.errors import DataError
    from gis.grid import cell_stats, grid_cells, sequence_number

    settings = get_settings()
    scheme = scheme or settings.grid_code_scheme
    since = None if valid_from is None else valid_from.date()
    prepare_database()
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            comms = derive.communities(conn, codes=list(codes) or None)
            roads = derive.roads(conn) if follow_roads else None
            existing = derive.cell_codes(conn, community_codes=list(comms.code))
        first: dict[str, int] = {}
        if since is not None:  # a dated re-division never gives an old code to a new cell
            for code in existing:
                seq = sequence_number(code, scheme=scheme)  # type: ignore[arg-type]
                if seq is not None:
                    first[code[:12]] = max(first.get(code[:12], 1), seq + 1)
        if comms.empty:
            msg = (
                "no community has a boundary"
                + (f" among {', '.join(codes)}" if codes else "")
                + "; load admin_areas with community polygons first (citygrid load admin_areas)"
            )
            raise DataError(msg)
        if roads is not None:
            roads = roads[roads.kind == "street"]
            click.echo(f"{len(comms):,} communities, {len(roads):,} streets to follow")
        cells = grid_cells(
            comms, target_area_m2=target_area_m2, min_area_share=min_area_share,
            scheme=scheme,  # type: ignore[arg-type]
            roads=roads, fit_scheme=fit_scheme, first_sequence=first,
        )  # fmt: skip
        stats = cell_stats(cells, target_area_m2=target_area_m2)
        click.echo(
            f"{len(cells):,} cells tile {len(comms):,} communities exactly; area "
            f"{stats['min_share']:.2f}-{stats['max_share']:.2f} x target "
            f"(median {stats['median_share']:.2f})"
        )
        for code, area in cells.attrs.get("fitted", {}).items():
            click.echo(f"community {code}: cells of about {area:,.0f} m² to fit scheme {scheme}")
        names = dict(zip(comms.code, comms.name, strict=True))
        cells["responsible_body"] = cells.community_code.map(names)
        # written even when empty, so that a reused code loses an old end date
        cells["valid_from"] = pd.Series([since] * len(cells), index=cells.index, dtype=object)
        cells["valid_to"] = pd.Series([None] * len(cells), index=cells.index, dtype=object)
        path = _out_path(out, "grid_cells")
        cells.drop(columns="area_m2").to_file(path, layer="grid_cells")
        click.echo(f"written to {path}")
        if dry_run:
            stale = sorted(set(existing) - set(cells.code))
            if stale:
                click.echo(f"{len(stale):,} cells in the database have codes this tiling does "
                           "not use: loading it would retire them")  # fmt: skip
            return
        actor = operator()
        done: dict[str, Any] = {}

        def finalize(conn: Any, run_id: int) -> list[str]:
            ids = regen.community_ids(conn, codes=list(comms.code))
            total = regen.collect_for_cells(conn, community_ids=ids)
            stale = regen.stale_cells(conn, community_ids=ids, keep_codes=list(cells.code))
            done["retired"] = regen.retire_cells(
                conn, actor, stale=stale, valid_from=since, run_id=run_id
            )
            with _progress("placing problems again") as update:
                done["placed"] = regen.place_in_cells(conn, total=total, progress=update)
            return _regen_lines(done["retired"], done["placed"], what="cells")

        report = load_file(engine, "grid_cells", path, actor=actor, file_name=path.name,
                           strict=True, finalize=finalize)  # fmt: skip
        _echo_report(report)
        _echo_done(report, done, what="cells")
    finally:
        engine.dispose()


def _regen_lines(retired: Any, placed: Any, *, what: str) -> list[str]:
    lines = []
    if retired.removed:
        lines.append(
            f"{len(retired.removed):,} old {what} removed (replaced for the whole history; "
            f"their rows are in the audit log), e.g. {', '.join(retired.removed[:3])}"
        )
    if retired.ended:
        lines.append(
            f"{len(retired.ended):,} old {what} in force until {retired.ended_on}, "
            f"e.g. {', '.join(retired.ended[:3])}"
        )
    lines.append(f"{placed.moved:,} problems re-placed (of {placed.checked:,} checked)")
    return lines


def _echo_done(report: Any, done: dict[str, Any], *, what: str) -> None:
    from gis.errors import DataError

    if report.status != "done":
        msg = (
            f"the generated {what} were rejected, so nothing changed; see "
            f"`citygrid load history --run {report.run_id}`"
        )
        raise DataError(msg)
    for line in _regen_lines(done["retired"], done["placed"], what=what):
        click.echo(line)
    _echo_assignments(done["retired"], what=what)


@click.group(name="roads")
def roads() -> None:
    """Road centrelines and their segments (路段)."""


@roads.command(name="segment")
@click.option("--min-length-m", type=float, default=40.0, show_default=True,
              help="Shorter pieces join a neighbour on the same road.")  # fmt: skip
@click.option("--max-length-m", type=float, default=800.0, show_default=True,
              help="Longer streets are cut into equal parts (0: never).")  # fmt: skip
@click.option("--split-by", type=click.Choice(["streets", "all"]), default="streets",
              show_default=True, help="Cut at crossing streets only, or at lanes too.")  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="GeoPackage to write (default: <home>/derived/road_segments-<time>.gpkg).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Write the GeoPackage but do not load it.")
def segment(
    *, min_length_m: float, max_length_m: float, split_by: str, out: Path | None, dry_run: bool
) -> None:
    """Cut the loaded roads into segments between cross streets, name and load them.

    Segments are named 道路名（起点路—终点路） and placed in the community and street
    office holding their middle; lanes (小街巷/胡同) stay whole between streets.

    \b
    The new segments replace the old ones cut from the roads, in one transaction with
    the load (Ctrl-C changes nothing): a segment whose code the new cut does not use is
    removed (its row goes to the audit log), and its running assignments end, are kept
    as history with a note naming it, and are listed. Problems already loaded are
    placed again on their nearest segment (CITYGRID_NEAREST_SEGMENT_MAX_M).
    """
    from citygrid.cli.db_cmd import prepare_database
    from citygrid.cli.user_cmd import operator
    from db.engine import make_engine
    from db.queries import derive
    from db.queries import regenerate as regen
    from etl.load import load_file
    from gis.errors import DataError
    from gis.segments import locate_lines, segment_roads

    settings = get_settings()
    prepare_database()
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            lines = derive.roads(conn)
            comms = derive.communities(conn)
            outline = derive.district(conn)
        if lines.empty:
            msg = "no roads loaded; load centrelines first (citygrid load roads FILE)"
            raise DataError(msg)
        segs = segment_roads(
            lines, min_length_m=min_length_m, max_length_m=max_length_m or None,
            split_by=split_by,  # type: ignore[arg-type]
            boundary=None if outline is None else outline[1],
            boundary_name="区界" if outline is None else f"{outline[0]}界",
        )  # fmt: skip
        if not comms.empty:
            segs["community_code"] = locate_lines(segs, comms, key="code").to_numpy()
            parents = dict(zip(comms.code, comms.parent_code, strict=True))
            segs["street_office_code"] = segs.community_code.map(parents)
        n_lanes = int((segs.kind == "lane").sum())
        click.echo(
            f"{len(lines):,} roads -> {len(segs) - n_lanes:,} street segments and {n_lanes:,} lanes"
        )
        path = _out_path(out, "road_segments")
        segs.drop(columns=["name", "length_m"]).to_file(path, layer="road_segments")
        click.echo(f"written to {path}")
        if dry_run:
            return
        actor = operator()
        done: dict[str, Any] = {}
        max_m = settings.nearest_segment_max_m

        def finalize(conn: Any, run_id: int) -> list[str]:
            stale = regen.stale_segments(conn, keep_codes=list(segs.code))
            total = regen.collect_for_segments(
                conn, run_id=run_id, retired_ids=stale["id"].tolist(), max_distance_m=max_m
            )
            done["retired"] = regen.retire_segments(conn, actor, stale=stale, run_id=run_id)
            with _progress("placing problems again") as update:
                done["placed"] = regen.place_on_segments(
                    conn, total=total, max_distance_m=max_m, progress=update
                )
            return _regen_lines(done["retired"], done["placed"], what="segments")

        report = load_file(engine, "road_segments", path, actor=actor, file_name=path.name,
                           strict=True, finalize=finalize)  # fmt: skip
        _echo_report(report)
        _echo_done(report, done, what="segments")
    finally:
        engine.dispose()
