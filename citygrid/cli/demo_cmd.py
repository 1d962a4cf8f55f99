"""``citygrid demo``: load the demo district and serve the dashboard."""

from __future__ import annotations

import time
from pathlib import Path

import click

from citygrid.settings import get_settings

SIZE_HELP = (
    "Generate a district of this size instead of loading the prebuilt sample: tests (two "
    "street offices), S (all of Dongcheng, ~4,000 cells), M (~150 km²), L (~500 km², "
    "50,000 cells, 2,000,000 problems; several minutes)."
)


def demo_root() -> Path:
    """Where generated demo districts and their working copies are kept."""
    return get_settings().home / "demo"


@click.command(name="demo")
@click.option("--size", type=click.Choice(["tests", "S", "M", "L"]), default=None,
              help=SIZE_HELP)  # fmt: skip
@click.option(
    "--seed", type=int, default=None,
    help="Seed of a generated district (default 2004; without --size: generates S).",
)  # fmt: skip
@click.option("--no-serve", is_flag=True, help="Load only; do not start the dashboard.")
@click.option("--rebuild", is_flag=True, help="Generate the files again and reload every file.")
def command(size: str | None, seed: int | None, no_serve: bool, rebuild: bool) -> None:
    """Load the demo district (Beijing Dongcheng) and open the dashboard.

    \b
    Without --size: the prebuilt sample in data/sample (Dongcheng, the last 14 months
    of problems), ready in about a minute. Generated districts are kept in
    <home>/demo/<size>-<seed>/ and reused. Problem dates are moved forward so that
    the newest problems are of the last hours. Files already loaded are skipped.
    """
    from citygrid.cli.db_cmd import prepare_database
    from db.engine import make_engine
    from etl.demo import DEFAULT_SEED, SAMPLE_DIR, ensure_demo, read_manifest

    settings = get_settings()
    click.echo("starting the database ...")
    prepare_database()
    if seed is not None and size is None:
        size = "S"
    started = time.perf_counter()
    if size is None:
        folder = SAMPLE_DIR
        if read_manifest(folder).get("grid_code_scheme") != settings.grid_code_scheme:
            click.echo(
                f"the sample's cells are coded by scheme {read_manifest(folder)['grid_code_scheme']}"
                f", this deployment uses {settings.grid_code_scheme}: generating size S instead"
            )
            size = "S"
    if size is not None:
        seed = DEFAULT_SEED if seed is None else seed
        click.echo(f"preparing the demo district (size {size}, seed {seed}) ...")
        folder = ensure_demo(
            size, root=demo_root(), seed=seed, scheme=settings.grid_code_scheme,
            rebuild=rebuild, step=lambda msg: click.echo(f"  {msg}"),
        )  # fmt: skip
    engine = make_engine(settings)
    try:
        _load(engine, folder, demo_root() / "work" / folder.name, reload=rebuild)
    finally:
        engine.dispose()
    click.echo(f"demo district ready in {time.perf_counter() - started:.0f} s")
    if not no_serve:
        from citygrid.cli.serve_cmd import run_dashboard

        run_dashboard()


def _load(engine: object, folder: Path, work_dir: Path, *, reload: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    from citygrid.cli.user_cmd import operator
    from etl.demo.loading import load_demo

    console = Console(stderr=False)
    with Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(bar_width=12),
        TextColumn("{task.fields[note]}"),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, int] = {}
        current: list[str] = []

        def started(layer: str, file: str, i: int, n: int) -> None:
            if current:
                bar.update(tasks[current[0]], note="")
            current[:] = [layer]
            tasks[layer] = bar.add_task(f"{i + 1:>2}/{n} {file}", total=None, note="")

        def progress(done: int, total: int | None) -> None:
            bar.update(tasks[current[0]], completed=done, total=total or done)

        outcomes = load_demo(
            engine, folder, work_dir=work_dir, actor=operator(), started=started,  # type: ignore[arg-type]
            progress=progress,
            skip_loaded=not reload,
        )  # fmt: skip
        for o in outcomes:
            task = tasks[o.layer]
            if o.report is None:
                bar.update(task, total=1, completed=1, note="already loaded")
            else:
                r = o.report
                bar.update(
                    task, total=max(r.n_read, 1), completed=max(r.n_read, 1),
                    note=f"new {r.n_inserted:,} · updated {r.n_updated:,} · same "
                    f"{r.n_unchanged:,} · rejected {r.n_rejected:,}",
                )  # fmt: skip
    for o in outcomes:
        r = o.report
        if r is not None and r.n_rejected:
            reasons = ", ".join(f"{k} {v:,}" for k, v in r.reasons.items())
            click.echo(
                f"{o.file}: {r.n_rejected:,} rows not loaded ({reasons}); "
                f"see `citygrid load history --run {r.run_id}`"
            )
