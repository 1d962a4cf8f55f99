"""Notice boards (公示牌) from PostGIS: who answers for each street and lane, and the export.

:func:`board_rows` reads one row per segment for its board; :func:`export_boards`
builds the boards for an actor as an Excel workbook or a PDF, and is where the export
is checked (``report.export`` in the offices asked for), masked (names and phones for
actors without ``pii.read``) and audited (``export.boards``), whichever screen or
command asks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
from sqlalchemy.engine import Connection

from db.access import Actor, mask_name, mask_phone, require
from db.audit import record
from db.queries.assignment_state import ACTIVE, office_scope, query_frame
from gis.assignment import segment_label
from gis.errors import DataError
from reports.boards import DEFAULT_FONT, Lang, boards_excel, boards_pdf, make_boards

BoardFormat = Literal["xlsx", "pdf"]
#: Media type of each export format, for downloads.
MEDIA_TYPES: dict[BoardFormat, str] = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def _mask_each(values: pd.Series, mask: Callable[[str], str | None]) -> list[str | None]:
    """Mask every name or phone of a ``、``-joined list."""
    return [
        None if v is None else "、".join(str(mask(x)) for x in str(v).split("、")) for v in values
    ]


def board_rows(
    conn: Connection,
    actor: Actor,
    *,
    street_office_ids: Iterable[int] | None = None,
    mask_phones: bool = False,
    lanes: bool = False,
) -> pd.DataFrame:
    """One row per street segment (and, with ``lanes``, per lane) for its notice board.

    Columns: ``segment_id``, ``code``, ``label`` (``道路名（起点路—终点路）``), ``road_name``,
    ``from_name``, ``to_name``, ``kind`` (street|lane), ``street_office``, ``community``,
    ``head_name``, ``head_phone`` (the level-3 street head, or a lane's lane head),
    ``supervisor_name``, ``supervisor_phone`` (the level-2 head; none for lanes).
    Needs ``report.export`` in those offices. Names and phones are masked for actors
    without ``pii.read``; phones also on request (``mask_phones``).
    """
    ids = None if street_office_ids is None else [int(i) for i in street_office_ids]
    if ids is None and actor.street_office_ids is not None:
        ids = sorted(actor.street_office_ids)  # "all" means all of the actor's own
    require(actor, "report.export", street_office_ids=ids or [], what="export notice boards")
    frame = query_frame(
        conn,
        f"""
        SELECT s.id AS segment_id, s.code, s.road_name, s.from_name, s.to_name, s.kind,
               so.name AS street_office, com.name AS community,
               string_agg(p.name, '、' ORDER BY p.name) AS head_name,
               string_agg(p.phone, '、' ORDER BY p.name) AS head_phone,
               string_agg(DISTINCT sp.name, '、') AS supervisor_name,
               string_agg(DISTINCT sp.phone, '、') AS supervisor_phone
        FROM road_segments s
        LEFT JOIN admin_areas so ON so.id = s.street_office_id
        LEFT JOIN admin_areas com ON com.id = s.community_id
        LEFT JOIN assignments a ON {ACTIVE} AND a.target_type = 'segment' AND a.target_id = s.id
             AND ((s.kind = 'street' AND a.role = 'street_head' AND a.level = 3)
               OR (s.kind = 'lane' AND a.role = 'lane_head'))
        LEFT JOIN people p ON p.id = a.person_id
        LEFT JOIN people sp ON sp.id = a.supervisor_id
        WHERE (s.kind = 'street' OR (:lanes AND s.kind = 'lane'))
          AND (:all_offices OR s.street_office_id = ANY(:offices))
        GROUP BY s.id, so.name, com.name
        ORDER BY so.name NULLS LAST, s.kind DESC, s.road_name, s.id""",
        {"lanes": lanes, **office_scope(ids)},
    )
    frame.insert(
        2,
        "label",
        [
            segment_label(r, f, t)
            for r, f, t in zip(
                frame["road_name"], frame["from_name"], frame["to_name"], strict=True
            )
        ],
    )
    private = not actor.can("pii.read")
    if mask_phones or private:
        for col in ("head_phone", "supervisor_phone"):
            frame[col] = _mask_each(frame[col], mask_phone)
    if private:
        for col in ("head_name", "supervisor_name"):
            frame[col] = _mask_each(frame[col], mask_name)
    return frame


@dataclass(frozen=True)
class BoardsFile:
    """The notice boards as a file: its bytes and what they hold."""

    data: bytes
    fmt: BoardFormat
    lang: Lang
    n_boards: int
    n_vacant: int
    audit_id: int

    @property
    def file_name(self) -> str:
        """A name to save or download the file under."""
        return f"notice-boards-{self.lang}.{self.fmt}"

    @property
    def media_type(self) -> str:
        """The file's media type (for a download button)."""
        return MEDIA_TYPES[self.fmt]


def export_boards(
    conn: Connection,
    actor: Actor,
    *,
    fmt: BoardFormat,
    hotline: str,
    lang: Lang = "zh",
    street_office_ids: Iterable[int] | None = None,
    lanes: bool = False,
    mask_phones: bool = False,
    title: str | None = None,
    font_path: Path | str | None = DEFAULT_FONT,
) -> BoardsFile:
    """Build the notice boards for ``actor`` as an Excel workbook or a PDF, and audit it.

    Checks ``report.export`` in the offices asked for (all the actor's own when none
    are named), masks names and phones for actors without ``pii.read`` (phones for
    anyone with ``mask_phones``), and appends an ``export.boards`` row to the audit log
    in the caller's transaction, with the format, language and number of boards.
    ``title`` heads the street boards; ``lanes`` adds the lanes' boards (一巷一人).
    """
    if fmt not in MEDIA_TYPES:
        msg = f"notice boards come as xlsx or pdf, not {fmt!r}; choose one of those"
        raise DataError(msg)
    ids = None if street_office_ids is None else sorted({int(i) for i in street_office_ids})
    rows = board_rows(conn, actor, street_office_ids=ids, mask_phones=mask_phones, lanes=lanes)
    boards = make_boards(rows, hotline=hotline, lang=lang)
    if fmt == "xlsx":
        data = boards_excel(boards, title=title, lang=lang)
    else:
        data = boards_pdf(boards, title=title, lang=lang, font_path=font_path)
    n_vacant = int(rows["head_name"].isna().sum())
    audit_id = record(
        conn,
        actor,
        "export.boards",
        entity_type="notice_boards",
        entity_id=fmt,
        detail={
            "format": fmt,
            "language": lang,
            "count": len(boards),
            "vacant": n_vacant,
            "lanes": lanes,
            "masked_phones": mask_phones or not actor.can("pii.read"),
            "masked_names": not actor.can("pii.read"),
            "street_office_ids": ids,
        },
    )
    return BoardsFile(data, fmt, lang, len(boards), n_vacant, audit_id)
