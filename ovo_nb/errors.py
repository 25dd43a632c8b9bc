"""The exception hierarchy of ovo_nb.

Every error the toolkit raises on purpose derives from :class:`OvoNbError`, and its
message says what was wrong and what to do about it.

    OvoNbError
    ├── ValidationError      bad input caught before anything is sent or written
    ├── KeyFileError         a key file is missing, of the wrong kind, or locked
    ├── CredentialError      the credential pair from OVO cannot be decrypted or read
    └── SignatureError       a signature cannot be made or read
"""

from __future__ import annotations

__all__ = ["CredentialError", "KeyFileError", "OvoNbError", "SignatureError", "ValidationError"]


class OvoNbError(Exception):
    """Base class of every error ovo_nb raises on purpose."""


class ValidationError(OvoNbError, ValueError):
    """Input was refused before any network call or file write."""


class KeyFileError(OvoNbError):
    """A key could not be generated, saved or loaded."""


class CredentialError(OvoNbError):
    """OVO's encrypted credential pair could not be decrypted or parsed."""


class SignatureError(OvoNbError):
    """A SNAP signature could not be produced or decoded."""
