"""Reading files in chunks: GeoPackage, Shapefile, GeoJSON (pyogrio Arrow), CSV, XLSX.

Every reader yields :class:`RawChunk` objects of at most ``chunk_rows`` rows, so a
file of any size is read with flat memory. Attributes come as an Arrow table under
the file's own column names; geometries, when the format has them, as WKB.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from gis.errors import DataError

FileFormat = Literal["gpkg", "shp", "geojson", "csv", "xlsx"]

_SUFFIXES: dict[str, FileFormat] = {
    ".gpkg": "gpkg",
    ".shp": "shp",
    ".geojson": "geojson",
    ".json": "geojson",
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}
_NULLS = ["", "NULL", "null", "#N/A"]


@dataclass
class Source:
    """An opened input file: what it is and how to read it."""

    path: Path
    format: FileFormat
    columns: list[str]
    total_rows: int | None
    crs: str | None = None
    encoding: str | None = None
    layer: str | None = None
    geometry_type: str | None = None
    notes: list[str] = field(default_factory=list)
    header_row: int = 1
    gdal_path: str = ""
    delimiter: str = ","


@dataclass
class RawChunk:
    """Rows ``row_no`` of a file: attributes as Arrow, geometries as WKB (or None)."""

    table: pa.Table
    row_no: NDArray[np.int64]
    wkb: NDArray[np.object_] | None = None


def detect_format(path: Path) -> FileFormat:
    """The file's format from its name, checked against its first bytes."""
    suffix = path.suffix.lower()
    if suffix == ".xls":
        msg = f"{path.name} is an old-style Excel file (.xls); save it as .xlsx and load that"
        raise DataError(msg)
    if suffix == ".zip":
        return _zip_format(path)
    fmt = _SUFFIXES.get(suffix)
    if fmt is None:
        known = ", ".join(sorted({*_SUFFIXES, ".zip"}))
        msg = f"cannot load {path.name}: unknown file type {suffix or '(none)'}; use one of {known}"
        raise DataError(msg)
    with path.open("rb") as f:
        head = f.read(4096)
    expected = {
        "gpkg": head.startswith(b"SQLite format 3\x00"),
        "xlsx": head.startswith(b"PK\x03\x04"),
        "shp": head[:4] == b"\x00\x00\x27\x0a",
        "geojson": head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"),
        "csv": b"\x00" not in head,
    }[fmt]
    if not expected:
        what = {"gpkg": "a GeoPackage", "xlsx": "an Excel workbook", "shp": "a shapefile",
                "geojson": "GeoJSON", "csv": "a text (CSV) file"}[fmt]  # fmt: skip
        msg = f"{path.name} is not {what} although its name says so; check the file"
        raise DataError(msg)
    return fmt


def _zip_format(path: Path) -> FileFormat:
    try:
        names = zipfile.ZipFile(path).namelist()
    except zipfile.BadZipFile:
        msg = f"{path.name} is not a valid zip file"
        raise DataError(msg) from None
    shps = [n for n in names if n.lower().endswith(".shp")]
    gpkgs = [n for n in names if n.lower().endswith(".gpkg")]
    if len(shps) + len(gpkgs) != 1:
        msg = (
            f"{path.name} must hold exactly one shapefile or GeoPackage; it holds "
            f"{len(shps)} .shp and {len(gpkgs)} .gpkg files"
        )
        raise DataError(msg)
    return "shp" if shps else "gpkg"


def detect_encoding(sample: bytes) -> str | None:
    """``utf-8``, ``utf-8-sig`` or ``gb18030`` (a superset of GBK), or None if neither fits.

    >>> detect_encoding("道路".encode("gbk")), detect_encoding("道路".encode())
    ('gb18030', 'utf-8')
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for name in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(name)().decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        return name
    return None


def _dbf_sample(path: Path) -> bytes:
    """Header field names and the first records of a shapefile's .dbf (zipped or not)."""
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as z:
            dbf = next((n for n in z.namelist() if n.lower().endswith(".dbf")), None)
            if dbf is None:
                return b""
            with z.open(dbf) as f:
                return _dbf_bytes(f)
    dbf_path = _sibling(path, ".dbf")
    if dbf_path is None:
        return b""
    with dbf_path.open("rb") as f:
        return _dbf_bytes(f)


