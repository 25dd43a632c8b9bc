"""The SNAP wire vocabulary shared by the client and the sandbox.

Endpoints and their service codes, the response-code table, Jakarta timestamps,
X-EXTERNAL-ID generation, money on the wire and an injectable clock. Nothing here
talks to the network; the client and the sandbox both build on it so they can never
disagree about the contract.

Values the public material does not pin down are kept in one named constant each
(marked *assumed*), so changing one is a one-line edit.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Protocol

from .errors import ValidationError

__all__ = [
    "ACCESS_TOKEN_LIFETIME",
    "AUTH_CODE_LIFETIME",
    "B2B_TOKEN_LIFETIME",
    "ENDPOINTS",
    "JAKARTA",
    "LINKAGE_TOKEN_LIFETIME",
    "LOOKUP_VALIDITY",
    "OTP_BLOCK",
    "OTP_MAX_FAILURES",
    "OTP_MAX_GENERATIONS",
    "PIN_BLOCK",
    "PIN_BLOCK_AFTER",
    "PIN_LOCK_AFTER",
    "REFUND_WINDOW_DAYS",
    "RESPONSE_CASES",
    "SERVICE_CODES",
    "SETTLEMENT_COLUMNS",
    "SINGLE_USE_TOKEN_LIFETIME",
    "TIMESTAMP_WINDOW",
    "TRANSACTION_LIMIT",
    "TRANSACTION_STATUSES",
    "WEBVIEW_LIFETIME",
    "Clock",
    "Endpoint",
    "ExternalIdGenerator",
    "ManualClock",
    "PathStyle",
    "ResponseCode",
    "SignatureKind",
    "SystemClock",
    "endpoint",
    "format_amount",
    "format_timestamp",
    "mask_phone",
    "match_endpoint",
    "money",
    "normalize_phone",
    "parse_amount",
    "parse_money",
    "parse_response_code",
    "parse_timestamp",
    "response_code",
    "response_message",
    "stage_otp",
]

# --------------------------------------------------------------------------- time

JAKARTA = timezone(timedelta(hours=7), "WIB")
"""Asia/Jakarta (UTC+07:00, no daylight saving): the zone of every SNAP timestamp."""

TIMESTAMP_WINDOW = timedelta(minutes=5)
"""How far X-TIMESTAMP may drift from the server clock (*assumed*: no source states it)."""

# --------------------------------------------------------------------------- OVO's lifetimes and limits (FAQ)

LINKAGE_TOKEN_LIFETIME = timedelta(minutes=5)
"""linkageToken: opens the binding or unbinding webview (FAQ "linkageToken : 5 minutes")."""
ACCESS_TOKEN_LIFETIME = timedelta(days=15)
"""B2B2C accessToken (FAQ "accessToken : 15 days"); the refreshToken has no expiry."""
SINGLE_USE_TOKEN_LIFETIME = timedelta(minutes=15)
"""singleUseToken from Generate Token: completes one payment (FAQ "singleUseToken : 15 minutes")."""
B2B_TOKEN_LIFETIME = timedelta(minutes=15)
"""The B2B (system) token, for refunds only (FAQ "systemToken/b2b_accessToken : 15 minutes")."""
WEBVIEW_LIFETIME = timedelta(minutes=15)
"""The webview and a debit's completion window, from when the customer opens it (FAQ "15 minutes")."""
AUTH_CODE_LIFETIME = timedelta(minutes=15)
"""How long a webview authCode can be exchanged (*assumed*: not published)."""
LOOKUP_VALIDITY = timedelta(days=1)
"""How long a lookup allows a binding for that phone (*assumed*: not published)."""
OTP_MAX_GENERATIONS = 5
"""OTPs generated (binding and unbinding together) before a block (FAQ "5 times")."""
OTP_MAX_FAILURES = 5
"""Wrong OTP entries before a block (FAQ "5 times")."""
OTP_BLOCK = timedelta(minutes=30)
"""How long an OTP block lasts (FAQ "temporary blocked for 30 minutes")."""
PIN_BLOCK_AFTER = 3
"""Wrong Security PIN entries before a one-hour block (FAQ "3 times")."""
PIN_LOCK_AFTER = 6
"""Wrong Security PIN entries before a permanent block (FAQ "until 6 times")."""
PIN_BLOCK = timedelta(hours=1)
"""How long a PIN block lasts (FAQ "temporary blocked for 1 hours")."""
TRANSACTION_LIMIT = Decimal("10000000.00")
"""The largest single direct debit (*assumed*: OVO does not publish it)."""
REFUND_WINDOW_DAYS = 60
"""Refunds allowed this many days after payment by default (FAQ "Default is 60 days")."""

