"""``citygrid load``: load a file into a layer; list the layers; show the load history."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import click

_HELP = """Load a file into a layer, or list layers and past loads.

\b
  citygrid load LAYER FILE [OPTIONS]   load FILE (GeoPackage, Shapefile or .zip,
                                       GeoJSON, CSV, XLSX) into LAYER
  citygrid load layers [LAYER]         each layer's columns and accepted headers
  citygrid load history [--run ID]     past loads; one run's rejected rows

\b
A load is one transaction: it completes or changes nothing. Bad rows are set
aside with their reasons (printed, and written to a rejects CSV); --strict
rejects the whole file instead. Loading the same file twice changes nothing.
"""


class _LoadGroup(click.Group):
    """A group whose default form is ``load LAYER FILE`` (routed to a hidden command)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in {"--help", "-h"}:
            args = ["file", *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "LAYER FILE [OPTIONS] | layers | history")


@click.group(name="load", cls=_LoadGroup, help=_HELP)
def command() -> None:
    """Load data (see the help text above)."""


def _sheet(value: str | None) -> str | int | None:
    return int(value) if value is not None and value.isdigit() else value


@command.command(name="file", hidden=True)
@click.argument("layer")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--crs", help="CRS of the coordinates, e.g. EPSG:4548 (default: from the file).")
@click.option(
    "--coords",
    type=click.Choice(["wgs84", "gcj02", "bd09"]),
    default="wgs84",
    show_default=True,
    help="gcj02/bd09: longitude/latitude from Gaode/Tencent or Baidu maps.",
)
@click.option(
    "--encoding", help="Text encoding of a Shapefile or CSV, e.g. GBK (default: detected)."
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="SRC=DST",
    help="Map a file column to a layer column, e.g. --map 东经=lon (repeatable).",
)
@click.option(
    "--mapping-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='TOML file of FILE_COLUMN = "layer_column" pairs.',
)
@click.option("--sheet", help="XLSX sheet or GeoPackage layer (name or 0-based number).")
@click.option("--strict", is_flag=True, help="Reject the whole file if any row is bad.")
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the rejects CSV here.",
)
def load_file_command(
    *,
    layer: str,
    file: Path,
    crs: str | None,
    coords: str,
    encoding: str | None,
    maps: tuple[str, ...],
    mapping_file: Path | None,
    sheet: str | None,
    strict: bool,
    rejects: Path | None,
) -> None:
    """Load FILE into LAYER."""
    from citygrid.cli.user_cmd import operator
    from db.engine import get_engine
    from etl.columns import parse_map_options, read_mapping_file
    from etl.load import load_file
    from etl.specs import LAYERS
    from gis.errors import DataError

    if layer not in LAYERS:
        msg = (
            f"unknown layer {layer!r}; layers are: {', '.join(LAYERS)} (see `citygrid load layers`)"
        )
        raise DataError(msg)
    mapping = read_mapping_file(mapping_file, layer=layer) if mapping_file else {}
    mapping.update(parse_map_options(maps))
    engine = get_engine()
    with _Progress(file.name) as update:
        report = load_file(
            engine,
            layer,
            file,
            actor=operator(),
            crs=crs,
            coords=coords,  # type: ignore[arg-type]
            encoding=encoding,
            mapping=mapping,
            sheet=_sheet(sheet),
            strict=strict,
            progress=update,
        )
    if rejects is not None:
        rejects.parent.mkdir(parents=True, exist_ok=True)
        if report.rejects_path is not None:
            shutil.copyfile(report.rejects_path, rejects)
        else:  # nothing to report: still leave the file a script expects, with its header
            from etl.values import ISSUE_COLUMNS

            rejects.write_text(",".join(ISSUE_COLUMNS) + "\n", encoding="utf-8-sig")
    _summary(report, rejects)
    if report.status == "rejected":
        why = "--strict: the file has bad rows" if strict else "every row was rejected"
        msg = f"{why}, so nothing was loaded; the rejects file says why, row by row"
        raise DataError(msg)


class _Progress:
    """A rich progress bar on stderr, driven by load_file's progress callback."""

    def __init__(self, name: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=(console := Console(stderr=True)),
            transient=True,
            disable=not console.is_terminal,
        )
        self._task = self._bar.add_task(f"loading {name}", total=None)

    def __enter__(self) -> Any:
        self._bar.start()

        def update(done: int, total: int | None) -> None:
            self._bar.update(self._task, completed=done, total=max(total or 0, done) or None)

        return update

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()


