"""The sandbox admin API under ``/_sandbox/``: loopback only, never mixed with OVO's paths.

| method | path | what |
|---|---|---|
| GET | ``/_sandbox`` | this list |
| POST | ``/_sandbox/partners`` | onboard a partner from its public key; answers OVO's encrypted credential pair |
| GET/PATCH | ``/_sandbox/partners/{clientId}`` | a partner's settings (never its secret); change limits, leniency |
| POST | ``/_sandbox/customers`` | add an OVO account |
| GET/PATCH | ``/_sandbox/customers/{phone}`` | read, set balances/status, lock the PIN, change the phone |
| GET | ``/_sandbox/customers/{phone}/ledger`` | every movement of the customer's balances at OVO |
| POST | ``/_sandbox/customers/{phone}/unlink`` | ``{"clientId"}`` (optional): the customer unlinks in the OVO app |
| GET | ``/_sandbox/clock`` | business time and its offset |
| POST | ``/_sandbox/clock/advance`` | ``{"seconds": N}``: expire tokens, close windows, lift blocks |
| POST/DELETE | ``/_sandbox/faults`` | inject ``{"api", "kind", "count", "delaySeconds"}`` / clear all |
| POST | ``/_sandbox/webview/complete`` | ``{"url", "code"}``, or ``"codes": [OTP, PIN]`` for a binding |
| GET | ``/_sandbox/settlement.csv`` | OVO's side of reconciliation |
| PATCH | ``/_sandbox/payments/{partnerReferenceNo}`` | a deliberate discrepancy: ``{"amount", "status"}`` |
| GET | ``/_sandbox/callback`` | a landing page for webview redirects on this machine |

Every body is checked against its route's schema: unknown fields, wrong types (``"false"`` is
not a boolean, a string is not a list), non-finite or out-of-range numbers are refused with a
400 that names the field. The API is typed against :class:`SandboxOps`, the operations the
sandbox offers, so it never reaches into the sandbox's state.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qs

from ..errors import OvoNbError
from ..keys import Credentials, encrypt_credentials, load_public_key
from ..testbed import ADMIN_PATH, SANDBOX_TEST_PIN, WEBVIEW_COMPLETE
from ._types import (
    FAULT_KINDS,
    CustomerExists,
    DuplicateKey,
    SandboxClock,
    SandboxRequest,
    SandboxResponse,
    WebviewOutcome,
    WebviewRefusal,
    read_json,
)
from .pages import callback_page

ADMIN_PREFIX = ADMIN_PATH
ROUTES = __doc__ or ""
MAX_CLOCK_ADVANCE_SECONDS = 10 * 366 * 24 * 3600
"""The clock moves at most ten years per call: enough for every window, far from datetime's end."""
MAX_FAULT_COUNT = 1_000_000
MAX_FAULT_DELAY_SECONDS = 600.0


class SandboxOps(Protocol):
    """The operations the admin API drives; :class:`~ovo_nb.sandbox.core.Sandbox` provides them."""

    @property
    def clock(self) -> SandboxClock: ...

    def add_fault(self, api: str, kind: str, *, count: int = 1, delay_seconds: float = 0.0) -> None: ...

    def clear_faults(self) -> None: ...

    def advance_clock(self, seconds: float) -> datetime: ...

    def register_partner(
        self, public_key_pem: str, *, client_id: str | None = None, client_secret: str | None = None,
        name: str = "", merchant_id: str | None = None, callback_urls: Iterable[str] = (),
        error_urls: Iterable[str] = (), ip_whitelist: Iterable[str] = (), production: bool = False,
        daily_refund_limit: str | None = None, refund_window_days: int = ..., recurring_allowed: bool = True,
        lenient: bool = False, channel_id: str = ...,
    ) -> tuple[str, str]: ...

    def partner_view(self, client_id: str) -> dict[str, Any] | None: ...

    def set_partner(self, client_id: str, **settings: Any) -> dict[str, Any]: ...

    def add_customer(self, phone: str, *, name: str = "", cash: str = "0", points: str = "0",
                     pin: str = SANDBOX_TEST_PIN, status: str = "ACTIVE", registered: bool = True,
                     pin_locked: bool = False, replace: bool = False) -> str: ...

    def update_customer(self, phone: str, **changes: Any) -> dict[str, Any]: ...

    def customer_view(self, phone: str) -> dict[str, Any]: ...

    def customer_ledger(self, phone: str) -> list[dict[str, Any]]: ...

    def unlink_in_app(self, phone: str, client_id: str | None = None) -> list[str]: ...

    def webview_submit(self, url: str, *codes: str) -> WebviewOutcome: ...

    def tamper_payment(self, partner_reference_no: str, *, amount: str | None = None,
                       status: str | None = None) -> None: ...

    def settlement_csv(self) -> str: ...


