"""Which file column is which: default aliases, user mappings and mapping files.

Headers are compared after Unicode NFKC normalisation, lower-casing and removing
spaces and punctuation, so ``Case No.``, ``case_no`` and ``CASE-NO`` are one name and
full-width ``ＩＤ`` is ``id``.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from etl.contract import GEOMETRY_ALIASES, LAT_ALIASES, LON_ALIASES, LayerSpec
from gis.errors import DataError

_SEPARATORS = re.compile(r"[\s_\-./()（）:：,，、#]+")


def normalise_header(name: str) -> str:
    """A header reduced to what identifies it.

    >>> normalise_header(" Case No. "), normalise_header("经度（°）")
    ('caseno', '经度°')
    """
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", str(name)).strip().lower())


@dataclass(frozen=True)
class ColumnMap:
    """How one file's columns feed a layer's canonical columns."""

    columns: dict[str, str]  # canonical -> file column
    geometry_column: str | None = None  # WKT/WKB text column of a tabular file
    ignored: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def has(self, name: str) -> bool:
        return name in self.columns


def accepted_headers(spec: LayerSpec) -> dict[str, tuple[str, ...]]:
    """canonical name -> accepted headers (canonical first), in the spec's order."""
    out = {c.name: (c.name, *c.aliases) for c in spec.columns}
    if spec.geometry is not None:
        if spec.geometry.lonlat:
            out.setdefault("lon", LON_ALIASES)
            out.setdefault("lat", LAT_ALIASES)
        out["geometry"] = GEOMETRY_ALIASES
    return {name: tuple(dict.fromkeys((name, *headers))) for name, headers in out.items()}


def header_matcher(spec: LayerSpec) -> set[str]:
    """Every normalised header that means something for ``spec`` (finds header rows)."""
    return {normalise_header(a) for names in accepted_headers(spec).values() for a in names}


def resolve_columns(
    spec: LayerSpec,
    file_columns: Sequence[str],
    *,
    mapping: Mapping[str, str] | None = None,
    file_has_geometry: bool = False,
    file_name: str = "the file",
) -> ColumnMap:
    """Match ``file_columns`` to the canonical columns of ``spec``.

    ``mapping`` (file column -> canonical column) wins over the default aliases.
    Raises :class:`DataError` naming the missing column, the file's columns and the
    ``--map`` option that fixes it.
    """
    targets = accepted_headers(spec)
    by_norm: dict[str, list[str]] = {}
    for col in file_columns:
        by_norm.setdefault(normalise_header(col), []).append(col)
    listing = ", ".join(file_columns) or "(none)"
    chosen: dict[str, str] = {}
    used: set[str] = set()
    for src, dst in (mapping or {}).items():
        if dst not in targets:
            msg = (
                f"--map {src}={dst}: {dst!r} is not a column of layer {spec.name}; "
                f"its columns are: {', '.join(targets)}"
            )
            raise DataError(msg)
        actual = src if src in file_columns else _single(by_norm.get(normalise_header(src), []))
        if actual is None:
            msg = (
                f"--map {src}={dst}: {file_name} has no column {src!r}; its columns are: {listing}"
            )
            raise DataError(msg)
        if dst in chosen:
            msg = f"--map gives two columns for {dst!r}: {chosen[dst]!r} and {actual!r}; keep one"
            raise DataError(msg)
        chosen[dst] = actual
        used.add(actual)
    for name, accepted in targets.items():
        if name in chosen:
            continue
        for alias in accepted:
            candidates = [c for c in by_norm.get(normalise_header(alias), []) if c not in used]
            if len(candidates) > 1:
                msg = (
                    f"{file_name} has several columns that could be {name!r}: "
                    f"{', '.join(candidates)}; choose one with --map {candidates[0]}={name}"
                )
                raise DataError(msg)
            if candidates:
                chosen[name] = candidates[0]
                used.add(candidates[0])
                break
    geometry_column = chosen.pop("geometry", None)
    if file_has_geometry:
        geometry_column = None
    _check_required(spec, chosen, targets, listing, file_name)
    if spec.geometry is not None and spec.geometry.required and not file_has_geometry:
        has_points = "lon" in chosen and "lat" in chosen
        if geometry_column is None and not has_points:
            lon = next((c for c in ("lon", "lat") if c not in chosen), "lon")
            looked = "/".join(targets.get(lon, (lon,))[:8])
            msg = (
                f"{file_name} has no geometry and no coordinate column `{lon}` (looked for "
                f"{looked}); columns are: {listing}; map one with --map 经度=lon --map 纬度=lat"
            )
            raise DataError(msg)
    ignored = tuple(c for c in file_columns if c not in used and c != geometry_column)
    return ColumnMap(columns=chosen, geometry_column=geometry_column, ignored=ignored)


def _single(items: list[str]) -> str | None:
    return items[0] if len(items) == 1 else None


def _check_required(
    spec: LayerSpec,
    chosen: dict[str, str],
    targets: dict[str, tuple[str, ...]],
    listing: str,
    file_name: str,
) -> None:
    for name in spec.required:
        if name not in chosen:
            looked = ", ".join(targets[name])
            example = next((a for a in targets[name] if not a.isascii()), name)
            msg = (
                f"column `{name}` not found in {file_name} (looked for {looked}); columns are: "
                f"{listing}; map one with --map {example}={name}"
            )
            raise DataError(msg)


def read_mapping_file(path: Path, *, layer: str) -> dict[str, str]:
    """Column mapping from a TOML file.

    Accepted shapes: top-level ``"经度" = "lon"`` pairs, a ``[columns]`` table, and a
    table named after the layer (``[problems]``); later ones win.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        msg = f"mapping file not found: {path}"
        raise DataError(msg) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"mapping file {path.name} is not valid UTF-8 TOML: {exc}"
        raise DataError(msg) from None
    out: dict[str, str] = {}
    for part in (
        {k: v for k, v in data.items() if not isinstance(v, dict)},
        data.get("columns", {}),
        data.get(layer, {}),
    ):
        for src, dst in part.items():
            if not isinstance(dst, str):
                msg = (
                    f"mapping file {path.name}: {src!r} must map to a column name (text), "
                    f"got {dst!r}"
                )
                raise DataError(msg)
            out[str(src)] = dst
    return out


def parse_map_options(items: Sequence[str]) -> dict[str, str]:
    """``["经度=lon", ...]`` from the command line as a mapping."""
    out: dict[str, str] = {}
    for item in items:
        src, sep, dst = item.partition("=")
        if not sep or not src.strip() or not dst.strip():
            msg = f"--map {item!r}: write it as FILE_COLUMN=LAYER_COLUMN, e.g. --map 经度=lon"
            raise DataError(msg)
        out[src.strip()] = dst.strip()
    return out
