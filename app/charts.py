"""Wall-screen charts as plain HTML and SVG strings (no Streamlit, no charting library).

The big screen redraws every refresh, all day, on machines that are often modest: a
chart here is a few kilobytes of markup the browser lays out at once, instead of a
charting runtime to load and run. Every text is escaped; sizes are in the big
screen's type scale (readable from 5 m).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence

import pandas as pd

FG = "#e6eefc"
MUTED = "#8fb3e8"
GRID = "#16365a"
BAR = "#4fc3f7"
#: Colours of the trend's series, in order (new, closed).
SERIES = ("#4fc3f7", "#69f0ae")


def bars(labels: Sequence[str], values: Sequence[int], *, colour: str = BAR) -> str:
    """Horizontal bars, longest first, each with its label and value.

    >>> "width:100.0%" in bars(["环境卫生", "交通秩序"], [10, 5])
    True
    """
    rows = sorted(zip(labels, values, strict=True), key=lambda r: -r[1])
    top = max((v for _l, v in rows), default=0) or 1
    items = "".join(
        f'<div class="cg-bar"><span class="l">{html.escape(str(label))}</span>'
        f'<span class="t"><span class="b" style="width:{value / top * 100:.1f}%;'
        f'background:{colour}"></span></span><span class="v">{int(value):,}</span></div>'
        for label, value in rows
    )
    return f'<div class="cg-bars">{items}</div>'


def _nice_step(top: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about ``ticks`` gridlines.

    >>> _nice_step(23), _nice_step(17), _nice_step(480), _nice_step(0)
    (10.0, 5.0, 200.0, 1.0)
    """
    if top <= 0:
        return 1.0
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def lines(
    frame: pd.DataFrame,
    *,
    labels: Sequence[str],
    width: int = 460,
    height: int = 220,
    date_format: str = "%m-%d",
) -> str:
    """A line per column of ``frame`` (indexed by day), with gridlines, axes and legend,
    as an ``<img>`` of an SVG drawing.

    ``labels`` name the columns in the legend, in order; colours follow :data:`SERIES`.
    """
    left, right, top_pad, bottom = 40, 14, 34, 26
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    n = len(frame)
    peak = float(frame.to_numpy().max()) if n else 0.0
    step = _nice_step(peak)
    top = max(step * math.ceil(peak / step), step)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top_pad + plot_h * (1 - v / top)

    parts: list[str] = []
    for k in range(int(top / step) + 1):
        value = k * step
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="{GRID}"/><text x="{left - 6}" y="{y(value) + 5:.1f}" fill="{MUTED}" '
            f'font-size="14" text-anchor="end">{value:g}</text>'
        )
    every = max(1, math.ceil(n / 6))
    for i, day in enumerate(frame.index):
        # every few days, and the last day unless it would overprint the one before
        if i % every == 0 or (i == n - 1 and i % every >= every / 2):
            anchor = "start" if i == 0 else "end" if i == n - 1 else "middle"
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - 8}" fill="{MUTED}" font-size="14" '
                f'text-anchor="{anchor}">{html.escape(pd.Timestamp(day).strftime(date_format))}</text>'
            )
    for j, (column, label) in enumerate(zip(frame.columns, labels, strict=True)):
        colour = SERIES[j % len(SERIES)]
        points = " ".join(f"{x(i):.1f},{y(float(v)):.1f}" for i, v in enumerate(frame[column]))
        dots = "".join(
            f'<circle cx="{x(i):.1f}" cy="{y(float(v)):.1f}" r="2.2" fill="{colour}"/>'
            for i, v in enumerate(frame[column])
        )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="3" '
            f'stroke-linejoin="round"/>{dots}'
            f'<circle cx="{left + 8 + 100 * j}" cy="14" r="6" fill="{colour}"/>'
            f'<text x="{left + 20 + 100 * j}" y="19" fill="{FG}" font-size="16">'
            f"{html.escape(str(label))}</text>"
        )
    svg = (
        f'<svg viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" '
        f"font-family=\"'Noto Sans CJK SC','WenQuanYi Micro Hei',sans-serif\">"
        f"{''.join(parts)}</svg>"
    )
    # as an image: st.html keeps HTML but drops inline SVG
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return (
        f'<img class="cg-lines" alt="{html.escape(" / ".join(map(str, labels)))}" '
        f'src="data:image/svg+xml;base64,{data}">'
    )
