"""The signature doctor: check a profile before the first call, explain a failed one after.

"Signature Failed" is the commonest integration failure, and OVO's answer says nothing
more. :func:`check_profile` checks what can be checked here (keys, formats, callback URLs)
and then proves the credentials against the profile's server: a B2B token request (client id,
private key, clock) and a symmetric call that can only be answered "not found" when the client
secret and merchant id are right. :func:`explain_call` rebuilds exactly what a logged request
signed and lists the usual mistakes that apply to it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from . import signing
from .calllog import SCHEMA as CALLS
from .calllog import Call, CallLog, mask_token
from .client import OvoClient
from .config import Profile, read_toml
from .errors import (
    AuthenticationError,
    KeyFileError,
    NotFoundError,
    OvoApiError,
    OvoConnectionError,
    OvoNbError,
    ValidationError,
)
from .keys import PKCS1_FILE, X509_FILE, fingerprint, load_public_key, validate_callback_url
from .ledger import SCHEMA as LEDGER
from .secretbox import VAULT_KEY_FILE_ENV
from .snap import JAKARTA, TIMESTAMP_WINDOW, SignatureKind, match_endpoint, parse_timestamp
from .storage import inspect_store, masked, not_yet_made
from .tokens import SCHEMA as VAULT
from .tokens import TokenVault

__all__ = ["Check", "Explanation", "check_profile", "check_state", "explain_call", "prove_credentials"]

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
    """One check of a profile: passed or not (or not checked at all), what was found, and what to do."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    checked: bool = True
    """False when the check could not run (the server was not reached): never a pass."""

    @property
    def label(self) -> str:
        return "SKIP" if not self.checked else ("ok  " if self.ok else "FAIL")


def _not_checked(names: tuple[str, ...], why: str) -> list[Check]:
    return [Check(name, False, f"not checked: {why}", checked=False) for name in names]


def _skew_check(profile: Profile, transport: httpx.BaseTransport | None) -> Check:
    try:
        with httpx.Client(transport=transport, timeout=10) as http:
            response = http.get(profile.base_url.rstrip("/") + "/")
    except httpx.HTTPError as exc:
        return Check("clock skew", False, f"not checked: {profile.base_url} did not answer ({type(exc).__name__})",
                     checked=False)
    server: datetime | None = None
    if response.headers.get("X-TIMESTAMP"):
        server = parse_timestamp(response.headers["X-TIMESTAMP"])
    elif response.headers.get("Date"):
        server = parsedate_to_datetime(response.headers["Date"])
    if server is None:
        return Check("clock skew", True, "the server sent no Date header; skew not measured")
    skew = (datetime.now(JAKARTA) - server).total_seconds()
    ok = abs(skew) < TIMESTAMP_WINDOW.total_seconds() / 2
    if not ok and profile.is_sandbox:  # the sandbox's business time, moved on purpose: not this machine's clock
        return Check("clock skew", True, f"the sandbox's business time is {-skew:+.0f} s from this machine's (moved "
                                         "with `ovo-nb trigger clock`?); at OVO, its clock is what counts")
    return Check("clock skew", ok, f"local clock is {skew:+.1f} s from the server's",
                 "" if ok else "sync this machine's clock (NTP): X-TIMESTAMP must be within 5 minutes of OVO's")


def _credentials_check(profile: Profile) -> Check:
    """The client id, secret and merchant id, each with where it came from; a secret issued for another client id
    than the one in use (two sources mixed) is named."""
    origin = {name: profile.source(name) for name in ("client_id", "client_secret", "merchant_id")}
    detail = (f"client id {profile.client_id} ({origin['client_id']}), secret {profile.masked_secret} "
              f"({origin['client_secret']}), merchant {profile.merchant_id} ({origin['merchant_id']})")
    secret_file = Path(origin["client_secret"])
    if secret_file.name == "credentials.toml" and origin["client_id"] != origin["client_secret"]:
        try:
            issued_for = str(read_toml(secret_file, private=True).get("client_id", ""))
        except OvoNbError:
            issued_for = ""
        if issued_for and issued_for != profile.client_id:
            return Check("credentials", False, f"{detail}: the secret was issued for {issued_for}, not "
                                               f"{profile.client_id}",
                         f"use one pair: the client id and secret OVO sent together (remove client_id from "
                         f"{origin['client_id']}, or decrypt that client's files)")
    return Check("credentials", True, detail)


