"""``citygrid roads``: road centrelines and segments (defined with the grid commands)."""

from __future__ import annotations

from citygrid.cli.grid_cmd import roads as command

__all__ = ["command"]
