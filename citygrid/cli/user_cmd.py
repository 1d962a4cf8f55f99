"""``citygrid user``: accounts that may sign in to the dashboard, their roles and areas.

The command line acts as the operator on the server (role ``system``), recorded in the
audit log as ``system:<login name>``. The first administrator is created here:
``citygrid user add admin --role admin``.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from db.models_access import ACCOUNT_ROLES

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.engine import Connection

    from db.access import Actor

_STREET_OFFICE = click.option(
    "--street-office",
    "street_offices",
    multiple=True,
    metavar="CODE",
    help="Limit to this street office (12- or 9-digit code); repeat for several. "
    "Without it: every area.",
)
_PASSWORD_STDIN = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of asking.",
)


def operator() -> Actor:
    """The person at the server's command line, as an Actor that may do everything."""
    from db.access import command_line_operator

    return command_line_operator()


@contextmanager
def transaction() -> Iterator[Connection]:
    """A connection in a transaction on the (started, migrated) database."""
    from citygrid.cli.db_cmd import prepare_database
    from db.engine import get_engine

    prepare_database()
    with get_engine().begin() as conn:
        yield conn


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line.strip():
            raise click.UsageError("--password-stdin: standard input held no password")
        return line.rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


def console() -> Console:
    """A console for tables; piped output is not wrapped at 80 columns."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=250)


def _areas(codes: Sequence[str] | None) -> str:
    return "every area" if codes is None else "street offices " + ", ".join(codes)


@click.group(name="user")
def command() -> None:
    """Manage accounts: who may sign in, with which role, in which street offices.

    \b
    Roles: admin (users, settings), planner (assignments, loading data),
    leader (everything read-only, reports), field (own segments), viewer.
    """


@command.command()
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ACCOUNT_ROLES), help="The role.")
@_STREET_OFFICE
@click.option("--display-name", help="Name shown in the dashboard.")
@click.option("--email", help="E-mail; single sign-on maps a verified e-mail to the account.")
@click.option("--person", "person_key", help="Roster key of the person (field staff).")
@_PASSWORD_STDIN
@click.option(
    "--no-password", is_flag=True, help="No local password: sign in through single sign-on only."
)
def add(
    *,
    username: str,
    role: str,
    street_offices: tuple[str, ...],
    display_name: str | None,
    email: str | None,
    person_key: str | None,
    password_stdin: bool,
    no_password: bool,
) -> None:
    """Create an account (asks for its password unless --password-stdin or --no-password)."""
    from db.users import clean_username, create_user, resolve_street_offices

    if password_stdin and no_password:
        raise click.UsageError("give --password-stdin or --no-password, not both")
    clean_username(username)
    with transaction() as conn:  # refuse unknown areas before asking for a password
        resolve_street_offices(conn, list(street_offices) or None)
    password = None if no_password else _password(password_stdin)
    with transaction() as conn:
        info = create_user(
            conn,
            operator(),
            username,
            role=role,
            password=password,
            street_office_codes=list(street_offices) or None,
            display_name=display_name,
            email=email,
            person_key=person_key,
        )
    click.echo(f"created user {info.username!r}: {info.role}, {_areas(info.street_office_codes)}")


@command.command()
@click.argument("username")
@_PASSWORD_STDIN
def passwd(username: str, password_stdin: bool) -> None:
    """Set a new password for an account (this also lifts a lock-out)."""
    from db.users import set_password

    password = _password(password_stdin)
    with transaction() as conn:
        set_password(conn, operator(), username, password)
    click.echo(f"password of {username!r} changed")


@command.command()
@click.argument("username")
@click.option("--role", type=click.Choice(ACCOUNT_ROLES), help="New role.")
@_STREET_OFFICE
@click.option("--all-areas", is_flag=True, help="Lift the street-office limit.")
@click.option("--display-name", help="New display name.")
@click.option("--email", help="New e-mail.")
@click.option("--person", "person_key", help="Roster key of the person (field staff).")
def edit(
    *,
    username: str,
    role: str | None,
    street_offices: tuple[str, ...],
    all_areas: bool,
    display_name: str | None,
    email: str | None,
    person_key: str | None,
) -> None:
    """Change an account's role, street offices, display name, e-mail or roster link."""
    from db.users import update_user

    if street_offices and all_areas:
        raise click.UsageError("give --street-office or --all-areas, not both")
    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "role": role,
            "display_name": display_name,
            "email": email,
            "person_key": person_key,
        }.items()
        if v is not None
    }
    if street_offices or all_areas:
        changes["street_office_codes"] = list(street_offices) or None
    if not changes:
        raise click.UsageError("nothing to change; see `citygrid user edit --help`")
    with transaction() as conn:
        info = update_user(conn, operator(), username, **changes)
    click.echo(f"user {info.username!r}: {info.role}, {_areas(info.street_office_codes)}")


@command.command()
@click.argument("username")
def disable(username: str) -> None:
    """Stop an account from signing in; its history stays."""
    from db.users import disable_user

    with transaction() as conn:
        disable_user(conn, operator(), username)
    click.echo(f"user {username!r} disabled")


@command.command()
@click.argument("username")
def enable(username: str) -> None:
    """Let a disabled account sign in again."""
    from db.users import enable_user

    with transaction() as conn:
        enable_user(conn, operator(), username)
    click.echo(f"user {username!r} enabled")


@command.command()
@click.argument("username")
def unlock(username: str) -> None:
    """Lift the lock-out that follows repeated failed sign-ins."""
    from db.users import unlock_user

    with transaction() as conn:
        unlock_user(conn, operator(), username)
    click.echo(f"user {username!r} unlocked")


@command.command(name="list")
def list_() -> None:
    """Show every account with its role, areas and state."""
    from rich.markup import escape
    from rich.table import Table

    from db.users import list_users

    with transaction() as conn:
        users = list_users(conn, operator())
    if not users:
        click.echo("no accounts yet; create the first administrator with:")
        click.echo("  citygrid user add admin --role admin")
        return
    now = dt.datetime.now(dt.UTC)
    table = Table("username", "role", "street offices", "sign-in", "state", "last sign-in")
    for u in users:
        how = "+".join(m for m, on in (("password", u.has_password), ("SSO", u.oidc_linked)) if on)
        locked = u.locked_until is not None and u.locked_until > now
        state = "disabled" if u.disabled else ("locked" if locked else "active")
        table.add_row(
            escape(u.username),
            u.role,
            "all" if u.street_office_codes is None else " ".join(u.street_office_codes),
            how or "-",
            state,
            "-" if u.last_sign_in_at is None else f"{u.last_sign_in_at:%Y-%m-%d %H:%M}",
        )
    console().print(table)
