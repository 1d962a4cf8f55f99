"""Spreadsheet safety: text that looks like a formula stays text.

A roster name such as ``=HYPERLINK("http://evil", "点击")`` must reach Excel as the
characters typed, never as a live formula (CSV/formula injection). openpyxl turns
any string starting with ``=`` into a formula, so every writer in ``reports/`` goes
through :func:`put` or :func:`append_row`; CSV writers use :func:`csv_text`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell.cell import Cell
from openpyxl.worksheet.worksheet import Worksheet

#: First characters that make Excel or LibreOffice evaluate a cell (OWASP list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(value: object) -> bool:
    """Whether a spreadsheet would evaluate ``value`` as a formula.

    >>> looks_like_formula("=1+1"), looks_like_formula("-5"), looks_like_formula("王府井")
    (True, True, False)
    """
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def put(cell: Cell, value: Any) -> Cell:
    """Set ``cell`` to ``value``, keeping formula-like text as plain text."""
    cell.value = value
    if looks_like_formula(value):
        cell.data_type = "s"
    return cell


def append_row(ws: Worksheet, values: Iterable[Any]) -> None:
    """``ws.append(values)`` with every formula-like string kept as text."""
    values = list(values)
    ws.append(values)
    row = ws.max_row
    for col, value in enumerate(values, start=1):
        if looks_like_formula(value):
            ws.cell(row=row, column=col).data_type = "s"


def csv_text(value: Any) -> Any:
    """Prefix formula-like text with an apostrophe for CSV files opened in Excel.

    >>> csv_text("=cmd|' /C calc'!A0"), csv_text("东四北大街"), csv_text(3)
    ("'=cmd|' /C calc'!A0", '东四北大街', 3)
    """
    return f"'{value}" if looks_like_formula(value) else value
