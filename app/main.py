"""CityGrid dashboard entry point (``citygrid serve`` runs it with Streamlit)."""

from __future__ import annotations

import streamlit as st

from app.landing import render

st.set_page_config(page_title="CityGrid 网格化城市管理", page_icon="🗺️", layout="wide")
render()
