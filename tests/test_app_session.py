"""Who is acting is checked again on every run, fragment runs included (app/session.py).

The big screen's ``board()`` reruns alone every refresh, without the entry point that
checks the session: a revoked wall-screen token or a disabled account must see no more
figures at the next refresh, but the refusal (issue 7).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from app import session
from app.data import engine
from db.access import SYSTEM
from gis.errors import DataError
from tests.browser_support import app_db, app_test, rerun_fragments, sign_in  # noqa: F401

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("app_db")]

FIGURE = "在办问题"  # a KPI card's label: present only when the screen shows figures


def _html(at: object) -> str:
    return "\n".join(str(e.proto.body) for e in at.get("html"))  # type: ignore[attr-defined]


@pytest.fixture
def wall() -> Iterator[tuple[int, str]]:
    """A wall-screen token (id, token), revoked afterwards if the test did not."""
    from db.kiosk import create_kiosk_token, revoke_kiosk_token

    with engine().begin() as conn:
        info, token = create_kiosk_token(conn, SYSTEM, "session test wall")
    yield info.id, token
    with engine().begin() as conn, contextlib.suppress(DataError):
        revoke_kiosk_token(conn, SYSTEM, info.id)


@pytest.fixture
def viewer() -> Iterator[tuple[str, str]]:
    """A viewer account (username, password), removed afterwards (others run without)."""
    from db.users import create_user

    with engine().begin() as conn:
        create_user(conn, SYSTEM, "session_viewer", role="viewer", password="correct horse 7")
    yield "session_viewer", "correct horse 7"
    with engine().begin() as conn:
        conn.execute(sa.text("DELETE FROM users"))


def _next_refresh(at: object) -> None:
    """The board's own rerun, once the session's last check is old enough to be redone."""
    time.sleep(session.RECHECK_S)
    rerun_fragments(at)  # type: ignore[arg-type]


def test_a_revoked_wall_screen_token_shows_no_figures_at_the_next_refresh(
    wall: tuple[int, str],
) -> None:
    from db.kiosk import revoke_kiosk_token

    token_id, token = wall
    at = app_test(run=False)
    at.query_params["kiosk"] = token
    at.run()
    assert FIGURE in _html(at)
    _next_refresh(at)  # the board alone, still allowed: figures again
    assert not at.exception and not at.error
    assert FIGURE in _html(at)
    with engine().begin() as conn:
        revoke_kiosk_token(conn, SYSTEM, token_id)
    _next_refresh(at)
    assert not at.exception
    assert FIGURE not in _html(at)
    assert "大屏令牌无效" in at.error[0].value


def test_a_disabled_account_sees_no_figures_at_the_next_refresh(
    viewer: tuple[str, str],
) -> None:
    from db.users import disable_user

    at = sign_in(app_test(), *viewer)
    assert not at.exception and not at.error
    assert FIGURE in _html(at)
    _next_refresh(at)
    assert FIGURE in _html(at)
    with engine().begin() as conn:
        disable_user(conn, SYSTEM, viewer[0])
    _next_refresh(at)
    assert not at.exception
    assert FIGURE not in _html(at)
    assert at.title[0].value == "登录 CityGrid"  # back to the sign-in page
