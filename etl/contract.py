"""The contract of a loadable layer: columns, geometry rule, natural key, update rules.

:mod:`etl.specs` holds one :class:`LayerSpec` per layer; everything in the shared load
path reads only these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["text", "code", "int", "float", "date", "datetime", "choice"]
GeometryKind = Literal["point", "line", "polygon", "polygon_or_point"]
Scope = Literal["global", "street_office"]

#: Headers that hold coordinates or a geometry in tabular files (CSV, XLSX).
LON_ALIASES = (
    "lon",
    "lng",
    "long",
    "longitude",
    "x",
    "point_x",
    "经度",
    "x坐标",
    "横坐标",
    "东坐标",
)
LAT_ALIASES = ("lat", "latitude", "y", "point_y", "纬度", "y坐标", "纵坐标", "北坐标")
GEOMETRY_ALIASES = ("geometry", "geom", "wkt", "the_geom", "shape", "几何", "空间信息", "wkb")


@dataclass(frozen=True)
class Column:
    """A canonical column of a layer.

    ``choices`` maps accepted spellings (lower-cased) to the stored value; ``pattern``
    is a regular expression the cleaned value must match in full; ``pad_to`` right-pads
    all-digit codes with zeros (a 6- or 9-digit division code is a 12-digit one).
    """

    name: str
    kind: Kind = "text"
    required: bool = False
    aliases: tuple[str, ...] = ()
    max_len: int | None = None
    pattern: str | None = None
    pad_to: int | None = None
    choices: Mapping[str, str] | None = None
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""


@dataclass(frozen=True)
class GeometryRule:
    """What geometry a layer takes and how it is stored."""

    kind: GeometryKind
    required: bool = True
    multi: bool = False  # the column is MULTI*: single parts are promoted
    lonlat: bool = True  # tabular files may give a point as lon/lat columns
    column: str = "geom"


@dataclass(frozen=True)
class LayerSpec:
    """The shared contract of one loadable layer."""

    name: str
    table: str
    label_zh: str
    label_en: str
    columns: tuple[Column, ...]
    natural_key: str
    geometry: GeometryRule | None = None
    output: tuple[str, ...] = ()
    depends: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    scope: Scope = "street_office"
    fixed: Mapping[str, str] = field(default_factory=dict)
    derive: tuple[str, ...] = ()

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def provided(self, given: set[str]) -> set[str]:
        """Output columns a file with canonical columns ``given`` sets on existing rows.

        ``given`` may hold ``"geometry"``. An output column is set from the file when
        it is given, when a column it ``depends`` on is given, when it is fixed, or
        when it is derived from what every row has; otherwise an existing row keeps
        its value (or takes the file's default when it had none).
        """
        canonical = {c.name for c in self.columns}
        given = given | set(self.fixed)
        out = set()
        for col in self.output:
            if col == self.geometry_column:
                deps: tuple[str, ...] | None = ("geometry",)
            elif col in self.depends:
                deps = self.depends[col]
            elif col in canonical:
                deps = (col,)
            else:
                deps = None
            if deps is None or any(d in given for d in deps):
                out.add(col)
        return out

    @property
    def geometry_column(self) -> str | None:
        """The target table's geometry column, if the layer has geometry."""
        return self.geometry.column if self.geometry is not None else None

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the columns a file must provide."""
        return tuple(c.name for c in self.columns if c.required)
