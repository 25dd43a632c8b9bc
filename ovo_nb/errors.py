"""The exception hierarchy of ovo_nb.

Every error the toolkit raises on purpose derives from :class:`OvoNbError`, and its
message says what was wrong and what to do about it.

    OvoNbError
    ├── ValidationError      bad input caught before anything is sent or written
    ├── KeyFileError         a key file is missing, of the wrong kind, or locked
    ├── StateFileError       a state file is damaged or a link, or its disk refused a write (read-only, full)
    ├── CredentialError      the credential pair from OVO cannot be decrypted or read
    ├── SignatureError       a signature cannot be made or read
    ├── OvoApiError          OVO answered with a non-success SNAP code (one subclass per HTTP family)
    ├── OvoConnectionError   no answer at all: timeout or dropped connection
    ├── CustomerMustRegister lookup says CAN_REGISTER
    ├── CustomerNotBound     no usable customer token
    ├── WebviewError         the webview callback is missing, malformed or a failure
    └── NotebookSkipped      a notebook cannot run against this profile as asked (it says what to give)
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BusinessRuleError",
    "ConflictError",
    "CredentialError",
    "CustomerMustRegister",
    "CustomerNotBound",
    "InsufficientFundsError",
    "InvalidRequestError",
    "KeyFileError",
    "NotFoundError",
    "NotebookSkipped",
    "OvoApiError",
    "OvoConnectionError",
    "OvoNbError",
    "RateLimitError",
    "ServerError",
    "SignatureError",
    "StateFileError",
    "ValidationError",
    "WebviewError",
    "api_error",
]


class OvoNbError(Exception):
    """Base class of every error ovo_nb raises on purpose."""

    should_retry: bool = False
    """Whether sending the same request again may succeed (a lost answer, a 5xx, a rate limit).

    For a call that moves money, "again" means after asking OVO's status: the first one may have
    been processed. The flows' one retry helper reads this and nothing else."""


class ValidationError(OvoNbError, ValueError):
    """Input was refused before any network call or file write."""


class KeyFileError(OvoNbError):
    """A key could not be generated, saved or loaded."""


class StateFileError(OvoNbError):
    """A state file (call log, vault, ledger, sandbox, keys) could not be used, and was left untouched.

    It is not an ovo-nb SQLite file or is damaged, it is a symbolic link, or its disk refused a
    write: a read-only folder or a full disk. The message says which and what to do."""


class CredentialError(OvoNbError):
    """OVO's encrypted credential pair could not be decrypted or parsed."""


class SignatureError(OvoNbError):
    """A SNAP signature could not be produced or decoded."""


# --------------------------------------------------------------------------- OVO's answers

_CASE_HINTS: dict[tuple[int, str], str] = {
    (400, "00"): "the body could not be read; send compact JSON of the documented fields",
    (400, "01"): "a field or header has the wrong format; see the field named in the message",
    (400, "02"): "a mandatory field or header is missing; see the field named in the message",
    (401, "00"): "authentication failed: run `ovo-nb doctor --call <id>` to see the string-to-sign and common mistakes",
    (401, "auth code"): "the webview's authCode is unknown, used or expired (15 minutes): have the customer do the "
                        "webview step again",
    (401, "01"): "the B2B token is invalid or expired; get a new one with the B2B token API",
    (401, "02"): "the customer token is invalid, expired or revoked; refresh it, or bind the customer again (if OVO "
                 "answers 4030701 Account Already Linked, another binding of the phone is active: unbind it, or "
                 "have the customer unlink you in the OVO app, first)",
    (401, "03"): "send the B2B token in Authorization",
    (401, "04"): "send the customer token in Authorization",
    (403, "00"): "the transaction or refund window expired; start a new transaction",
    (403, "01"): "OVO does not allow this for this partner or customer; see the reason in the message",
    (403, "02"): "the amount exceeds a limit; lower it",
    (403, "11"): "OTPs are blocked for 30 minutes: five were requested, or five wrong ones typed, within 30 "
                 "minutes (OVO's two OTP limits)",
    (403, "14"): "the customer's OVO balance is too low: ask them to top up in the OVO app",
    (403, "18"): "the customer's OVO account is inactive or closed",
    (404, "01"): "OVO has no such transaction: check the partnerReferenceNo",
    (404, "11"): "the phone has no OVO account: ask the customer to register in the OVO app",
    (404, "13"): "the amount does not match what can be refunded",
    (409, "00"): "this X-EXTERNAL-ID was used today; every call needs a new one",
    (409, "01"): "this partnerReferenceNo was used with a different body; reuse the exact body or a new number",
    (429, "00"): "too many requests: slow down and retry later",
}


