"""Reading what derived layers are made from, and which loads already happened.

Used by ``citygrid grid generate`` and ``citygrid roads segment`` (communities and
road centrelines out of the database, results back through the loaders) and by
``citygrid demo`` (which files were already loaded, so they can be skipped).
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection


def communities(conn: Connection, *, codes: list[str] | None = None) -> gpd.GeoDataFrame:
    """Communities with a boundary (code, name, parent_code, geometry), in the working CRS.

    ``codes`` limits them to these community or street-office codes.
    """
    sql = (
        "SELECT code, name, parent_code, geom FROM admin_areas "
        "WHERE level = 'community' AND geom IS NOT NULL"
    )
    params: dict[str, object] = {}
    if codes:
        sql += " AND (code = ANY(:codes) OR parent_code = ANY(:codes))"
        params["codes"] = list(codes)
    return gpd.read_postgis(sa.text(sql + " ORDER BY code"), conn, geom_col="geom", params=params)


def district(conn: Connection) -> tuple[str, object] | None:
    """The district's name and outline (a shapely geometry), or None when not loaded.

    With several districts loaded, their union under the first one's name.
    """
    import shapely

    row = conn.execute(
        sa.text(
            "SELECT min(name) AS name, ST_AsBinary(ST_Union(geom)) AS wkb FROM admin_areas "
            "WHERE level = 'district' AND geom IS NOT NULL"
        )
    ).one()
    if row.wkb is None:
        return None
    return str(row.name), shapely.from_wkb(bytes(row.wkb))


def roads(conn: Connection) -> gpd.GeoDataFrame:
    """Road centrelines (code, name, road_class, kind, geometry), in the working CRS."""
    return gpd.read_postgis(
        sa.text("SELECT code, name, road_class, kind, geom FROM roads ORDER BY code"),
        conn,
        geom_col="geom",
    )


def working_srid(conn: Connection) -> int:
    """The deployment's working SRID."""
    return int(conn.scalar(sa.text("SELECT working_srid FROM deployment WHERE id = 1")))


def completed_loads(conn: Connection, *, name_prefix: str) -> pd.DataFrame:
    """Loads that finished (layer, file_name, file_sha256) of files named ``name_prefix*``."""
    rows = conn.execute(
        sa.text(
            "SELECT layer, file_name, file_sha256 FROM load_runs "
            "WHERE status = 'done' AND file_name LIKE :p ORDER BY id"
        ),
        {"p": name_prefix.replace("%", r"\%").replace("_", r"\_") + "%"},
    ).all()
    return pd.DataFrame(rows, columns=["layer", "file_name", "file_sha256"])


def cell_codes(conn: Connection, *, community_codes: list[str]) -> list[str]:
    """Codes of the cells already in these communities."""
    rows = conn.execute(
        sa.text(
            "SELECT g.code FROM grid_cells g JOIN admin_areas a ON a.id = g.community_id "
            "WHERE a.code = ANY(:codes) ORDER BY g.code"
        ),
        {"codes": list(community_codes)},
    ).scalars()
    return [str(c) for c in rows]
