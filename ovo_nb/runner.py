"""Run the notebooks headless with papermill, into ``outputs/<run-id>/``.

Each notebook is executed in-process by ``papermill.execute_notebook`` with the kernel
of the current environment, a per-cell timeout, and the folder the command ran in as working
directory (relative paths in parameters mean what the user meant). The notebooks are the
project's (:mod:`ovo_nb.project`); notebooks learn where to put their artefacts from ``OVO_NB_RUN_DIR``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._escape import html_page, write_csv
from ._files import RUN_DIR_ENV, RUN_ID_ENV, artefact_dir
from .calllog import mask_msisdn, new_run_id, redact_url
from .config import PROFILE_ENV, default_profile, load_profile
from .errors import OvoNbError
from .outcome import NotebookOutcome
from .project import Project, find_project
from .views import code_meaning

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EXIT_CODES", "RUN_DIR_ENV", "RUN_ID_ENV", "NotebookResult", "RunResult", "artefact_dir",
           "coerce_parameters", "find_notebooks", "requested_profile", "resume_command", "run_notebooks", "write_junit"]

CELL_TIMEOUT_SECONDS = 600
KERNEL_NAME = "python3"


def requested_profile(parameters: Mapping[str, Any], profile: str | None = None) -> str:
    """The profile a run's notebooks use: its ``profile`` parameter, else ``profile`` (``--profile``), else
    :func:`~ovo_nb.config.default_profile`."""
    return str(parameters.get("profile") or "") or profile or default_profile()


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


EXIT_CODES = {"passed": 0, "failed": 1, "waiting": 3, "skipped": 4}
"""``ovo-nb run``'s exit code by the run's state (2 is a usage error, before anything ran)."""
_SEVERITY = ("passed", "skipped", "waiting", "failed")
"""A run is as bad as its worst notebook."""
_LABELS = {"passed": "PASS", "failed": "FAIL", "waiting": "WAIT", "skipped": "SKIP"}


@dataclass(frozen=True)
class NotebookResult:
    """How one notebook ended, and where its calls went."""

    notebook: str
    output: str
    state: str
    """``passed``, ``failed``, ``waiting`` (for a customer's webview step) or ``skipped``."""
    seconds: float
    error: str = ""
    """Why it did not pass, in one line (the failing cell, the skip's reason, what is left to do)."""
    profile: str = ""
    """The profile its calls went to; empty when it called no server."""
    base_url: str = ""
    resume: str = ""
    """For ``waiting``: the command that resumes it (phone numbers masked here; the terminal shows them)."""
    webview_file: str = ""
    """For ``waiting``: the 0600 file in the state folder holding the webview URL to open."""
    resume_exact: str = field(default="", repr=False)
    """The resume command as typed (phone numbers in full): for the terminal only, never written to outputs."""
    recorded: bool = True
    """Whether the notebook recorded its own outcome (and so where its calls went) before it ended."""

    @property
    def ok(self) -> bool:
        return self.state == "passed"

    @property
    def label(self) -> str:
        return _LABELS[self.state]

    @property
    def where(self) -> str:
        """Where its calls went, in words."""
        if self.profile:
            return f"{self.profile} ({self.base_url})"
        return "no server (offline)" if self.recorded else "not recorded by the notebook"


@dataclass(frozen=True)
class RunResult:
    """A whole run: where it went and how each notebook ended."""

    run_id: str
    run_dir: Path
    notebooks: list[NotebookResult]
    profile: str = ""
    """The profile asked for (``-p profile``, ``--profile``, ``$OVO_NB_PROFILE``, the project's, else sandbox)."""
    source: str = ""
    """Which notebooks ran, in words."""

    @property
    def state(self) -> str:
        return max((n.state for n in self.notebooks), key=_SEVERITY.index, default="passed")

    @property
    def ok(self) -> bool:
        return self.state == "passed"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.state]

    def tally(self) -> str:
        """``5 of 7 notebooks passed, 1 waiting for a customer, 1 skipped``."""
        counts = {state: sum(n.state == state for n in self.notebooks) for state in _SEVERITY}
        words = {"failed": "failed", "waiting": "waiting for a customer", "skipped": "skipped"}
        extra = [f"{counts[s]} {words[s]}" for s in ("failed", "waiting", "skipped") if counts[s]]
        return ", ".join([f"{counts['passed']} of {len(self.notebooks)} notebooks passed", *extra])


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


