"""Profiles: which OVO to talk to, as whom, and where to keep state.

Three profiles: ``sandbox`` (the embedded OVO, no configuration at all), ``stage`` and
``production``. Which one: the name asked for, else ``$OVO_NB_PROFILE``, else the project's
``profile`` (``ovo-nb.toml``), else ``sandbox``. Values come, later ones winning, from: built-in
defaults, the credentials the key-setup notebook saved (``~/.ovo-nb/keys/<profile>/credentials.toml``),
the ``[profiles.<name>]`` table of ``~/.ovo-nb/config.toml`` (or ``$OVO_NB_CONFIG``), the same table
of the project's ``ovo-nb.toml`` (which may hold no secret: it is committed), ``OVO_NB_<NAME>``
environment variables (``OVO_NB_CLIENT_SECRET``, ``OVO_NB_BASE_URL``...) and
``OVO_NB_<PROFILE>_<NAME>`` ones for one profile only (``OVO_NB_STAGE_CLIENT_SECRET``).

The partner-account variables (``OVO_NB_BASE_URL``, ``OVO_NB_CLIENT_ID``, ...) describe an account
at OVO: the sandbox profile ignores them (its partner is the sandbox's own, and
``$OVO_NB_SANDBOX_URL`` points it at a loopback sandbox), so exporting stage's settings never
turns the sandbox into a half-configured stage. Secrets are never shown: ``repr`` masks them.

Where the call log, the vault and the ledger live: SQLite files under ``state_dir`` (one person), or the
PostgreSQL database of ``state_url`` (``OVO_NB_STATE_URL``, ``OVO_NB_<PROFILE>_STATE_URL``: a team), each
profile in a schema of its own. A ``state_url`` carrying a password may not sit in the project's file:
the password goes in the variable, ``$PGPASSWORD`` or ``~/.pgpass``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from ._files import ovo_nb_home, read_private_file
from .errors import ValidationError
from .keys import PASSPHRASE_FILE, default_key_dir, load_private_key, resolve_passphrase
from .project import find_project
from .snap import PathStyle
from .storage import has_password, is_database_url, masked, with_schema
from .testbed import (
    DEFAULT_CALLBACK_URLS,
    DEFAULT_CHANNEL_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_MERCHANT_ID,
    DEFAULT_PARTNER_NAME,
    IN_PROCESS_URL,
    sandbox_dir,
)

__all__ = ["PROFILES", "PROFILE_ENV", "Profile", "default_profile", "load_profile", "read_toml",
           "throwaway_sandbox_profile"]

PROFILES = ("sandbox", "stage", "production")
PROFILE_ENV = "OVO_NB_PROFILE"
"""The variable naming the profile to use when none is asked for."""
SANDBOX_URL = IN_PROCESS_URL
"""The in-process sandbox's base URL (no socket behind it)."""

_DEFAULTS: dict[str, dict[str, Any]] = {
    "sandbox": {"base_url": SANDBOX_URL},
    "stage": {"base_url": "https://app.byte-stack.net"},
    "production": {"base_url": "https://apigw.ovo.id"},
}
_SECRET_FIELDS = {"client_secret"}
_LIST_FIELDS = {"callback_urls"}
_ACCOUNT_FIELDS = {"base_url", "client_id", "client_secret", "merchant_id", "channel_id", "private_key_path",
                   "callback_urls"}
