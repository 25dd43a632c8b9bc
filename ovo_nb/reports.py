"""Reconciliation reports finance can use as they are: CSV per category, one XLSX, one HTML page.

Columns carry names people use ("Partner IDR", "Difference IDR (partner − OVO)") and each table
ends with its totals. The XLSX has a Summary sheet (parameters, counts, IDR totals, sources,
when) and a sheet per category with a bold frozen header, filters and ``#,##0.00`` amounts. A
category over Excel's 1,048,576 rows a sheet goes to Parquet and CSV files beside the workbook,
streamed from the engine, and the Summary says so. The HTML is one self-contained file (no
scripts, no network) that fits a 1280 px screen, its tables scrolling inside themselves, with an
inline SVG chart of daily totals per category. CSVs carry a byte-order mark so Excel reads non-ASCII names.

Every cell comes from files nobody here controls, so every format goes through ``ovo_nb._escape``:
the page escapes them, and a reference like ``=HYPERLINK(...)`` is text in the CSVs and the workbook.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ._escape import html_page, html_table, trusted, write_csv, xlsx_append, xlsx_frame
from .errors import ValidationError
from .reconciliation import CATEGORY_TITLES, Reconciliation

if TYPE_CHECKING:
    from markupsafe import Markup

__all__ = ["FORMATS", "TABLE_STYLE", "counts_html", "rows_html", "write_ledger_export",
           "write_reconciliation", "zip_files"]

FORMATS = ("csv", "xlsx", "html")
IDR_FORMAT = "#,##0.00"
EXCEL_ROWS = 1_048_576 - 2
"""Rows a sheet holds besides its header and totals row."""
IN_MEMORY_ROWS = 200_000
"""Larger categories are written by the engine straight to files, never through pandas."""
COLUMN_TITLES = {
    "record_type": "Type", "partner_reference_no": "partnerReferenceNo", "reference_no": "OVO referenceNo",
    "partner_refund_no": "partnerRefundNo", "refund_no": "OVO refundNo", "partner_day": "Partner day (Jakarta)",
    "ovo_day": "OVO day (Jakarta)",
    "partner_idr": "Partner IDR", "partner_status": "Partner status", "ovo_idr": "OVO IDR",
    "ovo_status": "OVO status", "difference_idr": "Difference IDR (partner − OVO)", "category": "Category",
    "action": "What to do",
}
AMOUNT_TITLES = ("Partner IDR", "OVO IDR", "Difference IDR (partner − OVO)")


def write_reconciliation(result: Reconciliation, folder: str | Path,
                         formats: Iterable[str] = FORMATS) -> dict[str, Path]:
    """Write the chosen ``formats`` into ``folder``; returns what was written, by name."""
    chosen = list(formats)
    unknown = set(chosen) - set(FORMATS)
    if unknown:
        raise ValidationError(f"Unknown report format(s) {', '.join(sorted(unknown))}; choose from {FORMATS}.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if "csv" in chosen:
        for name in result.categories:
            path = folder / f"{name}.csv"
            if result.size(name) > IN_MEMORY_ROWS:
                result.export(name, path, "csv")
            else:
                write_csv(readable(result.for_display(name)), path)
            written[f"{name}.csv"] = path
    if "xlsx" in chosen:
        written["reconciliation.xlsx"] = _xlsx(result, folder / "reconciliation.xlsx")
    if "html" in chosen:
        written["reconciliation.html"] = _html(result, folder / "reconciliation.html")
    return written


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """A category's rows as finance reads them: people's column names, both sides' days, no internal keys."""
    return frame.drop(columns=["key", "payment_key", "day"], errors="ignore").rename(columns=COLUMN_TITLES)


