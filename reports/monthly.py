"""The monthly report (月通报): closure rates, rankings and hotspot maps, as PDF and Excel.

Pure rendering: the figures arrive as frames in a :class:`MonthlyReport` (gathered by
``db.queries.dashboard.monthly_figures``); this module draws the maps with
matplotlib, lays out the PDF with reportlab (Chinese text in WenQuanYi Micro Hei) and
writes the workbook with openpyxl, every cell through :func:`reports.xlsx.append_row` so
that a name typed as ``=HYPERLINK(...)`` stays text. Every label follows the report's
language.
"""

from __future__ import annotations

import datetime as dt
import html
import io
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import geopandas as gpd
import pandas as pd

from gis.errors import ConfigError
from reports.xlsx import append_row

Lang = Literal["zh", "en"]

#: Hot/cold class -> colour, as on the dashboard's maps.
CLASS_COLOURS = {
    3: "#b2182b",
    2: "#ef8a62",
    1: "#fdbf9c",
    -1: "#b7d7ea",
    -2: "#67a9cf",
    -3: "#2166ac",
}

_TEXT: dict[str, tuple[str, str]] = {
    "title": ("{area}城市管理问题{month}月通报", "{area} city management report, {month}"),
    "made": ("生成于 {when}", "Made {when}"),
    "summary": ("一、总体情况", "1. Overview"),
    "summary_text": (
        (
            "本月共上报问题 {n} 件（上月 {prev} 件，{change}；{last_year}）。应结案 {due} 件，"
            "结案 {closed} 件，结案率 {closure}；按期结案 {on_time} 件，按期结案率 {on_time_rate}。"
        ),
        (
            "{n} problems were reported this month ({prev} the month before, {change}; "
            "{last_year}). {due} were due to close; {closed} closed ({closure}), {on_time} on "
            "time ({on_time_rate})."
        ),
    ),
    "last_year": ("去年同月 {ly} 件，{change}", "{ly} in the same month last year, {change}"),
    "no_last_year": (
        "去年同月尚无数据，不作同比",
        "no data for the same month last year, so no year-on-year comparison",
    ),
    "categories": ("二、问题类别", "2. Problems by category"),
    "rank_so": ("三、街道排名", "3. Street office ranking"),
    "rank_com": ("四、社区排名（前 15 名与后 5 名）", "4. Community ranking (top 15, bottom 5)"),
    "hotspots": ("五、问题热点", "5. Hotspots"),
    "hot_note": (
        "Getis-Ord Gi* 热点分析，单元网格，错误发现率校正；红色为热点，蓝色为冷点。",
        "Getis-Ord Gi* on grid cells, false-discovery-rate corrected; red hot, blue cold.",
    ),
    "top": ("六、前 10 位热点及责任人", "6. Top 10 hotspots and who answers for them"),
    "rule": (
        (
            "口径：应结案为截止时间在本月内且已到期的问题；结案率 = 结案数 / 应结案数；"
            "按期结案率 = 按期结案数 / 应结案数。"
        ),
        (
            "Definitions: due to close = deadline within the month and passed; closure rate = "
            "closed / due; on-time closure rate = closed by the deadline / due."
        ),
    ),
    "col_rank": ("名次", "Rank"),
    "col_name": ("名称", "Name"),
    "col_so": ("街道", "Street office"),
    "col_n": ("上报", "Reported"),
    "col_prev": ("上月", "Last month"),
    "col_last_year": ("去年同月", "Same month last year"),
    "col_change_prev": ("环比", "Month on month"),
    "col_change_ly": ("同比", "Year on year"),
    "col_due": ("应结案", "Due"),
    "col_closed": ("结案", "Closed"),
    "col_on_time": ("按期", "On time"),
    "col_closure": ("结案率", "Closure"),
    "col_on_time_rate": ("按期结案率", "On time %"),
    "col_red": ("超期未结", "Overdue"),
    "col_category": ("类别", "Category"),
    "col_code": ("编码", "Code"),
    "col_z": ("z 值", "z"),
    "col_head": ("街长/责任人", "Head / responsible"),
    "col_phone": ("电话", "Phone"),
    "col_class": ("等级", "Class"),
    "hot_3": ("热点 99%", "Hot 99%"),
    "hot_2": ("热点 95%", "Hot 95%"),
    "hot_1": ("热点 90%", "Hot 90%"),
    "hot_-1": ("冷点 90%", "Cold 90%"),
    "hot_-2": ("冷点 95%", "Cold 95%"),
    "hot_-3": ("冷点 99%", "Cold 99%"),
    "no_hot": ("本月无显著热点。", "No significant hotspots this month."),
    "sheet_summary": ("概况", "Summary"),
    "sheet_categories": ("类别", "Categories"),
    "sheet_so": ("街道排名", "Street offices"),
    "sheet_com": ("社区排名", "Communities"),
    "sheet_top": ("热点前10", "Top hotspots"),
    "sheet_map": ("热点图", "Hotspot map"),
    "metric": ("指标", "Metric"),
    "value": ("数值", "Value"),
}


