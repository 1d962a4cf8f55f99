"""CityGrid: grid management for Chinese city management (网格化城市管理, 街长制).

The platform shell: settings and the ``citygrid`` command line. The layers are
``gis`` (pure spatial core), ``db`` (PostGIS access), ``etl`` (loading) and
``app`` (Streamlit dashboard).
"""

__version__ = "0.1.0"
