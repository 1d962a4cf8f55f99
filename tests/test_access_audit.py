"""Searching the audit log (db.queries.audit) for the administrator page."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.access import SYSTEM, Actor
from db.queries.audit import (
    AuditFilter,
    audit_actions,
    audit_entity_types,
    export_audit,
    search_audit,
)
from gis.errors import DataError, PermissionDeniedError

pytestmark = pytest.mark.db

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def log(conn: Connection) -> Connection:
    """Seven hand-placed rows, an hour apart from T0."""
    rows = [
        ("wang", "auth.sign_in", "user", "1"),
        ("wang", "assign.set", "segment", "42"),
        ("li_si", "auth.sign_in_failed", "user", "2"),
        ("system:root", "user.create", "user", "3"),
        ("wang", "assign.set", "segment", "43"),
        ("100%_sure", "export.boards", None, None),
        ("<script>alert(1)</script>", "auth.sign_in_failed", None, None),
    ]
    for i, (who, action, etype, eid) in enumerate(rows):
        # appended with a chosen time: INSERT is all the log allows, and all this needs
        conn.execute(
            sa.text(
                "INSERT INTO audit_log (at, actor, action, entity_type, entity_id) "
                "VALUES (:at, :who, :action, :etype, :eid)"
            ),
            {
                "at": T0 + dt.timedelta(hours=i),
                "who": who,
                "action": action,
                "etype": etype,
                "eid": eid,
            },
        )
    return conn


def test_only_audit_readers_may_search(log: Connection) -> None:
    for role in ("planner", "leader", "field", "viewer", "kiosk"):
        with pytest.raises(PermissionDeniedError, match="read the audit log"):
            search_audit(log, Actor(username="x", role=role))  # type: ignore[arg-type]
        with pytest.raises(PermissionDeniedError):
            audit_actions(log, Actor(username="x", role=role))  # type: ignore[arg-type]
    assert search_audit(log, Actor(username="a", role="admin")).total == 7


def test_newest_first_in_pages(log: Connection) -> None:
    first = search_audit(log, SYSTEM, page_size=3)
    assert (first.total, first.pages) == (7, 3)
    assert [r.actor for r in first.rows] == ["<script>alert(1)</script>", "100%_sure", "wang"]
    last = search_audit(log, SYSTEM, page=3, page_size=3)
    assert [r.actor for r in last.rows] == ["wang"]
    assert last.rows[0].at == T0
    assert search_audit(log, SYSTEM, page=4, page_size=3).rows == []


def test_filters_combine(log: Connection) -> None:
    by_actor = search_audit(log, SYSTEM, actor_name="WANG")
    assert by_actor.total == 3
    mine = search_audit(log, SYSTEM, actor_name="wang", action="assign.set", entity_id=43)
    assert [(r.entity_type, r.entity_id) for r in mine.rows] == [("segment", "43")]
    auth = search_audit(log, SYSTEM, action="auth.")
    assert {r.action for r in auth.rows} == {"auth.sign_in", "auth.sign_in_failed"}
    assert auth.total == 3
    assert search_audit(log, SYSTEM, action="auth").total == 0  # exact unless it ends in "."
    assert search_audit(log, SYSTEM, entity_type="segment").total == 2


def test_time_range_is_inclusive_then_exclusive(log: Connection) -> None:
    window = search_audit(
        log, SYSTEM, since=T0 + dt.timedelta(hours=1), until=T0 + dt.timedelta(hours=3)
    )
    assert [r.action for r in window.rows] == ["auth.sign_in_failed", "assign.set"]
    with pytest.raises(DataError, match="swap them"):
        search_audit(log, SYSTEM, since=T0, until=T0)
    with pytest.raises(DataError, match="time zone"):
        search_audit(log, SYSTEM, since=T0, until=dt.datetime(2026, 3, 2))


def test_search_text_is_text_not_sql_or_a_pattern(log: Connection) -> None:
    assert [r.actor for r in search_audit(log, SYSTEM, actor_name="100%").rows] == ["100%_sure"]
    assert search_audit(log, SYSTEM, actor_name="%").total == 1
    assert search_audit(log, SYSTEM, actor_name="_").total == 2  # li_si and 100%_sure
    assert search_audit(log, SYSTEM, actor_name="' OR 1=1 --").total == 0
    hostile = search_audit(log, SYSTEM, actor_name="<script>")
    assert [r.actor for r in hostile.rows] == ["<script>alert(1)</script>"]


def test_bad_pages_are_refused(log: Connection) -> None:
    with pytest.raises(DataError, match="page_size 1 to 500"):
        search_audit(log, SYSTEM, page_size=0)
    with pytest.raises(DataError, match="page must be >= 1"):
        search_audit(log, SYSTEM, page=0)


def test_actions_for_the_filter(log: Connection) -> None:
    assert audit_actions(log, SYSTEM) == [
        "assign.set",
        "auth.sign_in",
        "auth.sign_in_failed",
        "export.boards",
        "user.create",
    ]


def test_entity_types_for_the_filter(log: Connection) -> None:
    assert audit_entity_types(log, SYSTEM) == ["segment", "user"]
    with pytest.raises(PermissionDeniedError):
        audit_entity_types(log, Actor(username="p", role="planner"))


def _exports(conn: Connection) -> list[tuple[str, dict[str, object]]]:
    rows = conn.execute(
        sa.text("SELECT actor, detail FROM audit_log WHERE action = 'export.audit' ORDER BY id")
    ).all()
    return [(r.actor, r.detail) for r in rows]


def test_an_export_holds_the_search_and_is_itself_audited(log: Connection) -> None:
    admin = Actor(username="admin1", role="admin")
    wanted = AuditFilter(action="auth.", since=T0 + dt.timedelta(hours=1))
    made = export_audit(
        log, admin, wanted, fmt="csv", headers={"actor": "操作人"}, now=T0, tz="Asia/Shanghai"
    )
    assert made.file_name == "audit-20260301-1700.csv" and made.rows == 2
    rows = list(csv.DictReader(io.StringIO(made.data.decode("utf-8-sig"))))
    assert [r["操作人"] for r in rows] == ["<script>alert(1)</script>", "li_si"]
    assert rows[1]["at"] == "2026-03-01T19:00:00+08:00"  # the deployment's wall clock
    assert _exports(log) == [
        (
            "admin1",
            {
                "file": made.file_name,
                "format": "csv",
                "rows": 2,
                "filters": {"action": "auth.", "since": (T0 + dt.timedelta(hours=1)).isoformat()},
            },
        )
    ]


def test_an_excel_export_keeps_formula_like_names_as_text(log: Connection) -> None:
    from openpyxl import load_workbook

    log.execute(
        sa.text("INSERT INTO audit_log (at, actor, action) VALUES (:at, :who, 'auth.sign_in')"),
        {"at": T0 + dt.timedelta(days=1), "who": '=HYPERLINK("http://x","点击")'},
    )
    made = export_audit(log, SYSTEM, AuditFilter(actor_name="HYPERLINK"), fmt="xlsx")
    sheet = load_workbook(io.BytesIO(made.data))["audit"]
    assert sheet["C2"].value == '=HYPERLINK("http://x","点击")'
    assert sheet["C2"].data_type == "s"  # text, never a live formula
    assert _exports(log)[-1][1]["rows"] == 1


@pytest.mark.parametrize("role", ["planner", "leader", "field", "viewer", "kiosk"])
def test_only_administrators_may_export_the_log(log: Connection, role: str) -> None:
    with pytest.raises(PermissionDeniedError):
        export_audit(log, Actor(username="x", role=role), AuditFilter(), fmt="csv")  # type: ignore[arg-type]
    assert _exports(log) == []


def test_an_export_format_must_be_csv_or_xlsx(log: Connection) -> None:
    with pytest.raises(DataError, match="csv or xlsx"):
        export_audit(log, SYSTEM, AuditFilter(), fmt="pdf")  # type: ignore[arg-type]
