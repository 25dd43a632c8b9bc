"""The sandbox's positive paths, state, webview, faults and persistence."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sandbox_harness import BROKE, CALLBACK, CLOSED, LOCKED, PIN, POINTS, RICH, UNREGISTERED, Harness

from ovo_nb import signing
from ovo_nb.sandbox import Store
from ovo_nb.snap import PathStyle


def cash(h: Harness, phone: str) -> Decimal:
    return Decimal(h.sandbox.customer_view(phone)["cash"])


def code(response: httpx.Response) -> str:
    value: str = response.json()["responseCode"]
    return value


@pytest.mark.rule("DD-TWO-STEP", "LINK-UNBIND-TWO-CALLS", "RF-B2B")
@pytest.mark.parametrize("style", [PathStyle.TECH_DOC, PathStyle.FAQ])
def test_full_flow_bind_pay_status_refund_unbind(h: Harness, style: PathStyle) -> None:
    h.builder = h.make_builder(style=style)
    bound = h.bind(RICH)
    balance = h.call("balance_inquiry", {"partnerReferenceNo": "BAL-1", "balanceTypes": ["CASH"]}, token=bound.access)
    assert code(balance) == "2001100"
    assert balance.json()["accountInfos"] == [
        {"balanceType": "CASH", "amount": {"value": "10000000.00", "currency": "IDR"},
         "availableBalance": {"value": "10000000.00", "currency": "IDR"}, "status": "0001"}]
    body = h.payment_body("INV-1", "15000.00")
    first = h.call("debit_payment", body, token=bound.access)
    assert first.status_code == 202 and first.json()["responseMessage"] == "Transaction still on process"
    assert code(first) == "2025400"
    assert cash(h, RICH) == Decimal("10000000.00")  # the 1st call deducts nothing
    assert h.status(bound, "INV-1").json()["latestTransactionStatus"] == "01"
    token = h.single_use_token(first.json(), bound.access)
    assert h.status(bound, "INV-1").json()["latestTransactionStatus"] == "02"
    second = h.call("debit_payment", body, token=token)
    assert code(second) == "2005400" and second.json()["approvalCode"]
    assert second.json()["referenceNo"] == first.json()["referenceNo"]
    assert cash(h, RICH) == Decimal("9985000.00")
    status = h.status(bound, "INV-1").json()
    assert (status["responseCode"], status["latestTransactionStatus"]) == ("2005500", "00")
    assert status["amount"] == {"value": "15000.00", "currency": "IDR"} and status["paidTime"]
    assert code(h.refund("INV-1", "RF-1", "5000.00")) == "2005800"
    assert code(h.unbind(bound)) == "2000900"
    assert code(h.refund("INV-1", "RF-2", "10000.00")) == "2005800"  # refunds work after unbinding
    assert cash(h, RICH) == Decimal("10000000.00")


@pytest.mark.rule("DD-IDEMPOTENT")
def test_idempotent_replays_return_the_stored_answer_and_never_charge_twice(h: Harness) -> None:
    bound = h.bind(RICH)
    body = h.payment_body("INV-1")
    first = h.call("debit_payment", body, token=bound.access)
    again = h.call("debit_payment", body, token=bound.access)
    assert again.json()["referenceNo"] == first.json()["referenceNo"]
    assert again.json()["_sandbox"]["idempotentReplay"] is True
    token = h.single_use_token(first.json(), bound.access)
    paid = h.call("debit_payment", body, token=token)
    for replay_token in (token, bound.access):
        replay = h.call("debit_payment", dict(reversed(list(body.items()))), token=replay_token)
        assert code(replay) == "2005400" and replay.json()["approvalCode"] == paid.json()["approvalCode"]
    assert cash(h, RICH) == Decimal("9985000.00")
    refund = h.refund("INV-1", "RF-1", "1000.00")
    assert h.refund("INV-1", "RF-1", "1000.00").json()["refundNo"] == refund.json()["refundNo"]
    assert cash(h, RICH) == Decimal("9986000.00")


def test_failed_payment_is_stored_and_replayed(h: Harness) -> None:
    bound = h.bind(BROKE)
    body = h.payment_body("INV-1", "5000.00")
    assert code(h.call("debit_payment", body, token=bound.access)) == "4035414"
    assert code(h.call("debit_payment", body, token=bound.access)) == "4035414"
    status = h.status(bound, "INV-1").json()
    assert status["latestTransactionStatus"] == "06" and status["transactionStatusDesc"] == "Insufficient Funds"


def test_partial_then_full_refund_and_status_history(h: Harness) -> None:
    bound = h.bind(RICH)
    h.pay(bound, "INV-1", "20000.00")
    b2b = h.b2b()
    h.refund("INV-1", "RF-1", "5000.00", b2b)
    assert h.status(bound, "INV-1").json()["latestTransactionStatus"] == "00"
    h.refund("INV-1", "RF-2", "15000.00", b2b)
    status = h.status(bound, "INV-1").json()
    assert status["latestTransactionStatus"] == "04"
    assert [r["partnerRefundNo"] for r in status["refundHistory"]] == ["RF-1", "RF-2"]
    assert code(h.refund("INV-1", "RF-3", "0.01", b2b)) == "4045813"


def test_recurring_auto_is_one_pinless_call(h: Harness) -> None:
    bound = h.bind(RICH)
    response = h.call("debit_payment", h.payment_body("SUB-1", additionalInfo={"subTransactionType": "AUTO"}),
                      token=bound.access)
    assert code(response) == "2005400"
    assert cash(h, RICH) == Decimal("9985000.00")


def test_points_payment(h: Harness) -> None:
    bound = h.bind(POINTS)
    options = [{"payMethod": "POINTS", "payOption": "OVO", "transAmount": {"value": "25000.00", "currency": "IDR"}}]
    assert code(h.pay(bound, "INV-P", "25000.00", payOptionDetails=options)) == "2005400"
    assert h.sandbox.customer_view(POINTS)["points"] == "975000.00"
    assert code(h.call("debit_payment", h.payment_body("INV-C", "1.00"), token=bound.access)) == "4035414"


@pytest.mark.rule("SIG-OVO", "LINK-CAN-REGISTER")
def test_lookup_states(h: Harness) -> None:
    def state(phone: str) -> str:
        value: str = h.call("lookup", query={"phone": phone}).json()["accountStatus"]
        return value

    assert state("+62 812-3456-7890") == "ACTIVE"
    assert state(UNREGISTERED) == "CAN_REGISTER" and state("081377778888") == "CAN_REGISTER"
    assert state(CLOSED) == "CLOSED" and state(LOCKED) == "BLOCKED_MSISDN"
    h.bind(RICH)
    assert state(RICH) == "LINKED"
    assert h.call("lookup", query={"phone": RICH}).json()["phoneNumber"] == "08123456****"


def test_tokens_and_their_lifetimes(h: Harness) -> None:
    answer = h.call("b2b_token", {"grantType": "client_credentials"}).json()
    assert (answer["responseCode"], answer["tokenType"], answer["expiresIn"]) == ("2007300", "Bearer", "900")
    bound = h.bind(RICH)
    refreshed = h.call("b2b2c_token", {"grantType": "REFRESH_TOKEN", "refreshToken": bound.refresh}).json()
    assert refreshed["responseCode"] == "2007400" and refreshed["accessToken"] != bound.access
    assert refreshed["additionalInfo"]["ilp"].startswith("ILP")
    assert code(h.call("balance_inquiry", {}, token=refreshed["accessToken"])) == "2001100"
    h.sandbox.advance_clock(15 * 60 + 1)
    assert code(h.refund("INV-X", "RF-X", "1.00", answer["accessToken"])) == "4015801"  # B2B token expired
    h.sandbox.advance_clock(16 * 24 * 3600)
    assert code(h.call("balance_inquiry", {}, token=bound.access)) == "4011102"
    renewed = h.call("b2b2c_token", {"grantType": "REFRESH_TOKEN", "refreshToken": bound.refresh})
    assert code(renewed) == "2007400"  # the refresh token never expires on its own


@pytest.mark.rule("SIG-ENCODING", "SIG-MINIFIED", "LENIENT")
def test_hex_signatures_and_spaced_bodies_are_accepted(h: Harness) -> None:
    h.builder = h.make_builder(encoding="hex")
    h.set_partner(lenient=1)  # other body-hash forms are a tolerance: flagged, and only for lenient partners
    bound = h.bind(RICH)
    request = h.builder.build("balance_inquiry", {"partnerReferenceNo": "BAL-1"}, token=bound.access)
    assert len(request.headers["X-SIGNATURE"]) == 128
    assert code(h.send(request)) == "2001100"
    body = {"partnerReferenceNo": "BAL-2", "additionalInfo": {"note": "é"}}
    spaced = json.dumps(body).encode()  # what requests(json=...) sends: spaced, non-ASCII escaped
    hashed_forms = {"raw": spaced, "minified": json.dumps(body, separators=(",", ":")).encode()}
    for form, hashed in hashed_forms.items():
        template = h.builder.build("balance_inquiry", body, token=bound.access)
        ts, path = template.headers["X-TIMESTAMP"], template.url.raw_path.decode()
        text = f"POST:{path}:{bound.access}:{hashlib.sha256(hashed).hexdigest()}:{ts}"
        headers = {k: v for k, v in template.headers.items() if k not in ("content-length", "x-signature")}
        headers["x-signature"] = signing.sign_hmac_sha512(h.partner.client_secret, text)
        response = h.send(httpx.Request("POST", template.url, content=spaced, headers=headers))
        assert code(response) == "2001100", response.text
        assert response.headers["X-Sandbox-Body-Hash-Form"] == form
        warnings = response.json().get("_sandbox", {}).get("warnings", [])
        assert (form == "raw") == any("hashes the body as 'raw'" in w for w in warnings)
        if form == "raw":
            raw_signed = dict(headers)
    h.set_partner(lenient=0)
    strict = h.send(httpx.Request("POST", template.url, content=spaced, headers={
        **raw_signed, "x-external-id": "123456789"}))
    assert code(strict) == "4011100" and strict.json()["_sandbox"]["mismatch"] == "body"


@pytest.mark.rule("PIN-BLOCKS", "WV-WRONG-STAYS")
def test_webview_wrong_entries_blocks_and_recovery(h: Harness) -> None:
    bound = h.bind(RICH)
    first = h.call("debit_payment", h.payment_body("INV-1"), token=bound.access).json()
    url = h.webview_url(first, bound.access)
    assert [h.sandbox.webview_submit(url, "000000").attempts_left for _ in range(3)] == [2, 1, 0]
    blocked = h.sandbox.webview_submit(url, "123456")
    assert not blocked.ok and "Try again after" in blocked.message
    h.sandbox.advance_clock(3600)
    first = h.call("debit_payment", h.payment_body("INV-2"), token=bound.access).json()
    url = h.webview_url(first, bound.access)
    assert [h.sandbox.webview_submit(url, "000000").attempts_left for _ in range(3)] == [2, 1, 0]
    locked = h.sandbox.webview_submit(url, "123456")
    assert "permanently" in locked.message and h.sandbox.customer_view(RICH)["pinLocked"]


@pytest.mark.rule("WV-DESTINATION", "WV-REDIRECT")
def test_webview_rules(h: Harness) -> None:
    answer = h.start_binding(RICH)
    token = answer["linkageToken"]
    from ovo_nb.sandbox import WebviewRefusal

    with pytest.raises(WebviewRefusal, match="not registered"):
        h.sandbox.webview_submit(h.webview_url(answer, token, destination="https://evil.example/steal"), "7890")
    with pytest.raises(WebviewRefusal, match="token does not match"):
        h.sandbox.webview_submit(h.webview_url(answer, token + "x"), "7890")
    outcome = h.sandbox.webview_submit(h.webview_url(answer, token, state="order-42"), "7890", PIN)
    assert outcome.callback_url and outcome.response
    parts = urlsplit(outcome.callback_url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK and query["state"] == ["order-42"]
    assert json.loads(query["response"][0]) == outcome.response
    assert set(outcome.response) == {"displayMsg", "displayHeader", "retryAttemptsLeft", "authCode", "errorCode",
                                     "enable_redirection"}
    with pytest.raises(WebviewRefusal, match="already complete"):
        h.sandbox.webview_submit(h.webview_url(answer, token), "7890")
    second = h.start_binding(BROKE)
    h.sandbox.advance_clock(15 * 60)
    with pytest.raises(WebviewRefusal, match="expired"):
        h.sandbox.webview_submit(h.webview_url(second, second["linkageToken"]), "0001")


def test_locked_pin_customer_cannot_pay(h: Harness) -> None:
    bound = h.bind(RICH)
    h.sandbox.update_customer(RICH, pin_locked=True)  # blocked after binding (6 wrong PINs elsewhere)
    first = h.call("debit_payment", h.payment_body("INV-1"), token=bound.access).json()
    outcome = h.sandbox.webview_submit(h.webview_url(first, bound.access), "123456")
    assert not outcome.ok and "permanently" in outcome.message


@pytest.mark.rule("OTP-VALUE", "WV-REDIRECT", "PIN-BINDING-2FA")
def test_webview_pages_for_people(h: Harness) -> None:
    answer = h.start_binding(RICH)
    url = h.webview_url(answer, answer["linkageToken"], state="s1")
    page = h.http.get(url)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "OTP" in page.text and "<form" in page.text and "<script" not in page.text and "http" not in page.text.split(
        "<body>")[1].split("action=")[0]
    wrong = h.http.post(url, data={"code": "1111"})
    assert wrong.status_code == 200 and "4 attempts left" in wrong.text
    otp = h.http.post(url, data={"code": "7890"})
    assert otp.status_code == 200 and "Security PIN" in otp.text and "OTP accepted" in otp.text
    right = h.http.post(url, data={"code": PIN})
    assert right.status_code == 303
    location = right.headers["Location"]
    assert location.startswith(CALLBACK + "?response=") and "state=s1" in location
    bad = h.http.get(h.webview_url(answer, answer["linkageToken"], destination="https://evil.example/x"))
    assert bad.status_code == 400 and "not registered" in bad.text


def test_state_survives_a_restart(tmp_path: Path, sandbox_key_folder: Path) -> None:
    db = tmp_path / "state.sqlite"
    h1 = Harness(sandbox_key_folder, Store(db))
    bound = h1.bind(RICH)
    h1.pay(bound, "INV-1")
    h1.sandbox.advance_clock(60)
    offset = h1.sandbox.clock.offset
    h1.sandbox.store.close()
    h2 = Harness(sandbox_key_folder, Store(db))
    assert h2.sandbox.clock.offset == offset
    assert h2.status(bound, "INV-1").json()["latestTransactionStatus"] == "00"
    assert cash(h2, RICH) == Decimal("9985000.00")
    assert h2.partner.client_secret == h1.partner.client_secret


def test_settlement_export_lists_payments_and_refunds(h: Harness) -> None:
    bound = h.bind(RICH)
    h.pay(bound, "INV-1", "15000.00")
    h.refund("INV-1", "RF-1", "5000.00")
    lines = h.sandbox.settlement_csv().splitlines()
    assert lines[0].startswith("type,time,client_id,merchant_id,partner_reference_no")
    assert lines[1].startswith("PAYMENT,") and ",INV-1," in lines[1] and ",15000.00,IDR,SUCCESS," in lines[1]
    assert lines[2].startswith("REFUND,") and ",RF-1," in lines[2] and ",5000.00,IDR,SUCCESS," in lines[2]


def test_aspi_dialect_for_the_bi_devsite(h: Harness) -> None:
    """Pure SNAP: B2B token in Authorization, customer token in Authorization-Customer."""
    ovo = h.builder
    bound = h.bind(RICH)
    h.builder = h.make_builder(dialect="aspi")
    b2b = h.b2b()
    balance = h.call("balance_inquiry", {"partnerReferenceNo": "B1"}, token=b2b, customer_token=bound.access)
    assert code(balance) == "2001100"
    assert code(h.call("balance_inquiry", {}, token=bound.access, customer_token=bound.access)) == "4011101"
    pay = h.call("debit_payment", h.payment_body("DEV-1"), token=b2b, customer_token=bound.access)
    assert code(pay) == "2005400"
    status = h.call("debit_status", {"originalPartnerReferenceNo": "DEV-1", "serviceCode": "54"}, token=b2b,
                    customer_token=bound.access)
    assert status.json()["latestTransactionStatus"] == "00"
    h.call("lookup", query={"phone": BROKE}, builder=ovo)
    binding = h.call("account_binding", {"phoneNo": BROKE, "merchantId": h.partner.merchant_id}, token=b2b)
    assert code(binding) == "2000700"
    unbind = h.call("account_unbinding", {"merchantId": h.partner.merchant_id}, token=b2b,
                    customer_token=bound.access)
    assert code(unbind) == "2000900" and unbind.json()["unlinkResult"] == "success"


# ----------------------------------------------------------------------------- faults


def test_timeout_after_commit_then_status_and_replay_recover_without_double_debit(h: Harness) -> None:
    bound = h.bind(RICH)
    body = h.payment_body("INV-1")
    first = h.call("debit_payment", body, token=bound.access)
    token = h.single_use_token(first.json(), bound.access)
    h.sandbox.add_fault("debit_payment", "timeout_after_commit")
    with pytest.raises(httpx.ReadTimeout):
        h.call("debit_payment", body, token=token)
    assert h.status(bound, "INV-1").json()["latestTransactionStatus"] == "00"
    replay = h.call("debit_payment", body, token=token)
    assert code(replay) == "2005400" and replay.json()["_sandbox"]["idempotentReplay"]
    assert cash(h, RICH) == Decimal("9985000.00")


def test_faults_before_processing_change_nothing(h: Harness) -> None:
    bound = h.bind(RICH)
    h.sandbox.add_fault("balance_inquiry", "timeout_before")
    h.sandbox.add_fault("balance_inquiry", "drop_before")
    h.sandbox.add_fault("balance_inquiry", "error_500")
    with pytest.raises(httpx.ReadTimeout):
        h.call("balance_inquiry", {}, token=bound.access)
    with pytest.raises(httpx.RemoteProtocolError):
        h.call("balance_inquiry", {}, token=bound.access)
    error = h.call("balance_inquiry", {}, token=bound.access)
    assert error.status_code == 500 and code(error) == "5001100"
    assert code(h.call("balance_inquiry", {}, token=bound.access)) == "2001100"
    h.sandbox.add_fault("*", "slow", delay_seconds=0.01)
    assert code(h.call("balance_inquiry", {}, token=bound.access)) == "2001100"
    h.sandbox.add_fault("debit_refund", "drop_after_commit", count=2)
    h.sandbox.clear_faults()
    assert code(h.call("balance_inquiry", {}, token=bound.access)) == "2001100"


@pytest.mark.rule("EXT-5XX")
def test_external_id_is_freed_after_a_server_error(h: Harness) -> None:
    bound = h.bind(RICH)
    h.sandbox.add_fault("balance_inquiry", "timeout_after_commit")
    request = h.builder.build("balance_inquiry", {}, token=bound.access, headers={"X-EXTERNAL-ID": "777"})
    with pytest.raises(httpx.ReadTimeout):
        h.send(request)
    # a timeout is not an answer >= 500, so the id stays used
    assert code(h.send(h.builder.build("balance_inquiry", {}, token=bound.access,
                                       headers={"X-EXTERNAL-ID": "777"}))) == "4091100"
    h.sandbox.add_fault("debit_payment", "error_500")
    request = h.builder.build("debit_payment", h.payment_body("INV-9"), token=bound.access,
                              headers={"X-EXTERNAL-ID": "888"})
    assert h.send(request).status_code == 500
    retry = h.builder.build("debit_payment", h.payment_body("INV-9"), token=bound.access,
                            headers={"X-EXTERNAL-ID": "888"})
    assert code(h.send(retry)) == "2025400"


def test_fault_validation(h: Harness) -> None:
    from ovo_nb.errors import ValidationError

    with pytest.raises(ValidationError, match="not one of"):
        h.sandbox.add_fault("debit_payment", "explode")
    with pytest.raises(ValidationError, match="Unknown API"):
        h.sandbox.add_fault("pay", "slow")
