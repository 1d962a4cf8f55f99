"""Checking an uploaded file before anything reads it: size, and its real type.

The app's data page hands over the file's name, size and first bytes (the whole file
is best: then a zip's directory can be read too). The type is told from the bytes
(magic numbers), never from the name alone, and a name that claims another type is
refused, as is a file over the size limit. Nothing here opens the file with a parser.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import Literal

from citygrid.settings import get_settings
from gis.errors import DataError

UploadType = Literal["xlsx", "csv", "geojson", "gpkg", "shp_zip", "gpkg_zip"]
UPLOAD_TYPES: tuple[UploadType, ...] = ("xlsx", "csv", "geojson", "gpkg", "shp_zip", "gpkg_zip")

#: How many bytes of a file :func:`check_upload` wants at least (the whole file is better).
HEAD_BYTES = 64 * 1024
#: A zip may unpack to at most this many times the upload limit (a guard against zip bombs).
UNZIP_RATIO = 20

_LABELS: dict[str, str] = {
    "xlsx": "an Excel workbook (.xlsx)",
    "csv": "a CSV text file",
    "geojson": "GeoJSON",
    "gpkg": "a GeoPackage (.gpkg)",
    "shp_zip": "a zipped shapefile (.zip)",
    "gpkg_zip": "a zipped GeoPackage (.zip)",
}
_SUFFIX_TYPES: dict[str, tuple[UploadType, ...]] = {
    ".xlsx": ("xlsx",),
    ".xlsm": ("xlsx",),
    ".csv": ("csv",),
    ".txt": ("csv",),
    ".tsv": ("csv",),
    ".geojson": ("geojson",),
    ".json": ("geojson",),
    ".gpkg": ("gpkg",),
    ".zip": ("shp_zip", "gpkg_zip"),
}
#: The suffix to save an accepted upload under, so that ``etl.readers`` reads it right.
SAVE_SUFFIX: dict[UploadType, str] = {
    "xlsx": ".xlsx",
    "csv": ".csv",
    "geojson": ".geojson",
    "gpkg": ".gpkg",
    "shp_zip": ".zip",
    "gpkg_zip": ".zip",
}
_FOREIGN_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-style Excel (.xls) or password-protected file"),
    (b"%PDF", "a PDF document"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\xff\xfe", "UTF-16 text"),
    (b"\xfe\xff", "UTF-16 text"),
    (b"\x00\x00\x27\x0a", "a bare .shp file"),
)
_FIXES: dict[str, str] = {
    "an old-style Excel (.xls) or password-protected file": (
        "open it in Excel and save it as .xlsx without a password"
    ),
    "UTF-16 text": "save it as CSV UTF-8",
    "a bare .shp file": "zip the .shp with its .shx, .dbf, .prj (and .cpg) and upload the .zip",
}
_MARKUP = re.compile(rb"\s*<(\?xml|!doctype|html|svg|kml|script)", re.IGNORECASE)
_GPKG_IDS = {b"GPKG", b"GP10", b"GP11", b"\x00\x00\x00\x00"}


@dataclass(frozen=True)
class UploadCheck:
    """An accepted upload: its shown name, real type, size and the suffix to save it under."""

    name: str
    type: UploadType
    size_bytes: int
    suffix: str
    zip_members: tuple[str, ...] = field(default=())


def check_upload(
    name: str,
    size_bytes: int,
    head: bytes,
    *,
    max_mb: float | None = None,
    allowed_types: Collection[UploadType] | None = None,
) -> UploadCheck:
    """Refuse an upload that is too big, of a type not taken here, or not what its name says.

    ``head`` is the file's first bytes (at least :data:`HEAD_BYTES`, or all of it);
    ``max_mb`` defaults to ``CITYGRID_MAX_UPLOAD_MB``; ``allowed_types`` (default: every
    type) are the :data:`UPLOAD_TYPES` the caller takes.

    >>> check_upload("roster.csv", 13, "姓名,电话\\n".encode()).type
    'csv'
    >>> check_upload("roster.xlsx", 13, "姓名,电话\\n".encode())
    Traceback (most recent call last):
    ...
    gis.errors.DataError: roster.xlsx is named .xlsx but holds a CSV text file; rename it to .csv, or export it again as .xlsx
    """
    shown = _base_name(name)
    limit_mb = float(get_settings().max_upload_mb if max_mb is None else max_mb)
    allowed = tuple(UPLOAD_TYPES if allowed_types is None else allowed_types)
    unknown = [t for t in allowed if t not in UPLOAD_TYPES]
    if unknown:
        msg = f"unknown upload type(s) {unknown}; use some of {list(UPLOAD_TYPES)}"
        raise ValueError(msg)
    if size_bytes <= 0 or not head:
        msg = f"{shown} is empty; choose the file again"
        raise DataError(msg)
    if size_bytes > limit_mb * 1024 * 1024:
        msg = (
            f"{shown} is {size_bytes / 1024 / 1024:.1f} MB; the limit is {limit_mb:g} MB "
            "(CITYGRID_MAX_UPLOAD_MB): split the file, or ask an administrator to raise the limit"
        )
        raise DataError(msg)
    suffix = _suffix(shown)
    expected = _expected_types(shown, suffix, allowed)
    detected, members = _sniff(shown, size_bytes, head, limit_mb)
    if detected not in expected:
        msg = _mismatch(shown, suffix, detected)
        raise DataError(msg)
    if detected not in allowed:
        msg = f"{shown} is {_LABELS[detected]}, but this page takes {_listing(allowed)}"
        raise DataError(msg)
    return UploadCheck(shown, detected, size_bytes, SAVE_SUFFIX[detected], members)


def _base_name(name: str) -> str:
    # Browsers send a bare name, but nothing stops a client sending a path: keep the last
    # part (of a POSIX or a Windows path) and drop characters that cannot be shown.
    base = PureWindowsPath(PurePosixPath(str(name)).name).name
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:200] or "(unnamed file)"


def _suffix(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def _listing(types: Collection[str]) -> str:
    return " or ".join(_LABELS[t] for t in types)


def _expected_types(
    name: str, suffix: str, allowed: tuple[UploadType, ...]
) -> tuple[UploadType, ...]:
    if suffix == ".xls":
        msg = f"{name} is an old-style Excel file (.xls); save it as .xlsx and upload that"
        raise DataError(msg)
    if suffix == ".shp":
        msg = f"{name} is only one part of a shapefile; {_FIXES['a bare .shp file']}"
        raise DataError(msg)
    types = _SUFFIX_TYPES.get(suffix)
    if types is None:
        known = ", ".join(sorted(_SUFFIX_TYPES))
        msg = f"{name}: files ending {suffix or '(no extension)'} cannot be loaded; use one of {known}"
        raise DataError(msg)
    if not set(types) & set(allowed):
        msg = f"{name} is named as {_LABELS[types[0]]}, but this page takes {_listing(allowed)}"
        raise DataError(msg)
    return types


def _mismatch(name: str, suffix: str, detected: str) -> str:
    what = _LABELS.get(detected, detected)
    right = SAVE_SUFFIX.get(detected)  # type: ignore[call-overload]
    if right is None:
        fix = _FIXES.get(detected, "upload a data file (.xlsx, .csv, .geojson, .gpkg or .zip)")
        return f"{name} is named {suffix} but is {what}; {fix}"
    return (
        f"{name} is named {suffix} but holds {what}; rename it to {right}, or export it "
        f"again as {suffix}"
    )


def _sniff(name: str, size: int, head: bytes, limit_mb: float) -> tuple[str, tuple[str, ...]]:
    """The real type from the first bytes, or a description of what the file is instead."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        members = _zip_members(name, head, complete=len(head) >= size, limit_mb=limit_mb)
        return _zip_kind(members), members
    if head.startswith(b"SQLite format 3\x00"):
        app_id = head[68:72]
        if len(app_id) == 4 and app_id not in _GPKG_IDS:
            return "an SQLite database that is not a GeoPackage", ()
        return "gpkg", ()
    for magic, what in _FOREIGN_MAGIC:
        if head.startswith(magic):
            return what, ()
    if b"\x00" in head:
        return "a binary file of unknown type", ()
    text = head.removeprefix(b"\xef\xbb\xbf")
    if not _decodes(text):
        return "a file in an unknown text encoding (neither UTF-8 nor GBK)", ()
    if _MARKUP.match(text):
        return "an HTML or XML document", ()
    stripped = text.lstrip()
    if stripped.startswith(b"{"):
        return "geojson", ()
    if stripped.startswith(b"["):
        return "a JSON list (GeoJSON must start with '{')", ()
    return "csv", ()


