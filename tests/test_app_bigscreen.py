"""The big screen (指挥大屏) in AppTest: figures from the database, kiosk mode, English."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app import data
from app.data import engine
from db.queries import dashboard as q
from tests.browser_support import app_db, app_test  # noqa: F401

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("app_db")]


def _html(at: object) -> str:
    return "\n".join(str(e.proto.body) for e in at.get("html"))  # type: ignore[attr-defined]


def _card(html: str, label: str) -> str:
    match = re.search(r'<div class="v">([^<]*)</div><div class="l">' + re.escape(label), html)
    assert match, f"no KPI card labelled {label}"
    return match.group(1)


def test_big_screen_shows_the_database_figures() -> None:
    # the page computes its figures at the refresh tick; compare at the same moment
    # (a deadline passing between the page and the check must not change the answer)
    for _ in range(3):
        moment = data.tick(data.now())
        at = app_test()
        if data.tick(data.now()) == moment:
            break
    assert not at.exception and not at.error
    with engine().connect() as conn:
        k = q.big_screen_kpis(conn, now=moment)
    html = _html(at)
    assert _card(html, "在办问题") == f"{k['open']:,}"
    assert _card(html, "已超期（红牌）") == f"{k['red']:,}"
    assert _card(html, "即将超期（黄牌）") == f"{k['yellow']:,}"
    assert "街道排名" in html and "最新问题" in html
    assert len(at.get("component_instance")) == 1  # the map
    # the trend and the categories as markup of their own: no charting runtime on the wall
    assert html.count('class="cg-lines"') == 1 and html.count('class="cg-bars"') == 1
    assert len(at.get("vega_lite_chart")) == 0
    assert 'class="cg-pending"' not in html  # every panel filled in
    assert at.sidebar.selectbox  # the shared filters are there outside kiosk mode


def test_english_switch_changes_every_label() -> None:
    at = app_test()
    at.sidebar.radio[0].set_value("en").run()
    html = _html(at)
    assert "Open problems" in html and "Street office ranking" in html
    assert not re.search(r"在办问题|街道排名|最新问题", html)


def test_kiosk_token_shows_the_big_screen_only() -> None:
    from db.access import SYSTEM
    from db.kiosk import create_kiosk_token

    with engine().begin() as conn:
        _info, token = create_kiosk_token(conn, SYSTEM, "test wall")
    at = app_test(run=False)
    at.query_params["kiosk"] = token
    at.run()
    assert not at.exception and not at.error
    assert len(at.sidebar.selectbox) == 0 and len(at.sidebar.radio) == 0
    assert "在办问题" in _html(at)
    # the wall screen has no other page to reach
    with pytest.raises(ValueError, match=r"Known pages: \[[^,]*bigscreen\.py'\]"):
        at.switch_page("views/assignment.py")


def test_a_wrong_kiosk_token_gets_nothing() -> None:
    at = app_test(run=False)
    at.query_params["kiosk"] = "cgk_not-a-token"
    at.run()
    assert not at.exception
    assert "大屏令牌无效" in at.error[0].value
    assert "在办问题" not in _html(at)
    with engine().connect() as conn:
        refused = conn.scalar(
            sa.text("SELECT count(*) FROM audit_log WHERE detail->>'token_start' = 'cgk_not-'")
        )
    assert refused >= 1
