"""Small drawing helpers the pages share: maps, empty states, tables, downloads."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future
from typing import Any

import folium
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from app import data
from app.assets import leaflet_url
from app.i18n import current_lang, t
from app.maps import MapStyle


def map_style(*, dark: bool = False) -> MapStyle:
    """The deployment's map style for this session (the basemap in force)."""
    s = data.settings()
    return MapStyle(
        basemap=s.basemap,
        tianditu_key=s.tianditu_key.get_secret_value() if s.tianditu_key else None,
        local_tile_url=s.local_tile_url,
        assets_url=leaflet_url(),
        dark=dark,
        lang=current_lang(),
    )


def show_map(
    m: folium.Map,
    *,
    key: str,
    height: int = 560,
    returned_objects: Iterable[str] = (),
    overlay: folium.FeatureGroup | None = None,
) -> dict[str, Any]:
    """Draw ``m``; only ``returned_objects`` make the page rerun (panning does not).

    ``overlay`` is laid over the map in place: when only it changes, the map is not
    drawn again and keeps the user's view.
    """
    result = st_folium(
        m,
        key=key,
        height=height,
        use_container_width=True,
        returned_objects=list(returned_objects),
        feature_group_to_add=overlay,
    )
    return result or {}


def has_data() -> bool:
    """Whether anything has been loaded; otherwise say how to load it."""
    status = data.data_status()
    if status["street_offices"] == 0 and status["segments"] == 0 and not status["has_problems"]:
        st.info(t("empty.no_data"))
        return False
    return True


def table(frame: pd.DataFrame, columns: dict[str, str], **kwargs: Any) -> None:
    """A read-only table with translated column labels (``{column: i18n key}``)."""
    shown = frame[[c for c in columns if c in frame.columns]].copy()
    for col in shown.columns:
        if isinstance(shown[col].dtype, pd.DatetimeTZDtype):
            # times as the command centre reads them: local, to the minute
            shown[col] = shown[col].dt.tz_convert(data.zone()).dt.strftime("%Y-%m-%d %H:%M")
    shown = shown.rename(columns={c: t(k) for c, k in columns.items()})
    st.dataframe(shown, hide_index=True, width="stretch", **kwargs)


def pct(value: float | None) -> str:
    """A share as a percentage with one decimal, or a dash."""
    return "—" if value is None or pd.isna(value) else f"{value * 100:.1f}%"


def large_district() -> bool:
    """Whether whole-district analyses are too heavy to draw on request (see data.LARGE)."""
    status = data.data_status()
    return max(status["cells"], status["segments"]) > data.LARGE


def wait_for(job: Future[Any], *, timeout_s: float = 600.0) -> Any:
    """The result of a background job, with a spinner while it is being computed."""
    if not job.done():
        with st.spinner(t("big.computing")):
            if not data.wait_any([job], timeout_s=timeout_s):
                st.info(t("big.computing"))
                st.stop()
    return job.result()