def with_totals(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows and a last one with the sum of each amount column."""
    if frame.empty:
        return frame
    total = {column: (sum(frame[column], Decimal(0)) if column in AMOUNT_TITLES else "") for column in frame.columns}
    total[frame.columns[0]] = f"Total ({len(frame)} rows)"
    return pd.concat([frame, pd.DataFrame([total])], ignore_index=True)


def _summary_rows(result: Reconciliation) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = [("Generated", result.generated_at)]
    rows += [(f"Parameter: {k}", str(v)) for k, v in result.parameters.items()]
    rows += [("", ""), ("Input totals (IDR)", "")]
    rows += [(_input_label(name, result), value) for name, value in result.input_totals().items()]
    rows += [("", ""), ("Rows per category", "")]
    rows += [(CATEGORY_TITLES[name], int(count)) for name, count in result.counts().items()]
    return rows


def _input_label(name: str, result: Reconciliation) -> str:
    """``ovo_refund_idr_across_cut_off`` -> "OVO refunds dated outside the period, matched across the cut-off"."""
    side, kind = name.split("_")[:2]
    label = f"{'OVO' if side == 'ovo' else 'Partner'} {kind}s"
    if name.endswith("_across_cut_off"):
        return label + " dated outside the period, matched across the cut-off"
    return label + (f" in {result.period}" if result.period else "")


def _xlsx(result: Reconciliation, path: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    summary = book.active
    summary.title = "Summary"
    xlsx_append(summary, ["OVO reconciliation", ""])
    summary["A1"].font = Font(bold=True, size=14)
    for label, value in _summary_rows(result):
        xlsx_append(summary, [label, float(value) if isinstance(value, Decimal) else value])
        if isinstance(value, Decimal):
            summary.cell(summary.max_row, 2).number_format = IDR_FORMAT
    xlsx_append(summary, [])
    xlsx_append(summary, ["Totals per category (IDR)", "record type", "partner", "OVO"])
    header_row = summary.max_row
    for (category, kind), values in result.totals().iterrows():
        xlsx_append(summary, [CATEGORY_TITLES[str(category)], kind, values["partner_idr"], values["ovo_idr"]])
        for column in (3, 4):
            summary.cell(summary.max_row, column).number_format = IDR_FORMAT
    for cell in summary[header_row]:
        cell.font = Font(bold=True)
    summary.column_dimensions["A"].width = 34
    for letter in "BCD":
        summary.column_dimensions[letter].width = 18
    header_fill = PatternFill("solid", fgColor="E8E3F3")
    for name in result.categories:
        sheet = book.create_sheet(CATEGORY_TITLES[name][:31])
        size = result.size(name)
        if size > EXCEL_ROWS:  # Excel cannot hold it: the rows go beside the workbook
            files = [result.export(name, path.with_name(f"{name}.{kind}"), kind).name for kind in ("parquet", "csv")]
            note = f"{size:,} rows: more than a sheet holds; they are in {' and '.join(files)} beside this workbook."
            xlsx_append(sheet, [note])
            xlsx_append(summary, [f"{CATEGORY_TITLES[name]} rows", note])
            continue
        frame = with_totals(readable(result.for_display(name)))
        xlsx_frame(sheet, frame)
        for cell in sheet[1]:
            cell.font, cell.fill = Font(bold=True), header_fill
            cell.alignment = Alignment(vertical="center")
        if len(frame) > 0:
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
        for index, column in enumerate(frame.columns, start=1):
            letter = get_column_letter(index)
            width = max([len(str(column)), *(len(str(v)) for v in frame[column].head(200))]) + 2
            sheet.column_dimensions[letter].width = min(width, 60)
            if column in AMOUNT_TITLES:
                for cell in sheet[letter][1:]:
                    cell.number_format = IDR_FORMAT
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = sheet.dimensions
    book.save(path)
    return path


def _styled(frame: pd.DataFrame, classes: str = "data") -> Markup:
    """A table that scrolls inside its box, amounts right-aligned with thousands separators."""
    idr = [c for c in frame.columns if c in AMOUNT_TITLES or str(c).endswith("_idr")]
    table = html_table(frame, {c: lambda v: f"{v:,.2f}" if isinstance(v, (Decimal, int, float)) else v for c in idr},
                       style=lambda styler: styler.set_properties(subset=idr, **{"text-align": "right"})
                       .set_table_attributes(f'class="{classes}"'))
    return trusted(f'<div class="scroll">{table}</div>')


TABLE_STYLE = """.scroll{overflow-x:auto;max-width:100%}
table.data{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:13px}
table.data td,table.data th{border:1px solid #d8d2e6;padding:3px 8px;text-align:left}
table.data th{background:#f2f0f7}table.data td{white-space:nowrap}
table.data:not(.counts) td:last-child{white-space:normal;min-width:22rem}"""
"""The look of every table below, in the HTML report and on finance's page."""
SHOWN_ROWS = 500


def counts_html(result: Reconciliation) -> Markup:
    """Rows and IDR per category, both sides, as an escaped table."""
    counts = result.counts()
    totals = result.category_totals()
    frame = pd.DataFrame({"Category": [CATEGORY_TITLES[name] for name in counts.index], "Rows": counts.to_numpy(),
                          "Partner IDR": totals["partner_idr"].to_numpy(), "OVO IDR": totals["ovo_idr"].to_numpy()})
    return _styled(frame, "data counts")


def rows_html(result: Reconciliation, name: str, limit: int = SHOWN_ROWS) -> Markup:
    """One category's first ``limit`` rows as people read them, with their totals, escaped."""
    size = result.size(name)
    if size == 0:
        return trusted("<p>No rows.</p>")
    table = _styled(with_totals(readable(result.for_display(name, limit=limit))))
    return trusted(table + (f"<p>The first {limit:,} of {size:,} rows: the CSV has them all.</p>" if size > limit
                            else ""))


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>OVO reconciliation</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem auto;padding:0 1rem;color:#1f1b2e;max-width:1248px}
""" + TABLE_STYLE + """
.ok{color:#176b2c}.open{color:#9b1c1c}</style>
</head><body><h1>OVO reconciliation{% if period %} {{ period }}{% endif %}</h1>
<p>Generated {{ generated }}. <span class="ok">{{ matched }} matched</span>,
<span class="open">{{ open }} to act on</span>.</p>
<h2>Summary</h2>{{ summary }}<h2>Totals per category (IDR)</h2>{{ totals }}
<h2>Daily totals</h2>{{ chart }}
{%- for s in sections %}<h2 id="{{ s.name }}">{{ s.title }} ({{ "{:,}".format(s.size) }})</h2>{{ s.table }}
{%- endfor %}</body></html>"""
"""The reconciliation page: every value escaped by the template, tables by their Styler."""


def _html(result: Reconciliation, path: Path) -> Path:
    counts = result.counts()
    sections = [{"name": name, "title": CATEGORY_TITLES[name], "size": int(counts[name]),
                 "table": rows_html(result, name)} for name in result.categories
                if name != "matched" and counts[name] > 0]
    totals = result.totals().reset_index()
    totals["category"] = totals["category"].map(CATEGORY_TITLES)
    summary = pd.DataFrame([(label, value) for label, value in _summary_rows(result) if label],
                           columns=["item", "value"])
    summary["value"] = summary["value"].map(lambda v: f"{v:,.2f}" if isinstance(v, Decimal) else v)
    page = html_page(PAGE, period=str(result.period) if result.period else "", generated=result.generated_at,
                     matched=int(counts["matched"]), open=result.open_rows(), summary=_styled(summary),
                     totals=_styled(totals), chart=trusted(result.chart().svg()), sections=sections)
    path.write_text(page, encoding="utf-8")
    return path


def zip_files(paths: Iterable[Path], target: str | Path) -> Path:
    """The files in one ``.zip`` (their names only, no folders)."""
    import zipfile

    target = Path(target)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for path in paths:
            bundle.write(path, arcname=Path(path).name)
    return target


def export_target(path: str | Path) -> Path:
    """``path`` as a new export file: a ``.csv``, ``.xlsx`` or ``.parquet`` name, not there yet, in a folder that
    is; else one line saying which (checked before any work, so a typo costs nothing)."""
    target = Path(path).expanduser()
    if target.suffix.lower() not in (".csv", ".xlsx", ".parquet"):
        raise ValidationError(f"{target}: give a .csv, .xlsx or .parquet file name.")
    if target.exists():
        raise ValidationError(f"{target} already exists: choose another file name (nothing was written).")
    if not target.parent.is_dir():
        raise ValidationError(f"{target.parent} is not a folder: create it first (nothing was written).")
    return target


def write_ledger_export(rows: pd.DataFrame, path: str | Path) -> Path:
    """The partner's side (:func:`ovo_nb.reconciliation.ledger_rows`) as a ``.csv`` (with a BOM, for
    Excel), ``.xlsx`` or ``.parquet`` file: the ``ledger`` preset reads it back. An existing file is
    never overwritten."""
    target = export_target(path)
    kind = target.suffix.lower()
    frame = rows.astype(str)
    if kind == ".csv":
        write_csv(frame, target)
    elif kind == ".xlsx":
        from openpyxl import Workbook

        book = Workbook()
        xlsx_frame(book.active, frame)
        book.save(target)
    else:
        frame.to_parquet(target, index=False)
    return target
