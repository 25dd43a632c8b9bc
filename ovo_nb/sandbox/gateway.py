"""OVO's API gateway: every check a request passes before its handler runs, in SNAP_SPEC's order.

body parses -> signature headers present and well-formed -> client known (and IP whitelisted
in production) -> timestamp inside the window -> signature -> X-EXTERNAL-ID unused today.
The token, the other headers and the body fields are checked by each handler with the
helpers at the end of this module, in the same order. The first failure wins.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..errors import ValidationError
from ..snap import TIMESTAMP_WINDOW, Endpoint, SignatureKind, format_timestamp, parse_money, parse_timestamp
from ._state import Row, State
from ._types import (
    MAX_JSON_DEPTH,
    REQUIRE_CHANNEL_ID,
    DuplicateKey,
    SandboxRequest,
    SnapError,
    TokenInfo,
    read_json,
)
from .signatures import BodyForms, verify_signature

JAKARTA_OFFSET = "+07:00"

Answer = tuple[int, dict[str, Any]]
"""A handler's result: HTTP status and the JSON body."""


@dataclass
class Call:
    """One API request on its way through the gateway, and what the gateway learnt about it."""

    request: SandboxRequest
    api: Endpoint
    body: dict[str, Any] = field(default_factory=dict)
    forms: BodyForms | None = None
    partner: Row | None = None
    timestamp: str = ""
    external: tuple[str, str, str] | None = None
    """The X-EXTERNAL-ID kept for this call: (client id, day, id)."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers (which body form the signature matched)."""
    warnings: list[str] = field(default_factory=list)
    """What was accepted only out of tolerance (lenient partners); answered in ``_sandbox.warnings``."""

    @property
    def dialect(self) -> str:
        """``aspi`` on the BI devsite paths (``/api/v1.0/...``), ``ovo`` elsewhere."""
        return "aspi" if self.request.path.startswith("/api/") else "ovo"

    @property
    def service(self) -> str:
        return self.api.service_code or "00"

    @property
    def client(self) -> Row:
        assert self.partner is not None, "the gateway sets the partner before any handler runs"
        return self.partner

    @property
    def client_id(self) -> str:
        return str(self.client["client_id"])

    def tolerate(self, what: str, refusal: SnapError) -> None:
        """Accept ``what`` with a warning from a lenient partner; refuse it from a strict one."""
        if self.partner is not None and self.partner["lenient"]:
            self.warnings.append(what)
            return
        raise refusal


Step = Callable[[State, Call], None]


# ----------------------------------------------------------------------------- the steps, in order


def parse_body(st: State, call: Call) -> None:
    """1. The body is a JSON object (SNAP POSTs need one); forms for the body hash are made once."""
    request, api = call.request, call.api
    if api.method == "GET" or not request.body.strip():
        if api.method == "POST" and api.is_snap:
            raise SnapError(400, "00", message="Bad Request", extra={"_sandbox": {"hint": "The body is empty."}})
        call.forms = BodyForms.of(request.body, None)
        return
    try:
        body = read_json(request.body)
    except DuplicateKey as exc:
        raise SnapError(400, "00", message=f"Bad Request. Duplicate JSON key: {exc.key}", extra={"_sandbox": {
            "hint": f"The body names {exc.key!r} twice in one object; send each field once."}}) from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise SnapError(400, "00", extra={"_sandbox": {"hint": "The body is not valid JSON."}}) from None
    if not isinstance(body, dict):
        raise SnapError(400, "00", extra={"_sandbox": {"hint": "The body must be a JSON object."}})
    if json_depth(body) > MAX_JSON_DEPTH:
        raise SnapError(400, "00", extra={"_sandbox": {"hint": f"The body nests deeper than {MAX_JSON_DEPTH}."}})
    call.body = body
    call.forms = BodyForms.of(request.body, body)


