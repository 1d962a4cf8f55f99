"""Documents for people: notice boards, monthly reports, exports (Excel, PDF, GeoPackage).

Builders take plain DataFrames/GeoDataFrames and return bytes or write files; they do
not query the database and know nothing of Streamlit.
"""