class AdminError(OvoNbError):
    """An admin request the sandbox refuses (answered 400 with the message)."""


# ----------------------------------------------------------------------------- schemas


@dataclass(frozen=True)
class Field:
    """One admin body field: its JSON type, whether it is required, and its bounds."""

    kind: str
    """``str``, ``bool``, ``int``, ``number``, ``amount`` (a decimal string or integer), ``strings``, ``tables``."""
    required: bool = False
    low: float | None = None
    high: float | None = None
    max_len: int = 256


_TYPE_NAMES = {"str": "a string", "bool": "true or false", "int": "a whole number", "number": "a number",
               "amount": "an IDR amount like \"10000.00\"", "strings": "a list of strings",
               "tables": "a list of tables"}


def _check(name: str, spec: Field, value: Any) -> Any:
    kind = spec.kind
    ok = {
        "str": isinstance(value, str) and len(value) <= spec.max_len,
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
        "amount": (isinstance(value, str) and len(value) <= 32)
        or (isinstance(value, int) and not isinstance(value, bool)),
        "strings": isinstance(value, list) and len(value) <= 100
        and all(isinstance(item, str) and len(item) <= 2048 for item in value),
        "tables": isinstance(value, list) and all(isinstance(item, dict) for item in value),
    }[kind]
    if not ok:
        raise AdminError(f"{name} must be {_TYPE_NAMES[kind]}; got {json.dumps(value)[:60]}.")
    if kind in ("int", "number") and (
            (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high)):
        raise AdminError(f"{name} must be between {spec.low:g} and {spec.high:g}; got {value}.")
    return str(value) if kind == "amount" else value