TRANSACTION_STATUSES: dict[str, str] = {
    "00": "Success", "01": "Initiated", "02": "Paying", "03": "Pending", "04": "Refunded",
    "05": "Canceled", "06": "Failed", "07": "Not Found",
}
"""``latestTransactionStatus`` of the direct debit status API, with its names (ASPI)."""

SETTLEMENT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("type", "record_type", "PAYMENT or REFUND"),
    ("time", "time", "when OVO booked it, in Jakarta time (ISO 8601): a payment's time of payment, else of request"),
    ("client_id", "", "the partner's client id"),
    ("merchant_id", "", "the partner's merchant id"),
    ("partner_reference_no", "partner_reference_no", "the partner's payment reference (partnerReferenceNo)"),
    ("reference_no", "reference_no", "OVO's payment reference (referenceNo)"),
    ("partner_refund_no", "partner_refund_no", "the partner's refund reference (partnerRefundNo); empty on a payment"),
    ("refund_no", "refund_no", "OVO's refund reference (refundNo); empty on a payment"),
    ("amount", "amount", "IDR as SNAP writes it (10000.00)"),
    ("currency", "currency", "IDR"),
    ("status", "status", "the latestTransactionStatus name in capitals (SUCCESS, PENDING, CANCELED, FAILED, ...)"),
    ("balance_type", "", "what the customer paid with (CASH, POINTS)"),
)
"""OVO's settlement file, one line per payment and per refund under a header row: column, the
reconciliation field it fills (empty: not reconciled) and its meaning. *Assumed*: OVO publishes no
layout; the sandbox writes this one and the ``ovo-settlement`` preset reads it."""


class Clock(Protocol):
    """Where "now" comes from, so token expiry and refund windows are testable."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    """The real wall clock, in Jakarta time."""

    def now(self) -> datetime:
        return datetime.now(JAKARTA)


class ManualClock:
    """A clock that only moves when told to: for tests and the sandbox's test clock."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime.now(JAKARTA)
        if start.tzinfo is None:
            raise ValidationError("ManualClock needs a timezone-aware start time, e.g. with tzinfo=JAKARTA.")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move the clock forward by ``delta`` (a timedelta or seconds); returns the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValidationError("A clock only moves forward: give a positive duration.")
        with self._lock:
            self._now += step
            return self._now


_TIMESTAMP_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[+-]\d{2}:\d{2}|Z)$", re.ASCII
)


def format_timestamp(moment: datetime | None = None) -> str:
    """Format ``moment`` (default: now) as X-TIMESTAMP: ``2022-10-24T13:42:13.092+07:00``.

    The result is in Jakarta time with milliseconds and a colon in the offset, as OVO's
    own requests carry it. Use the same string in the header and in the string-to-sign.
    """
    moment = moment or datetime.now(JAKARTA)
    if moment.tzinfo is None:
        raise ValidationError("Timestamps must be timezone-aware; attach tzinfo=JAKARTA.")
    local = moment.astimezone(JAKARTA)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}+07:00"


def parse_timestamp(value: str) -> datetime:
    """Parse an X-TIMESTAMP value; milliseconds are optional, the UTC offset is not.

    Raises :class:`ValidationError` naming the expected shape when ``value`` is not
    ``yyyy-MM-ddTHH:mm:ss[.SSS]+HH:MM``.
    """
    if not isinstance(value, str) or not _TIMESTAMP_RE.match(value):
        raise ValidationError(
            f"X-TIMESTAMP {value!r} is not of the form yyyy-MM-ddTHH:mm:ss.SSS+07:00 "
            "(ISO 8601 with a colon in the offset, e.g. 2022-10-24T13:42:13.092+07:00)."
        )
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(f"X-TIMESTAMP {value!r} is not a real date and time: {exc}.") from None


# --------------------------------------------------------------------------- X-EXTERNAL-ID


