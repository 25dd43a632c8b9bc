"""The OVO client: signed SNAP requests, one typed method per API, every exchange logged.

:class:`SnapRequestBuilder` turns "call API X with this body and token" into an
``httpx.Request`` with every header OVO expects and the right signature over the exact
bytes that go on the wire. :class:`OvoClient` sends them and turns answers into typed
results or typed errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from . import signing
from .calllog import CallLog
from .errors import OvoConnectionError, ValidationError, api_error
from .models import (
    B2BToken,
    Balance,
    Binding,
    CustomerTokens,
    Lookup,
    Payment,
    PaymentStatus,
    Refund,
    SingleUseToken,
    TopupOptions,
    Unbinding,
)
from .snap import (
    Clock,
    ExternalIdGenerator,
    PathStyle,
    SignatureKind,
    SystemClock,
    endpoint,
    format_timestamp,
    money,
    normalize_phone,
    parse_amount,
    parse_money,
)

if TYPE_CHECKING:
    from .config import Profile

__all__ = ["Dialect", "OvoClient", "SnapRequestBuilder", "check_reference"]

Dialect = Literal["ovo", "aspi"]
"""``ovo``: the customer token travels in Authorization. ``aspi``: the BI devsite's pure SNAP,
the B2B token in Authorization and the customer token in Authorization-Customer."""


@dataclass
class SnapRequestBuilder:
    """Signed SNAP requests for one partner. Secrets are kept out of ``repr``."""

    client_id: str
    client_secret: str = field(repr=False)
    private_key: rsa.RSAPrivateKey = field(repr=False)
    base_url: str = "http://ovo-sandbox.local"
    style: PathStyle = PathStyle.TECH_DOC
    dialect: Dialect = "ovo"
    encoding: signing.SignatureEncoding = "base64"
    device_id: str = "ovo-nb"
    channel_id: str = "95221"
    clock: Clock = field(default_factory=SystemClock)
    external_ids: ExternalIdGenerator | None = None

    def __post_init__(self) -> None:
        if self.external_ids is None:
            self.external_ids = ExternalIdGenerator(self.clock)
        if self.dialect == "aspi":
            self.style = PathStyle.ASPI

    def build(
        self,
        api: str,
        body: Any = None,
        *,
        token: str | None = None,
        customer_token: str | None = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Request:
        """The request for ``api`` (an :data:`ovo_nb.snap.ENDPOINTS` name), signed and ready to send.

        ``token`` goes in ``Authorization`` (the customer token for OVO, the B2B token for
        the devsite); ``customer_token`` in ``Authorization-Customer`` (devsite only).
        ``headers`` are added last, so a test can override any of them.
        """
        spec = endpoint(api)
        content = signing.serialize_body(body) if spec.method == "POST" and (body is not None or spec.is_snap) else b""
        signed_path = spec.path(self.style) + (f"?{urlencode(query)}" if query else "")
        url = self.base_url.rstrip("/") + signed_path
        timestamp = format_timestamp(self.clock.now())
        out: dict[str, str] = {"Content-Type": "application/json", "X-TIMESTAMP": timestamp}
        kind = spec.signature
        if self.dialect == "aspi" and api == "account_binding":
            kind = SignatureKind.SYMMETRIC
        if token and token.lower().startswith("bearer "):
            raise ValidationError("Give the bare token; the builder adds 'Bearer '.")
        if kind is SignatureKind.ASYMMETRIC_TOKEN:
            out["X-CLIENT-KEY"] = self.client_id
            text = signing.token_string_to_sign(self.client_id, timestamp)
            out["X-SIGNATURE"] = signing.sign_rsa_sha256(self.private_key, text, self.encoding)
        elif kind is SignatureKind.OVO:
            out["X-PARTNER-ID"] = self.client_id
            text = signing.ovo_string_to_sign(self.client_id, timestamp, signed_path)
            out["X-SIGNATURE"] = signing.sign_hmac_sha256(self.client_secret, text)
        else:
            assert self.external_ids is not None
            out.update({"X-PARTNER-ID": self.client_id, "X-EXTERNAL-ID": self.external_ids(),
                        "X-DEVICE-ID": self.device_id, "CHANNEL-ID": self.channel_id})
            if kind is SignatureKind.ASYMMETRIC_REQUEST:
                text = signing.asymmetric_request_string_to_sign(spec.method, signed_path, content, timestamp)
                out["X-SIGNATURE"] = signing.sign_rsa_sha256(self.private_key, text, self.encoding)
            else:
                text = signing.symmetric_string_to_sign(spec.method, signed_path, token or "", content, timestamp)
                out["X-SIGNATURE"] = signing.sign_hmac_sha512(self.client_secret, text, self.encoding)
        if token:
            out["Authorization"] = f"Bearer {token}"
        if customer_token:
            out["Authorization-Customer"] = f"Bearer {customer_token}"
        out.update(headers or {})
        return httpx.Request(spec.method, url, content=content, headers=out)


# ============================================================================= the client

_REFERENCE_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_TRANSPORT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def check_reference(value: str, field_name: str = "partnerReferenceNo") -> str:
    """A partner reference: 1-64 letters, digits, ``.``, ``_`` or ``-``."""
    if not isinstance(value, str) or not _REFERENCE_RE.match(value):
        raise ValidationError(
            f"{field_name} {value!r} must be 1 to 64 letters, digits, '.', '_' or '-' (unique per transaction)."
        )
    return value


class OvoClient:
    """One typed method per OVO API, over ``httpx.Client``, with every exchange in the call log.

    Input is validated before anything is sent; a non-success answer raises the matching
    :class:`~ovo_nb.errors.OvoApiError` subclass carrying the SNAP code and the call id; no
    answer at all raises :class:`~ovo_nb.errors.OvoConnectionError`.
    """

    def __init__(
        self,
        profile: Profile,
        *,
        transport: httpx.BaseTransport | None = None,
        call_log: CallLog | None = None,
        clock: Clock | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.profile = profile
        self.clock = clock or SystemClock()
        self.call_log = call_log or CallLog.open(profile.state_location("calls"))
        self.call_log.add_secret(profile.client_secret)
        self.builder = SnapRequestBuilder(
            profile.client_id, profile.client_secret, profile.private_key, base_url=profile.base_url,
            style=profile.path_style, dialect=profile.dialect,  # type: ignore[arg-type]
            encoding=profile.signature_encoding,  # type: ignore[arg-type]
            device_id=profile.device_id, channel_id=profile.channel_id, clock=self.clock,
        )
        self.http = httpx.Client(transport=self.call_log.wrap(transport or httpx.HTTPTransport()), timeout=timeout)

    def __repr__(self) -> str:
        return f"OvoClient(profile={self.profile.name!r}, base_url={self.profile.base_url!r})"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> OvoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- the one place that sends

    def call(self, api: str, body: Any = None, *, token: str | None = None, customer_token: str | None = None,
             query: dict[str, str] | None = None, scenario: str | None = None) -> tuple[dict[str, Any], int | None]:
        """Send one signed request; returns the JSON answer and its call id, or raises."""
        request = self.builder.build(api, body, token=token, customer_token=customer_token, query=query)
        if scenario:
            request.extensions["ovo_nb.scenario"] = scenario
        try:
            response = self.http.send(request)
        except _TRANSPORT_ERRORS as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise OvoConnectionError(
                f"No answer from OVO for {api} ({reason}). The request may have been processed: ask status before "
                "retrying.", call_id=request.extensions.get("ovo_nb.call_id"), reason=reason,
            ) from None
        call_id = response.extensions.get("ovo_nb.call_id")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "responseCode" not in answer:
            code = f"{response.status_code}0000"[:7] if response.status_code >= 400 else "5000000"
            raise api_error(code, f"Unexpected answer (HTTP {response.status_code}, not SNAP JSON)",
                            max(response.status_code, 500) if response.status_code < 400 else response.status_code,
                            call_id=call_id)
        code = str(answer["responseCode"])
        if not code.startswith("2"):
            raise api_error(code, str(answer.get("responseMessage", "")), response.status_code, call_id=call_id,
                            body=answer)
        return answer, call_id

    @staticmethod
    def _base(answer: dict[str, Any], call_id: int | None) -> dict[str, Any]:
        return {"response_code": str(answer["responseCode"]), "call_id": call_id, "raw": answer,
                "response_message": str(answer.get("responseMessage", ""))}

    # ----------------------------------------------------------------- tokens

    def b2b_token(self, *, scenario: str | None = None) -> B2BToken:
        """The partner's system token (15 minutes), used for refunds."""
        answer, call_id = self.call("b2b_token", {"grantType": "client_credentials", "additionalInfo": {}},
                                    scenario=scenario)
        return B2BToken(**self._base(answer, call_id), access_token=answer["accessToken"],
                        expires_in=int(answer.get("expiresIn") or 900))

    def _customer_tokens(self, answer: dict[str, Any], call_id: int | None) -> CustomerTokens:
        expiry = answer.get("accessTokenExpiryTime")
        info = answer.get("additionalInfo") or {}
        return CustomerTokens(**self._base(answer, call_id), access_token=answer["accessToken"],
                              refresh_token=answer.get("refreshToken", ""),
                              access_expires_at=datetime.fromisoformat(expiry) if expiry else None,
                              ilp=str(info.get("ilp", "")) if isinstance(info, dict) else "")

    def b2b2c_token(self, linkage_token: str, auth_code: str, *, scenario: str | None = None) -> CustomerTokens:
        """Exchange the binding webview's authCode (with the linkage token) for access + refresh tokens."""
        if not auth_code:
            raise ValidationError("auth_code is empty; it comes from the binding webview's callback.")
        answer, call_id = self.call("b2b2c_token", {"grantType": "AUTHORIZATION_CODE", "authCode": auth_code},
                                    token=linkage_token, scenario=scenario)
        return self._customer_tokens(answer, call_id)

    def refresh_token(self, refresh_token: str, *, scenario: str | None = None) -> CustomerTokens:
        """A new access token from the refresh token (which lasts until unbinding)."""
        answer, call_id = self.call("b2b2c_token", {"grantType": "REFRESH_TOKEN", "refreshToken": refresh_token},
                                    scenario=scenario)
        return self._customer_tokens(answer, call_id)

    def generate_token(self, auth_code: str, *, scenario: str | None = None) -> SingleUseToken:
        """The payment webview's authCode -> a singleUseToken (15 minutes) for the 2nd debit call."""
        if not auth_code:
            raise ValidationError("auth_code is empty; it comes from the payment webview's callback.")
        answer, call_id = self.call("generate_token", query={"grantType": "authorization_code", "code": auth_code},
                                    scenario=scenario)
        return SingleUseToken(**self._base(answer, call_id), token=answer["singleUseToken"],
                              expires_in=int(answer.get("expiresIn") or 900))

    # ----------------------------------------------------------------- linkage

    def lookup(self, phone: str, *, scenario: str | None = None) -> Lookup:
        """Whether ``phone`` can be linked: ACTIVE, LINKED, CAN_REGISTER (no OVO account yet), ..."""
        number = normalize_phone(phone)
        answer, call_id = self.call("lookup", query={"phone": number}, scenario=scenario)
        return Lookup(**self._base(answer, call_id), phone=number,
                      account_status=str(answer.get("accountStatus") or answer.get("status") or ""))

    def account_binding(self, phone: str, partner_reference_no: str, *, partner_customer_id: str | None = None,
                        scenario: str | None = None) -> Binding:
        """Start linking ``phone``: answers the linkage token (5 minutes) and the OTP webview."""
        body: dict[str, Any] = {"partnerReferenceNo": check_reference(partner_reference_no),
                                "phoneNo": normalize_phone(phone), "merchantId": self.profile.merchant_id}
        if partner_customer_id:
            body["additionalInfo"] = {"partnerCustomerId": partner_customer_id}
        answer, call_id = self.call("account_binding", body, scenario=scenario)
        account = (answer.get("additionalInfo") or {}).get("account") or {}
        return Binding(**self._base(answer, call_id), linkage_token=answer["linkageToken"],
                       account_status=str(account.get("accountStatus", "")))

    def account_unbinding(self, token: str, partner_reference_no: str, auth_code: str | None = None, *,
                          scenario: str | None = None) -> Unbinding:
        """Unbinding: 1st call with the access token (``auth_code=None``) opens the confirmation
        webview; 2nd call with that call's linkage token and the webview's authCode unlinks."""
        body = {"partnerReferenceNo": check_reference(partner_reference_no), "authCode": auth_code}
        answer, call_id = self.call("account_unbinding", body, token=token, scenario=scenario)
        return Unbinding(**self._base(answer, call_id), linkage_token=answer.get("linkageToken"),
                         unlinked=answer.get("unlinkResult") == "success")

    # ----------------------------------------------------------------- direct debit

    def balance_inquiry(self, access_token: str, *, balance_types: list[str] | None = None,
                        partner_reference_no: str | None = None, scenario: str | None = None) -> Balance:
        """The customer's OVO Cash and Points (OVO requires it before every debit)."""
        reference = partner_reference_no or f"BAL-{self.clock.now():%Y%m%d%H%M%S%f}"
        body: dict[str, Any] = {"partnerReferenceNo": check_reference(reference)}
        if balance_types:
            body["balanceTypes"] = list(balance_types)
        answer, call_id = self.call("balance_inquiry", body, token=access_token, scenario=scenario)
        accounts = {str(a["balanceType"]): parse_money(a["amount"], "amount") for a in answer.get("accountInfos", [])}
        return Balance(**self._base(answer, call_id), accounts=accounts)

    def payment_body(self, partner_reference_no: str, amount: Decimal | int | str, *, recurring: bool = False,
                     pay_method: str | None = None, return_url: str | None = None) -> dict[str, Any]:
        """The debit body; build it once and send the identical body on both calls and on retries."""
        body: dict[str, Any] = {"partnerReferenceNo": check_reference(partner_reference_no),
                                "merchantId": self.profile.merchant_id, "amount": money(parse_amount(amount))}
        if return_url:
            body["urlParam"] = [{"url": return_url, "type": "PAY_RETURN", "isDeeplink": "N"}]
        if pay_method:
            if pay_method not in ("CASH", "POINTS"):
                raise ValidationError(f"pay_method {pay_method!r} is not CASH or POINTS.")
            body["payOptionDetails"] = [{"payMethod": pay_method, "payOption": "OVO", "transAmount": body["amount"]}]
        if recurring:
            body["additionalInfo"] = {"subTransactionType": "AUTO"}
        return body

    def debit_payment(self, token: str, body: dict[str, Any], *, scenario: str | None = None) -> Payment:
        """One debit call: the access token starts it (202, PIN webview), the singleUseToken completes it."""
        answer, call_id = self.call("debit_payment", body, token=token, scenario=scenario)
        return Payment(**self._base(answer, call_id), partner_reference_no=str(answer.get("partnerReferenceNo", "")),
                       reference_no=str(answer.get("referenceNo", "")),
                       approval_code=str(answer.get("approvalCode", "")),
                       in_progress=str(answer["responseCode"]).startswith("202"))

    def debit_status(self, token: str, partner_reference_no: str, *, reference_no: str | None = None,
                     scenario: str | None = None) -> PaymentStatus:
        """Where a payment stands (``latestTransactionStatus``), with its refunds."""
        body: dict[str, Any] = {"originalPartnerReferenceNo": check_reference(partner_reference_no),
                                "serviceCode": "54", "merchantId": self.profile.merchant_id}
        if reference_no:
            body["originalReferenceNo"] = reference_no
        answer, call_id = self.call("debit_status", body, token=token, scenario=scenario)
        return PaymentStatus(**self._base(answer, call_id),
                             partner_reference_no=str(answer.get("originalPartnerReferenceNo", "")),
                             reference_no=str(answer.get("originalReferenceNo", "")),
                             latest_status=str(answer.get("latestTransactionStatus", "")),
                             description=str(answer.get("transactionStatusDesc", "")),
                             amount=parse_money(answer["amount"]) if answer.get("amount") else Decimal(0),
                             paid_time=str(answer.get("paidTime", "")), refunds=list(answer.get("refundHistory", [])))

    def refund_body(self, partner_reference_no: str, partner_refund_no: str, amount: Decimal | int | str,
                    reason: str = "") -> dict[str, Any]:
        """The refund body; the same body is resent on retries."""
        if len(reason) > 256:
            raise ValidationError("A refund reason has at most 256 characters.")
        return {"originalPartnerReferenceNo": check_reference(partner_reference_no),
                "partnerRefundNo": check_reference(partner_refund_no, "partnerRefundNo"),
                "refundAmount": money(parse_amount(amount)), "reason": reason, "merchantId": self.profile.merchant_id}

    def debit_refund(self, b2b_token: str, body: dict[str, Any], *, scenario: str | None = None) -> Refund:
        """Refund (part of) a payment with the B2B token; works after unbinding."""
        answer, call_id = self.call("debit_refund", body, token=b2b_token, scenario=scenario)
        return Refund(**self._base(answer, call_id), partner_refund_no=str(answer.get("partnerRefundNo", "")),
                      refund_no=str(answer.get("refundNo", "")),
                      amount=parse_money(answer["refundAmount"], "refundAmount"),
                      refund_time=str(answer.get("refundTime", "")))

    def topup_options(self, *, scenario: str | None = None) -> TopupOptions:
        """How a customer can top up OVO Cash (to suggest after Insufficient Funds)."""
        answer, call_id = self.call("topup_options", scenario=scenario)
        return TopupOptions(**self._base(answer, call_id), options=list(answer.get("options", [])))
