"""Street-head notice boards (路段街长公示牌) as an Excel workbook and a printable PDF.

Pure rendering: the rows arrive as a frame (``db.queries.assignments.board_rows``),
the complaint hotline and, for people who may not see phone numbers, a masking
function are passed in by the caller. Each board names the segment the way the street
does (``道路名（起点路—终点路）``), its level-3 street head and phone, the level-2
supervisor, the street office and the hotline. The PDF has one A4 landscape board per
page in WenQuanYi Micro Hei (reportlab's built-in STSong-Light when that font is
missing); the workbook has a list sheet (one row per board) and a print sheet laid
out as boards with a page break after each.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gis.assignment import segment_label
from gis.errors import DataError

#: Debian's WenQuanYi Micro Hei (fonts-wqy-microhei).
DEFAULT_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FALLBACK_FONT = "STSong-Light"  # reportlab's built-in Adobe CID font, no file needed

REQUIRED = ("segment_id", "road_name", "head_name", "head_phone", "supervisor_name")
VACANT = "（暂缺）"
DUTIES = (
    "督促沿街单位落实“门前三包”，每日巡查不少于1次",
    "巡查→反馈→处置→督查销号：小问题不过夜，大问题有回音",
)

Masker = Callable[[str | None], str | None]


@dataclass(frozen=True)
class Board:
    """What one notice board says."""

    segment_id: int
    segment: str
    street_office: str
    community: str
    head: str
    head_phone: str
    supervisor: str
    supervisor_phone: str
    hotline: str

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs in the order a board shows them."""
        return [
            ("路段", self.segment),
            ("街长（三级）", self.head),
            ("街长电话", self.head_phone),
            ("督导街长（二级）", self.supervisor),
            ("督导电话", self.supervisor_phone),
            ("所属街道", self.street_office),
            ("监督投诉电话", self.hotline),
        ]


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return ""
    return str(value).strip()


def make_boards(
    rows: pd.DataFrame, *, hotline: str, mask_phone: Masker | None = None
) -> list[Board]:
    """One :class:`Board` per row, phones masked with ``mask_phone`` when given.

    >>> rows = pd.DataFrame({"segment_id": [1], "road_name": ["东四北大街"],
    ...     "from_name": ["东四十条"], "to_name": ["张自忠路"], "head_name": ["张三"],
    ...     "head_phone": ["13812345678"], "supervisor_name": [None]})
    >>> b = make_boards(rows, hotline="12345", mask_phone=lambda p: p and p[:3] + "****")[0]
    >>> b.segment, b.head, b.head_phone, b.supervisor
    ('东四北大街（东四十条—张自忠路）', '张三', '138****', '（暂缺）')
    """
    missing = [c for c in REQUIRED if c not in rows.columns]
    if missing:
        msg = (
            f"make_boards: rows lack column(s) {', '.join(missing)}; columns are "
            f"{', '.join(map(str, rows.columns))}; use db.queries.assignments.board_rows"
        )
        raise DataError(msg)
    if rows.empty:
        msg = "no street segments to make notice boards for; check the street office chosen"
        raise DataError(msg)
    if not hotline.strip():
        msg = "the complaint hotline is empty; set CITYGRID_HOTLINE (e.g. 12345)"
        raise DataError(msg)

    def col(name: str) -> list[Any]:
        return rows[name].tolist() if name in rows.columns else [None] * len(rows)

    def phone(value: Any) -> str:
        text = _text(value)
        if not text:
            return ""
        if mask_phone is None:
            return text
        return "、".join(_text(mask_phone(p)) for p in text.split("、"))

    boards = []
    for sid, road, frm, to, so, com, head, hp, sup, sp_ in zip(
        col("segment_id"),
        col("road_name"),
        col("from_name"),
        col("to_name"),
        col("street_office"),
        col("community"),
        col("head_name"),
        col("head_phone"),
        col("supervisor_name"),
        col("supervisor_phone"),
        strict=True,
    ):
        boards.append(
            Board(
                segment_id=int(sid),
                segment=segment_label(road, frm, to),
                street_office=_text(so),
                community=_text(com),
                head=_text(head) or VACANT,
                head_phone=phone(hp),
                supervisor=_text(sup) or VACANT,
                supervisor_phone=phone(sp_),
                hotline=hotline.strip(),
            )
        )
    return boards


# --- Excel ---------------------------------------------------------------------------


