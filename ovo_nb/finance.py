"""Finance's page: the reconciliation as a web app, for people who do not open JupyterLab.

``ovo-nb finance`` serves ``ovo_nb/apps/finance.ipynb`` with Voila; its one cell shows
:func:`finance_app`. Finance uploads (or picks) the partner's records and OVO's settlement file,
chooses the period, and sees the rows and IDR per category, the daily chart and each category's
rows, then downloads the workbook, the page and the CSVs. It calls the same :func:`reconcile` and
:mod:`ovo_nb.reports` as the command line and the drill notebook: one engine, three doors.

Files travel over the page's own authenticated connection in 1 MB pieces (``apps/files.js``):
an upload over the cap is refused in the browser before a byte is sent, and again here if a
client lies. Uploads and results live in a private folder of the session, deleted when the page
is closed (its kernel exits). A bad file is one message on the page.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as w
import traitlets

from .errors import OvoNbError
from .reconciliation import AMOUNT_FORMATS, CATEGORY_TITLES, NO_PRESET, PRESETS, Preset, Reconciliation, reconcile
from .reports import TABLE_STYLE, counts_html, rows_html, write_reconciliation, zip_files
from .snap import JAKARTA

__all__ = ["FinanceApp", "FinanceSettings", "finance_app", "quiet_server_logs"]

DATA_ENV, MAX_UPLOAD_ENV, SESSIONS_ENV = "OVO_NB_FINANCE_DATA", "OVO_NB_FINANCE_MAX_UPLOAD", "OVO_NB_FINANCE_SESSIONS"
"""How ``ovo-nb finance`` tells the page's kernel its settings."""
DEFAULT_MAX_UPLOAD = 100 * 1024 * 1024
KINDS = (".csv", ".xlsx", ".parquet")
SAMPLES = Path(__file__).parent / "samples"
_PIECE = 1 << 20
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinanceSettings:
    """Where files may be picked from, the largest upload, and where sessions keep their files."""

    data_dir: Path | None = None
    max_upload: int = DEFAULT_MAX_UPLOAD
    sessions: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "ovo-nb-finance")

    @classmethod
    def from_env(cls) -> FinanceSettings:
        data = os.environ.get(DATA_ENV)
        cap = os.environ.get(MAX_UPLOAD_ENV)
        sessions = os.environ.get(SESSIONS_ENV)
        return cls(Path(data) if data else None, int(cap) if cap else DEFAULT_MAX_UPLOAD,
                   Path(sessions) if sessions else cls().sessions)


class _NothingToAct(logging.Filter):
    """Drops the server's lines nobody running the page can act on: the packaged notebook is "not trusted" (trust
    is per user, and the page runs its own code), and a browser tab closed mid-message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "is not trusted" in record.getMessage():
            return False
        kind = record.exc_info[0] if record.exc_info else None
        return not (kind is not None and kind.__name__ in ("WebSocketClosedError", "StreamClosedError"))


def quiet_server_logs(*loggers: logging.Logger) -> None:
    """Keep ``ovo-nb finance``'s console to what its operator acts on (the server's and tornado's loggers)."""
    for logger in (*loggers, *(logging.getLogger(name) for name in ("tornado.application", "tornado.general",
                                                                      "asyncio"))):
        logger.addFilter(_NothingToAct())


PICKABLE_FILES = 500
"""The most files of the data folder the page offers to pick (the rest are left out, the newest kept)."""


def _exports_in(folder: Path) -> list[tuple[str, str]]:
    """The export files in ``folder`` and its subfolders (``exports/ovo/settlement-*.csv``), labelled by their path
    in it; hidden ones and any whose real place is outside the folder are left out."""
    root = folder.resolve()
    found = [path for path in root.rglob("*")
             if path.suffix.lower() in KINDS and path.is_file() and not any(part.startswith(".") for part in
                                                                             path.relative_to(root).parts)
             and path.resolve().is_relative_to(root)]
    newest = sorted(found, key=lambda path: path.stat().st_mtime, reverse=True)[:PICKABLE_FILES]
    return [(str(path.relative_to(root)), str(path)) for path in sorted(newest)]