def _describe_failure(exc: BaseException) -> tuple[str, str]:
    """The failure in one line (the failing cell, the error type and its message), and the error's type."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        if exc.ename == "NotebookSkipped":
            return str(exc.evalue), exc.ename
        return f"cell {exc.exec_count} failed: {exc.ename}: {exc.evalue}", exc.ename
    text = f"{type(exc).__name__}: {exc}"
    if "Kernel died" in text or "DeadKernelError" in text:
        return f"the kernel died (out of memory or a crash in native code): {text}", type(exc).__name__
    return text, type(exc).__name__


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
    profile: str | None = None,
) -> RunResult:
    """Execute notebooks with papermill into ``<output_root>/<run-id>/``; never raises for a notebook.

    ``parameters`` go to every notebook that declares them. A name no chosen notebook
    declares is refused up front (papermill alone would only warn). ``jobs`` above 1 runs that
    many notebooks at once, each in its own process and kernel; the outputs are the same.
    ``project`` (default: the one around the working folder) says which notebooks and where outputs go.
    ``profile`` is the one the notebooks use unless a ``profile`` parameter says otherwise (default:
    ``$OVO_NB_PROFILE``, the project's, else sandbox). A notebook whose calls went to another profile
    than asked fails: a run is never green against the wrong OVO.
    """
    import papermill

    project = project or find_project()
    notebooks = find_notebooks(names, project.notebooks)
    parameters = dict(parameters or {})
    declared = {path: set(papermill.inspect_notebook(str(path))) for path in notebooks}
    unknown = set(parameters) - set().union(*declared.values())
    if unknown:
        raise OvoNbError(f"No chosen notebook has a parameter named {', '.join(sorted(unknown))}.")
    asked = requested_profile(parameters, profile)
    load_profile(asked, complete=False)  # an unknown profile, a wrong value or a committed secret: before anything runs
    on_start = on_start or (lambda path: None)
    jobs = max(1, min(jobs, len(notebooks) or 1))
    if jobs > 1:  # the vault key and the sandbox's partner are made here, once, not raced for by the workers
        from .environments import open_environment
        from .secretbox import SecretBox

        SecretBox.default()
        open_environment(asked).close()  # a profile that cannot be opened: said before any output folder exists
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
    chosen = {path: {k: v for k, v in parameters.items() if k in declared[path]} for path in notebooks}
    with _environment({RUN_DIR_ENV: str(run_dir.resolve()), RUN_ID_ENV: run_id, PROFILE_ENV: asked}):
        work = [(str(path), str(run_dir / path.name), chosen[path], str(Path.cwd()), show_progress and jobs == 1,
                 cell_timeout) for path in notebooks]
        if jobs == 1:
            outcomes = []
            for path, task in zip(notebooks, work, strict=True):
                on_start(path)
                outcomes.append(_execute(*task))
        else:  # each notebook in its own process and kernel; results kept in notebook order
            from concurrent.futures import ProcessPoolExecutor
            from multiprocessing import get_context

            with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=_die_with_parent,
                                     initargs=(os.getpid(),)) as pool:
                futures = []
                for path, task in zip(notebooks, work, strict=True):
                    on_start(path)
                    futures.append(pool.submit(_execute, *task))
                outcomes = [future.result() for future in futures]
    for path in notebooks:
        _redact_parameters(run_dir / path.name, chosen[path])
    results = [_verdict(path, run_dir / path.name, outcome, asked, chosen[path], profile)
               for path, outcome in zip(notebooks, outcomes, strict=True)]
    result = RunResult(run_id, run_dir, results, asked, project.describe())
    _write_reports(result)
    return result


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the kernels this run starts; restore them afterwards."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _verdict(path: Path, output: Path, executed: tuple[float, str, str], asked: str, parameters: Mapping[str, Any],
             profile_option: str | None) -> NotebookResult:
    """How one notebook ended: what it recorded of itself (:mod:`ovo_nb.outcome`), else how papermill ended."""
    seconds, error, ename = executed
    outcome = _read_outcome(output)
    if outcome is None:
        state = "skipped" if ename == "NotebookSkipped" else ("failed" if error else "passed")
        return NotebookResult(path.name, str(output), state, seconds, error, recorded=False)
    state, detail = outcome.state, outcome.detail
    if error and state != "skipped":
        state, detail = "failed", error
    elif outcome.profile and outcome.profile != asked:
        state, detail = "failed", f"its calls went to profile {outcome.profile}, not {asked} as asked"
    resume = exact = ""
    if state == "waiting":
        again = {**parameters, outcome.resume: "<the URL the browser landed on>"}
        resume = resume_command(path, again, profile_option, mask=True)
        exact = resume_command(path, again, profile_option)
        detail = f"{detail}; resume within {outcome.resume_within}" if outcome.resume_within else detail
    return NotebookResult(path.name, str(output), state, seconds, detail if state != "passed" else "",
                          outcome.profile, outcome.base_url, resume, outcome.webview_file, exact)


def _redact_parameters(output: Path, parameters: Mapping[str, Any]) -> None:
    """Phone numbers and webview callback URLs (their authCode) given as parameters, masked where papermill wrote
    them into the executed notebook (the injected cell and its metadata): outputs never hold them in full."""
    import nbformat

    masked = {str(v): _shown(k, v) for k, v in parameters.items() if v and _shown(k, v) != v}
    if not masked or not output.exists():
        return
    executed = nbformat.read(output, as_version=4)  # type: ignore[no-untyped-call]
    for cell in executed.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            for full, shown in masked.items():
                cell.source = cell.source.replace(repr(full), repr(shown)).replace(full, shown)
    given = executed.metadata.get("papermill", {}).get("parameters", {})
    for name, value in given.items():
        given[name] = masked.get(str(value), value)
    nbformat.write(executed, output)  # type: ignore[no-untyped-call]


def _shown(name: str, value: Any) -> Any:
    """A parameter as outputs may show it: a phone masked, a callback URL's authCode masked."""
    if "phone" in name and value:
        return mask_msisdn(str(value))
    if "callback_url" in name and value:
        return redact_url(str(value))
    return value


def _read_outcome(output: Path) -> NotebookOutcome | None:
    import nbformat

    if not output.exists():
        return None
    return NotebookOutcome.from_notebook(nbformat.read(output, as_version=4))  # type: ignore[no-untyped-call]


def resume_command(notebook: Path, parameters: Mapping[str, Any], profile_option: str | None, *,
                   mask: bool = False) -> str:
    """The ``ovo-nb run`` command that runs ``notebook`` again with ``parameters`` (phones masked with ``mask``)."""
    words = ["ovo-nb", "run", notebook.stem.split("_", 1)[-1]]
    if profile_option:
        words += ["--profile", profile_option]
    for name, value in parameters.items():
        text = json.dumps(value) if isinstance(value, (list, dict, bool)) else str(value)
        if mask and "phone" in name:
            text = "<the customer's phone>"
        words += ["-p", name, shlex.quote(text)]
    return " ".join(words)


def _die_with_parent(parent: int) -> None:
    """In a worker process: end when ``parent`` does, even killed with SIGKILL, so a killed ``ovo-nb run`` leaves
    nothing behind (and no one holding its output pipe). Its kernel follows it (ipykernel watches its parent),
    and multiprocessing's resource tracker exits once no process holds its pipe.

    Linux delivers SIGKILL on the parent's death (PR_SET_PDEATHSIG); elsewhere a thread watches the parent.
    """
    import signal
    import threading

    if sys.platform == "linux":
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    else:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="ovo-nb-parent-watch", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def _execute(path: str, output: str, parameters: dict[str, Any], cwd: str, progress: bool,
             timeout: int) -> tuple[float, str, str]:
    """Run one notebook with papermill: (seconds, the failure in one line, the error's type)."""
    import papermill

    started = time.perf_counter()
    try:
        papermill.execute_notebook(path, output, parameters=parameters, kernel_name=KERNEL_NAME, cwd=cwd,
                                   progress_bar=progress, execution_timeout=timeout,
                                   kernel_manager_class=_ipc_kernel_manager())
    except Exception as exc:
        return (time.perf_counter() - started, *_describe_failure(exc))
    return time.perf_counter() - started, "", ""


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
    """JUnit XML for CI: one testcase per notebook (its profile and base URL as properties; waiting and
    skipped as skipped, with the reason) and, for the BI submission, one per scenario (expected vs actual
    SNAP code in the failure message)."""
    from xml.etree import ElementTree as ET

    from .evidence import SCENARIO_RESULTS

    suites = ET.Element("testsuites", name=f"ovo-nb run {result.run_id}")
    notebooks = ET.SubElement(suites, "testsuite", name="notebooks")
    for notebook in result.notebooks:
        case = ET.SubElement(notebooks, "testcase", classname="notebooks", name=notebook.notebook,
                             time=f"{notebook.seconds:.3f}")
        properties = ET.SubElement(case, "properties")
        for name, value in (("state", notebook.state), ("profile", notebook.profile or "none (offline)"),
                            ("base_url", notebook.base_url)):
            ET.SubElement(properties, "property", name=name, value=value)
        if notebook.state == "failed":
            ET.SubElement(case, "failure", message=notebook.error[:500]).text = notebook.error
        elif notebook.state in ("waiting", "skipped"):
            reason = f"{notebook.state}: {notebook.error}" + (f"; resume: {notebook.resume}" if notebook.resume else "")
            ET.SubElement(case, "skipped", message=reason[:500]).text = reason
        ET.SubElement(case, "system-out").text = f"calls went to {notebook.where}"
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
        suite.set("skipped", str(sum(1 for case in cases if case.find("skipped") is not None)))
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
    return {k: _shown(k, v) for k, v in used.items()}, refused


_STATE_CLASS = {"passed": "ok", "failed": "fail", "waiting": "wait", "skipped": "skip"}


def _write_reports(result: RunResult) -> None:
    """``summary.json``, ``calls.csv`` (this run's calls, redacted) and a one-page ``summary.html``."""
    import pandas as pd

    from .calllog import CallLog

    try:
        profile = load_profile(result.profile)
        with CallLog(profile.state_location("calls"), run_id=result.run_id) as log:
            calls = log.to_frame()
    except OvoNbError:
        calls = pd.DataFrame(columns=["scenario", "method", "path", "status", "response_code", "latency_ms"])
    write_csv(calls, result.run_dir / "calls.csv", index=True)
    summary = {"run_id": result.run_id, "state": result.state, "ok": result.ok, "profile": result.profile,
               "notebooks_from": result.source, "python": sys.executable, "calls": len(calls),
               "notebooks": [{**{k: v for k, v in asdict(n).items() if k != "resume_exact"}, "where": n.where}
                             for n in result.notebooks]}
    (result.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    ordered = sorted(result.notebooks, key=lambda n: -_SEVERITY.index(n.state))  # failures first
    executed = {n.notebook: _executed(result.run_dir, n) for n in ordered}
    (result.run_dir / "summary.html").write_text(_summary_html(result, calls, ordered, executed), encoding="utf-8")


SUMMARY_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ovo-nb run {{ run.run_id }}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#1f1b2e;max-width:1200px}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #d8d2e6;padding:4px 10px;text-align:left;
vertical-align:top}th{background:#f2f0f7}.num{text-align:right}pre{margin:0;white-space:pre-wrap}
.ok{color:#176b2c;font-weight:600}.fail{color:#9b1c1c;font-weight:600}.wait{color:#7a5a00;font-weight:600}
.skip{color:#6b6280;font-weight:600}code{white-space:nowrap}</style></head><body>
<h1>ovo-nb run {{ run.run_id }}</h1>
<p class="{{ classes[run.state] }}">{{ run.tally() }}; profile {{ run.profile }}; {{ calls }} calls
(<a href="calls.csv">calls.csv</a>, redacted).</p>
<p>Ran {{ run.source }}.</p>
<h2>Notebooks</h2><table><tr><th>notebook</th><th>result</th><th>duration</th><th>calls went to</th><th>parameters</th>
<th>why not passed</th></tr>
{%- for n, parameters in notebooks %}
<tr><td><a href="./{{ n.notebook|urlencode }}">{{ n.notebook }}</a></td><td><span class="{{ classes[n.state] }}">\
{{ n.label }}</span></td><td class="num">{{ '%.1f' % n.seconds }} s</td><td>{{ n.where }}</td>
<td><small>{{ parameters }}</small></td><td>{{ n.error }}{% if n.resume %}<br><code>{{ n.resume }}</code>{% endif %}\
</td></tr>
{%- endfor %}</table>
<h2>Refusals shown in the notebooks</h2>
{% if refusals %}<table><tr><th>notebook</th><th>step</th></tr>
{%- for name, text in refusals %}<tr><td>{{ name }}</td><td><pre>{{ text }}</pre></td></tr>{% endfor %}</table>
{%- else %}<p>None.</p>{% endif %}
<h2>SNAP response codes seen</h2><table><tr><th>code</th><th>meaning</th><th>calls</th></tr>
{%- for code, meaning, count in codes %}<tr><td><code>{{ code }}</code></td><td>{{ meaning }}</td>
<td class="num">{{ count }}</td></tr>{% endfor %}</table>
</body></html>"""
"""The run's page: every value (notebook names, parameters, errors, refusals) escaped by the template."""


def _summary_html(result: RunResult, calls: pd.DataFrame, ordered: list[NotebookResult],
                  executed: Mapping[str, tuple[dict[str, Any], list[str]]]) -> str:
    """``summary.html``: each notebook (failures first) with its state, where its calls went, its parameters and
    what to run next; the refusals shown; the codes seen."""
    notebooks = [(n, ", ".join(f"{k}={v!r}" for k, v in executed[n.notebook][0].items() if v not in ("", [], {})))
                 for n in ordered]
    codes = calls["response_code"].fillna("").replace("", "no answer").value_counts()
    return html_page(SUMMARY_PAGE, run=result, classes=_STATE_CLASS, notebooks=notebooks, calls=len(calls),
                     refusals=[(n.notebook, text) for n in ordered for text in executed[n.notebook][1]],
                     codes=[(code, code_meaning(str(code)), count) for code, count in codes.items()])
