"""Building and signing SNAP requests for OVO (and the BI devsite's pure-SNAP dialect).

:class:`SnapRequestBuilder` turns "call API X with this body and token" into an
``httpx.Request`` with every header OVO expects and the right signature over the exact
bytes that go on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from . import signing
from .errors import ValidationError
from .snap import Clock, ExternalIdGenerator, PathStyle, SignatureKind, SystemClock, endpoint, format_timestamp

__all__ = ["Dialect", "SnapRequestBuilder"]

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
        path = spec.path(self.style)
        url = self.base_url.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")
        request = httpx.Request(spec.method, url, content=content)
        signed_path = request.url.raw_path.decode("ascii")
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
        request.headers.update(out)
        return request
