"""Bank Indonesia submission evidence: the devsite scenarios and OVO's functional test sheet.

BI's Devsite Testing wants a positive and a negative scenario for each of six APIs (twelve
in all); OVO's Functionality Testing document wants, for each scenario, the request as the
partner's backend logged it (request line, Host, every header, blank line, body) and the
response. :func:`run_scenarios` executes a catalogue against the sandbox (which plays the customer at every
webview), each
exchange in the call log under its scenario id, and checks the SNAP code against the
expected one; the writers turn the logged calls into the evidence workbook and the devsite
summary, with bearer tokens masked unless ``reveal=True`` is asked for explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from ._escape import html_page, html_table, xlsx_append, xlsx_frame, xlsx_set, xlsx_text
from .calllog import Call
from .config import load_profile, throwaway_sandbox_profile
from .environments import SandboxAdmin
from .errors import OvoApiError, OvoNbError, ValidationError
from .flows import Ovo
from .snap import match_endpoint
from .testbed import IN_PROCESS_URL

__all__ = ["DEVSITE", "FUNCTIONAL", "Scenario", "ScenarioResult", "as_http", "evidence_session", "fill_template",
           "run_scenarios", "scenarios", "write_devsite_report", "write_evidence_workbook", "write_scenario_results"]

API_GROUPS = {
    "account_binding": "Account Binding", "account_unbinding": "Account Unbinding",
    "balance_inquiry": "Balance Inquiry", "debit_payment": "Direct Debit Payment",
    "debit_status": "Direct Debit Status", "debit_refund": "Direct Debit Refund",
}


@dataclass(frozen=True)
class Scenario:
    """One evidence scenario: what it calls, what OVO must answer, and why it was chosen."""

    id: str
    api: str
    title: str
    expected: str
    why: str
    run: Callable[[Ovo, dict[str, Any]], None]
    devsite: bool = False


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    actual: str
    call: Call | None
    error: str = ""

    @property
    def passed(self) -> bool:
        return self.actual == self.scenario.expected


# --------------------------------------------------------------------------- the scenarios

def _customer(ovo: Ovo, ctx: dict[str, Any], *, cash: str = "5000000") -> str:
    """A bound customer for this evidence run."""
    if "phone" not in ctx:
        ctx["phone"] = _sandbox(ovo).add_customer("081500000000", name="Evidence", cash=cash, replace=True)
        ovo.bind(ctx["phone"])
    return str(ctx["phone"])


def _sandbox(ovo: Ovo) -> SandboxAdmin:
    assert ovo.sandbox is not None  # run_scenarios refuses any other
    return ovo.sandbox


def _paid(ovo: Ovo, ctx: dict[str, Any]) -> str:
    if "paid" not in ctx:
        ctx["paid"] = ovo.pay(_customer(ovo, ctx), "25000").partner_reference_no
    return str(ctx["paid"])


def _binding_positive(ovo: Ovo, ctx: dict[str, Any]) -> None:
    phone = _sandbox(ovo).add_customer("081600000001", cash="100000", replace=True)
    ovo.lookup(phone)
    ovo.client.account_binding(phone, ovo.ledger.new_reference("BIND"))


def _binding_bad_signature(ovo: Ovo, ctx: dict[str, Any]) -> None:
    phone = _sandbox(ovo).add_customer("081600000002", cash="100000", replace=True)
    ovo.lookup(phone)
    request = ovo.client.builder.build("account_binding", {"partnerReferenceNo": ovo.ledger.new_reference("BIND"),
                                                           "phoneNo": phone, "merchantId": ovo.profile.merchant_id})
    request.headers["X-SIGNATURE"] = request.headers["X-SIGNATURE"][::-1]  # a signature over something else
    ovo.client.http.send(request)


def _unbinding_positive(ovo: Ovo, ctx: dict[str, Any]) -> None:
    phone = _sandbox(ovo).add_customer("081600000003", cash="100000", replace=True)
    ovo.bind(phone)
    ovo.unbind(phone)


def _unbinding_missing_field(ovo: Ovo, ctx: dict[str, Any]) -> None:
    token = ovo.access_token(_customer(ovo, ctx))
    ovo.client.call("account_unbinding", {"authCode": None}, token=token)


def _balance_positive(ovo: Ovo, ctx: dict[str, Any]) -> None:
    ovo.balance(_customer(ovo, ctx))


def _balance_invalid_token(ovo: Ovo, ctx: dict[str, Any]) -> None:
    _customer(ovo, ctx)
    ovo.client.balance_inquiry("eyJhbGciOiJIUzI1NiJ9.bm90LWEtdG9rZW4.aW52YWxpZA")


def _payment_positive(ovo: Ovo, ctx: dict[str, Any]) -> None:
    ctx["paid"] = ovo.pay(_customer(ovo, ctx), "25000").partner_reference_no


def _payment_insufficient(ovo: Ovo, ctx: dict[str, Any]) -> None:
    phone = _customer(ovo, ctx)
    body = ovo.client.payment_body(ovo.ledger.new_reference(), "6000000.00")  # above the 5,000,000 balance
    ovo.client.debit_payment(ovo.access_token(phone), body)


def _status_positive(ovo: Ovo, ctx: dict[str, Any]) -> None:
    ovo.status(_paid(ovo, ctx))


def _status_not_found(ovo: Ovo, ctx: dict[str, Any]) -> None:
    ovo.client.debit_status(ovo.access_token(_customer(ovo, ctx)), "INV-DOES-NOT-EXIST")


def _refund_positive(ovo: Ovo, ctx: dict[str, Any]) -> None:
    ovo.refund(_paid(ovo, ctx), "5000", reason="BI evidence: partial refund")


def _refund_over_amount(ovo: Ovo, ctx: dict[str, Any]) -> None:
    body = ovo.client.refund_body(_paid(ovo, ctx), ovo.ledger.new_reference("RF"), "99999999.00", "over the amount")
    ovo.client.debit_refund(ovo.b2b_token(), body)


def _timestamp_too_old(api: str) -> Callable[[Ovo, dict[str, Any]], None]:
    def run(ovo: Ovo, ctx: dict[str, Any]) -> None:
        request = _signed_request(ovo, ctx, api)
        request.headers["X-TIMESTAMP"] = "2020-01-01T00:00:00.000+07:00"
        ovo.client.http.send(request)
    return run


def _missing_timestamp(api: str) -> Callable[[Ovo, dict[str, Any]], None]:
    def run(ovo: Ovo, ctx: dict[str, Any]) -> None:
        request = _signed_request(ovo, ctx, api)
        del request.headers["X-TIMESTAMP"]
        ovo.client.http.send(request)
    return run


def _repeated_external_id(api: str) -> Callable[[Ovo, dict[str, Any]], None]:
    def run(ovo: Ovo, ctx: dict[str, Any]) -> None:
        first = _signed_request(ovo, ctx, api)
        ovo.client.http.send(first)
        again = _signed_request(ovo, ctx, api, external_id=first.headers["X-EXTERNAL-ID"])
        ovo.client.http.send(again)
    return run


def _signed_request(ovo: Ovo, ctx: dict[str, Any], api: str, external_id: str | None = None) -> Any:
    """A well-formed request for ``api`` (for the "any service" header scenarios)."""
    phone = _customer(ovo, ctx)
    headers = {"X-EXTERNAL-ID": external_id} if external_id else None
    if api == "balance_inquiry":
        return ovo.client.builder.build(api, {"partnerReferenceNo": ovo.ledger.new_reference("BAL")},
                                        token=ovo.access_token(phone), headers=headers)
    if api == "debit_status":
        return ovo.client.builder.build(api, {"originalPartnerReferenceNo": _paid(ovo, ctx), "serviceCode": "54",
                                              "merchantId": ovo.profile.merchant_id},
                                        token=ovo.access_token(phone), headers=headers)
    raise ValidationError(f"No 'any service' request for {api}.")


DEVSITE: tuple[Scenario, ...] = (
    Scenario("BIND-01", "account_binding", "Account binding, valid request", "2000700",
             "the happy path: linkage token and OTP webview", _binding_positive, True),
    Scenario("BIND-02", "account_binding", "Account binding, invalid X-SIGNATURE", "4010700",
             "the commonest integration failure, and a check every gateway makes", _binding_bad_signature, True),
    Scenario("UNBIND-01", "account_unbinding", "Account unbinding, both calls", "2000900",
             "the two-call unbinding completes and revokes the tokens", _unbinding_positive, True),
    Scenario("UNBIND-02", "account_unbinding", "Account unbinding without partnerReferenceNo", "4000902",
             "a missing mandatory field is checked on every SNAP API", _unbinding_missing_field, True),
    Scenario("BAL-01", "balance_inquiry", "Balance inquiry with the access token", "2001100",
             "the inquiry OVO requires before every debit", _balance_positive, True),
    Scenario("BAL-02", "balance_inquiry", "Balance inquiry with an invalid customer token", "4011102",
             "token handling: an unknown token must be refused", _balance_invalid_token, True),
    Scenario("PAY-01", "debit_payment", "Direct debit, two steps (access token, then single-use token)", "2005400",
             "the full payment: PIN webview, single-use token, identical 2nd call", _payment_positive, True),
    Scenario("PAY-02", "debit_payment", "Direct debit above the customer's balance", "4035414",
             "insufficient funds is the debit failure customers meet most", _payment_insufficient, True),
    Scenario("STAT-01", "debit_status", "Status of a paid payment", "2005500",
             "latestTransactionStatus 00 for a completed payment", _status_positive, True),
    Scenario("STAT-02", "debit_status", "Status of an unknown partnerReferenceNo", "4045501",
             "transaction not found is how a lost 1st call shows", _status_not_found, True),
    Scenario("REF-01", "debit_refund", "Partial refund with the B2B token", "2005800",
             "refunds use the partner's B2B token", _refund_positive, True),
    Scenario("REF-02", "debit_refund", "Refund above the original amount", "4045813",
             "an over-refund must be refused: invalid amount", _refund_over_amount, True),
)
"""BI's twelve devsite scenarios: a positive and a negative one per API."""

