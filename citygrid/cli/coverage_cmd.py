"""``citygrid coverage``: coverage gaps, new bait-station sites, and the rule profile."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import click

from citygrid.settings import get_settings

_FILE = click.Path(dir_okay=False, path_type=Path)

#: Problems outside cells listed by default (``db.queries.coverage.PROBLEM_LIMIT``;
#: repeated here so that ``--help`` needs no database modules).
PROBLEM_LIMIT = 10_000


def _lang(lang: str | None) -> int:
    return 0 if (lang or get_settings().language) == "zh" else 1


def _check_export(path: Path | None) -> None:
    if path is not None and path.suffix.lower() not in (".xlsx", ".gpkg"):
        from gis.errors import DataError

        msg = f"cannot export to {path.name!r}: name a .xlsx (Excel) or .gpkg (GeoPackage) file"
        raise DataError(msg)


def _profile(path: Path | None) -> Any:
    """The profile at ``path``, else the city's (CITYGRID_BAIT_PROFILE), else the shipped one."""
    if path is None:
        from db.queries.coverage import default_profile

        return default_profile()
    from gis.profiles import load_bait_profile

    return load_bait_profile(path)


def _offices(conn: Any, values: tuple[str, ...]) -> list[int] | None:
    if not values:
        return None
    from db.queries.coverage import street_office_ids

    return street_office_ids(conn, values)


def _export(
    conn: Any,
    layers: dict[str, Any],
    path: Path,
    *,
    what: str,
    lang: int,
    coords: str,
    offices: list[int] | None,
) -> None:
    from db.access import SYSTEM
    from db.queries.coverage import record_export
    from gis.coverage import GAP_HEADERS, GAP_TYPES
    from reports.exports import write_export

    titles = {k: GAP_TYPES[k][lang] for k in layers if k in GAP_TYPES}
    titles.update({k: v[lang] for k, v in _EXTRA_TITLES.items() if k in layers})
    headers = {k: v[lang] for k, v in GAP_HEADERS.items()}
    counts = {k: len(v) for k, v in layers.items()}
    # the check and the audit row come first, in the transaction the caller commits
    record_export(
        conn, SYSTEM, what=what, file_name=path.name, counts=counts, street_office_ids=offices
    )
    # English titles are too long for sheet names (31 characters): use the layer keys
    sheets = None if lang == 0 else {k: k for k in layers}
    kind = write_export(
        layers,
        path,
        titles=titles,
        sheet_names=sheets,
        headers=headers,
        coords=coords,  # type: ignore[arg-type]
    )
    click.echo(f"exported {sum(counts.values())} rows in {len(layers)} layers to {path} ({kind})")


_EXTRA_TITLES = {
    "suggested_sites": ("建议新增毒饵站", "suggested new bait stations"),
    "uncoverable": ("无法布设的缺口", "gaps no allowed site can cover"),
    "uncovered_outline": ("未覆盖的场所外沿", "uncovered outlines"),
}

_common = [
    click.option(
        "--street-office",
        "offices",
        multiple=True,
        metavar="CODE|NAME",
        help="Only this street office (9-digit code or name); repeat for more.",
    ),
    click.option(
        "--profile",
        "profile_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Bait-station rule profile (TOML); default: CITYGRID_BAIT_PROFILE, else the "
        "shipped one.",
    ),
    click.option(
        "--as-of",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        help="Judge on this day (default today, in CITYGRID_TIMEZONE): the assignments "
        "active at its end (one ending later still counts), the cells in force that day, "
        "inspections up to it.",
    ),
    click.option(
        "--export",
        "export_path",
        type=_FILE,
        help="Also write the layers to FILE.xlsx (Excel) or FILE.gpkg (GeoPackage).",
    ),
    click.option(
        "--coords",
        type=click.Choice(["wgs84", "gcj02", "bd09"]),
        default="wgs84",
        show_default=True,
        help="System of lon/lat columns in Excel exports.",
    ),
    click.option("--lang", type=click.Choice(["zh", "en"]), help="Language of titles."),
]


