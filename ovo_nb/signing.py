"""SNAP signatures: string-to-sign builders, signers and verifiers.

Four kinds (SNAP_SPEC "Signatures"):

=====================  ==========================================================  ===============
kind                   string to sign                                              algorithm
=====================  ==========================================================  ===============
asymmetric token       ``clientId|X-TIMESTAMP``                                    SHA256withRSA
asymmetric request     ``METHOD:path:bodyHash:X-TIMESTAMP``                        SHA256withRSA
symmetric              ``METHOD:path:accessToken:bodyHash:X-TIMESTAMP``            HMAC-SHA512
OVO (non-SNAP)         ``clientId:X-TIMESTAMP:path`` (*assumed*)                   HMAC-SHA256
=====================  ==========================================================  ===============

The builders are public so a notebook can show exactly what was signed. Signers take the
exact body bytes that go on the wire (see :func:`serialize_body`); verifiers accept Base64
or hex signatures, as the sandbox must.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import re
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import SignatureError, ValidationError
from .snap import SignatureKind, parse_timestamp

__all__ = [
    "EMPTY_BODY_HASH",
    "SignatureEncoding",
    "asymmetric_request_string_to_sign",
    "body_hash",
    "body_hash_variants",
    "compose_string_to_sign",
    "faq_typo_string_to_sign",
    "minify",
    "ovo_string_to_sign",
    "serialize_body",
    "sign_hmac_sha256",
    "sign_hmac_sha512",
    "sign_rsa_sha256",
    "symmetric_string_to_sign",
    "token_string_to_sign",
    "verify_hmac_sha256",
    "verify_hmac_sha512",
    "verify_rsa_sha256",
]

SignatureEncoding = Literal["base64", "hex"]
"""How a signature's bytes are written in X-SIGNATURE: SNAP's Base64, or OVO's sample hex."""

EMPTY_BODY_HASH = hashlib.sha256(b"").hexdigest()
"""The body hash of a request without a body (GET)."""

# --------------------------------------------------------------------------- bodies


def serialize_body(body: Any) -> bytes:
    """Serialise a JSON body once, compactly, keys in insertion order, non-ASCII kept.

    These are the bytes to hash *and* to send: signing one serialisation and sending
    another is the commonest cause of "Signature Failed". ``None`` is the empty body.
    """
    if body is None:
        return b""
    try:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"The request body cannot be sent as JSON ({exc}); use str, int, bool, None, lists and dicts, "
            "and format amounts with ovo_nb.snap.money()."
        ) from None


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_WHITESPACE = b" \t\r\n"


def minify(body: bytes | str | Any) -> bytes:
    """SNAP's ``minify(body)``: the JSON with no whitespace outside strings, order kept.

    Bytes or text are minified as they are (strings and escapes untouched, no re-encoding),
    so what was sent is what gets hashed; any other value is serialised first with
    :func:`serialize_body`. Empty input stays empty. One pass over valid JSON: strings are
    copied whole and the bytes between them lose their whitespace.
    """
    if isinstance(body, str):
        body = body.encode()
    if not isinstance(body, (bytes, bytearray)):
        return serialize_body(body)
    data = bytes(body)
    parts: list[bytes] = []
    position = 0
    for match in _JSON_STRING.finditer(data):
        parts.append(data[position:match.start()].translate(None, _JSON_WHITESPACE))
        parts.append(match.group())
        position = match.end()
    parts.append(data[position:].translate(None, _JSON_WHITESPACE))
    return b"".join(parts)


def body_hash(body: bytes | str | Any) -> str:
    """``lowercase(hex(SHA-256(minify(body))))``."""
    return hashlib.sha256(minify(body)).hexdigest()


_NOT_PARSED = object()


