"""热点研判: hot and cold spots, this period against the last, emerging patterns,
the top 10 with their street heads, and the monthly report."""

from __future__ import annotations

import datetime as dt
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from app import data, ui
from app.guard import guarded
from app.i18n import current_lang, t, translate
from app.maps import emerging_map, hotspot_map
from app.session import page_actor
from app.state import Filters, filters, now
from db.access import Actor

#: Months of history behind the emerging-hotspot patterns.
EMERGING_MONTHS = 12
REPORT = "hot_report"


def _display(frame: gpd.GeoDataFrame, *, simplify_m: float) -> gpd.GeoDataFrame:
    """Only what the map shows: significant units, simplified, in lon/lat."""
    shown = frame.loc[frame["gi_class"] != 0]
    return gpd.GeoDataFrame(
        {
            "id": shown.index.astype(int),
            "name": shown["name"].astype(str),
            "n": shown["n"].astype(int),
            "z": shown["gi_z"].round(2),
            "class": shown["gi_class"].astype(int),
        },
        geometry=shown.geometry.simplify(simplify_m).to_crs(4326).to_numpy(),
        crs=4326,
    )


def _change_pct(n: int, before: int | None) -> str:
    """``+12.5%``, or "—" with nothing to compare with (no record, or none counted).

    >>> _change_pct(9, 8), _change_pct(9, 0), _change_pct(9, None)
    ('+12.5%', '—', '—')
    """
    return "—" if not before else f"{(n - before) / before * 100:+.1f}%"


def _comparison(frame: pd.DataFrame) -> None:
    """This period against the previous one (环比) and the same period last year (同比)."""
    n, prev = int(frame["n"].sum()), int(frame["n_previous"].sum())
    # before the first loaded problem nothing was recorded: say so rather than compare
    ly = int(frame["n_last_year"].sum()) if frame.attrs.get("last_year_covered") else None
    change, change_ly = _change_pct(n, prev), _change_pct(n, ly)
    c1, c2, c3 = st.columns(3)
    c1.metric(t("hot.this_period"), f"{n:,}", delta=None if not prev else f"{n - prev:+,}",
              delta_color="inverse")  # fmt: skip
    c2.metric(t("hot.last_period"), f"{prev:,}")
    c3.metric(t("col.change_pct"), change)
    l1, l2, _ = st.columns(3)
    l1.metric(t("hot.last_year"), "—" if ly is None else f"{ly:,}")
    l2.metric(t("col.change_ly_pct"), change_ly,
              delta=None if not ly else f"{n - ly:+,}", delta_color="inverse")  # fmt: skip
    last_year = (
        t("hot.compare.no_last_year")
        if ly is None
        else t("hot.compare.last_year", ly=f"{ly:,}", change=change_ly)
    )
    st.caption(t("hot.compare", n=f"{n:,}", prev=f"{prev:,}", change=change, last_year=last_year))


def in_community(frame: gpd.GeoDataFrame, key: tuple[Any, ...]) -> gpd.GeoDataFrame:
    """The units of the community chosen in the sidebar, if one is.

    Gi* and the trends are computed over the street office (or district): a cell is hot
    against its wider surroundings, not against its own community alone. The page then
    shows the chosen community's part of the result, and says so.
    """
    communities = key[1]
    if communities is None:
        return frame
    return frame.loc[frame["community_id"].isin(communities)]


def _top(frame: gpd.GeoDataFrame, unit: str, actor: Actor) -> None:
    from db.queries.hotspots import top_n

    with data.engine().connect() as conn:
        top = top_n(conn, frame, unit=unit, actor=actor, n=10)  # type: ignore[arg-type]
    where = "name" if unit == "segment" else "community"
    columns = {"rank": "big.rank.col.rank", "code": "col.code", where: "col.name",
               "n": "col.n", "gi_z": "col.z"}  # fmt: skip
    if unit == "segment":
        columns |= {"street_head_name": "col.head", "street_head_phone": "col.phone",
                    "supervisor_name": "col.supervisor"}  # fmt: skip
    else:
        # who answers first (the street heads, the grid worker), the body behind them last
        columns |= {"street_head_name": "col.head", "grid_worker_name": "col.worker",
                    "grid_worker_phone": "col.phone", "responsible_body": "col.body"}  # fmt: skip
    ui.table(top.assign(gi_z=top["gi_z"].round(2)), columns)


