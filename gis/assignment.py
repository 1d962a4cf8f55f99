"""Street-head assignment (街长制): rule checks and balanced, connected suggestions.

Two pure halves, one module each: :mod:`gis.assignment_rules` lists every violation
of the rules a street office's assignments must satisfy (:func:`check_rules`), and
:mod:`gis.assignment_suggestion` proposes a head for every segment so that each
head's segments are connected and workloads balanced (:func:`suggest_heads`). This
module gathers their public names, which is where callers import them from.
"""

from __future__ import annotations

from gis.assignment_rules import (
    LEVEL3_ROLES,
    RULE_KINDS,
    RULES,
    VIOLATION_COLUMNS,
    Severity,
    check_rules,
    describe_counts,
    require_columns,
    violation_counts,
)
from gis.assignment_suggestion import Suggestion, suggest_heads, workload
from gis.segments import segment_label

__all__ = [
    "LEVEL3_ROLES",
    "RULES",
    "RULE_KINDS",
    "VIOLATION_COLUMNS",
    "Severity",
    "Suggestion",
    "check_rules",
    "describe_counts",
    "require_columns",
    "segment_label",
    "suggest_heads",
    "violation_counts",
    "workload",
]
