"""Direct debit: payment (54) in two calls, Generate Token (non-SNAP), status (55), refund (58)."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from ...errors import ValidationError
from ...snap import (
    SINGLE_USE_TOKEN_LIFETIME,
    TRANSACTION_LIMIT,
    WEBVIEW_LIFETIME,
    format_amount,
    mask_phone,
    money,
    parse_timestamp,
)
from .._state import PENDING, Row, State, now_text
from .._types import SnapError, TokenInfo
from ..gateway import Answer, Call, b2b_token, customer_token, device_headers, merchant, money_field, text_field
from .account import WEBVIEW_PATH


def canonical_hash(body: dict[str, Any]) -> str:
    """Same request = same JSON content, whatever its spacing or key order."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ----------------------------------------------------------------------------- payment


def debit_payment(st: State, call: Call) -> Answer:
    """1st call (access token): 202 and the PIN webview; 2nd call (singleUseToken): the debit."""
    client_id, body = call.client_id, call.body
    info = customer_token(st, call, ("access", "single_use"))
    device_headers(call, transactional=True)
    reference = str(text_field(body, "partnerReferenceNo"))
    merchant(call, required=False)
    amount = money_field(body, "amount")
    pay_method = _pay_method(body)
    recurring = _sub_transaction_type(body) == "AUTO"
    request_hash = canonical_hash(body)
    now = st.now()
    existing = st.store.one("SELECT * FROM payments WHERE client_id = ? AND partner_reference_no = ?",
                            client_id, reference)
    if existing is not None:
        return _debit_again(st, existing, info, request_hash, now)
    if info.kind == "single_use":
        raise SnapError(401, "02", extra={"_sandbox": {"hint": "This singleUseToken belongs to no payment with "
                                                               "this partnerReferenceNo."}})
    valid_up_to = body.get("validUpTo")
    if valid_up_to:
        try:
            if parse_timestamp(str(valid_up_to)) <= now:
                raise SnapError(403, "00", extra={"_sandbox": {"hint": "validUpTo is in the past."}})
        except ValidationError:
            raise SnapError(400, "01", field="validUpTo") from None
    if recurring and not call.client["recurring_allowed"]:
        raise SnapError(403, "01", reason="Recurring Not Approved",
                        extra={"_sandbox": {"hint": "subTransactionType AUTO needs OVO's approval."}})
    customer = st.customer(info.phone)
    if customer["status"] != "ACTIVE":
        raise SnapError(403, "18")
    return open_payment(st, call.client, info, body, amount, pay_method, recurring=recurring,
                        base_url=call.request.base_url, pin_less=recurring or call.dialect == "aspi")


def open_payment(st: State, partner: Row, info: TokenInfo, body: dict[str, Any], amount: Decimal, pay_method: str,
                 *, recurring: bool, base_url: str, pin_less: bool) -> Answer:
    """Record a new payment; debit at once when PIN-less, else answer 202 with the PIN webview."""
    client_id, now = partner["client_id"], st.now()
    reference = body["partnerReferenceNo"]
    reference_no = f"{now:%Y%m%d}{secrets.randbelow(10**12):012d}"
    payment_id = st.store.run(
        "INSERT INTO payments (client_id, partner_reference_no, reference_no, phone, binding_id, merchant_id,"
        " amount, pay_method, recurring, request_hash, status, status_desc, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '01', 'Initiated', ?, ?)",
        client_id, reference, reference_no, info.phone, info.binding_id, partner["merchant_id"],
        format_amount(amount), pay_method, int(recurring), canonical_hash(body), now_text(now),
        now_text(now + WEBVIEW_LIFETIME),
    )
    st.store.record(now_text(now), "payment", reference, "initiated", amount=format_amount(amount))
    payment = st.store.one("SELECT * FROM payments WHERE id = ?", payment_id)
    assert payment is not None
    failure = _debit_refusal(payment, st.customer_row(str(info.phone)), amount)
    if failure is not None:
        return _fail_payment(st, payment, failure, now)
    if pin_less:  # recurring (AUTO) and the devsite complete in one call
        return _complete_payment(st, payment, now)
    assert info.phone is not None
    ref_id = st.open_session("payment", client_id, info.phone, info.token, binding_id=info.binding_id,
                             payment_id=payment_id)
    result = {
        "responseCode": "2025400", "responseMessage": "Transaction still on process",
        "referenceNo": reference_no, "partnerReferenceNo": reference,
        "redirectUrl": base_url + WEBVIEW_PATH,
        "additionalInfo": {"qParams": {"action": "pinPayment", "authType": "PIN", "client-id": client_id,
                                       "phoneNumber": mask_phone(info.phone), "refId": ref_id}},
    }
    st.store.run("UPDATE payments SET result_json = ? WHERE id = ?", json.dumps(result), payment_id)
    return 202, result


