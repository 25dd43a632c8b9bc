"""Direct debit: balance, the two calls around the PIN webview, recurring debits, status, recovery.

Money never moves twice: a lost answer (a timeout, a 5xx) is followed by a status inquiry with
the same partnerReferenceNo, and only a debit OVO does not have yet is sent again, with the
identical body and a new X-EXTERNAL-ID.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..calllog import mask_msisdn
from ..client import check_reference
from ..errors import (
    CustomerNotBound,
    InsufficientFundsError,
    NotFoundError,
    OvoApiError,
    OvoConnectionError,
    OvoNbError,
    ValidationError,
)
from ..models import Balance, Payment, PaymentStatus, SingleUseToken
from ..snap import SINGLE_USE_TOKEN_LIFETIME, normalize_phone, parse_amount
from ..testbed import SANDBOX_TEST_PIN
from ..webview import parse_callback
from ._session import RETRY_ATTEMPTS, Session, left_open, retrying
from ._types import PaymentOutcome, PendingPayment
from .tokens import TokenService

__all__ = ["UNSETTLED", "PaymentService"]

UNSETTLED = ("UNKNOWN", "UNKNOWN_NEEDS_RECONCILIATION")
"""Ledger states of a payment whose outcome the partner does not know yet."""
_LEDGER_STATE = {"SUCCESS": "PAID", "REFUNDED": "REFUNDED", "CANCELED": "EXPIRED", "FAILED": "FAILED"}
"""OVO's final transaction statuses, as the partner ledger records them."""


