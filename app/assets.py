"""Leaflet served by the dashboard itself, so maps work on networks with no internet.

Streamlit serves the folder of a declared component at ``component/<name>/``; the
map iframe (streamlit-folium's component) lives at ``component/streamlit_folium.../``,
so a relative ``../<name>`` reaches these files behind any base path or proxy.
"""

from __future__ import annotations

from pathlib import Path

import streamlit.components.v1 as components

LEAFLET_DIR = Path(__file__).resolve().parent / "static" / "leaflet"

_component = components.declare_component("leaflet", path=str(LEAFLET_DIR))


def leaflet_url() -> str:
    """Base address of ``leaflet.js`` and ``leaflet.css`` as seen from a map iframe."""
    return f"../{_component.name}"
