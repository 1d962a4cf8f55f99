"""The wall screen's charts (app/charts.py): markup only, values in place, text escaped."""

from __future__ import annotations

import base64
import re

import pandas as pd

from app import charts


def test_bars_are_scaled_to_the_longest_and_sorted() -> None:
    out = charts.bars(["交通秩序", "环境卫生", "<b>x</b>"], [30, 60, 0])
    widths = re.findall(r"width:([0-9.]+)%", out)
    assert widths == ["100.0", "50.0", "0.0"]  # longest first
    assert out.index("环境卫生") < out.index("交通秩序")
    assert "&lt;b&gt;x&lt;/b&gt;" in out and "<b>x</b>" not in out


def _svg(img: str) -> str:
    """The SVG drawing inside the ``<img>`` that charts.lines returns."""
    match = re.fullmatch(
        r'<img class="cg-lines" alt="[^"]*" src="data:image/svg\+xml;base64,([^"]+)">', img
    )
    assert match, img[:80]
    return base64.b64decode(match.group(1)).decode("utf-8")


def test_lines_draw_one_series_per_column_with_round_gridlines() -> None:
    days = pd.date_range("2025-06-01", periods=30, freq="D", name="day")
    frame = pd.DataFrame({"new": range(30), "closed": [3] * 30}, index=days)
    svg = _svg(charts.lines(frame, labels=["新增", "<结案>"]))
    assert svg.startswith("<svg") and svg.count("<polyline") == 2
    assert svg.count("<circle") == 2 * 30 + 2  # every day of both series, and the legend
    ticks = re.findall(r'text-anchor="end">([0-9.]+)<', svg)
    assert ticks == ["0", "10", "20", "30"]  # the highest value (29) under a round top
    assert "06-01" in svg and "06-30" in svg  # first and last days are labelled
    assert "&lt;结案&gt;" in svg


def test_an_empty_or_flat_trend_still_draws() -> None:
    days = pd.date_range("2025-06-01", periods=3, freq="D", name="day")
    flat = _svg(charts.lines(pd.DataFrame({"new": [0, 0, 0]}, index=days), labels=["新增"]))
    assert "nan" not in flat and flat.count("<polyline") == 1
    empty = _svg(charts.lines(pd.DataFrame({"new": []}, index=days[:0]), labels=["新增"]))
    assert "nan" not in empty and "<svg" in empty
