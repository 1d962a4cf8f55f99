"""Upload checks (etl.uploads): real type from the bytes, names that lie, size limits."""

from __future__ import annotations

import io
import sqlite3
import zipfile
from pathlib import Path

import openpyxl
import pytest

from etl.uploads import HEAD_BYTES, check_upload
from gis.errors import DataError

CSV = "姓名,电话,路段\n王小明,13812345678,东四北大街（东四十条—张自忠路）\n".encode()
GEOJSON = b'{"type": "FeatureCollection", "features": []}'


def _xlsx() -> bytes:
    wb = openpyxl.Workbook()
    wb.active.append(["姓名", "电话"])
    wb.active.append(["<script>alert(1)</script>", "13812345678"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _gpkg(tmp_path: Path, application_id: int = 0x47504B47) -> bytes:
    path = tmp_path / f"{application_id}-{len(list(tmp_path.iterdir()))}.gpkg"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA application_id = {application_id}")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    return path.read_bytes()


def check(name: str, data: bytes, **kw: object):  # type: ignore[no-untyped-def]
    return check_upload(name, len(data), data, **kw)  # type: ignore[arg-type]


def test_each_real_type_is_recognised(tmp_path: Path) -> None:
    shp = _zip({"roads.shp": b"\x00\x00\x27\x0a" + bytes(96), "roads.dbf": b"", "roads.shx": b""})
    cases = {
        "名册.xlsx": (_xlsx(), "xlsx", ".xlsx"),
        "名册.csv": (CSV, "csv", ".csv"),
        "bom.csv": (b"\xef\xbb\xbf" + CSV, "csv", ".csv"),
        "gbk.csv": ("姓名,电话\n王小明,1\n".encode("gbk"), "csv", ".csv"),
        "cells.geojson": (GEOJSON, "geojson", ".geojson"),
        "cells.json": (b"\n  " + GEOJSON, "geojson", ".geojson"),
        "cells.gpkg": (_gpkg(tmp_path), "gpkg", ".gpkg"),
        "roads.zip": (shp, "shp_zip", ".zip"),
        "cells.zip": (_zip({"cells.gpkg": _gpkg(tmp_path)}), "gpkg_zip", ".zip"),
    }
    for name, (data, kind, suffix) in cases.items():
        result = check(name, data)
        assert (result.name, result.type, result.suffix) == (name, kind, suffix), name


def test_a_workbook_is_known_from_its_first_bytes_alone() -> None:
    data = _xlsx()
    assert check_upload("名册.xlsx", len(data), data[:HEAD_BYTES]).type == "xlsx"
    assert check_upload("名册.xlsx", len(data), data[:200]).type == "xlsx"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("名册.xlsx", CSV, "named .xlsx but holds a CSV text file; rename it to .csv"),
        ("名册.csv", _xlsx(), "named .csv but holds an Excel workbook (.xlsx); rename it to .xlsx"),
        ("cells.geojson", CSV, "named .geojson but holds a CSV text file"),
        ("data.csv", GEOJSON, "named .csv but holds GeoJSON; rename it to .geojson"),
        ("roads.zip", _xlsx(), "named .zip but holds an Excel workbook"),
        ("名册.xlsx", _zip({"roads.shp": b""}), "holds a zipped shapefile"),
        ("cells.gpkg", CSV, "named .gpkg but holds a CSV text file"),
        ("名册.csv", b"%PDF-1.7\n...", "is a PDF document"),
        ("名册.xlsx", b"MZ\x90\x00" + bytes(60), "is a Windows program"),
        ("名册.csv", b"\xff\xfe" + "姓名".encode("utf-16-le"), "save it as CSV UTF-8"),
        ("page.csv", b"<!DOCTYPE html><html><script>alert(1)</script>", "HTML or XML document"),
        ("cells.json", b'[{"a": 1}]', "a JSON list"),
        ("名册.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "save it as .xlsx"),
        ("blob.csv", b"\x01\x02\x00\x03", "binary file of unknown type"),
        ("empty.zip", _zip({"readme.txt": b"hi"}), "holds neither a shapefile nor a GeoPackage"),
        ("two.zip", _zip({"a.shp": b"", "b.shp": b""}), "2 shapefiles"),
        ("db.gpkg", b"SQLite format 3\x00" + bytes(52) + b"ABCD" + bytes(30), "not a GeoPackage"),
        ("latin1.csv", "naïve,café\n".encode("latin-1") + b"\xff\xfe\xfd", "unknown text encoding"),
    ],
)
def test_what_the_bytes_say_wins_over_the_name(name: str, data: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check(name, data)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("old.xls", "old-style Excel file"),
        ("roads.shp", "zip the .shp with its .shx, .dbf, .prj"),
        ("run.exe", "files ending .exe cannot be loaded"),
        ("noext", "files ending (no extension)"),
    ],
)
def test_unloadable_names_are_refused_with_the_fix(name: str, message: str) -> None:
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check(name, CSV)


