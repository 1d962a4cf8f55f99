"""Wall-screen tokens (db.kiosk): read-only, big screen only, phones and names masked."""

from __future__ import annotations

import hashlib
from typing import get_args

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db import kiosk, users
from db.access import SYSTEM, Actor, Permission, mask_name, mask_phone, require
from gis.errors import DataError, PermissionDeniedError

pytestmark = pytest.mark.db


@pytest.fixture
def areas(conn: Connection) -> dict[str, int]:
    rows = conn.execute(
        sa.text(
            "INSERT INTO admin_areas (code, name, level) VALUES "
            "('110101001000', '东华门街道办事处', 'street_office'), "
            "('110101002000', '景山街道办事处', 'street_office') RETURNING code, id"
        )
    ).all()
    return dict(rows)  # type: ignore[arg-type]


def _actions(conn: Connection) -> list[tuple[str, str]]:
    return [
        (r.actor, r.action)
        for r in conn.execute(sa.text("SELECT actor, action FROM audit_log ORDER BY id"))
    ]


def test_a_token_is_shown_once_and_stored_only_as_a_digest(conn: Connection) -> None:
    info, token = kiosk.create_kiosk_token(conn, SYSTEM, "指挥中心大屏 1")
    assert token.startswith("cgk_")
    assert len(token) >= 40
    stored = conn.execute(sa.text("SELECT * FROM kiosk_tokens")).one()
    assert token not in " ".join(map(str, stored))
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert info.hint == token[:8]
    (row,) = conn.execute(sa.text("SELECT actor, after FROM audit_log")).all()
    assert row.after == {"name": "指挥中心大屏 1", "hint": token[:8], "street_office_codes": None}
    assert token not in str(row.after)


def test_the_kiosk_actor_may_do_nothing_and_see_the_big_screen_only(conn: Connection) -> None:
    _info, token = kiosk.create_kiosk_token(conn, SYSTEM, "wall")
    actor = kiosk.actor_for_kiosk_token(conn, token)
    assert (actor.role, actor.username) == ("kiosk", "kiosk:wall")
    for permission in get_args(Permission):
        with pytest.raises(PermissionDeniedError):
            require(actor, permission)
    assert users.pages_for(actor) == {"big_screen"}
    # without pii.read, the pages and exports show masked phones and names
    assert not actor.can("pii.read")
    assert mask_phone("13812345678") == "138****5678"
    assert mask_name("王小明") == "王**"
    assert _actions(conn)[-1] == ("kiosk:wall", "auth.sign_in")
    assert conn.scalar(sa.text("SELECT last_used_at IS NOT NULL FROM kiosk_tokens"))


def test_the_kiosk_actor_cannot_manage_accounts_or_tokens(conn: Connection) -> None:
    _info, token = kiosk.create_kiosk_token(conn, SYSTEM, "wall")
    actor = kiosk.actor_for_kiosk_token(conn, token)
    with pytest.raises(PermissionDeniedError):
        users.create_user(conn, actor, "intruder", role="admin", password="long enough pw")
    with pytest.raises(PermissionDeniedError):
        kiosk.create_kiosk_token(conn, actor, "another wall")
    with pytest.raises(PermissionDeniedError):
        kiosk.revoke_kiosk_token(conn, actor, "wall")
    with pytest.raises(PermissionDeniedError):
        kiosk.list_kiosk_tokens(conn, actor)
    assert conn.scalar(sa.text("SELECT count(*) FROM kiosk_tokens")) == 1
    assert conn.scalar(sa.text("SELECT count(*) FROM users")) == 0


def test_revoking_turns_the_screen_away_at_once(conn: Connection) -> None:
    info, token = kiosk.create_kiosk_token(conn, SYSTEM, "wall")
    actor = kiosk.actor_for_kiosk_token(conn, token)
    assert users.refresh_actor(conn, actor).role == "kiosk"
    kiosk.revoke_kiosk_token(conn, SYSTEM, info.id)
    with pytest.raises(PermissionDeniedError, match="revoked or mistyped"):
        users.refresh_actor(conn, actor)
    with pytest.raises(PermissionDeniedError, match="citygrid kiosk create"):
        kiosk.actor_for_kiosk_token(conn, token)
    assert _actions(conn)[-2:] == [("system", "kiosk.revoke"), ("kiosk", "auth.sign_in_failed")]
    with pytest.raises(DataError, match="no active wall-screen token"):
        kiosk.revoke_kiosk_token(conn, SYSTEM, info.id)


