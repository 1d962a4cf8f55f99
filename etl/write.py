"""Writing prepared chunks inside the load's one transaction.

Rows whose natural key is new go straight into the target table with COPY (the
fastest path PostgreSQL has); rows whose key exists go to a temporary staging table
and are merged at the end with one UPDATE that touches only rows that changed. A key
seen twice in the file is found in SQL (a row this run already inserted, or two
staged rows), so memory stays flat however long the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
from psycopg import sql
from sqlalchemy.engine import Connection

from etl.contract import LayerSpec
from etl.prepare import Prepared, encode_csv
from etl.values import empty_issue_frame

STAGE = "_citygrid_load_stage"

#: SQL for the street office an existing row belongs to (area-limited actors).
_EXISTING_OFFICE = {
    "problems": "t.street_office_id",
    "road_segments": "t.street_office_id",
    "markets": "t.street_office_id",
    "premises": "t.street_office_id",
    "people": "t.street_office_id",
    "grid_cells": (
        "(SELECT p.id FROM admin_areas c JOIN admin_areas p ON p.code = c.parent_code "
        "WHERE c.id = t.community_id)"
    ),
    "bait_stations": (
        "(SELECT o.id FROM admin_areas o WHERE o.level = 'street_office' "
        "AND ST_Intersects(o.geom, t.geom) ORDER BY o.id LIMIT 1)"
    ),
}


@dataclass
class MergeResult:
    """What the final merge did."""

    updated: int
    unchanged: int
    rejects: pd.DataFrame


class Writer:
    """Writes one load's chunks through one connection inside its open transaction."""

    def __init__(self, conn: Connection, spec: LayerSpec, *, run_id: int) -> None:
        self.conn = conn
        self.pg: Any = conn.connection.driver_connection
        self.spec = spec
        self.run_id = run_id
        self.columns: list[str] = [*spec.output, "load_run_id"]
        self.inserted = 0
        self.staged = 0
        self.optimistic = False
        self._stage_ready = False

    def begin(self) -> None:
        """Lock the table against concurrent writers (readers go on) and read times as UTC.

        When the table is empty, chunks are copied without looking their keys up first;
        a key repeated across chunks then fails that chunk's COPY, which is undone to a
        savepoint and redone the careful way.
        """
        table = sql.Identifier(self.spec.table)
        with self.pg.cursor() as cur:
            cur.execute("SET LOCAL TimeZone = 'UTC'")
            cur.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(table))
            cur.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(table))
            self.optimistic = bool(cur.fetchone()[0])

    def _copy_all(self, chunk: Prepared) -> bool:
        """COPY every row into the target under a savepoint; False if a key repeated."""
        with self.pg.cursor() as cur:
            cur.execute("SAVEPOINT citygrid_chunk")
            try:
                self._copy(self.spec.table, self.columns, chunk.table, payload=chunk.payload)
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT citygrid_chunk")
                return False
            cur.execute("RELEASE SAVEPOINT citygrid_chunk")
        self.inserted += chunk.table.num_rows
        return True

    def write(self, chunk: Prepared) -> pd.DataFrame:
        """Write a chunk's good rows; return rows found to repeat a key this run inserted."""
        if chunk.table.num_rows == 0:
            return empty_issue_frame()
        if self.optimistic and self._copy_all(chunk):
            return empty_issue_frame()
        keys = chunk.keys[chunk.good]
        row_no = chunk.row_no[chunk.good]
        existing = self._existing(keys)
        mine = np.fromiter((existing.get(k) == self.run_id for k in keys), bool, len(keys))
        old = np.fromiter((k in existing for k in keys), bool, len(keys)) & ~mine
        new = ~mine & ~old
        if new.any():
            self._copy(self.spec.table, self.columns, chunk.table.filter(pa.array(new)))
            self.inserted += int(new.sum())
        if old.any():
            self._ensure_stage()
            staged = chunk.table.filter(pa.array(old)).append_column(
                "row_no", pa.array(row_no[old], pa.int64())
            )
            self._copy(STAGE, [*self.columns, "row_no"], staged)
            self.staged += int(old.sum())
        if not mine.any():
            return empty_issue_frame()
        key = self.spec.natural_key
        return pd.DataFrame(
            {
                "row_no": row_no[mine],
                "natural_key": keys[mine],
                "reason_code": "duplicate_key",
                "reason": f"{key} appears more than once in the file; only the first is loaded",
                "field": key,
                "value": keys[mine],
                "loaded": False,
            }
        )

    def _existing(self, keys: np.ndarray) -> dict[Any, int | None]:
        # One text parameter split on the server: far cheaper to send than a text[]
        # of 100,000 elements. Keys never hold the separator (a control character).
        query = sql.SQL(
            "SELECT {k}, load_run_id FROM {t} WHERE {k} = ANY(string_to_array(%s, E'\\x1f'))"
        ).format(k=sql.Identifier(self.spec.natural_key), t=sql.Identifier(self.spec.table))
        with self.pg.cursor() as cur:
            cur.execute(query, ("\x1f".join(str(k) for k in keys),))
            return dict(cur.fetchall())

    def _ensure_stage(self) -> None:
        if self._stage_ready:
            return
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in self.columns)
        with self.pg.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "CREATE TEMP TABLE {s} ON COMMIT DROP AS SELECT {cols} FROM {t} WITH NO DATA"
                ).format(s=sql.Identifier(STAGE), cols=cols, t=sql.Identifier(self.spec.table))
            )
            cur.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN row_no bigint").format(sql.Identifier(STAGE))
            )
        self._stage_ready = True

    def _copy(
        self, table: str, columns: Sequence[str], data: pa.Table, *, payload: bytes = b""
    ) -> None:
        stmt = sql.SQL("COPY {t} ({cols}) FROM STDIN WITH (FORMAT csv)").format(
            t=sql.Identifier(table), cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        )
        payload = payload or encode_csv(data)
        with self.pg.cursor() as cur, cur.copy(stmt) as copy:
            copy.write(payload)

    def merge(self, *, actor_offices: frozenset[int] | None, provided: set[str]) -> MergeResult:
        """Apply the staged rows: drop repeats and rows outside the actor's area, update changed.

        Columns in ``provided`` take the file's values; the others keep what the row has
        (a file without geometry does not erase the geometry loaded before).
        """
        if not self._stage_ready:
            return MergeResult(updated=0, unchanged=0, rejects=empty_issue_frame())
        key = sql.Identifier(self.spec.natural_key)
        stage = sql.Identifier(STAGE)
        target = sql.Identifier(self.spec.table)
        rejects: list[pd.DataFrame] = []
        with self.pg.cursor() as cur:
            cur.execute(
                sql.SQL(
                    """
                    WITH ranked AS (
                        SELECT row_no, min(row_no) OVER (PARTITION BY {k}) AS first_row FROM {s})
                    DELETE FROM {s} s USING ranked r
                    WHERE s.row_no = r.row_no AND r.row_no > r.first_row
                    RETURNING s.row_no, s.{k}, r.first_row
                    """
                ).format(k=key, s=stage)
            )
            dups = cur.fetchall()
            if dups:
                rejects.append(
                    _frame(
                        dups,
                        "duplicate_key",
                        lambda first: (
                            f"{self.spec.natural_key} appears more than once in the "
                            f"file (first at row {first}); only the first is loaded"
                        ),
                        self.spec.natural_key,
                        value_is_key=True,
                    )
                )
            office_sql = _EXISTING_OFFICE.get(self.spec.table)
            if actor_offices is not None and office_sql is not None:
                cur.execute(
                    sql.SQL(
                        "DELETE FROM {s} s USING {t} t WHERE t.{k} = s.{k} AND "
                        "(({o}) IS NULL OR NOT ({o}) = ANY(%s)) RETURNING s.row_no, s.{k}, ({o})"
                    ).format(s=stage, t=target, k=key, o=sql.SQL(office_sql)),
                    (sorted(actor_offices),),
                )
                outside = cur.fetchall()
                if outside:
                    rejects.append(
                        _frame(
                            outside,
                            "outside_your_area",
                            lambda office: (
                                "the existing row belongs to street office "
                                f"{office}, outside the street offices you may load for"
                            ),
                            "street_office",
                            value_is_key=False,
                        )
                    )
            data_cols = [c for c in self.columns if c != "load_run_id"]
            new = [_new_value(c, provided) for c in data_cols]
            cur.execute(
                sql.SQL(
                    "UPDATE {t} t SET ({cols}, load_run_id) = ({new}, s.load_run_id) FROM {s} s "
                    "WHERE t.{k} = s.{k} AND ({old}) IS DISTINCT FROM ({new})"
                ).format(
                    t=target,
                    s=stage,
                    k=key,
                    cols=sql.SQL(", ").join(sql.Identifier(c) for c in data_cols),
                    new=sql.SQL(", ").join(new),
                    old=sql.SQL(", ").join(sql.SQL("t.") + sql.Identifier(c) for c in data_cols),
                )
            )
            updated = cur.rowcount
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(stage))
            remaining = int(cur.fetchone()[0])
        frame = pd.concat(rejects, ignore_index=True) if rejects else empty_issue_frame()
        return MergeResult(updated=updated, unchanged=remaining - updated, rejects=frame)


def _new_value(column: str, provided: set[str]) -> sql.Composable:
    col = sql.Identifier(column)
    if column in provided:
        return sql.SQL("s.") + col
    return sql.SQL("COALESCE(t.{c}, s.{c})").format(c=col)


def _frame(
    rows: list[tuple[Any, ...]], code: str, reason: Any, field: str, *, value_is_key: bool
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_no": [int(r[0]) for r in rows],
            "natural_key": [r[1] for r in rows],
            "reason_code": code,
            "reason": [reason(r[2]) for r in rows],
            "field": field,
            "value": [
                str(r[1]) if value_is_key else None if r[2] is None else str(r[2]) for r in rows
            ],
            "loaded": False,
        }
    )
