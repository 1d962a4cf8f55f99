"""The monthly report (reports/monthly.py) from the figures of the hand-made district."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import subprocess

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlalchemy.engine import Connection

from db.access import Actor
from db.queries.dashboard import Scope, monthly_figures
from reports.monthly import MonthlyReport, map_png, monthly_excel, monthly_pdf
from tests.browser_support import ARTIFACTS, SMALL_NOW, TZ, seed_small

pytestmark = pytest.mark.db

LEADER = Actor(username="leader", role="leader")
VIEWER = Actor(username="viewer", role="viewer")


@pytest.fixture
def figures(conn: Connection) -> dict:  # type: ignore[type-arg]
    seed_small(conn)
    return monthly_figures(conn, month=SMALL_NOW.date(), now=SMALL_NOW, actor=LEADER)


def add_last_year(conn: Connection, ids: dict[str, int]) -> None:
    """Records from May 2024 on: two problems in June 2024 (sanitation, pest control)
    and one in May 2024, so that June 2025 has its same month last year."""
    for case, cat, day in (("y1", "06010", dt.datetime(2024, 5, 20, 9, tzinfo=TZ)),
                           ("y2", "06010", dt.datetime(2024, 6, 10, 9, tzinfo=TZ)),
                           ("y3", "12001", dt.datetime(2024, 6, 28, 9, tzinfo=TZ))):  # fmt: skip
        conn.execute(
            sa.text(
                "INSERT INTO problems (case_no, category_code, source, status, reported_at, "
                "deadline, closed_at, cell_id, community_id, street_office_id, segment_id, geom) "
                "SELECT :case, :cat, 'patrol', 'closed', :rep, :rep, :rep, cell_id, "
                "community_id, street_office_id, segment_id, geom FROM problems WHERE id = :p1"
            ),
            {"case": case, "cat": cat, "rep": day, "p1": ids["p1"]},
        )


@pytest.fixture
def figures_ly(conn: Connection) -> dict:  # type: ignore[type-arg]
    add_last_year(conn, seed_small(conn))
    return monthly_figures(conn, month=SMALL_NOW.date(), now=SMALL_NOW, actor=LEADER)


def _pdf_text(pdf: bytes, name: str) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_bytes(pdf)
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is missing: install poppler-utils (./run test does it)")
    return subprocess.run(
        ["pdftotext", "-layout", str(ARTIFACTS / name), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def test_figures_follow_the_month(figures: dict) -> None:  # type: ignore[type-arg]
    k = figures["kpis"]
    # June 1-15: p1-p5 reported (p6 on 26 May, p7 void, p8 on 6 May); due in June by the
    # 15th noon: p2, p4, p5 (p6 was due on 28 May) -> closed p4, p5 -> on time p4
    assert figures["month"] == dt.date(2025, 6, 1)
    assert (k["n"], k["due"], k["closed"], k["closed_on_time"]) == (5, 3, 2, 1)
    assert k["n_previous"] == 2  # p6, p8
    assert figures["categories"].set_index("patrol_category").loc[1, "n"] == 1  # p1
    # nothing recorded before May 2025: June 2024 is no comparison, not zero
    assert k["n_last_year"] is None
    assert figures["categories"]["n_last_year"].isna().all()
    assert figures["rank_so"]["rank"].tolist() == [1, 2]
    assert len(figures["top"]) == 10 and figures["top"]["rank"].tolist() == list(range(1, 11))


def test_pdf_and_excel_carry_the_figures(figures: dict) -> None:  # type: ignore[type-arg]
    report = MonthlyReport(**figures, area_name="东城区", lang="zh")
    pdf = monthly_pdf(report)
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "monthly-zh.pdf").write_bytes(pdf)
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is missing: install poppler-utils (./run test does it)")
    text = subprocess.run(
        ["pdftotext", "-layout", str(ARTIFACTS / "monthly-zh.pdf"), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    # the Chinese text is really there, not tofu
    assert "东城区城市管理问题2025年6月通报" in text and "按期结案率" in text
    assert "东华门街道" in text
    wb = load_workbook(io.BytesIO(monthly_excel(report)))
    assert wb.sheetnames == ["概况", "类别", "街道排名", "社区排名", "热点前10", "热点图"]
    summary = {r[0]: r[1] for r in wb["概况"].iter_rows(values_only=True)}
    assert summary["应结案"] == 3 and summary["结案率"] == "66.7%"


def test_english_report_and_masked_names(conn: Connection) -> None:
    ids = seed_small(conn)
    conn.execute(
        sa.text(
            "INSERT INTO assignments (person_id, target_type, target_id, role, assigned_by) "
            "VALUES (:p, 'cell', :c, 'grid_worker', 'test')"
        ),
        {"p": ids["p_zhang"], "c": ids["cell1"]},
    )
    figures = monthly_figures(conn, month=SMALL_NOW.date(), now=SMALL_NOW, actor=VIEWER)
    report = MonthlyReport(**figures, area_name="Dongcheng", lang="en")
    wb = load_workbook(io.BytesIO(monthly_excel(report)))
    assert wb.sheetnames[0] == "Summary"
    assert map_png(report).startswith(b"\x89PNG")
    # a viewer reads the grid worker of the hottest cell masked, and no phone
    top = figures["top"].set_index("code")
    cell1 = "110101001001001"
    assert top.loc[cell1, "head"] == "多福巷社区（张*）"
    assert top.loc[cell1, "phone"] == "138****5678"


def test_formula_like_names_stay_text_in_the_workbook(figures: dict) -> None:  # type: ignore[type-arg]
    # a community named like a formula (typed into a roster or an admin-area file)
    hostile = '=HYPERLINK("http://evil.example","点击")'
    rank_com = figures["rank_com"].copy()
    rank_com.iloc[0, rank_com.columns.get_loc("name")] = hostile
    top = figures["top"].copy()
    top.iloc[0, top.columns.get_loc("head")] = "+86 10 1234"
    report = MonthlyReport(
        **{**figures, "rank_com": rank_com, "top": top}, area_name="@东城区", lang="zh"
    )
    wb = load_workbook(io.BytesIO(monthly_excel(report)))
    cells = {c.value: c for ws in wb for row in ws.iter_rows() for c in row if c.value}
    for text in (hostile, "+86 10 1234"):
        assert cells[text].data_type == "s", f"{text!r} became a formula"
    assert not [c.coordinate for c in cells.values() if c.data_type == "f"]
    # and the PDF reads the same names as text, not as markup
    assert monthly_pdf(MonthlyReport(**figures, area_name="<b>东城区", lang="zh")).startswith(
        b"%PDF"
    )


def test_export_checks_masks_and_audits(conn: Connection) -> None:
    from db.queries.dashboard import export_monthly
    from gis.errors import PermissionDeniedError

    ids = seed_small(conn)
    with pytest.raises(PermissionDeniedError, match="monthly report"):
        export_monthly(conn, VIEWER, month=SMALL_NOW.date(), now=SMALL_NOW, area_name="东城区")
    # a leader of street office 1 who asks for "everything" gets their own office only
    local = Actor(username="leader1", role="leader", street_office_ids=frozenset({ids["so1"]}))
    made = export_monthly(
        conn, local, month=SMALL_NOW.date(), now=SMALL_NOW, area_name="东城区", lang="en",
        formats=("xlsx",),
    )  # fmt: skip
    assert list(made.files) == ["xlsx"] and made.file_name("xlsx") == "monthly-2025-06-en.xlsx"
    wb = load_workbook(io.BytesIO(made.files["xlsx"]))
    offices = [r[1] for r in wb["Street offices"].iter_rows(min_row=2, values_only=True)]
    assert offices == ["东华门街道"]
    row = conn.execute(
        sa.text("SELECT actor, action, detail FROM audit_log WHERE id = :i"), {"i": made.audit_id}
    ).one()
    assert (row.actor, row.action) == ("leader1", "export.monthly")
    assert row.detail["month"] == "2025-06" and row.detail["street_office_ids"] == [ids["so1"]]
    assert row.detail["formats"] == ["xlsx"] and row.detail["language"] == "en"
    with pytest.raises(PermissionDeniedError, match="outside their street offices"):
        export_monthly(
            conn, local, month=SMALL_NOW.date(), now=SMALL_NOW, area_name="东城区",
            scope=Scope(street_office_ids=(ids["so2"],)),
        )  # fmt: skip


def test_same_month_last_year_when_the_records_reach_back(figures_ly: dict) -> None:  # type: ignore[type-arg]
    k = figures_ly["kpis"]
    assert (k["n"], k["n_previous"], k["n_last_year"]) == (5, 2, 2)  # June 2024: y2, y3
    cats = figures_ly["categories"].set_index("patrol_category")
    assert cats["n_last_year"].to_dict() == {1: 1, 2: 0, 3: 0, 4: 0, 5: 0, 6: 1}
    assert cats.loc[6, "name"] == "病媒生物" and cats.loc[6, "name_en"] == "Pest control"


def test_reports_give_the_same_month_last_year(figures_ly: dict) -> None:  # type: ignore[type-arg]
    zh = MonthlyReport(**figures_ly, area_name="东城区", lang="zh")
    text = _pdf_text(monthly_pdf(zh), "monthly-ly-zh.pdf")
    flat = "".join(text.split())  # the summary wraps where the page ends
    assert "去年同月2件，同比上升150.0%" in flat  # 5 against 2
    assert "上月2件，环比上升150.0%" in flat
    row = next(line for line in text.splitlines() if "病媒生物" in line).split()
    assert row == ["病媒生物", "0", "1", "1"]  # reported, last month, same month last year
    wb = load_workbook(io.BytesIO(monthly_excel(zh)))
    summary = {r[0]: r[1] for r in wb["概况"].iter_rows(values_only=True)}
    assert (summary["去年同月"], summary["同比"], summary["环比"]) == (2, "+150.0%", "+150.0%")
    rows = list(wb["类别"].iter_rows(values_only=True))
    assert rows[0] == ("类别", "上报", "上月", "去年同月")
    assert ("环境卫生", 1, 1, 1) in rows

    en = MonthlyReport(**figures_ly, area_name="Dongcheng", lang="en")
    text = _pdf_text(monthly_pdf(en), "monthly-ly-en.pdf")
    assert "2 in the same month last year, up 150.0%" in " ".join(text.split())
    assert "Same month last year" in text
    wb = load_workbook(io.BytesIO(monthly_excel(en)))
    summary = {r[0]: r[1] for r in wb["Summary"].iter_rows(values_only=True)}
    assert (summary["Same month last year"], summary["Year on year"]) == (2, "+150.0%")
    rows = list(wb["Categories"].iter_rows(values_only=True))
    assert rows[0] == ("Category", "Reported", "Last month", "Same month last year")
    assert ("Sanitation", 1, 1, 1) in rows and ("Pest control", 0, 1, 1) in rows


def test_english_report_names_categories_in_english(figures: dict) -> None:  # type: ignore[type-arg]
    en = MonthlyReport(**figures, area_name="Dongcheng", lang="en")
    text = _pdf_text(monthly_pdf(en), "monthly-en.pdf")
    names = ["Sanitation", "Advertising", "Street order", "Traffic order", "City facilities",
             "Pest control"]  # fmt: skip
    assert all(name in text for name in names)
    assert not re.search("[\u4e00-\u9fff]", text.split("2. Problems by category")[1].split(
        "3. Street office")[0])  # fmt: skip
    wb = load_workbook(io.BytesIO(monthly_excel(en)))
    assert [r[0] for r in wb["Categories"].iter_rows(min_row=2, values_only=True)] == names


def test_reports_without_last_year_say_so(figures: dict) -> None:  # type: ignore[type-arg]
    zh = MonthlyReport(**figures, area_name="东城区", lang="zh")
    text = _pdf_text(monthly_pdf(zh), "monthly-no-ly-zh.pdf")
    assert "去年同月尚无数据，不作同比" in "".join(text.split())
    row = next(line for line in text.splitlines() if "环境卫生" in line).split()
    assert row == ["环境卫生", "1", "1", "—"]
    wb = load_workbook(io.BytesIO(monthly_excel(zh)))
    summary = {r[0]: r[1] for r in wb["概况"].iter_rows(values_only=True)}
    assert (summary["去年同月"], summary["同比"]) == ("—", "—")
    assert ("环境卫生", 1, 1, "—") in list(wb["类别"].iter_rows(values_only=True))
    en = MonthlyReport(**figures, area_name="Dongcheng", lang="en")
    text = _pdf_text(monthly_pdf(en), "monthly-no-ly-en.pdf")
    assert "no data for the same month last year, so no year-on-year comparison" in " ".join(
        text.split()
    )
