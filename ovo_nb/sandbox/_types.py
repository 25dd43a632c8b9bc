"""Requests, responses, refusals, outcomes and the test clock: the sandbox's own vocabulary."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..errors import ValidationError
from ..snap import JAKARTA, Clock, SystemClock, response_code, response_message

SIGNATURE_FAILED = "Signature Failed: AGW-002-05."
"""OVO's own wording of a signature failure (the FAQ's sample answer)."""
MAX_BODY_BYTES = 1024 * 1024
"""The largest request body the sandbox reads (1 MB, configurable): SNAP bodies are a few hundred bytes."""
MAX_JSON_DEPTH = 32
"""The deepest JSON nesting a body may have; SNAP bodies nest three or four levels."""
REQUIRE_CHANNEL_ID = True
"""CHANNEL-ID on transactional endpoints (*assumed*: OVO's QRIS doc requires it)."""

class CustomerExists(ValidationError):
    """An account was created for a phone the sandbox already has, without ``replace``: answered 409."""


class DuplicateKey(ValueError):
    """A JSON object names the same key twice: which value counts is up to the parser, so none does."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key!r} appears twice in one object")
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKey(key)
        found[key] = value
    return found


def read_json(raw: bytes | str) -> Any:
    """A request body's JSON, every object's keys unique (:class:`DuplicateKey` names a repeated one).

    ``{"amount": "1.00", "amount": "5000000.00"}`` is refused rather than read as its last value,
    which a signature made over those bytes would not tell apart from its first."""
    return json.loads(raw, object_pairs_hook=_unique_keys)


FAULT_KINDS = ("timeout_before", "timeout_after_commit", "error_500", "drop_before", "drop_after_commit", "slow")
"""Faults the sandbox injects per API: no answer, a 5xx, a dropped connection, or a slow success."""


class SandboxClock:
    """Business time = a base clock plus an offset the admin API can advance.

    X-TIMESTAMP is checked against the base clock (the caller's wall time), while token
    expiry, refund windows and blocks follow business time, so advancing the clock
    expires tokens without making every request "too old".
    """

    def __init__(self, base: Clock | None = None, offset: timedelta = timedelta(0)) -> None:
        self.base = base or SystemClock()
        self._offset = offset
        self._lock = threading.Lock()

    @property
    def offset(self) -> timedelta:
        return self._offset

    def wall(self) -> datetime:
        return self.base.now().astimezone(JAKARTA)

    def now(self) -> datetime:
        with self._lock:
            return self.wall() + self._offset

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._offset += delta
        return self.now()


@dataclass
class SandboxRequest:
    """One HTTP request as the sandbox core sees it, whichever way it came in."""

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    client_ip: str = "127.0.0.1"
    base_url: str = "http://ovo-sandbox.local"

    def __post_init__(self) -> None:
        self.headers = {k.lower(): v for k, v in self.headers.items()}
        self.method = self.method.upper()

    @property
    def raw_path(self) -> str:
        """The path as signed: with its raw query string."""
        return self.path + (f"?{self.query}" if self.query else "")

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class SandboxResponse:
    """What to answer; ``fault`` tells the transport to misbehave on purpose."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    fault_delay: float = 0.0

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class SnapError(Exception):
    """A refusal, rendered as a SNAP error body with the endpoint's service code."""

    def __init__(
        self,
        http_status: int,
        case: str,
        *,
        field: str = "",
        reason: str = "",
        message: str | None = None,
        service: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.http_status, self.case = http_status, case
        self.field, self.reason, self.message = field, reason, message
        self.service, self.extra = service, extra or {}
        super().__init__(f"{http_status}{case} {message or reason or field}")

    def body(self, service: str) -> dict[str, Any]:
        code = response_code(self.http_status, self.service or service, self.case)
        message = self.message or response_message(code, field=self.field, reason=self.reason, info=self.reason)
        return {"responseCode": code, "responseMessage": message, **self.extra}


class WebviewRefusal(Exception):
    """The webview cannot go on (bad link, unregistered destination, expired page).

    ``redirect`` is the partner's error-redirect URL with OVO's failure response, when the
    link was genuine but the step can no longer finish and the partner registered one.
    """

    def __init__(self, message: str, redirect: str | None = None) -> None:
        super().__init__(message)
        self.redirect = redirect


@dataclass(frozen=True)
class WebviewOutcome:
    """The result of one OTP/PIN entry in the webview."""

    ok: bool
    message: str
    attempts_left: int
    callback_url: str | None = None
    """Where the browser goes: the partner's callback on success, its error URL on a final failure."""
    response: dict[str, Any] | None = None
    next_step: str | None = None
    """``PIN`` when the binding webview accepted the OTP and now asks the Security PIN."""


@dataclass(frozen=True)
class TokenInfo:
    """A token the request carried, once validated."""

    token: str
    kind: str
    phone: str | None
    binding_id: int | None
    payment_id: int | None
    used_at: str | None
