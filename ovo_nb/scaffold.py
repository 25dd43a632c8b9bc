"""``ovo-nb init``: a partner's own project, from the notebooks and templates that ship with ovo-nb.

It writes the notebooks, a commented ``ovo-nb.toml`` (no secrets), a ``.gitignore`` for outputs,
state and keys, CI for GitHub Actions and GitLab CI running the notebooks against the sandbox,
the monthly reconciliation on a schedule (:data:`ovo_nb.schedules.SCHEDULE_FILES`),
``requirements.txt`` pinning this ovo-nb, and a short README. It never replaces a file that
differs from what it would write unless asked (``force``): run again after an upgrade, it adds
what is missing and names each file it kept.
"""

from __future__ import annotations

import json
import os
import string
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .errors import OvoNbError
from .project import PROJECT_FILE, packaged_notebooks
from .schedules import SCHEDULE_FILES

__all__ = ["InitResult", "init_project"]

TEMPLATES: tuple[tuple[str, str], ...] = (
    ("ovo-nb.toml", PROJECT_FILE),
    ("gitignore", ".gitignore"),
    ("github-workflow.yml", ".github/workflows/ovo-nb.yml"),
    ("gitlab-ci.yml", ".gitlab-ci.yml"),
    ("README.md", "README.md"),
)
"""Each template shipped in ``ovo_nb/templates`` and where it goes in the project."""
VENDOR_DIR = "vendor"
YOURS = frozenset({PROJECT_FILE, "README.md"})
"""Files the partner fills in: kept even with ``force`` (this version's template stays in ``ovo_nb/templates``)."""


@dataclass
class InitResult:
    """What ``init`` did to each file, relative to the project folder."""

    folder: Path
    written: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """Files that exist and differ from this version's: left as they are (``force`` replaces them)."""
    yours: list[str] = field(default_factory=list)
    """Settings and README the partner fills in, differing from the template: never replaced."""
    local_source: Path | None = None
    """The source folder ``requirements.txt`` names (ovo-nb was installed from one): it installs on this machine
    only."""


def _version() -> str:
    from . import __version__

    return __version__


@dataclass(frozen=True)
class _Source:
    """Where this ovo-nb was installed from, as pip recorded it: a wheel file, a source folder, or an index."""

    wheel: Path | None = None
    folder: Path | None = None


def _installed_from() -> _Source:
    """The wheel file (when it still exists) or the source folder this ovo-nb was installed from."""
    # pip's record; a source folder's own egg-info (seen first from inside it) has none
    recorded = next((text for dist in metadata.distributions(name="ovo-nb")
                     if (text := dist.read_text("direct_url.json"))), None)
    if not recorded:
        return _Source()
    found = json.loads(recorded)
    parts = urlsplit(found.get("url", ""))
    where = Path(unquote(parts.path))
    if parts.scheme != "file":
        return _Source()
    if where.suffix == ".whl":
        return _Source(wheel=where) if where.is_file() else _Source()
    return _Source(folder=where) if "dir_info" in found and where.is_dir() else _Source()


def _requirements(source: _Source) -> str:
    """requirements.txt: the wheel copied into ``vendor/`` when ovo-nb came from a wheel file, the source folder
    (with how to make it portable) when it came from one, else the version."""
    version = _version()
    if source.wheel is not None:
        return (f"# ovo-nb {version}, from the wheel it was installed from (kept in {VENDOR_DIR}/ so CI installs "
                f"the same)\n./{VENDOR_DIR}/{source.wheel.name}\n")
    if source.folder is not None:
        return (f"# ovo-nb {version} was installed from the source folder {source.folder}, which no package index "
                "has:\n# this line installs it on this machine only. For CI elsewhere, build its wheel into "
                f"{VENDOR_DIR}/\n#   pip wheel --no-deps -w {VENDOR_DIR} {source.folder}\n# and name that file "
                f"here instead (./{VENDOR_DIR}/ovo_nb-{version}-py3-none-any.whl).\n"
                f"ovo-nb @ {source.folder.as_uri()}\n")
    return f"# the ovo-nb this project was made with (written by `ovo-nb init`)\novo-nb=={version}\n"


def _planned(source: _Source) -> Iterator[tuple[str, bytes]]:
    """Every file of a new project: its path in the project and its bytes."""
    values = {"version": _version()}
    for template, target in TEMPLATES:
        yield target, string.Template(_template(template)).safe_substitute(values).encode()
    for target, text in SCHEDULE_FILES.items():  # the monthly close on a schedule: cron, systemd, GitHub Actions
        yield target, text.encode()
    yield "requirements.txt", _requirements(source).encode()
    if source.wheel is not None:
        yield f"{VENDOR_DIR}/{source.wheel.name}", source.wheel.read_bytes()
    for notebook in sorted(packaged_notebooks().glob("*.ipynb")):
        yield f"notebooks/{notebook.name}", notebook.read_bytes()


def _template(name: str) -> str:
    """A template shipped inside the package (``ovo_nb/templates``)."""
    return (Path(__file__).resolve().parent / "templates" / name).read_text(encoding="utf-8")


def _write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one rename: an interrupted init never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _same(path: Path, data: bytes) -> bool:
    """Whether ``path`` holds ``data``; a notebook is the same when its cells' sources are (its outputs are yours)."""
    held = path.read_bytes()
    if held == data or path.suffix != ".ipynb":
        return held == data
    try:
        mine, theirs = json.loads(held), json.loads(data)
        return [(c.get("cell_type"), "".join(c.get("source", ""))) for c in mine.get("cells", [])] == [
            (c.get("cell_type"), "".join(c.get("source", ""))) for c in theirs.get("cells", [])]
    except (ValueError, AttributeError):
        return False


def init_project(folder: str | Path = ".", *, force: bool = False) -> InitResult:
    """Scaffold (or complete) a partner project in ``folder``; existing files that differ are kept unless ``force``
    (the settings file and README, which the partner fills in, are kept even then)."""
    target = Path(folder).expanduser()
    if target.exists() and not target.is_dir():
        raise OvoNbError(f"{target} is a file, not a folder: give a folder for the project.")
    source = _installed_from()
    result = InitResult(target, local_source=source.folder)
    try:
        target.mkdir(parents=True, exist_ok=True)
        for relative, data in _planned(source):
            path = target / relative
            if path.is_symlink() or (path.exists() and not path.is_file()):
                result.kept.append(relative)
            elif not path.exists():
                _write(path, data)
                result.written.append(relative)
            elif _same(path, data):
                result.unchanged.append(relative)
            elif relative in YOURS:
                result.yours.append(relative)
            elif force:
                _write(path, data)
                result.replaced.append(relative)
            else:
                result.kept.append(relative)
    except OSError as exc:
        raise OvoNbError(f"Cannot write the project into {target} ({exc.strerror or exc}); choose a folder you can "
                         "write to.") from None
    return result

