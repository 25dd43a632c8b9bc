"""The sandbox core: a faithful local OVO behind one ``handle(request)`` method.

Every way in (the in-process httpx transport, the loopback HTTP server) hands a
:class:`SandboxRequest` to :meth:`Sandbox.handle` and gets a :class:`SandboxResponse`
back. Nothing from the client is trusted: headers, timestamps, signatures, external
ids, tokens, fields and business rules are checked in the order SNAP_SPEC gives.
"""

from __future__ import annotations

import base64
import csv
import functools
import hashlib
import hmac
import io
import json
import secrets
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from .. import signing
from ..errors import ValidationError
from ..snap import ENDPOINTS as _ENDPOINT
from ..snap import (
    JAKARTA,
    TIMESTAMP_WINDOW,
    Endpoint,
    SignatureKind,
    format_amount,
    format_timestamp,
    mask_phone,
    match_endpoint,
    money,
    normalize_phone,
    parse_amount,
    parse_money,
    parse_timestamp,
)
from . import webview as pages
from ._types import (
    ACCESS_TOKEN_LIFETIME,
    AUTH_CODE_LIFETIME,
    B2B_TOKEN_LIFETIME,
    FAULT_KINDS,
    LINKAGE_TOKEN_LIFETIME,
    LOOKUP_VALIDITY,
    OTP_BLOCK,
    OTP_MAX_FAILURES,
    OTP_MAX_GENERATIONS,
    PIN_BLOCK,
    PIN_BLOCK_AFTER,
    PIN_LOCK_AFTER,
    REQUIRE_CHANNEL_ID,
    SIGNATURE_FAILED,
    SINGLE_USE_TOKEN_LIFETIME,
    TRANSACTION_LIMIT,
    WEBVIEW_LIFETIME,
    SandboxClock,
    SandboxRequest,
    SandboxResponse,
    SnapError,
)
from .store import Store

WEBVIEW_PATH = "/cellblockui/partner/activation"
ADMIN_PREFIX = "/_sandbox"
STATUS_DESC = {
    "00": "Success", "01": "Initiated", "02": "Paying", "03": "Pending", "04": "Refunded",
    "05": "Canceled", "06": "Failed", "07": "Not Found",
}
PENDING = ("01", "02")
CUSTOMER_KINDS = ("access", "single_use", "linkage", "unbind_linkage")


Body = dict[str, Any]
Row = sqlite3.Row
Answer = tuple[int, dict[str, Any]]
"""A handler's result: HTTP status and the JSON body."""


