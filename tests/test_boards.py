"""Notice boards (公示牌): what each board says, the workbook and the PDF."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from db.access import mask_phone
from gis.errors import DataError
from reports.boards import DEFAULT_FONT, TEXT, VACANT, boards_excel, boards_pdf, make_boards

HOSTILE = '=HYPERLINK("http://evil.example","点击")'


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "segment_id": [12, 13],
            "code": ["S12", "S13"],
            "road_name": ["东四北大街", "美术馆后街"],
            "from_name": ["东四十条", "五四大街"],
            "to_name": ["张自忠路", None],
            "street_office": ["东四街道", "景山街道"],
            "community": ["东四六条社区", None],
            "head_name": ["张三", None],
            "head_phone": ["13812345678", None],
            "supervisor_name": ["李二", "赵二"],
            "supervisor_phone": ["13900001111", None],
        }
    )


def test_each_board_names_segment_head_supervisor_and_hotline() -> None:
    first, second = make_boards(_rows(), hotline="12345")
    assert dict(first.lines()) == {
        "路段": "东四北大街（东四十条—张自忠路）",
        "街长（三级）": "张三",
        "街长电话": "13812345678",
        "督导街长（二级）": "李二",
        "督导电话": "13900001111",
        "所属街道": "东四街道",
        "监督投诉电话": "12345",
    }
    assert second.segment == "美术馆后街（五四大街—尽头）"
    assert second.head == VACANT and second.head_phone == ""


def test_phones_are_masked_on_request() -> None:
    board = make_boards(_rows(), hotline="12345", mask_phone=mask_phone)[0]
    assert (board.head_phone, board.supervisor_phone) == ("138****5678", "139****1111")
    assert board.hotline == "12345"  # the hotline is public


def test_bad_input_is_named() -> None:
    with pytest.raises(DataError, match="lack column\\(s\\) head_name"):
        make_boards(_rows().drop(columns="head_name"), hotline="12345")
    with pytest.raises(DataError, match="no street segments"):
        make_boards(_rows().iloc[0:0], hotline="12345")
    with pytest.raises(DataError, match="CITYGRID_HOTLINE"):
        make_boards(_rows(), hotline=" ")


def test_workbook_lists_boards_and_lays_them_out_for_printing() -> None:
    boards = make_boards(_rows(), hotline="12345", mask_phone=mask_phone)
    wb = load_workbook(io.BytesIO(boards_excel(boards)))
    assert wb.sheetnames == ["公示牌清单", "打印版"]
    listing = list(wb["公示牌清单"].values)
    assert listing[0][:3] == ("路段编号", "路段", "街长（三级）")
    assert listing[1][:4] == (12, "东四北大街（东四十条—张自忠路）", "张三", "138****5678")
    assert len(listing) == 3
    pr = wb["打印版"]
    texts = [c.value for row in pr.iter_rows() for c in row if c.value]
    assert texts.count("路段街长公示牌") == 2
    assert "13812345678" not in texts and "138****5678" in texts
    assert len(pr.row_breaks.brk) == 2  # one board per printed page
    assert pr.page_setup.orientation == "landscape"


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


def test_pdf_has_one_board_per_page_in_a_chinese_font() -> None:
    boards = make_boards(_rows(), hotline="12345")
    pdf = boards_pdf(boards)
    assert pdf.startswith(b"%PDF") and _pages(pdf) == 2
    expected = b"WenQuanYi" if DEFAULT_FONT.is_file() else b"STSong-Light"
    assert expected in pdf
    fallback = boards_pdf(boards, font_path=None)
    assert _pages(fallback) == 2 and b"STSong-Light" in fallback


def _pdf_pages(pdf: bytes, tmp_path: Path) -> list[str]:
    """The text of each page, read back by pdftotext (which ./run test installs)."""
    if shutil.which("pdftotext") is None:
        pytest.fail(
            "pdftotext is missing, so the PDF's text cannot be checked: install "
            "poppler-utils (apt-get install poppler-utils; ./run test does it)"
        )
    path = tmp_path / "boards.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    return text.split("\f")


def test_pdf_text_reads_back(tmp_path: Path) -> None:
    boards = make_boards(_rows(), hotline="12345", mask_phone=mask_phone)
    pages = _pdf_pages(boards_pdf(boards), tmp_path)
    assert "东四北大街（东四十条—张自忠路）" in pages[0] and "张三" in pages[0]
    assert "138****5678" in pages[0] and "李二" in pages[0] and "12345" in pages[0]
    assert "美术馆后街" in pages[1] and "（暂缺）" in pages[1]


def _with_lane() -> pd.DataFrame:
    lane = {
        "segment_id": 40, "code": "L40", "road_name": "府学胡同", "from_name": None,
        "to_name": None, "kind": "lane", "street_office": "东四街道", "community": "交东社区",
        "head_name": "周六", "head_phone": "13700001234", "supervisor_name": None,
        "supervisor_phone": None,
    }  # fmt: skip
    rows = _rows().assign(kind="street")
    return pd.concat([rows, pd.DataFrame([lane])], ignore_index=True)


def test_english_boards_translate_every_label_and_keep_names() -> None:
    first, second = make_boards(_rows(), hotline="12345", lang="en")
    assert dict(first.lines()) == {
        "Road segment": "东四北大街 (东四十条 – 张自忠路)",
        "Street head (level 3)": "张三",
        "Street head's phone": "13812345678",
        "Supervisor (level 2)": "李二",
        "Supervisor's phone": "13900001111",
        "Street office": "东四街道",
        "Complaints hotline": "12345",
    }
    assert second.segment == "美术馆后街 (from 五四大街)" and second.head == "(vacant)"
    assert set(TEXT["zh"]) == set(TEXT["en"])
    english = " ".join(TEXT["en"].values())
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in english)  # no Chinese left over


def test_unknown_language_is_refused() -> None:
    with pytest.raises(DataError, match="choose 'zh' or 'en'"):
        make_boards(_rows(), hotline="12345", lang="fr")  # type: ignore[arg-type]


def test_lane_boards_name_the_lane_head_and_community() -> None:
    boards = make_boards(_with_lane(), hotline="12345")
    lane = boards[-1]
    assert lane.kind == "lane" and [b.kind for b in boards[:2]] == ["street", "street"]
    assert dict(lane.lines()) == {
        "小街巷": "府学胡同",
        "巷长": "周六",
        "巷长电话": "13700001234",
        "所属社区": "交东社区",
        "所属街道": "东四街道",
        "监督投诉电话": "12345",
    }
    assert lane.duties()[0] == TEXT["zh"]["duty.lane"]
    assert dict(lane.lines("en"))["Lane head"] == "周六"


def test_workbook_in_english_with_a_sheet_per_kind_of_board() -> None:
    boards = make_boards(_with_lane(), hotline="12345", lang="en")
    wb = load_workbook(io.BytesIO(boards_excel(boards)))
    assert wb.sheetnames == ["Street heads", "Lane heads", "Print"]
    streets = list(wb["Street heads"].values)
    assert streets[0] == (
        "Segment ID", "Road segment", "Street head (level 3)", "Street head's phone",
        "Supervisor (level 2)", "Supervisor's phone", "Street office", "Complaints hotline",
        "Community",
    )  # fmt: skip
    assert len(streets) == 3
    lanes = list(wb["Lane heads"].values)
    assert lanes == [
        ("Segment ID", "Lane", "Lane head", "Lane head's phone", "Community", "Street office",
         "Complaints hotline"),
        (40, "府学胡同", "周六", "13700001234", "交东社区", "东四街道", "12345"),
    ]  # fmt: skip
    texts = [c.value for row in wb["Print"].iter_rows() for c in row if c.value]
    assert texts.count("Street Head Notice Board") == 2
    assert texts.count("Lane Head Notice Board") == 1
    assert len(wb["Print"].row_breaks.brk) == 3


def test_a_title_given_heads_the_street_boards_only() -> None:
    boards = make_boards(_with_lane(), hotline="12345")
    wb = load_workbook(io.BytesIO(boards_excel(boards, title="东城区路段街长公示牌")))
    texts = [c.value for row in wb["打印版"].iter_rows() for c in row if c.value]
    assert texts.count("东城区路段街长公示牌") == 2 and texts.count("小街巷巷长公示牌") == 1


def test_names_typed_as_formulas_stay_text_in_the_workbook() -> None:
    rows = _with_lane()
    rows.loc[0, "head_name"] = HOSTILE
    rows.loc[0, "supervisor_name"] = "=1+1"
    rows.loc[2, "head_name"] = "@SUM(A1:A9)"
    rows.loc[1, "road_name"] = "+cmd|' /C calc'!A0"
    wb = load_workbook(io.BytesIO(boards_excel(make_boards(rows, hotline="12345"))))
    risky = [
        c
        for ws in wb
        for row in ws.iter_rows()
        for c in row
        if isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@"))
    ]
    assert {c.value for c in risky} >= {HOSTILE, "=1+1", "@SUM(A1:A9)"}
    assert {c.data_type for c in risky} == {"s"}  # text, never a formula


def test_english_pdf_with_lanes_reads_back(tmp_path: Path) -> None:
    boards = make_boards(_with_lane(), hotline="12345", lang="en")
    pages = _pdf_pages(boards_pdf(boards), tmp_path)
    assert "Street Head Notice Board" in pages[0] and "Complaints hotline" in pages[0]
    assert "东四北大街 (东四十条 – 张自忠路)" in pages[0] and "Segment ID 12" in pages[0]
    assert "(vacant)" in pages[1]
    assert "Lane Head Notice Board" in pages[2] and "府学胡同" in pages[2]
    assert "周六" in pages[2] and "交东社区" in pages[2]
    labels = [v for k, v in TEXT["zh"].items() if not k.startswith("duty")]
    assert not any(label in page for label in labels for page in pages)