def size_text(size: float) -> str:
    """Bytes as people read them: ``12.5 MB``."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "bytes" or size == int(size) else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} GB"


class _Files(anywidget.AnyWidget):
    _esm = (Path(__file__).parent / "apps" / "files.js").read_text()
    mode = traitlets.Unicode("upload").tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)


class Upload(_Files):
    """A file input whose file is written, piece by piece and within the cap, into ``folder``."""

    accept = traitlets.Unicode(",".join(KINDS)).tag(sync=True)
    max_bytes = traitlets.Int(DEFAULT_MAX_UPLOAD).tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)

    def __init__(self, folder: Path, on_change: Callable[[Upload], None], too_big: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.folder, self.on_change, self.too_big = folder, on_change, too_big
        """``too_big``: what to do with a file over the cap."""
        folder.mkdir(mode=0o700, exist_ok=True)
        self.path: Path | None = None
        """The received file, once it is whole."""
        self.error = ""
        self._part: Any = None
        self._expected = self._received = 0
        self._name = ""
        self.on_msg(self._message)

    def _message(self, _widget: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        event, name = content.get("event"), str(content.get("name", ""))
        if event == "refused":
            self._fail(f"{name} is {size_text(float(content.get('size', 0)))}: over the "
                       f"{size_text(self.max_bytes)} a file may have here. {self.too_big}".strip())
        elif event == "start":
            self._start(name, int(content.get("size", -1)))
        elif event == "piece" and self._part is not None:
            data = b"".join(bytes(b) for b in buffers)
            self._received += len(data)
            if self._received > min(self._expected, self.max_bytes):
                self._fail(f"{self._name} sent more than it announced; nothing was kept.")
                return
            self._part.write(data)
        elif event == "end" and self._part is not None:
            self._finish()

    def _start(self, name: str, size: int) -> None:
        self._discard()
        suffix = Path(name).suffix.lower()
        if suffix not in KINDS:
            self._fail(f"{name} is not a .csv, .xlsx or .parquet file.")
            return
        if not 0 <= size <= self.max_bytes:
            self._fail(f"{name} is over the {size_text(self.max_bytes)} a file may have here.")
            return
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name).stem)[:80].strip(".-") or "file"
        self._name, self._expected, self._received = name, size, 0
        self._target = self.folder / f"{stem}{suffix}"  # its own name: messages about its rows say it
        self._part = self._part_path().open("wb")
        self.note = f"receiving {name} ({size_text(size)})"

    def _part_path(self) -> Path:
        """Where the file being received is written until it is whole."""
        return self._target.with_suffix(self._target.suffix + ".part")

    def _finish(self) -> None:
        self._part.close()
        self._part = None
        part = self._part_path()
        if self._received != self._expected:
            part.unlink(missing_ok=True)
            self._fail(f"{self._name} arrived incomplete ({size_text(self._received)} of "
                       f"{size_text(self._expected)}); upload it again.")
            return
        part.replace(self._target)
        self.path, self.error = self._target, ""
        self.note = f"{self._name} ({size_text(self._expected)})"
        self.on_change(self)

    def _fail(self, message: str) -> None:
        self._discard()
        self.error, self.note = message, "not uploaded"
        self.on_change(self)

    def _discard(self) -> None:
        """Forget (and delete) what this input held."""
        if self._part is not None:
            self._part.close()
            self._part_path().unlink(missing_ok=True)
            self._part = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
        self.path, self.error = None, ""

    def clear(self) -> None:
        self._discard()
        self.note = ""


class Download(_Files):
    """A button that sends ``path`` to the browser, which saves it."""

    ready = traitlets.Bool(False).tag(sync=True)

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(mode="download", label=label, **kwargs)
        self.path: Path | None = None
        self.on_msg(self._message)

    def offer(self, path: Path | None) -> None:
        self.path, self.ready = path, path is not None

    def _message(self, _widget: Any, content: dict[str, Any], _buffers: list[Any]) -> None:
        if content.get("event") != "get" or self.path is None:
            return
        with self.path.open("rb") as source:
            while piece := source.read(_PIECE):
                self.send({"event": "piece"}, buffers=[piece])
        kind = mimetypes.guess_type(self.path.name)[0] or "application/octet-stream"
        self.send({"event": "end", "name": self.path.name, "type": kind})


@dataclass
class _Side:
    """One side's inputs on the page."""

    label: str
    upload: Upload
    pick: w.Dropdown
    preset: w.Dropdown
    amount_format: w.Dropdown

    def source(self) -> Path | None:
        return self.upload.path or (Path(self.pick.value) if self.pick.value else None)

    def box(self) -> w.VBox:
        return w.VBox([w.HTML(f"<h3>{escape(self.label)}</h3>"), self.upload, self.pick, self.preset,
                       self.amount_format], layout=w.Layout(width="50%", padding="0 1em 0 0"))


