"""The application's database role: it may append to the audit log and read it, nothing more.

Run on the embedded cluster: ``SET ROLE citygrid_app`` checks the role's own privileges,
and a real login role that is a member of it checks what production does.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine, make_url

from db import audit, migrate
from db.access import SYSTEM
from db.models_access import APP_DB_ROLE

pytestmark = pytest.mark.db

REFUSED_ON_AUDIT_LOG = [
    "UPDATE audit_log SET actor = 'forger'",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
    "ALTER TABLE audit_log DISABLE TRIGGER USER",
    "DROP TRIGGER audit_log_no_update ON audit_log",
    "DROP TABLE audit_log",
    "UPDATE alembic_version SET version_num = 'x'",
    "DELETE FROM deployment",
]


@pytest.fixture
def as_app(conn: Connection) -> Connection:
    """The test's connection, acting with the application role's privileges only."""
    audit.record(conn, SYSTEM, "test.seed", detail={"n": 1})
    conn.execute(sa.text(f"SET LOCAL ROLE {APP_DB_ROLE}"))
    return conn


def test_the_app_role_appends_to_and_reads_the_audit_log(as_app: Connection) -> None:
    new_id = audit.record(as_app, SYSTEM, "test.append", detail={"by": "app"})
    assert as_app.scalar(sa.text("SELECT current_user")) == APP_DB_ROLE
    assert as_app.scalar(sa.text("SELECT count(*) FROM audit_log")) == 2
    assert as_app.scalar(sa.text("SELECT action FROM audit_log WHERE id = :i"), {"i": new_id}) == (
        "test.append"
    )


@pytest.mark.parametrize("statement", REFUSED_ON_AUDIT_LOG)
def test_the_app_role_cannot_change_the_audit_log_or_the_schema_record(
    as_app: Connection, statement: str
) -> None:
    with pytest.raises(sa.exc.ProgrammingError) as refused, as_app.begin_nested():
        as_app.execute(sa.text(statement))
    assert type(refused.value.orig).__name__ == "InsufficientPrivilege"
    assert as_app.scalar(sa.text("SELECT count(*) FROM audit_log WHERE actor = 'system'")) == 1


def test_the_app_role_works_on_the_data_tables(as_app: Connection) -> None:
    as_app.execute(
        sa.text(
            "INSERT INTO users (username, username_key, role, created_by) VALUES ('a', 'a', 'viewer', 't')"
        )
    )
    as_app.execute(sa.text("UPDATE users SET display_name = 'A' WHERE username = 'a'"))
    as_app.execute(sa.text("INSERT INTO people (person_key, name) VALUES ('p1', '王小明')"))
    as_app.execute(sa.text("DELETE FROM people WHERE person_key = 'p1'"))
    assert as_app.scalar(sa.text("SELECT working_srid FROM deployment")) == 4548


def test_the_owner_is_still_refused_by_the_trigger(conn: Connection) -> None:
    audit.record(conn, SYSTEM, "test.seed")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), conn.begin_nested():
        conn.execute(sa.text("UPDATE audit_log SET actor = 'forger'"))


@pytest.fixture
def login_engine(engine: Engine) -> Iterator[Engine]:
    """A login role that is a member of the app role, as production connects."""
    name = "citygrid_test_access_login"
    password = secrets.token_urlsafe(16)
    with engine.begin() as c:
        c.execute(sa.text(f"DROP ROLE IF EXISTS {name}"))
        c.execute(sa.text(f"CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE {APP_DB_ROLE}"))
    url = make_url(engine.url).set(username=name, password=password)
    eng = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        yield eng
    finally:
        eng.dispose()
        with engine.begin() as c:
            c.execute(sa.text(f"DROP ROLE IF EXISTS {name}"))


def test_a_login_role_in_the_app_role_appends_but_cannot_rewrite(login_engine: Engine) -> None:
    with login_engine.connect() as c:
        trans = c.begin()
        try:
            audit.record(c, SYSTEM, "test.login")
            assert c.scalar(sa.text("SELECT count(*) FROM audit_log WHERE action = 'test.login'"))
            for statement in ("DELETE FROM audit_log", "TRUNCATE audit_log"):
                with (
                    pytest.raises(sa.exc.ProgrammingError, match="permission denied"),
                    c.begin_nested(),
                ):
                    c.execute(sa.text(statement))
        finally:
            trans.rollback()


def test_the_downgrade_revokes_what_the_upgrade_granted(engine: Engine) -> None:
    script = ScriptDirectory.from_config(migrate._config_for_scripts())
    before_access = script.get_revision("0003").down_revision
    check = sa.text(
        "SELECT has_table_privilege(:r, 'audit_log', 'INSERT'), "
        "has_table_privilege(:r, 'people', 'UPDATE'), "
        "has_table_privilege(:r, 'audit_log', 'UPDATE')"
    )
    with engine.connect() as c:
        assert tuple(c.execute(check, {"r": APP_DB_ROLE}).one()) == (True, True, False)
    migrate.downgrade(engine, str(before_access))
    try:
        with engine.connect() as c:
            assert tuple(c.execute(check, {"r": APP_DB_ROLE}).one()) == (False, False, False)
            assert c.scalar(sa.text("SELECT to_regclass('users')")) is None
    finally:
        migrate.upgrade(engine)
    with engine.connect() as c:
        assert tuple(c.execute(check, {"r": APP_DB_ROLE}).one()) == (True, True, False)


def test_the_dashboard_connects_as_a_login_of_the_app_role(engine: Engine) -> None:
    from citygrid.settings import get_settings
    from db.engine import APP_LOGIN_ROLE, app_engine

    dashboard = app_engine(get_settings())
    try:
        with dashboard.connect() as c:
            assert c.scalar(sa.text("SELECT current_user")) == APP_LOGIN_ROLE
            assert c.scalar(
                sa.text("SELECT pg_has_role(current_user, :r, 'MEMBER')"), {"r": APP_DB_ROLE}
            )
            for statement in (
                "UPDATE audit_log SET actor = 'forger'",
                "ALTER TABLE audit_log DISABLE TRIGGER USER",
            ):
                with pytest.raises(sa.exc.ProgrammingError), c.begin_nested():
                    c.execute(sa.text(statement))
            c.rollback()
        again = app_engine(get_settings())  # a second process: same login, same password
        with again.connect() as c:
            assert c.scalar(sa.text("SELECT current_user")) == APP_LOGIN_ROLE
        again.dispose()
    finally:
        dashboard.dispose()


def test_sessions_count_days_in_the_deployment_zone(engine: Engine) -> None:
    from citygrid.settings import get_settings

    with engine.connect() as c:
        assert c.scalar(sa.text("SHOW TimeZone")) == get_settings().timezone
