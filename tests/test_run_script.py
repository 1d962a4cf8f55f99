"""The README's set-up script (``./run``): what a user types first must work."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_run_script_parses() -> None:
    assert subprocess.run(["bash", "-n", str(ROOT / "run")], check=False).returncode == 0


def test_run_with_a_subcommand_reaches_citygrid_after_the_test_set_up() -> None:
    # `./run demo` and `./run <args>` set up without the test tools; the test set-up
    # (which holds them) must count as done, and the script must get as far as citygrid
    # (it once stopped silently on the stamp of a set-up without test tools)
    out = subprocess.run(
        [str(ROOT / "run"), "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("citygrid, version")
    assert "installing Python packages" not in out.stderr
