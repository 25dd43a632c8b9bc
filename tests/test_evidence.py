"""BI evidence: the scenarios answer as expected, the sheets are filled exactly, masking holds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

from ovo_nb.errors import ValidationError
from ovo_nb.evidence import (
    DEVSITE,
    as_http,
    evidence_session,
    fill_template,
    run_scenarios,
    scenarios,
    write_devsite_report,
    write_evidence_workbook,
)
from ovo_nb.flows import Ovo

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")


def style_of(cell: object) -> tuple[str, ...]:
    return tuple(repr(getattr(cell, part)) for part in ("font", "fill", "border", "alignment", "number_format"))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Ovo, list, Path]]:  # type: ignore[type-arg]
    folder = tmp_path_factory.mktemp("evidence")
    mp = pytest.MonkeyPatch()
    mp.setenv("OVO_NB_HOME", str(folder / "home"))
    ovo = evidence_session(folder)
    results = run_scenarios(ovo, scenarios("all"))
    yield ovo, results, folder
    mp.undo()


def test_the_twelve_devsite_scenarios_answer_as_expected(run: tuple) -> None:  # type: ignore[type-arg]
    _, results, _ = run
    devsite = [r for r in results if r.scenario.devsite]
    assert len(devsite) == 12 == len(DEVSITE)
    assert {r.scenario.api for r in devsite} == {"account_binding", "account_unbinding", "balance_inquiry",
                                                 "debit_payment", "debit_status", "debit_refund"}
    assert [(r.scenario.id, r.actual) for r in devsite if not r.passed] == []
    assert all(r.passed for r in results), [(r.scenario.id, r.actual, r.error) for r in results if not r.passed]
    codes = {r.scenario.id: r.actual for r in results}
    assert codes["BIND-02"] == "4010700" and codes["PAY-02"] == "4035414" and codes["REF-02"] == "4045813"


def test_requests_render_as_the_faq_shows_them(run: tuple) -> None:  # type: ignore[type-arg]
    _, results, _ = run
    text = as_http(results[0].call)
    head, body = text.split("\n\n", 1)
    lines = head.splitlines()
    assert lines[0] == "POST /OVOSNAP/v2.0/oauth/account/registration-account-binding HTTP/1.1"
    assert lines[1] == "Host: ovo-sandbox.local"  # a host, as HTTP/1.1 sends it
    assert any(line.startswith("X-SIGNATURE: ") for line in lines) and any(line.startswith("X-TIMESTAMP: ") for line in lines)
    assert body.startswith('{"partnerReferenceNo":"BIND-')


def test_evidence_is_masked_unless_revealed(run: tuple) -> None:  # type: ignore[type-arg]
    ovo, results, folder = run
    masked = load_workbook(write_evidence_workbook(results, ovo, folder / "masked.xlsx"))
    revealed = load_workbook(write_evidence_workbook(results, ovo, folder / "full.xlsx", reveal=True))
    assert masked.sheetnames == ["Read me", "Account Binding", "Account Unbinding", "Balance Inquiry",
                                 "Direct Debit Payment", "Direct Debit Status", "Direct Debit Refund"]

    def cells(book: Workbook) -> str:
        return "\n".join(str(c.value) for sheet in book.worksheets for row in sheet.iter_rows() for c in row)

    assert not JWT.search(cells(masked)) and "Bearer eyJhbGci…#" in cells(masked)
    assert "masked to a prefix" in cells(masked)
    assert JWT.search(cells(revealed)) and "shown in full" in cells(revealed)
    assert ovo.profile.client_secret not in cells(revealed)
    balance = masked["Balance Inquiry"]
    assert [c.value for c in balance[1]] == ["No", "Scenario", "Expected", "Request", "Response", "Result"]
    assert balance.cell(2, 2).value.startswith("BAL-01") and balance.cell(2, 6).value == "PASS"


def test_filling_a_template_changes_only_the_mapped_cells(run: tuple, tmp_path: Path) -> None:  # type: ignore[type-arg]
    ovo, results, _ = run
    template = Workbook()
    sheet = template.active
    sheet.title = "Balance Inquiry"
    thin = Side(style="thin", color="FF888888")
    sheet.append(["No", "Scenario", "Expected", "Request", "Response", "Note"])
    for n, (scenario, note) in enumerate((("Positive", ""), ("Negative", ""), ("Any service", "Not Eligible")), 1):
        sheet.append([n, scenario, "200", None, None, note])
    for row in sheet.iter_rows():
        for cell in row:
            cell.font = Font(bold=cell.row == 1, color="FF4C2A86")
            cell.fill = PatternFill("solid", fgColor="FFF2F0F7")
            cell.border = Border(left=thin, right=thin, top=thin, bottom=thin)
            cell.alignment = Alignment(wrap_text=True)
    template.create_sheet("Cover")["A1"] = "Functional test, partner: Toko Contoh"
    template.save(tmp_path / "template.xlsx")
    mapping = {"BAL-01": {"sheet": "Balance Inquiry", "request": "D2", "response": "E2"},
               "BAL-02": {"sheet": "Balance Inquiry", "request": "D3", "response": "E3"}}
    filled = fill_template(results, ovo, tmp_path / "template.xlsx", tmp_path / "filled.xlsx", mapping)
    before, after = load_workbook(tmp_path / "template.xlsx"), load_workbook(filled)
    changed = {("Balance Inquiry", "D2"), ("Balance Inquiry", "E2"), ("Balance Inquiry", "D3"), ("Balance Inquiry", "E3")}
    for name in before.sheetnames:
        for row in before[name].iter_rows():
            for old in row:
                new = after[name][old.coordinate]
                assert style_of(new) == style_of(old), (name, old.coordinate)
                if (name, old.coordinate) not in changed:
                    assert new.value == old.value, (name, old.coordinate)
    assert after["Balance Inquiry"]["D2"].value.startswith("POST /OVOSNAP/v2.0/balance-inquiry HTTP/1.1")
    assert '"4011102"' in after["Balance Inquiry"]["E3"].value
    assert after["Balance Inquiry"]["F4"].value == "Not Eligible"
    with pytest.raises(ValidationError, match="did not execute"):
        fill_template(results, ovo, tmp_path / "template.xlsx", tmp_path / "x.xlsx",
                      {"NOPE-1": {"sheet": "Balance Inquiry", "request": "D2", "response": "E2"}})
    with pytest.raises(ValidationError, match="no sheet"):
        fill_template(results, ovo, tmp_path / "template.xlsx", tmp_path / "x.xlsx",
                      {"BAL-01": {"sheet": "Saldo", "request": "D2", "response": "E2"}})


def test_devsite_summary(run: tuple, tmp_path: Path) -> None:  # type: ignore[type-arg]
    _, results, _ = run
    written = write_devsite_report([r for r in results if r.scenario.devsite], tmp_path)
    html = written["devsite_summary.html"].read_text()
    assert "12 of 12 scenarios answered the expected SNAP code" in html
    rows = list(load_workbook(written["devsite_summary.xlsx"]).active.iter_rows(values_only=True))
    assert rows[0][:6] == ("Scenario ID", "API", "Scenario", "Expected", "Actual", "Result")
    assert len(rows) == 13 and all(r[5] == "PASS" for r in rows[1:])
    assert "Environment: <strong>sandbox</strong>" in html and "color: #176b2c" in html  # PASS in green
    sheet = load_workbook(written["devsite_summary.xlsx"]).active
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.bold and sheet.column_dimensions["C"].width > 20
    staged = write_devsite_report(results[:1], tmp_path / "stage", environment="stage")
    assert "Environment: <strong>stage</strong>" in staged["devsite_summary.html"].read_text()
    with pytest.raises(ValidationError, match="devsite, functional or all"):
        scenarios("everything")
