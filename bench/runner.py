"""Runner overhead: `ovo-nb run` over every notebook vs papermill on as many empty notebooks, same run.

Run: .venv/bin/python bench/runner.py

Both sides start one kernel per notebook; the difference is the notebooks' own work (keys,
sandbox calls, pandas tables) plus the runner's reports. Target: ratio <= 2.5.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import nbformat
import papermill


def main() -> None:
    os.environ["OVO_NB_HOME"] = tempfile.mkdtemp()
    os.environ["CI"] = "1"
    from ovo_nb.runner import find_notebooks, run_notebooks

    count = len(find_notebooks())
    work = Path(tempfile.mkdtemp())
    empty = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")])
    empty.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    started = time.perf_counter()
    for i in range(count):
        path = work / f"empty_{i}.ipynb"
        nbformat.write(empty, path)
        papermill.execute_notebook(str(path), str(work / f"out_{i}.ipynb"), kernel_name="python3", progress_bar=False)
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    result = run_notebooks(output_root=work / "runs", progress=False)
    ours = time.perf_counter() - started
    assert result.ok, [n.error for n in result.notebooks]
    print(f"{'figure':<56} {'value':>8}")
    print(f"{f'papermill, {count} empty notebooks (s)':<56} {baseline:>8.2f}")
    print(f"{f'ovo-nb run, {count} notebooks against the sandbox (s)':<56} {ours:>8.2f}")
    print(f"{'ratio (target <= 2.5)':<56} {ours / baseline:>8.2f}")


if __name__ == "__main__":
    main()