class ExternalIdGenerator:
    """Numeric X-EXTERNAL-ID values, unique per partner per day.

    Each id is the epoch milliseconds followed by six random digits (19 digits, within
    SNAP's 36), and strictly increasing within one generator so two calls in the same
    millisecond never collide. Share one generator per partner in a process.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        millis = int(self._clock.now().timestamp() * 1000)
        candidate = millis * 1_000_000 + secrets.randbelow(1_000_000)
        with self._lock:
            if candidate <= self._last:
                candidate = self._last + 1
            self._last = candidate
        return str(candidate)


# --------------------------------------------------------------------------- phone numbers

_MOBILE_RE = re.compile(r"^08\d{8,11}$", re.ASCII)


def normalize_phone(phone: str | int) -> str:
    """An Indonesian mobile number in national form: ``+62 812-3456-7890`` -> ``081234567890``.

    OVO (stage included) accepts Indonesian mobile numbers only. Accepts ``08…``, ``628…``,
    ``+628…`` with spaces, dots or dashes; refuses anything else with the accepted forms.
    """
    text = re.sub(r"[\s.()-]", "", str(phone))
    if text.startswith("+62"):
        text = "0" + text[3:]
    elif text.startswith("62"):
        text = "0" + text[2:]
    elif text.startswith("8"):
        text = "0" + text  # a leading zero lost on the way, e.g. through a numeric parameter
    if not _MOBILE_RE.match(text):
        raise ValidationError(
            f"Phone {phone!r} is not an Indonesian mobile number; OVO accepts 08xxxxxxxxxx, 628xxxxxxxxxx "
            "or +628xxxxxxxxxx (10 to 13 digits in the 08 form)."
        )
    return text


def stage_otp(phone: str) -> str:
    """The OTP in OVO stage, and in the sandbox: the last 4 digits of the phone (FAQ)."""
    return normalize_phone(phone)[-4:]


def mask_phone(phone: str) -> str:
    """Hide the last four digits, as OVO's webview parameters do: ``08129376****``."""
    return phone[:-4] + "****" if len(phone) > 4 else "****"


# --------------------------------------------------------------------------- money

CURRENCY = "IDR"
_MAX_INTEGER_DIGITS = 16
_WIRE_AMOUNT_RE = re.compile(r"^\d{1,16}\.\d{2}$", re.ASCII)
_AMOUNT_TEXT_RE = re.compile(r"^\d+(?:\.\d+)?$", re.ASCII)


def parse_amount(value: Decimal | int | float | str, *, allow_zero: bool = False) -> Decimal:
    """Turn a user-given amount into an exact IDR ``Decimal`` with two decimals.

    Accepts ``Decimal``, ``int``, ``str`` ("10000", "10000.5", "10000.00") and ``float``
    (read through its shortest repr, so ``10000.5`` is exact). Refuses negative, NaN,
    infinite, more than two decimals and more than 16 integer digits, each with a message
    saying what to send instead.
    """
    if isinstance(value, bool):
        raise ValidationError(f"Amount {value!r} is a boolean; give the amount in IDR, e.g. '10000.00'.")
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        if "," in text:
            raise ValidationError(
                f"Amount {value!r} contains a comma; write IDR amounts with a dot for decimals and no "
                "thousands separator, e.g. '10000.00'."
            )
        if not _AMOUNT_TEXT_RE.match(text.lstrip("-")):
            raise ValidationError(f"Amount {value!r} is not a plain number; give IDR in digits 0-9 with an "
                                  "optional dot, like '10000.00'.")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValidationError(f"Amount {value!r} is not a number; give IDR like '10000.00'.") from None
    elif isinstance(value, (Decimal, int)):
        amount = Decimal(value)
    else:
        raise ValidationError(f"Amount {value!r} has type {type(value).__name__}; give a str, int or Decimal.")
    if not amount.is_finite():
        raise ValidationError(f"Amount {value!r} is not a finite number; give IDR like '10000.00'.")
    if amount < 0:
        raise ValidationError(f"Amount {value!r} is negative; amounts are always positive IDR values.")
    if amount == 0 and not allow_zero:
        raise ValidationError(f"Amount {value!r} is zero; a payment or refund needs a positive amount.")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and amount != amount.quantize(Decimal("0.01")):
        raise ValidationError(
            f"Amount {value!r} has more than two decimals; IDR amounts carry at most two (sen)."
        )
    amount = amount.quantize(Decimal("0.01"))
    if len(str(int(amount))) > _MAX_INTEGER_DIGITS:
        raise ValidationError(f"Amount {value!r} has more than {_MAX_INTEGER_DIGITS} integer digits.")
    return amount