def _now_text(moment: datetime) -> str:
    return moment.astimezone(JAKARTA).isoformat(timespec="milliseconds")


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _canonical_hash(body: dict[str, Any]) -> str:
    """Same request = same JSON content, whatever its spacing or key order."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class TokenInfo:
    """A token the request carried, once validated."""

    token: str
    kind: str
    phone: str | None
    binding_id: int | None
    payment_id: int | None
    used_at: str | None


@dataclass(frozen=True)
class WebviewOutcome:
    """The result of one OTP/PIN entry in the webview."""

    ok: bool
    message: str
    attempts_left: int
    callback_url: str | None = None
    response: dict[str, Any] | None = None


class Sandbox:
    """A local OVO: partners, customers, tokens, payments and every SNAP rule."""

    def __init__(self, store: Store | None = None, clock: SandboxClock | None = None) -> None:
        self.store = store or Store()
        self.clock = clock or SandboxClock()
        offset = self.store.meta("clock_offset_seconds")
        if offset is not None:  # an advanced clock stays advanced across restarts
            self.clock = SandboxClock(self.clock.base, timedelta(seconds=float(offset)))
        key = self.store.meta("token_key")
        if key is None:
            key = secrets.token_hex(32)
            self.store.set_meta("token_key", key)
        self._token_key = bytes.fromhex(key)

    # ================================================================= entry point

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request; never raises, never answers with a traceback."""
        try:
            if request.path == ADMIN_PREFIX or request.path.startswith(ADMIN_PREFIX + "/"):
                from .admin import handle_admin

                return handle_admin(self, request)
            if request.path == WEBVIEW_PATH:
                return self._webview_http(request)
            if request.path == "/favicon.ico":  # browsers ask for it on every page
                return SandboxResponse(204, b"")
            api = match_endpoint(request.path)
            if api is None:
                return self._json(404, {"responseCode": "4040002", "responseMessage": "Invalid Routing",
                                        "_sandbox": {"hint": f"No OVO API at {request.path}."}})
            if request.method != api.method:
                return self._json(405, {"responseCode": "4050000",
                                        "responseMessage": "Requested Function Is Not Supported",
                                        "_sandbox": {"hint": f"{api.name} takes {api.method}."}})
            return self._api(request, api)
        except Exception as exc:  # a sandbox bug must still answer like OVO would
            return self._json(500, {"responseCode": "5000001", "responseMessage": "Internal Server Error",
                                    "_sandbox": {"bug": f"{type(exc).__name__}: {exc}"}})

    def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> SandboxResponse:
        return SandboxResponse(
            status,
            json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
            {"Content-Type": "application/json", "X-TIMESTAMP": format_timestamp(self.clock.now()),
             **(headers or {})},
        )

    # ================================================================= the SNAP pipeline

    def _api(self, request: SandboxRequest, api: Endpoint) -> SandboxResponse:
        dialect = "aspi" if request.path.startswith("/api/") else "ovo"
        service = api.service_code or "00"
        fault = self._take_fault(api.name)
        if fault and fault[0] in ("timeout_before", "drop_before"):
            return SandboxResponse(504, b"", fault=fault[0], fault_delay=fault[1])
        if fault and fault[0] == "error_500":
            return self._json(500, {"responseCode": f"500{service}00", "responseMessage": "General Error"})
        extra_headers: dict[str, str] = {}
        external: tuple[str, str, str] | None = None
        try:
            with self.store.transaction():
                body, external, partner = self._checked(request, api, dialect, extra_headers)
                handler: Callable[..., Answer] = getattr(self, f"_api_{api.name}")
                status, payload = handler(request, body, dialect, partner)
            response = self._json(status, payload, extra_headers)
        except SnapError as error:
            error_service = service
            if dialect == "ovo" and api.name == "account_unbinding" and error.http_status == 401 and error.case == "00":
                error_service = "07"  # OVO's gateway answers account-endpoint auth failures with 07 (FAQ)
            payload = error.body(error_service)
            response = self._json(error.http_status, payload, extra_headers)
            if external is not None:
                with self.store.transaction():
                    self.store.run("INSERT OR IGNORE INTO external_ids VALUES (?, ?, ?)", *external)
        if response.status >= 500 and external is not None:  # a retry may reuse the X-EXTERNAL-ID
            self.store.run("DELETE FROM external_ids WHERE client_id = ? AND day = ? AND external_id = ?", *external)
        if fault:
            response.fault, response.fault_delay = fault
        return response

    def _checked(
        self, request: SandboxRequest, api: Endpoint, dialect: str, extra_headers: dict[str, str]
    ) -> tuple[Body, tuple[str, str, str] | None, Row]:
        """Steps 1-6 of the validation order; returns the body, the X-EXTERNAL-ID kept, the partner."""
        body = self._parse_body(request, api)
        token_api = api.signature is SignatureKind.ASYMMETRIC_TOKEN
        client_header = "X-CLIENT-KEY" if token_api else "X-PARTNER-ID"
        if not api.is_snap and not request.header("X-PARTNER-ID") and request.header("X-CLIENT-KEY"):
            client_header = "X-CLIENT-KEY"  # non-SNAP APIs: either header names the partner
        timestamp = self._required_header(request, "X-TIMESTAMP")
        try:
            parse_timestamp(timestamp)
        except ValidationError:
            raise SnapError(400, "01", field="X-TIMESTAMP") from None
        signature = self._required_header(request, "X-SIGNATURE")
        client_id = self._required_header(request, client_header)
        partner = self.store.one("SELECT * FROM partners WHERE client_id = ?", client_id)
        if partner is None:
            raise SnapError(401, "00", reason="Unknown Client")
        if partner["production"] and not _ip_allowed(request.client_ip, json.loads(partner["ip_whitelist"])):
            raise SnapError(401, "00", reason="IP Not Whitelisted")
        if abs(parse_timestamp(timestamp) - self.clock.wall()) > TIMESTAMP_WINDOW:
            raise SnapError(401, "00", reason="Invalid Timestamp",
                            extra={"_sandbox": {"serverTime": format_timestamp(self.clock.wall()),
                                                "hint": "X-TIMESTAMP must be within 5 minutes of OVO's clock."}})
        kind = SignatureKind.SYMMETRIC if dialect == "aspi" and api.name == "account_binding" else api.signature
        token = _bearer(request.header("Authorization"))
        form = self._verify_signature(kind, partner, request, timestamp, signature, token)
        if form:
            extra_headers["X-Sandbox-Body-Hash-Form"] = form
        external = None
        if api.is_snap and not token_api:
            external = self._external_id(request, client_id)
        return body, external, partner

    def _parse_body(self, request: SandboxRequest, api: Endpoint) -> dict[str, Any]:
        if api.method == "GET" or not request.body.strip():
            if api.method == "POST" and api.is_snap:
                raise SnapError(400, "00", message="Bad Request", extra={"_sandbox": {"hint": "The body is empty."}})
            return {}
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise SnapError(400, "00", extra={"_sandbox": {"hint": "The body is not valid JSON."}}) from None
        if not isinstance(body, dict):
            raise SnapError(400, "00", extra={"_sandbox": {"hint": "The body must be a JSON object."}})
        return body

    def _required_header(self, request: SandboxRequest, name: str) -> str:
        value = request.header(name)
        if not value or not value.strip():
            raise SnapError(400, "02", field=name)
        return value.strip()

    def _external_id(self, request: SandboxRequest, client_id: str) -> tuple[str, str, str]:
        external_id = self._required_header(request, "X-EXTERNAL-ID")
        if len(external_id) > 36 or not external_id.isdigit():
            raise SnapError(400, "01", field="X-EXTERNAL-ID")
        day = self.clock.now().strftime("%Y-%m-%d")
        if self.store.one("SELECT 1 FROM external_ids WHERE client_id = ? AND day = ? AND external_id = ?",
                          client_id, day, external_id):
            raise SnapError(409, "00", extra={"_sandbox": {
                "hint": "This X-EXTERNAL-ID was already used today; send a new one on every call, retries included."}})
        self.store.run("INSERT INTO external_ids VALUES (?, ?, ?)", client_id, day, external_id)
        return client_id, day, external_id

    # ----------------------------------------------------------------- signatures

    def _verify_signature(
        self, kind: SignatureKind, partner: sqlite3.Row, request: SandboxRequest, timestamp: str, signature: str,
        token: str,
    ) -> str | None:
        """Check X-SIGNATURE; returns which body form matched, or raises with an explanation."""
        client_id, secret = partner["client_id"], partner["client_secret"]
        path = request.raw_path
        if kind is SignatureKind.ASYMMETRIC_TOKEN:
            expected = signing.token_string_to_sign(client_id, timestamp)
            if signing.verify_rsa_sha256(self._public_key(partner), expected, signature):
                return None
            raise self._signature_error(kind, partner, request, timestamp, signature, token, expected)
        if kind is SignatureKind.OVO:
            expected = signing.ovo_string_to_sign(client_id, timestamp, path)
            if signing.verify_hmac_sha256(secret, expected, signature):
                return None
            raise self._signature_error(kind, partner, request, timestamp, signature, token, expected)
        variants = signing.body_hash_variants(request.body)
        if partner["strict_body_hash"]:
            variants = {"minified": variants["minified"]}
        for form, digest in variants.items():
            if self._signature_matches(kind, partner, request.method, path, token, digest, timestamp, signature):
                return form
        expected = self._string_to_sign(kind, request.method, path, token, variants["minified"], timestamp)
        raise self._signature_error(kind, partner, request, timestamp, signature, token, expected)

    def _public_key(self, partner: sqlite3.Row) -> rsa.RSAPublicKey:
        return _load_public_key(partner["public_key_pem"])

    @staticmethod
    def _string_to_sign(kind: SignatureKind, method: str, path: str, token: str, digest: str, timestamp: str) -> str:
        if kind is SignatureKind.ASYMMETRIC_REQUEST:
            return f"{method}:{path}:{digest}:{timestamp}"
        return f"{method}:{path}:{token}:{digest}:{timestamp}"

    def _signature_matches(
        self, kind: SignatureKind, partner: sqlite3.Row, method: str, path: str, token: str, digest: str,
        timestamp: str, signature: str,
    ) -> bool:
        text = self._string_to_sign(kind, method, path, token, digest, timestamp)
        if kind is SignatureKind.ASYMMETRIC_REQUEST:
            return signing.verify_rsa_sha256(self._public_key(partner), text, signature)
        return signing.verify_hmac_sha512(partner["client_secret"], text, signature)

    def _signature_error(
        self, kind: SignatureKind, partner: sqlite3.Row, request: SandboxRequest, timestamp: str, signature: str,
        token: str, expected: str,
    ) -> SnapError:
        """401 "Signature Failed", with a sandbox-only account of what the server signed and what differed."""
        shown = expected.replace(token, "{token}") if token else expected
        explain: dict[str, Any] = {"signatureKind": kind.value, "stringToSign": shown}
        if token and token in expected:
            explain["token"] = "{token} is the bearer token you sent, sha256 " + hashlib.sha256(
                token.encode()).hexdigest()[:12]
        if kind in (SignatureKind.SYMMETRIC, SignatureKind.ASYMMETRIC_REQUEST):
            explain["bodyHash"] = signing.body_hash(request.body)
        explain.update(self._diagnose(kind, partner, request, timestamp, signature, token))
        return SnapError(401, "00", reason=SIGNATURE_FAILED, extra={"_sandbox": explain})

    def _diagnose(
        self, kind: SignatureKind, partner: sqlite3.Row, request: SandboxRequest, timestamp: str, signature: str,
        token: str,
    ) -> dict[str, str]:
        """Try the usual client mistakes; name the first one that reproduces the signature."""
        public = self._public_key(partner)
        secret, client_id, method = partner["client_secret"], partner["client_id"], request.method
        digest = signing.body_hash(request.body)
        raw_digest = hashlib.sha256(request.body).hexdigest()

        def rsa_ok(text: str, sig: str = signature) -> bool:
            return signing.verify_rsa_sha256(public, text, sig)

        def hmac_ok(text: str, sig: str = signature) -> bool:
            return signing.verify_hmac_sha512(secret, text, sig)

        def signed(text: str, sig: str = signature) -> bool:
            if kind in (SignatureKind.ASYMMETRIC_TOKEN, SignatureKind.ASYMMETRIC_REQUEST):
                return rsa_ok(text, sig)
            if kind is SignatureKind.OVO:
                return signing.verify_hmac_sha256(secret, text, sig)
            return hmac_ok(text, sig)

        def sts(path: str = request.raw_path, tok: str = token, dig: str = digest) -> str:
            if kind is SignatureKind.ASYMMETRIC_TOKEN:
                return f"{client_id}|{timestamp}"
            if kind is SignatureKind.OVO:
                return f"{client_id}:{timestamp}:{path}"
            return self._string_to_sign(kind, method, path, tok, dig, timestamp)

        other_version = request.path.replace("/v2.0/", "/v1.0/") if "/v2.0/" in request.path else (
            request.path.replace("/v1.0/", "/v2.0/"))
        host = request.header("Host") or urlsplit(request.base_url).netloc
        candidates: list[tuple[str, str, Callable[[], bool]]] = [
            ("encoding", "X-SIGNATURE uses the URL-safe Base64 alphabet; use the standard one (+ and /).",
             lambda: signed(sts(), signature.replace("-", "+").replace("_", "/"))),
            ("path", f"You signed the other API version's path ({other_version}); sign the path you call.",
             lambda: signed(sts(other_version + (f"?{request.query}" if request.query else "")))),
            ("path", "You signed the full URL with scheme and host; sign the path only.",
             lambda: any(signed(sts(f"{scheme}://{host}{request.raw_path}")) for scheme in ("https", "http"))),
            ("path", "You signed the path without its leading '/'.", lambda: signed(sts(request.raw_path[1:]))),
            ("path", "You signed the path without its query string; sign it as sent.",
             lambda: bool(request.query) and signed(sts(request.path))),
            ("token", "You signed 'Bearer <token>'; sign the bare token.",
             lambda: bool(token) and signed(sts(tok=f"Bearer {token}"))),
            ("token", "You signed with an empty token; sign the token you send in Authorization.",
             lambda: bool(token) and signed(sts(tok=""))),
            ("body", "You hashed the body exactly as sent, but this partner is in strict mode: hash the "
                     "minified body.", lambda: signed(sts(dig=raw_digest))),
            ("body", "You used the FAQ's typo form (no ':' between path and body hash); put the colon in.",
             lambda: kind is SignatureKind.ASYMMETRIC_REQUEST
             and rsa_ok(f"{method}:{request.raw_path}{digest}:{timestamp}")),
            ("algorithm", "This endpoint takes an RSA SHA256withRSA signature with your private key; you sent "
                          "an HMAC with the client secret.",
             lambda: kind is not SignatureKind.SYMMETRIC and hmac_ok(sts())),
            ("algorithm", "This endpoint takes HMAC-SHA512 keyed with the client secret; you signed with your "
                          "private key.", lambda: kind is SignatureKind.SYMMETRIC and rsa_ok(sts())),
            ("timestamp", "You signed a different X-TIMESTAMP than the one in the header; format it once.",
             lambda: False),
        ]
        for part, hint, check in candidates:
            try:
                if check():
                    return {"mismatch": part, "hint": hint}
            except (ValidationError, ValueError):
                continue
        return {"mismatch": "unknown", "hint": "No common mistake reproduces this signature. Check the key or "
                "client secret, that you hash the exact body bytes you send, the token, and the timestamp."}

    # ----------------------------------------------------------------- tokens

    def _issue_token(
        self, kind: str, client_id: str, lifetime: timedelta | None, *, phone: str | None = None,
        binding_id: int | None = None, payment_id: int | None = None,
    ) -> tuple[str, datetime | None]:
        header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
        payload = _b64url(json.dumps({"codehash": _b64url(secrets.token_hex(16).encode()),
                                      "random": _b64url(str(secrets.randbelow(10**7)).encode()),
                                      "version": 1}, separators=(",", ":")).encode())
        mac = hmac.new(self._token_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        token = f"{header}.{payload}.{_b64url(mac)}"
        now = self.clock.now()
        expires = now + lifetime if lifetime else None
        self.store.run(
            "INSERT INTO tokens (token, kind, client_id, phone, binding_id, payment_id, issued_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            token, kind, client_id, phone, binding_id, payment_id, _now_text(now),
            _now_text(expires) if expires else None,
        )
        self.store.record(_now_text(now), "token", token[-12:], "issued", kind=kind, phone=phone, binding=binding_id)
        return token, expires

    def _token(self, token: str | None, client_id: str, kinds: Iterable[str], *, b2b: bool) -> TokenInfo:
        """Validate a bearer token; 401xx03/04 when missing, 401xx01/02 when invalid."""
        missing, invalid = ("03", "01") if b2b else ("04", "02")
        if not token:
            raise SnapError(401, missing)
        row = self.store.one("SELECT * FROM tokens WHERE token = ?", token)
        kinds = tuple(kinds)
        problem = None
        if row is None:
            problem = "unknown token"
        elif row["client_id"] != client_id:
            problem = "token issued to another partner"
        elif row["kind"] not in kinds:
            problem = f"a {row['kind']} token where {' or '.join(kinds)} is needed"
        elif row["revoked_at"]:
            problem = f"token revoked ({row['revoked_reason']})"
        elif row["expires_at"] and self.clock.now() >= datetime.fromisoformat(row["expires_at"]):
            problem = "token expired"
        if problem or row is None:
            raise SnapError(401, invalid, extra={"_sandbox": {"hint": problem}})
        return TokenInfo(token, row["kind"], row["phone"], row["binding_id"], row["payment_id"], row["used_at"])

    def _revoke(self, where: str, args: tuple[Any, ...], reason: str) -> None:
        self.store.run(f"UPDATE tokens SET revoked_at = ?, revoked_reason = ? WHERE revoked_at IS NULL AND {where}",
                       _now_text(self.clock.now()), reason, *args)

    def _customer_token(self, request: SandboxRequest, client_id: str, dialect: str, kinds: Iterable[str]) -> TokenInfo:
        """The customer token: in Authorization (OVO) or Authorization-Customer (ASPI, after the B2B token)."""
        if dialect == "aspi":
            self._token(_bearer(request.header("Authorization")), client_id, ("b2b",), b2b=True)
            return self._token(_bearer(request.header("Authorization-Customer")), client_id, kinds, b2b=False)
        return self._token(_bearer(request.header("Authorization")), client_id, kinds, b2b=False)

    def _device_headers(self, request: SandboxRequest, transactional: bool) -> None:
        device = self._required_header(request, "X-DEVICE-ID")
        if len(device) > 400:
            raise SnapError(400, "01", field="X-DEVICE-ID")
        if transactional and REQUIRE_CHANNEL_ID:
            channel = self._required_header(request, "CHANNEL-ID")
            if len(channel) > 5:
                raise SnapError(400, "01", field="CHANNEL-ID")

    # ----------------------------------------------------------------- field helpers

    @staticmethod
    def _field(body: dict[str, Any], name: str, *, max_len: int = 64, required: bool = True) -> str | None:
        value = body.get(name)
        if value is None or value == "":
            if required:
                raise SnapError(400, "02", field=name)
            return None
        if not isinstance(value, str) or len(value) > max_len:
            raise SnapError(400, "01", field=name)
        return value

    @staticmethod
    def _money(body: dict[str, Any], name: str) -> Decimal:
        if name not in body or body[name] in (None, ""):
            raise SnapError(400, "02", field=name)
        try:
            amount = parse_money(body[name], name)
        except ValidationError as exc:
            raise SnapError(400, "01", field=name, extra={"_sandbox": {"hint": str(exc)}}) from None
        if amount <= 0:
            raise SnapError(404, "13", extra={"_sandbox": {"hint": f"{name} must be positive."}})
        return amount

    def _check_merchant(self, body: dict[str, Any], partner: sqlite3.Row, *, required: bool = True) -> str:
        merchant = self._field(body, "merchantId", required=required) or partner["merchant_id"]
        if merchant != partner["merchant_id"]:
            raise SnapError(404, "08", extra={"_sandbox": {"hint": f"merchantId must be {partner['merchant_id']}."}})
        return merchant

    # ================================================================= token endpoints

    def _api_b2b_token(self, request: SandboxRequest, body: Body, dialect: str, partner: Row) -> Answer:
        grant = self._field(body, "grantType")
        if str(grant).lower() != "client_credentials":
            raise SnapError(400, "01", field="grantType")
        token, _ = self._issue_token("b2b", partner["client_id"], B2B_TOKEN_LIFETIME)
        return 200, {"responseCode": "2007300", "responseMessage": "Successful", "accessToken": token,
                     "tokenType": "Bearer", "expiresIn": str(int(B2B_TOKEN_LIFETIME.total_seconds())),
                     "additionalInfo": {}}

    def _api_b2b2c_token(self, request: SandboxRequest, body: Body, dialect: str, partner: Row) -> Answer:
        client_id = partner["client_id"]
        grant = str(self._field(body, "grantType")).upper()
        now = self.clock.now()
        if grant == "AUTHORIZATION_CODE":
            linkage = self._token(_bearer(request.header("Authorization")), client_id, ("linkage",), b2b=False)
            code = self._field(body, "authCode", max_len=256)
            row = self.store.one("SELECT * FROM auth_codes WHERE code = ? AND kind = 'binding'", code)
            if (row is None or row["binding_id"] != linkage.binding_id or row["used_at"]
                    or now >= datetime.fromisoformat(row["expires_at"])):
                raise SnapError(401, "00", reason="Invalid Auth Code",
                                extra={"_sandbox": {"hint": "Use the authCode the binding webview returned, once."}})
            self.store.run("UPDATE auth_codes SET used_at = ? WHERE code = ?", _now_text(now), code)
            self._revoke("token = ?", (linkage.token,), "exchanged for an access token")
            binding_id, phone = linkage.binding_id, linkage.phone
            self.store.run("UPDATE bindings SET status = 'ACTIVE', activated_at = ? WHERE id = ?",
                           _now_text(now), binding_id)
            self.store.record(_now_text(now), "binding", str(binding_id), "activated")
            refresh, _ = self._issue_token("refresh", client_id, None, phone=phone, binding_id=binding_id)
        elif grant == "REFRESH_TOKEN":
            refresh = str(self._field(body, "refreshToken", max_len=512))
            info = self._token(refresh, client_id, ("refresh",), b2b=False)
            binding_id, phone = info.binding_id, info.phone
        else:
            raise SnapError(400, "01", field="grantType")
        access, expires = self._issue_token("access", client_id, ACCESS_TOKEN_LIFETIME, phone=phone,
                                            binding_id=binding_id)
        customer = self.store.one("SELECT ilp FROM customers WHERE phone = ?", phone)
        assert expires is not None
        return 200, {
            "responseCode": "2007400", "responseMessage": "Successful", "tokenType": "Bearer",
            "accessToken": access, "accessTokenExpiryTime": expires.isoformat(timespec="seconds"),
            "refreshToken": refresh, "refreshTokenExpiryTime": "",
            "additionalInfo": {"ilp": customer["ilp"] if customer else ""},
        }

    # ================================================================= non-SNAP

    def _api_lookup(self, request: SandboxRequest, body: Body, dialect: str, partner: Row) -> Answer:
        phones = parse_qs(request.query).get("phone", [""])
        try:
            phone = normalize_phone(phones[0])
        except ValidationError as exc:
            raise SnapError(400, "01", field="phone", extra={"_sandbox": {"hint": str(exc)}}) from None
        now = self.clock.now()
        self.store.run("INSERT INTO lookups VALUES (?, ?, ?)", partner["client_id"], phone, _now_text(now))
        customer = self.store.one("SELECT * FROM customers WHERE phone = ?", phone)
        if customer is None or not customer["registered"]:
            status, message = "CAN_REGISTER", "Ask the customer to register in the OVO app first."
        elif customer["status"] == "CLOSED":
            status, message = "CLOSED", "This OVO account is closed."
        elif customer["pin_locked"]:
            status, message = "BLOCKED_MSISDN", "This OVO account is blocked."
        elif self._active_binding(partner["client_id"], phone):
            status, message = "LINKED", "Already linked to this partner."
        else:
            status, message = "ACTIVE", "Eligible for linkage."
        return 200, {"responseCode": "2000000", "responseMessage": "Successful",
                     "phoneNumber": mask_phone(phone), "accountStatus": status, "message": message}

    def _api_generate_token(self, request: SandboxRequest, body: Body, dialect: str, partner: Row) -> Answer:
        query = parse_qs(request.query)
        if query.get("grantType", [""])[0].lower() != "authorization_code":
            raise SnapError(400, "01", field="grantType")
        code = query.get("code", [""])[0]
        if not code:
            raise SnapError(400, "02", field="code")
        now = self.clock.now()
        row = self.store.one("SELECT * FROM auth_codes WHERE code = ? AND kind = 'payment' AND client_id = ?",
                             code, partner["client_id"])
        if row is None or row["used_at"] or now >= datetime.fromisoformat(row["expires_at"]):
            raise SnapError(401, "00", reason="Invalid Auth Code",
                            extra={"_sandbox": {"hint": "Use the authCode the payment PIN webview returned, once."}})
        self.store.run("UPDATE auth_codes SET used_at = ? WHERE code = ?", _now_text(now), code)
        token, _ = self._issue_token("single_use", partner["client_id"], SINGLE_USE_TOKEN_LIFETIME,
                                     phone=row["phone"], binding_id=row["binding_id"], payment_id=row["payment_id"])
        return 200, {"responseCode": "2000000", "responseMessage": "Successful", "singleUseToken": token,
                     "tokenType": "Bearer", "expiresIn": str(int(SINGLE_USE_TOKEN_LIFETIME.total_seconds()))}

    def _api_topup_options(self, request: SandboxRequest, body: Body, dialect: str, partner: Row) -> Answer:
        options = [{"channel": c, "instruction": f"Top up OVO Cash through {c} with your OVO phone number."}
                   for c in ("ATM", "Mobile Banking", "Internet Banking", "Minimarket")]
        return 200, {"responseCode": "2000000", "responseMessage": "Successful", "options": options}

    # ================================================================= binding and unbinding

    def _active_binding(self, client_id: str, phone: str) -> sqlite3.Row | None:
        return self.store.one("SELECT * FROM bindings WHERE client_id = ? AND phone = ? AND status = 'ACTIVE'",
                              client_id, phone)

    def _customer(self, phone: str | None) -> sqlite3.Row:
        row = self.store.one("SELECT * FROM customers WHERE phone = ?", phone)
        if row is None or not row["registered"]:
            raise SnapError(404, "11", reason="")
        return row

    def _api_account_binding(self, request: SandboxRequest, body: Body, dialect: str, partner: Row) -> Answer:
        client_id = partner["client_id"]
        if dialect == "aspi":
            self._token(_bearer(request.header("Authorization")), client_id, ("b2b",), b2b=True)
        self._device_headers(request, transactional=False)
        raw_phone = self._field(body, "phoneNo", max_len=16)
        try:
            phone = normalize_phone(str(raw_phone))
        except ValidationError as exc:
            raise SnapError(400, "01", field="phoneNo", extra={"_sandbox": {"hint": str(exc)}}) from None
        self._check_merchant(body, partner, required=dialect == "aspi")
        self._field(body, "partnerReferenceNo", required=False)
        info = body.get("additionalInfo") or {}
        partner_customer = str(info.get("partnerCustomerId") or "") if isinstance(info, dict) else ""
        now = self.clock.now()
        customer = self._customer(phone)
        if customer["status"] != "ACTIVE":
            raise SnapError(403, "18")
        if dialect == "ovo" and not self.store.one(
            "SELECT 1 FROM lookups WHERE client_id = ? AND phone = ? AND at >= ?",
            client_id, phone, _now_text(now - LOOKUP_VALIDITY),
        ):
            raise SnapError(403, "01", reason="Lookup Required", extra={"_sandbox": {
                "hint": "Call the lookup API for this phone before binding (OVO rule)."}})
        if self._active_binding(client_id, phone):
            raise SnapError(403, "01", reason="Account Already Linked",
                            extra={"_sandbox": {"hint": "One OVO account per partner account: unbind first."}})
        if partner_customer and self.store.one(
            "SELECT 1 FROM bindings WHERE client_id = ? AND partner_customer_id = ? AND status = 'ACTIVE'",
            client_id, partner_customer,
        ):
            raise SnapError(403, "01", reason="Partner Account Already Linked",
                            extra={"_sandbox": {"hint": "This partner account is linked to another OVO account."}})
        self._otp_generation(customer, now)
        binding_id = self.store.run(
            "INSERT INTO bindings (client_id, phone, partner_customer_id, status, created_at)"
            " VALUES (?, ?, ?, 'PENDING', ?)", client_id, phone, partner_customer or None, _now_text(now))
        self.store.record(_now_text(now), "binding", binding_id, "requested", phone=mask_phone(phone))
        linkage, _ = self._issue_token("linkage", client_id, LINKAGE_TOKEN_LIFETIME, phone=phone,
                                       binding_id=binding_id)
        ref_id = self._open_session("binding", client_id, phone, linkage, binding_id=binding_id)
        return 200, {
            "responseCode": "2000700", "responseMessage": "Success", "linkageToken": linkage,
            "redirectUrl": request.base_url + WEBVIEW_PATH,
            "additionalInfo": {"account": {"accountStatus": "ACTIVE"},
                               "qParams": {"action": "otpLinkage", "authType": "2FA", "client-id": client_id,
                                           "phoneNumber": mask_phone(phone), "refId": ref_id}},
        }

    def _otp_generation(self, customer: sqlite3.Row, now: datetime) -> None:
        """At most five OTPs per 30 minutes, and none while blocked."""
        blocked = _parse_time(customer["otp_blocked_until"])
        if blocked and now < blocked:
            raise SnapError(403, "11", extra={"_sandbox": {"blockedUntil": blocked.isoformat()}})
        window = _parse_time(customer["otp_window_start"])
        generations = customer["otp_generations"] if window and now - window < OTP_BLOCK else 0
        if generations >= OTP_MAX_GENERATIONS:
            until = now + OTP_BLOCK
            self.store.run("UPDATE customers SET otp_blocked_until = ?, otp_generations = 0 WHERE phone = ?",
                           _now_text(until), customer["phone"])
            raise SnapError(403, "11", extra={"_sandbox": {"blockedUntil": until.isoformat()}})
        self.store.run("UPDATE customers SET otp_generations = ?, otp_window_start = ? WHERE phone = ?",
                       generations + 1, customer["otp_window_start"] if generations else _now_text(now),
                       customer["phone"])

    def _api_account_unbinding(self, request: SandboxRequest, body: Body, dialect: str, partner: Row) -> Answer:
        client_id = partner["client_id"]
        second = bool(body.get("authCode")) and dialect == "ovo"
        kinds = ("unbind_linkage",) if second else ("access",)
        info = self._customer_token(request, client_id, dialect, kinds)
        self._device_headers(request, transactional=True)
        self._field(body, "partnerReferenceNo", required=dialect == "ovo")
        self._check_merchant(body, partner, required=dialect == "aspi")
        now = self.clock.now()
        if dialect == "ovo" and not second:
            token, _ = self._issue_token("unbind_linkage", client_id, LINKAGE_TOKEN_LIFETIME, phone=info.phone,
                                         binding_id=info.binding_id)
            assert info.phone is not None
            ref_id = self._open_session("unbinding", client_id, info.phone, token, binding_id=info.binding_id)
            return 200, {
                "responseCode": "2000900", "responseMessage": "Successful", "linkageToken": token,
                "redirectUrl": request.base_url + WEBVIEW_PATH,
                "additionalInfo": {"qParams": {"action": "otpUnlinkage", "authType": "2FA", "client-id": client_id,
                                               "phoneNumber": mask_phone(info.phone), "refId": ref_id}},
            }
        if second:
            code = str(body["authCode"])
            row = self.store.one("SELECT * FROM auth_codes WHERE code = ? AND kind = 'unbinding'", code)
            if row is None or row["binding_id"] != info.binding_id or row["used_at"] or now >= datetime.fromisoformat(
                    row["expires_at"]):
                raise SnapError(401, "00", reason="Invalid Auth Code",
                                extra={"_sandbox": {"hint": "Use the authCode the unbinding webview returned."}})
            self.store.run("UPDATE auth_codes SET used_at = ? WHERE code = ?", _now_text(now), code)
        self._unbind(info.binding_id, "unbound by the partner")
        return 200, {"responseCode": "2000900", "responseMessage": "Successful",
                     "partnerReferenceNo": body.get("partnerReferenceNo") or "",
                     "merchantId": partner["merchant_id"], "unlinkResult": "success"}

    def _unbind(self, binding_id: int | None, reason: str) -> None:
        now = _now_text(self.clock.now())
        self.store.run("UPDATE bindings SET status = 'UNBOUND', unbound_at = ? WHERE id = ? AND status != 'UNBOUND'",
                       now, binding_id)
        self._revoke("binding_id = ?", (binding_id,), reason)
        self.store.record(now, "binding", str(binding_id), "unbound", reason=reason)

    # ================================================================= balance

    def _api_balance_inquiry(self, request: SandboxRequest, body: Body, dialect: str, partner: Row) -> Answer:
        info = self._customer_token(request, partner["client_id"], dialect, ("access",))
        self._device_headers(request, transactional=True)
        self._field(body, "partnerReferenceNo", required=False)
        wanted = body.get("balanceTypes")
        if wanted is not None and (not isinstance(wanted, list) or any(w not in ("CASH", "POINTS") for w in wanted)):
            raise SnapError(400, "01", field="balanceTypes",
                            extra={"_sandbox": {"hint": "balanceTypes is a list of CASH and/or POINTS."}})
        customer = self._customer(info.phone)
        if customer["status"] != "ACTIVE":
            raise SnapError(403, "18")
        accounts = [
            {"balanceType": kind, "amount": money(customer[column]), "availableBalance": money(customer[column]),
             "status": "0001"}
            for kind, column in (("CASH", "cash"), ("POINTS", "points"))
            if wanted is None or not wanted or kind in wanted
        ]
        return 200, {"responseCode": "2001100", "responseMessage": "Successful",
                     "partnerReferenceNo": body.get("partnerReferenceNo") or "", "accountInfos": accounts}

    # ================================================================= direct debit

    def _api_debit_payment(self, request: SandboxRequest, body: Body, dialect: str, partner: Row) -> Answer:
        client_id = partner["client_id"]
        info = self._customer_token(request, client_id, dialect, ("access", "single_use"))
        self._device_headers(request, transactional=True)
        reference = str(self._field(body, "partnerReferenceNo"))
        merchant = self._check_merchant(body, partner, required=False)
        amount = self._money(body, "amount")
        pay_method = self._pay_method(body)
        recurring = _sub_transaction_type(body) == "AUTO"
        request_hash = _canonical_hash(body)
        now = self.clock.now()
        existing = self.store.one("SELECT * FROM payments WHERE client_id = ? AND partner_reference_no = ?",
                                  client_id, reference)
        if existing is not None:
            return self._debit_again(existing, info, request_hash, now)
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
        if recurring and not partner["recurring_allowed"]:
            raise SnapError(403, "01", reason="Recurring Not Approved",
                            extra={"_sandbox": {"hint": "subTransactionType AUTO needs OVO's approval."}})
        customer = self._customer(info.phone)
        if customer["status"] != "ACTIVE":
            raise SnapError(403, "18")
        reference_no = f"{now:%Y%m%d}{secrets.randbelow(10**12):012d}"
        payment_id = self.store.run(
            "INSERT INTO payments (client_id, partner_reference_no, reference_no, phone, binding_id, merchant_id,"
            " amount, pay_method, recurring, request_hash, status, status_desc, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '01', 'Initiated', ?, ?)",
            client_id, reference, reference_no, info.phone, info.binding_id, merchant, format_amount(amount),
            pay_method, int(recurring), request_hash, _now_text(now), _now_text(now + WEBVIEW_LIFETIME),
        )
        self.store.record(_now_text(now), "payment", reference, "initiated", amount=format_amount(amount))
        payment = self.store.one("SELECT * FROM payments WHERE id = ?", payment_id)
        assert payment is not None
        failure = self._debit_refusal(payment, customer, amount)
        if failure is not None:
            return self._fail_payment(payment, failure, now)
        if recurring or dialect == "aspi":  # PIN-less: completes in one call
            return self._complete_payment(payment, now)
        assert info.phone is not None
        ref_id = self._open_session("payment", client_id, info.phone, info.token, binding_id=info.binding_id,
                                    payment_id=payment_id)
        result = {
            "responseCode": "2025400", "responseMessage": "Transaction still on process",
            "referenceNo": reference_no, "partnerReferenceNo": reference,
            "redirectUrl": request.base_url + WEBVIEW_PATH,
            "additionalInfo": {"qParams": {"action": "pinPayment", "authType": "PIN", "client-id": client_id,
                                           "phoneNumber": mask_phone(info.phone), "refId": ref_id}},
        }
        self.store.run("UPDATE payments SET result_json = ? WHERE id = ?", json.dumps(result), payment_id)
        return 202, result

    def _pay_method(self, body: dict[str, Any]) -> str:
        options = body.get("payOptionDetails")
        if options is None:
            return "CASH"
        if (not isinstance(options, list) or len(options) != 1 or not isinstance(options[0], dict)
                or options[0].get("payMethod") not in ("CASH", "POINTS")):
            raise SnapError(400, "01", field="payOptionDetails",
                            extra={"_sandbox": {"hint": "One entry with payMethod CASH or POINTS."}})
        return str(options[0]["payMethod"])

    def _debit_refusal(self, payment: sqlite3.Row, customer: sqlite3.Row, amount: Decimal) -> SnapError | None:
        if amount > TRANSACTION_LIMIT:
            return SnapError(403, "02")
        column = "points" if payment["pay_method"] == "POINTS" else "cash"
        if Decimal(customer[column]) < amount:
            return SnapError(403, "14")
        return None

    def _fail_payment(self, payment: sqlite3.Row, error: SnapError, now: datetime) -> tuple[int, dict[str, Any]]:
        result = error.body("54")
        self.store.run("UPDATE payments SET status = '06', status_desc = ?, result_json = ? WHERE id = ?",
                       result["responseMessage"], json.dumps(result), payment["id"])
        self.store.record(_now_text(now), "payment", payment["partner_reference_no"], "failed",
                          reason=result["responseMessage"])
        return error.http_status, result

    def _complete_payment(self, payment: sqlite3.Row, now: datetime) -> tuple[int, dict[str, Any]]:
        customer = self.store.one("SELECT * FROM customers WHERE phone = ?", payment["phone"])
        assert customer is not None
        amount = Decimal(payment["amount"])
        refusal = self._debit_refusal(payment, customer, amount)
        if refusal is not None:
            return self._fail_payment(payment, refusal, now)
        balance = self._move(customer, payment["pay_method"], -amount, "DEBIT", payment["client_id"], now,
                             payment_id=payment["id"])
        approval = f"{secrets.randbelow(10**6):06d}"
        result = {"responseCode": "2005400", "responseMessage": "Successful", "referenceNo": payment["reference_no"],
                  "partnerReferenceNo": payment["partner_reference_no"], "approvalCode": approval,
                  "additionalInfo": {"paidTime": _now_text(now), "balanceType": payment["pay_method"],
                                     "balanceAfter": money(balance)}}
        self.store.run("UPDATE payments SET status = '00', status_desc = 'Success', paid_at = ?, approval_code = ?,"
                       " result_json = ? WHERE id = ?", _now_text(now), approval, json.dumps(result), payment["id"])
        self.store.record(_now_text(now), "payment", payment["partner_reference_no"], "paid",
                          amount=payment["amount"])
        return 200, result

    def _debit_again(self, payment: sqlite3.Row, info: TokenInfo, request_hash: str,
                     now: datetime) -> tuple[int, dict[str, Any]]:
        """A second call with a known partnerReferenceNo: complete, replay, or refuse."""
        if payment["request_hash"] != request_hash:
            raise SnapError(409, "01", extra={"_sandbox": {
                "hint": "Same partnerReferenceNo with a different body: send the identical body, or a new number."}})
        if payment["phone"] != info.phone:
            raise SnapError(401, "02", extra={"_sandbox": {"hint": "This token belongs to another customer."}})
        status = self._current_status(payment, now)
        if status in PENDING and info.kind == "single_use":
            if info.payment_id != payment["id"]:
                raise SnapError(401, "02", extra={"_sandbox": {"hint": "This singleUseToken is for another payment."}})
            if info.used_at:
                raise SnapError(401, "02", extra={"_sandbox": {"hint": "This singleUseToken was already used."}})
            self.store.run("UPDATE tokens SET used_at = ? WHERE token = ?", _now_text(now), info.token)
            return self._complete_payment(payment, now)
        if status == "05":
            raise SnapError(403, "00", extra={"_sandbox": {"hint": "The payment expired before it was completed."}})
        stored = json.loads(payment["result_json"])
        return int(stored["responseCode"][:3]), {**stored, "_sandbox": {"idempotentReplay": True}}

    def _current_status(self, payment: sqlite3.Row, now: datetime) -> str:
        """The payment status, expiring a pending payment whose webview time ran out."""
        status = str(payment["status"])
        if status in PENDING and now >= datetime.fromisoformat(payment["expires_at"]):
            self.store.run("UPDATE payments SET status = '05', status_desc = 'Canceled: expired' WHERE id = ?",
                           payment["id"])
            self.store.record(_now_text(now), "payment", payment["partner_reference_no"], "expired")
            return "05"
        return status

    def _move(self, customer: sqlite3.Row, pay_method: str, delta: Decimal, entry: str, client_id: str | None,
              now: datetime, *, payment_id: int | None = None, refund_id: int | None = None, note: str = "") -> Decimal:
        """Change a balance and write the ledger line; returns the new balance."""
        column = "points" if pay_method == "POINTS" else "cash"
        balance = Decimal(customer[column]) + delta
        self.store.run(f"UPDATE customers SET {column} = ? WHERE phone = ?", format_amount(balance), customer["phone"])
        self.store.run(
            "INSERT INTO ledger (at, client_id, phone, entry, balance_type, amount, balance_after, payment_id,"
            " refund_id, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _now_text(now), client_id, customer["phone"], entry, pay_method, format_amount(abs(delta)),
            format_amount(balance), payment_id, refund_id, note,
        )
        return balance

    # ================================================================= status and refund

    def _find_payment(self, body: dict[str, Any], client_id: str, original: str) -> sqlite3.Row:
        partner_ref = self._field(body, f"{original}PartnerReferenceNo", required=False)
        reference_no = self._field(body, f"{original}ReferenceNo", required=False)
        if not partner_ref and not reference_no:
            raise SnapError(400, "02", field=f"{original}PartnerReferenceNo")
        row = self.store.one(
            "SELECT * FROM payments WHERE client_id = ? AND (partner_reference_no = ? OR reference_no = ?)",
            client_id, partner_ref or "", reference_no or "")
        if row is None or (partner_ref and reference_no and (
                row["partner_reference_no"] != partner_ref or row["reference_no"] != reference_no)):
            raise SnapError(404, "01")
        return row

    def _api_debit_status(self, request: SandboxRequest, body: Body, dialect: str, partner: Row) -> Answer:
        client_id = partner["client_id"]
        token = _bearer(request.header("Authorization"))
        row = self.store.one("SELECT kind FROM tokens WHERE token = ?", token) if token else None
        if dialect == "ovo" and row is not None and row["kind"] == "b2b":  # *assumed*: status also with the B2B token
            info = self._token(token, client_id, ("b2b",), b2b=True)
        else:
            info = self._customer_token(request, client_id, dialect, ("access",))
        self._device_headers(request, transactional=True)
        service_code = self._field(body, "serviceCode", max_len=2)
        if service_code not in ("54", "55"):
            raise SnapError(400, "01", field="serviceCode")
        self._check_merchant(body, partner, required=False)
        payment = self._find_payment(body, client_id, "original")
        if info.kind != "b2b" and payment["phone"] != info.phone:
            raise SnapError(404, "01")
        now = self.clock.now()
        status = self._current_status(payment, now)
        current = self.store.one("SELECT * FROM payments WHERE id = ?", payment["id"])
        assert current is not None
        payment = current
        refunds = self.store.all("SELECT * FROM refunds WHERE payment_id = ? ORDER BY id", payment["id"])
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

    def _api_debit_refund(self, request: SandboxRequest, body: Body, dialect: str, partner: Row) -> Answer:
        client_id = partner["client_id"]
        self._token(_bearer(request.header("Authorization")), client_id, ("b2b",), b2b=True)
        self._device_headers(request, transactional=True)
        refund_ref = str(self._field(body, "partnerRefundNo"))
        self._field(body, "originalPartnerReferenceNo")
        amount = self._money(body, "refundAmount")
        reason = self._field(body, "reason", max_len=256, required=False) or ""
        self._check_merchant(body, partner, required=False)
        request_hash = _canonical_hash(body)
        existing = self.store.one("SELECT * FROM refunds WHERE client_id = ? AND partner_refund_no = ?",
                                  client_id, refund_ref)
        if existing is not None:
            if existing["request_hash"] != request_hash:
                raise SnapError(409, "01", extra={"_sandbox": {"hint": "Same partnerRefundNo, different body."}})
            return 200, {**json.loads(existing["result_json"]), "_sandbox": {"idempotentReplay": True}}
        payment = self._find_payment(body, client_id, "original")
        now = self.clock.now()
        if self._current_status(payment, now) not in ("00", "04"):
            raise SnapError(404, "00", extra={"_sandbox": {"hint": "Only a paid payment can be refunded."}})
        paid = datetime.fromisoformat(payment["paid_at"])
        if now - paid > timedelta(days=partner["refund_window_days"]):
            raise SnapError(403, "00", extra={"_sandbox": {
                "hint": f"The refund window of {partner['refund_window_days']} days has passed."}})
        refunded = sum((Decimal(r["amount"]) for r in self.store.all(
            "SELECT amount FROM refunds WHERE payment_id = ?", payment["id"])), Decimal(0))
        if refunded + amount > Decimal(payment["amount"]):
            raise SnapError(404, "13", extra={"_sandbox": {
                "hint": f"Refundable: {format_amount(Decimal(payment['amount']) - refunded)} IDR."}})
        if partner["daily_refund_limit"]:
            day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
            today = sum((Decimal(r["amount"]) for r in self.store.all(
                "SELECT amount FROM refunds WHERE client_id = ? AND created_at >= ?", client_id,
                _now_text(day_start))), Decimal(0))
            if today + amount > Decimal(partner["daily_refund_limit"]):
                raise SnapError(403, "02", extra={"_sandbox": {"hint": "The daily refund limit would be exceeded."}})
        refund_no = f"R{now:%Y%m%d}{secrets.randbelow(10**10):010d}"
        result = {"responseCode": "2005800", "responseMessage": "Successful",
                  "originalPartnerReferenceNo": payment["partner_reference_no"],
                  "originalReferenceNo": payment["reference_no"], "refundNo": refund_no,
                  "partnerRefundNo": refund_ref, "refundAmount": money(amount), "refundTime": _now_text(now)}
        refund_id = self.store.run(
            "INSERT INTO refunds (client_id, payment_id, partner_refund_no, refund_no, amount, reason, request_hash,"
            " created_at, result_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            client_id, payment["id"], refund_ref, refund_no, format_amount(amount), reason, request_hash,
            _now_text(now), json.dumps(result))
        customer = self.store.one("SELECT * FROM customers WHERE phone = ?", payment["phone"])
        assert customer is not None
        self._move(customer, payment["pay_method"], amount, "REFUND", client_id, now, payment_id=payment["id"],
                   refund_id=refund_id)
        if refunded + amount == Decimal(payment["amount"]):
            self.store.run("UPDATE payments SET status = '04', status_desc = 'Refunded' WHERE id = ?", payment["id"])
        self.store.record(_now_text(now), "refund", refund_ref, "refunded", amount=format_amount(amount),
                          payment=payment["partner_reference_no"])
        return 200, result

    # ================================================================= webview

    def _open_session(self, kind: str, client_id: str, phone: str, token: str, *, binding_id: int | None = None,
                      payment_id: int | None = None) -> str:
        ref_id = str(uuid.uuid4())
        now = self.clock.now()
        self.store.run(
            "INSERT INTO webview_sessions (ref_id, kind, client_id, phone, token, binding_id, payment_id, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ref_id, kind, client_id, phone, token, binding_id, payment_id, _now_text(now),
            _now_text(now + WEBVIEW_LIFETIME))
        return ref_id

    def _webview_session(self, params: dict[str, str]) -> tuple[sqlite3.Row, sqlite3.Row, str]:
        """Validate the webview URL's parameters; returns (session, partner, destination)."""
        session = self.store.one("SELECT * FROM webview_sessions WHERE ref_id = ?", params.get("refId", ""))
        if session is None:
            raise WebviewRefusal("This link is not valid. Go back to the merchant and start again.")
        if not hmac.compare_digest(params.get("token", ""), session["token"]):
            raise WebviewRefusal("This link's token does not match. Go back to the merchant and start again.")
        if params.get("client-id") != session["client_id"]:
            raise WebviewRefusal("This link belongs to another merchant.")
        partner = self.store.one("SELECT * FROM partners WHERE client_id = ?", session["client_id"])
        assert partner is not None
        destination = params.get("destination", "")
        registered = json.loads(partner["callback_urls"]) + json.loads(partner["error_urls"])
        if destination.rstrip("/") not in {u.rstrip("/") for u in registered}:
            raise WebviewRefusal(f"The destination {destination or '(none)'} is not registered for this merchant; "
                                 "OVO only redirects to registered callback URLs.")
        if params.get("submissionType", "redirect") != "redirect":
            raise WebviewRefusal("submissionType must be 'redirect'.")
        if self.clock.now() >= datetime.fromisoformat(session["expires_at"]):
            raise WebviewRefusal("This page has expired (15 minutes). Go back to the merchant and start again.")
        if session["status"] == "DONE":
            raise WebviewRefusal("This step is already complete.")
        return session, partner, destination

    def _attempts_left(self, session: sqlite3.Row, customer: sqlite3.Row) -> int:
        if session["kind"] == "payment":
            failures = int(customer["pin_failures"])
            return (PIN_BLOCK_AFTER - failures) if failures < PIN_BLOCK_AFTER else max(PIN_LOCK_AFTER - failures, 0)
        return OTP_MAX_FAILURES - int(customer["otp_failures"])

    def _block_message(self, session: sqlite3.Row, customer: sqlite3.Row, now: datetime) -> str | None:
        if session["kind"] == "payment":
            if customer["pin_locked"]:
                return "Your OVO PIN is blocked permanently after 6 wrong entries. Contact OVO to unblock it."
            until = _parse_time(customer["pin_blocked_until"])
            if until and now < until:
                return f"Too many wrong PINs. Try again after {until:%H:%M} WIB."
            return None
        until = _parse_time(customer["otp_blocked_until"])
        if until and now < until:
            return f"Too many wrong OTPs. Try again after {until:%H:%M} WIB."
        return None

    def webview_submit(self, url: str, code: str) -> WebviewOutcome:
        """Enter an OTP or PIN in the webview at ``url``, as a customer would (headless path)."""
        params = {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}
        with self.store.transaction():
            session, _, destination = self._webview_session(params)
            now = self.clock.now()
            customer = self._customer_row(session["phone"])
            blocked = self._block_message(session, customer, now)
            if blocked:
                return WebviewOutcome(False, blocked, 0)
            if session["kind"] == "payment":
                right = hmac.compare_digest(code, customer["pin"])
            else:
                right = hmac.compare_digest(code, session["phone"][-4:])
            if not right:
                return self._wrong_code(session, customer, now)
            return self._webview_success(session, customer, destination, params.get("state"), now)

    def _customer_row(self, phone: str) -> sqlite3.Row:
        row = self.store.one("SELECT * FROM customers WHERE phone = ?", phone)
        assert row is not None
        return row

    def _wrong_code(self, session: sqlite3.Row, customer: sqlite3.Row, now: datetime) -> WebviewOutcome:
        phone = customer["phone"]
        if session["kind"] == "payment":
            failures = customer["pin_failures"] + 1
            locked = int(failures >= PIN_LOCK_AFTER)
            until = _now_text(now + PIN_BLOCK) if failures == PIN_BLOCK_AFTER else customer["pin_blocked_until"]
            self.store.run("UPDATE customers SET pin_failures = ?, pin_locked = ?, pin_blocked_until = ?"
                           " WHERE phone = ?", failures, locked, until, phone)
            what = "PIN"
        else:
            failures = customer["otp_failures"] + 1
            until = _now_text(now + OTP_BLOCK) if failures >= OTP_MAX_FAILURES else None
            self.store.run("UPDATE customers SET otp_failures = ?, otp_blocked_until = ? WHERE phone = ?",
                           0 if until else failures, until, phone)
            what = "OTP"
        self.store.record(_now_text(now), "customer", mask_phone(phone), f"wrong {what}", failures=failures)
        customer = self._customer_row(phone)
        blocked = self._block_message(session, customer, now)
        if blocked:
            return WebviewOutcome(False, blocked, 0)
        left = self._attempts_left(session, customer)
        return WebviewOutcome(False, f"Wrong {what}. {left} attempt{'s' if left != 1 else ''} left.", left)

    def _webview_success(self, session: sqlite3.Row, customer: sqlite3.Row, destination: str, state: str | None,
                         now: datetime) -> WebviewOutcome:
        left = self._attempts_left(session, customer)
        column = "pin_failures" if session["kind"] == "payment" else "otp_failures"
        self.store.run(f"UPDATE customers SET {column} = 0 WHERE phone = ?", customer["phone"])
        code = _b64url(secrets.token_bytes(16))[:22]
        self.store.run(
            "INSERT INTO auth_codes (code, kind, client_id, phone, binding_id, payment_id, issued_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", code, session["kind"], session["client_id"], session["phone"],
            session["binding_id"], session["payment_id"], _now_text(now), _now_text(now + AUTH_CODE_LIFETIME))
        self.store.run("UPDATE webview_sessions SET status = 'DONE' WHERE ref_id = ?", session["ref_id"])
        if session["kind"] == "payment":
            self.store.run("UPDATE payments SET status = '02', status_desc = 'Paying' WHERE id = ? AND status = '01'",
                           session["payment_id"])
        response = {"displayMsg": "SUCCESS", "displayHeader": "", "retryAttemptsLeft": left, "authCode": code,
                    "errorCode": "", "enable_redirection": False}
        target = destination if urlsplit(destination).path else destination.rstrip("/") + "/"
        query = {"response": json.dumps(response, separators=(",", ":"))}
        if state:
            query["state"] = state
        return WebviewOutcome(True, "SUCCESS", left, f"{target}?{urlencode(query, quote_via=quote)}", response)

    def _webview_http(self, request: SandboxRequest) -> SandboxResponse:
        """The webview for people: a form on GET, the OTP/PIN check on POST, a redirect on success."""
        params = {k: v[0] for k, v in parse_qs(request.query, keep_blank_values=True).items()}
        url = f"{request.base_url}{request.raw_path}"
        try:
            with self.store.transaction():
                session, partner, _ = self._webview_session(params)
                customer = self._customer_row(session["phone"])
                blocked = self._block_message(session, customer, self.clock.now())
        except WebviewRefusal as refusal:
            return _html(400, pages.message_page("OVO", str(refusal)))
        kind = "PIN" if session["kind"] == "payment" else "OTP"
        title = {"binding": "Link your OVO account", "unbinding": "Unlink your OVO account",
                 "payment": "Confirm payment"}[session["kind"]]
        detail = self._webview_detail(session, partner)
        if blocked:
            return _html(403, pages.code_page(title, detail, kind, request.raw_path, error=blocked, disabled=True))
        if request.method != "POST":
            return _html(200, pages.code_page(title, detail, kind, request.raw_path))
        code = parse_qs(request.body.decode("utf-8", "replace")).get("code", [""])[0].strip()
        try:
            outcome = self.webview_submit(url, code)
        except WebviewRefusal as refusal:
            return _html(400, pages.message_page("OVO", str(refusal)))
        if outcome.ok and outcome.callback_url:
            return SandboxResponse(303, b"", {"Location": outcome.callback_url})
        status = 403 if outcome.attempts_left == 0 else 200
        return _html(status, pages.code_page(title, detail, kind, request.raw_path, error=outcome.message,
                                             disabled=outcome.attempts_left == 0))

    def _webview_detail(self, session: sqlite3.Row, partner: sqlite3.Row) -> str:
        phone = mask_phone(session["phone"])
        if session["kind"] == "payment":
            payment = self.store.one("SELECT amount FROM payments WHERE id = ?", session["payment_id"])
            amount = f"Rp{Decimal(payment['amount']):,.2f}" if payment else ""
            return f"Pay {amount} to {partner['name'] or partner['client_id']} with OVO {phone}."
        if session["kind"] == "unbinding":
            return f"Unlink OVO {phone} from {partner['name'] or partner['client_id']}."
        return f"Link OVO {phone} to {partner['name'] or partner['client_id']}. Enter the OTP sent to your phone."

    # ================================================================= admin operations

    def _take_fault(self, api: str) -> tuple[str, float] | None:
        if self.store.one("SELECT 1 FROM faults WHERE remaining > 0 LIMIT 1") is None:
            return None  # the common case, without a write transaction
        with self.store.transaction():
            row = self.store.one("SELECT * FROM faults WHERE api IN (?, '*') AND remaining > 0 ORDER BY id LIMIT 1",
                                 api)
            if row is None:
                return None
            self.store.run("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", row["id"])
        return str(row["kind"]), float(row["delay_seconds"])

    def add_fault(self, api: str, kind: str, *, count: int = 1, delay_seconds: float = 0.0) -> None:
        """Make the next ``count`` calls to ``api`` (or ``"*"``) misbehave as ``kind``."""
        if kind not in FAULT_KINDS:
            raise ValidationError(f"Fault kind {kind!r} is not one of {', '.join(FAULT_KINDS)}.")
        if api != "*" and api not in _ENDPOINT:
            raise ValidationError(f"Unknown API {api!r}; use one of {', '.join(sorted(_ENDPOINT))} or '*'.")
        if count < 1 or delay_seconds < 0:
            raise ValidationError("count must be at least 1 and delay_seconds not negative.")
        with self.store.transaction():
            self.store.run("INSERT INTO faults (api, kind, remaining, delay_seconds) VALUES (?, ?, ?, ?)",
                           api, kind, count, delay_seconds)

    def clear_faults(self) -> None:
        with self.store.transaction():
            self.store.run("DELETE FROM faults")

    def advance_clock(self, seconds: float) -> datetime:
        """Move business time forward (tokens expire, windows close, blocks lift); persists across restarts."""
        if seconds <= 0:
            raise ValidationError("Advance the clock by a positive number of seconds.")
        moment = self.clock.advance(timedelta(seconds=seconds))
        with self.store.transaction():
            self.store.set_meta("clock_offset_seconds", str(self.clock.offset.total_seconds()))
        return moment

    def register_partner(
        self, public_key_pem: str, *, client_id: str | None = None, client_secret: str | None = None,
        name: str = "", merchant_id: str | None = None, callback_urls: Iterable[str] = (),
        error_urls: Iterable[str] = (), ip_whitelist: Iterable[str] = (), production: bool = False,
        daily_refund_limit: str | None = None, refund_window_days: int = 60, recurring_allowed: bool = True,
        strict_body_hash: bool = False, channel_id: str = "95221",
    ) -> tuple[str, str]:
        """Onboard a partner the way OVO does; returns (client id, client secret)."""
        from ..keys import load_public_key
        from ..keys import public_key_pem as pem_of

        key = load_public_key(public_key_pem.encode())
        client_id = client_id or f"oamerchant{secrets.token_hex(3)}"
        client_secret = client_secret or secrets.token_urlsafe(32)
        limit = format_amount(parse_amount(daily_refund_limit)) if daily_refund_limit else None
        with self.store.transaction():
            if self.store.one("SELECT 1 FROM partners WHERE client_id = ?", client_id):
                raise ValidationError(f"A partner {client_id!r} already exists.")
            self.store.run(
                "INSERT INTO partners (client_id, name, client_secret, public_key_pem, merchant_id, channel_id,"
                " callback_urls, error_urls, ip_whitelist, production, daily_refund_limit, refund_window_days,"
                " recurring_allowed, strict_body_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                client_id, name, client_secret, pem_of(key, "pkcs1"), merchant_id or f"M{client_id[-6:].upper()}",
                channel_id, json.dumps(list(callback_urls)), json.dumps(list(error_urls)),
                json.dumps(list(ip_whitelist)), int(production), limit, refund_window_days, int(recurring_allowed),
                int(strict_body_hash), _now_text(self.clock.now()))
        return client_id, client_secret

    def add_customer(self, phone: str, *, name: str = "", cash: str = "0", points: str = "0", pin: str = "123456",
                     status: str = "ACTIVE", registered: bool = True, pin_locked: bool = False) -> str:
        """Create (or replace) an OVO account; returns the normalised phone."""
        number = normalize_phone(phone)
        if status not in ("ACTIVE", "CLOSED"):
            raise ValidationError(f"Customer status {status!r} is not ACTIVE or CLOSED.")
        if not (pin.isdigit() and len(pin) == 6):
            raise ValidationError("An OVO security PIN is 6 digits.")
        with self.store.transaction():
            self.store.run(
                "INSERT OR REPLACE INTO customers (phone, name, registered, status, cash, points, pin, pin_locked, ilp)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", number, name, int(registered), status,
                format_amount(parse_amount(cash, allow_zero=True)),
                format_amount(parse_amount(points, allow_zero=True)), pin, int(pin_locked),
                f"ILP{uuid.uuid5(uuid.NAMESPACE_OID, number).hex[:16].upper()}")
        return number

    def update_customer(self, phone: str, **changes: Any) -> dict[str, Any]:
        """Set balances or status, or change the phone number (which breaks every token, as at OVO)."""
        number = normalize_phone(phone)
        now = self.clock.now()
        with self.store.transaction():
            customer = self.store.one("SELECT * FROM customers WHERE phone = ?", number)
            if customer is None:
                raise ValidationError(f"No sandbox customer with phone {number}.")
            for column in ("cash", "points"):
                if changes.get(column) is not None:
                    new = parse_amount(changes[column], allow_zero=True)
                    self._move(customer, column.upper(), new - Decimal(customer[column]), "ADJUST", None, now,
                               note="set by the sandbox admin")
                    customer = self._customer_row(number)
            if changes.get("status"):
                status = str(changes["status"]).upper()
                if status not in ("ACTIVE", "CLOSED"):
                    raise ValidationError(f"Customer status {status!r} is not ACTIVE or CLOSED.")
                self.store.run("UPDATE customers SET status = ? WHERE phone = ?", status, number)
                if status == "CLOSED":
                    for binding in self.store.all("SELECT id FROM bindings WHERE phone = ? AND status = 'ACTIVE'",
                                                  number):
                        self._unbind(binding["id"], "OVO account closed")
            if changes.get("pin_locked") is not None:
                self.store.run("UPDATE customers SET pin_locked = ?, pin_failures = 0, pin_blocked_until = NULL"
                               " WHERE phone = ?", int(bool(changes["pin_locked"])), number)
            if changes.get("new_phone"):
                new_number = normalize_phone(changes["new_phone"])
                for binding in self.store.all("SELECT id FROM bindings WHERE phone = ? AND status = 'ACTIVE'", number):
                    self._unbind(binding["id"], "phone number changed")
                self.store.run("UPDATE customers SET phone = ? WHERE phone = ?", new_number, number)
                number = new_number
        return self.customer_view(number)

    def customer_view(self, phone: str) -> dict[str, Any]:
        row = self.store.one("SELECT * FROM customers WHERE phone = ?", normalize_phone(phone))
        if row is None:
            raise ValidationError(f"No sandbox customer with phone {phone}.")
        return {"phone": row["phone"], "name": row["name"], "registered": bool(row["registered"]),
                "status": row["status"], "cash": row["cash"], "points": row["points"],
                "pinFailures": row["pin_failures"], "pinLocked": bool(row["pin_locked"]),
                "pinBlockedUntil": row["pin_blocked_until"], "otpBlockedUntil": row["otp_blocked_until"]}

    def tamper_payment(self, partner_reference_no: str, *, amount: str | None = None,
                       status: str | None = None) -> None:
        """A deliberate discrepancy for reconciliation drills: change OVO's record of a payment.

        ``status`` is a ``latestTransactionStatus`` code (``00``, ``05``, ``06``...). Only the
        record changes; no balance moves, exactly as a wrong settlement line would look.
        """
        with self.store.transaction():
            row = self.store.one("SELECT * FROM payments WHERE partner_reference_no = ?", partner_reference_no)
            if row is None:
                raise ValidationError(f"No sandbox payment {partner_reference_no!r}.")
            if amount is not None:
                self.store.run("UPDATE payments SET amount = ? WHERE id = ?", format_amount(parse_amount(amount)),
                               row["id"])
            if status is not None:
                if status not in STATUS_DESC:
                    raise ValidationError(f"status {status!r} is not one of {', '.join(STATUS_DESC)}.")
                self.store.run("UPDATE payments SET status = ?, status_desc = ? WHERE id = ?", status,
                               STATUS_DESC[status], row["id"])
            self.store.record(_now_text(self.clock.now()), "payment", partner_reference_no, "tampered",
                              amount=amount, status=status)

    def settlement_csv(self) -> str:
        """OVO's side for reconciliation: one line per payment and per refund."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["type", "time", "client_id", "merchant_id", "partner_reference_no", "reference_no",
                         "partner_refund_no", "refund_no", "amount", "currency", "status", "balance_type"])
        for p in self.store.all("SELECT * FROM payments ORDER BY id"):
            status = self._current_status(p, self.clock.now())
            writer.writerow(["PAYMENT", p["paid_at"] or p["created_at"], p["client_id"], p["merchant_id"],
                             p["partner_reference_no"], p["reference_no"], "", "", p["amount"], "IDR",
                             STATUS_DESC.get(status, status).upper(), p["pay_method"]])
        for r in self.store.all("SELECT r.*, p.partner_reference_no, p.reference_no AS payment_reference_no,"
                                " p.merchant_id, p.pay_method FROM refunds r JOIN payments p ON p.id = r.payment_id"
                                " ORDER BY r.id"):
            writer.writerow(["REFUND", r["created_at"], r["client_id"], r["merchant_id"], r["partner_reference_no"],
                             r["payment_reference_no"], r["partner_refund_no"], r["refund_no"], r["amount"], "IDR",
                             "SUCCESS", r["pay_method"]])
        return out.getvalue()


class WebviewRefusal(Exception):
    """The webview cannot go on (bad link, unregistered destination, expired page)."""


@functools.lru_cache(maxsize=64)
def _load_public_key(pem: str) -> rsa.RSAPublicKey:
    from ..keys import load_public_key

    return load_public_key(pem.encode())


def _bearer(value: str | None) -> str:
    if not value:
        return ""
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else value.strip()


def _sub_transaction_type(body: dict[str, Any]) -> str:
    info = body.get("additionalInfo")
    nested = info.get("subTransactionType") if isinstance(info, dict) else None
    return str(body.get("subTransactionType") or nested or "MANUAL").upper()


def _ip_allowed(ip: str, whitelist: list[str]) -> bool:
    import ipaddress

    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in whitelist)


def _html(status: int, text: str) -> SandboxResponse:
    return SandboxResponse(status, text.encode(), {"Content-Type": "text/html; charset=utf-8"})

