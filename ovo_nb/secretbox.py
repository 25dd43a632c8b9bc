"""Encryption at rest for what must be kept but never shown: full tokens, unredacted calls.

A :class:`SecretBox` seals bytes with AES-256-GCM (``cryptography``), under a key derived
(HKDF-SHA256) from a Fernet key that comes from ``$OVO_NB_VAULT_KEY``, from the file
``$OVO_NB_VAULT_KEY_FILE`` names (a team's shared key: never created here), or from a key file created
once with mode 0600 under the ovo-nb home, so a copied database alone reveals nothing. AES-GCM
is one authenticated pass, several times cheaper per call-log row than Fernet's CBC + HMAC +
Base64; data sealed by earlier versions with Fernet still opens.
"""

from __future__ import annotations

import base64
import contextlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ._files import ovo_nb_home, read_private_file, write_private_file
from .errors import KeyFileError, OvoNbError

__all__ = ["VAULT_KEY_ENV", "VAULT_KEY_FILE_ENV", "SecretBox", "default_key_file"]

_GCM = b"\x01"
"""The first byte of an AES-GCM seal; a Fernet token starts with ``g`` (Base64 of 0x80)."""
VAULT_KEY_ENV = "OVO_NB_VAULT_KEY"
"""Environment variable holding a Fernet key (urlsafe Base64, 32 bytes) for sealing at rest."""
VAULT_KEY_FILE_ENV = "OVO_NB_VAULT_KEY_FILE"
"""Environment variable naming the key file a team shares (``ovo-nb state new-key FILE`` makes one)."""


def default_key_file() -> Path:
    """The vault key file of this ovo-nb home, used when no key or shared key file is given."""
    return ovo_nb_home() / "vault.key"


class SecretBox:
    """Seal and open bytes with one symmetric key."""

    def __init__(self, key: bytes | str) -> None:
        try:
            self._fernet = Fernet(key)
            raw = base64.urlsafe_b64decode(key)
        except (ValueError, TypeError):
            raise KeyFileError(
                f"The vault key is not a Fernet key (32 bytes, urlsafe Base64); create one with "
                f"SecretBox.generate_key() and put it in {VAULT_KEY_ENV}."
            ) from None
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ovo-nb secretbox aes-gcm").derive(raw)
        self._aead = AESGCM(derived)

    @staticmethod
    def write_key(path: str | Path) -> Path:
        """Write a new key to ``path`` (0600; an existing file is never replaced): a team's shared key file."""
        target = Path(path).expanduser()
        try:
            return write_private_file(target, Fernet.generate_key())
        except KeyFileError:  # it exists (a link is refused by name, as a StateFileError)
            raise KeyFileError(f"{target} already exists: a vault key is never replaced, since what it sealed would "
                               "be lost with it. Choose another file, or use the existing one.") from None

    @staticmethod
    def generate_key() -> str:
        """A new random key, as text to store in a secret manager or ``$OVO_NB_VAULT_KEY``."""
        return Fernet.generate_key().decode()

    @classmethod
    def default(cls, key_file: str | Path | None = None) -> SecretBox:
        """The box from ``$OVO_NB_VAULT_KEY``, else from ``key_file``, else ``$OVO_NB_VAULT_KEY_FILE``, else
        ``~/.ovo-nb/vault.key``.

        The key file is created with mode 0600 the first time it is needed, except the one the variable names:
        that one must exist (a new key there would seal what the team cannot open).
        """
        from_env = os.environ.get(VAULT_KEY_ENV)
        if from_env:
            return cls(from_env.strip())
        shared = None if key_file else os.environ.get(VAULT_KEY_FILE_ENV)
        path = Path(key_file or shared or default_key_file()).expanduser()
        if shared and not path.exists() and not path.is_symlink():
            raise KeyFileError(
                f"The vault key file {path} does not exist. Ask your team for its copy of the key file (it seals "
                f"the shared tokens), or make the team's first one with `ovo-nb state new-key {path}`.")
        if not path.is_symlink() and not path.exists():
            with contextlib.suppress(KeyFileError):  # another process created it first: use theirs
                write_private_file(path, Fernet.generate_key())
        try:
            return cls(read_private_file(path).strip())
        except (KeyFileError, FileNotFoundError, IsADirectoryError):
            raise KeyFileError(
                f"{path} is not a vault key (a Fernet key: 32 bytes, urlsafe Base64). It seals the customers' tokens "
                "in the token vault and the full exchanges in the call log: restore it from a backup, or set "
                f"{VAULT_KEY_ENV}. Deleting it makes a new key, and everything sealed with the old one unreadable "
                "(the customers must bind again)."
            ) from None

    def seal(self, data: bytes) -> bytes:
        nonce = os.urandom(12)
        return _GCM + nonce + self._aead.encrypt(nonce, data, None)

    def open(self, sealed: bytes) -> bytes:
        try:
            if sealed[:1] == _GCM:
                return self._aead.decrypt(sealed[1:13], sealed[13:], None)
            return self._fernet.decrypt(sealed)  # sealed by an earlier version
        except (InvalidToken, InvalidTag):
            raise OvoNbError(
                f"Sealed data does not open with this key: it was sealed with another vault key. "
                f"Set {VAULT_KEY_ENV} (or the vault key file) to the key used when it was written."
            ) from None
