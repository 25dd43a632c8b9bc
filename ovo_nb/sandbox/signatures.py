"""Checking X-SIGNATURE as OVO's gateway does, and explaining a failure the way OVO never will.

Strings to sign come from :func:`ovo_nb.signing.compose_string_to_sign`, the same definition
the client signs with. The body's hash forms are computed once per request
(:class:`BodyForms`), before the state lock, in one linear pass each.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from .. import signing
from ..errors import ValidationError
from ..keys import load_public_key
from ..snap import SignatureKind
from ._state import Row
from ._types import SIGNATURE_FAILED, SandboxRequest, SnapError


@dataclass(frozen=True)
class BodyForms:
    """The body hashes a request may have been signed over, by form (``minified`` is SNAP's)."""

    hashes: dict[str, str]

    @classmethod
    def of(cls, raw: bytes, parsed: Any) -> BodyForms:
        if parsed is None:
            return cls({"minified": signing.body_hash(raw), "raw": hashlib.sha256(raw).hexdigest()})
        return cls(signing.body_hash_variants(raw, parsed))

    @property
    def minified(self) -> str:
        return self.hashes["minified"]


@functools.lru_cache(maxsize=64)
def public_key(pem: str) -> rsa.RSAPublicKey:
    return load_public_key(pem.encode())


def verify_signature(kind: SignatureKind, partner: Row, request: SandboxRequest, timestamp: str,
                     forms: BodyForms, token: str) -> str | None:
    """Check X-SIGNATURE; returns which body form matched, or raises 401 with an explanation.

    A strict partner's body hash must be SNAP's ``minified`` form; a lenient one's may be any
    of :class:`BodyForms`, or the FAQ's one-colon-short binding formula (``faq-typo``).
    """
    signature = request.header("X-SIGNATURE") or ""
    client_id = partner["client_id"]
    parts = {"client_id": client_id, "method": request.method, "path": request.raw_path, "token": token,
             "timestamp": timestamp}
    if kind in (SignatureKind.ASYMMETRIC_TOKEN, SignatureKind.OVO):
        expected = signing.compose_string_to_sign(kind, **parts)
        if _verifies(kind, partner, expected, signature):
            return None
        raise _signature_error(kind, partner, request, timestamp, signature, token, expected)
    variants = forms.hashes if partner["lenient"] else {"minified": forms.minified}
    for form, digest in variants.items():
        if _verifies(kind, partner, signing.compose_string_to_sign(kind, digest=digest, **parts), signature):
            return form
    if partner["lenient"] and kind is SignatureKind.ASYMMETRIC_REQUEST and _verifies(
            kind, partner, signing.faq_typo_string_to_sign(request.method, request.raw_path, forms.minified,
                                                           timestamp), signature):
        return "faq-typo"
    expected = signing.compose_string_to_sign(kind, digest=forms.minified, **parts)
    raise _signature_error(kind, partner, request, timestamp, signature, token, expected)


def _verifies(kind: SignatureKind, partner: Row, text: str, signature: str) -> bool:
    if kind in (SignatureKind.ASYMMETRIC_TOKEN, SignatureKind.ASYMMETRIC_REQUEST):
        return signing.verify_rsa_sha256(public_key(partner["public_key_pem"]), text, signature)
    if kind is SignatureKind.OVO:
        return signing.verify_hmac_sha256(partner["client_secret"], text, signature)
    return signing.verify_hmac_sha512(partner["client_secret"], text, signature)


def _signature_error(kind: SignatureKind, partner: Row, request: SandboxRequest, timestamp: str, signature: str,
                     token: str, expected: str) -> SnapError:
    """401 "Signature Failed", with a sandbox-only account of what the server signed and what differed."""
    shown = expected.replace(token, "{token}") if token else expected
    explain: dict[str, Any] = {"signatureKind": kind.value, "stringToSign": shown}
    if token and token in expected:
        explain["token"] = "{token} is the bearer token you sent, sha256 " + hashlib.sha256(
            token.encode()).hexdigest()[:12]
    if kind in (SignatureKind.SYMMETRIC, SignatureKind.ASYMMETRIC_REQUEST):
        explain["bodyHash"] = signing.body_hash(request.body)
    explain.update(_diagnose(kind, partner, request, timestamp, signature, token))
    return SnapError(401, "00", reason=SIGNATURE_FAILED, extra={"_sandbox": explain})


def _diagnose(kind: SignatureKind, partner: Row, request: SandboxRequest, timestamp: str, signature: str,
              token: str) -> dict[str, str]:
    """Try the usual client mistakes; name the first one that reproduces the signature."""
    public = public_key(partner["public_key_pem"])
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
        return signing.compose_string_to_sign(kind, client_id=client_id, method=method, path=path, token=tok,
                                              digest=dig, timestamp=timestamp)

    def signs_over(dig: str) -> Callable[[], bool]:
        return lambda: signed(sts(dig=dig))

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
        ("body", "You hashed the body exactly as sent; OVO hashes minify(body) (a lenient sandbox partner "
                 "would accept this with a warning).", lambda: signed(sts(dig=raw_digest))),
        ("body", "You used the FAQ's typo form (no ':' between path and body hash); put the colon in.",
         lambda: kind is SignatureKind.ASYMMETRIC_REQUEST
         and rsa_ok(signing.faq_typo_string_to_sign(method, request.raw_path, digest, timestamp))),
        ("algorithm", "This endpoint takes an RSA SHA256withRSA signature with your private key; you sent "
                      "an HMAC with the client secret.",
         lambda: kind is not SignatureKind.SYMMETRIC and hmac_ok(sts())),
        ("algorithm", "This endpoint takes HMAC-SHA512 keyed with the client secret; you signed with your "
                      "private key.", lambda: kind is SignatureKind.SYMMETRIC and rsa_ok(sts())),
    ]
    candidates += [
        ("body", f"The body you sent is not the body you signed: the signature matches this body {form}. Hash "
                 "exactly the bytes you send (SNAP hashes minify(body) of the body sent); in Postman, resolve every "
                 "variable and set the body you hashed before sending (pm.request.body.update).",
         signs_over(restyled))
        for form, restyled in restyled_digests(request.body)
    ]
    for part, hint, check in candidates:
        try:
            if check():
                return {"mismatch": part, "hint": hint}
        except (ValidationError, ValueError):
            continue
    return {"mismatch": "unknown", "hint": "No common mistake reproduces this signature. Check the key or "
            "client secret, that you hash the exact body bytes you send, the token, and the timestamp. In Postman "
            "a collection-level script runs before the request's own: a variable the request's script changes "
            "afterwards, or a dynamic variable such as {{$guid}} in the body resolved again at sending, makes the "
            "body sent differ from the body signed."}


RESTYLE_MAX_BYTES = 64 * 1024
"""Bodies up to this size are re-serialised to diagnose a failure (SNAP bodies are a few hundred bytes)."""
_LAYOUTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("minified", {"separators": (",", ":")}),
    ("pretty-printed with 2 spaces", {"indent": 2}),
    ("pretty-printed with 4 spaces", {"indent": 4}),
    ("pretty-printed with tabs", {"indent": "\t"}),
    ("with a space after each ':' and ','", {}),
)


def restyled_digests(raw: bytes) -> list[tuple[str, str]]:
    """Hashes of other forms of the body a client may have signed while sending this one, each named:
    pretty-printed or spaced (what a signer sees in an editor), and with its keys re-ordered (sorted)."""
    if len(raw) > RESTYLE_MAX_BYTES:
        return []
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):
        return []
    forms = []
    for sort_keys in (False, True):
        for layout, options in _LAYOUTS:
            if layout == "minified" and not sort_keys:
                continue  # the minified form: what was checked
            text = json.dumps(parsed, ensure_ascii=False, sort_keys=sort_keys, **options)
            forms.append((layout + (", keys re-ordered (sorted)" if sort_keys else ""),
                          hashlib.sha256(text.encode()).hexdigest()))
    return forms