def format_amount(value: Decimal | int | float | str) -> str:
    """Render an amount the way SNAP sends it: ``"10000.00"``."""
    return f"{parse_amount(value, allow_zero=True):.2f}"


def money(value: Decimal | int | float | str, currency: str = CURRENCY) -> dict[str, str]:
    """The SNAP money object ``{"value": "10000.00", "currency": "IDR"}``; IDR only."""
    _check_currency(currency)
    return {"value": format_amount(value), "currency": CURRENCY}


def parse_money(obj: Any, field: str = "amount") -> Decimal:
    """Read a SNAP money object off the wire, strictly (``^\\d{1,16}\\.\\d{2}$`` and IDR).

    ``field`` names the field in the error message, e.g. ``refundAmount``.
    """
    if not isinstance(obj, Mapping):
        raise ValidationError(f"{field} must be an object {{'value': '10000.00', 'currency': 'IDR'}}.")
    value, currency = obj.get("value"), obj.get("currency")
    if not isinstance(value, str) or not _WIRE_AMOUNT_RE.match(value):
        raise ValidationError(
            f"{field}.value {value!r} must be a string with exactly two decimals, e.g. '10000.00'."
        )
    _check_currency(currency, field=f"{field}.currency")
    return Decimal(value)


def _check_currency(currency: Any, field: str = "currency") -> None:
    if currency != CURRENCY:
        raise ValidationError(f"{field} {currency!r} is not supported: OVO settles in IDR only.")


# --------------------------------------------------------------------------- endpoints

SERVICE_CODES: dict[str, str] = {
    "00": "General",
    "07": "Account Binding",
    "08": "Account Binding Inquiry",
    "09": "Account Unbinding",
    "10": "Get OAuth URL",
    "11": "Balance Inquiry",
    "54": "Direct Debit Payment",
    "55": "Direct Debit Payment Status",
    "56": "Direct Debit Payment Notification",
    "57": "Direct Debit Payment Cancel",
    "58": "Direct Debit Payment Refund",
    "73": "Access Token B2B",
    "74": "Access Token B2B2C",
    "81": "OTP",
}


class SignatureKind(StrEnum):
    """Which X-SIGNATURE an endpoint takes (SNAP_SPEC "Signatures")."""

    ASYMMETRIC_TOKEN = "asymmetric-token"
    ASYMMETRIC_REQUEST = "asymmetric-request"
    SYMMETRIC = "symmetric"
    OVO = "ovo"


class PathStyle(StrEnum):
    """Which path family a profile speaks.

    ``TECH_DOC``: OVO's tech doc (``/OVOSNAP/v2.0``, the B2B token under ``v1.0``);
    ``FAQ``: OVO's FAQ (``/OVOSNAP/v1.0`` everywhere); ``ASPI``: the BI devsite (``/api/v1.0``).
    """

    TECH_DOC = "tech-doc"
    FAQ = "faq"
    ASPI = "aspi"


@dataclass(frozen=True)
class Endpoint:
    """One API of SNAP_SPEC's endpoint table."""

    name: str
    method: str
    signature: SignatureKind
    service_code: str | None
    ovo_suffix: str | None = None
    """Path after ``/OVOSNAP/vX.Y`` for SNAP APIs."""
    aspi_path: str | None = None
    non_snap_path: str | None = None
    tech_doc_version: str = "v2.0"
    bearer: tuple[str, ...] = ()
    """The token ``Authorization: Bearer`` carries on the 1st call and, for two-step APIs, the 2nd."""
    moves_money: bool = False
    """A debit or a refund: resending one against production takes an explicit yes."""

    @property
    def is_snap(self) -> bool:
        return self.ovo_suffix is not None

    def path(self, style: PathStyle | str = PathStyle.TECH_DOC) -> str:
        """The path to call for ``style``; raises for an API a style does not serve."""
        style = PathStyle(style)
        if self.non_snap_path is not None:
            return self.non_snap_path
        assert self.ovo_suffix is not None
        if style is PathStyle.ASPI:
            if self.aspi_path is None:
                raise ValidationError(f"The BI devsite has no {self.name} API.")
            return self.aspi_path
        version = self.tech_doc_version if style is PathStyle.TECH_DOC else "v1.0"
        return f"/OVOSNAP/{version}{self.ovo_suffix}"

    def all_paths(self) -> set[str]:
        """Every path under which a faithful server answers this API.

        The FAQ's ``v1.0`` and the tech doc's version; the B2B token is ``v1.0`` in both, so
        OVO does not serve it under ``v2.0``.
        """
        if self.non_snap_path is not None:
            return {self.non_snap_path}
        assert self.ovo_suffix is not None
        paths = {f"/OVOSNAP/v1.0{self.ovo_suffix}", f"/OVOSNAP/{self.tech_doc_version}{self.ovo_suffix}"}
        if self.aspi_path:
            paths.add(self.aspi_path)
        return paths


