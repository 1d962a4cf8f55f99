"""Landing page: what the database holds, read live."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
import streamlit as st

from db.summary import layer_counts
from gis.errors import CityGridError


@st.cache_resource
def _engine() -> sa.Engine:
    from db.engine import get_engine

    return get_engine()


def render() -> None:
    st.title("CityGrid 网格化城市管理平台")
    try:
        engine = _engine()
        with engine.connect() as conn:
            srid = conn.scalar(sa.text("SELECT working_srid FROM deployment WHERE id = 1"))
            rows = [(f"{zh} {en}", n) for _t, zh, en, n in layer_counts(conn)]
    except (CityGridError, sa.exc.SQLAlchemyError) as exc:
        st.error(f"数据库不可用 / database unavailable: {exc}")
        return
    st.caption(f"工作坐标系 working CRS: EPSG:{srid}")
    data = pd.DataFrame(rows, columns=["图层 layer", "记录数 rows"])
    if data["记录数 rows"].sum() == 0:
        st.info(
            "尚未导入数据。运行 `citygrid demo` 载入示范城区，或 `citygrid load --help` 导入自己的数据。"
        )
    st.dataframe(data, hide_index=True)
