"""The files ovo-nb keeps: owner-only, never through a link, atomic, and plain words when the disk refuses.

Every state file (the SQLite files, the vault key, the key passphrase, the keys and credentials
ovo-nb saved) is opened here, and every open:

- refuses a symbolic link, or anything but a regular file, by name: a link could send secrets
  elsewhere, and a dangling one would create a file outside the state folder;
- tightens the file to 0600 (and a SQLite file's ``-wal``/``-shm`` companions), so a file an older
  version left 0644 is private from its next open, and the folders under the ovo-nb home to 0700;
- turns what the disk refuses into one :class:`StateFileError` line saying which and what to do:
  a read-only folder, a full disk, a file that is not SQLite or is damaged.

Folders outside the ovo-nb home are created 0700 but never changed once they exist: they are the
user's.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import secrets
import sqlite3
import stat
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import KeyFileError, StateFileError
from .snap import JAKARTA, Clock, SystemClock

SECRET_FILE_MODE = 0o600
SECRET_DIR_MODE = 0o700
PUBLIC_FILE_MODE = 0o644
HOME_ENV = "OVO_NB_HOME"
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal", "-lock")
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_DENIED_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
_LOW_SPACE = 64 * 1024
"""Below this many free bytes, a SQLite I/O error is taken for a full disk (SQLite reports some as I/O errors)."""


def ovo_nb_home() -> Path:
    """Where ovo-nb keeps long-lived state (keys, vault key): ``$OVO_NB_HOME`` or ``~/.ovo-nb``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".ovo-nb").expanduser()


# --------------------------------------------------------------------------- what the disk refused


def _free_bytes(folder: Path) -> int | None:
    with contextlib.suppress(OSError):
        info = os.statvfs(_existing(folder))
        return info.f_bavail * info.f_frsize
    return None


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def _read_only(path: Path) -> str | None:
    """Why ``path`` (a file, or where it would be made) cannot be written, and what to do; ``None`` if it can."""
    target = path if path.exists() else _existing(path.parent)
    doing = "writes to it on every use" if target == path else f"must create {path.name} there"
    with contextlib.suppress(OSError):
        if os.statvfs(target).f_flag & os.ST_RDONLY:
            return (f"{target} is on a read-only file system: ovo-nb {doing}. Remount it read-write, or set "
                    f"{HOME_ENV} to a folder on a writable disk.")
    if path.exists() and os.access(path, os.W_OK):
        target, doing = path.parent, f"must make {path.name}-wal and -shm beside {path.name}"  # SQLite's journal
    if not os.access(target, os.W_OK):
        return (f"{target} is read-only for this user: ovo-nb {doing}. Give yourself write access "
                f"(chmod u+w {target}), or set {HOME_ENV} to a writable folder.")
    return None


def disk_refusal(path: Path, exc: OSError | sqlite3.Error) -> StateFileError | None:
    """One line for a write the disk refused at ``path``: read-only or full; ``None`` when it is neither."""
    path = Path(path)
    code = getattr(exc, "errno", None) if isinstance(exc, OSError) else getattr(exc, "sqlite_errorcode", 0) & 0xFF
    io_error = isinstance(exc, sqlite3.Error) and code == sqlite3.SQLITE_IOERR
    free = _free_bytes(path.parent)
    if (code in _FULL_ERRNOS if isinstance(exc, OSError) else code == sqlite3.SQLITE_FULL) or (
            io_error and free is not None and free < _LOW_SPACE):
        return StateFileError(
            f"The disk holding {path.parent} is full ({free or 0:,} bytes free): ovo-nb could not write {path.name}, "
            "and nothing was half-written. Free some space there, then run again.")
    denied = code in _DENIED_ERRNOS if isinstance(exc, OSError) else code in (
        sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_PERM)
    reason = _read_only(path) if denied else None
    return StateFileError(reason) if reason else None


def _refused(path: Path, exc: OSError) -> StateFileError:
    """The :class:`StateFileError` for an ``OSError`` at ``path``: a link, the disk's refusal, or the OS's words."""
    if exc.errno == errno.ELOOP:
        return _link_refused(path)
    return disk_refusal(path, exc) or StateFileError(f"Cannot open {path}: {exc.strerror or exc}.")


def _link_refused(path: Path) -> StateFileError:
    target = "elsewhere"
    with contextlib.suppress(OSError):
        target = os.readlink(path)
    return StateFileError(
        f"{path} is a symbolic link (to {target}): ovo-nb never reads or writes its state through a link, which "
        "could send secrets outside its folder. Replace the link with the file itself, or remove it to start afresh.")


# --------------------------------------------------------------------------- folders and files


def _tighten_folders(folder: Path) -> None:
    """Tighten ``folder`` and its parents up to the ovo-nb home to 0700; folders elsewhere are the user's.

    Only folders this user owns, and never a shared one (sticky bit, like ``/tmp``); a folder that
    cannot be changed (read-only) is left for the write that needs it to say so.
    """
    home = Path(os.path.abspath(ovo_nb_home()))
    folder = Path(os.path.abspath(folder))
    if not folder.is_relative_to(home):
        return
    for candidate in (folder, *folder.parents):
        with contextlib.suppress(OSError):
            info = os.stat(candidate)
            if info.st_mode & 0o077 and info.st_uid == os.geteuid() and not info.st_mode & stat.S_ISVTX:
                os.chmod(candidate, SECRET_DIR_MODE)
        if candidate == home:
            break