def text(key: str, lang: Lang, **values: object) -> str:
    """A label of the report in ``lang``.

    >>> text("col_closure", "en")
    'Closure'
    >>> text("title", "zh", area="东城区", month="2025年5")
    '东城区城市管理问题2025年5月通报'
    """
    label = _TEXT[key][0 if lang == "zh" else 1]
    return label.format(**values) if values else label


@dataclass(frozen=True)
class MonthlyReport:
    """Everything the monthly report shows.

    ``kpis`` holds ``n``, ``n_previous``, ``n_last_year`` (None: no record of the same
    month last year), ``due``, ``closed``, ``closed_on_time``, ``closure_rate``,
    ``on_time_rate``. ``categories`` has ``name`` (Chinese), ``name_en``, ``n``,
    ``n_previous``, ``n_last_year`` (missing without that record); the rankings the
    columns of ``db.queries.dashboard.rankings``;
    ``hot_cells`` the ``gi_class`` of significant cells and ``outlines`` the street
    offices, both in one projected CRS; ``top`` the ten hottest places (``rank``,
    ``code``, ``name``, ``n``, ``gi_z``, ``head``, ``phone``), already masked as the
    reader may see them.
    """

    month: dt.date
    area_name: str
    kpis: dict[str, Any]
    categories: pd.DataFrame
    rank_so: pd.DataFrame
    rank_com: pd.DataFrame
    hot_cells: gpd.GeoDataFrame
    outlines: gpd.GeoDataFrame
    top: pd.DataFrame
    lang: Lang = "zh"
    made_at: dt.datetime = field(default_factory=lambda: dt.datetime.now().astimezone())

    @property
    def month_label(self) -> str:
        """``2025年5`` or ``May 2025``."""
        return (
            f"{self.month.year}年{self.month.month}" if self.lang == "zh" else f"{self.month:%B %Y}"
        )


def _pct(value: Any) -> str:
    return "—" if value is None or pd.isna(value) else f"{float(value) * 100:.1f}%"


def _change(n: int, prev: int | None, lang: Lang, *, kind: str = "环比") -> str:
    """``环比上升 12.5%`` (or ``同比``, by ``kind``) / ``up 12.5%``; "—" with nothing before.

    >>> _change(9, 8, "zh", kind="同比"), _change(6, 8, "en"), _change(3, 0, "zh")
    ('同比上升 12.5%', 'down 25.0%', '—')
    """
    if not prev:
        return "—"
    pct = (n - prev) / prev * 100
    if lang == "zh":
        return f"{kind}{'上升' if pct >= 0 else '下降'} {abs(pct):.1f}%"
    return f"{'up' if pct >= 0 else 'down'} {abs(pct):.1f}%"


def _change_pct(n: int, prev: int | None) -> str:
    """The change as a signed percentage, "—" with nothing to compare with.

    >>> _change_pct(9, 8), _change_pct(9, 0), _change_pct(9, None)
    ('+12.5%', '—', '—')
    """
    return "—" if not prev else f"{(n - prev) / prev * 100:+.1f}%"


@lru_cache(maxsize=1)
def cjk_font_path() -> str:
    """Path of the installed WenQuanYi Micro Hei font (Chinese glyphs for maps and PDF)."""
    from matplotlib import font_manager

    try:
        return str(
            font_manager.findfont(
                font_manager.FontProperties(family="WenQuanYi Micro Hei"),
                fallback_to_default=False,
            )
        )
    except ValueError:
        msg = (
            "the Chinese font WenQuanYi Micro Hei is not installed, so reports cannot show "
            "Chinese text; install it (Debian: apt-get install fonts-wqy-microhei)"
        )
        raise ConfigError(msg) from None