FUNCTIONAL: tuple[Scenario, ...] = tuple(
    Scenario(f"{prefix}-{n}", api, f"{API_GROUPS[api]} (any service): {title}", code.format(svc=svc), why, make(api))
    for prefix, api, svc in (("BAL-ANY", "balance_inquiry", "11"), ("STAT-ANY", "debit_status", "55"))
    for n, (title, code, why, make) in enumerate((
        ("X-TIMESTAMP outside the window", "401{svc}00", "a replayed or skewed request is refused", _timestamp_too_old),
        ("X-TIMESTAMP missing", "400{svc}02", "mandatory headers are checked", _missing_timestamp),
        ("X-EXTERNAL-ID repeated the same day", "409{svc}00", "replays are refused", _repeated_external_id),
    ), start=3)
)
"""The functional test's "any service" rows, each run against its own sheet's API."""


def scenarios(selection: str = "devsite") -> tuple[Scenario, ...]:
    """``devsite`` (the twelve), ``functional`` (the "any service" rows) or ``all``."""
    chosen = {"devsite": DEVSITE, "functional": FUNCTIONAL, "all": DEVSITE + FUNCTIONAL}.get(selection)
    if chosen is None:
        raise ValidationError(f"Scenario set {selection!r} is not devsite, functional or all.")
    return chosen


