"""Pure spatial core of CityGrid.

Nothing here knows about Streamlit, the database or the settings: functions take
GeoDataFrames, Shapely geometries and NumPy arrays with explicit options, and
return new objects without changing their inputs.
"""
