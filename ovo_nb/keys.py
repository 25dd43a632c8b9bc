"""Key setup: RSA keys, the credential request for OVO, and OVO's encrypted credentials.

The path from "we signed with OVO" to a client id and secret:

1. :func:`prepare_partner_keys` makes (or reuses) the partner RSA key, saved encrypted.
2. :func:`build_credential_request` + :func:`write_credential_request` make the folder to
   send OVO: the public key as X.509 ("for sharing credentials") and as PKCS#1 ("for
   signature generation"), the callback URLs and, for production, the IP whitelist and
   the daily refund limit, validated before anything is written.
3. OVO answers with ``key.bin.enc`` and ``cred_file.enc``; :func:`decrypt_credentials`
   opens them exactly as OVO's SOP does with ``openssl rsautl`` and ``openssl enc``.

:func:`encrypt_credentials` is OVO's side of step 3, used by the sandbox and the tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asymmetric_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ._files import ensure_private_dir, ovo_nb_home, read_private_file, write_private_file, write_public_file
from .errors import CredentialError, KeyFileError, ValidationError
from .snap import JAKARTA, format_amount, parse_amount

__all__ = [
    "KEY_SIZES",
    "PASSPHRASE_ENV",
    "CredentialPair",
    "CredentialRequest",
    "Credentials",
    "Environment",
    "PartnerKeys",
    "build_credential_request",
    "decrypt_credentials",
    "decrypt_key_bin",
    "decrypted_credential_file",
    "default_key_dir",
    "encrypt_credentials",
    "fingerprint",
    "generate_private_key",
    "load_private_key",
    "load_public_key",
    "openssl_enc_decrypt",
    "openssl_enc_encrypt",
    "parse_credential_text",
    "prepare_partner_keys",
    "public_key_pem",
    "read_credential_pair",
    "resolve_passphrase",
    "save_private_key",
    "validate_callback_url",
    "validate_ip_entry",
    "write_credential_request",
]

KEY_SIZES = (2048, 3072, 4096)
PASSPHRASE_ENV = "OVO_NB_KEY_PASSPHRASE"
"""Environment variable holding the passphrase of the partner private key."""

Environment = Literal["stage", "production"]
PublicKeyFormat = Literal["x509", "pkcs1"]

PRIVATE_KEY_FILE = "partner_private_key.pem"
PASSPHRASE_FILE = "partner_private_key.passphrase"
X509_FILE = "public_key_x509.pem"
PKCS1_FILE = "public_key_pkcs1.pem"

# --------------------------------------------------------------------------- keys


def generate_private_key(key_size: int = 2048) -> rsa.RSAPrivateKey:
    """A fresh RSA key (2048 bits by default, as OVO's SOP; 3072 and 4096 allowed)."""
    if key_size not in KEY_SIZES:
        raise ValidationError(f"key_size {key_size!r} is not supported; choose one of {KEY_SIZES}.")
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    raw = passphrase.encode() if isinstance(passphrase, str) else passphrase
    if len(raw) < 8:
        raise ValidationError("The key passphrase must be at least 8 characters long.")
    return raw


def save_private_key(
    key: rsa.RSAPrivateKey, path: str | Path, passphrase: str | bytes, *, overwrite: bool = False
) -> Path:
    """Save ``key`` as encrypted PKCS#8 PEM with mode 0600; refuses to overwrite by default."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(_passphrase_bytes(passphrase)),
    )
    return write_private_file(Path(path), pem, overwrite=overwrite)


def _read_source(source: str | Path | bytes, what: str) -> tuple[bytes, str]:
    """Bytes of a key given as a path or as PEM/DER content, plus a label for messages.

    A private key file is read as every secret file is (never through a link, tightened to 0600).
    """
    if isinstance(source, bytes):
        return source, what
    text = str(source)
    if "-----BEGIN" in text:
        return text.encode(), what
    path = Path(text).expanduser()
    try:
        return (read_private_file(path) if what == "private key" else path.read_bytes()), str(path)
    except FileNotFoundError:
        raise KeyFileError(f"{what} file {path} does not exist; check the path.") from None
    except IsADirectoryError:
        raise KeyFileError(f"{path} is a folder; point to the {what} file inside it.") from None


def load_private_key(source: str | Path | bytes, passphrase: str | bytes | None = None) -> rsa.RSAPrivateKey:
    """Load the partner RSA private key from a path or PEM/DER content.

    Reads PKCS#8 and PKCS#1 ("traditional") PEM, encrypted or not (including what
    ``openssl genrsa -des3`` writes), and DER. A public key, a wrong or missing
    passphrase, or a non-RSA key each give a message saying what to do.
    """
    data, label = _read_source(source, "private key")
    if b"PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
        raise KeyFileError(f"{label} holds a public key; signing needs the private key it was made from.")
    secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
    loader = (
        serialization.load_pem_private_key if b"-----BEGIN" in data else serialization.load_der_private_key
    )
    try:
        key = loader(data, password=secret)
    except TypeError as exc:
        if secret is None:
            raise KeyFileError(
                f"{label} is encrypted; give its passphrase (or set {PASSPHRASE_ENV})."
            ) from None
        raise KeyFileError(f"{label} is not encrypted; load it without a passphrase ({exc}).") from None
    except ValueError:
        hint = "the passphrase is wrong, or the file is damaged" if secret else "the file is not a key"
        raise KeyFileError(f"{label} could not be read as a private key: {hint}.") from None
    except Exception as exc:  # the backend's error types vary by version; keep the message plain
        raise KeyFileError(f"{label} could not be read as a private key ({type(exc).__name__}).") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFileError(f"{label} is a {type(key).__name__}; OVO's SNAP signatures need an RSA key.")
    return key


def load_public_key(source: str | Path | bytes) -> rsa.RSAPublicKey:
    """Load an RSA public key: X.509 SubjectPublicKeyInfo or PKCS#1, PEM or DER."""
    data, label = _read_source(source, "public key")
    if b"PRIVATE KEY-----" in data:
        raise KeyFileError(f"{label} holds a private key; give the public key (never share the private one).")
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, TypeError):
        raise KeyFileError(
            f"{label} is not a public key in X.509 ('BEGIN PUBLIC KEY') or PKCS#1 ('BEGIN RSA PUBLIC KEY') form."
        ) from None
    except Exception as exc:
        raise KeyFileError(f"{label} could not be read as a public key ({type(exc).__name__}).") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFileError(f"{label} is a {type(key).__name__}; OVO needs an RSA public key.")
    return key