def map_png(report: MonthlyReport, *, width_in: float = 7.0, dpi: int = 150) -> bytes:
    """The hotspot map of the month as a PNG (street offices outlined, labelled)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt
    from matplotlib.patches import Patch

    font = font_manager.FontProperties(fname=cjk_font_path())
    outlines = report.outlines
    minx, miny, maxx, maxy = outlines.total_bounds if len(outlines) else (0, 0, 1, 1)
    aspect = (maxy - miny) / (maxx - minx) if maxx > minx else 1.0
    fig, ax = plt.subplots(figsize=(width_in, max(3.0, min(width_in * aspect, 9.0))), dpi=dpi)
    try:
        handles = []
        for cls, colour in CLASS_COLOURS.items():
            part = report.hot_cells.loc[report.hot_cells["gi_class"] == cls]
            if len(part):
                part.plot(ax=ax, color=colour, linewidth=0)
                handles.append(Patch(color=colour, label=text(f"hot_{cls}", report.lang)))
        if len(outlines):
            outlines.boundary.plot(ax=ax, color="#444444", linewidth=0.6)
            for name, point in zip(
                outlines["name"], outlines.geometry.representative_point(), strict=True
            ):
                ax.annotate(str(name), (point.x, point.y), ha="center", fontsize=6,
                            fontproperties=font, color="#222222")  # fmt: skip
        if handles:
            ax.legend(handles=handles, loc="lower right", prop=font, fontsize=7, framealpha=0.9)
        ax.set_axis_off()
        ax.set_aspect("equal")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()
    finally:
        plt.close(fig)


def _ranking_rows(frame: pd.DataFrame, lang: Lang, *, with_so: bool) -> list[list[str]]:
    cols = ["col_rank", "col_name", *(["col_so"] if with_so else []), "col_n", "col_due",
            "col_closed", "col_on_time", "col_closure", "col_on_time_rate", "col_red"]  # fmt: skip
    header = [text(c, lang) for c in cols]
    return [header] + [
        [
            str(r.rank),
            str(r.name),
            *([str(r.street_office or "")] if with_so else []),
            str(r.n),
            str(r.due),
            str(r.closed),
            str(r.closed_on_time),
            _pct(r.closure_rate),
            _pct(r.on_time_rate),
            str(r.red),
        ]
        for r in frame.itertuples()
    ]


def _community_slice(frame: pd.DataFrame) -> pd.DataFrame:
    return frame if len(frame) <= 20 else pd.concat([frame.head(15), frame.tail(5)])


def _top_rows(frame: pd.DataFrame, lang: Lang) -> list[list[str]]:
    cols = ["col_rank", "col_code", "col_name", "col_n", "col_z", "col_head", "col_phone"]
    header = [text(c, lang) for c in cols]
    return [header] + [
        [
            str(r.rank),
            str(r.code),
            str(r.name),
            str(r.n),
            f"{float(r.gi_z):.2f}",
            "" if pd.isna(r.head) else str(r.head),
            "" if pd.isna(r.phone) else str(r.phone),
        ]
        for r in frame.itertuples()
    ]


def _last_year(report: MonthlyReport) -> str:
    k = report.kpis
    ly = k.get("n_last_year")
    if ly is None:
        return text("no_last_year", report.lang)
    change = _change(int(k["n"]), int(ly), report.lang, kind="同比")
    return text("last_year", report.lang, ly=ly, change=change)


def _category_rows(report: MonthlyReport) -> list[list[Any]]:
    """The categories table: names in the report's language, counts (ints or "—")."""
    lang = report.lang
    header = [text(c, lang) for c in ("col_category", "col_n", "col_prev", "col_last_year")]
    names = report.categories["name" if lang == "zh" else "name_en"]
    return [header] + [
        [
            str(name),
            int(r.n),
            int(r.n_previous),
            "—" if pd.isna(r.n_last_year) else int(r.n_last_year),
        ]
        for name, r in zip(names, report.categories.itertuples(), strict=True)
    ]


def _summary(report: MonthlyReport) -> str:
    k = report.kpis
    return text(
        "summary_text",
        report.lang,
        n=k["n"],
        prev=k["n_previous"],
        change=_change(int(k["n"]), int(k["n_previous"]), report.lang),
        last_year=_last_year(report),
        due=k["due"],
        closed=k["closed"],
        closure=_pct(k["closure_rate"]),
        on_time=k["closed_on_time"],
        on_time_rate=_pct(k["on_time_rate"]),
    )


