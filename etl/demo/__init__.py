"""The demo district: a realistic Dongcheng (and larger synthetic districts) to load.

>>> from etl.demo import SIZES
>>> sorted(SIZES)
['L', 'M', 'S', 'tests']

Typical use (what ``citygrid demo`` does)::


    folder = ensure_demo("S", seed=2004, root=settings.home / "demo")  # generated once
    load_demo(engine, folder, work_dir=settings.home / "demo" / "work")

For test suites, ``ensure_demo("tests", root=tmp_path)`` builds two street offices of
Dongcheng in about three seconds; loading them takes about two.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

from citygrid.settings import PROJECT_ROOT
from etl.demo.build import GENERATOR_VERSION, SIZES, DemoData, Size, build
from etl.demo.files import FILES, read_manifest, write_demo

#: The prebuilt sample shipped in the repository (Dongcheng, size S, last 14 months).
SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"
DEFAULT_SEED = 2004

__all__ = [
    "DEFAULT_SEED",
    "FILES",
    "SAMPLE_DIR",
    "SIZES",
    "DemoData",
    "Size",
    "build",
    "ensure_demo",
    "read_manifest",
    "write_demo",
]


def ensure_demo(
    size: str,
    *,
    root: Path,
    seed: int = DEFAULT_SEED,
    scheme: str = "15",
    rebuild: bool = False,
    as_of: dt.datetime | None = None,
    step: object = None,
) -> Path:
    """The folder of a generated demo district, generating it when missing.

    Kept in ``<root>/<size>-<seed>/`` and reused while it was made by this version of
    the generator with the same grid code scheme; ``rebuild`` generates it again.
    """
    folder = root / f"{size}-{seed}"
    if not rebuild and (folder / "manifest.json").is_file():
        manifest = read_manifest(folder)
        same = (manifest.get("grid_code_scheme"), manifest.get("generator"))
        if same == (scheme, GENERATOR_VERSION):
            return folder
    data = build(size, seed=seed, as_of=as_of, scheme=scheme, step=step)  # type: ignore[arg-type]
    folder.parent.mkdir(parents=True, exist_ok=True)
    # write aside, then swap in: a half-written district is never picked up
    tmp = Path(tempfile.mkdtemp(prefix=f".{size}-{seed}-", dir=folder.parent))
    tmp.chmod(0o755)
    try:
        write_demo(data, tmp)
        old = folder.with_name(folder.name + f".old-{os.getpid()}")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
