"""Names and phone numbers in the pages: shown to roles that need them, masked elsewhere.

A viewer reads who answers for a hot spot as 杜* and 199****0004; a planner reads the
name and number; a wall screen shows no one's name or number at all (issue 7).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from app.data import engine
from db.access import SYSTEM
from tests.browser_support import app_db, app_test, sign_in  # noqa: F401

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("app_db")]

PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
MASKED_PHONE = re.compile(r"\d{3}\*{4}\d{4}")
PASSWORD = "correct horse 3"


@pytest.fixture
def accounts() -> Iterator[None]:
    """A viewer and a planner of every area (removed afterwards: others run without)."""
    from db.users import create_user

    with engine().begin() as conn:
        for role in ("viewer", "planner"):
            create_user(conn, SYSTEM, f"mask_{role}", role=role, password=PASSWORD)
    yield
    with engine().begin() as conn:
        conn.execute(sa.text("DELETE FROM users"))


def _hot_cells_as(role: str) -> pd.DataFrame:
    """The hotspot page's top-10 cells (who answers for them) as ``role`` sees them."""
    at = sign_in(app_test(), f"mask_{role}", PASSWORD)
    at.switch_page("views/hotspots.py").run()
    assert not at.exception and not at.error
    return at.dataframe[0].value  # type: ignore[no-any-return]


def _parts(column: pd.Series) -> list[str]:
    """Every name or phone of a column (several are joined with 、)."""
    return [p for v in column.dropna() for p in str(v).split("、") if p]


@pytest.mark.usefixtures("accounts")
def test_a_viewer_sees_names_and_phones_masked() -> None:
    top = _hot_cells_as("viewer")
    phones, workers = _parts(top["电话"]), _parts(top["网格员"])
    assert phones and workers, "the top cells name no grid worker: nothing was checked"
    assert all(MASKED_PHONE.fullmatch(p) for p in phones), phones
    assert all(re.fullmatch(r".\*+", n) for n in workers + _parts(top["街长"])), workers
    assert not PHONE.search(top.to_csv())


@pytest.mark.usefixtures("accounts")
def test_a_planner_sees_names_and_phones() -> None:
    top = _hot_cells_as("planner")
    phones, workers = _parts(top["电话"]), _parts(top["网格员"])
    assert phones and all(PHONE.fullmatch(p) for p in phones), phones
    assert workers and not any("*" in n for n in workers), workers


def _everything(at: Any) -> str:
    """All that the page sent to the browser: elements, tables, map arguments."""
    out: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        value = getattr(node, "value", None)
        if isinstance(value, pd.DataFrame):
            out.append(value.to_csv())
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def test_a_wall_screen_shows_no_name_or_phone() -> None:
    from db.kiosk import create_kiosk_token, revoke_kiosk_token

    with engine().begin() as conn:
        info, token = create_kiosk_token(conn, SYSTEM, "masking test wall")
        people = conn.execute(sa.text("SELECT name, phone FROM people")).all()
    try:
        at = app_test(run=False)
        at.query_params["kiosk"] = token
        at.run()
        assert not at.exception and not at.error
        sent = _everything(at)
        assert "在办问题" in sent  # the screen drew its figures: there was something to check
        assert len(sent) > 10_000
        phones = [p.phone for p in people if p.phone]
        names = [p.name for p in people if p.name and len(p.name) >= 3]
        assert phones and names
        assert [p for p in phones if p in sent] == []
        assert [n for n in names if n in sent] == []
    finally:
        with engine().begin() as conn:
            revoke_kiosk_token(conn, SYSTEM, info.id)