def monthly_pdf(report: MonthlyReport) -> bytes:
    """The report as an A4 PDF (title, summary, categories, rankings, map, top 10)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Table, TableStyle

    if "CJK" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("CJK", cjk_font_path(), subfontIndex=0))
    lang = report.lang
    h1 = ParagraphStyle("h1", fontName="CJK", fontSize=18, leading=24, alignment=1, spaceAfter=4)
    h2 = ParagraphStyle("h2", fontName="CJK", fontSize=13, leading=18, spaceBefore=10, spaceAfter=4)
    body = ParagraphStyle("body", fontName="CJK", fontSize=10, leading=15, wordWrap="CJK")
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=11, textColor=colors.grey)

    def table(rows: list[list[str]], widths: list[float] | None = None) -> Table:
        t = Table(rows, colWidths=widths, repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), "CJK"),
                    ("FONTSIZE", (0, 0), (-1, -1), 8),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dfe8f3")),
                    ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#9aa9bb")),
                    ("ALIGN", (2, 1), (-1, -1), "RIGHT"),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ]
            )
        )
        return t

    story: list[Any] = [
        # Paragraph reads its text as markup: the area's name is escaped, not interpreted.
        Paragraph(
            text("title", lang, area=html.escape(report.area_name), month=report.month_label), h1
        ),
        Paragraph(text("made", lang, when=f"{report.made_at:%Y-%m-%d %H:%M}"), small),
        Paragraph(text("summary", lang), h2),
        Paragraph(_summary(report), body),
        Paragraph(text("rule", lang), small),
        Paragraph(text("categories", lang), h2),
        table([[str(v) for v in row] for row in _category_rows(report)]),
        Paragraph(text("rank_so", lang), h2),
        table(_ranking_rows(report.rank_so, lang, with_so=False)),
        Paragraph(text("rank_com", lang), h2),
        table(_ranking_rows(_community_slice(report.rank_com), lang, with_so=True)),
        Paragraph(text("hotspots", lang), h2),
    ]
    if len(report.hot_cells):
        png = map_png(report)
        image = Image(io.BytesIO(png))
        scale = min(17 * cm / image.imageWidth, 14 * cm / image.imageHeight)
        image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
        story += [image, Paragraph(text("hot_note", lang), small)]
    else:
        story.append(Paragraph(text("no_hot", lang), body))
    story += [Paragraph(text("top", lang), h2), table(_top_rows(report.top, lang))]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=1.6 * cm,
        rightMargin=1.6 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.5 * cm,
        title=text("title", lang, area=report.area_name, month=report.month_label),
    )
    doc.build(story)
    return buffer.getvalue()


def monthly_excel(report: MonthlyReport) -> bytes:
    """The report as a workbook: summary, categories, rankings, top 10 and the map image."""
    from openpyxl import Workbook
    from openpyxl.drawing.image import Image as XlImage
    from openpyxl.styles import Font, PatternFill

    lang = report.lang
    wb = Workbook()
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DFE8F3")

    def sheet(title_key: str, rows: list[list[Any]], *, first: bool = False) -> Any:
        ws = wb.active if first else wb.create_sheet()
        ws.title = text(title_key, lang)[:31]
        for row in rows:
            # names of areas, places and people are data: =... stays text, never a formula
            append_row(ws, row)
        for cell in ws[1]:
            cell.font, cell.fill = bold, fill
        for col in ws.columns:
            width = max(len(str(c.value or "")) for c in col)
            ws.column_dimensions[col[0].column_letter].width = min(max(8, width * 1.6), 40)
        return ws

    k = report.kpis
    ly = k.get("n_last_year")
    sheet(
        "sheet_summary",
        [
            [text("metric", lang), text("value", lang)],
            [text("title", lang, area=report.area_name, month=report.month_label), ""],
            [text("col_n", lang), int(k["n"])],
            [text("col_prev", lang), int(k["n_previous"])],
            [text("col_change_prev", lang), _change_pct(int(k["n"]), int(k["n_previous"]))],
            [text("col_last_year", lang), "—" if ly is None else int(ly)],
            [text("col_change_ly", lang), _change_pct(int(k["n"]), ly)],
            [text("col_due", lang), int(k["due"])],
            [text("col_closed", lang), int(k["closed"])],
            [text("col_on_time", lang), int(k["closed_on_time"])],
            [text("col_closure", lang), _pct(k["closure_rate"])],
            [text("col_on_time_rate", lang), _pct(k["on_time_rate"])],
            [_summary(report), ""],
        ],
        first=True,
    )
    sheet("sheet_categories", _category_rows(report))
    sheet("sheet_so", _ranking_rows(report.rank_so, lang, with_so=False))
    sheet("sheet_com", _ranking_rows(report.rank_com, lang, with_so=True))
    sheet("sheet_top", _top_rows(report.top, lang))
    ws = wb.create_sheet(text("sheet_map", lang)[:31])
    if len(report.hot_cells):
        image = XlImage(io.BytesIO(map_png(report, dpi=110)))
        ws.add_image(image, "A1")
    else:
        append_row(ws, [text("no_hot", lang)])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
