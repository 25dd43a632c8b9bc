"""Refunds with the partner's B2B token: partial or whole, after unbinding too, never twice."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..errors import OvoApiError, OvoConnectionError, OvoNbError, ValidationError
from ..models import Refund
from ..snap import parse_amount
from ._session import RETRY_ATTEMPTS, Session, left_open, retrying
from .tokens import TokenService

__all__ = ["RefundService"]


class RefundService:
    """Refunds, sent again identically on a lost answer: OVO answers a repeat with the refund it made."""

    def __init__(self, session: Session, tokens: TokenService) -> None:
        self.session, self.tokens = session, tokens

    def refund(self, reference: str, amount: Decimal | int | str, *, reason: str = "",
               refund_no: str | None = None) -> Refund:
        """Refund (part of) a paid payment with the B2B token; safe to call again after a lost answer."""
        ledger = self.session.ledger
        payment = ledger.payment(reference)
        value = parse_amount(amount)
        if payment.status not in ("PAID", "PARTIALLY_REFUNDED"):
            raise ValidationError(f"{reference} is {payment.status} in the ledger; only a PAID payment is refunded.")
        refundable = payment.amount - ledger.refunded_total(reference)
        if value > refundable:
            raise ValidationError(
                f"IDR {value:.2f} is more than the IDR {refundable:.2f} left to refund on {reference}.")
        refund_no = refund_no or ledger.new_reference("RF")
        body = self.session.client.refund_body(reference, refund_no, value, reason)
        ledger.add_refund(refund_no, reference, value, body)
        with left_open(f"Refund {refund_no}"):
            result = self._send(refund_no, body)
            self._record_refunded(refund_no, reference, result)
        return result

    def _record_refunded(self, refund_no: str, reference: str, result: Refund) -> None:
        ledger = self.session.ledger
        payment = ledger.payment(reference)
        ledger.update_refund(refund_no, "REFUNDED", refund_no=result.refund_no, response_code=result.response_code)
        total = ledger.refunded_total(reference)
        ledger.update_payment(reference, "REFUNDED" if total == payment.amount else "PARTIALLY_REFUNDED",
                              note=f"refunded IDR {total:.2f}")

    def _send(self, refund_no: str, body: dict[str, Any]) -> Refund:
        """Send a refund; a lost answer marks it UNKNOWN and it goes again, identical."""
        ledger = self.session.ledger

        def call(attempt: int) -> Refund:
            try:
                return self.tokens.with_b2b(lambda token: self.session.client.debit_refund(
                    token, body, scenario="refund" if attempt == 1 else "refund (retry)"))
            except OvoApiError as exc:
                if not exc.should_retry:
                    ledger.update_refund(refund_no, "FAILED", response_code=exc.response_code,
                                         note=exc.response_message)
                raise

        def between(problem: OvoNbError) -> None:
            ledger.update_refund(refund_no, "UNKNOWN", note=str(problem))

        return retrying(self.session, call, between=between, exhausted=lambda problem: OvoConnectionError(
            f"Refund {refund_no}: no answer after {RETRY_ATTEMPTS} attempts; marked UNKNOWN. resolve_unknown() "
            "sends it again, safely."))

    def resolve_unknown(self) -> list[str]:
        """Refunds whose answer was lost: sent again, idempotently, and recorded as OVO answers."""
        ledger, settled = self.session.ledger, []
        refunds = ledger.to_frame("refunds")
        for refund_no in refunds.loc[refunds["status"].isin(["REQUESTED", "UNKNOWN"]), "partner_refund_no"]:
            row = ledger.refund(str(refund_no))
            try:
                result = self._send(row.partner_refund_no, row.body)
            except OvoApiError as exc:
                settled.append(f"{refund_no}: FAILED ({exc.response_code})")
                continue
            except OvoConnectionError:
                settled.append(f"{refund_no}: UNKNOWN (still no answer)")
                continue
            self._record_refunded(row.partner_refund_no, row.partner_reference_no, result)
            settled.append(f"{refund_no}: REFUNDED")
        return settled
