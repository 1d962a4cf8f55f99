"""Single sign-on (db.oidc): identities map to accounts by subject or verified e-mail."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.engine import Connection

from db import users
from db.access import SYSTEM
from db.oidc import actor_for_oidc
from gis.errors import DataError, PermissionDeniedError

pytestmark = pytest.mark.db

ISS = "https://sso.dongcheng.gov.cn/realms/city"


def claims(sub: str = "a1b2", email: str | None = "li@dc.gov.cn", **more: object) -> dict:
    """What ``st.user.to_dict()`` holds after ``st.login()``."""
    out: dict[str, object] = {"is_logged_in": True, "iss": ISS, "sub": sub, "name": "李四"}
    if email is not None:
        out |= {"email": email, "email_verified": True}
    return out | more


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        users, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def _last(conn: Connection) -> sa.Row:
    return conn.execute(
        sa.text("SELECT actor, action, detail FROM audit_log ORDER BY id DESC LIMIT 1")
    ).one()


def test_unmapped_identities_get_no_access(conn: Connection) -> None:
    with pytest.raises(PermissionDeniedError, match=r"no CityGrid account.*--email li@dc.gov.cn"):
        actor_for_oidc(conn, claims())
    row = _last(conn)
    assert (row.actor, row.action, row.detail["reason"]) == (
        "li@dc.gov.cn",
        "auth.sign_in_failed",
        "unmapped",
    )
    assert conn.scalar(sa.text("SELECT count(*) FROM users")) == 0


def test_a_verified_email_maps_and_links_the_identity(conn: Connection) -> None:
    users.create_user(conn, SYSTEM, "lisi", role="leader", email="Li@DC.gov.cn")
    actor = actor_for_oidc(conn, claims())
    assert (actor.username, actor.role, actor.extra["auth"]) == ("lisi", "leader", "oidc")
    linked = conn.execute(sa.text("SELECT oidc_issuer, oidc_subject FROM users")).one()
    assert tuple(linked) == (ISS, "a1b2")
    # later sign-ins match the subject, even after the e-mail changes at the provider
    again = actor_for_oidc(conn, claims(email="si.li@dc.gov.cn"))
    assert again.username == "lisi"
    actions = [r for (r,) in conn.execute(sa.text("SELECT action FROM audit_log ORDER BY id"))]
    assert actions == ["user.create", "user.oidc_link", "auth.sign_in", "auth.sign_in"]


def test_an_unverified_email_does_not_map(conn: Connection) -> None:
    users.create_user(conn, SYSTEM, "lisi", role="leader", email="li@dc.gov.cn")
    with pytest.raises(PermissionDeniedError):
        actor_for_oidc(conn, claims(email_verified=False))
    with pytest.raises(PermissionDeniedError):
        actor_for_oidc(conn, claims(), match_email=False)
    assert conn.scalar(sa.text("SELECT oidc_subject FROM users")) is None


def test_an_email_linked_to_another_identity_is_refused(conn: Connection) -> None:
    users.create_user(conn, SYSTEM, "lisi", role="admin", email="li@dc.gov.cn")
    actor_for_oidc(conn, claims(sub="first"))
    with pytest.raises(PermissionDeniedError, match="linked to another identity"):
        actor_for_oidc(conn, claims(sub="impostor"))
    assert _last(conn).detail["reason"] == "email_linked_to_other_identity"


def test_a_default_role_creates_an_account_on_first_sign_in(conn: Connection) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO admin_areas (code, name, level) "
            "VALUES ('110101001000', '东华门街道办事处', 'street_office')"
        )
    )
    actor = actor_for_oidc(
        conn, claims(), default_role="viewer", default_street_office_codes=["110101001000"]
    )
    assert (actor.username, actor.role, actor.display_name) == ("li@dc.gov.cn", "viewer", "李四")
    assert len(actor.street_office_ids or ()) == 1
    row = conn.execute(sa.text("SELECT created_by, password_hash, email FROM users")).one()
    assert tuple(row) == ("oidc", None, "li@dc.gov.cn")
    # the second time, the same account
    assert actor_for_oidc(conn, claims(), default_role="viewer").extra == actor.extra
    assert conn.scalar(sa.text("SELECT count(*) FROM users")) == 1
    # a local account already named like the e-mail does not collide
    users.create_user(conn, SYSTEM, "wu@dc.gov.cn", role="planner")
    other = actor_for_oidc(conn, claims(sub="wu", email="wu@dc.gov.cn"), default_role="viewer")
    assert (other.username, other.role) == ("wu@dc.gov.cn-2", "viewer")
    third = actor_for_oidc(conn, claims(sub="zz", email=None), default_role="viewer")
    assert third.username == "oidc-zz"


def test_a_default_role_must_be_an_account_role(conn: Connection) -> None:
    with pytest.raises(DataError, match="unknown role 'kiosk'"):
        actor_for_oidc(conn, claims(), default_role="kiosk")  # type: ignore[arg-type]


def test_disabled_accounts_are_refused(conn: Connection) -> None:
    users.create_user(conn, SYSTEM, "lisi", role="planner", email="li@dc.gov.cn")
    users.create_user(conn, SYSTEM, "root", role="admin")
    users.disable_user(conn, SYSTEM, "lisi")
    with pytest.raises(PermissionDeniedError, match="disabled"):
        actor_for_oidc(conn, claims())


@pytest.mark.parametrize("bad", [{"is_logged_in": False}, {"iss": ISS}, {"sub": ""}])
def test_no_identity_no_access(conn: Connection, bad: dict) -> None:
    with pytest.raises(PermissionDeniedError, match="did not sign anyone in"):
        actor_for_oidc(conn, bad)


def test_hostile_claims_are_stored_as_text(conn: Connection) -> None:
    name = "<script>alert(1)</script>'); DROP TABLE people;--"
    actor = actor_for_oidc(conn, claims(sub=name, email=None, name=name), default_role="viewer")
    assert actor.display_name == name
    assert actor.username == f"oidc-{name}"[:56]
    assert conn.scalar(sa.text("SELECT oidc_subject FROM users")) == name
    assert conn.scalar(sa.text("SELECT to_regclass('people') IS NOT NULL"))
