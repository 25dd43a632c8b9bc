"""What a fresh sandbox holds: a default partner, the documented test customers, or a TOML config."""

from __future__ import annotations

import json
import secrets
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric import rsa

from .._files import read_private_file
from ..errors import ValidationError
from ..keys import Credentials, fingerprint, load_public_key, prepare_partner_keys, public_key_pem
from ..snap import ACCESS_TOKEN_LIFETIME, REFUND_WINDOW_DAYS, Clock
from ..testbed import (
    DEFAULT_CALLBACK_URLS,
    DEFAULT_CLIENT_ID,
    DEFAULT_MERCHANT_ID,
    DEFAULT_PARTNER_NAME,
    SANDBOX_TEST_PIN,
    TEST_CUSTOMERS,
    sandbox_dir,
)
from ._types import SandboxClock, TokenInfo
from .admin import CUSTOMER, AdminError, Field, read_body, snake_case
from .core import Sandbox
from .handlers import account, debit
from .store import Store

__all__ = ["DEFAULT_CALLBACK_URLS", "DEFAULT_CLIENT_ID", "TEST_CUSTOMERS", "SandboxPartner", "apply_config",
           "default_sandbox_dir", "demo_links", "ensure_default_partner", "open_sandbox"]

def default_sandbox_dir() -> Path:
    """``~/.ovo-nb/sandbox``: the sandbox state and the default partner's key and credentials."""
    return sandbox_dir()


@dataclass(frozen=True)
class SandboxPartner:
    """The partner side of the default sandbox partner: what a client needs to call it."""

    client_id: str
    client_secret: str = field(repr=False)
    merchant_id: str
    channel_id: str
    private_key: rsa.RSAPrivateKey = field(repr=False, compare=False)
    credentials_path: Path


def _seed_customers(sandbox: Sandbox) -> None:
    for customer in TEST_CUSTOMERS:
        if sandbox.store.one("SELECT 1 FROM customers WHERE phone = ?", customer["phone"]) is None:
            sandbox.add_customer(customer["phone"], name=customer["name"], cash=customer.get("cash", "0"),
                                 points=customer.get("points", "0"), status=customer.get("status", "ACTIVE"),
                                 registered=customer.get("registered", True),
                                 pin_locked=customer.get("pin_locked", False))


def ensure_default_partner(sandbox: Sandbox, folder: Path | None = None) -> SandboxPartner:
    """Create the default partner and test customers if missing; write the partner's credentials.

    The partner key lives in ``folder`` (default ``~/.ovo-nb/sandbox``) and its credentials
    in ``credentials.toml`` there (mode 0600), stable across restarts.
    """
    folder = folder or default_sandbox_dir()
    keys = prepare_partner_keys(folder, environment="sandbox")
    row = sandbox.store.one("SELECT * FROM partners WHERE client_id = ?", DEFAULT_CLIENT_ID)
    if row is None:
        saved = folder / "credentials.toml"  # a new state file keeps the partner's existing secret
        secret = tomllib.loads(read_private_file(saved).decode()).get("client_secret") if saved.exists() else None
        sandbox.register_partner(
            public_key_pem(keys.private_key, "pkcs1"), client_id=DEFAULT_CLIENT_ID, client_secret=secret,
            name=DEFAULT_PARTNER_NAME, merchant_id=DEFAULT_MERCHANT_ID, callback_urls=DEFAULT_CALLBACK_URLS[:1],
            error_urls=DEFAULT_CALLBACK_URLS[1:],
            daily_refund_limit="50000000.00")
    elif fingerprint(load_public_key(row["public_key_pem"].encode())) != keys.fingerprint:
        with sandbox.store.transaction():  # the key file was replaced: register the new public key
            sandbox.store.run("UPDATE partners SET public_key_pem = ? WHERE client_id = ?",
                              public_key_pem(keys.private_key, "pkcs1"), DEFAULT_CLIENT_ID)
    _seed_customers(sandbox)
    row = sandbox.store.one("SELECT * FROM partners WHERE client_id = ?", DEFAULT_CLIENT_ID)
    assert row is not None
    credentials = Credentials(row["client_id"], row["client_secret"],
                              {"merchant_id": row["merchant_id"], "channel_id": row["channel_id"]})
    path = credentials.save(folder / "credentials.toml", overwrite=True)
    return SandboxPartner(row["client_id"], row["client_secret"], row["merchant_id"], row["channel_id"],
                          keys.private_key, path)


def open_sandbox(state: str | Path | None = None, *, folder: Path | None = None,
                 clock: Clock | None = None) -> tuple[Sandbox, SandboxPartner]:
    """The sandbox on ``state`` (default ``~/.ovo-nb/sandbox/state.sqlite``; ``":memory:"`` for none), seeded.

    ``clock`` is the sandbox's base clock (share the client's test clock to expire tokens on demand).
    """
    folder = folder or default_sandbox_dir()
    store = Store(state if state is not None else folder / "state.sqlite")
    sandbox = Sandbox(store, SandboxClock(clock) if clock else None)
    return sandbox, ensure_default_partner(sandbox, folder)