def json_depth(value: Any) -> int:
    """How deep ``value`` nests, counted without recursion (a hostile body may nest thousands deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def signature_headers(st: State, call: Call) -> None:
    """2. X-TIMESTAMP, X-SIGNATURE and the client header are present; the timestamp is well-formed."""
    timestamp = required_header(call.request, "X-TIMESTAMP")
    try:
        parse_timestamp(timestamp)
    except ValidationError:
        raise SnapError(400, "01", field="X-TIMESTAMP") from None
    required_header(call.request, "X-SIGNATURE")
    required_header(call.request, _client_header(call))
    call.timestamp = timestamp


def client(st: State, call: Call) -> None:
    """3. The client id is a registered partner; in production, the caller's IP is whitelisted."""
    partner = st.partner(required_header(call.request, _client_header(call)))
    if partner is None:
        raise SnapError(401, "00", reason="Unknown Client")
    if partner["production"] and not _ip_allowed(call.request.client_ip, json.loads(partner["ip_whitelist"])):
        raise SnapError(401, "00", reason="IP Not Whitelisted")
    call.partner = partner


def timestamp(st: State, call: Call) -> None:
    """4. X-TIMESTAMP is in Jakarta time (+07:00) and within the window of OVO's clock."""
    if not call.timestamp.endswith(JAKARTA_OFFSET):
        call.tolerate(
            f"X-TIMESTAMP {call.timestamp} is not in Jakarta time; OVO expects yyyy-MM-ddTHH:mm:ss.SSS+07:00.",
            SnapError(400, "01", field="X-TIMESTAMP", extra={"_sandbox": {
                "hint": "Send Jakarta time with its offset, e.g. 2026-11-28T13:42:13.092+07:00 (not UTC 'Z')."}}))
    if abs(parse_timestamp(call.timestamp) - st.clock.wall()) > TIMESTAMP_WINDOW:
        raise SnapError(401, "00", reason="Invalid Timestamp",
                        extra={"_sandbox": {"serverTime": format_timestamp(st.clock.wall()),
                                            "hint": "X-TIMESTAMP must be within 5 minutes of OVO's clock."}})


def signature(st: State, call: Call) -> None:
    """5. X-SIGNATURE is the partner's, over the string-to-sign of the endpoint's kind."""
    kind = call.api.signature
    if call.dialect == "aspi" and call.api.name == "account_binding":
        kind = SignatureKind.SYMMETRIC  # the devsite signs every non-token call symmetrically
    assert call.forms is not None
    form = verify_signature(kind, call.client, call.request, call.timestamp, call.forms,
                            signed_token(call.request.header("Authorization")))
    if form:
        call.headers["X-Sandbox-Body-Hash-Form"] = form
        if form != "minified":
            call.warnings.append(f"The signature hashes the body as {form!r}; SNAP hashes minify(body).")


PRE_STATE_STEPS: tuple[Step, ...] = (parse_body, signature_headers, client, timestamp, signature)
"""Steps 1-5: they only read the state, so they run before the state lock is taken."""


def external_id(st: State, call: Call) -> None:
    """6. X-EXTERNAL-ID (SNAP transactional calls): at most 36 digits, unused by this partner today."""
    if not call.api.is_snap or call.api.signature is SignatureKind.ASYMMETRIC_TOKEN:
        return
    value = required_header(call.request, "X-EXTERNAL-ID")
    if len(value) > 36 or not value.isdigit():
        raise SnapError(400, "01", field="X-EXTERNAL-ID")
    day = st.now().strftime("%Y-%m-%d")
    if st.store.one("SELECT 1 FROM external_ids WHERE client_id = ? AND day = ? AND external_id = ?",
                    call.client_id, day, value):
        raise SnapError(409, "00", extra={"_sandbox": {
            "hint": "This X-EXTERNAL-ID was already used today; send a new one on every call, retries included."}})
    st.store.run("INSERT INTO external_ids VALUES (?, ?, ?)", call.client_id, day, value)
    call.external = (call.client_id, day, value)


IN_STATE_STEPS: tuple[Step, ...] = (external_id,)
"""Steps that write the state: inside the request's transaction."""


# ----------------------------------------------------------------------------- helpers for handlers