def _dbf_bytes(f: Any) -> bytes:
    head = f.read(32)
    if len(head) < 32:
        return b""
    header_len = int.from_bytes(head[8:10], "little")
    record_len = int.from_bytes(head[10:12], "little")
    fields = f.read(max(header_len - 32, 0))
    names = b"".join(fields[i : i + 11].split(b"\x00")[0] for i in range(0, len(fields) - 1, 32))
    records = f.read(min(record_len * 2000, 2_000_000))
    return names + b" " + records


def _sibling(path: Path, suffix: str) -> Path | None:
    for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
        if candidate.is_file():
            return candidate
    return None


def _has_cpg(path: Path) -> bool:
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as z:
            return any(n.lower().endswith(".cpg") for n in z.namelist())
    return _sibling(path, ".cpg") is not None


def open_source(
    path: Path,
    *,
    encoding: str | None = None,
    sheet: str | int | None = None,
    layer_hint: Sequence[str] = (),
    is_header: Callable[[Sequence[str]], bool] | None = None,
) -> Source:
    """Inspect ``path``: format, columns, row count, CRS and encoding."""
    if not path.is_file():
        msg = f"file not found: {path}"
        raise DataError(msg)
    fmt = detect_format(path)
    if fmt in {"gpkg", "shp", "geojson"}:
        return _open_gis(path, fmt, encoding=encoding, sheet=sheet, layer_hint=layer_hint)
    if fmt == "csv":
        return _open_csv(path, encoding=encoding)
    return _open_xlsx(path, sheet=sheet, is_header=is_header)


def _open_gis(
    path: Path,
    fmt: FileFormat,
    *,
    encoding: str | None,
    sheet: str | int | None,
    layer_hint: Sequence[str],
) -> Source:
    import pyogrio

    gdal_path = str(path)
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as z:
            member = next(n for n in z.namelist() if n.lower().endswith((".shp", ".gpkg")))
        gdal_path = f"/vsizip/{path}/{member}"
    notes: list[str] = []
    if fmt == "shp" and encoding is None and not _has_cpg(path):
        encoding = detect_encoding(_dbf_sample(path))
        if encoding is None:
            msg = (
                f"cannot tell the text encoding of {path.name} (no .cpg file, neither UTF-8 "
                "nor GBK); give it with --encoding, e.g. --encoding GBK"
            )
            raise DataError(msg)
        encoding = "UTF-8" if encoding.startswith("utf-8") else "GB18030"
        notes.append(f"no .cpg file: text encoding detected as {encoding}")
    try:
        layer = _choose_layer(pyogrio.list_layers(gdal_path), sheet, layer_hint, path.name)
        info = pyogrio.read_info(gdal_path, layer=layer, encoding=encoding)
    except DataError:
        raise
    except Exception as exc:
        msg = f"cannot read {path.name}: {str(exc).splitlines()[0]}"
        raise DataError(msg) from None
    total = int(info["features"])
    return Source(
        path=path,
        format=fmt,
        columns=[str(c) for c in info["fields"]],
        total_rows=total if total >= 0 else None,
        crs=info["crs"],
        encoding=encoding,
        layer=layer,
        geometry_type=info["geometry_type"],
        notes=notes,
        gdal_path=gdal_path,
    )


def _choose_layer(
    layers: Any, sheet: str | int | None, hints: Sequence[str], file_name: str
) -> str | None:
    names = [str(row[0]) for row in layers]
    if isinstance(sheet, int):
        if not 0 <= sheet < len(names):
            msg = f"{file_name} has {len(names)} layers; --sheet {sheet} is out of range"
            raise DataError(msg)
        return names[sheet]
    if sheet is not None:
        if sheet not in names:
            msg = f"{file_name} has no layer {sheet!r}; its layers are: {', '.join(names)}"
            raise DataError(msg)
        return sheet
    if len(names) <= 1:
        return names[0] if names else None
    for hint in hints:
        if hint in names:
            return hint
    msg = f"{file_name} has several layers ({', '.join(names)}); choose one with --sheet NAME"
    raise DataError(msg)


