"""Who gets in at first start, and single sign-on refusals, in AppTest (issue 7).

- With no account, only a server listening on loopback alone acts as its local operator;
  a server reachable from the network asks for a sign-in and says how to create the first
  administrator.
- A person the identity provider signed in but CityGrid refuses is refused once per
  session (one audit row, not one per rerun) and may sign out of the identity provider.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from app.data import engine
from citygrid.settings import get_settings
from db.access import SYSTEM
from tests.browser_support import app_db, app_test  # noqa: F401

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("app_db")]

AUTH = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "a-test-cookie-secret",
        "client_id": "citygrid",
        "client_secret": "a-test-client-secret",
        "server_metadata_url": "https://idp.example.gov.cn/.well-known/openid-configuration",
    }
}
IDENTITY = {
    "is_logged_in": True,
    "iss": "https://idp.example.gov.cn",
    "sub": "subject-4711",
    "email": "wang.li@example.gov.cn",
    "email_verified": True,
    "name": "王力",
}


def _no_accounts() -> None:
    with engine().connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM users")) == 0


@pytest.fixture
def an_account() -> Iterator[str]:
    """One administrator account (removed afterwards: other tests run without one)."""
    from db.users import create_user

    with engine().begin() as conn:
        create_user(conn, SYSTEM, "admin1", role="admin", password="correct horse 9")
    yield "admin1"
    with engine().begin() as conn:
        conn.execute(sa.text("DELETE FROM users"))


def _refusals(subject: str) -> int:
    with engine().connect() as conn:
        return int(
            conn.scalar(
                sa.text(
                    "SELECT count(*) FROM audit_log WHERE action = 'auth.sign_in_failed' "
                    "AND detail->>'subject' = :s"
                ),
                {"s": subject},
            )
        )


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "localhost"])
def test_loopback_with_no_account_acts_as_the_local_operator(address: str) -> None:
    _no_accounts()
    at = app_test(address=address)
    assert not at.exception and not at.error
    assert at.title == [] or at.title[0].value != "登录 CityGrid"
    assert "本机操作员模式" in " ".join(c.value for c in at.sidebar.caption)
    at.switch_page("views/admin.py").run()  # an administrator's page
    assert not at.exception and at.title[0].value == "系统管理"


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.20", "citygrid.example", None])
def test_reachable_server_with_no_account_asks_for_the_first_administrator(
    address: str | None,
) -> None:
    _no_accounts()
    at = app_test(address=address)
    assert not at.exception
    assert at.title[0].value == "登录 CityGrid"
    assert "citygrid user add admin --role admin" in at.code[0].value
    assert "尚未创建任何账户" in at.warning[0].value
    # nothing of the district shows, and there is no page to reach
    assert len(at.sidebar.selectbox) == 0 and len(at.text_input) == 0
    with pytest.raises(ValueError, match="Could not find"):
        at.switch_page("views/admin.py")


def test_english_first_administrator_notice() -> None:
    at = app_test(run=False, address="0.0.0.0")
    at.query_params["lang"] = "en"
    at.run()
    assert at.title[0].value == "Sign in to CityGrid"
    assert "has no account yet" in at.warning[0].value


def test_with_an_account_loopback_also_signs_in(an_account: str) -> None:
    at = app_test(address="127.0.0.1")
    assert at.title[0].value == "登录 CityGrid"
    assert len(at.code) == 0  # no first-administrator notice once an account exists
    at.text_input[0].set_value(an_account)
    at.text_input[1].set_value("correct horse 9")
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert at.sidebar.button[0].label == "退出登录"


def test_a_refused_identity_is_refused_once_and_may_sign_out(an_account: str) -> None:
    at = app_test(run=False, address="0.0.0.0")
    at.secrets = AUTH
    at.user = dict(IDENTITY)
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("统一身份认证已登录，但 CityGrid 拒绝了此身份")
    assert "no CityGrid account is mapped" in at.caption[0].value
    assert _refusals("subject-4711") == 1
    for _ in range(3):  # reruns neither ask again nor audit again
        at.run()
    assert _refusals("subject-4711") == 1
    assert at.error[0].value.startswith("统一身份认证已登录")
    at.button(key="signin_oidc_out").click().run()
    assert not at.exception
    assert at.user.get("is_logged_in") is False  # st.logout() cleared the identity
    assert len(at.error) == 0 and at.text_input  # back to the sign-in form


@pytest.fixture
def oidc_viewers(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Single-sign-on users with no account become viewers of the first street office."""
    with engine().connect() as conn:
        code = conn.scalar(
            sa.text("SELECT code FROM admin_areas WHERE level = 'street_office' ORDER BY code")
        )
    monkeypatch.setenv("CITYGRID_OIDC_DEFAULT_ROLE", "viewer")
    monkeypatch.setenv("CITYGRID_OIDC_DEFAULT_STREET_OFFICES", f'["{code}"]')
    get_settings.cache_clear()
    yield str(code)
    monkeypatch.undo()
    get_settings.cache_clear()
    with engine().begin() as conn:
        conn.execute(sa.text("DELETE FROM users"))


def test_default_role_and_offices_come_from_the_settings(
    an_account: str, oidc_viewers: str
) -> None:
    at = app_test(run=False, address="0.0.0.0")
    at.secrets = AUTH
    at.user = dict(IDENTITY, sub="subject-4712", email="zhao.min@example.gov.cn")
    at.run()
    assert not at.exception and not at.error
    with engine().connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT role, street_office_codes FROM users WHERE oidc_subject = 'subject-4712'"
            )
        ).one()
    assert row.role == "viewer" and list(row.street_office_codes) == [oidc_viewers]
    # a viewer of one street office: that office only
    assert len(at.sidebar.selectbox[0].options) == 2
