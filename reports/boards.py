"""Notice boards (公示牌) of street heads and lane heads, as an Excel workbook and a PDF.

Pure rendering: the rows arrive as a frame (``db.queries.assignment_boards.board_rows``),
the complaint hotline and, for people who may not see phone numbers, a masking
function are passed in by the caller. A street board names the segment the way the
street does (``道路名（起点路—终点路）``), its level-3 street head and phone, the
level-2 supervisor, the street office and the hotline; a lane board (一巷一人) names
the lane, its lane head (巷长) and phone, the community and the street office. Every
word a board prints is in Chinese or English (``lang``); names of roads and people
stay as they are. The PDF has one A4 landscape board per page in WenQuanYi Micro Hei
(reportlab's built-in STSong-Light when that font is missing); the workbook has a
list sheet per kind of board and a print sheet laid out as boards with a page break
after each. Every cell goes through :mod:`reports.xlsx`, so a name typed as a formula
stays text.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

import pandas as pd

from gis.assignment import segment_label
from gis.errors import DataError
from reports.xlsx import append_row, put

#: Debian's WenQuanYi Micro Hei (fonts-wqy-microhei).
DEFAULT_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FALLBACK_FONT = "STSong-Light"  # reportlab's built-in Adobe CID font, no file needed

Lang = Literal["zh", "en"]
Kind = Literal["street", "lane"]

REQUIRED = ("segment_id", "road_name", "head_name", "head_phone", "supervisor_name")

#: Every word the boards print, per language. Road and person names are not translated.
TEXT: dict[Lang, dict[str, str]] = {
    "zh": {
        "title.street": "路段街长公示牌",
        "title.lane": "小街巷巷长公示牌",
        "segment.street": "路段",
        "segment.lane": "小街巷",
        "head.street": "街长（三级）",
        "head.lane": "巷长",
        "head_phone.street": "街长电话",
        "head_phone.lane": "巷长电话",
        "supervisor": "督导街长（二级）",
        "supervisor_phone": "督导电话",
        "street_office": "所属街道",
        "community": "所属社区",
        "hotline": "监督投诉电话",
        "segment_id": "路段编号",
        "vacant": "（暂缺）",
        "sheet.street": "公示牌清单",
        "sheet.lane": "巷长公示牌清单",
        "sheet.print": "打印版",
        "duty.street": "督促沿街单位落实“门前三包”，每日巡查不少于1次",
        "duty.lane": "每日巡查所负责的小街巷，发现问题及时反馈",
        "duty.loop": "巡查→反馈→处置→督查销号：小问题不过夜，大问题有回音",
    },
    "en": {
        "title.street": "Street Head Notice Board",
        "title.lane": "Lane Head Notice Board",
        "segment.street": "Road segment",
        "segment.lane": "Lane",
        "head.street": "Street head (level 3)",
        "head.lane": "Lane head",
        "head_phone.street": "Street head's phone",
        "head_phone.lane": "Lane head's phone",
        "supervisor": "Supervisor (level 2)",
        "supervisor_phone": "Supervisor's phone",
        "street_office": "Street office",
        "community": "Community",
        "hotline": "Complaints hotline",
        "segment_id": "Segment ID",
        "vacant": "(vacant)",
        "sheet.street": "Street heads",
        "sheet.lane": "Lane heads",
        "sheet.print": "Print",
        "duty.street": (
            "Keeps the shops along the street to their front-of-door duties "
            "(clean, orderly, green); patrols at least once a day"
        ),
        "duty.lane": "Patrols the lane every day and reports what needs fixing",
        "duty.loop": (
            "Patrol, report, handle, check and close: small problems are fixed the same "
            "day, big ones get an answer"
        ),
    },
}
#: The Chinese vacancy mark, kept for callers that test for it.
VACANT = TEXT["zh"]["vacant"]
#: The Chinese duties of a street head, kept for callers that print them.
DUTIES = (TEXT["zh"]["duty.street"], TEXT["zh"]["duty.loop"])

Masker = Callable[[str | None], str | None]


def _check_lang(lang: str, func: str) -> Lang:
    if lang not in get_args(Lang):
        msg = f"{func}: language {lang!r} is not offered; choose 'zh' or 'en'"
        raise DataError(msg)
    return cast(Lang, lang)


@dataclass(frozen=True)
class Board:
    """What one notice board says (``kind`` street or lane, in language ``lang``)."""

    segment_id: int
    segment: str
    street_office: str
    community: str
    head: str
    head_phone: str
    supervisor: str
    supervisor_phone: str
    hotline: str
    kind: Kind = "street"
    lang: Lang = "zh"

    def lines(self, lang: Lang | None = None) -> list[tuple[str, str]]:
        """(label, value) pairs in the order a board shows them, labels in ``lang``."""
        t = TEXT[lang or self.lang]
        if self.kind == "lane":
            return [
                (t["segment.lane"], self.segment),
                (t["head.lane"], self.head),
                (t["head_phone.lane"], self.head_phone),
                (t["community"], self.community),
                (t["street_office"], self.street_office),
                (t["hotline"], self.hotline),
            ]
        return [
            (t["segment.street"], self.segment),
            (t["head.street"], self.head),
            (t["head_phone.street"], self.head_phone),
            (t["supervisor"], self.supervisor),
            (t["supervisor_phone"], self.supervisor_phone),
            (t["street_office"], self.street_office),
            (t["hotline"], self.hotline),
        ]

    def duties(self, lang: Lang | None = None) -> tuple[str, str]:
        """The two lines of duties printed under the board."""
        t = TEXT[lang or self.lang]
        return (t[f"duty.{self.kind}"], t["duty.loop"])


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return ""
    return str(value).strip()


def _segment_text(road: Any, start: Any, end: Any, lang: Lang) -> str:
    """``道路名（起点路—终点路）`` in Chinese; ``Road (Start – End)`` in English."""
    if lang == "zh":
        return segment_label(road, start, end)
    name, a, b = _text(road), _text(start), _text(end)
    if a and b:
        return f"{name} ({a} – {b})"
    if a or b:
        return f"{name} ({'from ' + a if a else 'to ' + b})"
    return name


def make_boards(
    rows: pd.DataFrame,
    *,
    hotline: str,
    mask_phone: Masker | None = None,
    lang: Lang = "zh",
) -> list[Board]:
    """One :class:`Board` per row, phones masked with ``mask_phone`` when given.

    A row whose ``kind`` is ``lane`` makes a lane board; other rows make street boards.

    >>> rows = pd.DataFrame({"segment_id": [1], "road_name": ["东四北大街"],
    ...     "from_name": ["东四十条"], "to_name": ["张自忠路"], "head_name": ["张三"],
    ...     "head_phone": ["13812345678"], "supervisor_name": [None]})
    >>> b = make_boards(rows, hotline="12345", mask_phone=lambda p: p and p[:3] + "****")[0]
    >>> b.segment, b.head, b.head_phone, b.supervisor
    ('东四北大街（东四十条—张自忠路）', '张三', '138****', '（暂缺）')
    >>> make_boards(rows, hotline="12345", lang="en")[0].segment
    '东四北大街 (东四十条 – 张自忠路)'
    """
    lang = _check_lang(lang, "make_boards")
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
    vacant = TEXT[lang]["vacant"]

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
    for sid, kind, road, frm, to, so, com, head, hp, sup, sp_ in zip(
        col("segment_id"),
        col("kind"),
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
        lane = kind == "lane"
        boards.append(
            Board(
                segment_id=int(sid),
                segment=_segment_text(road, frm, to, lang),
                street_office=_text(so),
                community=_text(com),
                head=_text(head) or vacant,
                head_phone=phone(hp),
                supervisor="" if lane else (_text(sup) or vacant),
                supervisor_phone="" if lane else phone(sp_),
                hotline=hotline.strip(),
                kind="lane" if lane else "street",
                lang=lang,
            )
        )
    return boards


def _resolve(boards: Sequence[Board], lang: Lang | None, func: str) -> Lang:
    if not boards:
        msg = f"{func}: no boards to write; make them with make_boards first"
        raise DataError(msg)
    return _check_lang(lang or boards[0].lang, func)


def _title(board: Board, title: str | None, lang: Lang) -> str:
    if title is not None and board.kind == "street":
        return title
    return TEXT[lang][f"title.{board.kind}"]


# --- Excel ---------------------------------------------------------------------------


def boards_excel(
    boards: Sequence[Board], *, title: str | None = None, lang: Lang | None = None
) -> bytes:
    """Workbook with a list sheet per kind of board and a print sheet of boards.

    ``title`` heads the street boards (default: the language's 路段街长公示牌); ``lang``
    is that of the labels (default: the boards' own).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.worksheet.pagebreak import Break

    lang = _resolve(boards, lang, "boards_excel")
    t = TEXT[lang]
    wb = Workbook()
    first = True
    bold = Font(bold=True)
    for kind in ("street", "lane"):
        mine = [b for b in boards if b.kind == kind]
        if not mine:
            continue
        ws = wb.active if first else wb.create_sheet()
        first = False
        ws.title = t[f"sheet.{kind}"]
        append_row(ws, [t["segment_id"], *(label for label, _ in mine[0].lines(lang))])
        for b in mine:
            append_row(ws, [b.segment_id, *(value for _, value in b.lines(lang))])
        if kind == "street":
            put(ws.cell(row=1, column=ws.max_column + 1), t["community"])
            for i, b in enumerate(mine, start=2):
                put(ws.cell(row=i, column=ws.max_column), b.community)
        for cell in ws[1]:
            cell.font = bold
        widths = [10, 36, 14, 16, 16, 16, 14, 14, 14]
        for i, width in enumerate(widths[: ws.max_column], start=1):
            ws.column_dimensions[chr(64 + i)].width = width
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = ws.dimensions

    pr = wb.create_sheet(t["sheet.print"])
    pr.column_dimensions["A"].width = 26
    pr.column_dimensions["B"].width = 60
    thin = Side(style="thin", color="999999")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    red = PatternFill("solid", fgColor="C00000")
    row = 1
    for b in boards:
        pr.merge_cells(start_row=row, start_column=1, end_row=row, end_column=2)
        head = put(pr.cell(row=row, column=1), _title(b, title, lang))
        head.font = Font(bold=True, size=22, color="FFFFFF")
        head.fill = red
        head.alignment = Alignment(horizontal="center", vertical="center")
        pr.row_dimensions[row].height = 40
        lines = b.lines(lang)
        emphasised = {lines[0][0], lines[1][0]}  # the segment and its head
        for label, value in lines:
            row += 1
            left = put(pr.cell(row=row, column=1), label)
            right = put(pr.cell(row=row, column=2), value)
            left.font = Font(bold=True, size=14)
            right.font = Font(size=16, bold=label in emphasised)
            for c in (left, right):
                c.border = box
                c.alignment = Alignment(vertical="center", wrap_text=True)
            pr.row_dimensions[row].height = 28
        for duty in b.duties(lang):
            row += 1
            pr.merge_cells(start_row=row, start_column=1, end_row=row, end_column=2)
            put(pr.cell(row=row, column=1), duty).font = Font(size=11, color="555555")
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


def _pdf_rows(b: Board, lang: Lang) -> list[tuple[str, str]]:
    """What the printed board lists under the segment's name."""
    t = TEXT[lang]
    office = (t["street_office"], " ".join(x for x in (b.street_office, b.community) if x))
    if b.kind == "lane":
        return [
            (t["head.lane"], f"{b.head}    {b.head_phone}".strip()),
            (t["community"], b.community),
            (t["street_office"], b.street_office),
            (t["hotline"], b.hotline),
        ]
    return [
        (t["head.street"], f"{b.head}    {b.head_phone}".strip()),
        (t["supervisor"], f"{b.supervisor}    {b.supervisor_phone}".strip()),
        office,
        (t["hotline"], b.hotline),
    ]


def boards_pdf(
    boards: Sequence[Board],
    *,
    title: str | None = None,
    font_path: Path | str | None = DEFAULT_FONT,
    lang: Lang | None = None,
) -> bytes:
    """A printable PDF: one A4 landscape notice board per page.

    ``title`` heads the street boards (default: the language's 路段街长公示牌); ``lang``
    is that of the labels (default: the boards' own).
    """
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    lang = _resolve(boards, lang, "boards_pdf")
    t = TEXT[lang]
    font = _font(font_path)
    page_w, page_h = landscape(A4)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(page_w, page_h), invariant=True)
    c.setTitle(_title(boards[0], title, lang))
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
        heading = _title(b, title, lang)
        c.setFont(font, _fit(heading, font, 40, inner - 10 * mm))
        c.drawCentredString(page_w / 2, page_h - margin - band + 10 * mm, heading)
        c.setFillColor(colors.black)
        c.setFont(font, _fit(b.segment, font, 34, inner - 20 * mm))
        c.drawCentredString(page_w / 2, page_h - margin - band - 20 * mm, b.segment)
        y = page_h - margin - band - 42 * mm
        left = margin + 18 * mm
        for label, value in _pdf_rows(b, lang):
            c.setFont(font, _fit(label, font, 18, 58 * mm))
            c.setFillColor(colors.HexColor("#555555"))
            c.drawString(left, y, label)
            c.setFillColor(red if label == t["hotline"] else colors.black)
            c.setFont(font, _fit(value, font, 24, inner - 90 * mm))
            c.drawString(left + 62 * mm, y, value)
            c.setStrokeColor(colors.HexColor("#DDDDDD"))
            c.setLineWidth(0.5)
            c.line(left, y - 4 * mm, page_w - margin - 18 * mm, y - 4 * mm)
            y -= 15 * mm
        c.setFillColor(colors.HexColor("#555555"))
        for duty in b.duties(lang):
            c.setFont(font, _fit(duty, font, 12, inner - 36 * mm))
            c.drawString(left, y, duty)
            y -= 7 * mm
        c.setFont(font, 9)
        c.drawRightString(
            page_w - margin - 5 * mm, margin + 4 * mm, f"{t['segment_id']} {b.segment_id}"
        )
        c.showPage()
    c.save()
    return buf.getvalue()