def check_profile(profile: Profile, *, transport: httpx.BaseTransport | None = None,
                  offline: bool = False) -> list[Check]:
    """The local checks (keys, both public formats, callback URLs) and, unless ``offline``, the clock skew
    and the credentials proven against the profile's server (:func:`prove_credentials`)."""
    checks = [_credentials_check(profile)]
    try:
        key = profile.private_key
        checks.append(Check("private key", True, f"{profile.private_key_path} loads: RSA {key.key_size}, "
                                                 f"{fingerprint(key)}"))
    except OvoNbError as exc:
        fix = f"run `ovo-nb run key_setup --profile {profile.name}`, or set OVO_NB_PRIVATE_KEY_PATH and " \
              "OVO_NB_KEY_PASSPHRASE"
        checks.append(Check("private key", False, str(exc), fix))
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
    if not offline:
        state = check_state(profile)
        checks += state
        if not all(c.ok for c in state):  # the calls made to prove the credentials could not be logged
            return checks + _not_checked(("clock skew", *_SERVER_CHECKS), "the state database is not usable (above)")
        checks.append(_skew_check(profile, transport))
        checks += prove_credentials(profile, transport=transport) if key is not None else _not_checked(
            _SERVER_CHECKS, "no private key to sign with")
    return checks


def check_state(profile: Profile) -> list[Check]:
    """Where the call log, vault and ledger live; for a team's database: reached, at this ovo-nb's schema
    version, and this user allowed to read and write its tables (the password is never shown)."""
    if not profile.state_url:
        return [Check("state", True, f"SQLite files in {profile.state_dir} (this machine only; a team shares a "
                                     "database through state_url)"),
                _vault_key_check(profile, made=not not_yet_made(profile.state_file("vault")))]
    location = str(profile.state_location("calls"))
    found = inspect_store(location, (CALLS, VAULT, LEDGER))
    if not found[0].reached:
        return [Check("database", False, found[0].problem, "check state_url, the password ($PGPASSWORD or "
                      "~/.pgpass), sslmode, and that the server runs and lets this machine in")]
    checks = [Check("database", True, f"{masked(location)} answers")]
    versions = []
    for room in found:
        if room.version is None:
            versions.append(f"{room.room} not created yet (the first use creates it)")
        else:
            versions.append(f"{room.room} v{room.version}" + ("" if room.version == room.expected else
                                                              f" (this ovo-nb: v{room.expected})"))
    old = [r for r in found if r.version is not None and r.version < r.expected]
    new = [r for r in found if r.version is not None and r.version > r.expected]
    fix = ("run `ovo-nb state upgrade` once, then teammates need this ovo-nb too" if old else
           "upgrade ovo-nb (pip install -U ovo-nb): a teammate's newer one upgraded the database" if new else "")
    checks.append(Check("schema version", not old and not new, ", ".join(versions), fix))
    missing = [p for room in found for p in room.missing_privileges]
    checks.append(Check("database privileges", not missing,
                        "missing " + ", ".join(missing) if missing else "read and write on every table",
                        f"the database's owner grants them to this user (README: Sharing an integration with your "
                        f"team), e.g. GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA {profile.state_schema} TO "
                        "<user>"))
    if not old and not new and not missing:  # the vault opens only where its schema and privileges are right
        vault = next(r for r in found if r.room == VAULT.room)
        checks.append(_vault_key_check(profile, made=vault.version is not None))
    return checks


def _vault_key_check(profile: Profile, *, made: bool) -> Check:
    """Whether this machine's vault key opens the tokens sealed in the profile's vault (a teammate with another
    key, or none set, would seal what the others cannot open)."""
    if not made:
        return Check("vault key", True, "no token sealed yet: the first binding seals them with this machine's key")
    try:
        TokenVault(profile.state_location("vault")).close()
    except KeyFileError as exc:
        return Check("vault key", False, str(exc), f"set {VAULT_KEY_FILE_ENV} to the key file the others use")
    return Check("vault key", True, f"opens the tokens sealed in {profile.state_where}")


_SERVER_CHECKS = ("network", "client id", "private key at OVO", "clock at OVO", "client secret", "merchant id")


def _refused_token(exc: AuthenticationError, profile: Profile) -> list[Check]:
    """What a refused B2B token request says about the client id, the key and the clock."""
    said = f"{exc.response_code} {exc.response_message}"
    reason = exc.response_message.lower()
    if "client" in reason or "partner" in reason:
        return [Check("network", True, f"{profile.base_url} answers"),
                Check("client id", False, f"OVO does not know {profile.client_id} ({said})",
                      f"use the client id OVO sent for {profile.name} (stage and production differ); this one came "
                      f"from {profile.source('client_id')}"),
                *_not_checked(_SERVER_CHECKS[2:], "the client id was refused")]
    if "whitelist" in reason or " ip " in f" {reason} ":
        return [Check("network", False, f"OVO refused this machine's address ({said})",
                      "call from an address in the IP whitelist OVO registered"),
                *_not_checked(_SERVER_CHECKS[1:], "this address was refused")]
    if "timestamp" in reason or "time" in reason:
        return [Check("network", True, f"{profile.base_url} answers"), Check("client id", True, profile.client_id),
                Check("private key at OVO", False, "not checked: the timestamp was refused first", checked=False),
                Check("clock at OVO", False, f"X-TIMESTAMP was refused ({said})",
                      "sync this machine's clock (NTP) and send Jakarta time (+07:00)"),
                *_not_checked(_SERVER_CHECKS[4:], "no B2B token")]
    if "signature" in reason:
        return [Check("network", True, f"{profile.base_url} answers"), Check("client id", True, profile.client_id),
                Check("private key at OVO", False, f"OVO could not verify the signature made with "
                                                   f"{profile.private_key_path} ({said})",
                      "send OVO the PKCS#1 public key of this private key, or point private_key_path at the key "
                      "whose public key OVO holds"),
                Check("clock at OVO", True, "X-TIMESTAMP accepted"), *_not_checked(_SERVER_CHECKS[4:], "no B2B token")]
    return [Check("network", True, f"{profile.base_url} answers"),
            Check("client id", False, f"the B2B token request was refused ({said})", exc.hint),
            *_not_checked(_SERVER_CHECKS[2:], "no B2B token")]