_SYM, _ASYM_T, _ASYM_R, _OVO = (
    SignatureKind.SYMMETRIC,
    SignatureKind.ASYMMETRIC_TOKEN,
    SignatureKind.ASYMMETRIC_REQUEST,
    SignatureKind.OVO,
)

ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        Endpoint("b2b_token", "POST", _ASYM_T, "73", "/access-token/b2b", "/api/v1.0/access-token/b2b",
                 tech_doc_version="v1.0"),
        Endpoint("b2b2c_token", "POST", _ASYM_T, "74", "/access-token/b2b2c", "/api/v1.0/access-token/b2b2c",
                 bearer=("linkage token",)),
        Endpoint("account_binding", "POST", _ASYM_R, "07", "/oauth/account/registration-account-binding",
                 "/api/v1.0/registration-account-binding"),
        Endpoint("account_unbinding", "POST", _SYM, "09", "/oauth/account/registration-account-unbinding",
                 "/api/v1.0/registration-account-unbinding", bearer=("access token", "unbinding token")),
        Endpoint("balance_inquiry", "POST", _SYM, "11", "/balance-inquiry", "/api/v1.0/balance-inquiry",
                 bearer=("access token",)),
        Endpoint("debit_payment", "POST", _SYM, "54", "/debit/payment-host-to-host",
                 "/api/v1.0/debit/payment-host-to-host", bearer=("access token", "single-use token"),
                 moves_money=True),
        Endpoint("debit_status", "POST", _SYM, "55", "/debit/status", "/api/v1.0/debit/status",
                 bearer=("access token",)),
        Endpoint("debit_refund", "POST", _SYM, "58", "/debit/refund", "/api/v1.0/debit/refund", bearer=("B2B token",),
                 moves_money=True),
        Endpoint("lookup", "GET", _OVO, None, non_snap_path="/user/v2/account/lookup"),
        Endpoint("generate_token", "POST", _OVO, None, non_snap_path="/user/v1/oauth/token"),
        Endpoint("topup_options", "GET", _OVO, None, non_snap_path="/reference/v1/topup/options"),
    )
}

_BY_PATH: dict[str, Endpoint] = {p: e for e in ENDPOINTS.values() for p in e.all_paths()}


def endpoint(name: str) -> Endpoint:
    """Look an endpoint up by name (``"debit_payment"``), with a helpful error."""
    try:
        return ENDPOINTS[name]
    except KeyError:
        raise ValidationError(f"Unknown API {name!r}; known: {', '.join(sorted(ENDPOINTS))}.") from None


def match_endpoint(path: str) -> Endpoint | None:
    """The endpoint served at ``path`` (query string ignored), under any path style."""
    return _BY_PATH.get(path.split("?", 1)[0])


# --------------------------------------------------------------------------- response codes

