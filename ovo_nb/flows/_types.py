"""What the flows hand back: a pending webview step, or a finished debit as the ledger records it."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["PaymentOutcome", "PendingBinding", "PendingPayment", "PendingUnbinding"]


@dataclass(frozen=True)
class PendingBinding:
    """A binding waiting for the customer's OTP and Security PIN in the webview."""

    phone: str
    webview_url: str = field(repr=False)
    state: str


@dataclass(frozen=True)
class PendingUnbinding:
    """An unbinding waiting for the customer's confirmation in the webview."""

    phone: str
    webview_url: str = field(repr=False)
    state: str


@dataclass(frozen=True)
class PendingPayment:
    """A debit after its 1st call: the customer must confirm with the PIN in the webview."""

    partner_reference_no: str
    phone: str
    amount: Decimal
    webview_url: str = field(repr=False)
    reference_no: str


@dataclass(frozen=True)
class PaymentOutcome:
    """A finished debit as the ledger records it."""

    partner_reference_no: str
    phone: str
    amount: Decimal
    status: str
    reference_no: str
    approval_code: str
    recovered: bool = False
    """True when the answer was lost and the outcome was learnt from a status inquiry."""
