"""``citygrid settings``: what an administrator may change while the platform runs.

``show`` lists each runtime setting with its value in force and where it comes from;
``set NAME VALUE`` and ``unset NAME`` change one, checked like the environment's
settings and written to the audit log as ``system:<login name>``. The dashboard picks
a change up within half a minute; the rest of the settings are read from the
environment (and ``.env``) at start.
"""

from __future__ import annotations

import click

from citygrid.cli.user_cmd import console, operator, transaction


def _shown(value: object) -> str:
    return "(none)" if value is None else str(value)


@click.group(name="settings")
def command() -> None:
    """Settings an administrator may change while the platform runs (audited).

    \b
    Runtime settings: hotline, yellow_fraction, refresh_seconds, language,
    basemap, local_tile_url. Everything else is set in the environment or .env.
    """


@command.command()
def show() -> None:
    """Show each runtime setting: its value in force, the environment's, who changed it."""
    from rich.markup import escape
    from rich.table import Table

    from db.runtime_settings import setting_states

    with transaction() as conn:
        states = setting_states(conn)
    table = Table("setting", "in force", "source", "environment", "changed by", "meaning")
    for s in states:
        source = "changed" if s.overridden else "environment"
        if s.ignored:
            source = "environment (stored value ignored)"
        changed = "-" if s.updated_by is None else f"{s.updated_by} {s.updated_at:%Y-%m-%d %H:%M}"
        table.add_row(
            s.name,
            escape(_shown(s.effective)),
            source,
            escape(_shown(s.environment)),
            escape(changed),
            escape(s.description),
        )
    console().print(table)
    for s in states:
        if s.ignored:
            click.echo(f"note: the stored {s.name}={_shown(s.stored)} is ignored: {s.ignored}")


@command.command(name="set")
@click.argument("name")
@click.argument("value")
def set_(name: str, value: str) -> None:
    """Change setting NAME to VALUE (checked like the environment's settings)."""
    from db.runtime_settings import set_setting

    with transaction() as conn:
        state = set_setting(conn, operator(), name, value)
    click.echo(
        f"{state.name} = {_shown(state.effective)} (environment: {_shown(state.environment)})"
    )


@command.command()
@click.argument("name")
def unset(name: str) -> None:
    """Drop the change to NAME: the environment's value applies again."""
    from db.runtime_settings import unset_setting

    with transaction() as conn:
        state = unset_setting(conn, operator(), name)
    if state is None:
        click.echo(f"removed the stored value of {name}, which is no longer a runtime setting")
    else:
        click.echo(f"{state.name} = {_shown(state.effective)} (from the environment)")
