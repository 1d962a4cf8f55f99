"""Street-head assignments in PostGIS: the state, changes, undo and notice boards.

One place to import them from. The work is done, by concept, in
:mod:`db.queries.assignment_state` (reading, rule checks, suggestions),
:mod:`db.queries.assignment_changes` (the one write path: change sets, audit, undo,
history), :mod:`db.queries.assignment_writes` (the write API) and
:mod:`db.queries.assignment_boards` (notice boards and their audited export).
"""

from __future__ import annotations

from db.queries.assignment_boards import BoardsFile, board_rows, export_boards
from db.queries.assignment_changes import (
    ChangeResult,
    NewRow,
    Slot,
    history,
    lane_head_slot,
    segments_info,
    street_head_slot,
    undo,
)
from db.queries.assignment_state import (
    ACTIVE,
    CRS,
    AssignmentState,
    check,
    level3_heads,
    load_state,
    office_heads,
    suggest,
)
from db.queries.assignment_writes import (
    apply_suggestion,
    appoint_office_head,
    assign_lane_head,
    assign_street_head,
    end_head,
    end_office_head,
    set_supervisor,
)

__all__ = [
    "ACTIVE",
    "CRS",
    "AssignmentState",
    "BoardsFile",
    "ChangeResult",
    "NewRow",
    "Slot",
    "apply_suggestion",
    "appoint_office_head",
    "assign_lane_head",
    "assign_street_head",
    "board_rows",
    "check",
    "end_head",
    "end_office_head",
    "export_boards",
    "history",
    "lane_head_slot",
    "level3_heads",
    "load_state",
    "office_heads",
    "segments_info",
    "set_supervisor",
    "street_head_slot",
    "suggest",
    "undo",
]
