"""Profiles: which OVO to talk to, as whom, and where to keep state.

Three profiles: ``sandbox`` (the default: the embedded OVO, no configuration at all),
``stage`` and ``production``. Values come, later ones winning, from: built-in defaults,
the credentials the key-setup notebook saved (``~/.ovo-nb/keys/<profile>/credentials.toml``),
the ``[profiles.<name>]`` table of ``~/.ovo-nb/config.toml`` (or ``$OVO_NB_CONFIG``), and
``OVO_NB_<NAME>`` environment variables (``OVO_NB_CLIENT_SECRET``, ``OVO_NB_BASE_URL``...).
Secrets are never shown: ``repr`` masks them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from ._files import ovo_nb_home
from .errors import ValidationError
from .keys import PASSPHRASE_FILE, default_key_dir, load_private_key, resolve_passphrase
from .snap import PathStyle

__all__ = ["PROFILES", "Profile", "load_profile"]

PROFILES = ("sandbox", "stage", "production")
SANDBOX_URL = "http://ovo-sandbox.local"
"""The in-process sandbox's base URL (no socket behind it)."""

_DEFAULTS: dict[str, dict[str, Any]] = {
    "sandbox": {"base_url": SANDBOX_URL},
    "stage": {"base_url": "https://app.byte-stack.net"},
    "production": {"base_url": "https://apigw.ovo.id"},
}
_SECRET_FIELDS = {"client_secret"}
_LIST_FIELDS = {"callback_urls"}


@dataclass(frozen=True)
class Profile:
    """Everything a client needs for one OVO environment."""

    name: str
    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    merchant_id: str
    private_key_path: Path
    channel_id: str = "95221"
    device_id: str = "ovo-nb"
    callback_urls: tuple[str, ...] = ()
    path_style: PathStyle = PathStyle.TECH_DOC
    dialect: str = "ovo"
    signature_encoding: str = "base64"
    state_dir: Path = field(default_factory=lambda: ovo_nb_home() / "state")

    @property
    def is_sandbox(self) -> bool:
        return self.name == "sandbox"

    @property
    def in_process(self) -> bool:
        """True when the sandbox runs inside this process (no server URL configured)."""
        return self.is_sandbox and self.base_url == SANDBOX_URL

    @property
    def masked_secret(self) -> str:
        return f"{self.client_secret[:4]}…({len(self.client_secret)} chars)"

    @cached_property
    def private_key(self) -> rsa.RSAPrivateKey:
        """The partner key, loaded on first use with ``$OVO_NB_KEY_PASSPHRASE`` or its passphrase file."""
        folder = self.private_key_path.parent
        passphrase = os.environ.get("OVO_NB_KEY_PASSPHRASE")
        if passphrase is None and (folder / PASSPHRASE_FILE).exists():
            passphrase = resolve_passphrase(folder, self.name)
        return load_private_key(self.private_key_path, passphrase)

    def summary(self) -> dict[str, str]:
        """The profile as safe to display: the secret masked, the key as a path."""
        shown = {f.name: str(getattr(self, f.name)) for f in fields(self) if f.name not in _SECRET_FIELDS}
        shown["client_secret"] = self.masked_secret
        return shown


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"{path} is not valid TOML: {exc}") from None


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in fields(Profile):
        raw = env.get(f"OVO_NB_{f.name.upper()}")
        if raw:
            values[f.name] = [u.strip() for u in raw.split(",") if u.strip()] if f.name in _LIST_FIELDS else raw
    return values


def load_profile(
    name: str | None = None, *, config_file: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Profile:
    """Build the profile ``name`` (default ``$OVO_NB_PROFILE`` or ``sandbox``) from every source.

    A missing required value raises :class:`ValidationError` naming the value and where to set it.
    """
    env = os.environ if env is None else env
    name = name or env.get("OVO_NB_PROFILE") or "sandbox"
    if name not in PROFILES:
        raise ValidationError(f"Unknown profile {name!r}; choose one of {', '.join(PROFILES)}.")
    values: dict[str, Any] = {**_DEFAULTS[name]}
    if name == "sandbox":
        from .sandbox.seed import DEFAULT_CALLBACK_URLS, default_sandbox_dir

        folder = default_sandbox_dir()
        values.update(private_key_path=folder / "partner_private_key.pem", callback_urls=DEFAULT_CALLBACK_URLS)
        if env.get("OVO_NB_SANDBOX_URL"):
            values["base_url"] = env["OVO_NB_SANDBOX_URL"]
        credentials = folder / "credentials.toml"
    else:
        folder = default_key_dir(name)
        values["private_key_path"] = folder / "partner_private_key.pem"
        credentials = folder / "credentials.toml"
    if credentials.exists():
        values.update({k: v for k, v in _read_toml(credentials).items() if k in {f.name for f in fields(Profile)}})
    config_path = Path(config_file or env.get("OVO_NB_CONFIG") or ovo_nb_home() / "config.toml").expanduser()
    if config_path.exists():
        values.update(_read_toml(config_path).get("profiles", {}).get(name, {}))
    values.update(_from_env(env))
    values["state_dir"] = Path(values.get("state_dir") or ovo_nb_home() / "state" / name).expanduser()
    if name == "sandbox" and "client_id" not in values:
        _seed_sandbox_credentials(values, folder)
    for required in ("client_id", "client_secret", "merchant_id"):
        if not values.get(required):
            raise ValidationError(
                f"Profile {name!r} has no {required}. Run notebooks/01_key_setup.ipynb to decrypt OVO's credentials "
                f"(they go to {credentials}), or set OVO_NB_{required.upper()}, or add {required} = \"...\" under "
                f"[profiles.{name}] in {config_path}."
            )
    values["private_key_path"] = Path(values["private_key_path"]).expanduser()
    values["callback_urls"] = tuple(values.get("callback_urls") or ())
    values["path_style"] = PathStyle(values.get("path_style", PathStyle.TECH_DOC))
    unknown = set(values) - {f.name for f in fields(Profile)}
    for key in unknown:
        values.pop(key)
    return Profile(name=name, **values)


def _seed_sandbox_credentials(values: dict[str, Any], folder: Path) -> None:
    """First use of the sandbox profile: create the default partner so its credentials exist."""
    from .sandbox.seed import open_sandbox

    sandbox, partner = open_sandbox(folder=folder)
    sandbox.store.close()
    values.update(client_id=partner.client_id, client_secret=partner.client_secret,
                  merchant_id=partner.merchant_id, channel_id=partner.channel_id)
