"""Administration and sign-in in AppTest: accounts, wall-screen tokens, audit search."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from app.data import engine
from db.access import SYSTEM
from tests.browser_support import app_db, app_test  # noqa: F401

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("app_db")]


@pytest.fixture
def planner() -> Iterator[str]:
    """A planner account of street office so1 (removed afterwards: others run without one)."""
    from db.users import create_user

    with engine().begin() as conn:
        code = conn.scalar(
            sa.text("SELECT code FROM admin_areas WHERE level = 'street_office' ORDER BY code")
        )
        create_user(conn, SYSTEM, "planner1", role="planner", password="correct horse 1",
                    street_office_codes=[code[:9]])  # fmt: skip
    yield "planner1"
    with engine().begin() as conn:
        conn.execute(sa.text("DELETE FROM users"))


def test_admin_page_lists_accounts_tokens_and_audit() -> None:
    at = app_test("admin")
    assert not at.exception and not at.error
    at.text_input(key="admin_audit_text").set_value("kiosk").run()
    assert not at.exception and not at.error


def test_with_accounts_a_person_must_sign_in(planner: str) -> None:
    at = app_test()
    assert at.title[0].value == "登录 CityGrid"
    assert len(at.sidebar.selectbox) == 0
    at.text_input[0].set_value(planner)
    at.text_input[1].set_value("wrong password")
    at.button[0].click().run()
    assert at.error[0].value.startswith("用户名或密码不正确")
    at.text_input[0].set_value(planner)
    at.text_input[1].set_value("correct horse 1")
    at.button[0].click().run()
    assert not at.exception and not at.error
    # a planner of one street office: that office only, and no administrator page
    offices = at.sidebar.selectbox[0].options
    assert len(offices) == 2  # 全部 and their own
    with pytest.raises(ValueError, match="Could not find"):
        at.switch_page("views/admin.py")
