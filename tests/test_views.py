"""What analysts see: cards, the sequence diagram, readable tables and charts, from real runs."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from ovo_nb.errors import InsufficientFundsError
from ovo_nb.views import Card, Chart, duration, readable_table
from ovo_nb.walkthrough import StepResult, Walkthrough


@pytest.fixture()
def wt() -> Walkthrough:
    return Walkthrough(run_label="views")


def test_a_refusal_card_names_the_code_its_meaning_the_hint_and_the_call(wt: Walkthrough) -> None:
    phone = wt.new_sandbox_customer(cash="1000")
    wt.step("bind", lambda: wt.ovo.bind(phone))
    refused = wt.step("pay", lambda: wt.ovo.pay(phone, "5000"))
    assert refused.status == "refused" and isinstance(refused.error, InsufficientFundsError)
    card = refused.card()
    assert card.code == "4035414" and "Insufficient Funds" in card.text() and "top up" in card.text()
    assert 'ovo-refused' in card.html() and "#9b1c1c" in card.html()
    assert wt.step("balance", lambda: wt.ovo.balance(phone)).status == "skipped"
    assert repr(refused).startswith("[refused] pay") and "StepResult(" not in repr(refused)


def test_the_sequence_shows_tokens_the_webview_and_refusals(wt: Walkthrough) -> None:
    phone = wt.new_sandbox_customer()
    wt.step("bind", lambda: wt.ovo.bind(phone))
    started = wt.step("debit, 1st call", lambda: wt.ovo.start_payment(phone, "15000"))
    webview = wt.webview("PIN", started.value.webview_url, code="123456")
    wt.step("debit, 2nd call", lambda: wt.ovo.finish_payment(started.value, webview.value))
    wt.step("over-refund", lambda: wt.ovo.refund(started.value.partner_reference_no, "15000"))
    wt.step("after", lambda: None)
    diagram = wt.sequence()
    labels = [arrow.label for arrow in diagram.arrows]
    assert "debit payment [access token]" in labels and "debit payment [single-use token]" in labels
    assert "open webview: PIN" in labels and any(label.startswith("callback: SUCCESS") for label in labels)
    assert labels.index("open webview: PIN") < labels.index("debit payment [single-use token]")
    assert "debit refund [B2B token]" in labels and "account binding [no token]" in labels
    svg = diagram._repr_html_()
    assert svg.count("<line") > len(labels) and "<script" not in svg and "http" not in svg.replace(
        "http://www.w3.org/2000/svg", "")
    assert "0812" not in repr(diagram)  # the webview's callback is described, never its phone or code


def test_tables_read_as_people_say_them(wt: Walkthrough) -> None:
    frame = pd.DataFrame({"phone": ["081234567890"], "amount": [Decimal("1500000.5")], "left": [1_296_000.0]})
    table = readable_table(frame, amounts=["amount"], durations=["left"])
    text, html = repr(table), table._repr_html_()
    assert "0812****7890" in text and "081234567890" not in text + html
    assert "1,500,000.50" in text and "15 days" in text and "e+" not in text and "dtype" not in text
    assert "text-align: right" in html
    assert [duration(s) for s in (None, 40, 840, 7200, 1_296_000)] == ["no expiry", "40 s", "14 min", "2 h 0 min",
                                                                       "15 days"]


def test_the_ledger_view_shows_this_runs_rows_only() -> None:
    first = Walkthrough()
    phone = first.new_sandbox_customer()
    first.step("bind", lambda: first.ovo.bind(phone))
    first.step("pay", lambda: first.ovo.pay(phone, "1000"))
    second = Walkthrough()
    other = second.new_sandbox_customer()
    second.step("bind", lambda: second.ovo.bind(other))
    second.step("pay", lambda: second.ovo.pay(other, "2000"))
    rows = second.ledger().frame
    assert list(rows["amount"]) == ["2000.00"] and "****" in rows["phone"].iloc[0]


def test_a_card_and_a_chart_render_without_a_repr() -> None:
    card = Card("balance inquiry", "done", code="2001100", call_id=7)
    assert card.text() == "[done] balance inquiry\n  2001100 Successful (Balance Inquiry)\n  call 7 in the call log"
    chart = Chart(pd.DataFrame({"matched": [1.0, 2.0], "open": [0.0, 3.0]}, index=["11-26", "11-27"]), title="IDR")
    svg = chart.svg()
    assert svg.count("<rect") == 4 + 2 and "11-27 · open: 3.00" in svg
    assert StepResult("x", "done")._ipython_display_() is None
