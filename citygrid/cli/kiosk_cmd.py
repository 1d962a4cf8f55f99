"""``citygrid kiosk``: read-only tokens for command-centre wall screens.

A wall screen opens the dashboard with its token in the address and shows the big
screen only, with phone numbers and names masked; nobody signs in at the screen, and
the token opens nothing else. Revoking the token turns the screen away at its next
refresh.
"""

from __future__ import annotations

import click

from citygrid.cli.user_cmd import console, operator, transaction


@click.group(name="kiosk")
def command() -> None:
    """Manage wall-screen tokens (read-only, big screen only, phones hidden)."""


@command.command()
@click.argument("name")
@click.option(
    "--street-office",
    "street_offices",
    multiple=True,
    metavar="CODE",
    help="Show only this street office (12- or 9-digit code); repeat for several.",
)
def create(name: str, street_offices: tuple[str, ...]) -> None:
    """Create a token for the wall screen NAME and print its address (shown once)."""
    import socket

    from citygrid.settings import get_settings
    from db.kiosk import KIOSK_QUERY_PARAM, create_kiosk_token

    with transaction() as conn:
        info, token = create_kiosk_token(
            conn, operator(), name, street_office_codes=list(street_offices) or None
        )
    port = get_settings().app_port
    click.echo(f"wall-screen token {info.id} for {info.name!r} created; it is shown only now:")
    click.echo(f"  {token}")
    click.echo("open this address on the screen (use the server's name or address as seen there):")
    click.echo(f"  http://{socket.getfqdn()}:{port}/?{KIOSK_QUERY_PARAM}={token}")
    click.echo(f"revoke it with: citygrid kiosk revoke {info.id}")


@command.command()
@click.argument("token")
def revoke(token: str) -> None:
    """Revoke the active token with this name (or id); its screen is turned away."""
    from db.kiosk import revoke_kiosk_token

    with transaction() as conn:
        info = revoke_kiosk_token(conn, operator(), token)
    click.echo(f"wall-screen token {info.id} ({info.name!r}) revoked")


@command.command(name="list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
def list_(include_revoked: bool) -> None:
    """Show wall-screen tokens (the tokens themselves are never stored)."""
    from rich.markup import escape
    from rich.table import Table

    from db.kiosk import list_kiosk_tokens

    with transaction() as conn:
        tokens = list_kiosk_tokens(conn, operator(), include_revoked=include_revoked)
    if not tokens:
        click.echo("no wall-screen tokens; create one with `citygrid kiosk create NAME`")
        return
    table = Table("id", "name", "starts", "street offices", "created", "last used", "state")
    for t in tokens:
        table.add_row(
            str(t.id),
            escape(t.name),
            t.hint + "…",
            "all" if t.street_office_codes is None else " ".join(t.street_office_codes),
            f"{t.created_at:%Y-%m-%d} {escape(t.created_by)}",
            "-" if t.last_used_at is None else f"{t.last_used_at:%Y-%m-%d %H:%M}",
            "revoked" if t.revoked_at else "active",
        )
    console().print(table)