def boards_excel(boards: Sequence[Board], *, title: str = "路段街长公示牌") -> bytes:
    """Workbook with a list sheet (one row per board) and a print sheet of boards."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.worksheet.pagebreak import Break

    wb = Workbook()
    ws = wb.active
    ws.title = "公示牌清单"
    header = ["路段编号", *(label for label, _ in boards[0].lines()), "社区"]
    ws.append(header)
    for b in boards:
        ws.append([b.segment_id, *(value for _, value in b.lines()), b.community])
    bold = Font(bold=True)
    for cell in ws[1]:
        cell.font = bold
    widths = [10, 36, 12, 16, 16, 16, 16, 14, 14]
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[chr(64 + i)].width = width
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions

    pr = wb.create_sheet("打印版")
    pr.column_dimensions["A"].width = 26
    pr.column_dimensions["B"].width = 60
    thin = Side(style="thin", color="999999")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    red = PatternFill("solid", fgColor="C00000")
    row = 1
    for b in boards:
        pr.merge_cells(start_row=row, start_column=1, end_row=row, end_column=2)
        head = pr.cell(row=row, column=1, value=title)
        head.font = Font(bold=True, size=22, color="FFFFFF")
        head.fill = red
        head.alignment = Alignment(horizontal="center", vertical="center")
        pr.row_dimensions[row].height = 40
        for label, value in b.lines():
            row += 1
            left = pr.cell(row=row, column=1, value=label)
            right = pr.cell(row=row, column=2, value=value)
            left.font = Font(bold=True, size=14)
            right.font = Font(size=16, bold=label in {"路段", "街长（三级）"})
            for c in (left, right):
                c.border = box
                c.alignment = Alignment(vertical="center", wrap_text=True)
            pr.row_dimensions[row].height = 28
        for duty in DUTIES:
            row += 1
            pr.merge_cells(start_row=row, start_column=1, end_row=row, end_column=2)
            pr.cell(row=row, column=1, value=duty).font = Font(size=11, color="555555")
        pr.row_breaks.append(Break(id=row))
        row += 2
    pr.page_setup.orientation = "landscape"
    pr.page_setup.paperSize = pr.PAPERSIZE_A4
    pr.page_setup.fitToWidth = 1
    pr.page_setup.fitToHeight = 0
    pr.sheet_properties.pageSetUpPr.fitToPage = True
    pr.print_options.horizontalCentered = True
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- PDF -----------------------------------------------------------------------------


def _font(font_path: Path | str | None) -> str:
    """Register a CJK font with reportlab and return its name."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont

    path = Path(font_path) if font_path is not None else None
    if path is not None and path.is_file():
        name = f"CJK-{path.stem}"
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=0))
        return name
    if FALLBACK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
    return FALLBACK_FONT


def _fit(text: str, font: str, size: float, width: float) -> float:
    """The largest font size up to ``size`` at which ``text`` fits in ``width``."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    while size > 8 and stringWidth(text, font, size) > width:
        size -= 1
    return size


def boards_pdf(
    boards: Sequence[Board],
    *,
    title: str = "路段街长公示牌",
    font_path: Path | str | None = DEFAULT_FONT,
) -> bytes:
    """A printable PDF: one A4 landscape notice board per page."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    font = _font(font_path)
    page_w, page_h = landscape(A4)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(page_w, page_h), invariant=True)
    c.setTitle(title)
    c.setAuthor("CityGrid")
    margin = 15 * mm
    inner = page_w - 2 * margin
    red = colors.HexColor("#C00000")
    for b in boards:
        c.setStrokeColor(red)
        c.setLineWidth(4)
        c.rect(margin, margin, inner, page_h - 2 * margin)
        band = 30 * mm
        c.setFillColor(red)
        c.rect(margin, page_h - margin - band, inner, band, stroke=0, fill=1)
        c.setFillColor(colors.white)
        c.setFont(font, 40)
        c.drawCentredString(page_w / 2, page_h - margin - band + 10 * mm, title)
        c.setFillColor(colors.black)
        size = _fit(b.segment, font, 34, inner - 20 * mm)
        c.setFont(font, size)
        c.drawCentredString(page_w / 2, page_h - margin - band - 20 * mm, b.segment)
        y = page_h - margin - band - 42 * mm
        rows = [
            ("街长（三级）", f"{b.head}    {b.head_phone}".strip()),
            ("督导街长（二级）", f"{b.supervisor}    {b.supervisor_phone}".strip()),
            ("所属街道", " ".join(x for x in (b.street_office, b.community) if x)),
            ("监督投诉电话", b.hotline),
        ]
        left = margin + 18 * mm
        for label, value in rows:
            c.setFont(font, 18)
            c.setFillColor(colors.HexColor("#555555"))
            c.drawString(left, y, label)
            c.setFillColor(red if label == "监督投诉电话" else colors.black)
            c.setFont(font, _fit(value, font, 24, inner - 90 * mm))
            c.drawString(left + 62 * mm, y, value)
            c.setStrokeColor(colors.HexColor("#DDDDDD"))
            c.setLineWidth(0.5)
            c.line(left, y - 4 * mm, page_w - margin - 18 * mm, y - 4 * mm)
            y -= 15 * mm
        c.setFillColor(colors.HexColor("#555555"))
        c.setFont(font, 12)
        for duty in DUTIES:
            c.drawString(left, y, duty)
            y -= 7 * mm
        c.setFont(font, 9)
        c.drawRightString(page_w - margin - 5 * mm, margin + 4 * mm, f"路段编号 {b.segment_id}")
        c.showPage()
    c.save()
    return buf.getvalue()
