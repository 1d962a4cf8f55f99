"""Run the doctests of db modules that are pure (no database needed)."""

from __future__ import annotations

import doctest

import db.access


def test_access_doctests() -> None:
    result = doctest.testmod(db.access)
    assert result.attempted > 0
    assert result.failed == 0
