"""我的责任区 in AppTest: a field account signs in, lands on its own area, sees only its own
segments and problems, and is refused every other work page; in Chinese and English."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from streamlit.testing.v1 import AppTest

from app.data import engine
from db import users
from db.access import SYSTEM, Actor
from db.users import pages_for
from tests.browser_support import app_db, app_test  # noqa: F401

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("app_db")]

PASSWORD = "street head 1"

#: The active segments and cells of a person, and the problems on them (written here
#: independently of db.queries.my_area, so that the page is checked against the rule).
MINE = """
    SELECT target_type, target_id FROM assignments
    WHERE person_id = :p AND valid_to IS NULL
"""
ON_MINE = f"""
    SELECT p.case_no FROM problems p
    WHERE p.status NOT IN ('closed', 'void') AND p.reported_at <= now()
      AND (p.segment_id IN (SELECT target_id FROM ({MINE}) m WHERE target_type = 'segment')
           OR p.cell_id IN (SELECT target_id FROM ({MINE}) m WHERE target_type = 'cell'))
"""


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        users, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def street_head() -> Iterator[int]:
    """A field account linked to the busiest level-3 street head; yields the person's id."""
    with engine().begin() as conn:
        person_id, key = conn.execute(
            sa.text(
                "SELECT p.id, p.person_key FROM people p JOIN assignments a "
                "ON a.person_id = p.id AND a.valid_to IS NULL AND a.target_type = 'segment' "
                "AND a.level = 3 JOIN problems pr ON pr.segment_id = a.target_id "
                "AND pr.status NOT IN ('closed', 'void') "
                "GROUP BY p.id ORDER BY count(*) DESC, p.id LIMIT 1"
            )
        ).one()
        users.create_user(conn, SYSTEM, "head1", role="field", password=PASSWORD, person_key=key)
        users.create_user(conn, SYSTEM, "nobody1", role="field", password=PASSWORD)
    yield int(person_id)
    with engine().begin() as conn:
        conn.execute(sa.text("DELETE FROM users"))


def _sign_in(name: str) -> AppTest:
    at = app_test()
    at.text_input[0].set_value(name)
    at.text_input[1].set_value(PASSWORD)
    at.button[0].click().run()
    assert not at.exception and not at.error
    return at


def test_a_street_head_lands_on_their_own_area(street_head: int) -> None:
    at = _sign_in("head1")
    assert at.title[0].value == "我的责任区"
    with engine().connect() as conn:
        name = conn.scalar(sa.text("SELECT name FROM people WHERE id = :p"), {"p": street_head})
        n_places = len(conn.execute(sa.text(MINE), {"p": street_head}).all())
        open_cases = set(conn.scalars(sa.text(ON_MINE), {"p": street_head}))
        everyone = int(
            conn.scalar(sa.text("SELECT count(*) FROM assignments WHERE valid_to IS NULL"))
        )
    assert at.caption[0].value.startswith(f"{name} 负责的路段")
    places, open_table = at.dataframe[0].value, at.dataframe[1].value
    assert len(places) == n_places < everyone
    assert set(open_table["案件编号"]) == open_cases and open_cases
    rank = {"红牌": 0, "黄牌": 1, "正常": 2}
    states = [rank[v] for v in open_table["督办状态"]]
    assert states == sorted(states)  # red, then yellow, then the rest
    assert len(at.get("component_instance")) == 1  # the map
    assert at.metric  # the counts
    # field staff read phones (pii.read): their supervisors' numbers are not masked
    assert not places["电话"].dropna().str.contains(r"\*").any()


def test_every_other_work_page_is_refused(street_head: int) -> None:
    at = _sign_in("head1")
    for view in ("assignment", "coverage", "data", "admin", "settings", "hotspots"):
        with pytest.raises(ValueError, match="Could not find"):
            at.switch_page(f"views/{view}.py")
    at.switch_page("views/bigscreen.py").run()  # the wall's picture is open to them
    assert not at.exception


def test_the_page_in_english(street_head: int) -> None:
    at = _sign_in("head1")
    at.sidebar.radio[0].set_value("en").run()
    assert at.title[0].value == "My area"
    assert "Case no." in at.dataframe[1].value.columns
    assert not at.exception and not at.error


def test_an_account_without_a_person_is_told_how_to_be_linked(street_head: int) -> None:
    at = _sign_in("nobody1")
    assert at.title[0].value == "我的责任区"
    assert "citygrid user edit nobody1 --person" in at.info[0].value
    assert not at.dataframe


def test_field_staff_may_open_their_area_and_the_big_screen_only() -> None:
    assert pages_for(Actor(username="f", role="field", person_id=7)) == {"my_area", "big_screen"}
    assert pages_for(Actor(username="f", role="field")) == {"my_area", "big_screen"}
    linked_planner = pages_for(Actor(username="p", role="planner", person_id=7))
    assert "my_area" in linked_planner and "assignments" in linked_planner
    assert "my_area" not in pages_for(Actor(username="a", role="admin"))
    assert "settings" in pages_for(Actor(username="a", role="admin"))
    for role in ("planner", "leader", "field", "viewer", "kiosk"):
        assert "settings" not in pages_for(Actor(username="x", role=role, person_id=7))  # type: ignore[arg-type]
    assert pages_for(Actor(username="k", role="kiosk", person_id=7)) == {"big_screen"}
