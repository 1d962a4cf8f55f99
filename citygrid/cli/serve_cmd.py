"""``citygrid serve``: run the dashboard."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from citygrid.settings import get_settings

APP_MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"


def run_dashboard(*, port: int | None = None, address: str | None = None) -> NoReturn:
    """Replace this process with Streamlit serving the dashboard (Ctrl-C stops it).

    ``exec`` rather than a child process: a service manager's SIGTERM, or Ctrl-C,
    then reaches Streamlit itself, and no server is left running behind us.
    """
    settings = get_settings()
    port = port or settings.app_port
    address = address or settings.app_address
    click.echo(f"CityGrid dashboard: http://localhost:{port}  (Ctrl-C stops it)")
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_MAIN),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.maxUploadSize",
        str(settings.max_upload_mb),
        "--client.showErrorDetails",
        "none",
        "--client.toolbarMode",
        "minimal",
        # No CSV download or copy from tables: every export goes through the pages' own
        # download buttons, which check the role, mask and write the audit row.
        "--client.disableDataExport",
        "true",
        "--theme.base",
        "light",
    ]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, cmd)


@click.command(name="serve")
@click.option("--port", type=int, default=None, help="Port (default CITYGRID_APP_PORT, 8501).")
@click.option(
    "--address",
    default=None,
    help="Address to listen on (default CITYGRID_APP_ADDRESS, 127.0.0.1).",
)
def command(port: int | None, address: str | None) -> None:
    """Start the database if needed and serve the dashboard."""
    from citygrid.cli.db_cmd import prepare_database

    prepare_database()
    run_dashboard(port=port, address=address)
