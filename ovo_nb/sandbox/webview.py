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
    WEBVIEW_LIFETIME,
    mask_phone,
)
from . import pages
from ._state import Row, State, b64url, now_text, parse_time
from ._types import SandboxRequest, SandboxResponse, WebviewOutcome, WebviewRefusal

STEPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "binding": ("otpLinkage", "2FA", ("OTP", "PIN")),
    "unbinding": ("otpUnlinkage", "2FA", ("OTP",)),
    "payment": ("pinPayment", "PIN", ("PIN",)),
}
"""Per session kind: the ``action`` and ``authType`` of its URL, and what the customer enters, in order.
Binding is two-factor: the OTP, then the Security PIN (FAQ: wrong PINs "during a binding/Payment process")."""
TOKEN_KIND = {"binding": "linkage", "unbinding": "unbind_linkage", "payment": "access"}
"""The token a webview URL carries: the linkageToken, or the accessToken for the payment PIN (FAQ)."""
REQUIRED_PARAMS = ("action", "authType", "client-id", "phoneNumber", "refId", "token", "destination",
                   "submissionType")
"""The FAQ's webview URL: every ``qParams`` entry, the token, the callback URL and the submission type."""
SUBMISSION_TYPE = "redirect"


def session_for(st: State, params: dict[str, str]) -> tuple[Row, Row, str]:
    """Validate the webview URL's parameters; returns (session, partner, destination)."""
    missing = [name for name in REQUIRED_PARAMS if not params.get(name)]
    if missing:
        raise WebviewRefusal(f"This link is missing {', '.join(missing)}: OVO's webview URL carries every qParams "
                             "entry of the API answer plus token, destination and submissionType=redirect.")
    session = st.store.one("SELECT * FROM webview_sessions WHERE ref_id = ?", params["refId"])
    if session is None:
        raise WebviewRefusal("This link is not valid. Go back to the merchant and start again.")
    if not hmac.compare_digest(params["token"], session["token"]):
        raise WebviewRefusal("This link's token does not match. Go back to the merchant and start again.")
    if params["client-id"] != session["client_id"]:
        raise WebviewRefusal("This link belongs to another merchant.")
    action, auth_type, _ = STEPS[session["kind"]]
    for name, expected in (("action", action), ("authType", auth_type)):
        if params[name] != expected:
            raise WebviewRefusal(f"This link's {name} is {params[name]!r}; this step needs {expected!r}.")
    if params["phoneNumber"] not in (mask_phone(session["phone"]), session["phone"]):
        raise WebviewRefusal("This link's phoneNumber is not the customer's.")
    partner = st.partner(session["client_id"])
    assert partner is not None
    destination = params["destination"]
    registered = json.loads(partner["callback_urls"]) + json.loads(partner["error_urls"])
    if destination.rstrip("/") not in {u.rstrip("/") for u in registered}:
        raise WebviewRefusal(f"The destination {destination} is not registered for this merchant; "
                             "OVO only redirects to registered callback URLs.")
    if params["submissionType"] != SUBMISSION_TYPE:
        raise WebviewRefusal(f"submissionType must be {SUBMISSION_TYPE!r}.")
    if session["status"] == "DONE":
        raise WebviewRefusal("This step is already complete.")
    token = st.store.one("SELECT * FROM tokens WHERE token = ?", session["token"])
    problem = st.token_problem(token, session["client_id"], (TOKEN_KIND[session["kind"]],))
    ended = (f"This link can no longer be used ({problem})" if problem
             else "This step was canceled" if session["status"] != "PENDING"
             else "This page has expired (15 minutes)" if st.now() >= _deadline(session) else "")
    if ended:
        raise WebviewRefusal(f"{ended}. Go back to the merchant and start again.",
                             _failure(partner, params.get("state"), ended, "EXPIRED").callback_url)
    return session, partner, destination


def _deadline(session: Row) -> datetime:
    """15 minutes from when the customer opened the page (FAQ); an unopened link lives as long."""
    opened = parse_time(session["opened_at"])
    return opened + WEBVIEW_LIFETIME if opened else datetime.fromisoformat(session["expires_at"])


def _open(st: State, session: Row, now: datetime) -> Row:
    """The first time the customer opens the page: the 15 minutes (and a debit's time limit) start."""
    if session["opened_at"]:
        return session
    st.store.run("UPDATE webview_sessions SET opened_at = ? WHERE ref_id = ?", now_text(now), session["ref_id"])
    if session["kind"] == "payment":
        st.store.run("UPDATE payments SET expires_at = ? WHERE id = ? AND status IN ('01', '02')",
                     now_text(now + WEBVIEW_LIFETIME), session["payment_id"])
    opened = st.store.one("SELECT * FROM webview_sessions WHERE ref_id = ?", session["ref_id"])
    assert opened is not None
    return opened


def current_step(session: Row) -> str:
    steps = STEPS[session["kind"]][2]
    return str(session["stage"]) if session["stage"] in steps else steps[0]


