"""Hostile text in what finance and analysts open: every page escapes it, every sheet keeps it as text.

A corpus of payloads goes through every report and page the project writes; a property test then
generates strings of its own. Legitimate negative amounts stay numbers throughout.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from payloads import (
    PAYLOADS,
    csv_cells,
    csv_problems,
    html_problems,
    html_shape,
    in_xlsx,
    shows,
    xlsx_cells,
    xlsx_problems,
)

from ovo_nb.calllog import Call, CallLog
from ovo_nb.conformance import CallComparison, ConformanceReport
from ovo_nb.evidence import Scenario, ScenarioResult, fill_template, write_devsite_report, write_evidence_workbook
from ovo_nb.flows import Ovo
from ovo_nb.reconciliation import CATEGORIES, Reconciliation, reconcile
from ovo_nb.reports import write_reconciliation
from ovo_nb.runner import NotebookResult, RunResult, _write_reports
from ovo_nb.views import LANES, Arrow, Card, Chart, readable_table, sequence_svg
from ovo_nb.workbench import call_page

RICH = "081234567890"


def sides(references: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both sides of a reconciliation whose references are ``references``: every category gets some,
    and the amount mismatches make negative differences."""
    partner, ovo = [], []
    for i, text in enumerate(references):
        row = {"partner_reference_no": text, "reference_no": f"R{i}", "amount": f"{1000 + i}.00", "status": "SUCCESS"}
        match i % 4:
            case 0:
                partner.append(row)
                ovo.append(row)
            case 1:
                partner.append(row)  # missing at OVO
            case 2:
                ovo.append({**row, "reference_no": text})  # missing at partner; OVO's own reference hostile too
            case 3:
                partner.append(row)
                ovo.append({**row, "amount": f"{2000 + i}.00"})  # the partner has less: a negative difference
    return pd.DataFrame(partner), pd.DataFrame(ovo)


def check_reports(result: Reconciliation, written: dict[str, Path]) -> None:
    """Nothing active anywhere, and every reference shown as it was: escaped on the page (which lists the
    rows to act on), as a quote-prefixed cell in the CSVs, as text in the workbook."""
    page = written["reconciliation.html"].read_text()
    assert html_problems(page) == []
    cells: set[object] = set()
    for name, path in written.items():
        if name.endswith(".csv"):
            assert csv_problems(path) == [], name
            cells |= csv_cells(path)
    assert xlsx_problems(written["reconciliation.xlsx"]) == []
    sheets = xlsx_cells(written["reconciliation.xlsx"])
    for category in CATEGORIES:
        for text in result.for_display(category)["partner_reference_no"]:
            assert in_xlsx(text) in sheets, text
            assert text in cells or "'" + text in cells, text
            if category != "matched":
                assert shows(page, text), text


