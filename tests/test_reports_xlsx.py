"""Formula-like text written through reports.xlsx reaches Excel as text."""

from __future__ import annotations

import io

from openpyxl import Workbook, load_workbook

from reports.xlsx import append_row, put

HOSTILE = '=HYPERLINK("http://example.invalid","点击")'


def test_formula_text_stays_text() -> None:
    wb = Workbook()
    ws = wb.active
    append_row(ws, ["姓名", HOSTILE, 42, "-1+2"])
    put(ws.cell(row=2, column=1), "@SUM(A1)")
    buf = io.BytesIO()
    wb.save(buf)
    back = load_workbook(io.BytesIO(buf.getvalue())).active
    assert back.cell(row=1, column=2).value == HOSTILE
    assert back.cell(row=1, column=2).data_type == "s"
    assert back.cell(row=1, column=4).data_type == "s"
    assert back.cell(row=1, column=3).value == 42
    assert back.cell(row=2, column=1).data_type == "s"