"""What identifies a partner account at OVO: the sandbox profile takes these from the sandbox, never from
the generic ``OVO_NB_<NAME>`` variables meant for stage or production."""


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
    partner_name: str = ""
    """The partner's company name, as OVO knows it (the credential request carries it)."""
    path_style: PathStyle = PathStyle.TECH_DOC
    dialect: str = "ovo"
    signature_encoding: str = "base64"
    state_dir: Path = field(default_factory=lambda: ovo_nb_home() / "state")
    state_url: str = field(default="", repr=False)
    """A ``postgresql://`` URL: the call log, vault and ledger in that database (a team's), not in ``state_dir``."""

    def with_private_state(self, folder: Path) -> Profile:
        """This profile with its call log, vault and ledger in ``folder`` alone (a drill's, an evidence run's):
        never the team's database, whatever ``state_url`` says."""
        return replace(self, state_dir=Path(folder), state_url="")

    @property
    def state_schema(self) -> str:
        """The schema of a team's database that holds this profile's tables."""
        return f"ovo_nb_{self.name}"

    def state_file(self, room: str) -> Path:
        """The SQLite file of ``room`` (``calls``, ``vault``, ``ledger``) in ``state_dir``."""
        return self.state_dir / f"{room}.sqlite"

    def state_location(self, room: str) -> str | Path:
        """Where ``room`` (``calls``, ``vault``, ``ledger``) keeps its tables: this profile's schema of the team's
        database, else its file in ``state_dir``."""
        if self.state_url:
            return with_schema(self.state_url, self.state_schema)
        return self.state_file(room)

    @property
    def state_where(self) -> str:
        """Where the state is, safe to show (a database URL without its password)."""
        return masked(self.state_location("calls")) if self.state_url else str(self.state_dir)
    sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Where each value that is not a default came from (a file and table, or a variable): for messages."""

    def source(self, name: str) -> str:
        """Where ``name`` came from, in words (``OVO_NB_STAGE_CLIENT_SECRET``, ``credentials.toml``...)."""
        return self.sources.get(name, "the built-in default")

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
        if passphrase is None and ((folder / PASSPHRASE_FILE).exists() or (folder / PASSPHRASE_FILE).is_symlink()):
            passphrase = resolve_passphrase(folder, self.name)
        return load_private_key(self.private_key_path, passphrase)

    def summary(self) -> dict[str, str]:
        """The profile as safe to display: the secret masked, the key as a path."""
        shown = {f.name: str(getattr(self, f.name)) for f in fields(self)
                 if f.name not in _SECRET_FIELDS and f.name != "sources"}
        shown["client_secret"] = self.masked_secret
        shown["state_url"] = masked(self.state_url)
        return shown


def read_toml(path: Path, *, private: bool = False) -> dict[str, Any]:
    """A TOML file; ``private`` for one ovo-nb saved with secrets in it (read as every secret file is)."""
    try:
        return tomllib.loads(read_private_file(path).decode() if private else path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"{path} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"Cannot read {path}: {exc}") from None


_CHOICES: dict[str, tuple[str, ...]] = {
    "path_style": tuple(style.value for style in PathStyle if style is not PathStyle.ASPI),
    "dialect": ("ovo", "aspi"),
    "signature_encoding": ("base64", "hex"),
}
_HEADER_FIELDS = {"client_id": 64, "merchant_id": 64, "channel_id": 5, "device_id": 400}
"""Fields that travel in HTTP headers: printable ASCII only (a CR or LF would split the header), bounded."""


def _checked(name: str, value: Any, origin: str) -> Any:
    """``value`` of field ``name`` from ``origin``, refused with both named when it is of the wrong shape."""
    if name in _LIST_FIELDS:
        if isinstance(value, str):
            value = [u.strip() for u in value.split(",") if u.strip()]
        if not isinstance(value, (list, tuple)) or not all(isinstance(u, str) for u in value):
            raise ValidationError(f"{name} from {origin} must be a list of URLs; got {value!r}.")
        return value
    if not isinstance(value, str):
        shown = "(hidden)" if name in _SECRET_FIELDS else repr(value)
        raise ValidationError(f"{name} from {origin} must be a string (in quotes in TOML); got {shown}.")
    if name == "state_url" and value and not is_database_url(value):
        raise ValidationError(f"state_url from {origin} must be a postgresql:// URL (postgresql://USER@HOST:PORT/"
                              f"DATABASE?sslmode=require); got {masked(value)!r}. Leave it unset for SQLite files.")
    if name in _CHOICES and value not in _CHOICES[name]:
        raise ValidationError(f"{name} from {origin} is {value!r}; choose one of {', '.join(_CHOICES[name])}.")
    limit = _HEADER_FIELDS.get(name)
    if limit and (len(value) > limit or not value.isascii() or not value.isprintable()):
        raise ValidationError(f"{name} from {origin} must be at most {limit} printable ASCII characters, with no "
                              "line break; it travels in an HTTP header.")
    return value


def _merge(values: dict[str, Any], sources: dict[str, str], given: Mapping[str, Any], origin: str) -> None:
    known = {f.name for f in fields(Profile)} - {"name", "sources"}
    for key, value in given.items():
        if key in known:
            values[key] = _checked(key, value, origin)
            sources[key] = origin


def _from_env(env: Mapping[str, str], profile: str) -> dict[str, str]:
    """``OVO_NB_<NAME>`` (account settings not for the sandbox), then ``OVO_NB_<PROFILE>_<NAME>``: each name set,
    with the variable it came from."""
    found: dict[str, str] = {}
    for prefix in ("OVO_NB_", f"OVO_NB_{profile.upper()}_"):
        for f in fields(Profile):
            if f.name in ("name", "sources") or (prefix == "OVO_NB_" and profile == "sandbox"
                                                 and f.name in _ACCOUNT_FIELDS):
                continue
            if env.get(f"{prefix}{f.name.upper()}"):
                found[f.name] = f"{prefix}{f.name.upper()}"
    return found


def _section(path: Path, name: str, *, committed: bool) -> dict[str, Any]:
    """``[profiles.<name>]`` of a settings file; a committed (project) file may hold no secret, in any profile:
    whichever profile a command loads, a secret there is refused before it can be committed unnoticed."""
    profiles = read_toml(path).get("profiles", {})
    section = profiles.get(name, {}) if isinstance(profiles, dict) else {}
    if not isinstance(section, dict):
        raise ValidationError(f"[profiles.{name}] in {path} must be a table of settings.")
    for other, table in (profiles.items() if committed and isinstance(profiles, dict) else ()):
        if not isinstance(table, dict):
            continue
        leaked = sorted(_SECRET_FIELDS & set(table))
        if leaked:
            raise ValidationError(
                f"{leaked[0]} is set under [profiles.{other}] in {path}, a file committed with the project: remove "
                f"it, and set OVO_NB_{other.upper()}_{leaked[0].upper()} or keep it in "
                f"{default_key_dir(other) / 'credentials.toml'} (mode 0600) instead.")
        url = table.get("state_url")
        if isinstance(url, str) and is_database_url(url) and has_password(url):
            raise ValidationError(
                f"state_url under [profiles.{other}] in {path} carries a password, and the file is committed with "
                f"the project: remove the password from the URL and keep it in $PGPASSWORD or ~/.pgpass, or set "
                f"OVO_NB_{other.upper()}_STATE_URL instead.")
    return section


def default_profile(env: Mapping[str, str] | None = None) -> str:
    """The profile used when none is asked for: ``$OVO_NB_PROFILE``, else the project's ``profile``, else sandbox."""
    env = os.environ if env is None else env
    if env.get(PROFILE_ENV):
        return env[PROFILE_ENV]
    settings = find_project().settings
    chosen = read_toml(settings).get("profile", "sandbox") if settings else "sandbox"
    if not isinstance(chosen, str) or chosen not in PROFILES:
        raise ValidationError(f"profile in {settings} is {chosen!r}; choose one of {', '.join(PROFILES)}.")
    return chosen