def _pay_method(body: dict[str, Any]) -> str:
    options = body.get("payOptionDetails")
    if options is None:
        return "CASH"
    if (not isinstance(options, list) or len(options) != 1 or not isinstance(options[0], dict)
            or options[0].get("payMethod") not in ("CASH", "POINTS")):
        raise SnapError(400, "01", field="payOptionDetails",
                        extra={"_sandbox": {"hint": "One entry with payMethod CASH or POINTS."}})
    return str(options[0]["payMethod"])


def _sub_transaction_type(body: dict[str, Any]) -> str:
    info = body.get("additionalInfo")
    nested = info.get("subTransactionType") if isinstance(info, dict) else None
    return str(body.get("subTransactionType") or nested or "MANUAL").upper()


def _debit_refusal(payment: Row, customer: Row, amount: Decimal) -> SnapError | None:
    if amount > TRANSACTION_LIMIT:
        return SnapError(403, "02")
    column = "points" if payment["pay_method"] == "POINTS" else "cash"
    if Decimal(customer[column]) < amount:
        return SnapError(403, "14")
    return None


def _fail_payment(st: State, payment: Row, error: SnapError, now: datetime) -> Answer:
    result = error.body("54")
    st.store.run("UPDATE payments SET status = '06', status_desc = ?, result_json = ? WHERE id = ?",
                 result["responseMessage"], json.dumps(result), payment["id"])
    st.store.record(now_text(now), "payment", payment["partner_reference_no"], "failed",
                    reason=result["responseMessage"])
    return error.http_status, result


def _complete_payment(st: State, payment: Row, now: datetime) -> Answer:
    customer = st.customer_row(payment["phone"])
    amount = Decimal(payment["amount"])
    refusal = _debit_refusal(payment, customer, amount)
    if refusal is not None:
        return _fail_payment(st, payment, refusal, now)
    balance = st.move(customer, payment["pay_method"], -amount, "DEBIT", payment["client_id"], now,
                      payment_id=payment["id"])
    approval = f"{secrets.randbelow(10**6):06d}"
    result = {"responseCode": "2005400", "responseMessage": "Successful", "referenceNo": payment["reference_no"],
              "partnerReferenceNo": payment["partner_reference_no"], "approvalCode": approval,
              "additionalInfo": {"paidTime": now_text(now), "balanceType": payment["pay_method"],
                                 "balanceAfter": money(balance)}}
    st.store.run("UPDATE payments SET status = '00', status_desc = 'Success', paid_at = ?, approval_code = ?,"
                 " result_json = ? WHERE id = ?", now_text(now), approval, json.dumps(result), payment["id"])
    st.store.record(now_text(now), "payment", payment["partner_reference_no"], "paid", amount=payment["amount"])
    return 200, result