def body_hash_variants(raw: bytes, parsed: Any = _NOT_PARSED) -> dict[str, str]:
    """The body hashes a lenient server accepts for ``raw``, by the form that produced them.

    ``minified`` (whitespace outside strings removed: SNAP's own form) first, then ``raw`` (the
    bytes as received), ``compact`` (parsed and re-serialised with non-ASCII kept) and
    ``compact-ascii`` (the same with non-ASCII escaped, as Python's default does). Third-party
    SNAP clients sign each of these. Pass ``parsed`` when the body was already parsed.
    """
    variants = {"minified": body_hash(raw), "raw": hashlib.sha256(raw).hexdigest()}
    if raw.strip():
        if parsed is _NOT_PARSED:
            try:
                parsed = json.loads(raw)
            except (ValueError, RecursionError):
                return variants
        for name, ascii_only in (("compact", False), ("compact-ascii", True)):
            text = json.dumps(parsed, separators=(",", ":"), ensure_ascii=ascii_only)
            variants[name] = hashlib.sha256(text.encode()).hexdigest()
    return variants


# --------------------------------------------------------------------------- strings to sign


def _check_path(path: str) -> None:
    if not path.startswith("/"):
        raise ValidationError(
            f"Signed path {path!r} must be the path as sent on the wire, starting with '/' and without "
            "scheme or host, e.g. '/OVOSNAP/v2.0/balance-inquiry'."
        )


def compose_string_to_sign(
    kind: SignatureKind, *, client_id: str = "", method: str = "", path: str = "", token: str = "",
    digest: str = "", timestamp: str = "",
) -> str:
    """The string-to-sign of ``kind`` from its parts, unchecked: the one definition that the
    client's signer, the sandbox's verifier and the doctor's explainer all use.

    ``digest`` is the body hash (:func:`body_hash`); ``token`` the bare bearer token.
    """
    if kind is SignatureKind.ASYMMETRIC_TOKEN:
        return f"{client_id}|{timestamp}"
    if kind is SignatureKind.ASYMMETRIC_REQUEST:
        return f"{method.upper()}:{path}:{digest}:{timestamp}"
    if kind is SignatureKind.SYMMETRIC:
        return f"{method.upper()}:{path}:{token}:{digest}:{timestamp}"
    return f"{client_id}:{timestamp}:{path}"


def faq_typo_string_to_sign(method: str, path: str, digest: str, timestamp: str) -> str:
    """The FAQ's printed binding formula, one colon short (``METHOD:pathbodyHash:X-TIMESTAMP``).

    A typo (ASPI and every provider put the colon in); the sandbox accepts it only from a
    lenient partner and the doctor names it.
    """
    return f"{method.upper()}:{path}{digest}:{timestamp}"


def token_string_to_sign(client_id: str, timestamp: str) -> str:
    """Asymmetric token signature (B2B and B2B2C token): ``clientId + "|" + X-TIMESTAMP``."""
    if not client_id:
        raise ValidationError("client_id is empty; it is the X-CLIENT-KEY OVO gave you.")
    parse_timestamp(timestamp)
    return compose_string_to_sign(SignatureKind.ASYMMETRIC_TOKEN, client_id=client_id, timestamp=timestamp)


def asymmetric_request_string_to_sign(method: str, path: str, body: bytes | str | Any, timestamp: str) -> str:
    """Asymmetric request signature (account binding): ``METHOD:path:bodyHash:X-TIMESTAMP``.

    The FAQ prints this without the colon after the path; ASPI and every provider put it
    there, and so do we.
    """
    _check_path(path)
    parse_timestamp(timestamp)
    return compose_string_to_sign(SignatureKind.ASYMMETRIC_REQUEST, method=method, path=path,
                                  digest=body_hash(body), timestamp=timestamp)


def symmetric_string_to_sign(
    method: str, path: str, access_token: str, body: bytes | str | Any, timestamp: str
) -> str:
    """Symmetric signature: ``METHOD:path:accessToken:bodyHash:X-TIMESTAMP``.

    ``access_token`` is the bare token that travels in ``Authorization`` (no ``Bearer``).
    """
    _check_path(path)
    parse_timestamp(timestamp)
    if access_token.lower().startswith("bearer "):
        raise ValidationError(
            "The token in a string-to-sign is the bare token: drop the 'Bearer ' prefix."
        )
    return compose_string_to_sign(SignatureKind.SYMMETRIC, method=method, path=path, token=access_token,
                                  digest=body_hash(body), timestamp=timestamp)


