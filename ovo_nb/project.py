"""Where a partner's project is: its notebooks, its settings file and where outputs go.

Decided in one place, so ``ovo-nb run``, a kernel in JupyterLab (whose working folder is
``notebooks/``) and nbconvert all agree. From the working folder:

1. the nearest folder, here or above, holding ``ovo-nb.toml`` (what ``ovo-nb init`` writes):
   a project of the partner's own;
2. else a ``notebooks/`` folder of notebooks here, or this folder when it is one (a clone of
   ovo-nb, or a copy of the notebooks);
3. else the notebooks packaged with ovo-nb, outputs going to this folder.

Notebooks never assume a clone's layout: they ask :func:`find_project` through
:func:`ovo_nb._files.artefact_dir`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["NOTEBOOKS_DIR", "PROJECT_FILE", "Project", "find_project", "packaged_file", "packaged_notebooks"]

PROJECT_FILE = "ovo-nb.toml"
"""The file that marks a partner's project (written by ``ovo-nb init``); it holds settings, never secrets."""
NOTEBOOKS_DIR = "notebooks"

_PACKAGE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Project:
    """A folder ovo-nb works in: where notebooks come from and where outputs go."""

    root: Path
    """The folder ``outputs/`` goes in."""
    notebooks: Path
    """The folder of notebooks ``ovo-nb run`` executes."""
    kind: str
    """``project`` (``ovo-nb init`` wrote it), ``folder`` (notebooks found here) or ``packaged``."""
    settings: Path | None = None
    """The project's ``ovo-nb.toml``, if it has one."""

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    def describe(self) -> str:
        """Which notebooks these are, in words: ``ovo-nb run`` says it before running them."""
        if self.kind == "project":
            return f"the project's notebooks in {self.notebooks}"
        if self.kind == "folder":
            return f"the notebooks in {self.notebooks}"
        return (f"the notebooks packaged with ovo-nb ({self.notebooks}); `ovo-nb init` copies them into a project "
                "of your own")


def _has_notebooks(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.ipynb"))


def find_project(start: Path | None = None) -> Project:
    """The project around ``start`` (default: the working folder), by the rules in the module's docstring."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        settings = folder / PROJECT_FILE
        if settings.is_file():
            return Project(folder, folder / NOTEBOOKS_DIR, "project", settings)
    if _has_notebooks(here / NOTEBOOKS_DIR):
        return Project(here, here / NOTEBOOKS_DIR, "folder")
    if here.name == NOTEBOOKS_DIR and _has_notebooks(here):
        return Project(here.parent, here, "folder")
    return Project(here, packaged_notebooks(), "packaged")


def packaged_file(*parts: str) -> Path:
    """A file shipped with ovo-nb: inside the installed package, or in the source checkout it runs from."""
    installed = _PACKAGE.joinpath(*parts)
    if installed.exists():
        return installed
    return _PACKAGE.parent.joinpath(*parts)


def packaged_notebooks() -> Path:
    """The notebooks that ship with ovo-nb (``ovo_nb/notebooks`` in the wheel, ``notebooks/`` in a checkout)."""
    return packaged_file(NOTEBOOKS_DIR)