def _decodes(text: bytes) -> bool:
    import codecs

    for encoding in ("utf-8", "gb18030"):
        try:
            # final=False: the head may end in the middle of a character
            codecs.getincrementaldecoder(encoding)().decode(text, final=False)
        except UnicodeDecodeError:
            continue
        return True
    return False


def _zip_kind(members: tuple[str, ...]) -> str:
    lower = [m.lower() for m in members]
    if "[content_types].xml" in lower or any(m.startswith("xl/") for m in lower):
        return "xlsx"
    if any(m.startswith("word/") for m in lower):
        return "a Word document"
    if any(m.startswith("ppt/") for m in lower):
        return "a PowerPoint document"
    shps = [m for m in lower if m.endswith(".shp")]
    gpkgs = [m for m in lower if m.endswith(".gpkg")]
    if len(shps) + len(gpkgs) > 1:
        return f"a zip with {len(shps)} shapefiles and {len(gpkgs)} GeoPackages (one is taken)"
    if shps:
        return "shp_zip"
    if gpkgs:
        return "gpkg_zip"
    if any(m.startswith(("docprops/", "_rels/")) for m in lower):
        return "xlsx"  # an Office package whose workbook parts lie beyond the bytes given
    return "a zip that holds neither a shapefile nor a GeoPackage"


def _zip_members(name: str, head: bytes, *, complete: bool, limit_mb: float) -> tuple[str, ...]:
    if not complete:
        return _local_headers(head)
    try:
        with zipfile.ZipFile(io.BytesIO(head)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError):
        msg = f"{name} is a damaged zip file; create it again"
        raise DataError(msg) from None
    unpacked = sum(i.file_size for i in infos)
    if unpacked > UNZIP_RATIO * limit_mb * 1024 * 1024:
        msg = (
            f"{name} would unpack to {unpacked / 1024 / 1024:,.0f} MB, more than {UNZIP_RATIO} "
            f"times the {limit_mb:g} MB upload limit; upload the data unzipped or in parts"
        )
        raise DataError(msg)
    return tuple(i.filename for i in infos)


def _local_headers(head: bytes) -> tuple[str, ...]:
    """Member names from the local file headers that lie within ``head``."""
    names: list[str] = []
    pos = 0
    while head.startswith(b"PK\x03\x04", pos) and pos + 30 <= len(head):
        flags, comp_size, name_len, extra_len = struct.unpack_from("<6xH10xI4xHH", head, pos)
        raw = head[pos + 30 : pos + 30 + name_len]
        names.append(raw.decode("utf-8" if flags & 0x800 else "cp437", errors="replace"))
        if flags & 0x08 or comp_size == 0xFFFFFFFF:
            break  # sizes follow the data (streamed or zip64): the next header is unknown
        pos += 30 + name_len + extra_len + comp_size
    return tuple(names)