def ensure_private_dir(folder: Path) -> Path:
    """Create ``folder`` and each missing parent readable by its owner only (0700).

    Existing folders under the ovo-nb home are tightened to 0700; others keep their mode. A folder
    that cannot be made (read-only, full disk) raises :class:`StateFileError` saying so.
    """
    folder = Path(folder)
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        try:
            candidate.mkdir(mode=SECRET_DIR_MODE, exist_ok=True)
        except OSError as exc:
            raise _refused(candidate, exc) from None
    _tighten_folders(folder)
    return folder


def _open_private(path: Path, *, create: bool = False) -> int:
    """A read-only descriptor on the state file ``path`` (created 0600 with ``create``), tightened to 0600.

    A link or a non-regular file is refused by name; a missing file raises ``FileNotFoundError`` and a
    folder ``IsADirectoryError``, for the caller to word.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, SECRET_FILE_MODE)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _refused(path, exc) from None
    try:
        _require_private(path, os.fstat(fd), lambda mode: os.fchmod(fd, mode))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _require_private(path: Path, info: os.stat_result, tighten: Callable[[int], None]) -> None:
    """Refuse anything but a regular file at ``path`` (a folder as ``IsADirectoryError``, for the caller to word),
    and tighten one that others may read to 0600."""
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
    if not stat.S_ISREG(info.st_mode):
        raise StateFileError(f"{path} is not a regular file; ovo-nb keeps its state in plain files. Move it aside.")
    if info.st_mode & 0o077:
        with contextlib.suppress(OSError):  # read-only, or another user's: nothing to tighten here
            tighten(SECRET_FILE_MODE)


def read_private_file(path: str | Path) -> bytes:
    """The bytes of the state file ``path``, opened as every state file is (no link, 0600, folders 0700).

    A missing file raises ``FileNotFoundError`` for the caller to word.
    """
    path = Path(path).expanduser()
    _tighten_folders(path.parent)
    with os.fdopen(_open_private(path), "rb") as handle:
        return handle.read()


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data`` in one rename (a crash never leaves half a file); unchanged content is
    not rewritten. A link at ``path`` is refused."""
    try:
        with contextlib.suppress(FileNotFoundError):
            fd = _open_private(path) if mode == SECRET_FILE_MODE else os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as handle:
                if handle.read() == data:
                    return
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise _refused(path, exc) from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise _refused(path, exc) from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_private_file(path: Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` with mode 0600, atomically.

    Without ``overwrite`` an existing file is refused (the check and the creation are one
    step, so two writers cannot both win). With it, the old file is replaced in one rename,
    so a crash never leaves half a key behind. A link at ``path`` is refused by name.
    """
    path = Path(path)
    ensure_private_dir(path.parent)
    if overwrite:
        _write_atomic(path, data, SECRET_FILE_MODE)
        return path
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, SECRET_FILE_MODE)
    except FileExistsError:
        if path.is_symlink():
            raise _link_refused(path) from None
        raise KeyFileError(
            f"{path} already exists; refusing to overwrite it. Pass overwrite=True to replace it "
            "(a replaced private key must be registered with OVO again)."
        ) from None
    except OSError as exc:
        raise _refused(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        path.unlink(missing_ok=True)  # never half a key
        raise _refused(path, exc) from None
    return path


def write_public_file(path: Path, data: bytes) -> Path:
    """Write a file meant to be shared (a public key) beside the private ones: 0644, atomic, never through a
    link, and not rewritten when unchanged."""
    path = Path(path)
    ensure_private_dir(path.parent)
    _write_atomic(path, data, PUBLIC_FILE_MODE)
    return path


# --------------------------------------------------------------------------- SQLite


class _StateConnection(sqlite3.Connection):
    """A connection whose statements say in one line when the disk refuses a write (read-only, full)."""

    state_path: Path | None = None

    def _refusal(self, exc: sqlite3.Error) -> sqlite3.Error | StateFileError:
        refusal = disk_refusal(self.state_path, exc) if self.state_path is not None else None
        return refusal or exc

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            raise self._refusal(exc) from None

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.OperationalError as exc:
            raise self._refusal(exc) from None

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        try:
            return super().executescript(script)
        except sqlite3.OperationalError as exc:
            raise self._refusal(exc) from None


def _checked_in_place(path: Path, *, create: bool = False) -> os.stat_result:
    """What :func:`_open_private` checks (no link, a regular file, 0600; created 0600 with ``create``), by path,
    never holding the file open.

    For SQLite files and their companions: closing any descriptor of a file drops every POSIX lock this
    process holds on it, and SQLite's connections keep theirs for as long as they are open; a lock dropped
    that way lets another process's close take the write-ahead log for its own and delete it under them.
    A missing file raises ``FileNotFoundError`` and a folder ``IsADirectoryError``, for the caller to word.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if not create:
            raise
        try:  # made here and now: no connection holds a lock on it yet
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                             SECRET_FILE_MODE))
        except FileExistsError:
            pass  # another process made it a moment ago
        except OSError as exc:
            raise _refused(path, exc) from None
        info = os.lstat(path)
    except OSError as exc:
        raise _refused(path, exc) from None
    if stat.S_ISLNK(info.st_mode):
        raise _link_refused(path)
    _require_private(path, info, lambda mode: os.chmod(path, mode))
    return info


def _checked_companions(file: Path) -> None:
    """A SQLite file's ``-wal``, ``-shm`` and ``-journal`` hold the same records: no link, 0600."""
    for suffix in _SQLITE_COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            _checked_in_place(file.with_name(file.name + suffix))


def open_sqlite(path: str | Path, schema: str | Callable[[sqlite3.Connection], None], *,
                fast_commits: bool = False) -> sqlite3.Connection:
    """One SQLite connection, shared across threads, autocommitting, in WAL mode for files.

    ``schema`` is a script run at each open, or a function given the connection (the storage seam's
    schema versions).

    ``fast_commits`` (WAL + ``synchronous=NORMAL``) keeps every commit through a crash of the
    process and risks only the last ones on a power cut: right for logs and the sandbox,
    not for the token vault or the partner ledger.

    The file is opened as every state file is (created 0600, tightened to 0600 with its companions,
    folders 0700, a link refused by name). A file that is not SQLite, or is damaged, raises
    :class:`StateFileError` naming it, and nothing is written to it; so does a read-only folder or a
    full disk, at the open or at any later statement.
    """
    target = str(path)
    if target == ":memory:":
        memory = sqlite3.connect(target, check_same_thread=False, isolation_level=None, factory=_StateConnection)
        _apply(memory, schema)
        return memory
    file = Path(target).expanduser()
    ensure_private_dir(file.parent)
    opened = _checked_in_place(file, create=True)
    _checked_companions(file)
    try:
        db = sqlite3.connect(str(file), check_same_thread=False, isolation_level=None, timeout=30,
                             factory=_StateConnection)
    except sqlite3.Error as exc:
        raise disk_refusal(file, exc) or StateFileError(f"Cannot open {file}: {exc}.") from None
    db.state_path = file
    try:
        db.execute("PRAGMA schema_version").fetchone()  # reads the header: fails on a file that is not SQLite
        if not os.path.samestat(opened, os.lstat(file)):
            raise StateFileError(f"{file} was replaced while ovo-nb opened it; nothing was written. Run again.")
        db.execute("PRAGMA journal_mode=WAL")
        if fast_commits:
            db.execute("PRAGMA synchronous=NORMAL")
        _apply(db, schema)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StateFileError(
            f"{file} is not an ovo-nb state file or is damaged ({exc}). Nothing was changed: move it aside "
            "(keep it if it holds records you need) and run again to start a fresh one."
        ) from None
    except BaseException:
        db.close()
        raise
    return db


def _apply(db: sqlite3.Connection, schema: str | Callable[[sqlite3.Connection], None]) -> None:
    if callable(schema):
        schema(db)
    else:
        db.executescript(schema)


_SHM_DMS_BYTE = 128
"""The byte of a WAL database's ``-shm`` file that every open connection holds a shared lock on (SQLite's
"dead man switch")."""


def held_open(file: Path) -> bool:
    """Whether a SQLite file in WAL mode is open in any connection, this process's included.

    This process's own connections are found among its open descriptors (closing a descriptor of the
    file here would drop their locks). Other processes' are asked through the lock SQLite holds for as
    long as a connection is open (a shared lock on the ``-shm`` file's dead-man-switch byte), with an
    open-file-description lock. A ``-wal`` file left by a process that was killed is not "open". Where
    such locks do not exist (not Linux) a ``-wal`` file counts as open.
    """
    file = Path(file)
    shm = file.with_name(file.name + "-shm")
    command = getattr(fcntl, "F_OFD_SETLK", None)
    if command is None:
        return file.with_name(file.name + "-wal").exists()
    mine = {os.path.realpath(file), os.path.realpath(shm)}
    for entry in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{entry}") in mine:
                return True
    try:
        fd = os.open(shm, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot look: say open, and let the user decide (--force)
    try:
        claim = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, _SHM_DMS_BYTE, 1, 0)
        try:
            fcntl.fcntl(fd, command, claim)
        except OSError:
            return True
        fcntl.fcntl(fd, command, struct.pack("hhqqi4x", fcntl.F_UNLCK, os.SEEK_SET, _SHM_DMS_BYTE, 1, 0))
        return False
    finally:
        os.close(fd)


def close_sqlite(db: sqlite3.Connection) -> None:
    """Fold the write-ahead log into the database file, then close: a copy of the ``.sqlite`` alone
    then holds everything. Closing twice is harmless."""
    with contextlib.suppress(sqlite3.ProgrammingError):  # already closed
        with contextlib.suppress(sqlite3.OperationalError, StateFileError):  # busy, or a full disk: the next close
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