def required_header(request: SandboxRequest, name: str) -> str:
    value = request.header(name)
    if not value or not value.strip():
        raise SnapError(400, "02", field=name)
    return value.strip()


def signed_token(value: str | None) -> str:
    """The token a symmetric signature covers: the Authorization value without its ``Bearer ``."""
    text = (value or "").strip()
    return text[7:].strip() if text.lower().startswith("bearer ") else text


def bearer(call: Call, header: str, *, b2b: bool) -> str:
    """The token of ``<header>: Bearer <token>``; '' when absent, 401 when not in that form."""
    value = (call.request.header(header) or "").strip()
    if not value:
        return ""
    scheme, _, token = value.partition(" ")
    if scheme != "Bearer" or not token.strip():
        raise SnapError(401, "01" if b2b else "02", extra={"_sandbox": {
            "hint": f"{header} must be 'Bearer <token>' (the word Bearer, one space, the token)."}})
    return token.strip()


def b2b_token(st: State, call: Call, header: str = "Authorization") -> TokenInfo:
    """7. The partner's B2B token."""
    return st.check_token(bearer(call, header, b2b=True), call.client_id, ("b2b",), b2b=True)


def customer_token(st: State, call: Call, kinds: Iterable[str]) -> TokenInfo:
    """7. The customer token: in Authorization (OVO) or Authorization-Customer (ASPI, after the B2B token)."""
    if call.dialect == "aspi":
        b2b_token(st, call)
        return st.check_token(bearer(call, "Authorization-Customer", b2b=False), call.client_id, kinds, b2b=False)
    return st.check_token(bearer(call, "Authorization", b2b=False), call.client_id, kinds, b2b=False)


def device_headers(call: Call, *, transactional: bool) -> None:
    """8. X-DEVICE-ID (at most 400) and, on transactional calls, CHANNEL-ID (at most 5)."""
    device = required_header(call.request, "X-DEVICE-ID")
    if len(device) > 400:
        raise SnapError(400, "01", field="X-DEVICE-ID")
    if transactional and REQUIRE_CHANNEL_ID:
        channel = required_header(call.request, "CHANNEL-ID")
        if len(channel) > 5:
            raise SnapError(400, "01", field="CHANNEL-ID")


def text_field(body: dict[str, Any], name: str, *, max_len: int = 64, required: bool = True) -> str | None:
    """8. A string field: 400xx02 when missing, 400xx01 when not a string or too long."""
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise SnapError(400, "02", field=name)
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise SnapError(400, "01", field=name)
    return value


def money_field(body: dict[str, Any], name: str) -> Decimal:
    """8. A money object ``{"value": "10000.00", "currency": "IDR"}``, positive."""
    if name not in body or body[name] in (None, ""):
        raise SnapError(400, "02", field=name)
    try:
        amount = parse_money(body[name], name)
    except ValidationError as exc:
        raise SnapError(400, "01", field=name, extra={"_sandbox": {"hint": str(exc)}}) from None
    if amount <= 0:
        raise SnapError(404, "13", extra={"_sandbox": {"hint": f"{name} must be positive."}})
    return amount


def merchant(call: Call, *, required: bool = True) -> str:
    """8. merchantId, when given, is the partner's."""
    value = text_field(call.body, "merchantId", required=required) or call.client["merchant_id"]
    if value != call.client["merchant_id"]:
        raise SnapError(404, "08", extra={"_sandbox": {"hint": f"merchantId must be {call.client['merchant_id']}."}})
    return str(value)


def _client_header(call: Call) -> str:
    if call.api.signature is SignatureKind.ASYMMETRIC_TOKEN:
        return "X-CLIENT-KEY"
    if not call.api.is_snap and not call.request.header("X-PARTNER-ID") and call.request.header("X-CLIENT-KEY"):
        return "X-CLIENT-KEY"  # non-SNAP APIs: either header names the partner
    return "X-PARTNER-ID"


def _ip_allowed(ip: str, whitelist: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in whitelist)