def _attempts_left(step: str, customer: Row) -> int:
    if step == "PIN":
        failures = int(customer["pin_failures"])
        return (PIN_BLOCK_AFTER - failures) if failures < PIN_BLOCK_AFTER else max(PIN_LOCK_AFTER - failures, 0)
    return OTP_MAX_FAILURES - int(customer["otp_failures"])


def _block_message(step: str, customer: Row, now: datetime) -> str | None:
    if step == "PIN":
        if customer["pin_locked"]:
            return "Your OVO PIN is blocked permanently after 6 wrong entries. Contact OVO to unblock it."
        until = parse_time(customer["pin_blocked_until"])
        if until and now < until:
            return f"Too many wrong PINs. Try again after {until:%H:%M} WIB."
        return None
    until = parse_time(customer["otp_blocked_until"])
    if until and now < until:
        if customer["otp_block_reason"] == "generations":
            return f"Too many OTPs requested (5 in 30 minutes). Try again after {until:%H:%M} WIB."
        return f"Too many wrong OTPs. Try again after {until:%H:%M} WIB."
    return None


def submit(st: State, url: str, *codes: str) -> WebviewOutcome:
    """Enter codes in the webview at ``url`` in turn, as a customer would (headless path).

    A binding takes the OTP and then the Security PIN (``submit(st, url, otp, pin)``); with the
    OTP alone it stops at the PIN step (``next_step="PIN"``).
    """
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}
    with st.store.transaction():
        session, partner, destination = session_for(st, params)
        now = st.now()
        session = _open(st, session, now)
        outcome = WebviewOutcome(False, "Enter the code.", 0)
        for code in codes or ("",):
            outcome = _enter(st, session, partner, destination, params.get("state"), code, now)
            if outcome.next_step is None:
                break
            refreshed = st.store.one("SELECT * FROM webview_sessions WHERE ref_id = ?", session["ref_id"])
            assert refreshed is not None
            session = refreshed
        return outcome


def _enter(st: State, session: Row, partner: Row, destination: str, state: str | None, code: str,
           now: datetime) -> WebviewOutcome:
    """One code for the session's current step."""
    step = current_step(session)
    customer = st.customer_row(session["phone"])
    blocked = _block_message(step, customer, now)
    if blocked:
        return WebviewOutcome(False, blocked, 0)
    expected = customer["pin"] if step == "PIN" else session["phone"][-4:]
    if not hmac.compare_digest(code.encode(), str(expected).encode()):
        return _wrong_code(st, step, customer, now)
    st.store.run(f"UPDATE customers SET {'pin' if step == 'PIN' else 'otp'}_failures = 0 WHERE phone = ?",
                 customer["phone"])
    steps = STEPS[session["kind"]][2]
    if step != steps[-1]:
        following = steps[steps.index(step) + 1]
        st.store.run("UPDATE webview_sessions SET stage = ? WHERE ref_id = ?", following, session["ref_id"])
        customer = st.customer_row(session["phone"])
        blocked = _block_message(following, customer, now)
        if blocked:  # a PIN-blocked customer cannot bind
            return WebviewOutcome(False, blocked, 0)
        return WebviewOutcome(False, f"{step} accepted. Enter your OVO Security PIN.",
                              _attempts_left(following, customer), next_step=following)
    return _success(st, session, customer, destination, state, now)


def _wrong_code(st: State, step: str, customer: Row, now: datetime) -> WebviewOutcome:
    phone = customer["phone"]
    if step == "PIN":
        failures = customer["pin_failures"] + 1
        locked = int(failures >= PIN_LOCK_AFTER)
        until = now_text(now + PIN_BLOCK) if failures == PIN_BLOCK_AFTER else customer["pin_blocked_until"]
        st.store.run("UPDATE customers SET pin_failures = ?, pin_locked = ?, pin_blocked_until = ?"
                     " WHERE phone = ?", failures, locked, until, phone)
    else:
        failures = customer["otp_failures"] + 1
        until = now_text(now + OTP_BLOCK) if failures >= OTP_MAX_FAILURES else None
        st.store.run("UPDATE customers SET otp_failures = ?, otp_blocked_until = ?, otp_block_reason = ?"
                     " WHERE phone = ?", 0 if until else failures, until, "wrong" if until else None, phone)
    st.store.record(now_text(now), "customer", mask_phone(phone), f"wrong {step}", failures=failures)
    customer = st.customer_row(phone)
    blocked = _block_message(step, customer, now)
    if blocked:
        return WebviewOutcome(False, blocked, 0)
    left = _attempts_left(step, customer)
    return WebviewOutcome(False, f"Wrong {step}. {left} attempt{'s' if left != 1 else ''} left.", left)


