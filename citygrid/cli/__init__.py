"""The ``citygrid`` command line.

Every subcommand explains itself with ``--help``. Expected failures print one line
starting with ``error:`` and exit 1; an interruption (Ctrl-C) exits 130 after the
work in progress has been rolled back; anything unexpected is logged with its
traceback to ``<home>/citygrid.log`` and reported in one line.
"""

from __future__ import annotations

import importlib
import sys

import click

from gis.errors import CityGridError

# Subcommand name -> module defining it as a click command or group named ``command``.
# Imported only when used, so that a bad setting read at import time (the working CRS
# of the models, say) is reported by :func:`main` in one line like any other error.
_COMMANDS = {
    "db": "citygrid.cli.db_cmd",
    "serve": "citygrid.cli.serve_cmd",
    "load": "citygrid.cli.load_cmd",
    "coverage": "citygrid.cli.coverage_cmd",
    "assign": "citygrid.cli.assign_cmd",
    "user": "citygrid.cli.user_cmd",
    "settings": "citygrid.cli.settings_cmd",
    "kiosk": "citygrid.cli.kiosk_cmd",
    "analyse": "citygrid.cli.analyse_cmd",
    "demo": "citygrid.cli.demo_cmd",
    "grid": "citygrid.cli.grid_cmd",
    "roads": "citygrid.cli.roads_cmd",
}


class _LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = _COMMANDS.get(cmd_name)
        if module is None:
            return None
        command: click.Command = importlib.import_module(module).command
        return command


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="citygrid")
def cli() -> None:
    """CityGrid: grid management for city command centres, planners and leaders.

    \b
    Start here:
      citygrid demo        load the demo district and open the dashboard
      citygrid db status   what database is in use and what it holds
      citygrid load --help load your own data
    """


def _log_unexpected(exc: BaseException) -> str:
    import logging
    import traceback

    try:
        from citygrid.settings import get_settings

        log_path = get_settings().home / "citygrid.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        logging.basicConfig(filename=log_path, level=logging.ERROR)
        logging.getLogger("citygrid").error(
            "unexpected error\n%s", "".join(traceback.format_exception(exc))
        )
        return str(log_path)
    except Exception:  # the log is a courtesy; never mask the original error
        return "(log unavailable)"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``citygrid`` script."""
    try:
        cli.main(args=argv, prog_name="citygrid", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted: nothing was changed", err=True)
        return 1
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.format_message())  # a group named alone: its help is the answer
        return 0
    except click.UsageError as exc:
        # one line, like every other error, pointing at the help that explains it
        ctx = exc.ctx
        while ctx is not None and ctx.command.hidden and ctx.parent is not None:
            ctx = ctx.parent  # `load FILE` runs a hidden subcommand: its help is load's
        path = ctx.command_path if ctx is not None else "citygrid"
        message = exc.format_message().replace("\n", " ")
        click.echo(f"error: {message} (see `{path} --help`)", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("\ninterrupted: the work in progress was rolled back", err=True)
        return 130
    except CityGridError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    except Exception as exc:
        where = _log_unexpected(exc)
        click.echo(f"error: unexpected {type(exc).__name__}: {exc} (details in {where})", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
