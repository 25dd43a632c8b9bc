"""A throw-away PostgreSQL cluster for the tests and the benchmarks: initdb into a temporary folder, a random
loopback port and a Unix socket in that folder, a password for TCP, everything removed at stop.

Uses Debian's server binaries (``/usr/lib/postgresql/<version>/bin``, the ``postgresql`` package) or the ones
``pg_config --bindir`` names. PostgreSQL refuses to run as root: as root the cluster runs as the unprivileged
``postgres`` user the package creates (through ``runuser``). :func:`unavailable` says, in one line, why no cluster
can be had here (the tests skip with that reason).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["Cluster", "free_port", "throwaway_cluster", "unavailable"]

SERVICE_USER = "postgres"
"""The unprivileged user a root process runs the server as (Debian's package creates it)."""


def _bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
                   if p.parent.parent.name.isdigit() else 0)
    if found:
        return found[-1].parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            folder = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                         check=True).stdout.strip())
            if (folder / "initdb").exists():
                return folder
    return None


def unavailable() -> str | None:
    """Why a throw-away cluster cannot run here, in one line; ``None`` when it can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev]' brings it)"
    if _bindir() is None:
        return "no PostgreSQL server binaries (apt-get install postgresql; .ci/run does)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return f"running as root and there is no {SERVICE_USER!r} user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and there is no runuser to start the server as another user"
    return None


def free_port() -> int:
    """A loopback port nothing listens on at this moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """One running throw-away cluster; :attr:`url` reaches its ``ovo`` database as the ``ovo`` superuser."""

    def __init__(self, *, durable: bool = False) -> None:
        reason = unavailable()
        if reason:
            raise RuntimeError(f"no PostgreSQL cluster: {reason}")
        self.bin = _bindir()
        self.folder = Path(tempfile.mkdtemp(prefix="ovo-nb-pg-"))
        self.data, self.socket_dir = self.folder / "data", self.folder / "socket"
        self.password = secrets.token_urlsafe(16)
        self.port = 0
        self._as_service = os.geteuid() == 0
        self.durable = durable
        """Commits wait for the disk, as on a real server (the benchmarks); the tests' cluster skips that."""
        if self._as_service:
            user = pwd.getpwnam(SERVICE_USER)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self.folder.chmod(0o700)

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", SERVICE_USER, "--"] if self._as_service else []
        assert self.bin is not None
        return subprocess.run([*prefix, str(self.bin / command[0]), *command[1:]], capture_output=True, text=True,
                              check=check, cwd=self.folder, timeout=120)

    def start(self) -> str:
        """initdb, start on a free loopback port, create the ``ovo`` database; returns :attr:`url`."""
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password + "\n")
        if self._as_service:
            user = pwd.getpwnam(SERVICE_USER)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        pwfile.chmod(0o600)
        self._run("initdb", "-D", str(self.data), "-U", "ovo", "-E", "UTF8", "--no-sync", "--auth-local=trust",
                  "--auth-host=scram-sha-256", f"--pwfile={pwfile}")
        pwfile.unlink()
        self.socket_dir.mkdir(mode=0o700)
        if self._as_service:
            user = pwd.getpwnam(SERVICE_USER)
            os.chown(self.socket_dir, user.pw_uid, user.pw_gid)
        for _ in range(5):  # a port taken between the probe and the start: try another
            self.port = free_port()
            options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.socket_dir}"
                       " -c max_connections=200")
            if not self.durable:
                options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            done = self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "server.log"),
                             "-w", "-t", "60", "start", check=False)
            if done.returncode == 0:
                break
        else:
            log = (self.folder / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the throw-away PostgreSQL did not start: {done.stderr.strip()} {log}")
        import psycopg

        with psycopg.connect(self.admin_url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE ovo")
        return self.url

    def admin_url(self, database: str = "ovo") -> str:
        """The superuser's URL (with its password) for ``database``."""
        return f"postgresql://ovo:{self.password}@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.admin_url()

    def new_database(self, name: str) -> str:
        """A fresh empty database; returns its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.admin_url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.admin_url(name)

    def stop(self) -> None:
        """Stop the server at once and remove every file of the cluster."""
        if self.port:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def throwaway_cluster(*, durable: bool = False) -> Iterator[Cluster]:
    """A started :class:`Cluster` (``durable``: commits wait for the disk, as a real server's), stopped and removed
    on the way out."""
    cluster = Cluster(durable=durable)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