class PaymentService:
    """Debits and what OVO says about them."""

    def __init__(self, session: Session, tokens: TokenService) -> None:
        self.session, self.tokens = session, tokens

    def balance(self, phone: str, *, scenario: str = "balance inquiry") -> Balance:
        return self.tokens.with_access(phone, lambda token: self.session.client.balance_inquiry(token,
                                                                                               scenario=scenario))

    def start_payment(self, phone: str, amount: Decimal | int | str, *, reference: str | None = None,
                      pay_method: str | None = None) -> PendingPayment:
        """Balance check (OVO's rule), ledger row, 1st debit call; returns the PIN webview URL."""
        s = self.session
        customer = normalize_phone(phone)
        value = parse_amount(amount)
        if reference is not None:
            check_reference(reference)
        balance = self.balance(customer, scenario="balance before debit")
        token = self.tokens.access_token(customer)
        available = balance.accounts.get(pay_method or "CASH", Decimal(0))
        if available < value:
            raise InsufficientFundsError(
                "4035414", f"Insufficient Funds: balance IDR {available:.2f} is below IDR {value:.2f} (the balance "
                "inquiry OVO requires before a debit says so; no debit was sent)", 403, call_id=balance.call_id,
                local=True)
        reference = reference or s.ledger.new_reference()
        body = s.client.payment_body(reference, value, pay_method=pay_method)
        s.ledger.add_payment(reference, customer, value, body)
        with left_open(f"Payment {reference}"):
            first = self._send(customer, body, token, "debit 1st call")
            if isinstance(first, PaymentOutcome):
                raise ValidationError(f"{reference} was already paid at OVO; see status({reference!r}).")
            if not first.in_progress:  # OVO completed it in one call
                self.record_paid(reference, first.reference_no, first.approval_code, first.response_code)
                raise ValidationError(f"{reference} completed without a PIN step ({first.response_code}).")
            s.ledger.update_payment(reference, "AWAITING_PIN", reference_no=first.reference_no,
                                    response_code=first.response_code)
        url = first.webview_url(token, s.destination, state=reference, registered=s.registered())
        return PendingPayment(reference, customer, value, url, first.reference_no)

    def finish_payment(self, pending: PendingPayment, callback_url: str) -> PaymentOutcome:
        """PIN callback -> single-use token -> 2nd call with the identical body; recovers lost answers."""
        s = self.session
        callback = parse_callback(callback_url)
        with left_open(f"Payment {pending.partner_reference_no}"):
            single_use = self._generate_token(callback.auth_code)
            s.vault.put(pending.phone, "single_use", single_use.token,
                        expires_at=s.now() + SINGLE_USE_TOKEN_LIFETIME)
            body = s.ledger.payment(pending.partner_reference_no).body
            result = self._send(pending.phone, body, single_use.token, "debit 2nd call")
            s.vault.discard(pending.phone, "single_use", "used")
            if isinstance(result, PaymentOutcome):
                return result
            return self.record_paid(pending.partner_reference_no, result.reference_no, result.approval_code,
                                    result.response_code)

    def resume_payment(self, callback_url: str) -> PaymentOutcome:
        """Finish a payment started earlier: the callback's state is its partnerReferenceNo."""
        reference = parse_callback(callback_url).state or ""
        row = self.session.ledger.payment(reference)
        pending = PendingPayment(reference, row.phone, row.amount, "", row.reference_no)
        return self.finish_payment(pending, callback_url)

    def pay(self, phone: str, amount: Decimal | int | str, *, pin: str = SANDBOX_TEST_PIN,
            reference: str | None = None, pay_method: str | None = None) -> PaymentOutcome:
        """The two-step debit end to end with a headless PIN webview (sandbox)."""
        pending = self.start_payment(phone, amount, reference=reference, pay_method=pay_method)
        return self.finish_payment(pending, self.session.headless(pending.webview_url, pin))

    def pay_recurring(self, phone: str, amount: Decimal | int | str, *,
                      reference: str | None = None) -> PaymentOutcome:
        """A recurring (``subTransactionType: AUTO``) debit: one PIN-less call; needs OVO's approval."""
        s = self.session
        customer = normalize_phone(phone)
        value = parse_amount(amount)
        token = self.tokens.access_token(customer)
        s.client.balance_inquiry(token, scenario="balance before recurring debit")
        reference = reference or s.ledger.new_reference("SUB")
        body = s.client.payment_body(reference, value, recurring=True)
        s.ledger.add_payment(reference, customer, value, body, recurring=True)
        with left_open(f"Payment {reference}"):
            result = self._send(customer, body, token, "recurring debit")
            if isinstance(result, PaymentOutcome):
                return result
            return self.record_paid(reference, result.reference_no, result.approval_code, result.response_code)

    def record_paid(self, reference: str, reference_no: str, approval_code: str, code: str, *,
                    recovered: bool = False) -> PaymentOutcome:
        self.session.ledger.update_payment(reference, "PAID", reference_no=reference_no, approval_code=approval_code,
                                           response_code=code, note="recovered by status inquiry" if recovered else "")
        row = self.session.ledger.payment(reference)
        return PaymentOutcome(reference, row.phone, row.amount, "PAID", reference_no, approval_code, recovered)

    def _generate_token(self, auth_code: str) -> SingleUseToken:
        """The single-use token, retried on a lost answer (a consumed authCode then says so plainly)."""
        return retrying(self.session, lambda attempt: self.session.client.generate_token(
            auth_code, scenario="generate single-use token" + (" (retry)" if attempt > 1 else "")))

    def _send(self, phone: str, body: dict[str, Any], token: str, label: str) -> Payment | PaymentOutcome:
        """Send a debit call; on a lost answer ask status and resend only what OVO does not have."""
        s, reference = self.session, body["partnerReferenceNo"]

        def call(attempt: int) -> Payment | PaymentOutcome:
            try:
                return s.client.debit_payment(token, body, scenario=label if attempt == 1 else f"{label} (retry)")
            except OvoApiError as exc:
                if not exc.should_retry:
                    s.ledger.update_payment(reference, "FAILED", response_code=exc.response_code,
                                            note=exc.response_message)
                raise

        def between(problem: OvoNbError) -> Payment | PaymentOutcome | None:
            s.ledger.update_payment(reference, "UNKNOWN", note=f"{label}: {problem}")
            status = self._status_after_failure(phone, reference)
            if status is None:
                return None  # OVO has nothing: safe to send again
            if status.status_name == "SUCCESS":
                return self.record_paid(reference, status.reference_no, "", status.response_code, recovered=True)
            if status.status_name in ("CANCELED", "FAILED"):
                s.ledger.update_payment(reference, _LEDGER_STATE[status.status_name], note=status.description)
                raise problem
            return None  # initiated or paying: the replayed call returns the stored answer

        def exhausted(problem: OvoNbError) -> OvoNbError:
            return OvoConnectionError(
                f"{reference}: no answer after {RETRY_ATTEMPTS} attempts; the ledger marks it UNKNOWN. "
                "Run resolve_unknown() later: it asks OVO's status and settles the ledger.")

        return retrying(s, call, between=between, exhausted=exhausted)

    def _status_after_failure(self, phone: str, reference: str) -> PaymentStatus | None:
        """Status by partnerReferenceNo, or None when OVO has no such payment (safe to resend)."""

        def call(attempt: int) -> PaymentStatus | None:
            try:
                return self.session.client.debit_status(self._status_token(phone, reference), reference,
                                                        scenario="status after a lost answer")
            except NotFoundError:
                return None

        return retrying(self.session, call, exhausted=lambda problem: OvoConnectionError(
            f"{reference}: status inquiries failed too; the ledger marks it UNKNOWN."))

    def _status_token(self, phone: str, reference: str) -> str:
        """The customer's access token for a status inquiry (OVO: status takes no B2B token)."""
        try:
            return self.tokens.access_token(phone)
        except CustomerNotBound:
            self.session.ledger.update_payment(reference, "UNKNOWN_NEEDS_RECONCILIATION",
                                               note="the customer unbound: only OVO's settlement report can tell")
            raise CustomerNotBound(
                f"{reference}: {mask_msisdn(phone)} has unbound, and OVO's status API takes only the customer's "
                "token, so the outcome cannot be asked. Marked UNKNOWN_NEEDS_RECONCILIATION: reconcile with OVO's "
                "settlement report (settle_from_settlement)."
            ) from None

    def status(self, reference: str) -> PaymentStatus:
        """OVO's view of a payment (by partnerReferenceNo), asked with the customer's access token.

        Also settles an UNKNOWN ledger row. After the customer unbound it cannot be asked:
        :class:`CustomerNotBound` says so and the row waits for reconciliation.
        """
        row = self.session.ledger.payment(reference)
        status = self.session.client.debit_status(self._status_token(row.phone, reference), reference,
                                                  scenario="payment status")
        if row.status in UNSETTLED and status.status_name == "SUCCESS":
            self.record_paid(reference, status.reference_no, "", status.response_code, recovered=True)
        return status

    def resolve_unknown(self) -> list[str]:
        """Ask OVO about every payment the ledger could not settle; one line per payment.

        Payments of customers who have unbound cannot be asked (status takes the customer's
        token): they are listed as ``UNKNOWN_NEEDS_RECONCILIATION``, for the settlement report.
        """
        ledger, settled = self.session.ledger, []
        for row in ledger.payments(*UNSETTLED, "AWAITING_PIN", "CREATED"):
            reference = row.partner_reference_no
            try:
                status = self.session.client.debit_status(self._status_token(row.phone, reference), reference,
                                                          scenario="resolve unknown payment")
            except CustomerNotBound:
                settled.append(f"{reference}: UNKNOWN_NEEDS_RECONCILIATION (the customer unbound; OVO's settlement "
                               "report will tell)")
                continue
            except NotFoundError:
                ledger.update_payment(reference, "FAILED", note="OVO has no such payment")
                settled.append(f"{reference}: FAILED (unknown at OVO)")
                continue
            new = _LEDGER_STATE.get(status.status_name)
            if new:
                ledger.update_payment(reference, new, reference_no=status.reference_no,
                                      response_code=status.response_code, note="settled by status inquiry")
                settled.append(f"{reference}: {new}")
        return settled
