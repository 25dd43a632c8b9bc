"""OVO's webview: building the URL the customer opens, and reading the callback it returns to.

The URL is the answer's ``redirectUrl`` + every ``qParams`` entry + ``token`` +
``destination`` (a registered callback URL) + ``submissionType=redirect`` (+ ``state``),
exactly as OVO's FAQ describes. On success OVO redirects to
``destination?response=<url-encoded JSON>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

from .errors import ValidationError, WebviewError

__all__ = ["CallbackResult", "WebviewCompleter", "build_webview_url", "parse_callback"]


class WebviewCompleter(Protocol):
    """Completes a webview step without a person: enters ``codes`` in turn (a binding takes the OTP,
    then the Security PIN) and returns the callback URL the browser would land on."""

    def __call__(self, url: str, *codes: str) -> str: ...


def _normal(url: str) -> str:
    return url.rstrip("/")


def build_webview_url(
    answer: Mapping[str, Any],
    token: str,
    destination: str,
    *,
    state: str | None = None,
    registered: Iterable[str] | None = None,
) -> str:
    """The webview URL for a binding, unbinding or debit answer.

    ``token`` is the linkage token (binding, unbinding) or the access token (debit);
    ``destination`` must be one of the ``registered`` callback URLs when they are given,
    because OVO refuses any other.
    """
    redirect = answer.get("redirectUrl")
    info = answer.get("additionalInfo")
    params = info.get("qParams") if isinstance(info, Mapping) else None
    if not redirect or not isinstance(params, Mapping):
        raise WebviewError(
            "This answer has no webview: it needs redirectUrl and additionalInfo.qParams "
            f"(responseCode {answer.get('responseCode')!r})."
        )
    if not isinstance(redirect, str) or urlsplit(redirect).scheme not in ("http", "https"):
        raise WebviewError(f"This answer's redirectUrl {str(redirect)[:80]!r} is not an http(s) URL; a browser must "
                           "never be sent there (a javascript: or data: link runs in the page that shows it).")
    allowed = [_normal(u) for u in registered or ()]
    if allowed and _normal(destination) not in allowed:
        raise ValidationError(
            f"Destination {destination!r} is not a registered callback URL; OVO only redirects to "
            f"{', '.join(allowed)}. Register it with OVO first (3 working days), or pick one of those."
        )
    query = {**{str(k): str(v) for k, v in params.items()}, "token": token, "destination": destination,
             "submissionType": "redirect"}
    if state:
        query["state"] = state
    return f"{redirect}?{urlencode(query)}"


@dataclass(frozen=True)
class CallbackResult:
    """What the webview's redirect carried."""

    auth_code: str = field(repr=False)
    display_msg: str
    error_code: str
    retry_attempts_left: int | None
    state: str | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.auth_code) and not self.error_code


def parse_callback(url: str) -> CallbackResult:
    """Decode ``destination?response=<json>[&state=...]``; raises :class:`WebviewError` on failure.

    A failure names what OVO said (``errorCode``, ``displayMsg``) and what to do.
    """
    if not isinstance(url, str) or "?" not in url:
        raise WebviewError("Paste the whole URL the browser landed on, including ?response=...")
    query = parse_qs(urlsplit(url.strip()).query)
    if "response" not in query:
        raise WebviewError(f"The callback URL has no 'response' parameter (got: {', '.join(query) or 'none'}).")
    try:
        payload = json.loads(query["response"][0])
    except ValueError:
        raise WebviewError("The callback's response parameter is not JSON; was the URL cut short?") from None
    if not isinstance(payload, dict):
        raise WebviewError("The callback's response is not a JSON object.")
    attempts = payload.get("retryAttemptsLeft")
    result = CallbackResult(
        auth_code=str(payload.get("authCode") or ""),
        display_msg=str(payload.get("displayMsg") or ""),
        error_code=str(payload.get("errorCode") or ""),
        retry_attempts_left=int(str(attempts)) if str(attempts).isdigit() else None,
        state=query.get("state", [None])[0],
        raw=payload,
    )
    if not result.ok:
        raise WebviewError(
            f"The webview did not succeed: {result.display_msg or 'no message'} "
            f"(errorCode {result.error_code or '-'}). Start the step again."
        )
    return result