def _summary(report: Any, copied_to: Path | None) -> None:
    from rich.table import Table

    console = _console()
    verdict = {
        "done": "[green]done[/green]",
        "rejected": "[red]rejected: nothing was loaded[/red]",
    }.get(report.status, report.status)
    console.print(
        f"{report.layer} ← {report.file_name}: {verdict} in {report.duration_s:.1f} s "
        f"(run {report.run_id})"
    )
    table = Table(show_header=False, box=None, padding=(0, 2))
    for label, value in (
        ("rows read", report.n_read),
        ("loaded (new)", report.n_inserted),
        ("updated", report.n_updated),
        ("unchanged", report.n_unchanged),
        ("rejected", report.n_rejected),
        ("repaired and loaded", report.n_repaired),
    ):
        table.add_row(label, f"{value:,}")
    console.print(table)
    if report.reasons:
        reasons = Table(title="why rows were rejected", title_justify="left")
        reasons.add_column("reason")
        reasons.add_column("rows", justify="right")
        reasons.add_column("example")
        for code, rows in list(report.reasons.items())[:8]:
            sample = report.rejects.loc[report.rejects["reason_code"] == code].head(1)
            example = ""
            if not sample.empty:
                r = sample.iloc[0]
                example = f"row {r['row_no']}: {r['reason']}"
                if r["value"] is not None:
                    example += f" (got {r['value']})"
            reasons.add_row(code, f"{rows:,}", example)
        console.print(reasons)
        if len(report.reasons) > 8:
            console.print(f"... and {len(report.reasons) - 8} more reasons: see the rejects file")
    for message in report.messages:
        console.print(f"note: {message}")
    if report.ignored_columns:
        console.print(f"note: columns not used: {', '.join(report.ignored_columns)}")
    if report.rejects_path is not None:
        console.print(f"rejects and notes, by row: {copied_to or report.rejects_path}")


def _console() -> Any:
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=160)


@command.command(name="layers")
@click.argument("layer", required=False)
def layers_command(layer: str | None) -> None:
    """Each layer's columns (* = required) and the headers accepted for them."""
    from etl.columns import accepted_headers
    from etl.specs import LAYERS
    from gis.errors import DataError

    names = [layer] if layer else list(LAYERS)
    for name in names:
        spec = LAYERS.get(name)
        if spec is None:
            msg = f"unknown layer {name!r}; layers are: {', '.join(LAYERS)}"
            raise DataError(msg)
        geometry = "no geometry"
        if spec.geometry is not None:
            geometry = f"geometry: {spec.geometry.kind}"
            if spec.geometry.lonlat:
                geometry += " (or lon/lat columns)"
            if not spec.geometry.required:
                geometry += ", optional"
        click.echo(
            f"{spec.name}  {spec.label_zh} / {spec.label_en}  -> table {spec.table}, "
            f"key {spec.natural_key}, {geometry}"
        )
        targets = accepted_headers(spec)
        for col in spec.columns:
            mark = "*" if col.required else " "
            note = f"  [{col.help}]" if col.help else ""
            click.echo(f"  {mark}{col.name:<20} {', '.join(targets[col.name][1:])}{note}")
        if "geometry" in targets:
            click.echo(
                f"   {'geometry':<20} {', '.join(targets['geometry'][1:])}  [WKT or hex WKB]"
            )
        for name_, value in spec.fixed.items():
            click.echo(f"   ({name_} is always {value!r})")
        click.echo("")


@command.command(name="history")
@click.option("--limit", default=20, show_default=True, help="How many runs to list.")
@click.option("--layer", help="Only runs of this layer.")
@click.option("--run", "run_id", type=int, help="Show this run's rejected rows.")
def history_command(limit: int, layer: str | None, run_id: int | None) -> None:
    """Past loads, newest first; or the rejected rows of one run."""
    from rich.table import Table

    from db.engine import get_engine
    from db.queries import loads as q
    from gis.errors import DataError

    console = _console()
    engine = get_engine()
    with engine.connect() as conn:
        if run_id is not None:
            run = q.load_run(conn, run_id)
            if run is None:
                msg = f"there is no load run {run_id}; see `citygrid load history`"
                raise DataError(msg)
            rejects = q.load_rejects(conn, run_id, limit=200, loaded=None)
            reasons = q.reject_reasons(conn, run_id)
        else:
            runs = q.load_history(conn, limit=limit, layer=layer)
    if run_id is not None:
        console.print(
            f"run {run_id}: {run['layer']} ← {run['file_name']} ({run['effective_status']}), "
            f"by {run['user_name']} at {run['started_at']:%Y-%m-%d %H:%M}"
        )
        if run["message"]:
            console.print(f"note: {run['message']}")
        for r in reasons.itertuples():
            console.print(f"  {r.reason_code}: {r.rows:,} rows")
        table = Table("row", "key", "reason", "field", "value", "loaded")
        for r in rejects.itertuples():
            table.add_row(
                str(r.row_no),
                str(r.natural_key or ""),
                f"{r.reason_code}: {r.reason}",
                str(r.field or ""),
                str(r.value or ""),
                "yes" if r.loaded else "no",
            )
        console.print(table)
        return
    table = Table(
        "run", "when", "layer", "file", "status", "new", "upd", "same", "rej", "s", "user"
    )
    for r in runs.itertuples():
        table.add_row(
            str(r.id),
            f"{r.started_at:%Y-%m-%d %H:%M}",
            r.layer,
            r.file_name,
            r.status,
            f"{r.n_inserted:,}",
            f"{r.n_updated:,}",
            f"{r.n_unchanged:,}",
            f"{r.n_rejected:,}",
            "" if r.duration_s is None else f"{r.duration_s:.1f}",
            r.user_name or "",
        )
    console.print(table)