def _previous_month() -> str:
    today = datetime.now(JAKARTA).date()
    return f"{today.year - (today.month == 1)}-{(today.month - 2) % 12 + 1:02d}"


class FinanceApp:
    """The page: two files, a period, the result. Each session keeps its files in its own folder."""

    def __init__(self, settings: FinanceSettings | None = None) -> None:
        self.settings = settings or FinanceSettings.from_env()
        self.settings.sessions.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix="session-", dir=self.settings.sessions))
        """This session's uploads and results (0700), deleted when the session ends."""
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.folder, True)  # also when the kernel exits
        self.result: Reconciliation | None = None
        self.message = w.HTML()
        self.sides = {side: self._side(side, label, preset) for side, label, preset in (
            ("partner", "Partner records", "ledger"), ("ovo", "OVO settlement", "ovo-settlement"))}
        self.period = w.Text(value=_previous_month(), description="Period",
                             placeholder="2026-11, 2026-11-30 or empty for the whole files",
                             style={"description_width": "initial"}, layout=w.Layout(width="28em"))
        self.button = w.Button(description="Reconcile", button_style="primary")
        self.button.on_click(lambda _: self.run())
        self.counts, self.chart, self.rows = w.HTML(), w.HTML(), w.HTML()
        self.category = w.ToggleButtons(options=[], description="Rows", style={"button_width": "auto"})
        self.category.observe(lambda _: self._show_rows(), names="value")
        self.downloads = {name: Download(label) for name, label in (
            ("reconciliation.xlsx", "Workbook (.xlsx)"), ("reconciliation-csv.zip", "All CSVs (.zip)"),
            ("category.csv", "This category (.csv)"), ("reconciliation.html", "Page (.html)"))}
        self.results = w.VBox([w.HTML("<h2>Rows and IDR per category</h2>"), self.counts,
                               w.HTML("<h2>Per day</h2>"), self.chart, w.HTML("<h2>Each category</h2>"),
                               self.category, self.rows, w.HTML("<h2>Download</h2>"),
                               w.HBox(list(self.downloads.values()))])
        self.results.layout.display = "none"
        self._runs = 0
        self._written: dict[str, Path] = {}
        picking = (f"pick one from the {escape(self.settings.data_dir.name)} folder or " if self.settings.data_dir
                   else "")
        self.widget = w.VBox([
            w.HTML(f"<style>{TABLE_STYLE}.ovo-file-label{{display:flex;gap:.6em;align-items:center;margin:.3em 0}}"
                   ".ovo-file-note{color:#5b5570;font-size:12px}.ovo-download{width:auto;padding:0 1.2em}"
                   "table.data th{white-space:nowrap}.ovo-error{color:#9b1c1c;background:#fdecec;"
                   "border-left:4px solid #d0473a;padding:.5em .8em}.ovo-ok{color:#176b2c;background:#eaf6ee;"
                   "border-left:4px solid #2f8f5b;padding:.5em .8em}</style>"
                   "<p>Upload the partner's records and OVO's settlement file (CSV, XLSX or Parquet, up to "
                   f"{size_text(self.settings.max_upload)} each), or {picking}try the sample month; choose the "
                   "period and reconcile.</p>"),
            w.HBox([side.box() for side in self.sides.values()]),
            w.HBox([self.period, self.button]), self.message, self.results])

    def _side(self, side: str, label: str, preset: str) -> _Side:
        where = (f"Pick it from the {self.settings.data_dir.name} folder instead." if self.settings.data_dir
                 else "Ask for it to be put in the page's data folder (ovo-nb finance --data).")
        upload = Upload(self.folder / side, self._uploaded, where, label=f"{label}:",
                        max_bytes=self.settings.max_upload)
        options: list[tuple[str, str]] = [("(uploaded file)", "")]
        if self.settings.data_dir and self.settings.data_dir.is_dir():
            options += _exports_in(self.settings.data_dir)
        options += [(f"sample: {path.name}", str(path)) for path in sorted(SAMPLES.glob("*.csv"))]
        pick = w.Dropdown(options=options, value="", description="or pick", layout=w.Layout(width="30em"))
        pick.observe(lambda change, upload=upload: upload.clear() if change["new"] else None, names="value")
        presets = w.Dropdown(options=[(f"{p.name}: {p.what}", p.name) for p in (*PRESETS.values(), NO_PRESET)],
                             value=preset, description="Layout", layout=w.Layout(width="30em"))
        formats = w.Dropdown(options=[(f"{name}: {what}", name) for name, what in AMOUNT_FORMATS.items()],
                             value="auto", description="Amounts", layout=w.Layout(width="30em"))
        return _Side(label, upload, pick, presets, formats)

    def _uploaded(self, upload: Upload) -> None:
        side = next(s for s in self.sides.values() if s.upload is upload)
        if upload.path is not None:
            side.pick.value = ""
        self._say(upload.error, error=True) if upload.error else self._say("")

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message.value = f'<div class="ovo-{"error" if error else "ok"}" role="{"alert" if error else "status"}">' \
                             f"{escape(text)}</div>" if text else ""

    def run(self) -> None:
        """Reconcile what is chosen; the result, or one message saying what to fix."""
        sources = {name: side.source() for name, side in self.sides.items()}
        missing = [self.sides[name].label for name, source in sources.items() if source is None]
        if missing:
            self._say(f"Choose a file for {' and '.join(missing)} first.", error=True)
            return
        self.button.disabled, self.button.description = True, "Reconciling..."
        self._say("")
        try:
            self._reconcile(sources)
        except OvoNbError as exc:
            self.results.layout.display = "none"
            self._say(str(exc), error=True)
        except Exception as exc:  # a file no reader understands: say so, and keep the details in the log
            _log.exception("reconciliation failed")
            self.results.layout.display = "none"
            self._say(f"These files could not be reconciled ({type(exc).__name__}: {str(exc).splitlines()[0]}).",
                      error=True)
        finally:
            self.button.disabled, self.button.description = False, "Reconcile"

    def _reconcile(self, sources: dict[str, Path | None]) -> None:
        presets = {name: _preset(side.preset.value, side.amount_format.value) for name, side in self.sides.items()}
        result = reconcile(sources["partner"], sources["ovo"], period=self.period.value.strip() or None,
                           partner_preset=presets["partner"], ovo_preset=presets["ovo"],
                           partner_source=getattr(sources["partner"], "name", ""),
                           ovo_source=getattr(sources["ovo"], "name", ""))
        self._runs += 1
        out = self.folder / f"result-{self._runs}"
        written = write_reconciliation(result, out)
        csvs = [path for name, path in written.items() if name.endswith(".csv")]
        bundle = zip_files(csvs, out / "reconciliation-csv.zip")
        self.result, self._written = result, {**written, "reconciliation-csv.zip": bundle}
        self.counts.value = counts_html(result)
        self.chart.value = f'<div class="scroll">{result.chart().svg()}</div>'
        counts = result.counts()
        self.category.options = [(f"{CATEGORY_TITLES[name]} ({int(counts[name]):,})", name)
                                 for name in result.categories]
        self.category.value = next((name for name in result.categories if name != "matched" and counts[name]),
                                   "matched")
        for name in ("reconciliation.xlsx", "reconciliation-csv.zip", "reconciliation.html"):
            self.downloads[name].offer(self._written[name])
        self._show_rows()
        self.results.layout.display = ""
        where = f" {result.period}" if result.period else ""
        self._say(f"Reconciled{where}: {int(counts['matched']):,} matched, "
                  + (f"{int(counts['cut_off']):,} across the cut-off, " if "cut_off" in counts else "")
                  + f"{result.open_rows():,} to act on.")

    def _show_rows(self) -> None:
        name = self.category.value
        if self.result is None or not name:
            return
        self.rows.value = rows_html(self.result, name, limit=200)
        self.downloads["category.csv"].offer(self._written.get(f"{name}.csv"))
        self.downloads["category.csv"].label = f"{CATEGORY_TITLES[name]} (.csv)"

    def close(self) -> None:
        """End the session now: its uploads and results are deleted."""
        self._cleanup()


def _preset(name: str, amount_format: str) -> Preset:
    """The layout chosen on the page, with its amount format unless that is ``auto``."""
    base = PRESETS.get(name, NO_PRESET)
    return replace(base, amount_format=base.amount_format if amount_format == "auto" else amount_format)



def finance_app(settings: FinanceSettings | None = None) -> w.VBox:
    """The page's widget (what ``ovo_nb/apps/finance.ipynb`` shows)."""
    return FinanceApp(settings).widget

