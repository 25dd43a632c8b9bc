"""Writing files that hold secrets: owner-only, atomic, never clobbered by accident."""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import sqlite3
import tempfile
from pathlib import Path

from .errors import KeyFileError, StateFileError
from .snap import JAKARTA, Clock, SystemClock

SECRET_FILE_MODE = 0o600
SECRET_DIR_MODE = 0o700


def ensure_private_dir(folder: Path) -> Path:
    """Create ``folder`` and each missing parent readable by its owner only (0700).

    Folders that already exist keep their mode: they are the user's.
    """
    folder = Path(folder)
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        candidate.mkdir(mode=SECRET_DIR_MODE, exist_ok=True)
    return folder


def write_private_file(path: Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` with mode 0600, atomically.

    Without ``overwrite`` an existing file is refused (the check and the creation are one
    step, so two writers cannot both win). With it, the old file is replaced in one rename,
    so a crash never leaves half a key behind.
    """
    path = Path(path)
    ensure_private_dir(path.parent)
    if not overwrite:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE)
        except FileExistsError:
            raise KeyFileError(
                f"{path} already exists; refusing to overwrite it. Pass overwrite=True to replace it "
                "(a replaced private key must be registered with OVO again)."
            ) from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return path
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, SECRET_FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


HOME_ENV = "OVO_NB_HOME"


def ovo_nb_home() -> Path:
    """Where ovo-nb keeps long-lived state (keys, vault key): ``$OVO_NB_HOME`` or ``~/.ovo-nb``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".ovo-nb").expanduser()


def open_sqlite(path: str | Path, schema: str, *, fast_commits: bool = False) -> sqlite3.Connection:
    """One SQLite connection, shared across threads, autocommitting, in WAL mode for files.

    ``fast_commits`` (WAL + ``synchronous=NORMAL``) keeps every commit through a crash of the
    process and risks only the last ones on a power cut: right for logs and the sandbox,
    not for the token vault or the partner ledger.

    A new file is created 0600 in folders created 0700 (state files hold tokens, secrets and
    phone numbers). A file that is not SQLite, or is damaged, raises :class:`StateFileError`
    naming it; nothing is written to it.
    """
    target = str(path)
    if target != ":memory:":
        file = Path(target).expanduser()
        ensure_private_dir(file.parent)
        if not file.exists():
            os.close(os.open(file, os.O_WRONLY | os.O_CREAT, SECRET_FILE_MODE))
        target = str(file)
    db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=30)
    try:
        db.execute("PRAGMA schema_version").fetchone()  # reads the header: fails on a file that is not SQLite
        if target != ":memory:":
            db.execute("PRAGMA journal_mode=WAL")
            if fast_commits:
                db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(schema)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StateFileError(
            f"{target} is not an ovo-nb state file or is damaged ({exc}). Nothing was changed: move it aside "
            "(keep it if it holds records you need) and run again to start a fresh one."
        ) from None
    return db


def close_sqlite(db: sqlite3.Connection) -> None:
    """Fold the write-ahead log into the database file, then close: a copy of the ``.sqlite`` alone
    then holds everything. Closing twice is harmless."""
    with contextlib.suppress(sqlite3.ProgrammingError):  # already closed
        with contextlib.suppress(sqlite3.OperationalError):  # busy elsewhere: the next close folds it
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()


RUN_DIR_ENV = "OVO_NB_RUN_DIR"
"""Set for every notebook ``ovo-nb run`` executes: the ``outputs/<run-id>`` folder of the run."""
RUN_ID_ENV = "OVO_NB_RUN_ID"
"""Set for every notebook ``ovo-nb run`` executes: the run id its calls are logged under."""


def artefact_dir(name: str) -> Path:
    """Where a notebook writes its artefacts: ``$OVO_NB_RUN_DIR/<name>`` under ``ovo-nb run``, else
    ``outputs/<this session's run id>/<name>`` in the project (:func:`ovo_nb.project.find_project`,
    so a kernel started in ``notebooks/`` finds it too): never a folder another run would overwrite."""
    from .project import find_project

    base = Path(os.environ.get(RUN_DIR_ENV) or find_project().outputs / _session_run_id())
    folder = base / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def new_run_id(clock: Clock | None = None) -> str:
    """A sortable run id: ``20261126-231500-a1b2c3`` (Jakarta time plus 6 random hex digits)."""
    now = (clock or SystemClock()).now().astimezone(JAKARTA)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@functools.cache
def _session_run_id() -> str:
    """One run id per interactive session (a JupyterLab kernel), made on first use."""
    return new_run_id()
