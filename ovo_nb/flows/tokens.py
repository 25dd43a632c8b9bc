"""The partner's B2B token and each customer's access token: from the vault, renewed when OVO says so."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from ..calllog import mask_msisdn
from ..errors import AuthenticationError, CustomerNotBound, OvoApiError
from ..snap import ACCESS_TOKEN_LIFETIME, normalize_phone
from ..tokens import PARTNER
from ._session import Session

__all__ = ["TokenService"]

T = TypeVar("T")


STALE_BINDING = (
    "the customer unbound (here or in the OVO app), a newer binding of the phone superseded this one, the customer "
    "changed phone number, or the account closed. Bind again; if OVO answers 4030701 Account Already Linked, another "
    "binding is active: unbind it where its tokens are, or have the customer unlink you in the OVO app, first")
"""Why a refresh token stops working, and the way out that works in each case."""


class TokenService:
    """Tokens on demand: read from the vault, fetched or refreshed at OVO only when needed."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def b2b_token(self) -> str:
        """The partner's B2B token from the vault, renewed before its 15 minutes run out."""
        vault = self.session.vault
        token = vault.get(PARTNER, "b2b")
        if token is None:
            result = self.session.client.b2b_token(scenario="b2b token")
            token = result.access_token
            vault.put(PARTNER, "b2b", token, expires_at=self.session.now() + timedelta(seconds=result.expires_in))
        return token

    def with_b2b(self, action: Callable[[str], T]) -> T:
        """``action(b2b_token)``; a B2B token OVO no longer knows (401xx01) is dropped and renewed once."""
        try:
            return action(self.b2b_token())
        except AuthenticationError as exc:
            if exc.response_code[5:] != "01":  # Invalid Token (B2B)
                raise
            self.session.vault.discard(PARTNER, "b2b", f"refused by OVO ({exc.response_code})")
            return action(self.b2b_token())

    def access_token(self, phone: str) -> str:
        """A valid access token for ``phone``; an expired one is refreshed (and the refresh logged)."""
        customer = normalize_phone(phone)
        vault = self.session.vault
        token = vault.get(customer, "access")
        if token is not None:
            return token
        refresh = vault.get(customer, "refresh")
        if refresh is None:
            record = vault.customer(customer)
            reason = f" ({record.reason})" if record and record.reason else ""
            raise CustomerNotBound(f"{mask_msisdn(customer)} has no OVO tokens{reason}: bind the customer first.")
        try:
            tokens = self.session.client.refresh_token(refresh, scenario="refresh access token")
        except OvoApiError as exc:
            if exc.http_status == 401:
                vault.revoke(customer, f"refresh refused by OVO ({exc.response_code})")
                raise CustomerNotBound(
                    f"OVO refused {mask_msisdn(customer)}'s refresh token ({exc.response_code}), so this vault marks "
                    f"it unbound: {STALE_BINDING}." + (f" The sandbox says: {exc.sandbox_hint}." if exc.sandbox_hint
                                                       else "")
                ) from exc
            raise
        self.store(customer, tokens.access_token, tokens.refresh_token, tokens.access_expires_at, tokens.ilp)
        return tokens.access_token

    def with_access(self, phone: str, action: Callable[[str], T]) -> T:
        """``action(access_token)``; an access token OVO refuses (401xx02) is dropped and refreshed once."""
        customer = normalize_phone(phone)
        try:
            return action(self.access_token(customer))
        except AuthenticationError as exc:
            if not exc.response_code.endswith("02"):
                raise
            self.session.vault.discard(customer, "access", f"refused by OVO ({exc.response_code})")
            return action(self.access_token(customer))

    def store(self, customer: str, access: str, refresh: str, expires: datetime | None, ilp: str) -> None:
        """Keep a customer's new tokens and ILP, as OVO requires the partner to."""
        vault = self.session.vault
        vault.put(customer, "access", access, expires_at=expires or self.session.now() + ACCESS_TOKEN_LIFETIME)
        if refresh:
            vault.put(customer, "refresh", refresh, expires_at=None)
        vault.set_customer(customer, "BOUND", ilp=ilp)

    def is_bound(self, phone: str) -> bool:
        """Whether the vault holds a usable refresh token for ``phone``."""
        return self.session.vault.get(normalize_phone(phone), "refresh") is not None

    def revoke(self, phone: str, reason: str = "phone number changed") -> None:
        """Forget a customer's tokens locally (OVO breaks them when the phone number changes)."""
        self.session.vault.revoke(normalize_phone(phone), reason)