def prove_credentials(profile: Profile, *, transport: httpx.BaseTransport | None = None) -> list[Check]:
    """The profile's credentials against its server, each named: network, client id, private key, clock
    (a B2B token request), client secret and merchant id (a refund of a partnerReferenceNo that cannot exist,
    which a right secret and merchant id can only get answered "not found"; no money can move). Both calls
    are kept in the profile's call log, as every call to OVO is."""
    probe = f"DOCTOR-{secrets.token_hex(12)}"
    with CallLog.open(profile.state_location("calls")) as log, \
            OvoClient(profile, transport=transport, call_log=log, timeout=15) as client:
        try:
            token = client.b2b_token(scenario="doctor: B2B token").access_token
        except OvoConnectionError as exc:
            return [Check("network", False, f"{profile.base_url} did not answer ({exc.reason or exc})",
                          "check the base URL, this machine's network and, for production, the IP whitelist"),
                    *_not_checked(_SERVER_CHECKS[1:], "the server was not reached")]
        except AuthenticationError as exc:
            return _refused_token(exc, profile)
        except OvoApiError as exc:
            if "not SNAP JSON" in exc.response_message:
                return [Check("network", False, f"{profile.base_url} does not answer as OVO does "
                                                f"({exc.response_message.split('(', 1)[-1].rstrip(')')})",
                              "check the base URL: it must be OVO's API host (or a sandbox's)"),
                        *_not_checked(_SERVER_CHECKS[1:], "no OVO answered")]
            return [Check("network", True, f"{profile.base_url} answers"),
                    Check("client id", False, f"the B2B token request got {exc.response_code} "
                                              f"{exc.response_message}", exc.hint),
                    *_not_checked(_SERVER_CHECKS[2:], "no B2B token")]
        checks = [Check("network", True, f"{profile.base_url} answers"),
                  Check("client id", True, f"OVO knows {profile.client_id} (B2B token issued)"),
                  Check("private key at OVO", True, "OVO verified the SHA256withRSA signature"),
                  Check("clock at OVO", True, "X-TIMESTAMP accepted")]
        body = client.refund_body(probe, f"{probe}-R", "1.00", reason="ovo-nb doctor: a payment that cannot exist")
        try:
            client.debit_refund(token, body, scenario="doctor: client secret and merchant id")
        except NotFoundError as exc:
            if exc.response_code.endswith("08"):
                return [*checks, Check("client secret", True, "OVO verified the HMAC-SHA512 signature"),
                        Check("merchant id", False, f"OVO does not know merchant {profile.merchant_id} for "
                                                    f"{profile.client_id} ({exc.response_code} "
                                                    f"{exc.response_message})",
                              f"use the merchant id OVO sent for {profile.name}; this one came from "
                              f"{profile.source('merchant_id')}")]
            return [*checks, Check("client secret", True, "OVO verified the HMAC-SHA512 signature"),
                    Check("merchant id", True, f"{profile.merchant_id}: OVO looked for the payment "
                                               f"({exc.response_code} {exc.response_message}, as it must)")]
        except AuthenticationError as exc:
            return [*checks, Check("client secret", False, f"OVO refused the HMAC-SHA512 signature "
                                                           f"({exc.response_code} {exc.response_message})",
                                   f"use the client secret OVO sent for {profile.name} with {profile.client_id}; this "
                                   f"one came from {profile.source('client_secret')}"),
                    *_not_checked(_SERVER_CHECKS[5:], "the client secret was refused")]
        except (OvoApiError, OvoConnectionError) as exc:
            said = f"{exc.response_code} {exc.response_message}" if isinstance(exc, OvoApiError) else str(exc)
            return [*checks, Check("client secret", False, f"the symmetric call got {said}", checked=False),
                    *_not_checked(_SERVER_CHECKS[5:], "the symmetric call was not answered as expected")]
        return [*checks, Check("client secret", False, f"a refund of {probe}, which cannot exist, was accepted",
                               "tell OVO: this must never happen")]


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

