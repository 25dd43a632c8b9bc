"""What ovo-nb writes for people to open stays inert, whatever the data holds: one helper per format.

References, statuses, scenario names and answers come from files and servers nobody here
controls. Every writer goes through these helpers, never through string joins:

- **HTML**: a page is a Jinja2 template with autoescaping (:func:`html_page`); a table is a pandas
  Styler that escapes every cell and header (:func:`html_table`). A fragment this package built
  and escaped itself (an inline SVG chart) enters a page only through :func:`trusted`.
- **CSV**: a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading ``'``
  (OWASP's advice against CSV injection), so a spreadsheet shows it and never runs it; a plain
  number written as text (``-5000.00``) stays a number (:func:`csv_safe`, :func:`write_csv`).
- **XLSX**: such a cell is a string cell with Excel's quote prefix, never a formula, and
  characters a workbook cannot hold are replaced (:func:`xlsx_append`, :func:`xlsx_set`).

Only text is neutralised: numbers (a negative difference) stay numbers in every format.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from markupsafe import Markup
    from openpyxl.cell.cell import Cell
    from openpyxl.worksheet.worksheet import Worksheet
    from pandas.io.formats.style import Styler

__all__ = ["CSV_TRIGGERS", "PLAIN_NUMBER", "csv_safe", "html_page", "html_table", "inert_text", "trusted", "write_csv",
           "xlsx_append", "xlsx_frame", "xlsx_set", "xlsx_text"]

CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection")."""
PLAIN_NUMBER = "[+-]?[0-9]+([.][0-9]+)?"
"""Text that is only a number (``-5000.00``): a spreadsheet reads it as that number, never as a formula."""
_PLAIN_NUMBER = re.compile(PLAIN_NUMBER)
_CELL_VALUES = (str, int, float, Decimal, date, datetime, type(None))


# --------------------------------------------------------------------------- HTML


@functools.cache
def _template(source: str) -> Any:
    from jinja2 import Environment, StrictUndefined

    return Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True).from_string(source)


def html_page(template: str, /, **values: Any) -> str:
    """``template`` (Jinja2) rendered with ``values``, every value HTML-escaped unless :func:`trusted`."""
    return str(_template(template).render(**values))


def trusted(fragment: str) -> Markup:
    """HTML this package built and escaped itself (a Styler table, an inline SVG), to place in a page as is."""
    from markupsafe import Markup

    return Markup(fragment)  # only for fragments built here, from escaped parts


def _cell_text(value: Any) -> Any:
    """A cell as the Styler shows it: lists, dicts and other objects as text, so its escaping applies."""
    return value if isinstance(value, _CELL_VALUES) else str(value)


def html_table(frame: pd.DataFrame, formatters: Mapping[str, Callable[[Any], Any]] | None = None, *,
               style: Callable[[Styler], Styler] | None = None) -> Markup:
    """``frame`` as an HTML table through a pandas Styler that escapes every cell and header.

    ``formatters`` (per column) receive the cell with text already escaped; ``style`` adds CSS
    (alignment, colours) to the Styler. Empty cells show as nothing; the index is hidden.
    """
    from pandas.api.types import is_object_dtype

    shown = frame.copy()
    for column in shown.columns:
        if is_object_dtype(shown[column]):
            shown[column] = shown[column].map(_cell_text)
    styler = shown.style.format(escape="html", na_rep="").format_index(escape="html", axis=1).hide(axis="index")
    if formatters:
        styler = styler.format(dict(formatters), escape="html", na_rep="")
    if style is not None:
        styler = style(styler)
    return trusted(styler.to_html())


# --------------------------------------------------------------------------- CSV


def inert_text(value: str) -> str:
    """``value`` as a spreadsheet shows it without running it: a formula-like start gets a leading ``'``."""
    if value.startswith(CSV_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _inert(value: Any) -> Any:
    return inert_text(value) if isinstance(value, str) else value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell (and column name) from data made inert for a spreadsheet."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    safe = frame.rename(columns=_inert)
    for column in safe.columns:
        if is_object_dtype(safe[column]) or is_string_dtype(safe[column]):
            safe[column] = safe[column].map(_inert)
    return safe


def write_csv(frame: pd.DataFrame, path: str | Path, *, index: bool = False) -> Path:
    """``frame`` as a CSV finance can open in Excel: inert cells, UTF-8 with a byte-order mark, CRLF rows
    (RFC 4180), so a cell holding a lone CR is quoted instead of starting a row of its own."""
    csv_safe(frame).to_csv(path, index=index, encoding="utf-8-sig", lineterminator="\r\n")
    return Path(path)


# --------------------------------------------------------------------------- XLSX


def xlsx_text(value: Any) -> Any:
    """``value`` as a workbook can hold it (a cell, a document property): control characters replaced."""
    if not isinstance(value, str):
        return value
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("\N{REPLACEMENT CHARACTER}", value)


def _inert_cell(cell: Cell) -> None:
    if isinstance(cell.value, str) and cell.value.startswith(CSV_TRIGGERS):
        cell.data_type = "s"  # text, never a formula
        cell.quotePrefix = True  # and it stays text when someone edits the cell


def xlsx_set(cell: Cell, value: Any) -> None:
    """Put ``value`` in ``cell``; text that looks like a formula is stored as text."""
    cell.value = xlsx_text(value)
    _inert_cell(cell)


def xlsx_append(sheet: Worksheet, values: Iterable[Any]) -> None:
    """Append a row to ``sheet``; text that looks like a formula is stored as text."""
    sheet.append([xlsx_text(v) for v in values])
    for cell in sheet[sheet.max_row]:
        _inert_cell(cell)


def xlsx_frame(sheet: Worksheet, frame: pd.DataFrame) -> None:
    """Append ``frame`` to ``sheet``, its column names first, each row as :func:`xlsx_append` writes it."""
    for row in [frame.columns, *frame.itertuples(index=False)]:
        xlsx_append(sheet, row)
