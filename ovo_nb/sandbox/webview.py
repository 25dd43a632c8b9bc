"""OVO's webview: the OTP (binding, unbinding) and PIN (payment) steps a customer takes.

Two ways in: :func:`serve` answers a browser (a form on GET, the check on POST, a 303 to
the partner's callback on success), :func:`submit` is the same check for headless runs.
A wrong code keeps the customer on the page, as at OVO; limits and blocks follow the FAQ.
"""

from __future__ import annotations

import hmac
import json
import secrets
from datetime import datetime
from decimal import Decimal
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from ..snap import (
    AUTH_CODE_LIFETIME,
    OTP_BLOCK,
    OTP_MAX_FAILURES,
    PIN_BLOCK,
    PIN_BLOCK_AFTER,
    PIN_LOCK_AFTER,
    mask_phone,
)
from . import pages
from ._state import Row, State, b64url, now_text, parse_time
from ._types import SandboxRequest, SandboxResponse, WebviewOutcome, WebviewRefusal


def session_for(st: State, params: dict[str, str]) -> tuple[Row, Row, str]:
    """Validate the webview URL's parameters; returns (session, partner, destination)."""
    session = st.store.one("SELECT * FROM webview_sessions WHERE ref_id = ?", params.get("refId", ""))
    if session is None:
        raise WebviewRefusal("This link is not valid. Go back to the merchant and start again.")
    if not hmac.compare_digest(params.get("token", ""), session["token"]):
        raise WebviewRefusal("This link's token does not match. Go back to the merchant and start again.")
    if params.get("client-id") != session["client_id"]:
        raise WebviewRefusal("This link belongs to another merchant.")
    partner = st.partner(session["client_id"])
    assert partner is not None
    destination = params.get("destination", "")
    registered = json.loads(partner["callback_urls"]) + json.loads(partner["error_urls"])
    if destination.rstrip("/") not in {u.rstrip("/") for u in registered}:
        raise WebviewRefusal(f"The destination {destination or '(none)'} is not registered for this merchant; "
                             "OVO only redirects to registered callback URLs.")
    if params.get("submissionType", "redirect") != "redirect":
        raise WebviewRefusal("submissionType must be 'redirect'.")
    if st.now() >= datetime.fromisoformat(session["expires_at"]):
        raise WebviewRefusal("This page has expired (15 minutes). Go back to the merchant and start again.")
    if session["status"] == "DONE":
        raise WebviewRefusal("This step is already complete.")
    return session, partner, destination


def _attempts_left(session: Row, customer: Row) -> int:
    if session["kind"] == "payment":
        failures = int(customer["pin_failures"])
        return (PIN_BLOCK_AFTER - failures) if failures < PIN_BLOCK_AFTER else max(PIN_LOCK_AFTER - failures, 0)
    return OTP_MAX_FAILURES - int(customer["otp_failures"])


def _block_message(session: Row, customer: Row, now: datetime) -> str | None:
    if session["kind"] == "payment":
        if customer["pin_locked"]:
            return "Your OVO PIN is blocked permanently after 6 wrong entries. Contact OVO to unblock it."
        until = parse_time(customer["pin_blocked_until"])
        if until and now < until:
            return f"Too many wrong PINs. Try again after {until:%H:%M} WIB."
        return None
    until = parse_time(customer["otp_blocked_until"])
    if until and now < until:
        return f"Too many wrong OTPs. Try again after {until:%H:%M} WIB."
    return None


def submit(st: State, url: str, code: str) -> WebviewOutcome:
    """Enter an OTP or PIN in the webview at ``url``, as a customer would (headless path)."""
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}
    with st.store.transaction():
        session, _, destination = session_for(st, params)
        now = st.now()
        customer = st.customer_row(session["phone"])
        blocked = _block_message(session, customer, now)
        if blocked:
            return WebviewOutcome(False, blocked, 0)
        if session["kind"] == "payment":
            right = hmac.compare_digest(code, customer["pin"])
        else:
            right = hmac.compare_digest(code, session["phone"][-4:])
        if not right:
            return _wrong_code(st, session, customer, now)
        return _success(st, session, customer, destination, params.get("state"), now)