def test_reconciliation_reports_show_every_payload_and_run_none(tmp_path: Path) -> None:
    partner, ovo = sides(list(PAYLOADS))
    result = reconcile(partner, ovo)
    written = write_reconciliation(result, tmp_path)
    check_reports(result, written)
    page = written["reconciliation.html"].read_text()
    assert "&lt;script&gt;alert(document.cookie)&lt;/script&gt;" in page and "{{ 7*7 }}" in page  # not run, not evaluated
    # a negative difference stays a number: in the workbook and in the CSV
    from openpyxl import load_workbook

    sheet = load_workbook(written["reconciliation.xlsx"])["Amount mismatch"]
    column = [cell.value for cell in sheet[1]].index("Difference IDR (partner − OVO)")
    differences = [row[column] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert differences and all(isinstance(v, (int, float)) and v < 0 for v in differences)
    rows = list(csv.DictReader(io.StringIO(written["amount_mismatch.csv"].read_text(encoding="utf-8-sig"))))
    assert rows and all(Decimal(r["Difference IDR (partner − OVO)"]) < 0 for r in rows)


def test_a_category_streamed_by_the_engine_keeps_payloads_inert(tmp_path: Path) -> None:
    partner, ovo = sides(list(PAYLOADS))
    result = reconcile(partner, ovo)
    path = result.export("missing_at_ovo", tmp_path / "missing.csv", "csv")
    assert csv_problems(path) == []
    cells = csv_cells(path)
    assert {"'+SUM(1+1)*cmd|' /C calc'!A0", "'\r=1+1", "<script>alert(document.cookie)</script>"} <= cells
    differences = result.export("amount_mismatch", tmp_path / "amounts.csv", "csv")
    rows = list(csv.DictReader(io.StringIO(differences.read_text())))
    assert rows and all(int(r["difference_sen"]) < 0 and not r["partner_idr"].startswith("'") for r in rows)


def test_notebook_tables_cards_diagrams_and_charts_escape_payloads() -> None:
    frame = pd.DataFrame({"scenario": list(PAYLOADS), "amount": [Decimal("-1500.50")] * len(PAYLOADS),
                          "detail": [{"x": p} for p in PAYLOADS], "<b>column</b>": list(PAYLOADS)})
    page = readable_table(frame, amounts=["amount"])._repr_html_()
    assert html_problems(page) == []
    assert "-1,500.50" in page and "&lt;b&gt;column&lt;/b&gt;" in page
    for text in PAYLOADS:
        assert shows(page, text)
    pieces = [Card(p, "refused", p, p, p, 1).html() for p in PAYLOADS]
    pieces.append(sequence_svg([Arrow(LANES[1], LANES[2], p, ok=False) for p in PAYLOADS], title=PAYLOADS[0]))
    pieces.append(Chart(pd.DataFrame({p: [1.0] for p in PAYLOADS}, index=list(PAYLOADS[:1])), title=PAYLOADS[1]).svg())
    for piece in pieces:
        assert html_problems(piece) == [], piece


def test_the_sandbox_webview_pages_escape_payloads() -> None:
    from ovo_nb.sandbox.pages import callback_page, code_page, message_page

    def pages(text: str) -> list[str]:
        return [code_page(text, text, "PIN", "/cellblockui/partner/activation?x=" + text, error=text, notice=text),
                message_page(text, text), callback_page(text, text, "https://partner.example.com/cb?" + text)]

    plain = [html_shape(page) for page in pages("plain words")]  # the pages' own form, button and copy script
    for text in PAYLOADS:
        hostile = pages(text)
        assert [html_shape(page) for page in hostile] == plain  # the text added no element and no attribute
        assert all(shows(page, text) for page in hostile)


def _call(call_id: int, text: str) -> Call:
    return Call(call_id, text, text, text, "POST", "http://ovo-sandbox.local/OVOSNAP/v2.0/debit/status",
                {"X-Note": text}, text, 500, {"X-Answer": text}, text, text, text, 1.0, text)


def test_the_call_page_and_the_conformance_page_escape_payloads() -> None:
    for text in PAYLOADS:
        page = call_page(_call(7, text))
        assert html_problems(page) == [] and shows(page, text)
    report = ConformanceReport(PAYLOADS[0], [CallComparison(_call(i, p), _call(i, p), (p,))
                                             for i, p in enumerate(PAYLOADS)])
    page = report.html()
    assert html_problems(page) == []
    assert all(shows(page, p) for p in PAYLOADS)


def _results(ovo: Ovo) -> list[ScenarioResult]:
    return [ScenarioResult(Scenario(p, "debit_status", p, "2005500", p, lambda o, c: None, devsite=True), p,
                           _call(i, p), p) for i, p in enumerate(PAYLOADS)]


def test_the_devsite_summary_and_evidence_workbooks_keep_payloads_inert(tmp_path: Path) -> None:
    from openpyxl import Workbook

    with Ovo.open(sandbox_state=":memory:") as ovo:
        results = _results(ovo)
        written = write_devsite_report(results, tmp_path, environment=PAYLOADS[0])
        evidence = write_evidence_workbook(results, ovo, tmp_path / "evidence.xlsx")
        template = tmp_path / "template.xlsx"
        book = Workbook()
        book.active.title = "Sheet"
        book.active["A1"] = "=SUM(1,2)"  # the template's own formula stays a formula
        book.save(template)
        filled = fill_template(results, ovo, template, tmp_path / "filled.xlsx",
                               {p: {"sheet": "Sheet", "request": f"D{i + 2}", "response": f"E{i + 2}"}
                                for i, p in enumerate(PAYLOADS)})
    page = written["devsite_summary.html"].read_text()
    assert html_problems(page) == []
    assert all(shows(page, p) for p in PAYLOADS)
    for path in (written["devsite_summary.xlsx"], evidence):
        assert xlsx_problems(path) == [], path
        assert {in_xlsx(p) for p in PAYLOADS} <= xlsx_cells(path)
    assert xlsx_problems(filled) == ["Sheet!A1 formula '=SUM(1,2)'"]


def test_the_run_summary_and_calls_csv_keep_payloads_inert(tmp_path: Path, isolated_home: Path) -> None:
    run_id = "20261206-120000-abcdef"
    with Ovo.open(sandbox_state=":memory:") as ovo:
        state = ovo.profile.state_dir
    with CallLog.open(state / "calls.sqlite", run_id=run_id) as log, \
            Ovo.open(sandbox_state=":memory:", call_log=log) as ovo:
        ovo.bind(RICH)
        for text in PAYLOADS:
            with log.scenario(text):
                ovo.balance(RICH)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    notebooks = [NotebookResult(p, str(run_dir / "x.ipynb"), "failed" if i % 2 else "waiting", 1.0, p,
                                profile="sandbox", resume=p) for i, p in enumerate(PAYLOADS)]
    _write_reports(RunResult(run_id, run_dir, notebooks, profile="sandbox", source=PAYLOADS[0]))
    page = (run_dir / "summary.html").read_text()
    assert html_problems(page) == []
    assert all(shows(page, p) for p in PAYLOADS)
    assert 'href="./javascript%3Aalert%281%29"' in page  # a notebook name is a relative link, never a scheme
    assert csv_problems(run_dir / "calls.csv") == []
    assert {"'" + p for p in PAYLOADS if p[0] in "=+-@\t\r"} <= csv_cells(run_dir / "calls.csv")


def test_a_hostile_webview_link_is_refused() -> None:
    from ovo_nb.errors import WebviewError
    from ovo_nb.webview import build_webview_url

    answer = {"redirectUrl": "javascript:alert(1)", "additionalInfo": {"qParams": {"action": "x"}}}
    with pytest.raises(WebviewError, match="is not an http\\(s\\) URL"):
        build_webview_url(answer, "token", "https://partner.example.com/ovo/callback")


# --------------------------------------------------------------------------- the property

hostile = st.one_of(
    st.sampled_from(PAYLOADS),
    st.text(alphabet=st.sampled_from(list("=+-@\t\r<>\"'&;/:()[]{}%! aZ09.\\\x00\x01\u202e\u00e9")), min_size=1,
            max_size=24),
    st.builds(lambda a, b: a + b, st.sampled_from(["=", "+", "-", "@", "\t", "\r", "<", "javascript:"]), st.text(max_size=12)),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(hostile, min_size=1, max_size=8, unique=True))
def test_no_generated_page_or_sheet_ever_holds_an_active_payload(tmp_path: Path, texts: list[str]) -> None:
    partner, ovo = sides(texts)
    folder = tmp_path / f"r{abs(hash(tuple(texts)))}"
    result = reconcile(partner, ovo)
    check_reports(result, write_reconciliation(result, folder))
    frame = pd.DataFrame({"text": texts, "amount": [Decimal("-1.00")] * len(texts)})
    assert html_problems(readable_table(frame, amounts=["amount"])._repr_html_()) == []
    calls = [_call(i, text) for i, text in enumerate(texts)]
    for call in calls:
        assert html_problems(call_page(call)) == []
    page = ConformanceReport(texts[0], [CallComparison(c, c, (c.scenario,)) for c in calls]).html()
    assert html_problems(page) == [] and all(shows(page, t) for t in texts)
    results = [ScenarioResult(Scenario(t, "debit_status", t, "2005500", t, lambda o, c: None), t, c, t)
               for t, c in zip(texts, calls, strict=True)]
    from ovo_nb.sandbox.pages import callback_page, code_page, message_page

    plain = [html_shape(page) for page in (code_page("x", "x", "OTP", "x", error="x"), message_page("x", "x"),
                                             callback_page("x", "x", "x"))]
    for text in texts:
        assert [html_shape(page) for page in (code_page(text, text, "OTP", text, error=text), message_page(text, text),
                                              callback_page(text, text, text))] == plain
    devsite = write_devsite_report(results, folder, environment=texts[-1])
    assert html_problems(devsite["devsite_summary.html"].read_text()) == []
    assert xlsx_problems(devsite["devsite_summary.xlsx"]) == []