# --------------------------------------------------------------------------- running


def evidence_session(folder: str | Path, profile: str = "sandbox") -> Ovo:
    """An Ovo session for an evidence run, its ledger, vault and call log under ``folder/state``.

    Against the sandbox it gets a fresh in-memory sandbox, so the scenarios never meet
    earlier state (an already linked customer, a used reference).
    """
    state = Path(folder) / "state"
    if load_profile(profile, complete=False).is_sandbox:
        return Ovo.open(throwaway_sandbox_profile(state), sandbox_state=":memory:")
    return Ovo.open(load_profile(profile).with_private_state(state))


SANDBOX_ONLY = (
    "BI's scenarios bind, pay and unbind customers through OVO's webview at every step, which against {profile} "
    "needs a person at each one: they run against the sandbox. For OVO's functional test sheet, your {profile} "
    "backend log is the evidence: `ovo-nb calls --profile {profile}`, and as_http() of those calls")
"""Why the scenario run is the sandbox's alone."""


def run_scenarios(ovo: Ovo, chosen: Iterable[Scenario]) -> list[ScenarioResult]:
    """Run each scenario under its id in the call log; the evidence call is the scenario's last call.

    The scenarios complete the customer's webview steps themselves, so ``ovo`` is a sandbox session."""
    if ovo.sandbox is None:
        raise ValidationError(SANDBOX_ONLY.format(profile=ovo.profile.name) + ".")
    ctx: dict[str, Any] = {}
    results = []
    log = ovo.client.call_log
    for scenario in chosen:
        setup_calls = len(log.calls())
        error = ""
        try:
            with log.scenario(scenario.id):
                scenario.run(ovo, ctx)
        except OvoApiError:
            pass  # a refusal is what a negative scenario is for: the code is read from the log
        except OvoNbError as exc:
            error = f"{type(exc).__name__}: {exc}"
        calls = [c for c in log.calls()[setup_calls:] if c.scenario == scenario.id
                 and getattr(match_endpoint(c.path), "name", "") == scenario.api]
        call = calls[-1] if calls else None
        actual = (call.response_code or "no answer") if call else "no call"
        results.append(ScenarioResult(scenario, actual, call, error))
    return results


