"""The ``citygrid db`` commands, run as a user runs them (a subprocess) on real clusters."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from citygrid.settings import Settings, get_settings
from db.cluster import Cluster
from db.engine import server_url

pytestmark = [pytest.mark.db, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def citygrid(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citygrid.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment for a brand-new embedded cluster in a temporary home."""
    home = tmp_path_factory.mktemp("cg-home")
    home.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYGRID_")}
    env |= {"CITYGRID_HOME": str(home), "CITYGRID_PG_PORT": str(_free_port())}
    yield env
    _cluster_for(env).destroy()
    shutil.rmtree(home, ignore_errors=True)


def test_up_status_down_up_keeps_data(own_cluster: dict[str, str]) -> None:
    env = own_cluster
    out = citygrid(env, "db", "up")
    assert out.returncode == 0, out.stderr
    assert "created the embedded PostgreSQL cluster in " in out.stdout
    pgdata = Path(out.stdout.split("cluster in ", 1)[1].splitlines()[0].strip())
    assert (pgdata / "PG_VERSION").is_file()

    status = citygrid(env, "db", "status")
    assert status.returncode == 0, status.stderr
    assert "PostgreSQL: 15." in status.stdout
    assert "PostGIS:    3." in status.stdout
    assert "EPSG:4548 CGCS2000 / 3-degree Gauss-Kruger CM 117E" in status.stdout

    url = server_url_for(env)
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO problem_categories (code, name) VALUES ('06010', '暴露垃圾')")
        )
    eng.dispose()

    assert citygrid(env, "db", "down").returncode == 0
    assert "stopped" in citygrid(env, "db", "status").stdout
    assert citygrid(env, "db", "up").returncode == 0
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        assert conn.scalar(sa.text("SELECT name FROM problem_categories")) == "暴露垃圾"
    eng.dispose()


def test_reset_empties_the_database(own_cluster: dict[str, str]) -> None:
    env = own_cluster
    assert citygrid(env, "db", "up").returncode == 0
    out = citygrid(env, "db", "reset", "--yes")
    assert out.returncode == 0, out.stderr
    eng = sa.create_engine(server_url_for(env))
    with eng.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM problem_categories")) == 0
        assert conn.scalar(sa.text("SELECT working_srid FROM deployment")) == 4548
    eng.dispose()


def _cluster_for(env: dict[str, str]) -> Cluster:
    s = Settings(
        _env_file=None, home=Path(env["CITYGRID_HOME"]), pg_port=int(env["CITYGRID_PG_PORT"])
    )
    return Cluster(s)


def server_url_for(env: dict[str, str]) -> str:
    return _cluster_for(env).url("citygrid")


@pytest.mark.usefixtures("engine")
def test_configured_url_is_used_and_nothing_starts(tmp_path: Path) -> None:
    """Pointing the settings at another server uses it and creates no local cluster."""
    settings = get_settings()
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYGRID_")}
    env |= {
        "CITYGRID_HOME": str(home),
        "CITYGRID_DATABASE_URL": server_url(settings, database="citygrid_ext_test"),
    }
    admin = sa.create_engine(
        server_url(settings, database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS citygrid_ext_test WITH (FORCE)"))
        conn.execute(sa.text("CREATE DATABASE citygrid_ext_test"))
    try:
        up = citygrid(env, "db", "migrate")
        assert up.returncode == 0, up.stderr
        status = citygrid(env, "db", "status")
        assert "CITYGRID_DATABASE_URL (external)" in status.stdout
        assert "working CRS: EPSG:4548" in status.stdout
        down = citygrid(env, "db", "down")
        assert "not CityGrid's to stop" in down.stdout
        assert not (home / "pg").exists()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text("DROP DATABASE IF EXISTS citygrid_ext_test WITH (FORCE)"))
        admin.dispose()


def test_unreachable_server_is_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYGRID_")}
    env |= {
        "CITYGRID_HOME": str(tmp_path),
        "CITYGRID_DATABASE_URL": f"postgresql://nobody:x@127.0.0.1:{_free_port()}/nothing",
    }
    out = citygrid(env, "db", "migrate")
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: cannot connect to the database (CITYGRID_DATABASE_URL)")
    assert "Traceback" not in out.stderr


def test_bad_setting_is_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYGRID_")}
    env |= {"CITYGRID_HOME": str(tmp_path), "CITYGRID_WORKING_SRID": "4326"}
    out = citygrid(env, "db", "status")
    assert out.returncode == 1
    assert out.stderr.startswith("error: invalid settings: working_srid")
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("nosuch",), "error: No such command 'nosuch'. (see `citygrid --help`)"),
        (("load", "--bogus"), "error: No such option '--bogus'. (see `citygrid load --help`)"),
        (("db", "up", "--bogus"), "error: No such option '--bogus'. (see `citygrid db up --help`)"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_help(args: tuple[str, ...], expected: str) -> None:
    out = citygrid(dict(os.environ), *args)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [expected]


def test_a_group_named_alone_shows_its_help() -> None:
    out = citygrid(dict(os.environ), "db")
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout.startswith("Usage: citygrid db") and "migrate" in out.stdout


def test_every_command_explains_itself() -> None:
    from click.testing import CliRunner

    from citygrid.cli import _COMMANDS, cli

    runner = CliRunner()
    for name in _COMMANDS:
        group = cli.get_command(None, name)  # type: ignore[arg-type]
        assert group is not None
        subs = list(getattr(group, "commands", {}).values())
        for cmd_path in [[name]] + [[name, s.name] for s in subs if not s.hidden]:
            result = runner.invoke(cli, [*cmd_path, "--help"])
            assert result.exit_code == 0, (cmd_path, result.output)
            assert "Usage: " in result.output and len(result.output.splitlines()) > 3


def test_server_binaries_of_another_major_version_are_named_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from db import cluster as cluster_module
    from gis.errors import DatabaseError

    for name in ("initdb", "pg_ctl"):
        script = tmp_path / name
        script.write_text("#!/bin/sh\necho 'pg_ctl (PostgreSQL) 16.4'\n")
        script.chmod(0o755)
    assert cluster_module._major_version(tmp_path / "pg_ctl") == 16
    monkeypatch.setattr(cluster_module, "Path", lambda p: tmp_path if "15" in str(p) else Path(p))
    monkeypatch.setattr(cluster_module.shutil, "which", lambda _: None)
    settings = Settings(home=tmp_path, pg_bin_dir=tmp_path)
    with pytest.raises(DatabaseError, match=r"holds PostgreSQL 16.*apt\.postgresql\.org"):
        Cluster(settings).bin_dir()
