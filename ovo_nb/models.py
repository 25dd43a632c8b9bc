"""Typed results of OVO's APIs. Each keeps the raw JSON and the call-log id of its exchange."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from .snap import TRANSACTION_STATUSES
from .webview import build_webview_url

__all__ = [
    "ApiResult",
    "B2BToken",
    "Balance",
    "Binding",
    "CustomerTokens",
    "Lookup",
    "Payment",
    "PaymentStatus",
    "Refund",
    "SingleUseToken",
    "TopupOptions",
    "Unbinding",
    "status_name",
]

def status_name(code: str) -> str:
    """``latestTransactionStatus`` as a word: ``"00"`` -> ``SUCCESS``, ``"07"`` -> ``NOT_FOUND``."""
    return TRANSACTION_STATUSES.get(code, code).upper().replace(" ", "_")


@dataclass(frozen=True, kw_only=True)
class ApiResult:
    """What every answer has: the SNAP code and message, the call id, the raw JSON."""

    response_code: str
    response_message: str
    call_id: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class _WithWebview(ApiResult):
    def webview_url(self, token: str, destination: str, *, state: str | None = None,
                    registered: tuple[str, ...] | None = None) -> str:
        """The URL the customer opens for this step (see :func:`ovo_nb.webview.build_webview_url`)."""
        return build_webview_url(self.raw, token, destination, state=state, registered=registered)


@dataclass(frozen=True, kw_only=True)
class B2BToken(ApiResult):
    access_token: str = field(repr=False)
    expires_in: int


@dataclass(frozen=True, kw_only=True)
class CustomerTokens(ApiResult):
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: datetime | None
    ilp: str


@dataclass(frozen=True, kw_only=True)
class Lookup(ApiResult):
    phone: str
    account_status: str

    @property
    def can_register(self) -> bool:
        return self.account_status == "CAN_REGISTER"


@dataclass(frozen=True, kw_only=True)
class Binding(_WithWebview):
    linkage_token: str = field(repr=False)
    account_status: str


@dataclass(frozen=True, kw_only=True)
class Unbinding(_WithWebview):
    linkage_token: str | None = field(repr=False, default=None)
    unlinked: bool


@dataclass(frozen=True, kw_only=True)
class Balance(ApiResult):
    accounts: dict[str, Decimal]
    """Balance per type (``CASH``, ``POINTS``) in IDR."""


@dataclass(frozen=True, kw_only=True)
class Payment(_WithWebview):
    partner_reference_no: str
    reference_no: str
    approval_code: str
    in_progress: bool
    """True after the 1st call: the customer must confirm with the PIN in the webview."""


@dataclass(frozen=True, kw_only=True)
class PaymentStatus(ApiResult):
    partner_reference_no: str
    reference_no: str
    latest_status: str
    description: str
    amount: Decimal
    paid_time: str
    refunds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status_name(self) -> str:
        return status_name(self.latest_status)


@dataclass(frozen=True, kw_only=True)
class Refund(ApiResult):
    partner_refund_no: str
    refund_no: str
    amount: Decimal
    refund_time: str


@dataclass(frozen=True, kw_only=True)
class SingleUseToken(ApiResult):
    token: str = field(repr=False)
    expires_in: int


@dataclass(frozen=True, kw_only=True)
class TopupOptions(ApiResult):
    options: list[dict[str, Any]]