def read_body(body: Any, schema: dict[str, Field]) -> dict[str, Any]:
    """The body's fields, checked against ``schema``; absent optional fields are left out."""
    if not isinstance(body, dict):
        raise AdminError("Expected an object of named fields.")
    unknown = sorted(set(body) - set(schema))
    if unknown:
        raise AdminError(f"Unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                         f"this route takes {', '.join(schema) or 'no body'}.")
    values = {}
    for name, spec in schema.items():
        if body.get(name) is None:
            if spec.required:
                raise AdminError(f"{name} is required.")
            continue
        values[name] = _check(name, spec, body[name])
    return values


PARTNER = {
    "publicKey": Field("str", required=True, max_len=8192), "clientId": Field("str", max_len=64),
    "name": Field("str"), "callbackUrls": Field("strings"), "errorRedirectUrls": Field("strings"),
    "ipWhitelist": Field("strings"), "production": Field("bool"), "dailyRefundLimit": Field("amount"),
    "refundWindowDays": Field("int", low=1, high=3650), "recurringAllowed": Field("bool"),
    "lenient": Field("bool"),
}
PARTNER_CHANGE = {
    "dailyRefundLimit": Field("amount"), "refundWindowDays": Field("int", low=1, high=3650),
    "recurringAllowed": Field("bool"), "lenient": Field("bool"),
}
CUSTOMER = {
    "phone": Field("str", required=True, max_len=32), "name": Field("str"), "cash": Field("amount"),
    "points": Field("amount"), "pin": Field("str", max_len=6), "status": Field("str", max_len=16),
    "registered": Field("bool"), "pinLocked": Field("bool"), "replace": Field("bool"),
}
CUSTOMER_CHANGE = {
    "cash": Field("amount"), "points": Field("amount"), "status": Field("str", max_len=16),
    "pinLocked": Field("bool"), "newPhone": Field("str", max_len=32),
}
UNLINK = {"clientId": Field("str", max_len=64)}
CLOCK = {"seconds": Field("number", required=True, low=0.001, high=MAX_CLOCK_ADVANCE_SECONDS)}
FAULT = {
    "api": Field("str", required=True, max_len=64), "kind": Field("str", required=True, max_len=64),
    "count": Field("int", low=1, high=MAX_FAULT_COUNT),
    "delaySeconds": Field("number", low=0, high=MAX_FAULT_DELAY_SECONDS),
}
WEBVIEW = {"url": Field("str", required=True, max_len=8192), "code": Field("str", max_len=16),
           "codes": Field("strings")}
TAMPER = {"amount": Field("amount"), "status": Field("str", max_len=2)}


# ----------------------------------------------------------------------------- routing


def snake_case(name: str) -> str:
    """``dailyRefundLimit`` -> ``daily_refund_limit``: the admin API's names to Python's."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _reply(status: int, body: Any) -> SandboxResponse:
    return SandboxResponse(status, json.dumps(body, ensure_ascii=False).encode(),
                           {"Content-Type": "application/json"})


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def handle_admin(sandbox: SandboxOps, request: SandboxRequest) -> SandboxResponse:
    """Route one admin request; refuses callers that are not on this machine."""
    if not _is_loopback(request.client_ip):
        return _reply(403, {"error": "The sandbox admin API answers loopback clients only."})
    parts = [p for p in request.path.split("/") if p][1:]
    if request.method == "GET" and parts == ["callback"]:
        return _callback_page(request.query, f"{request.base_url}{request.path}")
    try:
        try:
            body = read_json(request.body) if request.body.strip() else {}
        except DuplicateKey as exc:
            raise AdminError(f"The body is ambiguous: {exc}; send each field once.") from None
        except (ValueError, RecursionError):
            raise AdminError("The body is not valid JSON.") from None
        return _route(sandbox, request.method, parts, body, request.query)
    except (OvoNbError, WebviewRefusal) as exc:
        return _reply(400, {"error": str(exc)})


def _route(sandbox: SandboxOps, method: str, parts: list[str], body: Any, query: str) -> SandboxResponse:
    match method, parts:
        case "GET", []:
            return _reply(200, {"routes": [line for line in ROUTES.splitlines() if line.startswith("| ")][2:],
                                "faultKinds": list(FAULT_KINDS)})
        case "POST", ["partners"]:
            return _register_partner(sandbox, read_body(body, PARTNER))
        case "GET", ["partners", client_id]:
            view = sandbox.partner_view(client_id)
            return _reply(404, {"error": f"No partner {client_id!r}."}) if view is None else _reply(200, view)
        case "PATCH", ["partners", client_id]:
            fields = read_body(body, PARTNER_CHANGE)
            return _reply(200, sandbox.set_partner(client_id, **{snake_case(k): v for k, v in fields.items()}))
        case "POST", ["customers"]:
            fields = read_body(body, CUSTOMER)
            replace = fields.get("replace", False)
            try:
                sandbox.customer_view(fields["phone"])
                existed = True
            except OvoNbError:
                existed = False
            try:
                phone = sandbox.add_customer(
                    fields["phone"], name=fields.get("name", ""), cash=fields.get("cash", "0"),
                    points=fields.get("points", "0"), pin=fields.get("pin", SANDBOX_TEST_PIN),
                    status=fields.get("status", "ACTIVE"), registered=fields.get("registered", True),
                    pin_locked=fields.get("pinLocked", False), replace=replace)
            except CustomerExists as exc:
                return _reply(409, {"error": str(exc)})
            return _reply(200 if existed else 201, sandbox.customer_view(phone))
        case "GET", ["customers", phone]:
            return _reply(200, sandbox.customer_view(phone))
        case "GET", ["customers", phone, "ledger"]:
            return _reply(200, {"movements": sandbox.customer_ledger(phone)})
        case "PATCH", ["customers", phone]:
            fields = read_body(body, CUSTOMER_CHANGE)
            return _reply(200, sandbox.update_customer(
                phone, cash=fields.get("cash"), points=fields.get("points"), status=fields.get("status"),
                pin_locked=fields.get("pinLocked"), new_phone=fields.get("newPhone")))
        case "POST", ["customers", phone, "unlink"]:
            fields = read_body(body, UNLINK)
            return _reply(200, {"unlinked": sandbox.unlink_in_app(phone, fields.get("clientId"))})
        case "GET", ["clock"]:
            return _reply(200, {"now": sandbox.clock.now().isoformat(),
                                "offsetSeconds": sandbox.clock.offset.total_seconds()})
        case "POST", ["clock", "advance"]:
            moment = sandbox.advance_clock(float(read_body(body, CLOCK)["seconds"]))
            return _reply(200, {"now": moment.isoformat(), "offsetSeconds": sandbox.clock.offset.total_seconds()})
        case "POST", ["faults"]:
            fields = read_body(body, FAULT)
            sandbox.add_fault(fields["api"], fields["kind"], count=fields.get("count", 1),
                              delay_seconds=float(fields.get("delaySeconds", 0)))
            return _reply(201, {"ok": True})
        case "DELETE", ["faults"]:
            sandbox.clear_faults()
            return _reply(200, {"ok": True})
        case "POST", route if route == WEBVIEW_COMPLETE.split("/"):
            fields = read_body(body, WEBVIEW)
            codes = [fields["code"]] if "code" in fields else fields.get("codes", [])
            if not codes:
                raise AdminError("Give code (one OTP or PIN) or codes (the OTP, then the PIN, for a binding).")
            outcome = sandbox.webview_submit(fields["url"], *codes)
            return _reply(200 if outcome.ok else 422, {
                "ok": outcome.ok, "message": outcome.message, "attemptsLeft": outcome.attempts_left,
                "nextStep": outcome.next_step, "callbackUrl": outcome.callback_url, "response": outcome.response})
        case "PATCH", ["payments", reference]:
            fields = read_body(body, TAMPER)
            sandbox.tamper_payment(reference, amount=fields.get("amount"), status=fields.get("status"))
            return _reply(200, {"ok": True})
        case "GET", ["settlement.csv"]:
            return SandboxResponse(200, sandbox.settlement_csv().encode("utf-8-sig"),
                                   {"Content-Type": "text/csv; charset=utf-8"})
    return _reply(404, {"error": f"No admin route {method} /_sandbox/{'/'.join(parts)}; GET /_sandbox lists them."})


def _register_partner(sandbox: SandboxOps, fields: dict[str, Any]) -> SandboxResponse:
    """OVO's onboarding: a public key in, client id + the encrypted credential pair out."""
    pem = fields["publicKey"]
    key = load_public_key(pem.encode())
    client_id, secret = sandbox.register_partner(
        pem, client_id=fields.get("clientId"), name=fields.get("name", ""),
        callback_urls=fields.get("callbackUrls", []), error_urls=fields.get("errorRedirectUrls", []),
        ip_whitelist=fields.get("ipWhitelist", []), production=fields.get("production", False),
        daily_refund_limit=fields.get("dailyRefundLimit"), refund_window_days=fields.get("refundWindowDays", 60),
        recurring_allowed=fields.get("recurringAllowed", True), lenient=fields.get("lenient", False))
    view = sandbox.partner_view(client_id)
    assert view is not None
    pair = encrypt_credentials(key, Credentials(client_id, secret, {"merchant_id": view["merchant_id"],
                                                                   "channel_id": view["channel_id"]}))
    return _reply(201, {
        "clientId": client_id, "merchantId": view["merchant_id"], "channelId": view["channel_id"],
        "keyBinEnc": base64.b64encode(pair.key_bin_enc).decode(),
        "credFileEnc": base64.b64encode(pair.cred_file_enc).decode(),
    })


def _callback_page(query: str, here: str) -> SandboxResponse:
    """Where the webview lands when the partner's callback is this machine: shows what OVO sent, and
    the URL to paste back (``here`` with its query)."""
    params = {k: v[0] for k, v in parse_qs(query).items()}
    try:
        shown = json.dumps(json.loads(params.get("response", "")), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        shown = params.get("response", "(no response parameter)")
    return SandboxResponse(200, callback_page(shown, params.get("state", ""), f"{here}?{query}").encode(),
                           {"Content-Type": "text/html; charset=utf-8"})