def test_size_limit_and_empty_files() -> None:
    with pytest.raises(DataError, match=r"is 2.0 MB; the limit is 1 MB \(CITYGRID_MAX_UPLOAD_MB\)"):
        check_upload("big.csv", 2 * 1024 * 1024, CSV, max_mb=1)
    assert check_upload("ok.csv", 1024 * 1024, CSV, max_mb=1).size_bytes == 1024 * 1024
    with pytest.raises(DataError, match="is empty"):
        check_upload("empty.csv", 0, b"")


def test_the_settings_limit_is_the_default() -> None:
    from citygrid.settings import get_settings

    limit = get_settings().max_upload_mb * 1024 * 1024
    assert check_upload("ok.csv", limit, CSV).type == "csv"
    with pytest.raises(DataError, match="the limit is"):
        check_upload("big.csv", limit + 1, CSV)


def test_zip_bombs_are_refused() -> None:
    bomb = _zip({"roads.shp": bytes(30 * 1024 * 1024)})  # 30 MB of zeros squeeze to ~30 kB
    assert len(bomb) < 100_000
    with pytest.raises(DataError, match=r"would unpack to 30 MB, more than 20 times"):
        check("roads.zip", bomb, max_mb=1)
    assert check("roads.zip", bomb, max_mb=2).type == "shp_zip"


def test_a_damaged_zip_is_named() -> None:
    broken = _zip({"roads.shp": b"x" * 100})[:-30]
    with pytest.raises(DataError, match="damaged zip file"):
        check("roads.zip", broken)


def test_the_page_limits_the_types_it_takes() -> None:
    rosters = ("xlsx", "csv")
    assert check("名册.csv", CSV, allowed_types=rosters).type == "csv"
    with pytest.raises(
        DataError, match=r"but this page takes an Excel workbook \(.xlsx\) or a CSV"
    ):
        check("cells.geojson", GEOJSON, allowed_types=rosters)
    with pytest.raises(ValueError, match="unknown upload type"):
        check("名册.csv", CSV, allowed_types=("pdf",))


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("../../etc/passwd.csv", "passwd.csv"),
        ("C:\\Users\\wang\\名册.csv", "名册.csv"),
        ("<img src=x onerror=alert(1)>.csv", "<img src=x onerror=alert(1)>.csv"),
        ("<script>alert(1)</script>.csv", "script>.csv"),  # a '/' cannot be in a file name
        ("'); DROP TABLE people;--.csv", "'); DROP TABLE people;--.csv"),
        ("bad\x00\nname.csv", "badname.csv"),
    ],
)
def test_names_are_reduced_to_a_shown_base_name(sent: str, shown: str) -> None:
    assert check(sent, CSV).name == shown


def test_file_contents_with_markup_inside_cells_are_just_csv() -> None:
    data = "名称,备注\n<script>alert(1)</script>,'); DROP TABLE people;--\n".encode()
    assert check("hostile.csv", data).type == "csv"


def test_the_examples_in_the_docstrings_hold() -> None:
    import doctest

    import etl.uploads

    result = doctest.testmod(etl.uploads)
    assert (result.attempted > 0, result.failed) == (True, 0)
