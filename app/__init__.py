"""The Streamlit dashboard. It shows and edits; the work happens in ``db`` and ``gis``."""