def _public(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> rsa.RSAPublicKey:
    return key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key


def public_key_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey, fmt: PublicKeyFormat = "x509") -> str:
    """The public half as PEM: ``"x509"`` ("for sharing credentials") or ``"pkcs1"`` ("for signatures")."""
    formats = {
        "x509": serialization.PublicFormat.SubjectPublicKeyInfo,
        "pkcs1": serialization.PublicFormat.PKCS1,
    }
    if fmt not in formats:
        raise ValidationError(f"Public key format {fmt!r} is not 'x509' or 'pkcs1'.")
    return _public(key).public_bytes(serialization.Encoding.PEM, formats[fmt]).decode()


def fingerprint(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    """``SHA256:aa:bb:...``: SHA-256 of the DER SubjectPublicKeyInfo, to compare keys by eye."""
    der = _public(key).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.sha256(der).hexdigest()
    return "SHA256:" + ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


# --------------------------------------------------------------------------- partner key folder


def default_key_dir(environment: str) -> Path:
    """Where the partner key for ``environment`` lives: ``~/.ovo-nb/keys/<environment>``.

    Outside the project's ``outputs/`` on purpose: a key OVO holds must outlive any run.
    ``$OVO_NB_HOME`` moves the whole tree.
    """
    return ovo_nb_home() / "keys" / environment


def resolve_passphrase(folder: str | Path, environment: str) -> str:
    """The private key's passphrase: ``$OVO_NB_KEY_PASSPHRASE``, else a generated one.

    Outside production a missing passphrase is generated once and kept beside the key in
    a 0600 file, so notebooks run headless. Production refuses that: its key guards real
    money, so its passphrase must come from the environment (a secret store).
    """
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    if environment == "production":
        raise KeyFileError(
            f"Set {PASSPHRASE_ENV} to the production key's passphrase (from your secret store); "
            "production keys never keep their passphrase on disk."
        )
    path = Path(folder) / PASSPHRASE_FILE
    with contextlib.suppress(FileNotFoundError):
        return read_private_file(path).decode().strip()
    passphrase = secrets.token_urlsafe(32)
    write_private_file(path, passphrase.encode() + b"\n")
    return passphrase


@dataclass(frozen=True)
class PartnerKeys:
    """The partner key pair on disk. The private key object is never shown by ``repr``."""

    folder: Path
    private_key_path: Path
    public_key_x509_path: Path
    public_key_pkcs1_path: Path
    fingerprint: str
    key_size: int
    created: bool
    """True when this call generated the key, False when an existing one was loaded."""
    private_key: rsa.RSAPrivateKey = field(repr=False, compare=False)


def prepare_partner_keys(
    folder: str | Path,
    *,
    key_size: int = 2048,
    passphrase: str | None = None,
    environment: str = "stage",
    rotate: bool = False,
) -> PartnerKeys:
    """Load the partner key in ``folder``, or generate it if there is none.

    Re-running a notebook must never silently replace a key OVO already holds, so an
    existing key is reused; ``rotate=True`` replaces it (then send OVO the new public key).
    The public keys are (re)written beside it in both formats OVO asks for.
    """
    folder = ensure_private_dir(Path(folder).expanduser())
    secret = passphrase or resolve_passphrase(folder, environment)
    private_path = folder / PRIVATE_KEY_FILE
    created = rotate or not private_path.exists()
    if created:
        key = generate_private_key(key_size)
        save_private_key(key, private_path, secret, overwrite=rotate)
    else:
        key = load_private_key(private_path, secret)
    x509_path, pkcs1_path = folder / X509_FILE, folder / PKCS1_FILE
    write_public_file(x509_path, public_key_pem(key, "x509").encode())
    write_public_file(pkcs1_path, public_key_pem(key, "pkcs1").encode())
    return PartnerKeys(folder, private_path, x509_path, pkcs1_path, fingerprint(key), key.key_size, created, key)


# --------------------------------------------------------------------------- credential request

_TEMPLATE_MARKS = re.compile(r"[{}<>*$\s]|%7[bBdD]|%3[cCeE]|/:[A-Za-z_]")

_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
_MIN_PREFIX = {4: 16, 6: 32}


def validate_callback_url(url: str) -> str:
    """Check one callback URL the way OVO registers them: static, https, no query.

    OVO redirects the browser to ``<callback>/?response=...`` and only to URLs registered
    beforehand, so a templated part (``{id}``, ``<id>``, ``:id``, ``*``) can never match,
    and a query string of its own would break the appended ``?response=``: identify the
    transaction with the webview's ``state`` parameter instead.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValidationError("A callback URL is empty; give a full https URL such as https://shop.example/ovo/return.")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise ValidationError(f"Callback URL {url!r} must use https; OVO registers https URLs only.")
    if not parts.hostname:
        raise ValidationError(f"Callback URL {url!r} has no host name.")
    if parts.username or parts.password:
        raise ValidationError(f"Callback URL {url!r} carries a user name or password; remove them.")
    if _TEMPLATE_MARKS.search(url):
        raise ValidationError(
            f"Callback URL {url!r} has a templated or blank part; OVO needs static URLs. Register one URL "
            "per action and pass the transaction id as the webview 'state' parameter."
        )
    if parts.query or parts.fragment:
        raise ValidationError(
            f"Callback URL {url!r} has a query or fragment; OVO appends '?response=...' itself. "
            "Use the webview 'state' parameter to identify the transaction."
        )
    return url


def validate_ip_entry(entry: str) -> str:
    """Check one IP whitelist entry: a public IPv4/IPv6 address or a CIDR network.

    OVO sees the partner's public egress addresses, so private, loopback, link-local and
    multicast ranges are refused, and so are networks too broad to be a whitelist.
    """
    text = str(entry).strip()
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            fixed = ipaddress.ip_network(text, strict=False)
            raise ValidationError(f"IP whitelist entry {text!r} has host bits set; did you mean {fixed}?") from None
        raise ValidationError(
            f"IP whitelist entry {text!r} is not an IPv4/IPv6 address or CIDR (e.g. 203.0.113.10 or 203.0.113.0/28)."
        ) from None
    first = network.network_address
    if (
        first.is_loopback
        or first.is_link_local
        or first.is_multicast
        or first.is_unspecified
        or any(first in net for net in _PRIVATE_NETWORKS if net.version == network.version)
    ):
        raise ValidationError(
            f"IP whitelist entry {text!r} is a private or local address; give the public address OVO "
            "sees your servers call from (your NAT or egress IP)."
        )
    if network.prefixlen < _MIN_PREFIX[network.version]:
        raise ValidationError(
            f"IP whitelist entry {text!r} covers too many addresses; list your egress IPs or a network "
            f"of /{_MIN_PREFIX[network.version]} or narrower."
        )
    return str(first) if network.prefixlen == network.max_prefixlen else str(network)


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


@dataclass(frozen=True)
class CredentialRequest:
    """What a partner sends OVO to receive its client id and secret for one environment."""

    environment: Environment
    public_key_x509: str
    public_key_pkcs1: str
    fingerprint: str
    key_size: int
    callback_urls: tuple[str, ...]
    error_redirect_urls: tuple[str, ...] = ()
    ip_whitelist: tuple[str, ...] = ()
    daily_refund_limit: Decimal | None = None
    partner_name: str = ""


def build_credential_request(
    key: rsa.RSAPrivateKey | rsa.RSAPublicKey,
    environment: str,
    callback_urls: Iterable[str],
    *,
    error_redirect_urls: Iterable[str] = (),
    ip_whitelist: Iterable[str] = (),
    daily_refund_limit: Decimal | int | str | None = None,
    uses_refund: bool = True,
    partner_name: str = "",
) -> CredentialRequest:
    """Validate and assemble the credential request for ``"stage"`` or ``"production"``.

    Stage needs both public keys and at least one callback URL. Production also needs
    the IP whitelist and, when the partner refunds, a positive daily refund limit in IDR.
    Every problem is reported before anything is written.
    """
    if environment not in ("stage", "production"):
        raise ValidationError(
            f"environment {environment!r} is not 'stage' or 'production'; the sandbox needs no request."
        )
    if isinstance(callback_urls, str) or isinstance(ip_whitelist, str) or isinstance(error_redirect_urls, str):
        raise ValidationError("Give callback URLs, error-redirect URLs and IP entries as lists, not one string.")
    callbacks = _unique(validate_callback_url(u) for u in callback_urls)
    no_name = "" if partner_name.strip() else (
        "Give partner_name: your company's name as OVO knows it (OVO files the request under it).")
    where = (f" Set them under [profiles.{environment}] in the project's ovo-nb.toml (callback_urls = [\"https://"
             "...\"], partner_name = \"...\"), or give them as parameters.")
    if not callbacks:  # with the name when both are missing: a bare project learns both in one run
        raise ValidationError(
            f"Give at least one callback URL; OVO redirects only to registered URLs. {no_name}".strip() + where)
    error_urls = _unique(validate_callback_url(u) for u in error_redirect_urls)
    ips = _unique(validate_ip_entry(ip) for ip in ip_whitelist)
    limit = None if daily_refund_limit in (None, "") else parse_amount(daily_refund_limit)
    if environment == "production":
        if not ips:
            raise ValidationError("Production needs an IP whitelist: list the public IPs your servers call OVO from.")
        if uses_refund and limit is None:
            raise ValidationError(
                "Production with refunds needs a daily refund limit in IDR (e.g. '50000000.00'); "
                "pass uses_refund=False if you will not refund."
            )
    else:
        ips, limit = (), None
    if no_name:
        raise ValidationError(no_name + where)
    return CredentialRequest(
        environment=environment,  # type: ignore[arg-type]
        public_key_x509=public_key_pem(key, "x509"),
        public_key_pkcs1=public_key_pem(key, "pkcs1"),
        fingerprint=fingerprint(key),
        key_size=_public(key).key_size,
        callback_urls=callbacks,
        error_redirect_urls=error_urls,
        ip_whitelist=ips,
        daily_refund_limit=limit if uses_refund else None,
        partner_name=partner_name,
    )


def _summary_markdown(request: CredentialRequest, generated: str) -> str:
    lines = [
        f"# OVO SNAP credential request ({request.environment})",
        "",
        f"Partner: {request.partner_name or '(fill in)'}  ",
        f"Generated: {generated}",
        "",
        "## Public keys",
        f"- `{X509_FILE}`: public key for sharing credentials (X.509 SubjectPublicKeyInfo)",
        f"- `{PKCS1_FILE}`: public key for signature generation (PKCS#1)",
        f"- Key size: RSA {request.key_size}",
        f"- Fingerprint (SHA-256 of the X.509 DER): `{request.fingerprint}`",
        "",
        "## Callback URLs",
        *[f"- {u}" for u in request.callback_urls],
    ]
    if request.error_redirect_urls:
        lines += ["", "## Error redirection URLs", *[f"- {u}" for u in request.error_redirect_urls]]
    if request.environment == "production":
        lines += ["", "## IP whitelist", *[f"- {ip}" for ip in request.ip_whitelist]]
        limit = "not used (no refunds)" if request.daily_refund_limit is None else (
            f"IDR {format_amount(request.daily_refund_limit)}"
        )
        lines += ["", "## Daily refund limit", f"- {limit}"]
    lines += [
        "",
        "Send this folder to OVO. OVO answers with `key.bin.enc` and `cred_file.enc`, encrypted to the",
        "X.509 key above; only the matching private key (never sent) can open them.",
        "",
    ]
    return "\n".join(lines)


def write_credential_request(request: CredentialRequest, folder: str | Path) -> Path:
    """Write the request folder: both PEM files, ``REQUEST.md`` and ``request.json``."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    generated = datetime.now(JAKARTA).isoformat(timespec="seconds")
    (folder / X509_FILE).write_text(request.public_key_x509)
    (folder / PKCS1_FILE).write_text(request.public_key_pkcs1)
    (folder / "REQUEST.md").write_text(_summary_markdown(request, generated))
    summary = {
        "environment": request.environment,
        "partner_name": request.partner_name,
        "generated": generated,
        "key_size": request.key_size,
        "fingerprint": request.fingerprint,
        "public_key_for_sharing_credentials": X509_FILE,
        "public_key_for_signature_generation": PKCS1_FILE,
        "callback_urls": list(request.callback_urls),
        "error_redirect_urls": list(request.error_redirect_urls),
        "ip_whitelist": list(request.ip_whitelist),
        "daily_refund_limit": None if request.daily_refund_limit is None else format_amount(request.daily_refund_limit),
    }
    (folder / "request.json").write_text(json.dumps(summary, indent=2) + "\n")
    return folder


# --------------------------------------------------------------------------- OpenSSL enc

_SALT_MAGIC = b"Salted__"
_OPENSSL_PASS_MAX = 1023  # `-pass file:` reads one line of at most 1023 bytes (APP_PASS_LEN - 1)


def _password_from_key_file(key_bin: bytes) -> bytes:
    """The password ``openssl enc -pass file:key.bin`` uses: the first line, as a C string."""
    line = key_bin[:_OPENSSL_PASS_MAX].split(b"\n", 1)[0].split(b"\0", 1)[0]
    if not line:
        raise CredentialError("key.bin decrypted to an empty password; the file from OVO is damaged.")
    return line


def _bytes_to_key(password: bytes, salt: bytes) -> tuple[bytes, bytes]:
    """OpenSSL's EVP_BytesToKey with SHA-256 and one round: (AES-256 key, CBC IV)."""
    d1 = hashlib.sha256(password + salt).digest()
    d2 = hashlib.sha256(d1 + password + salt).digest()
    return d1, d2[:16]


def openssl_enc_encrypt(plaintext: bytes, password: bytes, salt: bytes | None = None) -> bytes:
    """What ``openssl enc -aes-256-cbc -md sha256 -pass ...`` writes for ``plaintext``."""
    salt = salt if salt is not None else os.urandom(8)
    if len(salt) != 8:
        raise ValidationError("An OpenSSL salt is 8 bytes.")
    key, iv = _bytes_to_key(password, salt)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return _SALT_MAGIC + salt + encryptor.update(padded) + encryptor.finalize()


def openssl_enc_decrypt(data: bytes, password: bytes) -> bytes:
    """What ``openssl enc -d -aes-256-cbc -md sha256 -pass ...`` gives for ``data``."""
    if not data.startswith(_SALT_MAGIC) or len(data) < 32 or (len(data) - 16) % 16:
        raise CredentialError(
            "cred_file.enc is not an OpenSSL 'enc' file (it should start with 'Salted__' and hold whole "
            "AES blocks); check that you picked the right file and it was not altered in transit."
        )
    key, iv = _bytes_to_key(password, data[8:16])
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise CredentialError(
            "cred_file.enc did not decrypt with the password in key.bin ('bad decrypt'): the two files do "
            "not belong together, or one of them is damaged. Ask OVO to send the pair again."
        ) from None


# --------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credentials:
    """The client id and secret OVO issues. ``repr`` never shows the secret."""

    client_id: str
    client_secret: str = field(repr=False)
    extra: dict[str, str] = field(default_factory=dict)
    """Any other fields in OVO's file (e.g. partner or merchant id), by their original names."""

    @property
    def masked_secret(self) -> str:
        """The secret as safe to display: its first 4 characters and its length."""
        return f"{self.client_secret[:4]}…({len(self.client_secret)} chars)"

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write them to a 0600 TOML file that ``ovo_nb`` profiles can read."""
        rows = {"client_id": self.client_id, "client_secret": self.client_secret, **self.extra}
        text = "".join(f"{_toml_key(k)} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in rows.items())
        return write_private_file(Path(path), text.encode(), overwrite=overwrite)


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


_ID_NAMES = {"clientid", "clientkey", "xclientkey"}
_SECRET_NAMES = {"clientsecret", "secret", "secretkey", "clientsecretkey"}


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def parse_credential_text(text: str) -> Credentials:
    """Read the client id and secret out of a decrypted ``cred_file.txt``.

    OVO does not publish the layout, so this reads a JSON object or ``name = value`` /
    ``name: value`` lines, with names like ``client_id``, ``clientId``, ``Client ID``,
    ``client_secret`` or ``secret key``. Other fields are kept in ``extra``.
    """
    fields: dict[str, str] = {}
    stripped = text.strip().lstrip("\ufeff")
    try:
        parsed = json.loads(stripped)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        fields = {str(k): str(v) for k, v in parsed.items() if v is not None}
    else:
        for line in stripped.splitlines():
            match = re.match(r"^\s*([^=:#]+?)\s*[=:]\s*(.*?)\s*$", line)
            if match:
                fields[match[1]] = match[2].strip("\"'")
    client_id = next((v for k, v in fields.items() if _normalise(k) in _ID_NAMES), None)
    secret = next((v for k, v in fields.items() if _normalise(k) in _SECRET_NAMES), None)
    if not client_id or not secret:
        missing = " and ".join(n for n, v in (("a client id", client_id), ("a client secret", secret)) if not v)
        raise CredentialError(
            f"The decrypted credential file has no {missing}; fields found: "
            f"{', '.join(fields) or 'none'}. Send OVO's cred_file.txt layout to the maintainers."
        )
    extra = {k: v for k, v in fields.items() if _normalise(k) not in _ID_NAMES | _SECRET_NAMES}
    return Credentials(client_id, secret, extra)


@dataclass(frozen=True)
class CredentialPair:
    """The two files OVO sends: ``key.bin.enc`` and ``cred_file.enc``."""

    key_bin_enc: bytes = field(repr=False)
    cred_file_enc: bytes = field(repr=False)

    def write(self, folder: str | Path) -> tuple[Path, Path]:
        """Save both files into ``folder`` under OVO's names."""
        folder = ensure_private_dir(Path(folder).expanduser())
        key_path = write_private_file(folder / "key.bin.enc", self.key_bin_enc, overwrite=True)
        cred_path = write_private_file(folder / "cred_file.enc", self.cred_file_enc, overwrite=True)
        return key_path, cred_path


def read_credential_pair(key_bin_enc: str | Path, cred_file_enc: str | Path) -> CredentialPair:
    """Read OVO's two files from disk, with a clear error for a missing one."""
    contents = []
    for name, path in (("key.bin.enc", key_bin_enc), ("cred_file.enc", cred_file_enc)):
        try:
            contents.append(Path(path).expanduser().read_bytes())
        except OSError as exc:
            raise CredentialError(f"Cannot read {name} at {path}: {exc.strerror}.") from None
    return CredentialPair(contents[0], contents[1])


def encrypt_credentials(
    key: rsa.RSAPublicKey | rsa.RSAPrivateKey,
    credentials: Credentials,
) -> CredentialPair:
    """OVO's side of the SOP: encrypt ``credentials`` to the partner's public key.

    ``key.bin`` is a random hex password line (as ``openssl rand -hex 32`` makes), sent
    RSA-encrypted with PKCS#1 v1.5; ``cred_file.enc`` is ``openssl enc -aes-256-cbc -md
    sha256`` of ``client_id=...`` / ``client_secret=...`` lines under that password.
    """
    key_bin = secrets.token_hex(32).encode() + b"\n"
    rows = {"client_id": credentials.client_id, "client_secret": credentials.client_secret, **credentials.extra}
    plaintext = "".join(f"{k}={v}\n" for k, v in rows.items()).encode()
    key_bin_enc = _public(key).encrypt(key_bin, asymmetric_padding.PKCS1v15())
    return CredentialPair(key_bin_enc, openssl_enc_encrypt(plaintext, _password_from_key_file(key_bin)))


def decrypt_key_bin(key_bin_enc: bytes, private_key: rsa.RSAPrivateKey) -> bytes:
    """``openssl rsautl -decrypt -inkey id_rsa.pem -in key.bin.enc``: RSA PKCS#1 v1.5."""
    size = private_key.key_size // 8
    if len(key_bin_enc) != size:
        raise CredentialError(
            f"key.bin.enc is {len(key_bin_enc)} bytes but your RSA-{private_key.key_size} key decrypts "
            f"blocks of {size}: it was encrypted to a different key, or is not key.bin.enc."
        )
    try:
        return private_key.decrypt(key_bin_enc, asymmetric_padding.PKCS1v15())
    except ValueError:  # a block larger than this key's modulus; any other wrong key decrypts to noise instead
        raise CredentialError(
            f"key.bin.enc does not decrypt: OVO encrypted it to another public key (this private key is "
            f"{fingerprint(private_key)}; compare it with the key you sent OVO)."
        ) from None


def decrypt_credentials(pair: CredentialPair, private_key: rsa.RSAPrivateKey) -> Credentials:
    """Open OVO's credential pair with the partner private key and read id and secret.

    Byte for byte the result of OVO's two ``openssl`` commands, without shelling out.
    """
    try:
        text = decrypted_credential_file(pair, private_key).decode("utf-8")
    except UnicodeDecodeError:  # a wrong key can, rarely, still unpad cleanly: the bytes are noise
        raise _undecryptable(private_key) from None
    return parse_credential_text(text)


def decrypted_credential_file(pair: CredentialPair, private_key: rsa.RSAPrivateKey) -> bytes:
    """The raw ``cred_file.txt`` bytes, as ``openssl enc -d`` writes them (for comparison)."""
    key_bin = decrypt_key_bin(pair.key_bin_enc, private_key)
    try:
        return openssl_enc_decrypt(pair.cred_file_enc, _password_from_key_file(key_bin))
    except CredentialError as exc:
        if "bad decrypt" not in str(exc) and "empty password" not in str(exc):
            raise
        raise _undecryptable(private_key) from None


def _undecryptable(private_key: rsa.RSAPrivateKey) -> CredentialError:
    """RSA decryption with the wrong key yields random bytes rather than an error (implicit
    rejection), so a wrong key only shows up as a pair that does not decrypt to text."""
    return CredentialError(
        "cred_file.enc did not decrypt ('bad decrypt'). Either OVO encrypted key.bin.enc to another "
        f"public key (this private key is {fingerprint(private_key)}; compare it with the key you sent), "
        "or the two files do not belong together or were damaged: ask OVO to send the pair again."
    )
