"""指挥大屏: today's picture for the command centre's wall, refreshing itself."""

from __future__ import annotations

import datetime as dt
import html
import time
from typing import Any

import altair as alt
import geopandas as gpd
import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitInvalidLayoutContextError

from app import data, ui
from app.guard import guarded
from app.i18n import t
from app.maps import dissolve_by, hotspot_map
from app.session import page_actor
from app.state import filters, now
from app.style import inject_big_screen
from citygrid.settings import get_settings
from db.queries.dashboard import YELLOW_FRACTION, day_start

REFRESH_S = get_settings().refresh_seconds
#: Seconds between looks at a pending background analysis.
POLL_S = 1.0
FG = "#e6eefc"
GRID = "#16365a"


def _tick(moment: dt.datetime) -> dt.datetime:
    # Rounded down to the refresh interval so that every screen shares one cached answer.
    seconds = int(moment.timestamp()) // REFRESH_S * REFRESH_S
    return dt.datetime.fromtimestamp(seconds, tz=moment.tzinfo)


def _kpi(value: str, label: str, hint: str = "", tone: str = "") -> str:
    return (
        f'<div class="cg-kpi {tone}"><div class="v">{html.escape(value)}</div>'
        f'<div class="l">{html.escape(label)}</div><div class="h">{html.escape(hint)}</div></div>'
    )


def _kpis(k: dict[str, Any], bait: tuple[int, int] | None) -> str:
    ok, judged = bait if bait is not None else (0, 0)
    cards = [
        _kpi(f"{k['new_today']:,}", t("big.new_today")),
        _kpi(f"{k['open']:,}", t("big.open")),
        _kpi(f"{k['yellow']:,}", t("big.yellow"), tone="yellow"),
        _kpi(f"{k['red']:,}", t("big.red"), tone="red"),
        _kpi(
            ui.pct(k["closure_rate"]),
            t("big.closure_rate"),
            t("big.rates_help", due=f"{k['due']:,}", days=30),
            "good",
        ),
        _kpi(
            ui.pct(k["on_time_rate"]),
            t("big.on_time_rate"),
            t("big.rates_help", due=f"{k['due']:,}", days=30),
            "good",
        ),
        _kpi(
            ui.pct(k["head_share"]),
            t("big.head_share"),
            t("big.heads_help", headed=f"{k['segments_headed']:,}", total=f"{k['segments']:,}"),
        ),
        _kpi(
            ui.pct(ok / judged if judged else None) if bait is not None else "…",
            t("big.bait_coverage"),
            t("big.bait_help", covered=f"{ok:,}", total=f"{judged:,}")
            if bait is not None
            else t("big.computing"),
        ),
    ]
    return f'<div class="cg-kpis">{"".join(cards)}</div>'


def _dark(chart: alt.Chart, height: int) -> alt.Chart:
    return (
        chart.properties(height=height, background="transparent")
        .configure_view(strokeWidth=0)
        .configure_axis(
            labelColor=FG,
            titleColor=FG,
            gridColor=GRID,
            labelFontSize=15,
            titleFontSize=15,
            domainColor=GRID,
        )
        .configure_legend(labelColor=FG, titleColor=FG, labelFontSize=15, orient="top")
    )


def _categories_chart(frame: pd.DataFrame) -> alt.Chart:
    shown = pd.DataFrame(
        {
            "name": [t(f"cat.{c}") if 0 <= c <= 6 else str(c) for c in frame.index],
            "n": frame["n"].to_numpy(),
        }
    )
    bars = (
        alt.Chart(shown)
        .mark_bar(color="#4fc3f7", cornerRadiusEnd=3)
        .encode(
            x=alt.X("n:Q", title=None),
            y=alt.Y("name:N", sort="-x", title=None),
            tooltip=["name", "n"],
        )
    )
    labels = bars.mark_text(align="left", dx=4, color=FG, fontSize=15).encode(text="n:Q")
    return _dark(bars + labels, 230)


def _trend_chart(frame: pd.DataFrame) -> alt.Chart:
    long = (
        frame.rename(columns={"new": t("big.trend.new"), "closed": t("big.trend.closed")})
        .reset_index()
        .melt("day", var_name="kind", value_name="n")
    )
    chart = (
        alt.Chart(long)
        .mark_line(point=True, strokeWidth=3)
        .encode(
            x=alt.X("day:T", title=None, axis=alt.Axis(format="%m-%d")),
            y=alt.Y("n:Q", title=None),
            color=alt.Color("kind:N", title=None, scale=alt.Scale(range=["#4fc3f7", "#69f0ae"])),
            tooltip=["day:T", "kind:N", "n:Q"],
        )
    )
    return _dark(chart, 230)


