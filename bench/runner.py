"""Runner overhead: `ovo-nb run` over every notebook vs papermill on as many empty notebooks, same run.

Run: .venv/bin/python -m bench.runner

Both sides start one kernel per notebook; the difference is the notebooks' own work (keys,
sandbox calls, pandas tables) plus the runner's reports. `ovo-nb run` runs as many notebooks at
once as there are cores (`--jobs`); the sequential run is printed too. Target: parallel <= 1.0x
the sequential papermill baseline.
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
    timings = {}
    for jobs in (1, os.cpu_count() or 1):
        started = time.perf_counter()
        result = run_notebooks(output_root=work / "runs", progress=False, jobs=jobs)
        timings[jobs] = time.perf_counter() - started
        assert result.ok, [n.error for n in result.notebooks]
    print(f"{'figure':<60} {'value':>8}")
    print(f"{f'papermill, {count} empty notebooks one after another (s)':<60} {baseline:>8.2f}")
    for jobs, seconds in timings.items():
        print(f"{f'ovo-nb run --jobs {jobs}, {count} notebooks against the sandbox (s)':<60} {seconds:>8.2f}")
        print(f"{f'  ratio to the baseline (--jobs {jobs})':<60} {seconds / baseline:>8.2f}")
    print(f"{'target: the --jobs <cores> ratio <= 1.0':<60}")


if __name__ == "__main__":
    main()
