"""What the storage tests know of a backend: its name and where each room's tables go."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Backend:
    name: str
    location: Callable[[str], str]
    cluster: Any = None
    """The throw-away cluster (PostgreSQL only): its binaries dump the database."""

    def raw(self) -> bytes:
        """Everything the backend holds on disk, as an attacker with a copy would see it: the SQLite files with
        their companions, or a pg_dump of the database."""
        import glob
        import os
        import subprocess
        from pathlib import Path

        if self.name == "sqlite":
            folder = Path(self.location("calls")).parent
            return b"".join(Path(p).read_bytes() for p in sorted(glob.glob(f"{folder}/*.sqlite*")))
        from ovo_nb.storage import _schema_of

        url = self.cluster.url  # this test's schema only: other tests share the database with their own
        done = subprocess.run([str(self.cluster.bin / "pg_dump"), "--dbname", url.split("?")[0], "--schema",
                               _schema_of(self.location("calls"))], capture_output=True, check=True, env={**os.environ})
        assert b"CREATE TABLE" in done.stdout  # the schema is there: an empty dump would prove nothing
        return done.stdout