def apply_config(sandbox: Sandbox, path: str | Path, folder: Path | None = None) -> list[str]:
    """Seed partners and customers from a TOML file; returns what was created, one line each.

    A partner given without ``client_secret`` gets a generated one, written with its client
    id to ``credentials-<client_id>.toml`` (mode 0600) in ``folder`` (default ``~/.ovo-nb/sandbox``).

    ```toml
    [[partners]]
    client_id = "oamerchantacme"
    public_key_file = "acme_pkcs1.pem"     # PKCS#1 or X.509
    client_secret = "..."                  # optional: generated otherwise
    callback_urls = ["https://acme.example/ovo/return"]
    ip_whitelist = ["203.0.113.10"]        # with production = true
    production = false
    daily_refund_limit = "50000000.00"
    lenient = false                        # true: accept (and flag) what only tolerance accepts

    [[customers]]
    phone = "081311112222"
    cash = "250000.00"
    pin = "654321"
    ```
    """
    config_path = Path(path).expanduser()
    try:
        config = tomllib.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError(f"Cannot read sandbox config {config_path}: {exc}") from None
    try:
        sections = read_body(config, {"partners": Field("tables"), "customers": Field("tables")})
        partners = [read_body(p, CONFIG_PARTNER) for p in sections.get("partners", [])]
        customers = [read_body(c, CONFIG_CUSTOMER) for c in sections.get("customers", [])]
    except AdminError as exc:
        raise ValidationError(f"Sandbox config {config_path}: {exc}") from None
    created = []
    for partner in partners:
        key_path = (config_path.parent / partner["public_key_file"]).expanduser()
        try:
            key_text = key_path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError(f"Sandbox config {config_path}: cannot read {key_path}: {exc}") from None
        client_id, secret = sandbox.register_partner(
            key_text, client_id=partner.get("client_id"), client_secret=partner.get("client_secret"),
            name=partner.get("name", ""), merchant_id=partner.get("merchant_id"),
            callback_urls=partner.get("callback_urls", []), error_urls=partner.get("error_redirect_urls", []),
            ip_whitelist=partner.get("ip_whitelist", []), production=partner.get("production", False),
            daily_refund_limit=partner.get("daily_refund_limit"),
            refund_window_days=partner.get("refund_window_days", REFUND_WINDOW_DAYS),
            recurring_allowed=partner.get("recurring_allowed", True), lenient=partner.get("lenient", False))
        line = f"partner {client_id}"
        if not partner.get("client_secret"):
            saved = Credentials(client_id, secret).save(
                (folder or default_sandbox_dir()) / f"credentials-{client_id}.toml", overwrite=True)
            line += f" (credentials in {saved})"
        created.append(line)
    for customer in customers:
        phone = sandbox.add_customer(
            customer["phone"], name=customer.get("name", ""), cash=customer.get("cash", "0"),
            points=customer.get("points", "0"), pin=customer.get("pin", SANDBOX_TEST_PIN),
            status=customer.get("status", "ACTIVE"), registered=customer.get("registered", True),
            pin_locked=customer.get("pin_locked", False), replace=True)  # the file says how she is: it wins
        created.append(f"customer {phone}")
    return created


CONFIG_PARTNER = {
    "client_id": Field("str", max_len=64), "public_key_file": Field("str", required=True, max_len=4096),
    "client_secret": Field("str"), "name": Field("str"), "merchant_id": Field("str", max_len=64),
    "callback_urls": Field("strings"), "error_redirect_urls": Field("strings"), "ip_whitelist": Field("strings"),
    "production": Field("bool"), "daily_refund_limit": Field("amount"),
    "refund_window_days": Field("int", low=1, high=3650), "recurring_allowed": Field("bool"),
    "lenient": Field("bool"),
}
"""A ``[[partners]]`` table of a sandbox config file; ``lenient`` defaults to false."""
CONFIG_CUSTOMER = {snake_case(name): spec for name, spec in CUSTOMER.items()}
"""A ``[[customers]]`` table of a sandbox config file."""


def demo_links(sandbox: Sandbox, partner: SandboxPartner, base_url: str) -> dict[str, str]:
    """Two webview links a person can open in a browser: a binding (OTP) and a payment (PIN).

    Each start makes two fresh demo customers, so the links never collide with earlier state:
    one with a binding waiting for its OTP, one bound with a payment waiting for its PIN. The
    destination is ``<base_url>/_sandbox/callback``, registered for the default partner.
    """
    st = sandbox.state
    landing = f"{base_url}/_sandbox/callback"
    phones = [sandbox.add_customer(f"0812{secrets.randbelow(10**8):08d}", name=f"Demo {n}", cash="1000000")
              for n in ("binding", "payment")]
    with st.store.transaction():
        row = st.partner(partner.client_id)
        assert row is not None
        urls = [u for u in json.loads(row["callback_urls"]) if not u.endswith("/_sandbox/callback")]
        st.store.run("UPDATE partners SET callback_urls = ? WHERE client_id = ?",
                     json.dumps([*urls, landing]), partner.client_id)

        def webview(answer: dict[str, Any], token: str) -> str:
            params = {**answer["additionalInfo"]["qParams"], "token": token, "destination": landing,
                      "submissionType": "redirect", "state": "demo"}
            return f"{answer['redirectUrl']}?{urlencode(params)}"

        binding = account.open_binding(st, partner.client_id, phones[0], base_url)
        paying = account.open_binding(st, partner.client_id, phones[1], base_url)
        binding_id = st.store.one("SELECT binding_id FROM tokens WHERE token = ?", paying["linkageToken"])
        assert binding_id is not None
        account.activate_binding(st, partner.client_id, binding_id[0], phones[1])
        access, _ = st.issue_token("access", partner.client_id, ACCESS_TOKEN_LIFETIME, phone=phones[1],
                                   binding_id=binding_id[0])
        body = {"partnerReferenceNo": f"DEMO-{secrets.token_hex(4)}", "merchantId": partner.merchant_id,
                "amount": {"value": "10000.00", "currency": "IDR"}}
        info = TokenInfo(access, "access", phones[1], binding_id[0], None, None)
        _, payment = debit.open_payment(st, row, info, body, Decimal("10000.00"), "CASH", recurring=False,
                                        base_url=base_url, pin_less=False)
    return {f"binding (OTP {phones[0][-4:]})": webview(binding, binding["linkageToken"]),
            "payment (PIN 123456)": webview(payment, access)}
