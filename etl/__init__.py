"""Data in: read the files planners have, check every row, load them into PostGIS.

``load_file`` (in :mod:`etl.load`) is the one entry point; :data:`etl.specs.LAYERS`
holds the contract of each layer. Both are imported lazily so that importing a
submodule stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LAYERS", "LoadReport", "load_file"]


def __getattr__(name: str) -> Any:
    if name in {"LoadReport", "load_file"}:
        from etl import load

        return getattr(load, name)
    if name == "LAYERS":
        from etl.specs import LAYERS

        return LAYERS
    raise AttributeError(name)