def _open_csv(path: Path, *, encoding: str | None) -> Source:
    with path.open("rb") as f:
        sample = f.read(1 << 20)
    notes: list[str] = []
    if encoding is None:
        encoding = detect_encoding(sample)
        if encoding is None:
            msg = (
                f"cannot tell the text encoding of {path.name} (neither UTF-8 nor GBK); "
                "give it with --encoding"
            )
            raise DataError(msg)
        if encoding == "gb18030":
            notes.append("text encoding detected as GBK/GB18030")
    try:
        text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample, final=False)
    except LookupError:
        msg = f"unknown text encoding {encoding!r}; use e.g. UTF-8 or GBK"
        raise DataError(msg) from None
    first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    if not first.strip():
        msg = f"{path.name} is empty or its first line is blank; the first line must be the header"
        raise DataError(msg)
    delimiter = max(",\t;|", key=first.count)
    header = next(csv.reader([first], delimiter=delimiter))
    with path.open("rb") as f:
        lines = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 24), b""))
    if not text.endswith("\n"):
        lines += 1
    return Source(
        path=path,
        format="csv",
        columns=_dedupe([h.strip() for h in header]),
        total_rows=max(lines - 1, 0),
        encoding=encoding,
        notes=notes,
        delimiter=delimiter,
    )


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, raw in enumerate(names):
        name = raw or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def _open_xlsx(
    path: Path, *, sheet: str | int | None, is_header: Callable[[Sequence[str]], bool] | None
) -> Source:
    ws, wb, sheet_name = _worksheet(path, sheet)
    try:
        header_row, header = 0, []
        first_nonempty: tuple[int, list[str]] | None = None
        for i, row in enumerate(ws.iter_rows(max_row=20, values_only=True), start=1):
            cells = [_cell_text(v) or "" for v in row]
            if not any(cells):
                continue
            if first_nonempty is None:
                first_nonempty = (i, cells)
            if is_header is None or is_header(cells):
                header_row, header = i, cells
                break
        if not header_row and first_nonempty is not None:
            header_row, header = first_nonempty
        if not header_row:
            msg = f"sheet {sheet_name!r} of {path.name} is empty"
            raise DataError(msg)
        while header and not header[-1]:
            header.pop()
        total = ws.max_row - header_row if ws.max_row else None
    finally:
        wb.close()
    return Source(
        path=path,
        format="xlsx",
        columns=_dedupe([h.strip() for h in header]),
        total_rows=total,
        layer=sheet_name,
        header_row=header_row,
    )


def _worksheet(path: Path, sheet: str | int | None) -> tuple[Any, Any, str]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        msg = f"cannot open {path.name} as an Excel workbook: {exc}"
        raise DataError(msg) from None
    names = list(wb.sheetnames)
    if sheet is None:
        name = names[0]
    elif isinstance(sheet, int):
        if not 0 <= sheet < len(names):
            wb.close()
            msg = f"{path.name} has {len(names)} sheets; --sheet {sheet} is out of range"
            raise DataError(msg)
        name = names[sheet]
    elif sheet in names:
        name = sheet
    else:
        wb.close()
        msg = f"{path.name} has no sheet {sheet!r}; its sheets are: {', '.join(names)}"
        raise DataError(msg)
    return wb[name], wb, name


def _cell_text(value: Any) -> str | None:
    """Excel cell values as the text a person sees (no '.0' on whole numbers)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def iter_chunks(source: Source, *, chunk_rows: int) -> Iterator[RawChunk]:
    """Yield the file's rows in chunks of at most ``chunk_rows``."""
    if source.format in {"gpkg", "shp", "geojson"}:
        yield from _gis_chunks(source, chunk_rows)
    elif source.format == "csv":
        yield from _csv_chunks(source, chunk_rows)
    else:
        yield from _xlsx_chunks(source, chunk_rows)


def _gis_chunks(source: Source, chunk_rows: int) -> Iterator[RawChunk]:
    from pyogrio.raw import open_arrow

    start = 1
    try:
        with open_arrow(
            source.gdal_path,
            layer=source.layer,
            encoding=source.encoding,
            batch_size=chunk_rows,
            use_pyarrow=True,
        ) as (meta, reader):
            geom_name = meta.get("geometry_name") or "wkb_geometry"
            for batch in reader:
                table = pa.Table.from_batches([batch])
                wkb = None
                if geom_name in table.column_names:
                    wkb = np.asarray(
                        table.column(geom_name).to_numpy(zero_copy_only=False), dtype=object
                    )
                    table = table.drop_columns([geom_name])
                n = table.num_rows
                yield RawChunk(table, np.arange(start, start + n, dtype=np.int64), wkb)
                start += n
    except UnicodeDecodeError:
        msg = (
            f"{source.path.name}: text is not in the expected encoding "
            f"({source.encoding or 'from the .cpg file'}); give the right one with --encoding"
        )
        raise DataError(msg) from None


