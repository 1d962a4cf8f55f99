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
from reports.boards import DEFAULT_FONT, VACANT, boards_excel, boards_pdf, make_boards


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
    assert second.segment == "美术馆后街（五四大街—）"
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


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext (poppler-utils)")
def test_pdf_text_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "boards.pdf"
    path.write_bytes(boards_pdf(make_boards(_rows(), hotline="12345", mask_phone=mask_phone)))
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    pages = text.split("\f")
    assert "东四北大街（东四十条—张自忠路）" in pages[0] and "张三" in pages[0]
    assert "138****5678" in pages[0] and "李二" in pages[0] and "12345" in pages[0]
    assert "美术馆后街" in pages[1] and "（暂缺）" in pages[1]