@pytest.mark.parametrize("bad", ["", "cgk_guessed", "x" * 10_000, "' OR 1=1 --"])
def test_wrong_tokens_are_refused_and_audited(conn: Connection, bad: str) -> None:
    kiosk.create_kiosk_token(conn, SYSTEM, "wall")
    with pytest.raises(PermissionDeniedError):
        kiosk.actor_for_kiosk_token(conn, bad)
    detail = conn.scalar(sa.text("SELECT detail FROM audit_log ORDER BY id DESC LIMIT 1"))
    assert detail["reason"] == "invalid_or_revoked_token"
    assert detail["token_start"] == bad.strip()[:8]


def test_names_are_unique_among_active_tokens(conn: Connection) -> None:
    kiosk.create_kiosk_token(conn, SYSTEM, "wall")
    with pytest.raises(DataError, match="already active"):
        kiosk.create_kiosk_token(conn, SYSTEM, "wall")
    kiosk.revoke_kiosk_token(conn, SYSTEM, "wall")
    info, _token = kiosk.create_kiosk_token(conn, SYSTEM, "wall")
    listed = kiosk.list_kiosk_tokens(conn, SYSTEM)
    assert [t.id for t in listed] == [info.id]
    assert len(kiosk.list_kiosk_tokens(conn, SYSTEM, include_revoked=True)) == 2


def test_a_token_can_be_limited_to_street_offices(conn: Connection, areas: dict[str, int]) -> None:
    _info, token = kiosk.create_kiosk_token(
        conn, SYSTEM, "东华门 screen", street_office_codes=["110101001"]
    )
    actor = kiosk.actor_for_kiosk_token(conn, token)
    assert actor.street_office_ids == {areas["110101001000"]}
    limited_admin = Actor(
        username="js.admin", role="admin", street_office_ids=frozenset({areas["110101002000"]})
    )
    with pytest.raises(PermissionDeniedError, match="outside their street offices"):
        kiosk.revoke_kiosk_token(conn, limited_admin, "东华门 screen")


@pytest.mark.parametrize(
    "name",
    ["<script>alert(1)</script>", "'); DROP TABLE people;--", "大屏<b>2</b>", "1'; --"],
)
def test_hostile_screen_names_are_stored_verbatim(conn: Connection, name: str) -> None:
    info, token = kiosk.create_kiosk_token(conn, SYSTEM, name)
    assert info.name == name
    assert kiosk.actor_for_kiosk_token(conn, token).display_name == name
    assert [t.name for t in kiosk.list_kiosk_tokens(conn, SYSTEM)] == [name]
    assert conn.scalar(sa.text("SELECT to_regclass('people') IS NOT NULL"))
    kiosk.revoke_kiosk_token(conn, SYSTEM, name)
    assert kiosk.list_kiosk_tokens(conn, SYSTEM) == []


def test_revoke_by_name_prefers_the_name_over_an_id(conn: Connection) -> None:
    first, _ = kiosk.create_kiosk_token(conn, SYSTEM, "wall")
    named_like_id, _ = kiosk.create_kiosk_token(conn, SYSTEM, str(first.id))
    assert kiosk.revoke_kiosk_token(conn, SYSTEM, str(first.id)).id == named_like_id.id
    assert kiosk.revoke_kiosk_token(conn, SYSTEM, first.id).id == first.id


def test_the_app_can_import_the_kiosk_api_from_db_users() -> None:
    from db.users import KIOSK_QUERY_PARAM, actor_for_kiosk_token, actor_for_oidc

    assert KIOSK_QUERY_PARAM == "kiosk"
    assert actor_for_kiosk_token is kiosk.actor_for_kiosk_token
    assert callable(actor_for_oidc)
    with pytest.raises(AttributeError):
        _ = users.no_such_thing  # type: ignore[attr-defined]
