"""``citygrid user`` and ``citygrid kiosk`` against the test database."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from citygrid.cli import cli, main
from db import kiosk, users
from gis.errors import DataError, PermissionDeniedError

pytestmark = pytest.mark.db


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        users, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def db(clean_db: Engine) -> Iterator[Engine]:
    with clean_db.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO admin_areas (code, name, level) "
                "VALUES ('110101001000', '东华门街道办事处', 'street_office')"
            )
        )
    yield clean_db
    from db.engine import get_engine

    get_engine().dispose()  # the commands' own pooled connections
    with clean_db.begin() as c:
        c.execute(sa.text("DELETE FROM users"))
        c.execute(sa.text("DELETE FROM kiosk_tokens"))


def run(*args: str, input: str | None = None) -> str:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_first_administrator_from_the_command_line(db: Engine) -> None:
    out = run(
        "user", "add", "admin", "--role", "admin", "--password-stdin", input="first secret pw\n"
    )
    assert out.strip() == "created user 'admin': admin, every area"
    with db.connect() as c:
        actor = users.authenticate(c, "admin", "first secret pw")
        assert actor.role == "admin"
        who = c.scalar(sa.text("SELECT actor FROM audit_log WHERE action = 'user.create'"))
    assert re.fullmatch(r"system:\w+", who)


def test_add_asks_twice_for_the_password(db: Engine) -> None:
    out = run(
        "user", "add", "wang", "--role", "planner", "--street-office", "110101001",
        input="planner secret\nplanner secret\n",
    )  # fmt: skip
    assert "created user 'wang': planner, street offices 110101001000" in out
    with db.connect() as c:
        assert users.authenticate(c, "wang", "planner secret").street_office_ids


def test_every_user_command(db: Engine) -> None:
    run("user", "add", "root", "--role", "admin", "--password-stdin", input="first secret pw\n")
    run("user", "add", "wang", "--role", "viewer", "--no-password", "--email", "wang@dc.gov.cn")
    run("user", "passwd", "wang", "--password-stdin", input="li secret pw0\n")
    assert "user 'wang': leader" in run("user", "edit", "wang", "--role", "leader")
    assert "street offices 110101001000" in run(
        "user", "edit", "wang", "--street-office", "110101001000"
    )
    assert "every area" in run("user", "edit", "wang", "--all-areas")
    run("user", "disable", "wang")
    with db.connect() as c, pytest.raises(PermissionDeniedError):
        users.authenticate(c, "wang", "li secret pw0")
    run("user", "enable", "wang")
    run("user", "unlock", "wang")
    listing = run("user", "list")
    assert re.search(r"wang\s+│\s+leader\s+│\s+all\s+│\s+password\s+│\s+active", listing)
    with db.connect() as c:
        actions = c.scalars(sa.text("SELECT action FROM audit_log ORDER BY id")).all()
    assert actions == [
        "user.create", "user.create", "user.password", "user.update", "user.update",
        "user.update", "user.disable", "auth.sign_in_failed", "user.enable", "user.unlock",
    ]  # fmt: skip


def test_hostile_names_are_listed_as_typed(db: Engine) -> None:
    for name in (
        "[bold red]boss[/bold red]",
        "<script>alert(1)</script>",
        "'); DROP TABLE people;--",
    ):
        run("user", "add", name, "--role", "viewer", "--no-password")
    listing = run("user", "list")
    assert "[bold red]boss[/bold red]" in listing
    assert "<script>alert(1)</script>" in listing
    assert "'); DROP TABLE people;--" in listing


def test_errors_are_one_line_without_traceback(
    db: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["user", "disable", "nobody"]) == 1
    err = capsys.readouterr().err
    assert (
        err.strip() == "error: there is no user 'nobody'; `citygrid user list` shows who there is"
    )
    assert main(["user", "add", "x", "--role", "viewer", "--street-office", "110101099"]) == 1
    assert "unknown street office code(s) 110101099000" in capsys.readouterr().err
    assert main(["user", "add", "x", "--role", "root"]) == 2  # click's own usage error
    with pytest.raises(DataError):
        CliRunner().invoke(
            cli, ["user", "add", "y", "--role", "viewer", "--password-stdin"],
            input="short\n", catch_exceptions=False,
        )  # fmt: skip


def test_kiosk_create_list_revoke(db: Engine) -> None:
    out = run("kiosk", "create", "指挥中心大屏", "--street-office", "110101001")
    token = re.search(r"^\s+(cgk_\S+)$", out, re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert f"/?kiosk={token}" in out
    with db.connect() as c:
        assert kiosk.actor_for_kiosk_token(c, token).role == "kiosk"
    listing = run("kiosk", "list")
    assert "指挥中心大屏" in listing
    assert token not in listing
    assert token[:8] in listing
    assert "revoked" in run("kiosk", "revoke", "指挥中心大屏")
    with db.connect() as c, pytest.raises(PermissionDeniedError):
        kiosk.actor_for_kiosk_token(c, token)
    assert "no wall-screen tokens" in run("kiosk", "list")
    assert "revoked" in run("kiosk", "list", "--all")
