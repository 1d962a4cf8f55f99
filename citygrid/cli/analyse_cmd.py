"""``citygrid analyse``: problem density, hot spots and emerging hot spots.

Each subcommand prints a table of the top rows and can export every row to CSV
(UTF-8 with a byte-order mark, so that Excel reads the Chinese names) and to a
GeoPackage (in the working CRS, or converted for a web basemap with ``--coords``).
Exports are recorded in the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from citygrid.cli.user_cmd import operator

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection


_DATE = click.DateTime(formats=["%Y-%m-%d", "%Y-%m"])
_FILE = click.Path(dir_okay=False, path_type=Path)


@contextmanager
def _connection() -> Iterator[Connection]:
    from citygrid.cli.db_cmd import prepare_database
    from db.engine import get_engine

    prepare_database()
    with get_engine().begin() as conn:
        yield conn


def _month_start(day: dt.date, months_back: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


def _period(
    start: dt.datetime | None, end: dt.datetime | None, *, months: int
) -> tuple[dt.date, dt.date]:
    """Default: the last ``months`` complete calendar months."""
    from citygrid import clock

    today = clock.today()
    e = end.date() if end else _month_start(today)
    s = start.date() if start else _month_start(e - dt.timedelta(days=1), months - 1)
    return s, e


def _filters(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--from", "start", type=_DATE, help="First day (YYYY-MM-DD or YYYY-MM)."),
        click.option("--to", "end", type=_DATE, help="Day after the last one (exclusive)."),
        click.option(
            "--category",
            "categories",
            multiple=True,
            metavar="CODE",
            help="Category code or major code (e.g. 06010, 06); repeat for several.",
        ),
        click.option(
            "--patrol-category",
            "patrol_categories",
            multiple=True,
            type=click.IntRange(1, 99),
            help="Street-chief patrol category (1 环境卫生 ... 5 城市设施); repeatable.",
        ),
        click.option(
            "--source", "sources", multiple=True, help="Report source (e.g. 12345); repeatable."
        ),
        click.option(
            "--street-office",
            "street_offices",
            multiple=True,
            metavar="NAME|CODE",
            help="Only this street office (name, 9- or 12-digit code); repeatable.",
        ),
        click.option("--csv", "csv_path", type=_FILE, help="Write every row to this CSV file."),
        click.option("--gpkg", "gpkg_path", type=_FILE, help="Write every row to this GeoPackage."),
        click.option(
            "--coords",
            type=click.Choice(["working", "wgs84", "gcj02", "bd09"]),
            default="working",
            show_default=True,
            help="Coordinates of the GeoPackage (gcj02/bd09 for Gaode/Baidu basemaps).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _weights_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--unit",
            type=click.Choice(["cell", "segment"]),
            default="cell",
            show_default=True,
            help="Grid cells or road segments.",
        ),
        click.option(
            "--weights",
            type=click.Choice(["queen", "rook", "distance", "network"]),
            help="Neighbours: queen/rook contiguity or a distance band for cells (default "
            "queen); the road network or a distance band for segments (default network).",
        ),
        click.option(
            "--distance-m",
            type=click.FloatRange(min=0, min_open=True),
            help="Band of --weights distance (default: the smallest band leaving no unit alone).",
        ),
        click.option(
            "--tolerance-m",
            type=click.FloatRange(min=0),
            help="Gap still counted as contact (cells, default 0) or a join (segments, default 1).",
        ),
        click.option(
            "--steps",
            "network_steps",
            type=click.IntRange(1, 10),
            default=1,
            show_default=True,
            help="Network neighbours up to this many joins away.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _common(conn: Connection, opts: dict[str, Any]) -> dict[str, Any]:
    from db.queries.density import resolve_street_offices

    offices = opts.pop("street_offices")
    return {
        "categories": list(opts.pop("categories")) or None,
        "patrol_categories": list(opts.pop("patrol_categories")) or None,
        "sources": list(opts.pop("sources")) or None,
        "street_office_ids": resolve_street_offices(conn, offices) if offices else None,
    }


def _check_paths(csv_path: Path | None, gpkg_path: Path | None) -> None:
    from gis.errors import DataError

    if csv_path is not None and csv_path.suffix.lower() != ".csv":
        msg = f"--csv {csv_path.name!r}: name a .csv file"
        raise DataError(msg)
    if gpkg_path is not None and gpkg_path.suffix.lower() != ".gpkg":
        msg = f"--gpkg {gpkg_path.name!r}: name a .gpkg file"
        raise DataError(msg)


def _export(
    conn: Connection,
    frame: pd.DataFrame,
    *,
    what: str,
    unit: str,
    csv_path: Path | None,
    gpkg_path: Path | None,
    coords: str,
    detail: dict[str, Any],
) -> None:
    if csv_path is None and gpkg_path is None:
        return
    import geopandas as gpd

    from db.access import require
    from db.audit import record
    from db.queries.hotspots import unit_geometries

    actor = operator()
    require(actor, "report.export", what="export analyses")
    table = frame.drop(columns="geometry", errors="ignore")
    if csv_path is not None:
        table.to_csv(csv_path, encoding="utf-8-sig")
        click.echo(f"wrote {len(table)} rows to {csv_path}")
    if gpkg_path is not None:
        if isinstance(frame, gpd.GeoDataFrame):
            geo = frame
        else:
            ids = [int(i) for i in dict.fromkeys(frame.index)]
            geoms = unit_geometries(conn, unit=unit, ids=ids)  # type: ignore[arg-type]
            geo = gpd.GeoDataFrame(table, geometry=geoms.reindex(frame.index).values, crs=geoms.crs)
        if coords != "working":
            from gis.crs import geoseries_to_web

            geo = geo.set_geometry(geoseries_to_web(geo.geometry, coords))  # type: ignore[arg-type]
        geo.reset_index().to_file(gpkg_path, layer=what, driver="GPKG")
        click.echo(f"wrote {len(geo)} features to {gpkg_path} (layer {what}, {coords} coordinates)")
    record(
        conn,
        actor,
        "export",
        entity_type="analysis",
        entity_id=what,
        detail={
            **detail,
            "unit": unit,
            "rows": len(frame),
            "csv": str(csv_path) if csv_path else None,
            "gpkg": str(gpkg_path) if gpkg_path else None,
        },
    )


def _show(frame: pd.DataFrame, columns: dict[str, str], *, title: str, limit: int) -> None:
    import math

    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for label in columns.values():
        table.add_column(label, overflow="fold")
    for _, row in frame.head(limit).iterrows():
        cells = []
        for col in columns:
            value = row.get(col)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                cells.append("")
            elif col.endswith("_p"):
                cells.append("<0.001" if value < 0.001 else f"{value:.3f}")
            elif isinstance(value, float):
                cells.append(f"{value:,.2f}")
            else:
                cells.append(str(value))
        table.add_row(*cells)
    Console().print(table)


#: Order of the emerging list: what needs attention first.
_PATTERN_ORDER = (
    "intensifying_hot",
    "new_hot",
    "consecutive_hot",
    "persistent_hot",
    "oscillating_hot",
    "sporadic_hot",
    "diminishing_hot",
    "historical_hot",
    "intensifying_cold",
    "new_cold",
    "consecutive_cold",
    "persistent_cold",
    "oscillating_cold",
    "sporadic_cold",
    "diminishing_cold",
    "historical_cold",
    "none",
)


@click.group(name="analyse")
def command() -> None:
    """Where problems concentrate: density, hot spots, emerging hot spots."""


@command.command()
@click.option(
    "--unit",
    type=click.Choice(["cell", "segment", "community", "street_office"]),
    default="community",
    show_default=True,
)
@_filters
@click.option(
    "--by",
    type=click.Choice(["patrol_category", "major_code", "category", "source"]),
    help="Break the counts down by category or source.",
)
@click.option("--include-void", is_flag=True, help="Count voided reports too.")
@click.option(
    "--sort",
    type=click.Choice(
        ["n", "per_km2", "per_km", "per_1000", "change_previous", "change_last_year"]
    ),
    default="n",
    show_default=True,
    help="Order of the printed table.",
)
@click.option(
    "--limit", type=click.IntRange(1), default=20, show_default=True, help="Rows to print."
)
def density(**opts: Any) -> None:
    """Problem counts and rates per unit, against the previous period and last year.

    \b
    Examples:
      citygrid analyse density --unit street_office --from 2024-03 --to 2024-04
      citygrid analyse density --unit segment --category 06 --sort per_km --csv seg.csv
    """
    from db.queries.density import density as run

    _check_paths(opts["csv_path"], opts["gpkg_path"])
    start, end = _period(opts.pop("start"), opts.pop("end"), months=1)
    with _connection() as conn:
        common = _common(conn, opts)
        frame = run(
            conn,
            unit=opts["unit"],
            start=start,
            end=end,
            by=opts["by"],
            include_void=opts["include_void"],
            **common,
        )
        ordered = frame.sort_values(
            opts["sort"], ascending=False, na_position="last", kind="stable"
        )
        columns = {"code": "code"} if opts["unit"] == "cell" else {"code": "code", "name": "name"}
        if opts["by"]:
            columns.update(group="group", group_name="group name")
        columns.update(
            n="problems",
            n_previous="previous",
            change_previous_pct="Δ prev %",
            n_last_year="last year",
            change_last_year_pct="Δ year %",
        )
        columns.update(
            {"cell": {"per_km2": "per km²"}, "segment": {"per_km": "per km"}}.get(
                opts["unit"], {"per_km2": "per km²", "per_1000": "per 1,000"}
            )
        )
        unplaced = frame.attrs["unplaced"]["n"]
        _show(
            ordered,
            columns,
            limit=opts["limit"],
            title=f"{opts['unit']} density {start} – {end} ({int(frame['n'].sum())} problems"
            + (f"; {unplaced} not in any {opts['unit']}" if unplaced else "")
            + ")",
        )
        _export(
            conn,
            ordered,
            what=f"density_{opts['unit']}",
            unit=opts["unit"],
            csv_path=opts["csv_path"],
            gpkg_path=opts["gpkg_path"],
            coords=opts["coords"],
            detail={"start": start, "end": end, **common, "by": opts["by"]},
        )


@command.command()
@_weights_options
@_filters
@click.option(
    "--value",
    type=click.Choice(["count", "rate"]),
    default="count",
    show_default=True,
    help="Test counts, or rates per km² (cells) / per km (segments).",
)
@click.option(
    "--transform",
    type=click.Choice(["binary", "row"]),
    default="binary",
    show_default=True,
    help="Neighbour weights: binary (ArcGIS) or row-standardised.",
)
@click.option("--no-fdr", is_flag=True, help="Skip the false-discovery-rate correction.")
@click.option(
    "--top", type=click.IntRange(1), default=10, show_default=True, help="Rows of the top list."
)
@click.option(
    "--rank",
    type=click.Choice(["z", "count"]),
    default="z",
    show_default=True,
    help="Rank the top list by Gi* z or by count.",
)
def hotspots(**opts: Any) -> None:
    """Getis-Ord Gi* hot and cold spots, and the top list with who answers for each.

    \b
    Examples:
      citygrid analyse hotspots --from 2024-03 --to 2024-04
      citygrid analyse hotspots --unit segment --rank count --gpkg hot.gpkg --coords gcj02
    """
    from db.queries.hotspots import hotspots as run
    from db.queries.hotspots import top_n

    _check_paths(opts["csv_path"], opts["gpkg_path"])
    start, end = _period(opts.pop("start"), opts.pop("end"), months=1)
    unit = opts["unit"]
    with _connection() as conn:
        common = _common(conn, opts)
        frame = run(
            conn,
            unit=unit,
            start=start,
            end=end,
            weights=opts["weights"],
            distance_m=opts["distance_m"],
            tolerance_m=opts["tolerance_m"],
            network_steps=opts["network_steps"],
            value=opts["value"],
            transform=opts["transform"],
            fdr=not opts["no_fdr"],
            **common,
        )
        top = top_n(conn, frame, unit=unit, actor=operator(), n=opts["top"], by=opts["rank"])
        from db.runtime_settings import effective_settings

        lang = 0 if effective_settings(conn).language == "zh" else 1
        top["class"] = top["gi_label_zh"] if lang == 0 else top["gi_label_en"]
        who = (
            {
                "street_head_name": "street head",
                "street_head_phone": "phone",
                "supervisor_name": "level 2",
            }
            if unit == "segment"
            else {"responsible_body": "responsible", "grid_worker_name": "grid worker"}
        )
        info = frame.attrs["weights"]
        counts = frame["gi_class"].value_counts()
        _show(
            top,
            {
                "rank": "#",
                "code": "code",
                **({} if unit == "cell" else {"name": "name"}),
                "community": "community",
                "street_office": "street office",
                "n": "problems",
                "gi_z": "z",
                "class": "class",
                "n_neighbours": "neighbours",
                "local_mean": "local mean",
                **who,
            },
            limit=opts["top"],
            title=(
                f"{unit} hot spots {start} – {end}: {int((frame['gi_class'] > 0).sum())} hot, "
                f"{int((frame['gi_class'] < 0).sum())} cold of {len(frame)} "
                f"(99%: {int(counts.get(3, 0))} hot; weights {info['weights']}, "
                f"global mean {frame['global_mean'].iloc[0]:.2f})"
            ),
        )
        _export(
            conn,
            frame,
            what=f"hotspots_{unit}",
            unit=unit,
            csv_path=opts["csv_path"],
            gpkg_path=opts["gpkg_path"],
            coords=opts["coords"],
            detail={"start": start, "end": end, **common, **info},
        )


@command.command()
@_weights_options
@_filters
@click.option(
    "--time-steps",
    type=click.IntRange(0, 24),
    default=1,
    show_default=True,
    help="Earlier months in each bin's neighbourhood.",
)
@click.option(
    "--confidence",
    type=click.Choice(["90", "95", "99"]),
    default="90",
    show_default=True,
    help="Confidence a month needs to count as a hot or cold spot.",
)
@click.option(
    "--trend-alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Significance level of the Mann-Kendall trend.",
)
@click.option(
    "--limit", type=click.IntRange(1), default=20, show_default=True, help="Rows to print."
)
def emerging(**opts: Any) -> None:
    """Emerging hot spots: each unit's pattern over calendar months (default: the last 12).

    \b
    Examples:
      citygrid analyse emerging --from 2023-07 --to 2024-07
      citygrid analyse emerging --unit segment --csv emerging.csv
    """
    from db.queries.hotspots import emerging as run
    from gis.emerging import PATTERN_LABELS

    _check_paths(opts["csv_path"], opts["gpkg_path"])
    start, end = _period(opts.pop("start"), opts.pop("end"), months=12)
    unit = opts["unit"]
    with _connection() as conn:
        common = _common(conn, opts)
        frame = run(
            conn,
            unit=unit,
            start=start,
            end=end,
            weights=opts["weights"],
            distance_m=opts["distance_m"],
            tolerance_m=opts["tolerance_m"],
            network_steps=opts["network_steps"],
            time_steps=opts["time_steps"],
            confidence=int(opts["confidence"]),
            trend_alpha=opts["trend_alpha"],
            **common,
        )
        from db.runtime_settings import effective_settings

        lang = 0 if effective_settings(conn).language == "zh" else 1
        order = {key: i for i, key in enumerate(_PATTERN_ORDER)}
        shown = frame.loc[frame["pattern"] != "none"].copy()
        shown["label"] = shown["label_zh"] if lang == 0 else shown["label_en"]
        shown = shown.assign(_o=shown["pattern"].map(order)).sort_values(
            ["_o", "trend_z"], ascending=[True, False]
        )
        summary = ", ".join(
            f"{PATTERN_LABELS[k][lang]} {v}"
            for k, v in frame["pattern"].value_counts().items()
            if k != "none"
        )
        months = frame.attrs["months"]
        _show(
            shown,
            {
                "code": "code",
                **({} if unit == "cell" else {"name": "name"}),
                "community": "community",
                "label": "pattern",
                "n_hot": "hot months",
                "n_cold": "cold months",
                "trend_z": "trend z",
                "trend_p": "trend p",
                "total": "problems",
                "final_count": "last month",
            },
            limit=opts["limit"],
            title=f"emerging {unit} hot spots, {months[0][:7]} – {months[-1][:7]} "
            f"({len(months)} months): " + (summary or "no pattern detected"),
        )
        _export(
            conn,
            frame,
            what=f"emerging_{unit}",
            unit=unit,
            csv_path=opts["csv_path"],
            gpkg_path=opts["gpkg_path"],
            coords=opts["coords"],
            detail={"start": start, "end": end, **common, **frame.attrs["weights"]},
        )
