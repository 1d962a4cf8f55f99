"""The layers point one way: gis <- db <- etl <- app; nothing imports app."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> packages it must not import
FORBIDDEN = {
    "gis": {"db", "etl", "app", "citygrid", "streamlit", "sqlalchemy", "folium"},
    "db": {"etl", "app", "streamlit"},
    "etl": {"app", "streamlit"},
    "citygrid": {"app"},
    "reports": {"db", "etl", "app", "streamlit", "sqlalchemy"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        bad = _imports(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert offenders == []


def test_the_docker_image_holds_every_package() -> None:
    """The image copies each installed package (a missing one fails only at run time)."""
    import re
    import tomllib

    find = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    packages = {p.rstrip("*") for p in find["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(), re.M))
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == on_disk
    assert packages <= copied, f"Dockerfile does not copy {sorted(packages - copied)}"