def _with_common(func: Any) -> Any:
    for option in reversed(_common):
        func = option(func)
    return func


@click.group(name="coverage")
def command() -> None:
    """What nobody covers: gaps with reasons, and where to add bait stations."""


@command.command()
@click.option(
    "--layer",
    "layers",
    multiple=True,
    metavar="NAME",
    help="Only this gap layer (repeatable): segment_no_head, lane_no_head, cell_no_body, "
    "problem_outside_cells, premises_bait, station_fault, station_misplaced.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=PROBLEM_LIMIT,
    show_default=True,
    help="Most problems listed outside cells (all are counted).",
)
@click.option(
    "--recheck-cells",
    is_flag=True,
    help="Test every problem against the cell geometries instead of trusting the cell "
    "stored at load (slower; after cells were redrawn).",
)
@_with_common
def gaps(
    *,
    layers: tuple[str, ...],
    limit: int,
    recheck_cells: bool,
    offices: tuple[str, ...],
    profile_path: Path | None,
    as_of: dt.datetime | None,
    export_path: Path | None,
    coords: str,
    lang: str | None,
) -> None:
    """List coverage gaps, each with a reason, and optionally export them."""
    from rich.console import Console
    from rich.table import Table

    from db.engine import get_engine
    from db.queries.coverage import coverage_gaps
    from gis.coverage import GAP_TYPES, REASON_LABELS

    _check_export(export_path)
    i = _lang(lang)
    profile = _profile(profile_path)
    with get_engine().begin() as conn:
        ids = _offices(conn, offices)
        found = coverage_gaps(
            conn,
            profile=profile,
            as_of=as_of.date() if as_of else None,
            street_office_ids=ids,
            layers=list(layers) or None,
            problem_limit=limit,
            recheck_cells=recheck_cells,
        )
        table = Table(title="覆盖缺口" if i == 0 else "coverage gaps")
        table.add_column("layer" if i else "类型")
        table.add_column("count" if i else "数量", justify="right")
        table.add_column("reasons" if i else "原因")
        for key, layer in found.items():
            total = layer.attrs.get("total", len(layer))
            reasons = layer["reason_code"].value_counts().sort_index()
            text = ", ".join(f"{REASON_LABELS[code][i]} {n}" for code, n in reasons.items())
            if total > len(layer):
                text += (
                    f" (listed {len(layer)} of {total})" if i else f"（列出{len(layer)}/{total}）"
                )
            table.add_row(GAP_TYPES[key][i], str(total), text)
        Console().print(table)
        if export_path is not None:
            _export(
                conn, found, export_path, what="coverage gaps", lang=i, coords=coords, offices=ids
            )


