"""``citygrid db``: start, stop, describe, reset and migrate the database."""

from __future__ import annotations

import click

from citygrid.settings import get_settings


@click.group(name="db")
def command() -> None:
    """Manage the database: the embedded cluster, or the server in CITYGRID_DATABASE_URL."""


def prepare_database(*, start: bool = True) -> None:
    """Start the server if needed, create the database and bring the schema up to date."""
    from db import migrate
    from db.engine import check_working_srid, ensure_server, make_engine

    settings = get_settings()
    ensure_server(settings, start=start)
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine)
        check_working_srid(engine, settings)
    finally:
        engine.dispose()


@command.command()
def up() -> None:
    """Start the database (creating it on first use) and apply migrations."""
    from db.cluster import Cluster

    settings = get_settings()
    if settings.embedded:
        cluster = Cluster(settings)
        created = cluster.init()
        started = cluster.start()
        if created:
            click.echo(f"created the embedded PostgreSQL cluster in {cluster.pgdata}")
        click.echo(
            f"embedded PostgreSQL {'started' if started else 'already running'} "
            f"on 127.0.0.1:{cluster.port}"
        )
    else:
        click.echo("using the server in CITYGRID_DATABASE_URL (nothing started locally)")
    prepare_database()
    click.echo(f"database {settings.db_name!r} is ready (schema up to date)")


@command.command()
def down() -> None:
    """Stop the embedded database server. Data is kept."""
    from db.cluster import Cluster

    settings = get_settings()
    if not settings.embedded:
        click.echo("CITYGRID_DATABASE_URL is set: that server is not CityGrid's to stop")
        return
    stopped = Cluster(settings).stop()
    click.echo("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")


@command.command()
def status() -> None:
    """Show the server, PostgreSQL and PostGIS versions, working CRS and what is loaded."""
    import sqlalchemy as sa
    from pyproj import CRS

    from db import migrate
    from db.cluster import Cluster
    from db.engine import make_engine

    settings = get_settings()
    if settings.embedded:
        st = Cluster(settings).status()
        state = "running" if st.running else ("stopped" if st.initialised else "not created yet")
        click.echo(f"server:     embedded cluster at {st.pgdata} (127.0.0.1:{st.port}), {state}")
        if not st.running:
            click.echo("            start it with `citygrid db up`")
            return
    else:
        click.echo("server:     CITYGRID_DATABASE_URL (external)")
    from db.engine import ensure_server

    ensure_server(settings, start=False)
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            pg = conn.scalar(sa.text("SHOW server_version"))
            postgis = conn.scalar(sa.text("SELECT postgis_lib_version()"))
            click.echo(f"database:   {settings.db_name}")
            click.echo(f"PostgreSQL: {pg}")
            click.echo(f"PostGIS:    {postgis}")
            rev = migrate.current(engine)
            head = migrate.head()
            if rev is None:
                click.echo(f"schema:     empty (run `citygrid db migrate`; newest is {head})")
                return
            srid = conn.scalar(sa.text("SELECT working_srid FROM deployment WHERE id = 1"))
            crs = CRS.from_epsg(int(srid))
            click.echo(f"working CRS: EPSG:{srid} {crs.name}")
            click.echo(f"schema:     revision {rev}" + ("" if rev == head else f" (newest {head})"))
            from rich.console import Console
            from rich.table import Table

            from db.summary import layer_counts

            counts = Table("layer", "rows", box=None, padding=(0, 2))
            for _table, zh, en, n in layer_counts(conn):
                counts.add_row(f"{zh} {en}", f"{n:,}")
            Console().print(counts)
    finally:
        engine.dispose()


@command.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--down", "down_to", default=None, help="Downgrade to this revision instead.")
def migrate(revision: str, down_to: str | None) -> None:
    """Apply (or with --down, revert) schema migrations."""
    from db import migrate as mig
    from db.engine import ensure_server, make_engine

    settings = get_settings()
    ensure_server(settings)
    engine = make_engine(settings)
    try:
        if down_to:
            mig.downgrade(engine, down_to)
            click.echo(f"schema downgraded to {down_to}")
        else:
            mig.upgrade(engine, revision)
            click.echo(f"schema at {mig.current(engine)}")
    finally:
        engine.dispose()


@command.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--cluster",
    "whole_cluster",
    is_flag=True,
    help="Delete the whole embedded cluster, not only the CityGrid database.",
)
def reset(yes: bool, whole_cluster: bool) -> None:
    """Delete all CityGrid data and start again with an empty, migrated database."""
    import sqlalchemy as sa

    from db.cluster import Cluster
    from db.engine import ensure_server, server_url
    from gis.errors import ConfigError

    settings = get_settings()
    what = "the embedded cluster" if whole_cluster else f"database {settings.db_name!r}"
    if whole_cluster and not settings.embedded:
        msg = "--cluster only applies to the embedded cluster (CITYGRID_DATABASE_URL is set)"
        raise ConfigError(msg)
    if not yes:
        click.confirm(f"Delete {what} with all its data?", abort=True)
    if whole_cluster:
        Cluster(settings).destroy()
    elif settings.embedded:
        ensure_server(settings)
        admin = sa.create_engine(
            server_url(settings, database="postgres"), isolation_level="AUTOCOMMIT"
        )
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{settings.db_name}" WITH (FORCE)'))
        finally:
            admin.dispose()
    else:
        # A configured server's database may not be ours to drop: empty it by migration.
        from db import migrate as mig
        from db.engine import make_engine

        ensure_server(settings)
        engine = make_engine(settings)
        try:
            mig.downgrade(engine, "base")
        finally:
            engine.dispose()
    prepare_database()
    click.echo(f"{what} reset: empty schema at the newest revision")
