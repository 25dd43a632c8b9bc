"""The sandbox refuses what OVO refuses, with the exact SNAP response code.

Each case sets up what it needs, makes one bad request and names the code OVO answers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from sandbox_harness import BROKE, CLOSED, PIN, RICH, UNREGISTERED, Bound, Harness

from ovo_nb import signing
from ovo_nb.keys import generate_private_key
from ovo_nb.snap import format_timestamp

Case = Callable[[Harness], httpx.Response]
BALANCE = {"partnerReferenceNo": "BAL-1"}


def bound(h: Harness, phone: str = RICH) -> Bound:
    return h.bind(phone)


def resign_symmetric(h: Harness, request: httpx.Request, token: str, path: str | None = None,
                     encode: Callable[[bytes], str] | None = None) -> httpx.Request:
    """Replace X-SIGNATURE with one made over a (possibly wrong) path or token."""
    path = path or request.url.raw_path.decode()  # deliberately unchecked: these are the mistakes
    text = f"{request.method}:{path}:{token}:{signing.body_hash(request.content)}:{request.headers['X-TIMESTAMP']}"
    digest = signing.sign_hmac_sha512(h.partner.client_secret, text)
    if encode:
        digest = encode(base64.b64decode(digest))
    request.headers["X-SIGNATURE"] = digest
    return request


def balance_request(h: Harness, access: str, **headers: str) -> httpx.Request:
    return h.builder.build("balance_inquiry", BALANCE, token=access, headers=headers)


def drop_header(request: httpx.Request, name: str) -> httpx.Request:
    del request.headers[name]
    return request


# ----------------------------------------------------------------------------- the pipeline

def malformed_json(h: Harness) -> httpx.Response:
    request = balance_request(h, bound(h).access)
    return h.send(httpx.Request("POST", request.url, headers=request.headers, content=b"{not json"))


def json_array(h: Harness) -> httpx.Response:
    request = balance_request(h, bound(h).access)
    return h.send(httpx.Request("POST", request.url, headers=request.headers, content=b"[1,2]"))


def empty_body(h: Harness) -> httpx.Response:
    request = balance_request(h, bound(h).access)
    return h.send(httpx.Request("POST", request.url, headers=request.headers, content=b""))


def missing_timestamp(h: Harness) -> httpx.Response:
    return h.send(drop_header(balance_request(h, bound(h).access), "X-TIMESTAMP"))


def bad_timestamp_format(h: Harness) -> httpx.Response:
    return h.send(balance_request(h, bound(h).access, **{"X-TIMESTAMP": "2026-11-26 10:00:00"}))


def missing_signature(h: Harness) -> httpx.Response:
    return h.send(drop_header(balance_request(h, bound(h).access), "X-SIGNATURE"))


def missing_partner_id(h: Harness) -> httpx.Response:
    return h.send(drop_header(balance_request(h, bound(h).access), "X-PARTNER-ID"))


def unknown_client(h: Harness) -> httpx.Response:
    return h.send(balance_request(h, bound(h).access, **{"X-PARTNER-ID": "oamerchantnobody"}))


def stale_timestamp(h: Harness) -> httpx.Response:
    access = bound(h).access
    old = h.builder.clock.now() - timedelta(minutes=10)
    request = balance_request(h, access, **{"X-TIMESTAMP": format_timestamp(old)})
    return h.send(resign_symmetric(h, request, access))


def wrong_secret(h: Harness) -> httpx.Response:
    other = h.make_builder()
    other.client_secret = "not-the-secret"
    return h.call("balance_inquiry", BALANCE, token=bound(h).access, builder=other)


def bearer_in_string_to_sign(h: Harness) -> httpx.Response:
    access = bound(h).access
    request = balance_request(h, access)
    text = f"POST:{request.url.raw_path.decode()}:Bearer {access}:{signing.body_hash(request.content)}:" \
           f"{request.headers['X-TIMESTAMP']}"
    request.headers["X-SIGNATURE"] = signing.sign_hmac_sha512(h.partner.client_secret, text)
    return h.send(request)


def host_in_signed_path(h: Harness) -> httpx.Response:
    access = bound(h).access
    request = balance_request(h, access)
    return h.send(resign_symmetric(h, request, access, path="https://ovo-sandbox.local" + request.url.path))


def other_version_signed(h: Harness) -> httpx.Response:
    access = bound(h).access
    return h.send(resign_symmetric(h, balance_request(h, access), access, path="/OVOSNAP/v1.0/balance-inquiry"))


def urlsafe_base64(h: Harness) -> httpx.Response:
    access = bound(h).access
    request = balance_request(h, access)
    while True:  # make sure the signature has a character the two alphabets write differently
        resign_symmetric(h, request, access, encode=lambda raw: base64.urlsafe_b64encode(raw).decode())
        if set(request.headers["X-SIGNATURE"]) & {"-", "_"}:
            return h.send(request)
        request = balance_request(h, access)


def missing_external_id(h: Harness) -> httpx.Response:
    return h.send(drop_header(balance_request(h, bound(h).access), "X-EXTERNAL-ID"))


def non_numeric_external_id(h: Harness) -> httpx.Response:
    return h.send(balance_request(h, bound(h).access, **{"X-EXTERNAL-ID": "abc-123"}))


def repeated_external_id(h: Harness) -> httpx.Response:
    access = bound(h).access
    assert h.send(balance_request(h, access, **{"X-EXTERNAL-ID": "1666593760774"})).status_code == 200
    return h.send(balance_request(h, access, **{"X-EXTERNAL-ID": "1666593760774"}))


def missing_authorization(h: Harness) -> httpx.Response:
    return h.call("balance_inquiry", BALANCE)


def unknown_token(h: Harness) -> httpx.Response:
    return h.call("balance_inquiry", BALANCE, token="eyJ.unknown.token")


def expired_access_token(h: Harness) -> httpx.Response:
    access = bound(h).access
    h.sandbox.advance_clock(timedelta(days=15, seconds=1).total_seconds())
    return h.call("balance_inquiry", BALANCE, token=access)


def b2b_token_as_customer_token(h: Harness) -> httpx.Response:
    return h.call("balance_inquiry", BALANCE, token=h.b2b())


def revoked_after_unbinding(h: Harness) -> httpx.Response:
    customer = bound(h)
    assert h.unbind(customer).status_code == 200
    return h.call("balance_inquiry", BALANCE, token=customer.access)


def missing_device_id(h: Harness) -> httpx.Response:
    return h.send(drop_header(balance_request(h, bound(h).access), "X-DEVICE-ID"))


def missing_channel_id(h: Harness) -> httpx.Response:
    return h.send(drop_header(balance_request(h, bound(h).access), "CHANNEL-ID"))


def oversized_device_id(h: Harness) -> httpx.Response:
    return h.send(balance_request(h, bound(h).access, **{"X-DEVICE-ID": "d" * 401}))


def bad_balance_types(h: Harness) -> httpx.Response:
    return h.call("balance_inquiry", {"balanceTypes": ["GOLD"]}, token=bound(h).access)


def production_ip_not_whitelisted(h: Harness) -> httpx.Response:
    customer = bound(h)
    with h.sandbox.store.transaction():
        h.sandbox.store.run("UPDATE partners SET production = 1, ip_whitelist = ?", json.dumps(["203.0.113.10"]))
    return h.call("balance_inquiry", BALANCE, token=customer.access)


# ----------------------------------------------------------------------------- tokens

def b2b_wrong_grant(h: Harness) -> httpx.Response:
    return h.call("b2b_token", {"grantType": "password"})


def b2b_missing_grant(h: Harness) -> httpx.Response:
    return h.call("b2b_token", {})


def b2b_signed_with_another_key(h: Harness) -> httpx.Response:
    other = h.make_builder()
    other.private_key = generate_private_key()
    return h.call("b2b_token", {"grantType": "client_credentials"}, builder=other)


def b2b_signed_with_hmac(h: Harness) -> httpx.Response:
    request = h.builder.build("b2b_token", {"grantType": "client_credentials"})
    text = signing.token_string_to_sign(h.partner.client_id, request.headers["X-TIMESTAMP"])
    request.headers["X-SIGNATURE"] = signing.sign_hmac_sha512(h.partner.client_secret, text)
    return h.send(request)


def b2b2c_wrong_auth_code(h: Harness) -> httpx.Response:
    answer = h.start_binding()
    return h.call("b2b2c_token", {"grantType": "AUTHORIZATION_CODE", "authCode": "not-the-code"},
                  token=answer["linkageToken"])


def b2b2c_expired_linkage(h: Harness) -> httpx.Response:
    answer = h.start_binding()
    outcome = h.sandbox.webview_submit(h.webview_url(answer, answer["linkageToken"]), RICH[-4:], PIN)
    assert outcome.response
    h.sandbox.advance_clock(6 * 60)
    return h.call("b2b2c_token", {"grantType": "AUTHORIZATION_CODE", "authCode": outcome.response["authCode"]},
                  token=answer["linkageToken"])


def b2b2c_missing_linkage(h: Harness) -> httpx.Response:
    return h.call("b2b2c_token", {"grantType": "AUTHORIZATION_CODE", "authCode": "x"})


def refresh_after_unbinding(h: Harness) -> httpx.Response:
    customer = bound(h)
    assert h.unbind(customer).status_code == 200
    return h.call("b2b2c_token", {"grantType": "REFRESH_TOKEN", "refreshToken": customer.refresh})


def refresh_after_account_closed(h: Harness) -> httpx.Response:
    customer = bound(h)
    h.sandbox.update_customer(RICH, status="CLOSED")
    return h.call("b2b2c_token", {"grantType": "REFRESH_TOKEN", "refreshToken": customer.refresh})


def access_after_phone_change(h: Harness) -> httpx.Response:
    customer = bound(h)
    h.sandbox.update_customer(RICH, new_phone="081299998888")
    return h.call("balance_inquiry", BALANCE, token=customer.access)


# ----------------------------------------------------------------------------- binding

def binding_body(h: Harness, phone: str = RICH) -> dict[str, str]:
    return {"partnerReferenceNo": "BIND-1", "phoneNo": phone, "merchantId": h.partner.merchant_id}


def binding_without_lookup(h: Harness) -> httpx.Response:
    return h.call("account_binding", binding_body(h))


def binding_foreign_phone(h: Harness) -> httpx.Response:
    return h.call("account_binding", binding_body(h, "+6591234567"))


def binding_unregistered(h: Harness) -> httpx.Response:
    h.call("lookup", query={"phone": UNREGISTERED})
    return h.call("account_binding", binding_body(h, UNREGISTERED))


def binding_closed(h: Harness) -> httpx.Response:
    h.call("lookup", query={"phone": CLOSED})
    return h.call("account_binding", binding_body(h, CLOSED))


def binding_twice(h: Harness) -> httpx.Response:
    bound(h)
    h.call("lookup", query={"phone": RICH})
    return h.call("account_binding", binding_body(h))


def binding_after_five_wrong_otps(h: Harness) -> httpx.Response:
    answer = h.start_binding()
    url = h.webview_url(answer, answer["linkageToken"])
    outcomes = [h.sandbox.webview_submit(url, "0000") for _ in range(5)]
    assert [o.attempts_left for o in outcomes] == [4, 3, 2, 1, 0] and "30" not in outcomes[0].message
    return h.call("account_binding", binding_body(h))


def binding_sixth_otp_generation(h: Harness) -> httpx.Response:
    h.call("lookup", query={"phone": RICH})
    for _ in range(5):
        assert h.call("account_binding", binding_body(h)).status_code == 200
    return h.call("account_binding", binding_body(h))


def binding_signed_with_faq_typo(h: Harness) -> httpx.Response:
    h.call("lookup", query={"phone": RICH})
    request = h.builder.build("account_binding", binding_body(h))
    ts, path = request.headers["X-TIMESTAMP"], request.url.raw_path.decode()
    typo = f"POST:{path}{signing.body_hash(request.content)}:{ts}"
    request.headers["X-SIGNATURE"] = signing.sign_rsa_sha256(h.partner.private_key, typo)
    return h.send(request)


def binding_wrong_merchant(h: Harness) -> httpx.Response:
    h.call("lookup", query={"phone": RICH})
    return h.call("account_binding", {**binding_body(h), "merchantId": "SOMEONE-ELSE"})


def unbinding_bad_signature(h: Harness) -> httpx.Response:
    request = h.builder.build("account_unbinding", {"partnerReferenceNo": "U-1", "authCode": None},
                              token=bound(h).access)
    request.headers["X-SIGNATURE"] = "de6716ba730866e05d9921149f62adb8"
    return h.send(request)


def unbinding_wrong_auth_code(h: Harness) -> httpx.Response:
    customer = bound(h)
    first = h.call("account_unbinding", {"partnerReferenceNo": "U-1", "authCode": None}, token=customer.access)
    return h.call("account_unbinding", {"partnerReferenceNo": "U-1", "authCode": "guessed"},
                  token=first.json()["linkageToken"])


# ----------------------------------------------------------------------------- payments

def pay_first(h: Harness, customer: Bound, reference: str, amount: str = "15000.00", **extra: object) -> httpx.Response:
    return h.call("debit_payment", h.payment_body(reference, amount, **extra), token=customer.access)


def insufficient_funds(h: Harness) -> httpx.Response:
    return pay_first(h, bound(h, BROKE), "INV-BROKE", "1000.01")


def over_transaction_limit(h: Harness) -> httpx.Response:
    return pay_first(h, bound(h), "INV-BIG", "10000000.01")


def amount_without_decimals(h: Harness) -> httpx.Response:
    body = h.payment_body("INV-1")
    body["amount"] = {"value": "15000", "currency": "IDR"}
    return h.call("debit_payment", body, token=bound(h).access)


def amount_in_usd(h: Harness) -> httpx.Response:
    body = h.payment_body("INV-1")
    body["amount"] = {"value": "15.00", "currency": "USD"}
    return h.call("debit_payment", body, token=bound(h).access)


def missing_reference(h: Harness) -> httpx.Response:
    body = h.payment_body("INV-1")
    del body["partnerReferenceNo"]
    return h.call("debit_payment", body, token=bound(h).access)


def same_reference_other_body(h: Harness) -> httpx.Response:
    customer = bound(h)
    assert pay_first(h, customer, "INV-1").status_code == 202
    return pay_first(h, customer, "INV-1", "15001.00")


def single_use_token_of_another_payment(h: Harness) -> httpx.Response:
    customer = bound(h)
    first = pay_first(h, customer, "INV-1")
    token = h.single_use_token(first.json(), customer.access)
    pay_first(h, customer, "INV-2")
    return h.call("debit_payment", h.payment_body("INV-2"), token=token)


def single_use_token_for_a_new_reference(h: Harness) -> httpx.Response:
    customer = bound(h)
    token = h.single_use_token(pay_first(h, customer, "INV-1").json(), customer.access)
    return h.call("debit_payment", h.payment_body("INV-NEW"), token=token)


def payment_completed_after_expiry(h: Harness) -> httpx.Response:
    customer = bound(h)
    first = pay_first(h, customer, "INV-1").json()
    assert h.http.get(h.webview_url(first, customer.access)).status_code == 200  # the customer opens the page
    h.sandbox.advance_clock(14 * 60)
    token = h.single_use_token(first, customer.access)
    h.sandbox.advance_clock(2 * 60)  # 16 minutes after opening
    return h.call("debit_payment", h.payment_body("INV-1"), token=token)


def recurring_not_approved(h: Harness) -> httpx.Response:
    customer = bound(h)
    with h.sandbox.store.transaction():
        h.sandbox.store.run("UPDATE partners SET recurring_allowed = 0")
    return pay_first(h, customer, "INV-AUTO", additionalInfo={"subTransactionType": "AUTO"})


def valid_up_to_in_the_past(h: Harness) -> httpx.Response:
    return pay_first(h, bound(h), "INV-OLD", validUpTo="2020-01-01T00:00:00+07:00")


def generate_token_bad_code(h: Harness) -> httpx.Response:
    return h.call("generate_token", query={"grantType": "authorization_code", "code": "not-a-code"})


def binding_code_as_payment_code(h: Harness) -> httpx.Response:
    answer = h.start_binding()
    outcome = h.sandbox.webview_submit(h.webview_url(answer, answer["linkageToken"]), RICH[-4:], PIN)
    assert outcome.response
    return h.call("generate_token", query={"grantType": "authorization_code", "code": outcome.response["authCode"]})


def status_not_found(h: Harness) -> httpx.Response:
    return h.status(bound(h), "INV-NEVER")


def status_of_another_customers_payment(h: Harness) -> httpx.Response:
    rich = bound(h)
    assert h.pay(rich, "INV-1").status_code == 200
    other = bound(h, BROKE)
    return h.status(other, "INV-1")


def status_bad_service_code(h: Harness) -> httpx.Response:
    return h.call("debit_status", {"originalPartnerReferenceNo": "INV-1", "serviceCode": "99"},
                  token=bound(h).access)


def refund_with_customer_token(h: Harness) -> httpx.Response:
    customer = bound(h)
    h.pay(customer, "INV-1")
    return h.refund("INV-1", "RF-1", "1000.00", b2b=customer.access)


def refund_more_than_paid(h: Harness) -> httpx.Response:
    h.pay(bound(h), "INV-1")
    return h.refund("INV-1", "RF-1", "15000.01")


def refund_after_window(h: Harness) -> httpx.Response:
    h.pay(bound(h), "INV-1")
    h.sandbox.advance_clock(timedelta(days=61).total_seconds())
    return h.refund("INV-1", "RF-1", "1000.00")


def refund_over_daily_limit(h: Harness) -> httpx.Response:
    customer = bound(h)
    with h.sandbox.store.transaction():
        h.sandbox.store.run("UPDATE partners SET daily_refund_limit = '20000.00'")
    for reference in ("INV-1", "INV-2"):
        h.pay(customer, reference)
    assert h.refund("INV-1", "RF-1", "15000.00").status_code == 200
    return h.refund("INV-2", "RF-2", "5000.01")


def refund_number_reused_with_other_body(h: Harness) -> httpx.Response:
    h.pay(bound(h), "INV-1")
    assert h.refund("INV-1", "RF-1", "1000.00").status_code == 200
    return h.refund("INV-1", "RF-1", "2000.00")


def refund_of_unpaid_payment(h: Harness) -> httpx.Response:
    pay_first(h, bound(h), "INV-1")
    return h.refund("INV-1", "RF-1", "1000.00")


def refund_of_unknown_payment(h: Harness) -> httpx.Response:
    return h.refund("INV-NEVER", "RF-1", "1000.00")


def unknown_route(h: Harness) -> httpx.Response:
    return h.http.post("http://ovo-sandbox.local/OVOSNAP/v3.0/balance-inquiry", content=b"{}")


def wrong_method(h: Harness) -> httpx.Response:
    return h.http.get("http://ovo-sandbox.local/OVOSNAP/v2.0/balance-inquiry")


def lookup_foreign_phone(h: Harness) -> httpx.Response:
    return h.call("lookup", query={"phone": "+14155550100"})


CASES = [
    pytest.param(malformed_json, "4001100", None, marks=pytest.mark.rule("GW-BODY-JSON")),
    pytest.param(json_array, "4001100", None, marks=pytest.mark.rule("GW-BODY-JSON")),
    pytest.param(empty_body, "4001100", None, marks=pytest.mark.rule("GW-BODY-JSON")),
    pytest.param(missing_timestamp, "4001102", None, marks=pytest.mark.rule("GW-HEADERS")),
    pytest.param(bad_timestamp_format, "4001101", None, marks=pytest.mark.rule("GW-TIMESTAMP-FORMAT")),
    pytest.param(missing_signature, "4001102", None, marks=pytest.mark.rule("GW-HEADERS")),
    pytest.param(missing_partner_id, "4001102", None, marks=pytest.mark.rule("GW-HEADERS")),
    pytest.param(unknown_client, "4011100", None, marks=pytest.mark.rule("GW-CLIENT")),
    pytest.param(stale_timestamp, "4011100", None, marks=pytest.mark.rule("GW-TIMESTAMP-WINDOW")),
    pytest.param(wrong_secret, "4011100", "unknown", marks=pytest.mark.rule("SIG-SYMMETRIC")),
    pytest.param(bearer_in_string_to_sign, "4011100", "token", marks=pytest.mark.rule("SIG-EXPLAINED")),
    pytest.param(host_in_signed_path, "4011100", "path", marks=pytest.mark.rule("SIG-EXPLAINED")),
    pytest.param(other_version_signed, "4011100", "path", marks=pytest.mark.rule("SIG-EXPLAINED")),
    pytest.param(urlsafe_base64, "4011100", "encoding", marks=pytest.mark.rule("SIG-ENCODING")),
    pytest.param(missing_external_id, "4001102", None, marks=pytest.mark.rule("EXT-FORMAT")),
    pytest.param(non_numeric_external_id, "4001101", None, marks=pytest.mark.rule("EXT-FORMAT")),
    pytest.param(repeated_external_id, "4091100", None, marks=pytest.mark.rule("EXT-DAY")),
    pytest.param(missing_authorization, "4011104", None, marks=pytest.mark.rule("TOK-CODES")),
    pytest.param(unknown_token, "4011102", None, marks=pytest.mark.rule("TOK-CODES")),
    pytest.param(expired_access_token, "4011102", None, marks=pytest.mark.rule("TOK-LIFETIMES")),
    pytest.param(b2b_token_as_customer_token, "4011102", None, marks=pytest.mark.rule("TOK-KIND")),
    pytest.param(revoked_after_unbinding, "4011102", None, marks=pytest.mark.rule("LINK-UNBIND-REVOKES")),
    pytest.param(missing_device_id, "4001102", None, marks=pytest.mark.rule("GW-DEVICE-ID")),
    pytest.param(missing_channel_id, "4001102", None, marks=pytest.mark.rule("GW-CHANNEL-ID")),
    pytest.param(oversized_device_id, "4001101", None, marks=pytest.mark.rule("GW-DEVICE-ID")),
    pytest.param(bad_balance_types, "4001101", None, marks=pytest.mark.rule("GW-ORDER")),
    pytest.param(production_ip_not_whitelisted, "4011100", None, marks=pytest.mark.rule("GW-IP-WHITELIST")),
    pytest.param(b2b_wrong_grant, "4007301", None, marks=pytest.mark.rule("TOK-KIND")),
    pytest.param(b2b_missing_grant, "4007302", None, marks=pytest.mark.rule("GW-ORDER")),
    pytest.param(b2b_signed_with_another_key, "4017300", "unknown", marks=pytest.mark.rule("SIG-TOKEN")),
    pytest.param(b2b_signed_with_hmac, "4017300", "algorithm", marks=pytest.mark.rule("SIG-TOKEN")),
    pytest.param(b2b2c_wrong_auth_code, "4017400", None, marks=pytest.mark.rule("TOK-AUTH-CODE")),
    pytest.param(b2b2c_expired_linkage, "4017402", None, marks=pytest.mark.rule("TOK-LIFETIMES")),
    pytest.param(b2b2c_missing_linkage, "4017404", None, marks=pytest.mark.rule("TOK-CODES")),
    pytest.param(refresh_after_unbinding, "4017402", None, marks=pytest.mark.rule("LINK-UNBIND-REVOKES")),
    pytest.param(refresh_after_account_closed, "4017402", None, marks=pytest.mark.rule("LINK-CLOSED")),
    pytest.param(access_after_phone_change, "4011102", None, marks=pytest.mark.rule("LINK-PHONE-CHANGE")),
    pytest.param(binding_without_lookup, "4030701", None, marks=pytest.mark.rule("LINK-LOOKUP")),
    pytest.param(binding_foreign_phone, "4000701", None, marks=pytest.mark.rule("LINK-INDONESIAN")),
    pytest.param(binding_unregistered, "4040711", None, marks=pytest.mark.rule("LINK-CAN-REGISTER")),
    pytest.param(binding_closed, "4030718", None, marks=pytest.mark.rule("LINK-CLOSED")),
    pytest.param(binding_twice, "4030701", None, marks=pytest.mark.rule("LINK-ONE")),
    pytest.param(binding_after_five_wrong_otps, "4030711", None, marks=pytest.mark.rule("OTP-FAILURES")),
    pytest.param(binding_sixth_otp_generation, "4030711", None, marks=pytest.mark.rule("OTP-GENERATIONS")),
    pytest.param(binding_signed_with_faq_typo, "4010700", "body", marks=pytest.mark.rule("SIG-BINDING")),
    pytest.param(binding_wrong_merchant, "4040708", None, marks=pytest.mark.rule("GW-ORDER")),
    pytest.param(unbinding_bad_signature, "4010700", None, marks=pytest.mark.rule("GW-UNBIND-07")),
    pytest.param(unbinding_wrong_auth_code, "4010700", None, marks=pytest.mark.rule("LINK-UNBIND-TWO-CALLS")),
    pytest.param(insufficient_funds, "4035414", None, marks=pytest.mark.rule("DD-FUNDS")),
    pytest.param(over_transaction_limit, "4035402", None, marks=pytest.mark.rule("DD-LIMIT")),
    pytest.param(amount_without_decimals, "4005401", None, marks=pytest.mark.rule("DD-MONEY")),
    pytest.param(amount_in_usd, "4005401", None, marks=pytest.mark.rule("DD-MONEY")),
    pytest.param(missing_reference, "4005402", None, marks=pytest.mark.rule("GW-ORDER")),
    pytest.param(same_reference_other_body, "4095401", None, marks=pytest.mark.rule("DD-IDEMPOTENT")),
    pytest.param(single_use_token_of_another_payment, "4015402", None, marks=pytest.mark.rule("TOK-SINGLE-USE")),
    pytest.param(single_use_token_for_a_new_reference, "4015402", None, marks=pytest.mark.rule("TOK-SINGLE-USE")),
    pytest.param(payment_completed_after_expiry, "4035400", None, marks=pytest.mark.rule("DD-TIMEOUT")),
    pytest.param(recurring_not_approved, "4035401", None, marks=pytest.mark.rule("DD-RECURRING")),
    pytest.param(valid_up_to_in_the_past, "4035400", None, marks=pytest.mark.rule("DD-TIMEOUT")),
    pytest.param(generate_token_bad_code, "4010000", None, marks=pytest.mark.rule("TOK-AUTH-CODE")),
    pytest.param(binding_code_as_payment_code, "4010000", None, marks=pytest.mark.rule("TOK-AUTH-CODE")),
    pytest.param(status_not_found, "4045501", None, marks=pytest.mark.rule("GW-CODE-SHAPE")),
    pytest.param(status_of_another_customers_payment, "4045501", None, marks=pytest.mark.rule("TOK-KIND")),
    pytest.param(status_bad_service_code, "4005501", None, marks=pytest.mark.rule("GW-ORDER")),
    pytest.param(refund_with_customer_token, "4015801", None, marks=pytest.mark.rule("RF-B2B")),
    pytest.param(refund_more_than_paid, "4045813", None, marks=pytest.mark.rule("RF-AMOUNT")),
    pytest.param(refund_after_window, "4035800", None, marks=pytest.mark.rule("RF-WINDOW")),
    pytest.param(refund_over_daily_limit, "4035802", None, marks=pytest.mark.rule("RF-DAILY-LIMIT")),
    pytest.param(refund_number_reused_with_other_body, "4095801", None, marks=pytest.mark.rule("RF-IDEMPOTENT")),
    pytest.param(refund_of_unpaid_payment, "4045800", None, marks=pytest.mark.rule("RF-AMOUNT")),
    pytest.param(refund_of_unknown_payment, "4045801", None, marks=pytest.mark.rule("RF-AMOUNT")),
    pytest.param(unknown_route, "4040002", None, marks=pytest.mark.rule("GW-PATHS")),
    pytest.param(wrong_method, "4050000", None, marks=pytest.mark.rule("GW-PATHS")),
    pytest.param(lookup_foreign_phone, "4000001", None, marks=pytest.mark.rule("LINK-INDONESIAN")),
]


@pytest.mark.parametrize(("case", "code", "mismatch"), CASES, ids=[p.values[0].__name__ for p in CASES])
def test_refused_with_the_exact_code(h: Harness, case: Case, code: str, mismatch: str | None) -> None:
    response = case(h)
    body = response.json()
    assert body["responseCode"] == code, body
    assert response.status_code == int(code[:3])
    assert body["responseMessage"]
    if mismatch:
        assert body["_sandbox"]["mismatch"] == mismatch, body["_sandbox"]
        assert "stringToSign" in body["_sandbox"]
        assert h.partner.client_secret not in response.text


def test_there_are_at_least_forty_negative_cases() -> None:
    assert len(CASES) >= 40
