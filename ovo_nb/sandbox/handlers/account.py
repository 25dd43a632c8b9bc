"""Linkage: lookup (non-SNAP), account binding (07) and account unbinding (09)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from ...errors import ValidationError
from ...snap import (
    LINKAGE_TOKEN_LIFETIME,
    LOOKUP_VALIDITY,
    OTP_BLOCK,
    OTP_MAX_GENERATIONS,
    mask_phone,
    normalize_phone,
)
from .._state import Row, State, now_text, parse_time
from .._types import SnapError
from ..gateway import Answer, Call, b2b_token, customer_token, device_headers, merchant, text_field

WEBVIEW_PATH = "/cellblockui/partner/activation"
"""Where OVO's webview lives (the FAQ's ``redirectUrl``), on the sandbox's own host."""


def lookup(st: State, call: Call) -> Answer:
    """The account state of a phone; mandatory before binding (FAQ)."""
    phones = parse_qs(call.request.query).get("phone", [""])
    try:
        phone = normalize_phone(phones[0])
    except ValidationError as exc:
        raise SnapError(400, "01", field="phone", extra={"_sandbox": {"hint": str(exc)}}) from None
    now = st.now()
    st.store.run("INSERT INTO lookups VALUES (?, ?, ?)", call.client_id, phone, now_text(now))
    customer = st.store.one("SELECT * FROM customers WHERE phone = ?", phone)
    if customer is None or not customer["registered"]:
        status, message = "CAN_REGISTER", "Ask the customer to register in the OVO app first."
    elif customer["status"] == "CLOSED":
        status, message = "CLOSED", "This OVO account is closed."
    elif customer["pin_locked"]:
        status, message = "BLOCKED_MSISDN", "This OVO account is blocked."
    elif st.active_binding(call.client_id, phone):
        status, message = "LINKED", "Already linked to this partner."
    else:
        status, message = "ACTIVE", "Eligible for linkage."
    return 200, {"responseCode": "2000000", "responseMessage": "Successful",
                 "phoneNumber": mask_phone(phone), "accountStatus": status, "message": message}


def account_binding(st: State, call: Call) -> Answer:
    client_id = call.client_id
    if call.dialect == "aspi":
        b2b_token(st, call)
    device_headers(call, transactional=False)
    raw_phone = text_field(call.body, "phoneNo", max_len=16)
    try:
        phone = normalize_phone(str(raw_phone))
    except ValidationError as exc:
        raise SnapError(400, "01", field="phoneNo", extra={"_sandbox": {"hint": str(exc)}}) from None
    merchant(call, required=call.dialect == "aspi")
    text_field(call.body, "partnerReferenceNo", required=False)
    info = call.body.get("additionalInfo") or {}
    partner_customer = str(info.get("partnerCustomerId") or "") if isinstance(info, dict) else ""
    now = st.now()
    customer = st.customer(phone)
    if customer["status"] != "ACTIVE":
        raise SnapError(403, "18")
    if call.dialect == "ovo" and not st.store.one(
        "SELECT 1 FROM lookups WHERE client_id = ? AND phone = ? AND at >= ?",
        client_id, phone, now_text(now - LOOKUP_VALIDITY),
    ):
        raise SnapError(403, "01", reason="Lookup Required", extra={"_sandbox": {
            "hint": "Call the lookup API for this phone before binding (OVO rule)."}})
    if st.active_binding(client_id, phone):
        raise SnapError(403, "01", reason="Account Already Linked", extra={"_sandbox": {"hint": ALREADY_LINKED}})
    if partner_customer and st.store.one(
        "SELECT 1 FROM bindings WHERE client_id = ? AND partner_customer_id = ? AND status = 'ACTIVE'",
        client_id, partner_customer,
    ):
        raise SnapError(403, "01", reason="Partner Account Already Linked",
                        extra={"_sandbox": {"hint": "This partner account is linked to another OVO account."}})
    otp_generation(st, customer, now)
    return 200, open_binding(st, client_id, phone, call.request.base_url, partner_customer=partner_customer)


def open_binding(st: State, client_id: str, phone: str, base_url: str, *, partner_customer: str = "") -> dict[str, Any]:
    """A PENDING binding, its linkageToken and its OTP webview session: OVO's binding answer."""
    now = st.now()
    binding_id = st.store.run(
        "INSERT INTO bindings (client_id, phone, partner_customer_id, status, created_at)"
        " VALUES (?, ?, ?, 'PENDING', ?)", client_id, phone, partner_customer or None, now_text(now))
    st.store.record(now_text(now), "binding", binding_id, "requested", phone=mask_phone(phone))
    linkage, _ = st.issue_token("linkage", client_id, LINKAGE_TOKEN_LIFETIME, phone=phone, binding_id=binding_id)
    ref_id = st.open_session("binding", client_id, phone, linkage, binding_id=binding_id)
    return {
        "responseCode": "2000700", "responseMessage": "Success", "linkageToken": linkage,
        "redirectUrl": base_url + WEBVIEW_PATH,
        "additionalInfo": {"account": {"accountStatus": "ACTIVE"},
                           "qParams": {"action": "otpLinkage", "authType": "2FA", "client-id": client_id,
                                       "phoneNumber": mask_phone(phone), "refId": ref_id}},
    }