def _debit_again(st: State, payment: Row, info: TokenInfo, request_hash: str, now: datetime) -> Answer:
    """A second call with a known partnerReferenceNo: complete, replay, or refuse."""
    if payment["request_hash"] != request_hash:
        raise SnapError(409, "01", extra={"_sandbox": {
            "hint": "Same partnerReferenceNo with a different body: send the identical body, or a new number."}})
    if payment["phone"] != info.phone:
        raise SnapError(401, "02", extra={"_sandbox": {"hint": "This token belongs to another customer."}})
    status = st.current_status(payment, now)
    if status in PENDING and info.kind == "single_use":
        if info.payment_id != payment["id"]:
            raise SnapError(401, "02", extra={"_sandbox": {"hint": "This singleUseToken is for another payment."}})
        if info.used_at:
            raise SnapError(401, "02", extra={"_sandbox": {"hint": "This singleUseToken was already used."}})
        st.store.run("UPDATE tokens SET used_at = ? WHERE token = ?", now_text(now), info.token)
        return _complete_payment(st, payment, now)
    if status == "05":
        raise SnapError(403, "00", extra={"_sandbox": {"hint": "The payment expired before it was completed."}})
    stored = json.loads(payment["result_json"])
    return int(stored["responseCode"][:3]), {**stored, "_sandbox": {"idempotentReplay": True}}


def generate_token(st: State, call: Call) -> Answer:
    """The payment webview's authCode for a singleUseToken (``?grantType=authorization_code&code=``)."""
    query = parse_qs(call.request.query)
    if query.get("grantType", [""])[0].lower() != "authorization_code":
        raise SnapError(400, "01", field="grantType")
    code = query.get("code", [""])[0]
    if not code:
        raise SnapError(400, "02", field="code")
    now = st.now()
    row = st.store.one("SELECT * FROM auth_codes WHERE code = ? AND kind = 'payment' AND client_id = ?",
                       code, call.client_id)
    if row is None or row["used_at"] or now >= datetime.fromisoformat(row["expires_at"]):
        raise SnapError(401, "00", reason="Invalid Auth Code",
                        extra={"_sandbox": {"hint": "Use the authCode the payment PIN webview returned, once."}})
    st.store.run("UPDATE auth_codes SET used_at = ? WHERE code = ?", now_text(now), code)
    token, _ = st.issue_token("single_use", call.client_id, SINGLE_USE_TOKEN_LIFETIME, phone=row["phone"],
                              binding_id=row["binding_id"], payment_id=row["payment_id"])
    return 200, {"responseCode": "2000000", "responseMessage": "Successful", "singleUseToken": token,
                 "tokenType": "Bearer", "expiresIn": str(int(SINGLE_USE_TOKEN_LIFETIME.total_seconds()))}


# ----------------------------------------------------------------------------- status and refund


def _find_payment(st: State, call: Call) -> Row:
    partner_ref = text_field(call.body, "originalPartnerReferenceNo", required=False)
    reference_no = text_field(call.body, "originalReferenceNo", required=False)
    if not partner_ref and not reference_no:
        raise SnapError(400, "02", field="originalPartnerReferenceNo")
    row = st.store.one(
        "SELECT * FROM payments WHERE client_id = ? AND (partner_reference_no = ? OR reference_no = ?)",
        call.client_id, partner_ref or "", reference_no or "")
    if row is None or (partner_ref and reference_no and (
            row["partner_reference_no"] != partner_ref or row["reference_no"] != reference_no)):
        raise SnapError(404, "01")
    return row


def debit_status(st: State, call: Call) -> Answer:
    info = customer_token(st, call, ("access",))  # the customer's token only (FAQ: B2B is for refunds)
    device_headers(call, transactional=True)
    service_code = text_field(call.body, "serviceCode", max_len=2)
    if service_code not in ("54", "55"):
        raise SnapError(400, "01", field="serviceCode")
    merchant(call, required=False)
    payment = _find_payment(st, call)
    if payment["phone"] != info.phone:
        raise SnapError(404, "01")
    now = st.now()
    status = st.current_status(payment, now)
    current = st.store.one("SELECT * FROM payments WHERE id = ?", payment["id"])
    assert current is not None
    payment = current
    refunds = st.store.all("SELECT * FROM refunds WHERE payment_id = ? ORDER BY id", payment["id"])
    return 200, {
        "responseCode": "2005500", "responseMessage": "Successful",
        "originalPartnerReferenceNo": payment["partner_reference_no"],
        "originalReferenceNo": payment["reference_no"], "serviceCode": "54",
        "latestTransactionStatus": status, "transactionStatusDesc": payment["status_desc"],
        "amount": money(payment["amount"]), "paidTime": payment["paid_at"] or "",
        "approvalCode": payment["approval_code"] or "",
        "refundHistory": [
            {"refundNo": r["refund_no"], "partnerRefundNo": r["partner_refund_no"],
             "refundAmount": money(r["amount"]), "refundStatus": "00", "refundDate": r["created_at"],
             "reason": r["reason"]} for r in refunds
        ],
    }


