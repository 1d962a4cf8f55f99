"""指挥大屏: today's picture for the command centre's wall, refreshing itself."""

from __future__ import annotations

import html
from concurrent.futures import Future
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from app import charts, data, ui
from app.guard import guarded
from app.i18n import t
from app.maps import dissolve_by, hotspot_map
from app.session import page_actor
from app.state import filters
from app.style import inject_big_screen

REFRESH_S = data.settings().refresh_seconds
#: Longest a refresh waits for the whole-district analyses before leaving their panels
#: pending until the next refresh (they are still computed, once, for every screen).
WAIT_S = 120.0
#: Rows of each ranking: the whole screen, ticker included, fits 1920 x 1080.
RANK_ROWS = 6


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


def _categories(frame: pd.DataFrame) -> str:
    return charts.bars(
        [t(f"cat.{c}") if 0 <= c <= 6 else str(c) for c in frame.index],
        [int(n) for n in frame["n"]],
    )


def _trend(frame: pd.DataFrame) -> str:
    return charts.lines(
        frame[["new", "closed"]], labels=[t("big.trend.new"), t("big.trend.closed")]
    )


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
        when = pd.Timestamp(r["reported_at"]).tz_convert(data.zone()).strftime("%m-%d %H:%M")
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


def _pending() -> None:
    st.html(f'<p class="cg-pending">{html.escape(t("big.computing"))}</p>')


def _figures(d: dict[str, Any], slots: dict[str, Any]) -> None:
    with slots["categories"].container():
        if len(d["categories"]):
            st.html(_categories(d["categories"]))
        else:
            st.caption(t("empty.no_problems"))
    with slots["trend"].container():
        st.html(_trend(d["trend"]))
    with slots["ranks"].container():
        st.html(_ranking(d["rank_so"], t("big.rank.so"), RANK_ROWS))
        st.html(_ranking(d["rank_com"], t("big.rank.com"), RANK_ROWS))
    with slots["ticker"].container():
        st.html(_ticker(d["latest"]))


def _fill(jobs: dict[str, Future[Any]], slots: dict[str, Any], key: tuple[Any, ...]) -> None:
    """Draw each panel as soon as its result is ready, a note in its place until then.

    Panels whose result is ready at once are drawn directly (no placeholder in between,
    so a refresh does not flicker); the KPI cards are drawn again when the bait-station
    share arrives after the rest.
    """
    drawn: set[str] = set()
    kpis_with_bait: bool | None = None
    first = True
    while True:
        ready = {name for name, job in jobs.items() if job.done()}
        if "big" in ready and "big" not in drawn:
            _figures(jobs["big"].result(), slots)
            drawn.add("big")
        if "hot" in ready and "hot" not in drawn:
            with slots["map"].container():
                _hot_map(jobs["hot"].result(), key)
            drawn.add("hot")
        if "big" in ready and kpis_with_bait != ("bait" in ready):
            bait = jobs["bait"].result() if "bait" in ready else None
            slots["kpis"].html(_kpis(jobs["big"].result()["kpis"], bait))
            kpis_with_bait = "bait" in ready
        if first:
            waiting = {"kpis"} if "big" not in ready else set()
            waiting |= {"categories", "trend", "ranks", "ticker"} if "big" not in ready else set()
            waiting |= {"map"} if "hot" not in ready else set()
            for name in waiting:
                with slots[name].container():
                    _pending()
            first = False
        pending = [job for name, job in jobs.items() if name not in ready]
        if not pending or not data.wait_any(pending, timeout_s=WAIT_S):
            return


@st.fragment(run_every=REFRESH_S)
@guarded
def board() -> None:
    """The whole screen; reruns alone every refresh interval (the page does not flicker).

    Every panel has its place from the start; the figures, the Gi* map and the
    bait-station share come from results shared by every screen (started with the
    server's first session) and fill their places as soon as each is ready.
    """
    actor = page_actor()
    f = filters()
    key = f.scope_key(actor)
    moment = data.tick(data.now())
    jobs = data.default_jobs(moment, key)
    st.html(
        f'<p class="cg-title">{html.escape(t("big.title", area=f.area_name))}</p>'
        f'<p class="cg-sub">{html.escape(t("big.updated", time=moment.strftime("%Y-%m-%d %H:%M"), seconds=REFRESH_S))}</p>'
    )
    slots: dict[str, Any] = {"kpis": st.empty()}
    left, middle, right = st.columns([5, 3, 4], gap="medium")
    with left:
        st.html(f'<div class="cg-panel"><h3>{html.escape(t("big.map"))}</h3></div>')
        slots["map"] = st.empty()
    with middle:
        st.html(f'<div class="cg-panel"><h3>{html.escape(t("big.categories"))}</h3></div>')
        slots["categories"] = st.empty()
        st.html(f'<div class="cg-panel"><h3>{html.escape(t("big.trend"))}</h3></div>')
        slots["trend"] = st.empty()
    with right:
        slots["ranks"] = st.empty()
    slots["ticker"] = st.empty()
    st.html(
        f'<p class="cg-rule">{html.escape(t("big.rule", pct=round(data.settings().yellow_fraction * 100)))}</p>'
    )
    _fill(jobs, slots, key)


inject_big_screen()
if guarded(ui.has_data)():
    board()
