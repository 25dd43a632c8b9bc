"""Run the notebooks headless with papermill, into ``outputs/<run-id>/``.

Each notebook is executed in-process by ``papermill.execute_notebook`` with the kernel
of the current environment, a per-cell timeout, and the project root as working
directory. Notebooks learn where to put their artefacts from ``OVO_NB_RUN_DIR``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .calllog import new_run_id
from .errors import OvoNbError

__all__ = ["RUN_DIR_ENV", "NotebookResult", "RunResult", "artefact_dir", "find_notebooks", "project_root",
           "run_notebooks"]

RUN_DIR_ENV = "OVO_NB_RUN_DIR"
RUN_ID_ENV = "OVO_NB_RUN_ID"
"""Set for every executed notebook: the ``outputs/<run-id>`` folder of the run."""
CELL_TIMEOUT_SECONDS = 600
KERNEL_NAME = "python3"


def project_root() -> Path:
    """The folder holding ``notebooks/``: the working directory if it has one, else the source checkout."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parent.parent):
        if (candidate / "notebooks").is_dir():
            return candidate
    raise OvoNbError("No notebooks/ folder here or beside the ovo_nb package; run from the project folder.")


def artefact_dir(name: str) -> Path:
    """Where a notebook writes its artefacts: ``$OVO_NB_RUN_DIR/<name>`` or ``outputs/<name>``."""
    base = Path(os.environ.get(RUN_DIR_ENV) or project_root() / "outputs")
    folder = base / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def find_notebooks(names: Iterable[str] = (), folder: Path | None = None) -> list[Path]:
    """The notebooks to run: all of ``notebooks/`` in order, or those matching ``names``.

    A name matches a notebook by its file name, its stem, or its stem without the number
    prefix (``key_setup`` finds ``01_key_setup.ipynb``).
    """
    folder = folder or project_root() / "notebooks"
    available = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith(("_", ".")))
    wanted = list(names)
    if not wanted:
        return available
    chosen: list[Path] = []
    for name in wanted:
        matches = [p for p in available if name in (p.name, p.stem, p.stem.split("_", 1)[-1])]
        if not matches:
            known = ", ".join(p.stem for p in available)
            raise OvoNbError(f"No notebook named {name!r}; available: {known}.")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


@dataclass(frozen=True)
class NotebookResult:
    """How one notebook ended."""

    notebook: str
    output: str
    ok: bool
    seconds: float
    error: str = ""


@dataclass(frozen=True)
class RunResult:
    """A whole run: where it went and how each notebook ended."""

    run_id: str
    run_dir: Path
    notebooks: list[NotebookResult]

    @property
    def ok(self) -> bool:
        return all(n.ok for n in self.notebooks)


def _describe_failure(exc: BaseException) -> str:
    """One line naming the failing cell, the error type and its message."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return f"cell {exc.exec_count} failed: {exc.ename}: {exc.evalue}"
    text = f"{type(exc).__name__}: {exc}"
    if "Kernel died" in text or "DeadKernelError" in text:
        return f"the kernel died (out of memory or a crash in native code): {text}"
    return text


def run_notebooks(
    names: Iterable[str] = (),
    *,
    parameters: Mapping[str, Any] | None = None,
    output_root: str | Path | None = None,
    run_id: str | None = None,
    cell_timeout: int = CELL_TIMEOUT_SECONDS,
    progress: bool | None = None,
) -> RunResult:
    """Execute notebooks with papermill into ``<output_root>/<run-id>/``; never raises for a notebook.

    ``parameters`` go to every notebook that declares them. A name no chosen notebook
    declares is refused up front (papermill alone would only warn).
    """
    import papermill

    root = project_root()
    notebooks = find_notebooks(names, root / "notebooks")
    parameters = dict(parameters or {})
    declared = {path: set(papermill.inspect_notebook(str(path))) for path in notebooks}
    unknown = set(parameters) - set().union(*declared.values())
    if unknown:
        raise OvoNbError(f"No chosen notebook has a parameter named {', '.join(sorted(unknown))}.")
    run_id = run_id or new_run_id()
    run_dir = Path(output_root or root / "outputs") / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    show_progress = progress if progress is not None else not os.environ.get("CI")
    results: list[NotebookResult] = []
    previous = {name: os.environ.get(name) for name in (RUN_DIR_ENV, RUN_ID_ENV)}
    os.environ[RUN_DIR_ENV] = str(run_dir.resolve())
    os.environ[RUN_ID_ENV] = run_id
    try:
        for path in notebooks:
            output = run_dir / path.name
            started = time.perf_counter()
            try:
                papermill.execute_notebook(
                    str(path),
                    str(output),
                    parameters={k: v for k, v in parameters.items() if k in declared[path]},
                    kernel_name=KERNEL_NAME,
                    cwd=str(root),
                    progress_bar=show_progress,
                    execution_timeout=cell_timeout,
                )
                results.append(NotebookResult(path.name, str(output), True, time.perf_counter() - started))
            except Exception as exc:
                results.append(
                    NotebookResult(path.name, str(output), False, time.perf_counter() - started, _describe_failure(exc))
                )
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    result = RunResult(run_id, run_dir, results)
    summary = {"run_id": run_id, "ok": result.ok, "python": sys.executable,
               "notebooks": [asdict(n) for n in results]}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return result
