"""Run the notebooks headless with papermill, into ``outputs/<run-id>/``.

Each notebook is executed in-process by ``papermill.execute_notebook`` with the kernel
of the current environment, a per-cell timeout, and the folder the command ran in as working
directory (relative paths in parameters mean what the user meant). The notebooks are the
project's (:mod:`ovo_nb.project`); notebooks learn where to put their artefacts from ``OVO_NB_RUN_DIR``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path
from typing import Any

from ._files import RUN_DIR_ENV, RUN_ID_ENV, artefact_dir
from .calllog import mask_msisdn, new_run_id
from .errors import OvoNbError
from .project import Project, find_project
from .views import code_meaning

__all__ = ["RUN_DIR_ENV", "RUN_ID_ENV", "NotebookResult", "RunResult", "artefact_dir", "coerce_parameters",
           "find_notebooks", "run_notebooks", "write_junit"]

CELL_TIMEOUT_SECONDS = 600
KERNEL_NAME = "python3"


def find_notebooks(names: Iterable[str] = (), folder: Path | None = None) -> list[Path]:
    """The notebooks to run: all of the project's notebooks folder in order, or those matching ``names``.

    A name matches a notebook by its file name, its stem, or its stem without the number
    prefix (``key_setup`` finds ``01_key_setup.ipynb``).
    """
    folder = folder or find_project().notebooks
    if not folder.is_dir():
        raise OvoNbError(f"{folder} is missing: run `ovo-nb init` in the project again to restore the notebooks.")
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


def coerce_parameters(raw: Mapping[str, str], notebooks: Iterable[Path]) -> dict[str, Any]:
    """Turn ``-p name value`` strings into the types the notebooks declare (``name: int = 3``).

    papermill's own CLI guesses (a phone ``081...`` would lose its leading zero); here a
    ``str`` parameter stays a string, ``int``/``float``/``bool`` are parsed, ``list``/``dict``
    take JSON (or a comma-separated list). Unknown names are refused.
    """
    import papermill

    declared: dict[str, str] = {}
    for path in notebooks:
        for name, info in papermill.inspect_notebook(str(path)).items():
            declared.setdefault(name, str(info.get("inferred_type_name") or "str"))
    out: dict[str, Any] = {}
    for name, text in raw.items():
        if name not in declared:
            known = ", ".join(sorted(declared))
            raise OvoNbError(f"No chosen notebook has a parameter {name!r}; known parameters: {known}.")
        kind = declared[name]
        try:
            if kind == "int":
                out[name] = int(text)
            elif kind == "float":
                out[name] = float(text)
            elif kind == "bool":
                lowered = text.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError("expected true or false")
                out[name] = lowered in ("true", "1", "yes")
            elif kind in ("list", "dict"):
                stripped = text.strip()
                out[name] = json.loads(stripped) if stripped[:1] in "[{" else [
                    item.strip() for item in stripped.split(",") if item.strip()]
            else:
                out[name] = text
        except ValueError as exc:
            raise OvoNbError(f"Parameter {name} is declared {kind}; {text!r} does not read as one ({exc}).") from None
    return out


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
    on_start: Callable[[Path], None] | None = None,
    jobs: int = 1,
    project: Project | None = None,
) -> RunResult:
    """Execute notebooks with papermill into ``<output_root>/<run-id>/``; never raises for a notebook.

    ``parameters`` go to every notebook that declares them. A name no chosen notebook
    declares is refused up front (papermill alone would only warn). ``jobs`` above 1 runs that
    many notebooks at once, each in its own process and kernel; the outputs are the same.
    ``project`` (default: the one around the working folder) says which notebooks and where outputs go.
    """
    import papermill

    project = project or find_project()
    notebooks = find_notebooks(names, project.notebooks)
    parameters = dict(parameters or {})
    declared = {path: set(papermill.inspect_notebook(str(path))) for path in notebooks}
    unknown = set(parameters) - set().union(*declared.values())
    if unknown:
        raise OvoNbError(f"No chosen notebook has a parameter named {', '.join(sorted(unknown))}.")
    on_start = on_start or (lambda path: None)
    run_id = run_id or new_run_id()
    run_dir = Path(output_root or project.outputs) / run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise OvoNbError(f"Cannot write the run's outputs to {run_dir.parent} ({exc.strerror or exc}); choose a "
                         "writable folder with --output.") from None
    show_progress = progress if progress is not None else sys.stderr.isatty() and not os.environ.get("CI")
    results: list[NotebookResult] = []
    previous = {name: os.environ.get(name) for name in (RUN_DIR_ENV, RUN_ID_ENV)}
    os.environ[RUN_DIR_ENV] = str(run_dir.resolve())
    os.environ[RUN_ID_ENV] = run_id
    jobs = max(1, min(jobs, len(notebooks) or 1))
    try:
        work = [(str(path), str(run_dir / path.name), {k: v for k, v in parameters.items() if k in declared[path]},
                 str(Path.cwd()), show_progress and jobs == 1, cell_timeout) for path in notebooks]
        if jobs == 1:
            outcomes = []
            for path, task in zip(notebooks, work, strict=True):
                on_start(path)
                outcomes.append(_execute(*task))
        else:  # each notebook in its own process and kernel; results kept in notebook order
            from concurrent.futures import ProcessPoolExecutor
            from multiprocessing import get_context

            from .environments import open_environment
            from .secretbox import SecretBox

            SecretBox.default()  # the vault key and the sandbox's partner are made here, once, not raced for
            open_environment(str(parameters.get("profile") or "") or None).close()

            with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
                futures = []
                for path, task in zip(notebooks, work, strict=True):
                    on_start(path)
                    futures.append(pool.submit(_execute, *task))
                outcomes = [future.result() for future in futures]
        results.extend(NotebookResult(path.name, str(run_dir / path.name), ok, seconds, error)
                       for path, (ok, seconds, error) in zip(notebooks, outcomes, strict=True))
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    result = RunResult(run_id, run_dir, results)
    _write_reports(result, parameters)
    return result


def _execute(path: str, output: str, parameters: dict[str, Any], cwd: str, progress: bool,
             timeout: int) -> tuple[bool, float, str]:
    """Run one notebook with papermill: (ok, seconds, the failure in one line)."""
    import papermill

    started = time.perf_counter()
    try:
        papermill.execute_notebook(path, output, parameters=parameters, kernel_name=KERNEL_NAME, cwd=cwd,
                                   progress_bar=progress, execution_timeout=timeout,
                                   kernel_manager_class=_ipc_kernel_manager())
    except Exception as exc:
        return False, time.perf_counter() - started, _describe_failure(exc)
    return True, time.perf_counter() - started, ""


def _ipc_kernel_manager() -> type:
    """A kernel manager that talks to its kernel over Unix sockets in Jupyter's private runtime folder,
    not TCP on localhost: nothing on the machine can listen in, and the kernel prints no warning."""
    import secrets

    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets import CaselessStrEnum, default

    class IpcKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        @default("ip")
        def _own_socket_prefix(self) -> str:  # one per kernel: kernels running at once never share a socket
            folder = jupyter_runtime_dir()
            os.makedirs(folder, mode=0o700, exist_ok=True)
            return os.path.join(folder, f"ovo-nb-{secrets.token_hex(6)}-ipc")

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:  # a finished notebook's kernel runs nothing: no SIGINT, no "KeyboardInterrupt"
                return
            await super()._async_interrupt_kernel()

    return IpcKernelManager


def write_junit(result: RunResult, path: str | Path) -> Path:
    """JUnit XML for CI: one testcase per notebook and, for the BI submission, one per scenario
    (expected vs actual SNAP code in the failure message)."""
    from xml.etree import ElementTree as ET

    from .evidence import SCENARIO_RESULTS

    suites = ET.Element("testsuites", name=f"ovo-nb run {result.run_id}")
    notebooks = ET.SubElement(suites, "testsuite", name="notebooks")
    for notebook in result.notebooks:
        case = ET.SubElement(notebooks, "testcase", classname="notebooks", name=notebook.notebook,
                             time=f"{notebook.seconds:.3f}")
        if not notebook.ok:
            ET.SubElement(case, "failure", message=notebook.error[:500]).text = notebook.error
    scenario_file = result.run_dir / "bi_submission" / SCENARIO_RESULTS
    scenario_rows = json.loads(scenario_file.read_text(encoding="utf-8")) if scenario_file.exists() else []
    if scenario_rows:
        scenarios = ET.SubElement(suites, "testsuite", name="bi_submission")
        for row in scenario_rows:
            case = ET.SubElement(scenarios, "testcase", classname=f"bi_submission.{row['api']}",
                                 name=f"{row['id']} {row['title']}")
            if not row["passed"]:
                message = f"expected {row['expected']}, got {row['actual']}" + (
                    f": {row['error']}" if row["error"] else "") + (
                    f" (call {row['call_id']})" if row["call_id"] is not None else "")
                ET.SubElement(case, "failure", message=message).text = message
    for suite in suites:
        cases = list(suite)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for case in cases if case.find("failure") is not None)))
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(suites).write(target, encoding="utf-8", xml_declaration=True)
    except OSError as exc:
        raise OvoNbError(f"Cannot write the JUnit report to {target} ({exc.strerror or exc}).") from None
    return target


def _executed(run_dir: Path, notebook: NotebookResult) -> tuple[dict[str, Any], list[str]]:
    """What an executed notebook says of itself, read once: the parameters it ran with (its defaults,
    overridden by the injected ones; phones masked) and its refused step cards as text."""
    import nbformat

    path = run_dir / notebook.notebook
    if not path.exists():
        return {}, []
    executed = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    meta = executed.metadata.get("papermill", {})
    used = {**meta.get("default_parameters", {}), **meta.get("parameters", {})}
    refused = [text for cell in executed.cells for output in cell.get("outputs", [])
               if (text := output.get("data", {}).get("text/plain", "")).startswith("[refused]")
               and not text.startswith("[refused] Outcome")]
    return {k: mask_msisdn(str(v)) if "phone" in k and v else v for k, v in used.items()}, refused


def _notebook_row(notebook: NotebookResult, used: dict[str, Any]) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in used.items() if v not in ("", [], {}))
    status = '<span class="ok">PASS</span>' if notebook.ok else '<span class="fail">FAIL</span>'
    return (f'<tr><td><a href="{escape(notebook.notebook)}">{escape(notebook.notebook)}</a></td><td>{status}</td>'
            f'<td class="num">{notebook.seconds:.1f} s</td><td><small>{escape(shown)}</small></td>'
            f"<td>{escape(notebook.error)}</td></tr>")


def _write_reports(result: RunResult, parameters: Mapping[str, Any]) -> None:
    """``summary.json``, ``calls.csv`` (this run's calls, redacted) and a one-page ``summary.html``."""
    import pandas as pd

    from .calllog import CallLog
    from .config import load_profile

    try:
        profile = load_profile(str(parameters.get("profile") or "") or None)
        with CallLog(profile.state_dir / "calls.sqlite", run_id=result.run_id) as log:
            calls = log.to_frame()
    except OvoNbError:
        calls = pd.DataFrame(columns=["scenario", "method", "path", "status", "response_code", "latency_ms"])
    calls.to_csv(result.run_dir / "calls.csv", encoding="utf-8-sig")
    summary = {"run_id": result.run_id, "ok": result.ok, "python": sys.executable, "calls": len(calls),
               "notebooks": [asdict(n) for n in result.notebooks]}
    (result.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    ordered = sorted(result.notebooks, key=lambda n: n.ok)  # failures first
    executed = {n.notebook: _executed(result.run_dir, n) for n in ordered}
    rows = "".join(_notebook_row(n, executed[n.notebook][0]) for n in ordered)
    codes = calls["response_code"].fillna("").replace("", "no answer").value_counts()
    code_rows = "".join(f"<tr><td><code>{escape(code)}</code></td><td>{escape(code_meaning(code))}</td>"
                        f"<td class='num'>{count}</td></tr>" for code, count in codes.items())
    refusals = [(n.notebook, text) for n in ordered for text in executed[n.notebook][1]]
    refusal_rows = "".join(f"<tr><td>{escape(name)}</td><td><pre>{escape(text)}</pre></td></tr>"
                           for name, text in refusals)
    passed = sum(n.ok for n in result.notebooks)
    html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ovo-nb run {result.run_id}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#1f1b2e;max-width:1200px}}
table{{border-collapse:collapse;margin:1rem 0}}td,th{{border:1px solid #d8d2e6;padding:4px 10px;text-align:left;
vertical-align:top}}th{{background:#f2f0f7}}.num{{text-align:right}}pre{{margin:0;white-space:pre-wrap}}
.ok{{color:#176b2c;font-weight:600}}.fail{{color:#9b1c1c;font-weight:600}}code{{white-space:nowrap}}</style></head><body>
<h1>ovo-nb run {escape(result.run_id)}</h1>
<p class="{'ok' if result.ok else 'fail'}">{passed} of {len(result.notebooks)} notebooks passed; {len(calls)} calls
(<a href="calls.csv">calls.csv</a>, redacted).</p>
<h2>Notebooks</h2><table><tr><th>notebook</th><th>result</th><th>duration</th><th>parameters</th><th>error</th></tr>
{rows}</table>
<h2>Refusals shown in the notebooks</h2>
{f"<table><tr><th>notebook</th><th>step</th></tr>{refusal_rows}</table>" if refusals else "<p>None.</p>"}
<h2>SNAP response codes seen</h2><table><tr><th>code</th><th>meaning</th><th>calls</th></tr>{code_rows}</table>
</body></html>"""
    (result.run_dir / "summary.html").write_text(html)
