"""Connections: the one place that decides which PostGIS CityGrid talks to.

With ``CITYGRID_DATABASE_URL`` set, that server is used and nothing is started
locally. Without it, the embedded cluster (``db.cluster``) is started on demand and
the database created with PostGIS in it.
"""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from citygrid.settings import Settings, get_settings
from db.cluster import Cluster
from gis.errors import DatabaseError


def server_url(settings: Settings, *, database: str | None = None) -> str:
    """SQLAlchemy URL of the configured or embedded server, for ``database``."""
    if settings.database_url is not None:
        url = make_url(settings.database_url.get_secret_value())
        if url.drivername in {"postgresql", "postgres"}:
            url = url.set(drivername="postgresql+psycopg")
        if database:
            url = url.set(database=database)
        return url.render_as_string(hide_password=False)
    return Cluster(settings).url(database or settings.db_name)


def ensure_server(settings: Settings | None = None, *, start: bool = True) -> None:
    """Make sure the database server is up and the database exists with PostGIS.

    For the embedded cluster this starts the server (creating it first) when ``start``
    is true. For a configured server it only checks that it can be reached.
    """
    settings = settings or get_settings()
    if settings.embedded:
        cluster = Cluster(settings)
        if start:
            cluster.start()
        elif not cluster.running():
            msg = "the embedded database is not running; start it with `citygrid db up`"
            raise DatabaseError(msg)
        _create_database(settings)
    _check_postgis(settings)


def _create_database(settings: Settings) -> None:
    admin = sa.create_engine(
        server_url(settings, database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            exists = conn.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": settings.db_name}
            )
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{settings.db_name}"'))
    finally:
        admin.dispose()


def _check_postgis(settings: Settings) -> None:
    eng = sa.create_engine(server_url(settings), poolclass=sa.pool.NullPool)
    try:
        with eng.begin() as conn:
            available = conn.scalar(
                sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
            )
            if not available:
                from db.cluster import POSTGIS_HINT

                raise DatabaseError(POSTGIS_HINT)
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    except sa.exc.OperationalError as exc:
        raise DatabaseError(_describe_connect_error(settings, exc)) from None
    finally:
        eng.dispose()


def _describe_connect_error(settings: Settings, exc: Exception) -> str:
    where = "the embedded cluster" if settings.embedded else "CITYGRID_DATABASE_URL"
    first = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    return f"cannot connect to the database ({where}): {first}"


def _connect_args(settings: Settings, name: str) -> dict[str, str]:
    # Sessions count days in the deployment's zone: CURRENT_DATE, a timestamp cast to a
    # date and date_trunc then agree with the pages, whatever zone the server is in.
    return {"application_name": name, "options": f"-c TimeZone={settings.timezone}"}


def make_engine(settings: Settings | None = None, *, database: str | None = None) -> Engine:
    """A new engine for the CityGrid database (server must be up)."""
    settings = settings or get_settings()
    return sa.create_engine(
        server_url(settings, database=database),
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args=_connect_args(settings, "citygrid"),
    )


#: Login role the dashboard connects as: a member of ``citygrid_app`` (migration 0003),
#: so it may read and write the data but only append to the audit log.
APP_LOGIN_ROLE = "citygrid_web"


def app_engine(settings: Settings | None = None) -> Engine:
    """The engine of the dashboard: it acts with the application role's rights only.

    The dashboard is what the network reaches, so it must not be able to change the
    audit trail. When the configured user owns the schema (the embedded cluster, a
    docker-compose server) and may create roles, the login role ``citygrid_web`` in
    ``citygrid_app`` is created or refreshed with a password kept in
    ``<home>/pg-app-password`` and the dashboard connects as it. A configured user that
    does not own the schema (production: the README's login role) is used as it is.
    """
    settings = settings or get_settings()
    return sa.create_engine(
        _app_url(settings),
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args=_connect_args(settings, "citygrid-app"),
    )


def _app_url(settings: Settings) -> str:
    from db.models_access import APP_DB_ROLE

    owner_url = server_url(settings)
    owner = sa.create_engine(owner_url, poolclass=sa.pool.NullPool)
    try:
        with owner.begin() as conn:
            me = conn.execute(
                sa.text(
                    "SELECT r.rolsuper OR r.rolcreaterole AS may_create, "
                    "       EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public' "
                    "               AND tablename = 'audit_log' AND tableowner = current_user) "
                    "         AS owns_audit, "
                    "       EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :app) AS app_role "
                    "FROM pg_roles r WHERE r.rolname = current_user"
                ),
                {"app": APP_DB_ROLE},
            ).one()
            if not me.owns_audit:
                return owner_url  # already a restricted login (or no schema yet)
            if not (me.may_create and me.app_role):
                import logging

                logging.getLogger("citygrid").warning(
                    "the dashboard connects as the owner of the audit log; create a login "
                    "role in %s for it (README: production roles)",
                    APP_DB_ROLE,
                )
                return owner_url
            password = _app_password(settings)
            # the password is URL-safe base64 (letters, digits, - and _): safe as a literal
            conn.execute(
                sa.text(
                    f"""
                    DO $$
                    BEGIN
                        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_LOGIN_ROLE}')
                        THEN
                            CREATE ROLE {APP_LOGIN_ROLE} LOGIN PASSWORD '{password}'
                                IN ROLE {APP_DB_ROLE};
                        ELSE
                            ALTER ROLE {APP_LOGIN_ROLE} LOGIN PASSWORD '{password}';
                            GRANT {APP_DB_ROLE} TO {APP_LOGIN_ROLE};
                        END IF;
                    EXCEPTION
                        -- another process created it at the same moment, same password
                        WHEN duplicate_object OR unique_violation THEN NULL;
                    END $$;
                    """
                )
            )
    except sa.exc.OperationalError as exc:
        raise DatabaseError(_describe_connect_error(settings, exc)) from None
    finally:
        owner.dispose()
    url = make_url(owner_url).set(username=APP_LOGIN_ROLE, password=password)
    return url.render_as_string(hide_password=False)


def _app_password(settings: Settings) -> str:
    import os
    import secrets

    path = settings.home / "pg-app-password"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    tmp = path.with_suffix(f".{secrets.token_hex(4)}")
    tmp.write_text(password + "\n", encoding="utf-8")
    tmp.chmod(0o600)
    try:
        os.link(tmp, path)  # the first process to get here wins; the others read its password
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip()


@lru_cache(maxsize=4)
def get_engine(database: str | None = None) -> Engine:
    """The process-wide engine, starting the embedded server when needed."""
    settings = get_settings()
    ensure_server(settings)
    return make_engine(settings, database=database)


def check_working_srid(engine: Engine, settings: Settings | None = None) -> int:
    """Return the database's working SRID; refuse a settings value that contradicts it."""
    settings = settings or get_settings()
    with engine.connect() as conn:
        try:
            srid = conn.scalar(sa.text("SELECT working_srid FROM deployment WHERE id = 1"))
        except sa.exc.ProgrammingError:
            msg = "the database has no CityGrid schema yet; run `citygrid db migrate`"
            raise DatabaseError(msg) from None
    if srid is None:
        msg = "the database has no deployment row; run `citygrid db migrate`"
        raise DatabaseError(msg)
    if srid != settings.working_srid:
        msg = (
            f"the database was created with working CRS EPSG:{srid} but "
            f"CITYGRID_WORKING_SRID is {settings.working_srid}; the working CRS is fixed at "
            "creation: set it back, or start a new database"
        )
        raise DatabaseError(msg)
    return int(srid)