def _wrong_code(st: State, session: Row, customer: Row, now: datetime) -> WebviewOutcome:
    phone = customer["phone"]
    if session["kind"] == "payment":
        failures = customer["pin_failures"] + 1
        locked = int(failures >= PIN_LOCK_AFTER)
        until = now_text(now + PIN_BLOCK) if failures == PIN_BLOCK_AFTER else customer["pin_blocked_until"]
        st.store.run("UPDATE customers SET pin_failures = ?, pin_locked = ?, pin_blocked_until = ?"
                     " WHERE phone = ?", failures, locked, until, phone)
        what = "PIN"
    else:
        failures = customer["otp_failures"] + 1
        until = now_text(now + OTP_BLOCK) if failures >= OTP_MAX_FAILURES else None
        st.store.run("UPDATE customers SET otp_failures = ?, otp_blocked_until = ? WHERE phone = ?",
                     0 if until else failures, until, phone)
        what = "OTP"
    st.store.record(now_text(now), "customer", mask_phone(phone), f"wrong {what}", failures=failures)
    customer = st.customer_row(phone)
    blocked = _block_message(session, customer, now)
    if blocked:
        return WebviewOutcome(False, blocked, 0)
    left = _attempts_left(session, customer)
    return WebviewOutcome(False, f"Wrong {what}. {left} attempt{'s' if left != 1 else ''} left.", left)


def _success(st: State, session: Row, customer: Row, destination: str, state: str | None,
             now: datetime) -> WebviewOutcome:
    left = _attempts_left(session, customer)
    column = "pin_failures" if session["kind"] == "payment" else "otp_failures"
    st.store.run(f"UPDATE customers SET {column} = 0 WHERE phone = ?", customer["phone"])
    code = b64url(secrets.token_bytes(16))[:22]
    st.store.run(
        "INSERT INTO auth_codes (code, kind, client_id, phone, binding_id, payment_id, issued_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", code, session["kind"], session["client_id"], session["phone"],
        session["binding_id"], session["payment_id"], now_text(now), now_text(now + AUTH_CODE_LIFETIME))
    st.store.run("UPDATE webview_sessions SET status = 'DONE' WHERE ref_id = ?", session["ref_id"])
    if session["kind"] == "payment":
        st.store.run("UPDATE payments SET status = '02', status_desc = 'Paying' WHERE id = ? AND status = '01'",
                     session["payment_id"])
    response = {"displayMsg": "SUCCESS", "displayHeader": "", "retryAttemptsLeft": left, "authCode": code,
                "errorCode": "", "enable_redirection": False}
    target = destination if urlsplit(destination).path else destination.rstrip("/") + "/"
    query = {"response": json.dumps(response, separators=(",", ":"))}
    if state:
        query["state"] = state
    return WebviewOutcome(True, "SUCCESS", left, f"{target}?{urlencode(query, quote_via=quote)}", response)


def serve(st: State, request: SandboxRequest) -> SandboxResponse:
    """The webview for people: a form on GET, the OTP/PIN check on POST, a redirect on success."""
    params = {k: v[0] for k, v in parse_qs(request.query, keep_blank_values=True).items()}
    url = f"{request.base_url}{request.raw_path}"
    try:
        with st.store.transaction():
            session, partner, _ = session_for(st, params)
            customer = st.customer_row(session["phone"])
            blocked = _block_message(session, customer, st.now())
    except WebviewRefusal as refusal:
        return html(400, pages.message_page("OVO", str(refusal)))
    kind = "PIN" if session["kind"] == "payment" else "OTP"
    title = {"binding": "Link your OVO account", "unbinding": "Unlink your OVO account",
             "payment": "Confirm payment"}[session["kind"]]
    detail = _detail(st, session, partner)
    if blocked:
        return html(403, pages.code_page(title, detail, kind, request.raw_path, error=blocked, disabled=True))
    if request.method != "POST":
        return html(200, pages.code_page(title, detail, kind, request.raw_path))
    code = parse_qs(request.body.decode("utf-8", "replace")).get("code", [""])[0].strip()
    try:
        outcome = submit(st, url, code)
    except WebviewRefusal as refusal:
        return html(400, pages.message_page("OVO", str(refusal)))
    if outcome.ok and outcome.callback_url:
        return SandboxResponse(303, b"", {"Location": outcome.callback_url})
    status = 403 if outcome.attempts_left == 0 else 200
    return html(status, pages.code_page(title, detail, kind, request.raw_path, error=outcome.message,
                                        disabled=outcome.attempts_left == 0))


def _detail(st: State, session: Row, partner: Row) -> str:
    phone = mask_phone(session["phone"])
    name = partner["name"] or partner["client_id"]
    if session["kind"] == "payment":
        payment = st.store.one("SELECT amount FROM payments WHERE id = ?", session["payment_id"])
        amount = f"Rp{Decimal(payment['amount']):,.2f}" if payment else ""
        return f"Pay {amount} to {name} with OVO {phone}."
    if session["kind"] == "unbinding":
        return f"Unlink OVO {phone} from {name}."
    return f"Link OVO {phone} to {name}. Enter the OTP sent to your phone."


def html(status: int, text: str) -> SandboxResponse:
    return SandboxResponse(status, text.encode(), {"Content-Type": "text/html; charset=utf-8"})
