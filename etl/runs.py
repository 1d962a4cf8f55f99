"""The record of every load: its ``load_runs`` row, its rejects, its audit row.

A run is recorded through its own autocommitted connection, apart from the load's
data transaction: the record survives when the data is rolled back (a strict
rejection, a failure, Ctrl-C), and a run killed outright stays ``running`` with the
id of a database session that no longer exists, which reads as ``interrupted``.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.access import Actor
from db.audit import record
from etl.values import ISSUE_COLUMNS, empty_issue_frame

#: Rejects kept in memory for the report; the file and the table hold all of them.
MEMORY_REJECTS = 100_000


def start_run(
    conn: Connection,
    *,
    layer: str,
    file_name: str,
    size: int,
    file_format: str,
    options: dict[str, Any],
    user: str,
) -> int:
    """Insert the ``running`` row of a new load; return its id.

    Runs left ``running`` by a process that died are marked ``interrupted`` first. A
    run's ``backend_pid`` is the session of ``conn`` until the data transaction starts
    (then that session's), so a run is never without a session to check.
    """
    conn.execute(
        sa.text(
            """
            UPDATE load_runs r SET status = 'interrupted', finished_at = now(),
                   message = 'the loading process ended without finishing (killed?)'
            WHERE r.status = 'running'
              AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = r.backend_pid)
            """
        )
    )
    run_id = conn.scalar(
        sa.text(
            """
            INSERT INTO load_runs (layer, file_name, file_size, file_format, options, user_name,
                                   backend_pid)
            VALUES (:layer, :file, :size, :fmt, CAST(:opts AS jsonb), :user, pg_backend_pid())
            RETURNING id
            """
        ),
        {
            "layer": layer,
            "file": file_name,
            "size": size,
            "fmt": file_format,
            "opts": json.dumps(options, ensure_ascii=False, default=str),
            "user": user,
        },
    )
    return int(run_id)


def set_backend(conn: Connection, run_id: int, pid: int) -> None:
    """Remember which database session carries the run's data transaction."""
    conn.execute(
        sa.text("UPDATE load_runs SET backend_pid = :pid WHERE id = :id"),
        {"pid": pid, "id": run_id},
    )


def finish_run(
    conn: Connection,
    actor: Actor,
    run_id: int,
    *,
    status: str,
    counts: dict[str, int],
    duration_s: float,
    message: str | None,
    rejects_path: Path | None,
    sha256: str,
    detail: dict[str, Any],
) -> None:
    """Close the run's row and append its audit row (in ``conn``'s transaction)."""
    conn.execute(
        sa.text(
            """
            UPDATE load_runs SET status = :status, finished_at = now(), duration_s = :dur,
                   n_read = :n_read, n_inserted = :n_inserted, n_updated = :n_updated,
                   n_unchanged = :n_unchanged, n_rejected = :n_rejected,
                   n_repaired = :n_repaired, message = :msg, rejects_path = :path,
                   file_sha256 = :sha
            WHERE id = :id
            """
        ),
        {
            **counts,
            "status": status,
            "dur": duration_s,
            "msg": message,
            "path": None if rejects_path is None else str(rejects_path),
            "sha": sha256,
            "id": run_id,
        },
    )
    record(
        conn,
        actor,
        "data.load",
        entity_type="load_run",
        entity_id=run_id,
        after={"status": status, **counts},
        detail=detail,
    )


class RejectSink:
    """Streams a run's problems to the rejects file and ``load_rejects`` as they are found.

    The file is CSV in UTF-8 with a byte-order mark, so Excel opens it with the
    Chinese intact; cells that a spreadsheet would run as formulas are prefixed ``'``.
    """

    def __init__(self, conn: Connection, run_id: int, path: Path) -> None:
        self.run_id = run_id
        self.path = path
        self.rows_rejected = 0
        self.lines = 0
        self.codes: dict[str, int] = {}
        self._kept: list[pd.DataFrame] = []
        self._kept_n = 0
        self._conn = conn
        self._file: Any = None

    def add(self, frame: pd.DataFrame) -> None:
        """Record problems (one line each; a row may have several).

        Each call must be about rows no earlier call rejected (true of chunks, and of
        the rows the final merge sets aside), so counting needs no memory of old rows.
        """
        if frame.empty:
            return
        frame = frame.loc[:, list(ISSUE_COLUMNS)]
        bad = frame.loc[~frame["loaded"].astype(bool)]
        self.rows_rejected += int(bad["row_no"].nunique())
        for code, rows in bad.groupby("reason_code")["row_no"].nunique().items():
            self.codes[str(code)] = self.codes.get(str(code), 0) + int(rows)
        self._write_file(frame)
        self._write_table(frame)
        if self._kept_n < MEMORY_REJECTS:
            self._kept.append(frame.iloc[: MEMORY_REJECTS - self._kept_n])
            self._kept_n += min(len(frame), MEMORY_REJECTS - self._kept_n)
        self.lines += len(frame)

    def _write_file(self, frame: pd.DataFrame) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8-sig", newline="")
            csv.writer(self._file).writerow(ISSUE_COLUMNS)
        out = frame.copy()
        for col in ("natural_key", "reason", "value"):
            out[col] = out[col].map(_excel_safe)
        out["loaded"] = out["loaded"].map({True: "yes", False: "no"})
        out.to_csv(self._file, header=False, index=False)

    def _write_table(self, frame: pd.DataFrame) -> None:
        buf = io.StringIO()
        out = frame.assign(run_id=self.run_id)[["run_id", *ISSUE_COLUMNS]]
        out.to_csv(buf, header=False, index=False)
        pg: Any = self._conn.connection.driver_connection
        with (
            pg.cursor() as cur,
            cur.copy(
                "COPY load_rejects (run_id, row_no, natural_key, reason_code, reason, field, "
                "value, loaded) FROM STDIN WITH (FORMAT csv)"
            ) as copy,
        ):
            copy.write(buf.getvalue().replace("\x00", ""))

    def frame(self, *, loaded: bool) -> pd.DataFrame:
        """The problems kept in memory: rejected rows (False) or notes on loaded rows (True)."""
        if not self._kept:
            return empty_issue_frame().drop(columns="loaded")
        allf = pd.concat(self._kept, ignore_index=True)
        return allf.loc[allf["loaded"] == loaded].drop(columns="loaded").reset_index(drop=True)

    def close(self) -> Path | None:
        """Close the file; return its path (None when there was nothing to report)."""
        if self._file is not None:
            self._file.close()
            self._file = None
            return self.path
        return None


def _excel_safe(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return "'" + value
    return value