def throwaway_sandbox_profile(folder: Path) -> Profile:
    """The sandbox profile for a sandbox of one process alone (a drill, an evidence run, a conformance replay):
    in process, its call log, vault and ledger in ``folder``, nothing from ``OVO_NB_*`` variables (they describe
    the user's own sandbox, a loopback server or a team's database, which made-up traffic must never reach)."""
    return replace(load_profile("sandbox", env={}), base_url=SANDBOX_URL).with_private_state(folder)


def load_profile(
    name: str | None = None, *, config_file: str | Path | None = None, env: Mapping[str, str] | None = None,
    complete: bool = True,
) -> Profile:
    """Build the profile ``name`` (default ``$OVO_NB_PROFILE``, the project's, or ``sandbox``) from every source.

    Reads only: no key is made and no file written. The sandbox profile works before its
    credentials exist (the in-process sandbox creates them when an environment opens it);
    another profile with a missing required value raises :class:`ValidationError` naming the
    value and where to set it (unless ``complete`` is false: reading a call log, or key setup
    before OVO sent the credentials), and so does a value of the wrong type or outside its set.
    """
    env = os.environ if env is None else env
    name = name or default_profile(env)
    if name not in PROFILES:
        raise ValidationError(f"Unknown profile {name!r}; choose one of {', '.join(PROFILES)}.")
    values: dict[str, Any] = {**_DEFAULTS[name]}
    if name == "sandbox":
        folder = sandbox_dir()
        values.update(client_id=DEFAULT_CLIENT_ID, merchant_id=DEFAULT_MERCHANT_ID, channel_id=DEFAULT_CHANNEL_ID,
                      client_secret="", callback_urls=DEFAULT_CALLBACK_URLS, partner_name=DEFAULT_PARTNER_NAME)
        if env.get("OVO_NB_SANDBOX_URL"):
            values["base_url"] = env["OVO_NB_SANDBOX_URL"]
    else:
        folder = default_key_dir(name)
    values["private_key_path"] = folder / "partner_private_key.pem"
    sources: dict[str, str] = {}
    credentials = folder / "credentials.toml"
    if credentials.exists() or credentials.is_symlink():
        _merge(values, sources, read_toml(credentials, private=True), str(credentials))
    config_path = Path(config_file or env.get("OVO_NB_CONFIG") or ovo_nb_home() / "config.toml").expanduser()
    if config_path.exists():
        _merge(values, sources, _section(config_path, name, committed=False), f"[profiles.{name}] in {config_path}")
    settings = find_project().settings
    if settings is not None:
        _merge(values, sources, _section(settings, name, committed=True), f"[profiles.{name}] in {settings}")
    for field_name, variable in _from_env(env, name).items():
        _merge(values, sources, {field_name: env[variable]}, variable)
    values["state_dir"] = Path(values.get("state_dir") or ovo_nb_home() / "state" / name).expanduser()
    for required in ("client_id", "client_secret", "merchant_id") if complete else ():
        if not values.get(required) and not (name == "sandbox" and required == "client_secret"):
            where = settings or config_path
            raise ValidationError(
                f"Profile {name!r} has no {required}. Run the key_setup notebook (`ovo-nb run key_setup --profile "
                f"{name}` with OVO's files) to decrypt OVO's credentials (they go to {credentials}), or set "
                f"OVO_NB_{name.upper()}_{required.upper()}" + ("" if required in _SECRET_FIELDS else
                                                f", or add {required} = \"...\" under [profiles.{name}] in {where}")
                + "."
            )
    values["private_key_path"] = Path(values["private_key_path"]).expanduser()
    values["callback_urls"] = tuple(values.get("callback_urls") or ())
    values["path_style"] = PathStyle(values.get("path_style", PathStyle.TECH_DOC))
    for required in ("client_id", "client_secret", "merchant_id"):
        values.setdefault(required, "")
    return Profile(name=name, sources=sources, **values)
