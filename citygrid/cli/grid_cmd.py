"""``citygrid grid generate`` and ``citygrid roads segment``: derive cells and segments.

Both read what the database holds (community boundaries, road centrelines), derive
with the pure functions of ``gis.grid`` and ``gis.segments``, write the result to a
GeoPackage (kept, so it can be checked or edited) and load it through the same
loader a user's file would go through.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from citygrid.settings import get_settings


def _out_path(out: Path | None, stem: str) -> Path:
    if out is not None:
        return out
    folder = get_settings().home / "derived"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{stem}-{dt.datetime.now():%Y%m%d-%H%M%S}.gpkg"


def _echo_report(report: object) -> None:
    r = report
    click.echo(
        f"loaded: {r.n_inserted:,} new, {r.n_updated:,} updated, "  # type: ignore[attr-defined]
        f"{r.n_unchanged:,} unchanged, {r.n_rejected:,} rejected (run {r.run_id})"  # type: ignore[attr-defined]
    )


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
@click.option("--community", "codes", multiple=True,
              help="Only this community or street office (code; repeatable).")  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="GeoPackage to write (default: <home>/derived/grid_cells-<time>.gpkg).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Write the GeoPackage but do not load it.")
def generate(
    *,
    target_area_m2: float,
    min_area_share: float,
    scheme: str | None,
    follow_roads: bool,
    codes: tuple[str, ...],
    out: Path | None,
    dry_run: bool,
) -> None:
    """Tile every community with cells of about --target-area-m2 and load them.

    Cells tile each community exactly (checked), are coded community code + sequence
    (west→east, north→south) and name the community as their responsible body.
    """
    from citygrid.cli.db_cmd import prepare_database
    from citygrid.cli.user_cmd import operator
    from db.engine import make_engine
    from db.queries import derive
    from etl.load import load_file
    from gis.errors import DataError
    from gis.grid import cell_stats, grid_cells

    settings = get_settings()
    prepare_database()
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            comms = derive.communities(conn, codes=list(codes) or None)
            roads = derive.roads(conn) if follow_roads else None
            existing = derive.cell_codes(conn, community_codes=list(comms.code))
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
            scheme=scheme or settings.grid_code_scheme,  # type: ignore[arg-type]
            roads=roads,
        )  # fmt: skip
        stats = cell_stats(cells, target_area_m2=target_area_m2)
        click.echo(
            f"{len(cells):,} cells tile {len(comms):,} communities exactly; area "
            f"{stats['min_share']:.2f}-{stats['max_share']:.2f} x target "
            f"(median {stats['median_share']:.2f})"
        )
        names = dict(zip(comms.code, comms.name, strict=True))
        cells["responsible_body"] = cells.community_code.map(names)
        cells["valid_from"] = dt.date.today()
        path = _out_path(out, "grid_cells")
        cells.drop(columns="area_m2").to_file(path, layer="grid_cells")
        click.echo(f"written to {path}")
        stale = sorted(set(existing) - set(cells.code))
        if stale:
            click.echo(
                f"warning: {len(stale):,} cells already in the database have codes this "
                f"tiling does not use (e.g. {', '.join(stale[:3])}); they stay as they are",
                err=True,
            )
        if not dry_run:
            _echo_report(
                load_file(engine, "grid_cells", path, actor=operator(), file_name=path.name)
            )
    finally:
        engine.dispose()


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
    """
    from citygrid.cli.db_cmd import prepare_database
    from citygrid.cli.user_cmd import operator
    from db.engine import make_engine
    from db.queries import derive
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
        if not dry_run:
            _echo_report(
                load_file(engine, "road_segments", path, actor=operator(), file_name=path.name)
            )
    finally:
        engine.dispose()