def activate_binding(st: State, client_id: str, binding_id: int | None, phone: str) -> str:
    """The binding becomes ACTIVE; returns its refreshToken (no expiry until unbinding).

    One OVO account per partner account (FAQ): an earlier binding of the same phone with this
    partner is superseded, and every token issued under it revoked.
    """
    now = now_text(st.now())
    for other in st.store.all("SELECT id FROM bindings WHERE client_id = ? AND phone = ? AND id != ?"
                              " AND status = 'ACTIVE'", client_id, phone, binding_id):
        st.store.run("UPDATE bindings SET status = 'UNBOUND', unbound_at = ? WHERE id = ?", now, other["id"])
        st.revoke("binding_id = ?", (other["id"],), "superseded by a newer binding")
        st.store.record(now, "binding", str(other["id"]), "superseded", by=binding_id)
    st.store.run("UPDATE bindings SET status = 'ACTIVE', activated_at = ? WHERE id = ?", now, binding_id)
    st.store.record(now, "binding", str(binding_id), "activated")
    refresh, _ = st.issue_token("refresh", client_id, None, phone=phone, binding_id=binding_id)
    return refresh


ALREADY_LINKED = (
    "This phone is already linked to your client id, and OVO allows one binding per phone and partner. Use the "
    "vault that holds that binding, or unbind it there; if those tokens are lost, the customer unlinks you in the "
    "OVO app (sandbox: `ovo-nb trigger unlink-in-app PHONE`), then bind again.")
OTP_BLOCK_HINTS = {
    "generations": "Five OTPs were sent to this phone within 30 minutes (OVO's limit; every binding and unbinding "
                   "sends one): no new OTP before {until:%H:%M} WIB. In the sandbox, a fresh customer "
                   "(ovo.sandbox.new_customer()) or `ovo-nb sandbox reset` starts clean.",
    "wrong": "Five wrong OTPs were typed for this phone: OTPs are blocked until {until:%H:%M} WIB (OVO's limit).",
}
"""Why a customer's OTPs are blocked, in words: the two limits OVO states are told apart."""


def otp_blocked(until: datetime, reason: str | None) -> SnapError:
    """403xx11 OTP Blocked, saying which of OVO's two OTP limits blocked it and until when."""
    hint = OTP_BLOCK_HINTS.get(reason or "wrong", OTP_BLOCK_HINTS["wrong"]).format(until=until)
    return SnapError(403, "11", extra={"_sandbox": {"blockedUntil": until.isoformat(), "hint": hint}})


def otp_generation(st: State, customer: Row, now: datetime) -> None:
    """At most five OTPs per 30 minutes, and none while blocked."""
    blocked = parse_time(customer["otp_blocked_until"])
    if blocked and now < blocked:
        raise otp_blocked(blocked, customer["otp_block_reason"])
    window = parse_time(customer["otp_window_start"])
    generations = customer["otp_generations"] if window and now - window < OTP_BLOCK else 0
    if generations >= OTP_MAX_GENERATIONS:
        until = now + OTP_BLOCK
        st.store.run("UPDATE customers SET otp_blocked_until = ?, otp_block_reason = 'generations', "
                     "otp_generations = 0 WHERE phone = ?", now_text(until), customer["phone"])
        raise otp_blocked(until, "generations")
    st.store.run("UPDATE customers SET otp_generations = ?, otp_window_start = ? WHERE phone = ?",
                 generations + 1, customer["otp_window_start"] if generations else now_text(now), customer["phone"])


def account_unbinding(st: State, call: Call) -> Answer:
    """1st call (access token, ``authCode: null``): the unbinding webview; 2nd call: its authCode."""
    client_id = call.client_id
    second = bool(call.body.get("authCode")) and call.dialect == "ovo"
    kinds = ("unbind_linkage",) if second else ("access",)
    info = customer_token(st, call, kinds)
    assert info.phone is not None
    device_headers(call, transactional=True)
    text_field(call.body, "partnerReferenceNo", required=call.dialect == "ovo")
    merchant(call, required=call.dialect == "aspi")
    now = st.now()
    if call.dialect == "ovo" and not second:
        otp_generation(st, st.customer_row(info.phone), now)  # the unbinding webview sends an OTP too
        token, _ = st.issue_token("unbind_linkage", client_id, LINKAGE_TOKEN_LIFETIME, phone=info.phone,
                                  binding_id=info.binding_id)
        ref_id = st.open_session("unbinding", client_id, info.phone, token, binding_id=info.binding_id)
        return 200, {
            "responseCode": "2000900", "responseMessage": "Successful", "linkageToken": token,
            "redirectUrl": call.request.base_url + WEBVIEW_PATH,
            "additionalInfo": {"qParams": {"action": "otpUnlinkage", "authType": "2FA", "client-id": client_id,
                                           "phoneNumber": mask_phone(info.phone), "refId": ref_id}},
        }
    if second:
        code = str(call.body["authCode"])
        row = st.store.one("SELECT * FROM auth_codes WHERE code = ? AND kind = 'unbinding'", code)
        if row is None or row["binding_id"] != info.binding_id or row["used_at"] or now >= datetime.fromisoformat(
                row["expires_at"]):
            raise SnapError(401, "00", reason="Invalid Auth Code",
                            extra={"_sandbox": {"hint": "Use the authCode the unbinding webview returned."}})
        st.store.run("UPDATE auth_codes SET used_at = ? WHERE code = ?", now_text(now), code)
    st.unbind(client_id, info.phone, "unbound by the partner")
    return 200, {"responseCode": "2000900", "responseMessage": "Successful",
                 "partnerReferenceNo": call.body.get("partnerReferenceNo") or "",
                 "merchantId": call.client["merchant_id"], "unlinkResult": "success"}

