"""The sandbox admin API under ``/_sandbox/``: loopback only, never mixed with OVO's paths.

| method | path | what |
|---|---|---|
| GET | ``/_sandbox`` | this list |
| POST | ``/_sandbox/partners`` | onboard a partner from its public key; answers OVO's encrypted credential pair |
| GET | ``/_sandbox/partners/{clientId}`` | a partner's settings (never its secret) |
| POST | ``/_sandbox/customers`` | add an OVO account |
| GET/PATCH | ``/_sandbox/customers/{phone}`` | read, set balances/status, lock the PIN, change the phone |
| GET | ``/_sandbox/clock`` | business time and its offset |
| POST | ``/_sandbox/clock/advance`` | ``{"seconds": N}``: expire tokens, close windows, lift blocks |
| POST/DELETE | ``/_sandbox/faults`` | inject ``{"api", "kind", "count", "delaySeconds"}`` / clear all |
| POST | ``/_sandbox/webview/complete`` | ``{"url", "code"}``: enter an OTP/PIN headlessly |
| GET | ``/_sandbox/settlement.csv`` | OVO's side of reconciliation |
| PATCH | ``/_sandbox/payments/{partnerReferenceNo}`` | a deliberate discrepancy: ``{"amount", "status"}`` |
| GET | ``/_sandbox/callback`` | a landing page for webview redirects on this machine |
"""

from __future__ import annotations

import base64
import ipaddress
import json
from typing import Any
from urllib.parse import parse_qs

from ..errors import OvoNbError
from ..keys import Credentials, encrypt_credentials, load_public_key
from ._types import FAULT_KINDS, SandboxRequest, SandboxResponse
from .webview import callback_page

ROUTES = __doc__ or ""


def _reply(status: int, body: Any) -> SandboxResponse:
    return SandboxResponse(status, json.dumps(body, ensure_ascii=False).encode(),
                           {"Content-Type": "application/json"})


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def handle_admin(sandbox: Any, request: SandboxRequest) -> SandboxResponse:
    """Route one admin request; refuses callers that are not on this machine."""
    from .core import WebviewRefusal

    if not _is_loopback(request.client_ip):
        return _reply(403, {"error": "The sandbox admin API answers loopback clients only."})
    parts = [p for p in request.path.split("/") if p][1:]
    try:
        body = json.loads(request.body) if request.body.strip() else {}
        if not isinstance(body, dict):
            raise OvoNbError("The admin API takes a JSON object.")
        return _route(sandbox, request.method, parts, body, request.query)
    except (ValueError, OvoNbError, WebviewRefusal) as exc:
        return _reply(400, {"error": str(exc)})