def _failure(partner: Row, state: str | None, message: str, error_code: str) -> WebviewOutcome:
    """A step that cannot finish (expired, revoked, canceled by the customer); OVO sends the failure to
    the partner's registered error-redirect URL, when it has one (FAQ). A wrong OTP or PIN is not
    one: the customer stays on the page (FAQ)."""
    response = {"displayMsg": "FAILED", "displayHeader": message, "retryAttemptsLeft": 0, "authCode": "",
                "errorCode": error_code, "enable_redirection": True}
    error_urls = json.loads(partner["error_urls"])
    target = _redirect(error_urls[0], response, state) if error_urls else None
    return WebviewOutcome(False, message, 0, target, response)


def _redirect(destination: str, response: dict[str, object], state: str | None) -> str:
    """``destination?response=<url-encoded JSON>[&state=...]``, as the FAQ's sample."""
    target = destination if urlsplit(destination).path else destination.rstrip("/") + "/"
    query = {"response": json.dumps(response, separators=(",", ":"))}
    if state:
        query["state"] = state
    return f"{target}?{urlencode(query, quote_via=quote)}"


def _success(st: State, session: Row, customer: Row, destination: str, state: str | None,
             now: datetime) -> WebviewOutcome:
    left = _attempts_left(current_step(session), customer)
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
    return WebviewOutcome(True, "SUCCESS", left, _redirect(destination, response, state), response)


def serve(st: State, request: SandboxRequest) -> SandboxResponse:
    """The webview for people: a form on GET, the OTP/PIN check on POST, a redirect when it ends."""
    params = {k: v[0] for k, v in parse_qs(request.query, keep_blank_values=True).items()}
    url = f"{request.base_url}{request.raw_path}"
    try:
        with st.store.transaction():
            session, partner, _ = session_for(st, params)
            session = _open(st, session, st.now())
            step = current_step(session)
            blocked = _block_message(step, st.customer_row(session["phone"]), st.now())
    except WebviewRefusal as refusal:
        return _refused(refusal)
    title = {"binding": "Link your OVO account", "unbinding": "Unlink your OVO account",
             "payment": "Confirm payment"}[session["kind"]]
    detail = _detail(st, session, partner, step)
    if blocked:
        return html(403, pages.code_page(title, detail, step, request.raw_path, error=blocked, disabled=True))
    if request.method != "POST":
        return html(200, pages.code_page(title, detail, step, request.raw_path))
    form = parse_qs(request.body.decode("utf-8", "replace"))
    if form.get("cancel"):
        return _cancel(st, session, partner, params.get("state"))
    code = form.get("code", [""])[0].strip()
    try:
        outcome = submit(st, url, code)
    except WebviewRefusal as refusal:
        return _refused(refusal)
    if outcome.callback_url:
        return SandboxResponse(303, b"", {"Location": outcome.callback_url})
    if outcome.next_step:
        return html(200, pages.code_page(title, _detail(st, session, partner, outcome.next_step), outcome.next_step,
                                         request.raw_path, notice=outcome.message))
    status = 403 if outcome.attempts_left == 0 else 200
    return html(status, pages.code_page(title, detail, step, request.raw_path, error=outcome.message,
                                        disabled=outcome.attempts_left == 0))


def _refused(refusal: WebviewRefusal) -> SandboxResponse:
    if refusal.redirect:
        return SandboxResponse(303, b"", {"Location": refusal.redirect})
    return html(400, pages.message_page("OVO", str(refusal)))


def _cancel(st: State, session: Row, partner: Row, state: str | None) -> SandboxResponse:
    """The customer leaves the webview: the step ends, and the partner hears of it if it can."""
    with st.store.transaction():
        st.store.run("UPDATE webview_sessions SET status = 'CANCELED' WHERE ref_id = ? AND status = 'PENDING'",
                     session["ref_id"])
    outcome = _failure(partner, state, "Canceled by the customer.", "USER_CANCELED")
    if outcome.callback_url:
        return SandboxResponse(303, b"", {"Location": outcome.callback_url})
    return html(200, pages.message_page("OVO", "Canceled. Use the merchant's back button to return."))


def _detail(st: State, session: Row, partner: Row, step: str) -> str:
    phone = mask_phone(session["phone"])
    name = partner["name"] or partner["client_id"]
    if session["kind"] == "binding" and step == "PIN":
        return f"Confirm linking OVO {phone} to {name} with your OVO Security PIN."
    if session["kind"] == "payment":
        payment = st.store.one("SELECT amount FROM payments WHERE id = ?", session["payment_id"])
        amount = f"Rp{Decimal(payment['amount']):,.2f}" if payment else ""
        return f"Pay {amount} to {name} with OVO {phone}."
    if session["kind"] == "unbinding":
        return f"Unlink OVO {phone} from {name}."
    return f"Link OVO {phone} to {name}. Enter the OTP sent to your phone."


def html(status: int, text: str) -> SandboxResponse:
    return SandboxResponse(status, text.encode(), {"Content-Type": "text/html; charset=utf-8"})
