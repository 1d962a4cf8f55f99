"""Accounts and password sign-in (db.users) on a real PostGIS."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, Type
from sqlalchemy.engine import Connection, Engine

from db import users
from db.access import SYSTEM, Actor
from gis.errors import DataError, PermissionDeniedError

pytestmark = pytest.mark.db

DEFAULT_HASHER = users.PASSWORD_HASHER
PW = "correct horse battery"
HOSTILE = [
    "<script>alert(1)</script>",
    "'); DROP TABLE people;--",
    "Robert'); DROP TABLE users;--",
    '<img src=x onerror="alert(1)">',
    "王小明",
    "%_\\",
]


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The production cost (64 MiB, 3 passes) is checked once below; elsewhere it only slows.
    monkeypatch.setattr(
        users, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def areas(conn: Connection) -> dict[str, int]:
    """Two street offices of Dongcheng (codes from the adcode data set)."""
    rows = conn.execute(
        sa.text(
            "INSERT INTO admin_areas (code, name, level) VALUES "
            "('110101001000', '东华门街道办事处', 'street_office'), "
            "('110101002000', '景山街道办事处', 'street_office') RETURNING code, id"
        )
    ).all()
    return dict(rows)  # type: ignore[arg-type]


def _audit(conn: Connection, action: str) -> list[sa.Row]:
    return conn.execute(
        sa.text(
            "SELECT actor, action, entity_type, entity_id, before, after, detail "
            "FROM audit_log WHERE action = :a ORDER BY id"
        ),
        {"a": action},
    ).all()


def test_passwords_are_argon2id_with_the_rfc9106_cost(conn: Connection) -> None:
    assert DEFAULT_HASHER.type is Type.ID
    assert (DEFAULT_HASHER.memory_cost, DEFAULT_HASHER.time_cost) == (65536, 3)
    users.create_user(conn, SYSTEM, "wang", role="planner", password=PW)
    stored = conn.scalar(sa.text("SELECT password_hash FROM users WHERE username = 'wang'"))
    assert stored.startswith("$argon2id$")
    assert PW not in stored


def test_sign_in_gives_role_areas_and_an_audit_row(conn: Connection, areas: dict[str, int]) -> None:
    users.create_user(
        conn, SYSTEM, "Wang.Li", role="planner", password=PW, street_office_codes=["110101001"]
    )
    actor = users.authenticate(conn, "  wang.li ", PW)
    assert actor.username == "Wang.Li"
    assert actor.role == "planner"
    assert actor.street_office_ids == frozenset({areas["110101001000"]})
    assert actor.extra["auth"] == "password"
    (row,) = _audit(conn, "auth.sign_in")
    assert row.actor == "Wang.Li"
    assert row.detail == {"method": "password", "role": "planner"}
    assert conn.scalar(sa.text("SELECT last_sign_in_at IS NOT NULL FROM users")) is True


def test_refusal_does_not_tell_whether_the_account_exists(conn: Connection) -> None:
    users.create_user(conn, SYSTEM, "wang", role="viewer", password=PW)
    with pytest.raises(PermissionDeniedError) as wrong:
        users.authenticate(conn, "wang", "not the password")
    with pytest.raises(PermissionDeniedError) as unknown:
        users.authenticate(conn, "nobody", "not the password")
    assert str(wrong.value).replace("'wang'", "X") == str(unknown.value).replace("'nobody'", "X")
    reasons = [(r.actor, r.detail["reason"]) for r in _audit(conn, "auth.sign_in_failed")]
    assert reasons == [("wang", "wrong_password"), ("nobody", "unknown_user")]


def test_lock_out_after_repeated_failures_then_release(conn: Connection) -> None:
    users.create_user(conn, SYSTEM, "wang", role="viewer", password=PW)
    for _ in range(3):
        with pytest.raises(PermissionDeniedError):
            users.authenticate(conn, "wang", "wrong password", max_failures=3, lockout_minutes=5)
    # locked: even the right password is refused, without counting further
    with pytest.raises(PermissionDeniedError):
        users.authenticate(conn, "wang", PW, max_failures=3)
    reasons = [r.detail["reason"] for r in _audit(conn, "auth.sign_in_failed")]
    assert reasons == ["wrong_password"] * 3 + ["locked"]
    (locked,) = _audit(conn, "user.locked_out")
    assert locked.detail["failures"] == 3
    minutes = conn.scalar(
        sa.text("SELECT extract(epoch FROM locked_until - now()) / 60 FROM users")
    )
    assert 4.9 < float(minutes) <= 5.0
    # the lock runs out
    conn.execute(sa.text("UPDATE users SET locked_until = now() - interval '1 second'"))
    assert users.authenticate(conn, "wang", PW).username == "wang"
    assert conn.scalar(sa.text("SELECT failed_count FROM users")) == 0


def test_a_success_resets_the_failure_count(conn: Connection) -> None:
    users.create_user(conn, SYSTEM, "wang", role="viewer", password=PW)
    for _ in range(2):
        with pytest.raises(PermissionDeniedError):
            users.authenticate(conn, "wang", "wrong password", max_failures=3)
    users.authenticate(conn, "wang", PW, max_failures=3)
    for _ in range(2):
        with pytest.raises(PermissionDeniedError):
            users.authenticate(conn, "wang", "wrong password", max_failures=3)
    assert users.authenticate(conn, "wang", PW, max_failures=3).username == "wang"


def test_unlock_lifts_a_lock_out(conn: Connection) -> None:
    users.create_user(conn, SYSTEM, "wang", role="viewer", password=PW)
    with pytest.raises(PermissionDeniedError):
        users.authenticate(conn, "wang", "wrong password", max_failures=1)
    with pytest.raises(PermissionDeniedError):
        users.authenticate(conn, "wang", PW)
    users.unlock_user(conn, SYSTEM, "wang")
    assert users.authenticate(conn, "wang", PW).role == "viewer"


@pytest.fixture
def committed_user(clean_db: Engine) -> Iterator[Engine]:
    with clean_db.begin() as c:
        users.create_user(c, SYSTEM, "wang", role="viewer", password=PW)
    yield clean_db
    with clean_db.begin() as c:
        c.execute(sa.text("DELETE FROM users"))


def test_failures_survive_the_refusal_when_sign_in_owns_the_transaction(
    committed_user: Engine,
) -> None:
    with committed_user.connect() as c, pytest.raises(PermissionDeniedError):
        users.authenticate(c, "wang", "wrong password")
    with committed_user.connect() as c:
        assert c.scalar(sa.text("SELECT failed_count FROM users")) == 1
        assert (
            c.scalar(sa.text("SELECT count(*) FROM audit_log WHERE action = 'auth.sign_in_failed'"))
            == 1
        )
    with committed_user.connect() as c:
        users.authenticate(c, "wang", PW)
    with committed_user.connect() as c:
        assert c.scalar(sa.text("SELECT failed_count FROM users")) == 0


def test_disabled_accounts_are_refused_and_can_be_enabled(conn: Connection) -> None:
    users.create_user(conn, SYSTEM, "wang", role="viewer", password=PW)
    actor = users.authenticate(conn, "wang", PW)
    info = users.disable_user(conn, SYSTEM, "wang")
    assert info.disabled
    with pytest.raises(PermissionDeniedError):
        users.authenticate(conn, "wang", PW)
    with pytest.raises(PermissionDeniedError, match="disabled"):
        users.refresh_actor(conn, actor)
    assert _audit(conn, "auth.sign_in_failed")[-1].detail["reason"] == "disabled"
    users.enable_user(conn, SYSTEM, "wang")
    assert users.authenticate(conn, "wang", PW).username == "wang"
    (row,) = _audit(conn, "user.disable")
    assert (row.before["disabled"], row.after["disabled"]) == (False, True)


def test_refresh_actor_follows_role_and_area_changes(
    conn: Connection, areas: dict[str, int]
) -> None:
    users.create_user(conn, SYSTEM, "wang", role="planner", password=PW)
    actor = users.authenticate(conn, "wang", PW)
    assert actor.street_office_ids is None
    users.update_user(conn, SYSTEM, "wang", role="viewer", street_office_codes=["110101002000"])
    fresh = users.refresh_actor(conn, actor)
    assert (fresh.role, fresh.street_office_ids) == ("viewer", {areas["110101002000"]})
    (row,) = _audit(conn, "user.update")
    assert (row.before["role"], row.after["role"]) == ("planner", "viewer")
    assert row.after["street_office_codes"] == ["110101002000"]
    users.update_user(conn, SYSTEM, "wang")  # nothing to change: nothing written
    assert len(_audit(conn, "user.update")) == 1


def test_an_account_without_password_cannot_sign_in_with_one(conn: Connection) -> None:
    users.create_user(conn, SYSTEM, "sso.only", role="viewer", email="li@dc.gov.cn")
    with pytest.raises(PermissionDeniedError):
        users.authenticate(conn, "sso.only", "")
    assert _audit(conn, "auth.sign_in_failed")[-1].detail["reason"] == "no_local_password"


@pytest.mark.parametrize("role", ["planner", "leader", "field", "viewer", "kiosk"])
def test_only_administrators_manage_accounts(conn: Connection, role: str) -> None:
    users.create_user(conn, SYSTEM, "target", role="viewer", password=PW)
    someone = Actor(username="someone", role=role)  # type: ignore[arg-type]
    attempts = {
        "create": lambda: users.create_user(conn, someone, "new", role="admin", password=PW),
        "update": lambda: users.update_user(conn, someone, "target", role="admin"),
        "password": lambda: users.set_password(conn, someone, "target", "another password"),
        "disable": lambda: users.disable_user(conn, someone, "target"),
        "enable": lambda: users.enable_user(conn, someone, "target"),
        "unlock": lambda: users.unlock_user(conn, someone, "target"),
        "list": lambda: users.list_users(conn, someone),
    }
    for name, attempt in attempts.items():
        with pytest.raises(PermissionDeniedError, match="may not"):
            attempt()
        assert name  # each write path refused
    assert conn.scalar(sa.text("SELECT count(*) FROM users")) == 1
    assert conn.scalar(sa.text("SELECT role FROM users")) == "viewer"
    assert conn.scalar(sa.text("SELECT count(*) FROM audit_log WHERE action LIKE 'user.%'")) == 1


def test_an_administrator_of_one_street_office_manages_only_it(
    conn: Connection, areas: dict[str, int]
) -> None:
    admin = Actor(
        username="dhm.admin", role="admin", street_office_ids=frozenset({areas["110101001000"]})
    )
    info = users.create_user(
        conn,
        admin,
        "dhm.planner",
        role="planner",
        password=PW,
        street_office_codes=["110101001000"],
    )
    assert info.street_office_codes == ("110101001000",)
    with pytest.raises(PermissionDeniedError, match="outside their street offices"):
        users.create_user(conn, admin, "js", role="planner", street_office_codes=["110101002000"])
    with pytest.raises(PermissionDeniedError, match="outside their street offices"):
        users.create_user(conn, admin, "everywhere", role="planner")
    users.create_user(conn, SYSTEM, "js", role="planner", street_office_codes=["110101002000"])
    with pytest.raises(PermissionDeniedError):
        users.disable_user(conn, admin, "js")
    with pytest.raises(PermissionDeniedError):  # cannot widen an account into another area
        users.update_user(
            conn, admin, "dhm.planner", street_office_codes=["110101001000", "110101002000"]
        )


def test_the_last_administrator_stays(conn: Connection) -> None:
    users.create_user(conn, SYSTEM, "root", role="admin", password=PW)
    with pytest.raises(DataError, match="last active administrator"):
        users.disable_user(conn, SYSTEM, "root")
    with pytest.raises(DataError, match="last active administrator"):
        users.update_user(conn, SYSTEM, "root", role="planner")
    users.create_user(conn, SYSTEM, "second", role="admin", password=PW)
    users.disable_user(conn, SYSTEM, "root")


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_usernames_are_stored_and_returned_verbatim(conn: Connection, name: str) -> None:
    users.create_user(conn, SYSTEM, name, role="viewer", password=PW, display_name=name)
    actor = users.authenticate(conn, name, PW)
    assert (actor.username, actor.display_name) == (name, name)
    (listed,) = [u for u in users.list_users(conn, SYSTEM) if u.username == name]
    assert listed.display_name == name
    assert conn.scalar(sa.text("SELECT to_regclass('people') IS NOT NULL"))
    assert conn.scalar(sa.text("SELECT to_regclass('users') IS NOT NULL"))
    assert _audit(conn, "auth.sign_in")[-1].actor == name
    with pytest.raises(PermissionDeniedError):  # and as a failed sign-in too
        users.authenticate(conn, name + "x", PW)
    assert _audit(conn, "auth.sign_in_failed")[-1].actor == name + "x"


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("two\nlines", "U+000A"),
        ("admin\u202egnp.exe", "U+202E"),  # right-to-left override disguises a name
        ("zero\u200bwidth", "U+200B"),
        ("x" * 65, "limit is 64"),
    ],
)
def test_unusable_usernames_are_refused_with_the_reason(
    conn: Connection, name: str, complaint: str
) -> None:
    with pytest.raises(DataError, match=re.escape(complaint)):
        users.create_user(conn, SYSTEM, name, role="viewer", password=PW)


def test_usernames_are_unique_ignoring_case(conn: Connection) -> None:
    users.create_user(conn, SYSTEM, "Wang", role="viewer", password=PW)
    with pytest.raises(DataError, match="already exists"):
        users.create_user(conn, SYSTEM, "WANG", role="viewer", password=PW)


@pytest.mark.parametrize(
    ("password", "complaint"),
    [
        ("short", "at least 10"),
        ("my-wang-password", "contains the username"),
        ("x" * 1025, "at most"),
    ],
)
def test_weak_passwords_are_refused(conn: Connection, password: str, complaint: str) -> None:
    with pytest.raises(DataError, match=complaint):
        users.create_user(conn, SYSTEM, "wang", role="viewer", password=password)
    assert conn.scalar(sa.text("SELECT count(*) FROM users")) == 0


def test_unknown_role_and_street_office_are_named(conn: Connection, areas: dict[str, int]) -> None:
    with pytest.raises(DataError, match=r"unknown role 'superuser'.*admin \(管理员\)"):
        users.create_user(conn, SYSTEM, "wang", role="superuser")
    with pytest.raises(DataError, match=r"kiosk"):  # a token's role, not an account's
        users.create_user(conn, SYSTEM, "wang", role="kiosk")
    with pytest.raises(DataError, match=r"110101099000.*110101001000 东华门街道办事处"):
        users.create_user(conn, SYSTEM, "wang", role="viewer", street_office_codes=["110101099"])
    with pytest.raises(DataError, match="not 9 or 12 digits"):
        users.create_user(conn, SYSTEM, "wang", role="viewer", street_office_codes=["1101'--"])


def test_set_and_change_own_password(conn: Connection) -> None:
    users.create_user(conn, SYSTEM, "wang", role="viewer", password=PW)
    users.set_password(conn, SYSTEM, "wang", "a brand new secret")
    actor = users.authenticate(conn, "wang", "a brand new secret")
    with pytest.raises(PermissionDeniedError, match="current password is wrong"):
        users.change_own_password(conn, actor, PW, "yet another secret")
    users.change_own_password(conn, actor, "a brand new secret", "yet another secret")
    assert users.authenticate(conn, "wang", "yet another secret").username == "wang"
    rows = _audit(conn, "user.password")
    assert [r.detail["by_self"] for r in rows] == [False, True]
    # no audit row ever holds a password or its hash
    everything = json.dumps(
        [list(map(str, r)) for r in conn.execute(sa.text("SELECT * FROM audit_log")).all()]
    )
    assert "argon2" not in everything
    assert "secret" not in everything


def test_areas_shrink_when_a_street_office_is_no_longer_loaded(
    conn: Connection, areas: dict[str, int]
) -> None:
    users.create_user(
        conn, SYSTEM, "wang", role="planner", password=PW,
        street_office_codes=["110101001000", "110101002000"],
    )  # fmt: skip
    conn.execute(sa.text("DELETE FROM admin_areas WHERE code = '110101002000'"))
    actor = users.authenticate(conn, "wang", PW)
    assert actor.street_office_ids == {areas["110101001000"]}


def test_pages_follow_the_role() -> None:
    assert users.pages_for(Actor(username="screen", role="kiosk")) == {"big_screen"}
    assert "users" not in users.pages_for(Actor(username="p", role="planner"))
    assert "audit" in users.pages_for(Actor(username="a", role="admin"))


def test_the_examples_in_the_docstrings_hold() -> None:
    import doctest

    result = doctest.testmod(users)
    assert (result.attempted > 0, result.failed) == (True, 0)