class OvoApiError(OvoNbError):
    """OVO answered with a non-success SNAP code; carries the code, message and logged call id."""

    def __init__(self, response_code: str, response_message: str, http_status: int, *,
                 call_id: int | None = None, body: dict[str, object] | None = None, local: bool = False) -> None:
        self.local = local
        """True when this library refused before sending (the code is the one OVO would answer), not OVO."""
        self.response_code = response_code
        self.response_message = response_message
        self.http_status = http_status
        self.call_id = call_id
        self.body = body or {}
        case = (http_status, response_code[5:7]) if len(response_code) == 7 else (http_status, "")
        if case == (401, "00") and "auth code" in response_message.lower():
            case = (401, "auth code")  # not a signature problem: the customer's step must be done again
        sandbox = self.body.get("_sandbox")
        said = sandbox.get("hint") if isinstance(sandbox, dict) else None
        self.sandbox_hint = said if isinstance(said, str) else ""
        """The sandbox's own account of which rule refused (OVO gives none)."""
        case_hint = _CASE_HINTS.get(case, "")
        self.hint = "; the sandbox says: ".join(h for h in (case_hint, self.sandbox_hint) if h)
        """What to do about this code, and the sandbox's own account when it gave one."""
        text = f"{response_code} {response_message}"
        if self.hint:
            text += f": {self.hint}"
        if call_id is not None:
            text += f" (call {call_id} in the call log)"
        super().__init__(text)


class InvalidRequestError(OvoApiError):
    """400: a header or field was refused."""


class AuthenticationError(OvoApiError):
    """401: signature, timestamp, client or token refused."""


class BusinessRuleError(OvoApiError):
    """403: OVO's rules forbid it (limits, blocks, inactive account, expired transaction)."""


class InsufficientFundsError(BusinessRuleError):
    """403xx14: the customer's balance is too low."""


class NotFoundError(OvoApiError):
    """404: no such transaction, customer or route."""


class ConflictError(OvoApiError):
    """409: X-EXTERNAL-ID reused today, or partnerReferenceNo reused with another body."""


class RateLimitError(OvoApiError):
    """429: too many requests."""

    should_retry = True


class ServerError(OvoApiError):
    """5xx: OVO failed; the request may or may not have been processed: ask status before retrying."""

    should_retry = True


class OvoConnectionError(OvoNbError):
    """No answer: a timeout or dropped connection. The request may have been processed."""

    should_retry = True

    def __init__(self, message: str, *, call_id: int | None = None, reason: str = "") -> None:
        self.call_id = call_id
        self.reason = reason
        """What the transport said, e.g. ``ConnectError: [Errno 111] Connection refused``."""
        super().__init__(message + (f" (call {call_id} in the call log)" if call_id is not None else ""))


class CustomerMustRegister(OvoNbError):
    """Lookup answered CAN_REGISTER: the phone has no OVO account yet."""


class CustomerNotBound(OvoNbError):
    """The customer has no usable tokens: bind (again) first."""


class WebviewError(OvoNbError):
    """The webview callback is missing, malformed, or reports a failure."""


def api_error(response_code: str, response_message: str, http_status: int, *, call_id: int | None = None,
              body: dict[str, object] | None = None) -> OvoApiError:
    """The most specific :class:`OvoApiError` subclass for an answer."""
    family: type[OvoApiError] = {
        400: InvalidRequestError, 401: AuthenticationError, 403: BusinessRuleError, 404: NotFoundError,
        409: ConflictError, 429: RateLimitError,
    }.get(http_status, ServerError if http_status >= 500 else OvoApiError)
    if http_status == 403 and response_code.endswith("14"):
        family = InsufficientFundsError
    return family(response_code, response_message, http_status, call_id=call_id, body=body)


class NotebookSkipped(OvoNbError):
    """A notebook stops here because the profile lacks what it needs (a stage customer's phone, OVO's
    files): not a failure and never a pass. ``ovo-nb run`` reports it as skipped, with the reason."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this line instead of a traceback
        return [f"skipped: {self}"]