RESPONSE_CASES: dict[tuple[int, str], str] = {
    (200, "00"): "Successful",
    (202, "00"): "Request In Progress",
    (400, "00"): "Bad Request",
    (400, "01"): "Invalid Field Format {field}",
    (400, "02"): "Invalid Mandatory Field {field}",
    (401, "00"): "Unauthorized. {reason}",
    (401, "01"): "Invalid Token (B2B)",
    (401, "02"): "Invalid Customer Token",
    (401, "03"): "Token Not Found (B2B)",
    (401, "04"): "Customer Token Not Found",
    (403, "00"): "Transaction Expired",
    (403, "01"): "Feature Not Allowed {reason}",
    (403, "02"): "Exceeds Transaction Amount Limit",
    (403, "03"): "Suspected Fraud",
    (403, "04"): "Activity Count Limit Exceeded",
    (403, "05"): "Do Not Honor",
    (403, "06"): "Feature Not Allowed At This Time. {reason}",
    (403, "07"): "Card Blocked",
    (403, "08"): "Card Expired",
    (403, "09"): "Dormant Account",
    (403, "10"): "Need To Set Token Limit",
    (403, "11"): "OTP Blocked",
    (403, "12"): "OTP Lifetime Expired",
    (403, "13"): "OTP Sent To Cardholder",
    (403, "14"): "Insufficient Funds",
    (403, "15"): "Transaction Not Permitted. {reason}",
    (403, "16"): "Suspend Transaction",
    (403, "17"): "Token Limit Exceeded",
    (403, "18"): "Inactive Card/Account/Customer",
    (403, "19"): "Merchant Blacklisted",
    (403, "20"): "Merchant Limit Exceed",
    (403, "21"): "Set Limit Not Allowed",
    (403, "22"): "Token Limit Invalid",
    (403, "23"): "Account Limit Exceed",
    (404, "00"): "Invalid Transaction Status",
    (404, "01"): "Transaction Not Found",
    (404, "02"): "Invalid Routing",
    (404, "03"): "Bank Not Supported By Switch",
    (404, "04"): "Transaction Cancelled",
    (404, "05"): "Merchant Is Not Registered For Card Registration Services",
    (404, "06"): "Need To Request OTP",
    (404, "07"): "Journey Not Found",
    (404, "08"): "Invalid Merchant",
    (404, "09"): "No Issuer",
    (404, "10"): "Invalid API Transition",
    (404, "11"): "Invalid Card/Account/Customer {info}",
    (404, "12"): "Invalid Bill/Virtual Account {reason}",
    (404, "13"): "Invalid Amount",
    (404, "14"): "Paid Bill",
    (404, "15"): "Invalid OTP",
    (404, "16"): "Partner Not Found",
    (404, "17"): "Invalid Terminal",
    (404, "18"): "Inconsistent Request",
    (404, "19"): "Invalid Bill/Virtual Account",
    (405, "00"): "Requested Function Is Not Supported",
    (405, "01"): "Requested Operation Is Not Allowed",
    (409, "00"): "Conflict",
    (409, "01"): "Duplicate partnerReferenceNo",
    (429, "00"): "Too Many Requests",
    (500, "00"): "General Error",
    (500, "01"): "Internal Server Error",
    (500, "02"): "External Server Error",
    (504, "00"): "Timeout",
}
"""ASPI's case table: (HTTP status, case code) -> message template."""

_RESPONSE_CODE_RE = re.compile(r"^(\d{3})(\d{2})(\d{2})$", re.ASCII)


@dataclass(frozen=True)
class ResponseCode:
    """A parsed SNAP ``responseCode``: HTTP status + service code + case code."""

    code: str
    http_status: int
    service_code: str
    case_code: str

    @property
    def is_success(self) -> bool:
        """True for the 2xx family (including 202 "in progress")."""
        return 200 <= self.http_status < 300

    @property
    def service(self) -> str:
        return SERVICE_CODES.get(self.service_code, f"service {self.service_code}")

    def __str__(self) -> str:
        return self.code


def response_code(http_status: int, service_code: str, case_code: str = "00") -> str:
    """Compose a 7-digit responseCode, e.g. ``response_code(401, "07", "00") == "4010700"``."""
    if (http_status, case_code) not in RESPONSE_CASES:
        raise ValidationError(f"({http_status}, {case_code!r}) is not a SNAP case code.")
    if not re.fullmatch(r"[0-9]{2}", service_code):
        raise ValidationError(f"Service code {service_code!r} must be two digits, e.g. '54'.")
    return f"{http_status}{service_code}{case_code}"


def parse_response_code(code: str) -> ResponseCode:
    """Split a responseCode into its parts; raises for anything not seven digits."""
    match = _RESPONSE_CODE_RE.match(code) if isinstance(code, str) else None
    if not match:
        raise ValidationError(f"responseCode {code!r} is not seven digits (HTTP status + service + case).")
    return ResponseCode(code, int(match[1]), match[2], match[3])


def response_message(code: str, **details: str) -> str:
    """The standard message for ``code``, with ``{field}``/``{reason}``/``{info}`` filled in.

    A placeholder left unfilled is dropped with the space before it.
    """
    parsed = parse_response_code(code)
    template = RESPONSE_CASES.get((parsed.http_status, parsed.case_code))
    if template is None:
        raise ValidationError(f"responseCode {code!r} has no standard message.")
    filled = {key: details.get(key, "") for key in ("field", "reason", "info")}
    return re.sub(r"\s+$", "", template.format(**filled)).replace(" .", ".")