@command.command()
@click.option(
    "--budget",
    type=click.IntRange(min=0),
    help="At most this many new stations (maximal covering); omit for the fewest that "
    "close every gap (set covering).",
)
@click.option(
    "--objective",
    type=click.Choice(["premises", "demand"]),
    default="premises",
    show_default=True,
    help="With --budget: cover the most premises, or the most metres of outline.",
)
@click.option(
    "--time-limit",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds the solver may take; the best solution and its gap are reported.",
)
@click.option(
    "--gap",
    "mip_gap",
    type=click.FloatRange(min=0.0, max=1.0),
    default=0.0,
    show_default=True,
    help="Stop once the solution is proven within this relative gap (0: optimal).",
)
@_with_common
def sites(
    *,
    budget: int | None,
    objective: str,
    time_limit: float,
    mip_gap: float,
    offices: tuple[str, ...],
    profile_path: Path | None,
    as_of: dt.datetime | None,
    export_path: Path | None,
    coords: str,
    lang: str | None,
) -> None:
    """Suggest where to add bait stations, outside the exclusion zones."""
    from db.engine import get_engine
    from db.queries.coverage import bait_evaluation
    from gis.bait import uncovered_outline
    from gis.coverage import bait_gaps
    from gis.siting import suggest_bait_sites

    _check_export(export_path)
    i = _lang(lang)
    profile = _profile(profile_path)
    with get_engine().begin() as conn:
        ids = _offices(conn, offices)
        evaluation = bait_evaluation(
            conn, profile=profile, as_of=as_of.date() if as_of else None, street_office_ids=ids
        )
        result = suggest_bait_sites(
            evaluation,
            budget=budget,
            objective=objective,  # type: ignore[arg-type]
            time_limit_s=time_limit,
            mip_rel_gap=mip_gap,
        )
        s = result.summary()
        solved = result.solve
        if solved.status == "optimal":
            proof = "已证明最优" if i == 0 else "proven optimal"
        elif solved.status == "time_limit" and len(result.sites):
            gap = f"{100 * solved.mip_gap:.2f}%" if solved.mip_gap is not None else "?"
            proof = f"达到时限，最优性差距 {gap}" if i == 0 else f"time limit reached, gap {gap}"
        else:
            proof = solved.message
        if i == 0:
            click.echo(
                f"建议新增毒饵站 {s['new_stations']} 个（{proof}，求解 {s['solve_time_s']} 秒）；"
                f"可补齐场所 {s['premises_covered']}/{s['premises_open']} 个，"
                f"缺口 {s['demand_covered']}/{s['demand_open']} 处；"
                f"禁设区内无法补齐 {s['uncoverable']} 处"
            )
        else:
            click.echo(
                f"{s['new_stations']} new bait stations ({proof}, solved in "
                f"{s['solve_time_s']} s); they bring {s['premises_covered']} of "
                f"{s['premises_open']} premises into coverage and cover {s['demand_covered']} of "
                f"{s['demand_open']} gaps; {s['uncoverable']} gaps lie where no station may go"
            )
        if export_path is not None:
            layers = {
                "suggested_sites": result.sites,
                "premises_bait": bait_gaps(evaluation)["premises_bait"],
                "uncovered_outline": uncovered_outline(evaluation),
                "uncoverable": result.instance.uncoverable,
            }
            _export(
                conn,
                layers,
                export_path,
                what="bait station sites",
                lang=i,
                coords=coords,
                offices=ids,
            )


@command.command()
@click.option(
    "--write",
    "write_path",
    type=_FILE,
    help="Copy the shipped default profile to FILE, to edit it.",
)
@click.option(
    "--check",
    "check_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Validate a profile file and summarise its rules (default: the profile in use, "
    "CITYGRID_BAIT_PROFILE or the shipped one).",
)
def profile(write_path: Path | None, check_path: Path | None) -> None:
    """Show, copy or check the bait-station rule profile."""
    from gis.profiles import DEFAULT_BAIT_PROFILE

    if write_path is not None:
        if write_path.exists():
            msg = f"{write_path} exists; choose another name or remove it first"
            raise click.ClickException(msg)
        shutil.copyfile(DEFAULT_BAIT_PROFILE, write_path)
        click.echo(
            f"wrote the default profile to {write_path}; edit it and pass --profile, or set "
            "CITYGRID_BAIT_PROFILE to use it by default"
        )
        return
    prof = _profile(check_path)
    click.echo(f"profile {prof.source}: {prof.name}")
    for r in prof.rules:
        how = (
            f"a station every {r.spacing_m:g} m of outline"
            if r.mode == "perimeter"
            else f"at least {r.min_stations} station(s)"
        )
        click.echo(
            f"  rule {r.id} ({r.name_zh}): {how}, within {r.attach_m:g} m; {len(r.kinds)} kinds"
        )
    for e in prof.exclusions:
        click.echo(f"  exclusion {e.id} ({e.name_zh}): {e.buffer_m:g} m around {e.source}")
    click.echo(
        f"  stations counted: {', '.join(prof.stations.count_states)}; inspection due every "
        f"{prof.stations.inspection_max_age_days} days"
    )