def _months(today: dt.date, n: int = 12) -> list[dt.date]:
    """The first days of the ``n`` months up to ``today``'s, newest first.

    >>> [f"{m:%Y-%m}" for m in _months(dt.date(2025, 3, 31), 3)]
    ['2025-03', '2025-02', '2025-01']
    """
    months = [today.replace(day=1)]
    while len(months) < n:
        months.append((months[-1] - dt.timedelta(days=1)).replace(day=1))
    return months


def _report(f: Filters, actor: Actor) -> None:
    from db.queries.dashboard import REPORT_MEDIA_TYPES, export_monthly

    st.subheader(t("hot.report"))
    month = st.selectbox(t("hot.report.month"), _months(now().date()), index=1,
                         format_func=lambda m: f"{m:%Y-%m}")  # fmt: skip
    if not actor.can("report.export"):
        return
    if st.button(t("hot.report.make"), key="hot_report_make"):
        # checked, masked and audited where the export happens (db.queries.dashboard)
        with data.engine().begin() as conn:
            made = export_monthly(
                conn,
                actor,
                month=month,
                now=now(),
                area_name=f.area_name,
                lang=current_lang(),
                scope=f.scope(actor),
                tz=data.zone(),
            )
        st.session_state[REPORT] = made
    made = st.session_state.get(REPORT)
    if made is None:
        return
    cols = st.columns(len(made.files))
    for col, (fmt, payload) in zip(cols, made.files.items(), strict=True):
        col.download_button(
            t(f"hot.report.{fmt}"),
            payload,
            file_name=made.file_name(fmt),
            mime=REPORT_MEDIA_TYPES[fmt],
            key=f"hot_{fmt}",
        )


@guarded
def page() -> None:
    """The hotspot review page."""
    from gis.emerging import PATTERN_LABELS

    actor = page_actor()
    st.title(t("hot.title"))
    if not ui.has_data():
        return
    f = filters()
    key = f.scope_key(actor)
    lang = current_lang()
    unit = st.segmented_control(
        t("hot.unit"), ["cell", "segment"], default="cell", key="hot_unit",
        format_func=lambda u: translate(f"hot.unit.{u}", lang),
    ) or "cell"  # fmt: skip
    # The last 30 days of the whole district were started with the server's first
    # session and are shared with the big screen; other choices start here.
    job = data.hotspots(unit=unit, start=f.start, end=f.end, scope_key=key)
    frame = in_community(ui.wait_for(job), key)
    if key[1] is not None:
        st.caption(t("hot.community_view"))
    outline = data.outlines("street_office", key, 15.0)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        m = hotspot_map(
            _display(frame, simplify_m=2.0 if unit == "cell" else 3.0),
            outline,
            style=ui.map_style(),
            line=unit == "segment",
        )
        ui.show_map(m, key=f"hot_map_{unit}", height=540)
    with right:
        _comparison(frame)
        st.subheader(t("hot.top"))
        _top(frame, unit, actor)
    st.subheader(t("hot.emerging"))
    if key[0] is None and ui.large_district():
        st.info(t("hot.emerging.pick_so"))
        _report(f, actor)
        return
    trend = in_community(data.emerging(f.end, EMERGING_MONTHS, key), key)
    lang_i = 0 if current_lang() == "zh" else 1
    moving = trend.loc[trend["pattern"] != "none"]
    shown = gpd.GeoDataFrame(
        {"name": moving["code"].astype(str), "pattern": moving["pattern"]},
        geometry=moving.geometry.simplify(2.0).to_crs(4326).to_numpy(),
        crs=4326,
    )
    e1, e2 = st.columns([3, 2], gap="medium")
    with e1:
        m2 = emerging_map(
            shown,
            outline,
            style=ui.map_style(),
            labels={k: v[lang_i] for k, v in PATTERN_LABELS.items()},
        )
        ui.show_map(m2, key="emerging_map", height=420)
    with e2:
        counts = trend["pattern"].value_counts().rename_axis("pattern").reset_index(name="count")
        counts["pattern"] = [PATTERN_LABELS[p][lang_i] for p in counts["pattern"]]
        ui.table(counts, {"pattern": "col.class", "count": "col.count"})
    _report(f, actor)


page()