def _ranking(frame: pd.DataFrame, title: str, limit: int) -> str:
    rows = []
    for _, r in frame.head(limit).iterrows():
        red = int(r["red"])
        rows.append(
            f'<tr><td class="n">{int(r["rank"])}</td><td class="name">{html.escape(str(r["name"]))}</td>'
            f'<td class="n">{ui.pct(r["on_time_rate"])}</td>'
            f'<td class="n">{ui.pct(r["closure_rate"])}</td>'
            f'<td class="n{" red" if red else ""}">{red}</td></tr>'
        )
    head = "".join(
        f"<th>{html.escape(t(k))}</th>"
        for k in (
            "big.rank.col.rank",
            "big.rank.col.name",
            "big.rank.col.on_time",
            "big.rank.col.closure",
            "big.rank.col.red",
        )
    )
    return (
        f'<div class="cg-panel"><h3>{html.escape(title)}</h3><table class="cg-rank">'
        '<colgroup><col class="rk"><col><col class="pc"><col class="pc"><col class="rd">'
        f"</colgroup><tr>{head}</tr>{''.join(rows)}</table></div>"
    )


def _ticker(frame: pd.DataFrame) -> str:
    items = []
    for _, r in frame.iterrows():
        when = pd.Timestamp(r["reported_at"]).tz_convert("Asia/Shanghai").strftime("%m-%d %H:%M")
        colour = str(r["colour"])
        text = " · ".join(
            str(v) for v in (when, r["category"], r["street_office"], r["address"]) if pd.notna(v)
        )
        items.append(
            f'<span class="item"><span class="tag {colour}">{html.escape(t(f"colour.{colour}"))}'
            f"</span>{html.escape(text)}</span>"
        )
    # The items twice over, scrolled by half: a seamless loop that is never blank.
    once = f"<b>{html.escape(t('big.ticker'))}：</b>{''.join(items)}"
    return f'<div class="cg-ticker"><span class="track">{once}{once}</span></div>'


def _hot_map(hot: gpd.GeoDataFrame, key: tuple[Any, ...]) -> None:
    """Significant cells merged per class: a handful of outlines, whatever the district."""
    shown = hot.loc[hot["gi_class"] != 0, ["n", "gi_class", "geometry"]]
    merged = dissolve_by(shown, "gi_class")
    merged = merged.assign(name=[t(f"map.hot.{c}") for c in merged["gi_class"]])
    merged = merged.rename(columns={"gi_class": "class"})
    merged = merged.set_geometry(merged.geometry.simplify(5.0).to_crs(4326))
    outline = data.outlines("street_office", key, 15.0)
    m = hotspot_map(merged, outline, style=ui.map_style(dark=True), fields=("name", "count", "n"))
    ui.show_map(m, key="big_map", height=520)


@st.fragment(run_every=REFRESH_S)
@guarded
def board() -> None:
    """The whole screen; reruns alone every refresh interval (the page does not flicker)."""
    actor = page_actor()
    f = filters()
    key = f.scope_key(actor)
    moment = _tick(now())
    d = data.big_screen(moment, key)
    st.html(
        f'<p class="cg-title">{html.escape(t("big.title", area=f.area_name))}</p>'
        f'<p class="cg-sub">{html.escape(t("big.updated", time=moment.strftime("%Y-%m-%d %H:%M"), seconds=REFRESH_S))}</p>'
    )
    # Whole-district analyses that take seconds at city scale run in the background;
    # their panels fill in as soon as they are ready.
    bait_job = data.in_background(("bait", key[0]), data.bait_share_of, data.engine(), key[0])
    st.html(_kpis(d["kpis"], bait_job.result() if bait_job.done() else None))
    left, middle, right = st.columns([5, 3, 4], gap="medium")
    with left:
        st.html(f'<div class="cg-panel"><h3>{html.escape(t("big.map"))}</h3></div>')
        # Day-aligned window: one Gi* per day and area, shared by every screen.
        today = day_start(moment)
        window = (today - dt.timedelta(days=29), today + dt.timedelta(days=1))
        hot_job = data.in_background(
            ("hot", "cell", *window, key), data.hotspots_of, data.engine(), "cell", *window, key
        )
        if hot_job.done():
            _hot_map(hot_job.result(), key)
        else:
            st.info(t("big.computing"))
    with middle:
        st.html(f'<div class="cg-panel"><h3>{html.escape(t("big.categories"))}</h3></div>')
        if len(d["categories"]):
            st.altair_chart(_categories_chart(d["categories"]), width="stretch")
        else:
            st.caption(t("empty.no_problems"))
        st.html(f'<div class="cg-panel"><h3>{html.escape(t("big.trend"))}</h3></div>')
        st.altair_chart(_trend_chart(d["trend"]), width="stretch")
    with right:
        st.html(_ranking(d["rank_so"], t("big.rank.so"), 8))
        st.html(_ranking(d["rank_com"], t("big.rank.com"), 8))
    st.html(_ticker(d["latest"]))
    st.html(
        f'<p class="cg-rule">{html.escape(t("big.rule", pct=round(YELLOW_FRACTION * 100)))}</p>'
    )
    if not (hot_job.done() and bait_job.done()):
        time.sleep(POLL_S)
        try:
            st.rerun(scope="fragment")
        except StreamlitInvalidLayoutContextError:  # a full run, not a fragment rerun
            st.rerun()


inject_big_screen()
if guarded(ui.has_data)():
    board()