def debit_refund(st: State, call: Call) -> Answer:
    """A (partial) refund with the B2B token; works after unbinding (FAQ)."""
    client_id, body, partner = call.client_id, call.body, call.client
    b2b_token(st, call)
    device_headers(call, transactional=True)
    refund_ref = str(text_field(body, "partnerRefundNo"))
    text_field(body, "originalPartnerReferenceNo")
    amount = money_field(body, "refundAmount")
    reason = text_field(body, "reason", max_len=256, required=False) or ""
    merchant(call, required=False)
    request_hash = canonical_hash(body)
    existing = st.store.one("SELECT * FROM refunds WHERE client_id = ? AND partner_refund_no = ?",
                            client_id, refund_ref)
    if existing is not None:
        if existing["request_hash"] != request_hash:
            raise SnapError(409, "01", extra={"_sandbox": {"hint": "Same partnerRefundNo, different body."}})
        return 200, {**json.loads(existing["result_json"]), "_sandbox": {"idempotentReplay": True}}
    payment = _find_payment(st, call)
    now = st.now()
    if st.current_status(payment, now) not in ("00", "04"):
        raise SnapError(404, "00", extra={"_sandbox": {"hint": "Only a paid payment can be refunded."}})
    paid = datetime.fromisoformat(payment["paid_at"])
    if now - paid > timedelta(days=partner["refund_window_days"]):
        raise SnapError(403, "00", extra={"_sandbox": {
            "hint": f"The refund window of {partner['refund_window_days']} days has passed."}})
    refunded = sum((Decimal(r["amount"]) for r in st.store.all(
        "SELECT amount FROM refunds WHERE payment_id = ?", payment["id"])), Decimal(0))
    if refunded + amount > Decimal(payment["amount"]):
        raise SnapError(404, "13", extra={"_sandbox": {
            "hint": f"Refundable: {format_amount(Decimal(payment['amount']) - refunded)} IDR."}})
    if partner["daily_refund_limit"]:
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        today = sum((Decimal(r["amount"]) for r in st.store.all(
            "SELECT amount FROM refunds WHERE client_id = ? AND created_at >= ?", client_id,
            now_text(day_start))), Decimal(0))
        if today + amount > Decimal(partner["daily_refund_limit"]):
            raise SnapError(403, "02", extra={"_sandbox": {"hint": "The daily refund limit would be exceeded."}})
    refund_no = f"R{now:%Y%m%d}{secrets.randbelow(10**10):010d}"
    result = {"responseCode": "2005800", "responseMessage": "Successful",
              "originalPartnerReferenceNo": payment["partner_reference_no"],
              "originalReferenceNo": payment["reference_no"], "refundNo": refund_no,
              "partnerRefundNo": refund_ref, "refundAmount": money(amount), "refundTime": now_text(now)}
    refund_id = st.store.run(
        "INSERT INTO refunds (client_id, payment_id, partner_refund_no, refund_no, amount, reason, request_hash,"
        " created_at, result_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        client_id, payment["id"], refund_ref, refund_no, format_amount(amount), reason, request_hash,
        now_text(now), json.dumps(result))
    customer = st.customer_row(payment["phone"])
    st.move(customer, payment["pay_method"], amount, "REFUND", client_id, now, payment_id=payment["id"],
            refund_id=refund_id)
    if refunded + amount == Decimal(payment["amount"]):
        st.set_payment_status(payment, "04")
    st.store.record(now_text(now), "refund", refund_ref, "refunded", amount=format_amount(amount),
                    payment=payment["partner_reference_no"])
    return 200, result
