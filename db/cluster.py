"""The embedded PostgreSQL 15 + PostGIS cluster CityGrid runs when no database URL is set.

The cluster lives in ``<home>/pg`` (``home`` from the settings), listens on
127.0.0.1 at its own port and keeps its data across restarts. PostgreSQL refuses to
run as root, so when CityGrid is invoked as root the server runs as an unprivileged
service user (created when missing) and the data folder belongs to that user.
"""

from __future__ import annotations

import getpass
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from citygrid.settings import Settings
from gis.errors import DatabaseError

SUPERUSER = "citygrid"
POSTGIS_HINT = (
    "PostGIS for PostgreSQL 15 is not installed: on Debian/Ubuntu run "
    "`apt-get install postgresql-15 postgresql-15-postgis-3` (the README's set-up does this); "
    "elsewhere install PostGIS 3 for PostgreSQL 15, or set CITYGRID_DATABASE_URL to an "
    "existing PostGIS database"
)

# Settings the embedded cluster starts with: modest memory, fast bulk loads, no JIT
# (JIT compiles every short analytic query and makes dashboards slower, not faster).
_SERVER_CONF = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
max_connections = 60
shared_buffers = 512MB
work_mem = 64MB
maintenance_work_mem = 512MB
effective_cache_size = 4GB
max_wal_size = 4GB
checkpoint_timeout = 15min
synchronous_commit = off
jit = off
max_parallel_workers_per_gather = 2
random_page_cost = 1.1
log_min_messages = warning
log_line_prefix = '%m [%p] '
"""


@dataclass(frozen=True)
class ClusterStatus:
    """What ``citygrid db status`` reports about the embedded cluster."""

    initialised: bool
    running: bool
    pgdata: Path
    port: int
    pid: int | None


def _is_root() -> bool:
    return os.geteuid() == 0


class Cluster:
    """Create, start, stop and describe the embedded cluster."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = self._choose_root()
        self.pgdata = self.root / "data"
        self.logfile = self.root / "server.log"
        self.password_file = settings.home / "pg-password"
        self.port = settings.pg_port

    def _choose_root(self) -> Path:
        """``<home>/pg``, unless we are root and the service user cannot reach it.

        A checkout under a private folder (``/root``, a 0700 temp dir) cannot hold a
        server run by another user; the cluster then lives under /var/lib/citygrid, in a
        folder named after the home so that each checkout keeps its own.
        """
        preferred = self.settings.home / "pg"
        if not _is_root() or (preferred / "data" / "PG_VERSION").is_file():
            return preferred
        home = self.settings.home
        home.mkdir(parents=True, exist_ok=True)
        user = self._service_user()
        probe = subprocess.run(
            ["runuser", "-u", user, "--", "test", "-x", str(home)],
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return preferred
        import hashlib

        tag = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12]
        return Path("/var/lib/citygrid") / tag / "pg"

    # -- discovery ---------------------------------------------------------------
    def bin_dir(self) -> Path:
        """Folder with ``initdb`` and ``pg_ctl`` for PostgreSQL 15."""
        candidates: list[Path] = []
        if self.settings.pg_bin_dir:
            candidates.append(self.settings.pg_bin_dir)
        candidates.append(Path("/usr/lib/postgresql/15/bin"))
        on_path = shutil.which("pg_ctl")
        if on_path:
            candidates.append(Path(on_path).parent)
        others: list[str] = []
        for cand in candidates:
            if (cand / "initdb").is_file() and (cand / "pg_ctl").is_file():
                version = _major_version(cand / "pg_ctl")
                if version == 15:
                    return cand
                others.append(f"{cand} holds PostgreSQL {version or 'of unknown version'}")
        found = f" ({'; '.join(others)})" if others else ""
        msg = (
            "PostgreSQL 15 server binaries (initdb, pg_ctl) not found in "
            f"{', '.join(str(c) for c in candidates)}{found}; install `postgresql-15` "
            "(on Ubuntu from the PostgreSQL apt repository, apt.postgresql.org), set "
            "CITYGRID_PG_BIN_DIR, or set CITYGRID_DATABASE_URL to an existing PostGIS"
        )
        raise DatabaseError(msg)

    def check_postgis(self) -> None:
        """Raise with installation advice when the PostGIS extension files are missing."""
        pg_config = self.bin_dir() / "pg_config"
        share = Path("/usr/share/postgresql/15")
        if pg_config.is_file():
            out = subprocess.run(
                [str(pg_config), "--sharedir"], capture_output=True, text=True, check=False
            )
            if out.returncode == 0 and out.stdout.strip():
                share = Path(out.stdout.strip())
        if not (share / "extension" / "postgis.control").is_file():
            raise DatabaseError(POSTGIS_HINT)

    # -- running commands as the service user --------------------------------------
    def _service_user(self) -> str:
        if not _is_root():
            return getpass.getuser()
        user = self.settings.pg_service_user
        if user == "root":
            msg = "CITYGRID_PG_SERVICE_USER must not be root: PostgreSQL refuses to run as root"
            raise DatabaseError(msg)
        if subprocess.run(["id", "-u", user], capture_output=True, check=False).returncode:
            made = subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
                capture_output=True,
                text=True,
                check=False,
            )
            if made.returncode:
                msg = f"cannot create service user {user!r} for PostgreSQL: {made.stderr.strip()}"
                raise DatabaseError(msg)
        return user

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in args]
        if _is_root():
            cmd = ["runuser", "-u", self._service_user(), "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd="/")
        if check and proc.returncode:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            msg = f"{Path(args[0]).name} failed: {detail[-1] if detail else proc.returncode}"
            raise DatabaseError(msg)
        return proc

    def _check_reachable(self, user: str) -> None:
        """As root, the service user must be able to reach the data folder."""
        probe = subprocess.run(
            ["runuser", "-u", user, "--", "test", "-w", str(self.root)],
            capture_output=True,
            check=False,
        )
        if probe.returncode:
            msg = (
                f"the PostgreSQL service user {user!r} cannot write {self.root}; a parent "
                "folder is not traversable by other users. Set CITYGRID_HOME to a folder "
                "such as /var/lib/citygrid"
            )
            raise DatabaseError(msg)

    # -- life cycle ---------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").is_file()

    def password(self) -> str:
        if not self.password_file.is_file():
            msg = (
                f"embedded cluster credentials missing ({self.password_file}); "
                "run `citygrid db reset --cluster`"
            )
            raise DatabaseError(msg)
        return self.password_file.read_text(encoding="utf-8").strip()

    def init(self) -> bool:
        """Create the cluster when it does not exist yet. Return True when it was created."""
        if self.initialised:
            return False
        self.check_postgis()
        bindir = self.bin_dir()
        self.settings.home.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        user = self._service_user()
        if _is_root():
            self.root.parent.chmod(0o755)
            shutil.chown(self.root, user=user, group=None)
            self._check_reachable(user)
        password = secrets.token_urlsafe(24)
        pwfile = self.root / "initdb-pw"
        pwfile.write_text(password + "\n", encoding="utf-8")
        pwfile.chmod(0o600)
        if _is_root():
            shutil.chown(pwfile, user=user, group=None)
        try:
            self._run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    SUPERUSER,
                    "--pwfile",
                    str(pwfile),
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self.password_file.write_text(password + "\n", encoding="utf-8")
        self.password_file.chmod(0o600)
        conf = self.pgdata / "postgresql.auto.conf"
        extra = _SERVER_CONF.format(port=self.port)
        # appending keeps the file's owner (the service user) even when we are root
        with conf.open("a", encoding="utf-8") as fh:
            fh.write(extra)
        return True

    def _pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            first = pidfile.read_text(encoding="utf-8").splitlines()[0]
            pid = int(first)
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def running(self) -> bool:
        return self._pid() is not None

    def _port_taken(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def start(self) -> bool:
        """Start the server (creating it first if needed). Return True when it was started."""
        self.init()
        if self.running():
            return False
        if self._port_taken():
            msg = (
                f"port {self.port} on 127.0.0.1 is taken by another program; set "
                "CITYGRID_PG_PORT to a free port"
            )
            raise DatabaseError(msg)
        bindir = self.bin_dir()
        proc = self._run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(self.logfile),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=False,
        )
        if proc.returncode:
            tail = ""
            if self.logfile.is_file():
                lines = self.logfile.read_text(encoding="utf-8", errors="replace").splitlines()
                tail = lines[-1] if lines else ""
            msg = (
                "the embedded PostgreSQL did not start: "
                f"{tail or proc.stderr.strip()} (log: {self.logfile})"
            )
            raise DatabaseError(msg)
        self._wait_ready()
        return True

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._port_taken():
                return
            time.sleep(0.2)
        msg = f"the embedded PostgreSQL did not accept connections within {timeout_s:.0f} s"
        raise DatabaseError(msg)

    def stop(self) -> bool:
        """Stop the server. Return True when it was running."""
        if not self.initialised or not self.running():
            return False
        self._run(
            [str(self.bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"]
        )
        return True

    def destroy(self) -> None:
        """Stop the server and delete the cluster with all its data."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.root.parent.parent == Path("/var/lib/citygrid"):
            shutil.rmtree(self.root.parent, ignore_errors=True)
        self.password_file.unlink(missing_ok=True)

    def status(self) -> ClusterStatus:
        return ClusterStatus(
            initialised=self.initialised,
            running=self.running(),
            pgdata=self.pgdata,
            port=self.port,
            pid=self._pid(),
        )

    def url(self, database: str) -> str:
        """SQLAlchemy URL for ``database`` on this cluster, as the superuser."""
        from urllib.parse import quote

        return (
            f"postgresql+psycopg://{SUPERUSER}:{quote(self.password(), safe='')}"
            f"@127.0.0.1:{self.port}/{database}"
        )


def _major_version(pg_ctl: Path) -> int | None:
    """The major version ``pg_ctl --version`` reports ("pg_ctl (PostgreSQL) 15.18" -> 15)."""
    out = subprocess.run([str(pg_ctl), "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"\)\s*(\d+)", out.stdout)
    return int(match.group(1)) if out.returncode == 0 and match else None