def ovo_string_to_sign(client_id: str, timestamp: str, path: str) -> str:
    """OVO's non-SNAP signature (lookup, generate token, top-up options).

    OVO keeps this one in its Postman scripts; ``clientId:X-TIMESTAMP:path`` (with the raw
    query string) is the *assumed* form the sandbox checks. Swap the signer when OVO's
    real one is known.
    """
    _check_path(path)
    parse_timestamp(timestamp)
    return compose_string_to_sign(SignatureKind.OVO, client_id=client_id, timestamp=timestamp, path=path)


# --------------------------------------------------------------------------- encodings


def _encode(raw: bytes, encoding: SignatureEncoding) -> str:
    if encoding == "base64":
        return base64.b64encode(raw).decode("ascii")
    if encoding == "hex":
        return raw.hex()
    raise SignatureError(f"Signature encoding {encoding!r} is not 'base64' or 'hex'.")


def _decode_candidates(signature: str) -> list[bytes]:
    """The byte strings ``signature`` may stand for: hex and/or strict Base64."""
    candidates: list[bytes] = []
    if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", signature):
        candidates.append(bytes.fromhex(signature))
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.b64decode(signature, validate=True))
    return candidates


# --------------------------------------------------------------------------- RSA


def sign_rsa_sha256(
    private_key: rsa.RSAPrivateKey, string_to_sign: str, encoding: SignatureEncoding = "base64"
) -> str:
    """SHA256withRSA (RSASSA-PKCS1-v1_5) over the UTF-8 string, Base64 (or hex)."""
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise SignatureError("SNAP asymmetric signatures need an RSA private key; load one with ovo_nb.keys.")
    raw = private_key.sign(string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
    return _encode(raw, encoding)


def verify_rsa_sha256(public_key: rsa.RSAPublicKey, string_to_sign: str, signature: str) -> bool:
    """True when ``signature`` (Base64 or hex) is the partner's SHA256withRSA of the string."""
    for raw in _decode_candidates(signature):
        try:
            public_key.verify(raw, string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            continue
        return True
    return False


# --------------------------------------------------------------------------- HMAC


def _hmac(secret: str, string_to_sign: str, digest: str) -> bytes:
    if not secret:
        raise SignatureError("The client secret is empty; it comes in the credential file OVO sends.")
    return hmac.new(secret.encode(), string_to_sign.encode(), digest).digest()


def _verify_hmac(expected: bytes, signature: str) -> bool:
    return any(hmac.compare_digest(expected, raw) for raw in _decode_candidates(signature))


def sign_hmac_sha512(client_secret: str, string_to_sign: str, encoding: SignatureEncoding = "base64") -> str:
    """The symmetric (transactional) signature: HMAC-SHA512 keyed with the client secret."""
    return _encode(_hmac(client_secret, string_to_sign, "sha512"), encoding)


def verify_hmac_sha512(client_secret: str, string_to_sign: str, signature: str) -> bool:
    """Constant-time check of a symmetric signature given in Base64 or hex."""
    return _verify_hmac(_hmac(client_secret, string_to_sign, "sha512"), signature)


def sign_hmac_sha256(client_secret: str, string_to_sign: str, encoding: SignatureEncoding = "hex") -> str:
    """The OVO (non-SNAP) signature as the sandbox defines it: HMAC-SHA256, hex (*assumed*)."""
    return _encode(_hmac(client_secret, string_to_sign, "sha256"), encoding)


def verify_hmac_sha256(client_secret: str, string_to_sign: str, signature: str) -> bool:
    """Constant-time check of an OVO (non-SNAP) signature given in hex or Base64."""
    return _verify_hmac(_hmac(client_secret, string_to_sign, "sha256"), signature)
