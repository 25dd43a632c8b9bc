"""The signature doctor: check a profile before the first call, explain a failed one after.

"Signature Failed" is the commonest integration failure, and OVO's answer says nothing
more. :func:`check_profile` catches what can be caught before calling (keys, formats,
clock skew, callback URLs); :func:`explain_call` rebuilds exactly what a logged request
signed and lists the usual mistakes that apply to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from . import signing
from .calllog import Call, CallLog, mask_token
from .config import Profile
from .errors import OvoNbError, ValidationError
from .keys import PKCS1_FILE, X509_FILE, fingerprint, load_public_key, validate_callback_url
from .snap import JAKARTA, TIMESTAMP_WINDOW, SignatureKind, match_endpoint, parse_timestamp

__all__ = ["Check", "Explanation", "check_profile", "explain_call"]

EXPECTED_TOKEN = {
    "b2b_token": "none",
    "b2b2c_token": "the linkageToken (new binding) or none (refresh)",
    "account_binding": "none",
    "account_unbinding": "the access token (1st call) or the unbinding linkageToken (2nd call)",
    "balance_inquiry": "the customer's access token",
    "debit_payment": "the access token (1st call) or the singleUseToken (2nd call)",
    "debit_status": "the customer's access token",
    "debit_refund": "the B2B token",
}


@dataclass(frozen=True)
class Check:
    """One check of a profile: passed or not, what was found, and what to do."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def _skew_check(profile: Profile, transport: httpx.BaseTransport | None) -> Check:
    try:
        with httpx.Client(transport=transport, timeout=10) as http:
            response = http.get(profile.base_url.rstrip("/") + "/")
    except httpx.HTTPError as exc:
        return Check("clock skew", False, f"{profile.base_url} did not answer ({type(exc).__name__})",
                     "check the base URL and the network (or the IP whitelist)")
    server: datetime | None = None
    if response.headers.get("X-TIMESTAMP"):
        server = parse_timestamp(response.headers["X-TIMESTAMP"])
    elif response.headers.get("Date"):
        server = parsedate_to_datetime(response.headers["Date"])
    if server is None:
        return Check("clock skew", True, "the server sent no Date header; skew not measured")
    skew = (datetime.now(JAKARTA) - server).total_seconds()
    ok = abs(skew) < TIMESTAMP_WINDOW.total_seconds() / 2
    return Check("clock skew", ok, f"local clock is {skew:+.1f} s from the server's",
                 "" if ok else "sync this machine's clock (NTP): X-TIMESTAMP must be within 5 minutes of OVO's")


def check_profile(profile: Profile, *, transport: httpx.BaseTransport | None = None) -> list[Check]:
    """Everything that can be checked before the first real call."""
    checks = [Check("credentials", True, f"client id {profile.client_id}, secret {profile.masked_secret}, "
                                         f"merchant {profile.merchant_id}")]
    try:
        key = profile.private_key
        checks.append(Check("private key", True, f"{profile.private_key_path} loads: RSA {key.key_size}, "
                                                 f"{fingerprint(key)}"))
    except OvoNbError as exc:
        checks.append(Check("private key", False, str(exc), "run notebooks/01_key_setup.ipynb, or set "
                                                             "OVO_NB_PRIVATE_KEY_PATH and OVO_NB_KEY_PASSPHRASE"))
        key = None
    for name, label in ((X509_FILE, "X.509 (for sharing credentials)"), (PKCS1_FILE, "PKCS#1 (for signatures)")):
        path = profile.private_key_path.parent / name
        if not path.exists():
            checks.append(Check(f"public key {label}", False, f"{path} is missing",
                                "run the key-setup notebook: OVO asks for both formats"))
            continue
        matches = key is not None and fingerprint(load_public_key(path)) == fingerprint(key)
        verdict = "matches" if matches else "does NOT match"
        fix = "" if matches else "send OVO the public keys of the key you sign with"
        checks.append(Check(f"public key {label}", matches, f"{path} {verdict} the private key", fix))
    for url in profile.callback_urls:
        try:
            validate_callback_url(url)
            checks.append(Check("callback URL", True, url))
        except ValidationError as exc:
            checks.append(Check("callback URL", profile.is_sandbox, str(exc), "register static https URLs with OVO"))
    if key is not None:
        text = signing.token_string_to_sign(profile.client_id, "2026-01-01T00:00:00.000+07:00")
        ok = signing.verify_rsa_sha256(key.public_key(), text, signing.sign_rsa_sha256(key, text))
        checks.append(Check("signature self-test", ok, "SHA256withRSA signs and verifies"))
    checks.append(_skew_check(profile, transport))
    return checks