def _csv_chunks(source: Source, chunk_rows: int) -> Iterator[RawChunk]:
    import pyarrow.csv as pacsv

    names = source.columns
    read = pacsv.ReadOptions(
        column_names=names,
        skip_rows=1,
        encoding=source.encoding or "utf-8",
        block_size=1 << 20,  # larger blocks make pyarrow read hundreds of MB ahead
    )
    parse = pacsv.ParseOptions(
        delimiter=source.delimiter, newlines_in_values=True, ignore_empty_lines=False
    )
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        null_values=_NULLS,
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    line = 2  # the header is line 1
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    try:
        reader = pacsv.open_csv(
            source.path, read_options=read, parse_options=parse, convert_options=convert
        )
        for batch in reader:
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= chunk_rows:
                table = pa.Table.from_batches(pending)
                pending, pending_rows = [], 0
                for offset in range(0, table.num_rows, chunk_rows):
                    part = table.slice(offset, chunk_rows)
                    chunk = _drop_blank_rows(part, line)
                    line += part.num_rows
                    if chunk is not None:
                        yield chunk
        if pending:
            table = pa.Table.from_batches(pending)
            chunk = _drop_blank_rows(table, line)
            if chunk is not None:
                yield chunk
    except pa.ArrowInvalid as exc:
        text = str(exc).splitlines()[0]
        msg = f"{source.path.name} is not a well-formed CSV file: {text}"
        raise DataError(msg) from None
    except UnicodeDecodeError:
        msg = (
            f"{source.path.name} is not valid {source.encoding} text throughout; "
            "give the right encoding with --encoding"
        )
        raise DataError(msg) from None


def _drop_blank_rows(table: pa.Table, first_line: int) -> RawChunk | None:
    row_no = np.arange(first_line, first_line + table.num_rows, dtype=np.int64)
    if table.num_columns == 0 or table.num_rows == 0:
        return None
    blank = np.ones(table.num_rows, dtype=bool)
    for col in table.columns:
        blank &= np.asarray(
            pc.or_kleene(pc.is_null(col), pc.equal(pc.utf8_trim_whitespace(col), "")).fill_null(
                True
            )
        )
    if blank.all():
        return None
    if blank.any():
        keep = ~blank
        return RawChunk(table.filter(pa.array(keep)), row_no[keep])
    return RawChunk(table, row_no)


def _xlsx_chunks(source: Source, chunk_rows: int) -> Iterator[RawChunk]:
    ws, wb, _ = _worksheet(source.path, source.layer)
    ncols = len(source.columns)
    try:
        rows: list[list[str | None]] = []
        numbers: list[int] = []
        for i, row in enumerate(
            ws.iter_rows(min_row=source.header_row + 1, values_only=True),
            start=source.header_row + 1,
        ):
            cells = [_cell_text(v) for v in row[:ncols]]
            if not any(c is not None for c in cells):
                continue
            cells.extend([None] * (ncols - len(cells)))
            rows.append(cells)
            numbers.append(i)
            if len(rows) >= chunk_rows:
                yield _xlsx_chunk(source.columns, rows, numbers)
                rows, numbers = [], []
        if rows:
            yield _xlsx_chunk(source.columns, rows, numbers)
    finally:
        wb.close()


def _xlsx_chunk(columns: list[str], rows: list[list[str | None]], numbers: list[int]) -> RawChunk:
    data = {name: pa.array([r[j] for r in rows], pa.string()) for j, name in enumerate(columns)}
    return RawChunk(pa.table(data), np.asarray(numbers, dtype=np.int64))


def sha256_of(path: Path) -> tuple[str, int]:
    """Hex SHA-256 and size of a file (read in blocks: flat memory)."""
    import hashlib

    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size