def _route(sandbox: Any, method: str, parts: list[str], body: dict[str, Any], query: str) -> SandboxResponse:
    match method, parts:
        case "GET", []:
            return _reply(200, {"routes": [line for line in ROUTES.splitlines() if line.startswith("| ")][2:],
                                "faultKinds": list(FAULT_KINDS)})
        case "POST", ["partners"]:
            return _register_partner(sandbox, body)
        case "GET", ["partners", client_id]:
            row = sandbox.store.one("SELECT * FROM partners WHERE client_id = ?", client_id)
            if row is None:
                return _reply(404, {"error": f"No partner {client_id!r}."})
            view = {k: row[k] for k in row.keys() if k != "client_secret"}  # noqa: SIM118 (sqlite3.Row)
            for key in ("callback_urls", "error_urls", "ip_whitelist"):
                view[key] = json.loads(view[key])
            return _reply(200, view)
        case "POST", ["customers"]:
            phone = sandbox.add_customer(
                str(body.get("phone", "")), name=str(body.get("name", "")), cash=str(body.get("cash", "0")),
                points=str(body.get("points", "0")), pin=str(body.get("pin", "123456")),
                status=str(body.get("status", "ACTIVE")), registered=bool(body.get("registered", True)))
            return _reply(201, sandbox.customer_view(phone))
        case "GET", ["customers", phone]:
            return _reply(200, sandbox.customer_view(phone))
        case "PATCH", ["customers", phone]:
            return _reply(200, sandbox.update_customer(
                phone, cash=body.get("cash"), points=body.get("points"), status=body.get("status"),
                pin_locked=body.get("pinLocked"), new_phone=body.get("newPhone")))
        case "GET", ["clock"]:
            return _reply(200, {"now": sandbox.clock.now().isoformat(),
                                "offsetSeconds": sandbox.clock.offset.total_seconds()})
        case "POST", ["clock", "advance"]:
            moment = sandbox.advance_clock(float(body.get("seconds", 0)))
            return _reply(200, {"now": moment.isoformat(), "offsetSeconds": sandbox.clock.offset.total_seconds()})
        case "POST", ["faults"]:
            sandbox.add_fault(str(body.get("api", "")), str(body.get("kind", "")), count=int(body.get("count", 1)),
                              delay_seconds=float(body.get("delaySeconds", 0)))
            return _reply(201, {"ok": True})
        case "DELETE", ["faults"]:
            sandbox.clear_faults()
            return _reply(200, {"ok": True})
        case "POST", ["webview", "complete"]:
            outcome = sandbox.webview_submit(str(body.get("url", "")), str(body.get("code", "")))
            return _reply(200 if outcome.ok else 422, {
                "ok": outcome.ok, "message": outcome.message, "attemptsLeft": outcome.attempts_left,
                "callbackUrl": outcome.callback_url, "response": outcome.response})
        case "PATCH", ["payments", reference]:
            sandbox.tamper_payment(reference, amount=body.get("amount"), status=body.get("status"))
            return _reply(200, {"ok": True})
        case "GET", ["callback"]:
            return _callback_page(query)
        case "GET", ["settlement.csv"]:
            return SandboxResponse(200, sandbox.settlement_csv().encode("utf-8-sig"),
                                   {"Content-Type": "text/csv; charset=utf-8"})
    return _reply(404, {"error": f"No admin route {method} /_sandbox/{'/'.join(parts)}; GET /_sandbox lists them."})


def _register_partner(sandbox: Any, body: dict[str, Any]) -> SandboxResponse:
    """OVO's onboarding: a public key in, client id + the encrypted credential pair out."""
    pem = str(body.get("publicKey", ""))
    key = load_public_key(pem.encode())
    client_id, secret = sandbox.register_partner(
        pem, client_id=body.get("clientId"), name=str(body.get("name", "")),
        callback_urls=body.get("callbackUrls", []), error_urls=body.get("errorRedirectUrls", []),
        ip_whitelist=body.get("ipWhitelist", []), production=bool(body.get("production", False)),
        daily_refund_limit=body.get("dailyRefundLimit"), refund_window_days=int(body.get("refundWindowDays", 60)),
        recurring_allowed=bool(body.get("recurringAllowed", True)),
        strict_body_hash=bool(body.get("strictBodyHash", False)))
    row = sandbox.store.one("SELECT merchant_id, channel_id FROM partners WHERE client_id = ?", client_id)
    pair = encrypt_credentials(key, Credentials(client_id, secret, {"merchant_id": row["merchant_id"],
                                                                   "channel_id": row["channel_id"]}))
    return _reply(201, {
        "clientId": client_id, "merchantId": row["merchant_id"], "channelId": row["channel_id"],
        "keyBinEnc": base64.b64encode(pair.key_bin_enc).decode(),
        "credFileEnc": base64.b64encode(pair.cred_file_enc).decode(),
    })


def _callback_page(query: str) -> SandboxResponse:
    """Where the webview lands when the partner's callback is this machine: shows what OVO sent."""
    params = {k: v[0] for k, v in parse_qs(query).items()}
    try:
        shown = json.dumps(json.loads(params.get("response", "")), indent=2, ensure_ascii=False)
    except ValueError:
        shown = params.get("response", "(no response parameter)")
    return SandboxResponse(200, callback_page(shown, params.get("state", "")).encode(),
                           {"Content-Type": "text/html; charset=utf-8"})