# --------------------------------------------------------------------------- rendering

SANDBOX_HOSTS = frozenset({urlsplit(IN_PROCESS_URL).hostname or "", "127.0.0.1", "localhost", "::1"})
"""Hosts of the embedded sandbox: in this process, or on a loopback port."""


SCENARIO_RESULTS = "scenarios.json"
"""Where :func:`write_scenario_results` puts a run's verdicts (``ovo-nb run --junit`` reads it)."""


def write_scenario_results(results: list[ScenarioResult], folder: str | Path) -> Path:
    """Each scenario's verdict as JSON (id, API, title, expected, actual, passed, error, call id), for CI."""
    path = Path(folder) / SCENARIO_RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"id": r.scenario.id, "api": r.scenario.api, "title": r.scenario.title, "expected": r.scenario.expected,
             "actual": r.actual, "passed": r.passed, "error": r.error, "call_id": r.call.id if r.call else None}
            for r in results]
    path.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _devsite_workbook(table: pd.DataFrame, where: str, path: Path) -> None:
    """One sheet: a bold, frozen header, filters, widths that fit, PASS green and FAIL red."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "Devsite summary"
    xlsx_frame(sheet, table)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for column in sheet.columns:
        longest = max(len(str(cell.value or "")) for cell in column)
        sheet.column_dimensions[column[0].column_letter].width = min(max(longest + 2, 10), 70)
    for cell in sheet["F"][1:]:
        cell.font = Font(bold=True, color="176B2C" if cell.value == "PASS" else "9B1C1C")
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    book.properties.description = xlsx_text(f"BI devsite scenarios against {where}")
    book.save(path)


def as_http(call: Call) -> str:
    """The request as OVO's functional sheet shows it: request line, Host, headers, blank line, body."""
    parts = urlsplit(call.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{call.method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in call.request_headers.items() if name.lower() != "host"]
    body = call.request_body
    if body and not any(name.lower() == "content-length" for name in call.request_headers):
        lines.append(f"Content-Length: {len(body.encode())}")
    return "\n".join(lines) + "\n\n" + body


def _response_text(call: Call | None) -> str:
    if call is None:
        return "(no call)"
    parsed = call.response_json
    if isinstance(parsed, dict):
        parsed.pop("_sandbox", None)  # sandbox-only explanations are not OVO's answer
        return json.dumps(parsed, indent=3, ensure_ascii=False)
    return call.response_body or (call.error or "(no answer)")


def _evidence_rows(results: list[ScenarioResult], ovo: Ovo, reveal: bool) -> list[dict[str, Any]]:
    rows = []
    for number, result in enumerate(results, start=1):
        call = result.call
        if call is not None and reveal:
            call = ovo.client.call_log.get(call.id, reveal=True)
        rows.append({"No": number, "Scenario ID": result.scenario.id, "API": API_GROUPS[result.scenario.api],
                     "Scenario": result.scenario.title, "Expected": result.scenario.expected,
                     "Actual": result.actual, "Result": "PASS" if result.passed else "FAIL",
                     "Request": as_http(call) if call else "(no call)", "Response": _response_text(call),
                     "Time": call.started_at if call else "", "Why this case": result.scenario.why})
    return rows


def write_evidence_workbook(results: list[ScenarioResult], ovo: Ovo, path: str | Path, *,
                            reveal: bool = False) -> Path:
    """Our own functional-test workbook: a sheet per API group (No, Scenario, Expected, Request, Response, Result)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    rows = _evidence_rows(results, ovo, reveal)
    book = Workbook()
    notes = book.active
    notes.title = "Read me"
    xlsx_append(notes, ["OVO BI SNAP functional test evidence"])
    notes["A1"].font = Font(bold=True, size=14)
    xlsx_append(notes, ["Bearer tokens", "shown in full (explicit reveal)" if reveal else
                        "masked to a prefix and a fingerprint; re-run with reveal=True for full headers"])
    xlsx_append(notes, ["Scenarios", f"{sum(r.passed for r in results)} of {len(results)} as expected"])
    for group in dict.fromkeys(API_GROUPS[r.scenario.api] for r in results):
        sheet = book.create_sheet(group[:31])
        columns = ["No", "Scenario", "Expected", "Request", "Response", "Result"]
        xlsx_append(sheet, columns)
        for row in rows:
            if row["API"] == group:
                xlsx_append(sheet, [row[c] if c != "Scenario" else f"{row['Scenario ID']}: {row['Scenario']}"
                                    for c in columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for letter, width in zip("ABCDEF", (5, 40, 11, 90, 60, 8), strict=True):
            sheet.column_dimensions[letter].width = width
        for line in sheet.iter_rows(min_row=2):
            for cell in line:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.freeze_panes = "A2"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def fill_template(results: list[ScenarioResult], ovo: Ovo, template: str | Path, output: str | Path,
                  mapping: Mapping[str, Mapping[str, str]], *, reveal: bool = False) -> Path:
    """Fill a partner-supplied XLSX in place: only the Request and Response cells ``mapping`` names.

    ``mapping`` is ``{scenario id: {"sheet": ..., "request": "D5", "response": "E5"}}``. Every
    other cell (values and styles, "Not Eligible" rows included) stays as it was.
    """
    from openpyxl import load_workbook

    book = load_workbook(template)
    by_id = {row["Scenario ID"]: row for row in _evidence_rows(results, ovo, reveal)}
    for scenario_id, place in mapping.items():
        if scenario_id not in by_id:
            raise ValidationError(f"The mapping names {scenario_id!r}, which this run did not execute.")
        if place.get("sheet") not in book.sheetnames:
            raise ValidationError(f"The template has no sheet {place.get('sheet')!r}; sheets: {book.sheetnames}.")
        sheet = book[place["sheet"]]
        xlsx_set(sheet[place["request"]], by_id[scenario_id]["Request"])
        xlsx_set(sheet[place["response"]], by_id[scenario_id]["Response"])
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    book.save(output)
    return output


DEVSITE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>BI devsite summary</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#1f1b2e}table{border-collapse:collapse}
td,th{border:1px solid #d8d2e6;padding:4px 10px;text-align:left;vertical-align:top}th{background:#f2f0f7}</style>
</head><body><h1>BI devsite scenarios</h1><p>Environment: <strong>{{ where }}</strong>.
{{ passed }} of {{ total }} scenarios answered the expected SNAP code.</p>
{{ table }}<p>Generated by ovo-nb from the call log.</p></body></html>"""
"""The devsite summary page: the environment and every scenario cell escaped by the template and the Styler."""


def write_devsite_report(results: list[ScenarioResult], folder: str | Path, *,
                         environment: str = "") -> dict[str, Path]:
    """The summary to attach when emailing OVO: expected vs actual, pass/fail, when (HTML and XLSX).

    ``environment`` names where the calls went ("sandbox", "stage"); empty means read from the
    calls' host: the embedded sandbox (in-process or loopback) says "sandbox", any other its host.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    hosts = {urlsplit(r.call.url).hostname or "" for r in results if r.call}
    where = environment or ("sandbox" if hosts <= SANDBOX_HOSTS else "OVO at " + ", ".join(sorted(hosts)))
    table = pd.DataFrame([{"Scenario ID": r.scenario.id, "API": API_GROUPS[r.scenario.api],
                           "Scenario": r.scenario.title, "Expected": r.scenario.expected, "Actual": r.actual,
                           "Result": "PASS" if r.passed else "FAIL", "Time": r.call.started_at if r.call else "",
                           "Note": r.error} for r in results])
    xlsx = folder / "devsite_summary.xlsx"
    _devsite_workbook(table, where, xlsx)
    styled = html_table(table, style=lambda styler: styler.map(
        lambda v: f"color:{'#176b2c' if v == 'PASS' else '#9b1c1c'};font-weight:600", subset=["Result"])
        .set_properties(subset=["Time", "Scenario ID", "Expected", "Actual"], **{"white-space": "nowrap"}))
    html = folder / "devsite_summary.html"
    html.write_text(html_page(DEVSITE_PAGE, where=where, passed=int((table["Result"] == "PASS").sum()),
                              total=len(table), table=styled), encoding="utf-8")
    return {"devsite_summary.xlsx": xlsx, "devsite_summary.html": html}

