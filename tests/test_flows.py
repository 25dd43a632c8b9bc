"""The Ovo flows against the in-process sandbox: positive, negative, recovery, vault, ledger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ovo_nb.errors import (
    BusinessRuleError,
    CustomerMustRegister,
    CustomerNotBound,
    InsufficientFundsError,
    InvalidRequestError,
    OvoConnectionError,
    ValidationError,
    WebviewError,
)
from ovo_nb.flows import Ovo
from ovo_nb.sandbox import FAULT_KINDS, SandboxServer
from ovo_nb.snap import JAKARTA, ManualClock

RICH, BROKE, CLOSED, UNREGISTERED, LOCKED = (
    "081234567890", "081200000001", "081200000002", "081200000003", "081200000004")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(JAKARTA))


@pytest.fixture
def ovo(clock: ManualClock) -> Iterator[Ovo]:
    with Ovo.open(clock=clock, sleep=lambda seconds: None) as session:
        yield session


def cash(ovo: Ovo, phone: str = RICH) -> Decimal:
    assert ovo.sandbox is not None
    return Decimal(ovo.sandbox.customer(phone)["cash"])


def scenarios(ovo: Ovo) -> list[str]:
    return list(ovo.client.call_log.to_frame()["scenario"])


def test_a_whole_integration_in_a_few_lines(ovo: Ovo) -> None:
    ilp = ovo.bind(RICH)
    assert ilp.startswith("ILP") and ovo.vault.customer(RICH).status == "BOUND"  # type: ignore[union-attr]
    assert ovo.balance(RICH).accounts["CASH"] == Decimal("10000000.00")
    payment = ovo.pay(RICH, "15000")
    assert payment.status == "PAID" and payment.approval_code and not payment.recovered
    assert ovo.status(payment.partner_reference_no).status_name == "SUCCESS"
    ovo.refund(payment.partner_reference_no, "5000", reason="one item out of stock")
    ovo.unbind(RICH)
    ovo.refund(payment.partner_reference_no, "10000")  # refunds work after unbinding
    assert cash(ovo) == Decimal("10000000.00")
    assert ovo.ledger.payment(payment.partner_reference_no).status == "REFUNDED"
    with pytest.raises(CustomerNotBound):
        ovo.balance(RICH)
    assert scenarios(ovo)[:9] == ["lookup", "account binding", "access token (binding)", "balance inquiry",
                                  "balance before debit", "debit 1st call", "generate single-use token",
                                  "debit 2nd call", "payment status"]


def test_secrets_stay_out_of_the_vault_file_and_call_log(ovo: Ovo) -> None:
    ovo.bind(RICH)
    ovo.pay(RICH, "1000")
    ovo.b2b_token()
    tokens = [ovo.vault.get(RICH, "access"), ovo.vault.get(RICH, "refresh"), ovo.vault.get("__partner__", "b2b")]
    assert all(tokens)
    state = ovo.profile.state_dir
    raw = b"".join(p.read_bytes() for p in state.iterdir() if p.name.startswith(("vault", "calls")))
    for token in tokens:
        assert token is not None and token.encode() not in raw
    assert ovo.profile.client_secret.encode() not in raw
    revealed = ovo.client.call_log.calls(reveal=True)
    assert any(tokens[0] in str(call.request_headers) for call in revealed)


def test_expired_access_token_is_refreshed_and_the_refresh_logged(ovo: Ovo, clock: ManualClock) -> None:
    ovo.bind(RICH)
    clock.advance(timedelta(days=15, minutes=1))
    assert ovo.balance(RICH).accounts["CASH"] == Decimal("10000000.00")
    assert "refresh access token" in scenarios(ovo)


def test_a_token_ovo_revoked_is_refreshed_once(ovo: Ovo) -> None:
    ovo.bind(RICH)
    access = ovo.vault.get(RICH, "access")
    ovo.sandbox.advance_clock(15 * 24 * 3600 + 60)  # expired on OVO's clock; the vault's clock did not move
    assert ovo.balance(RICH).response_code == "2001100"
    assert ovo.vault.get(RICH, "access") != access


def test_broken_refresh_marks_the_customer_unbound(ovo: Ovo, clock: ManualClock) -> None:
    ovo.bind(RICH)
    ovo.sandbox.update_customer(RICH, new_phone="081299990000")  # phone change breaks every token at OVO
    clock.advance(timedelta(days=16))
    with pytest.raises(CustomerNotBound, match="changed phone number"):
        ovo.balance(RICH)
    assert ovo.vault.customer(RICH).status == "UNBOUND"  # type: ignore[union-attr]


def test_revoke_for_a_phone_change(ovo: Ovo) -> None:
    ovo.bind(RICH)
    ovo.revoke(RICH)
    with pytest.raises(CustomerNotBound, match="phone number changed"):
        ovo.balance(RICH)


def test_lookup_refusals(ovo: Ovo) -> None:
    with pytest.raises(CustomerMustRegister, match="register in the OVO app"):
        ovo.bind(UNREGISTERED)
    with pytest.raises(BusinessRuleError, match="4030718"):
        ovo.bind(CLOSED)
    with pytest.raises(ValidationError, match="Indonesian mobile"):
        ovo.bind("+6591234567")
    assert scenarios(ovo) == ["lookup", "lookup", "account binding"]  # nothing sent for the bad phone


def test_wrong_otp_and_pin_in_the_webview(ovo: Ovo) -> None:
    with pytest.raises(WebviewError, match="4 attempts left"):
        ovo.bind(RICH, otp="0000")
    ovo.bind(RICH)
    with pytest.raises(WebviewError, match="2 attempts left"):
        ovo.pay(RICH, "1000", pin="999999")
    assert ovo.ledger.payments("AWAITING_PIN")


def test_blocked_pin_and_insufficient_funds(ovo: Ovo) -> None:
    with pytest.raises(WebviewError, match="permanently"):
        ovo.bind(LOCKED)  # the binding webview asks the Security PIN after the OTP
    assert not ovo.is_bound(LOCKED)
    ovo.bind(BROKE)
    with pytest.raises(InsufficientFundsError, match="balance IDR 1000.00 is below IDR 5000.00"):
        ovo.pay(BROKE, "5000")
    assert "debit 1st call" not in scenarios(ovo)[-2:]


def test_input_is_refused_before_any_call(ovo: Ovo) -> None:
    ovo.bind(RICH)
    before = len(scenarios(ovo))
    for amount, message in (("-5", "negative"), ("10.001", "two decimals"), ("abc", "not a plain number")):
        with pytest.raises(ValidationError, match=message):
            ovo.pay(RICH, amount)
    with pytest.raises(ValidationError, match="partnerReferenceNo"):
        ovo.pay(RICH, "1000", reference="has spaces in it")
    assert len(scenarios(ovo)) == before  # nothing was sent


def test_refund_rules(ovo: Ovo, clock: ManualClock) -> None:
    ovo.bind(RICH)
    payment = ovo.pay(RICH, "20000")
    with pytest.raises(ValidationError, match="more than the IDR 20000.00 left"):
        ovo.refund(payment.partner_reference_no, "20000.01")
    ovo.sandbox.set_partner(ovo.profile.client_id, daily_refund_limit="1000.00")
    with pytest.raises(BusinessRuleError, match="4035802"):
        ovo.refund(payment.partner_reference_no, "5000")
    clock.advance(timedelta(days=61))
    with pytest.raises(BusinessRuleError, match="4035800"):
        ovo.refund(payment.partner_reference_no, "500")
    assert [r["status"] for r in ovo.ledger.to_frame("refunds").to_dict("records")] == ["FAILED", "FAILED"]


def test_recurring_payment(ovo: Ovo) -> None:
    ovo.bind(RICH)
    outcome = ovo.pay_recurring(RICH, "49000")
    assert outcome.status == "PAID" and cash(ovo) == Decimal("9951000.00")


@pytest.mark.parametrize("kind", FAULT_KINDS)
@pytest.mark.parametrize("api", ["debit_payment", "debit_refund"])
def test_recovery_under_every_fault_never_charges_twice(ovo: Ovo, kind: str, api: str) -> None:
    ovo.bind(RICH)
    if api == "debit_refund":
        payment = ovo.pay(RICH, "15000")
        ovo.sandbox.add_fault(api, kind)
        ovo.refund(payment.partner_reference_no, "15000")
        assert cash(ovo) == Decimal("10000000.00")
        assert ovo.ledger.payment(payment.partner_reference_no).status == "REFUNDED"
        return
    ovo.sandbox.add_fault(api, kind)  # the 1st call misbehaves
    first = ovo.pay(RICH, "15000")
    pending = ovo.start_payment(RICH, "20000")
    callback = ovo.complete_webview(pending.webview_url, "123456")  # type: ignore[misc]
    ovo.sandbox.add_fault(api, kind)  # now the 2nd call misbehaves
    second = ovo.finish_payment(pending, callback)
    for payment in (first, second):
        assert payment.status == "PAID"
        assert ovo.status(payment.partner_reference_no).latest_status == "00"
        assert ovo.ledger.payment(payment.partner_reference_no).status == "PAID"
    assert cash(ovo) == Decimal("9965000.00")  # 15,000 + 20,000, each exactly once
    assert second.recovered == (kind in ("timeout_after_commit", "drop_after_commit"))


def test_an_outage_leaves_the_payment_unknown_then_resolved(ovo: Ovo) -> None:
    ovo.bind(RICH)
    pending = ovo.start_payment(RICH, "15000")
    callback = ovo.complete_webview(pending.webview_url, "123456")  # type: ignore[misc]
    ovo.sandbox.add_fault("debit_payment", "timeout_after_commit", count=1)
    ovo.sandbox.add_fault("debit_status", "drop_before", count=10)
    with pytest.raises(OvoConnectionError, match="UNKNOWN"):
        ovo.finish_payment(pending, callback)
    assert ovo.ledger.payment(pending.partner_reference_no).status == "UNKNOWN"
    ovo.sandbox.clear_faults()
    assert ovo.resolve_unknown() == [f"{pending.partner_reference_no}: PAID"]
    assert cash(ovo) == Decimal("9985000.00")


def test_webview_by_hand_with_start_and_finish(ovo: Ovo) -> None:
    pending = ovo.start_binding(RICH, state="signup-42")
    assert pending.webview_url.startswith("http://ovo-sandbox.local/cellblockui/partner/activation?")
    assert "destination=https%3A%2F%2Fpartner.example.com%2Fovo%2Fcallback" in pending.webview_url
    callback = ovo.sandbox.complete_webview(pending.webview_url, "7890", "123456")
    with pytest.raises(WebviewError, match="no 'response' parameter"):
        ovo.finish_binding(pending, "https://partner.example.com/ovo/callback?x=1")
    with pytest.raises(WebviewError, match="not this binding"):
        ovo.finish_binding(pending, callback.replace("state=signup-42", "state=other"))
    assert ovo.finish_binding(pending, callback).startswith("ILP")


def test_an_unregistered_destination_is_refused_before_the_webview(ovo: Ovo) -> None:
    ovo.destination = "https://evil.example/steal"
    with pytest.raises(ValidationError, match="not a registered callback URL"):
        ovo.start_binding(RICH)


def test_against_the_loopback_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ovo_nb.sandbox import open_sandbox

    sandbox, _ = open_sandbox(tmp_path / "state.sqlite")
    with SandboxServer(sandbox) as server:
        monkeypatch.setenv("OVO_NB_SANDBOX_URL", server.url)
        with Ovo.open() as ovo:
            ovo.bind(RICH)
            payment = ovo.pay(RICH, "25000")
            ovo.refund(payment.partner_reference_no, "25000")
            ovo.unbind(RICH)
        assert sandbox.customer_view(RICH)["cash"] == "10000000.00"


def test_invalid_request_errors_carry_code_and_call(ovo: Ovo) -> None:
    ovo.bind(RICH)
    token = ovo.access_token(RICH)
    with pytest.raises(InvalidRequestError) as info:
        ovo.client.balance_inquiry(token, balance_types=["GOLD"])
    error = info.value
    assert error.response_code == "4001101" and error.call_id is not None
    assert f"call {error.call_id}" in str(error)
    assert ovo.client.call_log.get(error.call_id).response_code == "4001101"


def test_an_outcome_lost_after_the_customer_unbound_waits_for_reconciliation(ovo: Ovo) -> None:
    import io

    import pandas as pd

    from ovo_nb.reconciliation import from_settlement, settle_from_settlement

    ovo.bind(RICH)
    pending = ovo.start_payment(RICH, "15000")
    callback = ovo.complete_webview(pending.webview_url, "123456")  # type: ignore[misc]
    ovo.sandbox.add_fault("debit_payment", "timeout_after_commit", count=3)  # OVO debits; the answers are lost
    ovo.sandbox.add_fault("debit_status", "error_500", count=9)
    with pytest.raises(OvoConnectionError):
        ovo.finish_payment(pending, callback)
    reference = pending.partner_reference_no
    assert ovo.ledger.payment(reference).status == "UNKNOWN"
    ovo.sandbox.clear_faults()
    ovo.unbind(RICH)
    with pytest.raises(CustomerNotBound, match="settlement report"):
        ovo.status(reference)  # OVO's status takes the customer's token, which is gone
    assert ovo.ledger.payment(reference).status == "UNKNOWN_NEEDS_RECONCILIATION"
    report = ovo.resolve_unknown()
    assert any(line.startswith(f"{reference}: UNKNOWN_NEEDS_RECONCILIATION") for line in report)
    settled = settle_from_settlement(ovo.ledger, from_settlement(pd.read_csv(io.StringIO(ovo.sandbox.settlement_csv()), dtype=str)))
    assert settled == [f"{reference}: PAID"] and ovo.ledger.payment(reference).status == "PAID"
    assert cash(ovo) == Decimal("9985000.00")  # debited once


def test_a_refund_after_ovo_expired_the_cached_b2b_token(ovo: Ovo) -> None:
    ovo.bind(RICH)
    payment = ovo.pay(RICH, "15000")
    ovo.refund(payment.partner_reference_no, "5000")
    ovo.sandbox.advance_clock(16 * 60)  # OVO's clock moves on; the vault still thinks the B2B token fresh
    refund = ovo.refund(payment.partner_reference_no, "5000")
    assert refund.response_code == "2005800"
    assert ovo.ledger.payment(payment.partner_reference_no).status == "PARTIALLY_REFUNDED"
    assert scenarios(ovo).count("b2b token") == 2


def test_an_expired_auth_code_is_named_as_such_not_as_a_signature(ovo: Ovo) -> None:
    from ovo_nb.errors import AuthenticationError

    ovo.bind(RICH)
    pending = ovo.start_payment(RICH, "15000")
    assert ovo.sandbox is not None
    callback = ovo.sandbox.complete_webview(pending.webview_url, "123456")
    ovo.sandbox.advance_clock(16 * 60)  # the authCode lives 15 minutes
    with pytest.raises(AuthenticationError) as caught:
        ovo.finish_payment(pending, callback)
    assert "authCode is unknown, used or expired" in str(caught.value) and "doctor" not in str(caught.value)
