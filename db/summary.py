"""What the database holds: row counts per layer, for ``db status`` and the app."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

#: (table, Chinese label, English label) of every layer a user loads or creates.
LAYER_TABLES: tuple[tuple[str, str, str], ...] = (
    ("admin_areas", "行政区划", "admin areas"),
    ("grid_cells", "单元网格", "grid cells"),
    ("roads", "道路", "roads"),
    ("road_segments", "路段", "road segments"),
    ("markets", "市场", "markets"),
    ("premises", "重点场所", "key premises"),
    ("bait_stations", "毒饵站", "bait stations"),
    ("people", "人员", "people"),
    ("assignments", "责任分配", "assignments"),
    ("problem_categories", "问题类别", "categories"),
    ("problems", "问题", "problems"),
    ("load_runs", "导入记录", "load runs"),
)


def layer_counts(conn: Connection) -> list[tuple[str, str, str, int]]:
    """(table, zh label, en label, rows) for every layer table."""
    return [
        (table, zh, en, int(conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0))
        for table, zh, en in LAYER_TABLES
    ]