@dataclass(frozen=True)
class Explanation:
    """What a logged request signed, whether our key/secret reproduces its signature, and likely causes."""

    call_id: int
    api: str
    signature_kind: str
    string_to_sign: str = field(repr=False)
    body_hash: str
    signature_reproduced: bool | None
    answer: str
    findings: list[str]
    token: str = field(default="", repr=False)
    """The bearer token inside the string-to-sign: shown masked, never in full."""

    def __str__(self) -> str:
        shown = self.string_to_sign.replace(self.token, mask_token(self.token)) if self.token else self.string_to_sign
        lines = [f"call {self.call_id}: {self.api} ({self.signature_kind} signature) -> {self.answer}",
                 f"string to sign: {shown}", f"body hash:      {self.body_hash}"]
        if self.signature_reproduced is not None:
            verdict = "yes" if self.signature_reproduced else "NO"
            lines.append(f"our key/secret reproduces the signature sent: {verdict}")
        lines += [f"- {finding}" for finding in self.findings]
        return "\n".join(lines)


def _header(call: Call, name: str) -> str:
    return next((v for k, v in call.request_headers.items() if k.lower() == name.lower()), "")


def explain_call(log: CallLog, call_id: int, profile: Profile) -> Explanation:
    """Rebuild what call ``call_id`` signed (needs the sealed, unredacted record) and diagnose it."""
    try:
        call = log.get(call_id, reveal=True)
    except OvoNbError:
        call = log.get(call_id)
    path = urlsplit(call.url).path + (f"?{urlsplit(call.url).query}" if urlsplit(call.url).query else "")
    api = match_endpoint(path)
    if api is None:
        raise ValidationError(f"Call {call_id} went to {path}, which is no OVO API.")
    kind = api.signature
    body = call.request_body.encode()
    timestamp = _header(call, "X-TIMESTAMP")
    token = _header(call, "Authorization").partition(" ")[2]
    findings: list[str] = []
    try:
        parse_timestamp(timestamp)
    except ValidationError as exc:
        findings.append(str(exc))
    text = signing.compose_string_to_sign(kind, client_id=profile.client_id, method=call.method, path=path,
                                          token=token, digest=signing.body_hash(body), timestamp=timestamp)
    sent = _header(call, "X-SIGNATURE")
    reproduced: bool | None = None
    if kind is SignatureKind.SYMMETRIC and "…" in token:
        findings.append("The log holds the token masked: record with CallLog.open() to keep the sealed full request.")
    elif kind in (SignatureKind.ASYMMETRIC_TOKEN, SignatureKind.ASYMMETRIC_REQUEST):
        reproduced = signing.verify_rsa_sha256(profile.private_key.public_key(), text, sent)
    elif kind is SignatureKind.OVO:
        reproduced = signing.verify_hmac_sha256(profile.client_secret, text, sent)
    else:
        reproduced = signing.verify_hmac_sha512(profile.client_secret, text, sent)
    if body and signing.minify(body) != body:
        findings.append("The body has whitespace between tokens: OVO hashes minify(body); send the exact bytes you "
                        "hash, serialised compactly once.")
    if "\\/" in call.request_body:
        findings.append("The body escapes '/' as '\\/' (PHP json_encode default): a re-serialising server hashes "
                        "different bytes.")
    expected_token = EXPECTED_TOKEN.get(api.name)
    if expected_token:
        findings.append(f"{api.name} expects in Authorization: {expected_token}.")
    if kind is SignatureKind.SYMMETRIC and not token:
        findings.append("No bearer token was sent, so the string-to-sign has an empty token.")
    if "/v1.0/" in path and api.tech_doc_version == "v2.0":
        findings.append("The path uses the FAQ's /v1.0 prefix; OVO's tech doc serves this API under /v2.0.")
    answer = f"{call.status} {call.response_code or ''} {call.response_message or call.error or ''}".strip()
    sandbox = (call.response_json or {}).get("_sandbox") if isinstance(call.response_json, dict) else None
    if isinstance(sandbox, dict) and sandbox.get("hint"):
        findings.insert(0, f"The sandbox says ({sandbox.get('mismatch', 'hint')}): {sandbox['hint']}")
    if reproduced is False:
        findings.insert(0, "Our key/secret does not reproduce the X-SIGNATURE that was sent: the request was signed "
                           "with another key or secret, or over other bytes than the logged ones.")
    return Explanation(call_id, api.name, kind.value, text, signing.body_hash(body), reproduced, answer, findings,
                       token)

