"""The business flows: bind, balance, two-step debit, status, refund, unbind, recurring.

:class:`Ovo` ties the client, the token vault, the partner ledger and the webview together,
so a whole integration reads as a few lines::

    ovo = Ovo.open()                        # the embedded sandbox by default
    ovo.bind("081234567890")                # lookup, binding, OTP webview, tokens -> vault
    payment = ovo.pay("081234567890", "15000")
    ovo.refund(payment.partner_reference_no, "5000")
    ovo.unbind("081234567890")

Against stage or production the webview steps need the customer: use ``start_*`` to get the
URL and ``finish_*`` with the callback URL the browser landed on.

Money never moves twice: a timeout or a 5xx on a debit or refund is followed by a status
inquiry with the same partnerReferenceNo, and only a transaction OVO does not have yet is
sent again, with the identical body (and a new X-EXTERNAL-ID).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from .calllog import CallLog
from .client import OvoClient, check_reference
from .config import Profile
from .environments import Environment, SandboxAdmin, open_environment
from .errors import (
    AuthenticationError,
    CustomerMustRegister,
    CustomerNotBound,
    InsufficientFundsError,
    NotFoundError,
    OvoApiError,
    OvoConnectionError,
    ServerError,
    ValidationError,
    WebviewError,
)
from .ledger import PartnerLedger
from .models import Balance, Lookup, PaymentStatus, Refund, SingleUseToken
from .snap import JAKARTA, Clock, SystemClock, normalize_phone, parse_amount, stage_otp
from .testbed import SANDBOX_TEST_PIN
from .tokens import PARTNER, TokenVault
from .webview import WebviewCompleter, parse_callback

__all__ = ["Ovo", "PaymentOutcome", "PendingBinding", "PendingPayment", "PendingUnbinding"]


"""``(webview_url, otp_or_pin) -> callback URL``: how a sandbox completes the customer's step headlessly."""

UNSETTLED = ("UNKNOWN", "UNKNOWN_NEEDS_RECONCILIATION")
"""Ledger states of a payment whose outcome the partner does not know yet."""
RETRY_ATTEMPTS = 3
RETRY_BACKOFF_SECONDS = 0.5
SINGLE_USE_LIFETIME = timedelta(minutes=15)
B2B_LIFETIME = timedelta(minutes=15)
LINKAGE_LIFETIME = timedelta(minutes=5)


@dataclass(frozen=True)
class PendingBinding:
    """A binding waiting for the customer's OTP in the webview."""

    phone: str
    webview_url: str = field(repr=False)
    state: str


@dataclass(frozen=True)
class PendingUnbinding:
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


class Ovo:
    """The OVO integration of one partner: client + token vault + partner ledger + webview."""

    def __init__(
        self,
        client: OvoClient,
        *,
        vault: TokenVault,
        ledger: PartnerLedger,
        destination: str | None = None,
        webview_completer: WebviewCompleter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        environment: Environment | None = None,
    ) -> None:
        self.client = client
        self.vault = vault
        self.ledger = ledger
        self.profile: Profile = client.profile
        self.destination = destination or (self.profile.callback_urls[0] if self.profile.callback_urls else "")
        self.complete_webview = webview_completer
        self._sleep = sleep
        self.environment = environment
        self.sandbox: SandboxAdmin | None = environment.admin if environment else None
        """The sandbox's admin controls (customers, clock, faults, settlement); ``None`` against OVO."""

    @classmethod
    def open(
        cls,
        profile: str | Profile | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        call_log: CallLog | None = None,
        sleep: Callable[[float], None] = time.sleep,
        sandbox_state: str | Path | None = None,
    ) -> Ovo:
        """Everything wired for ``profile`` (default ``sandbox``), state under the profile's state dir.

        :func:`ovo_nb.environments.open_environment` decides where calls go: the sandbox in
        this process (or at ``$OVO_NB_SANDBOX_URL``), which also completes webview steps
        headlessly, or OVO. ``sandbox_state`` picks the in-process sandbox's SQLite file (default
        ``~/.ovo-nb/sandbox/state.sqlite``, ``":memory:"`` for a throw-away one).
        """
        env = open_environment(profile, sandbox_state=sandbox_state, clock=clock, transport=transport)
        try:
            clock = clock or SystemClock()
            state = env.profile.state_dir
            client = OvoClient(env.profile, transport=env.transport, clock=clock,
                               call_log=call_log or CallLog.open(state / "calls.sqlite"))
            env._closers.append(client.close)
            vault = TokenVault(state / "vault.sqlite", clock=clock)
            env._closers.append(vault.close)
            ledger = PartnerLedger(state / "ledger.sqlite", clock=clock)
            env._closers.append(ledger.close)
        except BaseException:
            env.close()
            raise
        return cls(client, vault=vault, ledger=ledger, webview_completer=env.completer, sleep=sleep, environment=env)

    def __repr__(self) -> str:
        return f"Ovo(profile={self.profile.name!r})"

    def close(self) -> None:
        """Release every connection and database handle (SQLite files are checkpointed)."""
        if self.environment is not None:
            self.environment.close()
        else:
            self.client.close()
            self.vault.close()
            self.ledger.close()

    def __enter__(self) -> Ovo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ================================================================= tokens

    def _now(self) -> datetime:
        return self.client.clock.now().astimezone(JAKARTA)

    def b2b_token(self) -> str:
        """The partner's B2B token from the vault, renewed before its 15 minutes run out."""
        token = self.vault.get(PARTNER, "b2b")
        if token is None:
            result = self.client.b2b_token(scenario="b2b token")
            token = result.access_token
            self.vault.put(PARTNER, "b2b", token, expires_at=self._now() + timedelta(seconds=result.expires_in))
        return token

    def access_token(self, phone: str) -> str:
        """A valid access token for ``phone``; an expired one is refreshed (and the refresh logged)."""
        customer = normalize_phone(phone)
        token = self.vault.get(customer, "access")
        if token is not None:
            return token
        refresh = self.vault.get(customer, "refresh")
        if refresh is None:
            record = self.vault.customer(customer)
            reason = f" ({record.reason})" if record and record.reason else ""
            raise CustomerNotBound(f"{customer} has no OVO tokens{reason}: bind the customer first.")
        try:
            tokens = self.client.refresh_token(refresh, scenario="refresh access token")
        except OvoApiError as exc:
            if exc.http_status == 401:
                self.vault.revoke(customer, f"refresh refused by OVO ({exc.response_code})")
                raise CustomerNotBound(
                    f"OVO refused {customer}'s refresh token ({exc.response_code}): the customer unbound, changed "
                    "phone number, or closed the account. Marked unbound; bind again."
                ) from exc
            raise
        self._store_customer_tokens(customer, tokens.access_token, tokens.refresh_token, tokens.access_expires_at,
                                    tokens.ilp)
        return tokens.access_token

    def _store_customer_tokens(self, customer: str, access: str, refresh: str, expires: datetime | None,
                               ilp: str) -> None:
        self.vault.put(customer, "access", access, expires_at=expires or self._now() + timedelta(days=15))
        if refresh:
            self.vault.put(customer, "refresh", refresh, expires_at=None)
        self.vault.set_customer(customer, "BOUND", ilp=ilp)

    def is_bound(self, phone: str) -> bool:
        """Whether the vault holds a usable refresh token for ``phone``."""
        return self.vault.get(normalize_phone(phone), "refresh") is not None

    def revoke(self, phone: str, reason: str = "phone number changed") -> None:
        """Forget a customer's tokens locally (OVO breaks them when the phone number changes)."""
        self.vault.revoke(normalize_phone(phone), reason)

    # ================================================================= binding

    def lookup(self, phone: str) -> Lookup:
        """Lookup before linkage, as OVO requires; CAN_REGISTER raises :class:`CustomerMustRegister`."""
        result = self.client.lookup(phone, scenario="lookup")
        if result.can_register:
            raise CustomerMustRegister(
                f"{result.phone} has no OVO account yet (CAN_REGISTER): ask the customer to register in the OVO "
                "app, then try again."
            )
        return result

    def start_binding(self, phone: str, *, state: str | None = None, lookup: bool = True) -> PendingBinding:
        """Lookup (skip with ``lookup=False`` when just done) + binding; returns the OTP webview URL."""
        customer = normalize_phone(phone)
        if lookup:
            self.lookup(customer)
        reference = self.ledger.new_reference("BIND")
        binding = self.client.account_binding(customer, reference, scenario="account binding")
        self.vault.put(customer, "linkage", binding.linkage_token, expires_at=self._now() + LINKAGE_LIFETIME)
        self.vault.set_customer(customer, "BINDING")
        state = state or reference
        url = binding.webview_url(binding.linkage_token, self.destination, state=state,
                                  registered=self.profile.callback_urls or None)
        return PendingBinding(customer, url, state)

    def finish_binding(self, pending: PendingBinding, callback_url: str) -> str:
        """The callback URL the webview returned -> access and refresh tokens in the vault; returns the ILP."""
        callback = parse_callback(callback_url)
        if callback.state and callback.state != pending.state:
            raise WebviewError(f"This callback is for {callback.state!r}, not this binding ({pending.state!r}).")
        linkage = self.vault.get(pending.phone, "linkage")
        if linkage is None:
            raise WebviewError("The linkage token expired (5 minutes): start the binding again.")
        tokens = self.client.b2b2c_token(linkage, callback.auth_code, scenario="access token (binding)")
        self.vault.discard(pending.phone, "linkage", "exchanged")
        self._store_customer_tokens(pending.phone, tokens.access_token, tokens.refresh_token,
                                    tokens.access_expires_at, tokens.ilp)
        return tokens.ilp

    def resume_binding(self, phone: str, callback_url: str) -> str:
        """Finish a binding started earlier (another run): the callback URL is all it needs."""
        state = parse_callback(callback_url).state or ""
        return self.finish_binding(PendingBinding(normalize_phone(phone), "", state), callback_url)

    def _headless(self, url: str, *codes: str) -> str:
        if self.complete_webview is None:
            raise WebviewError(
                "This profile has no headless webview: open the URL from start_*() in a browser and pass the "
                "callback URL to finish_*()."
            )
        return self.complete_webview(url, *codes)

    def bind(self, phone: str, *, otp: str | None = None, pin: str = SANDBOX_TEST_PIN) -> str:
        """Bind end to end with a headless webview (sandbox): the OTP, then the Security PIN; returns the ILP."""
        pending = self.start_binding(phone)
        return self.finish_binding(pending, self._headless(pending.webview_url, otp or stage_otp(pending.phone), pin))

    # ================================================================= unbinding

    def start_unbinding(self, phone: str, *, state: str | None = None) -> PendingUnbinding:
        customer = normalize_phone(phone)
        reference = self.ledger.new_reference("UNBIND")
        first = self.client.account_unbinding(self.access_token(customer), reference, scenario="account unbinding 1")
        if first.unlinked or not first.linkage_token:
            self.vault.revoke(customer, "unbound by the partner")
            return PendingUnbinding(customer, "", reference)
        self.vault.put(customer, "unbind_linkage", first.linkage_token, expires_at=self._now() + LINKAGE_LIFETIME)
        url = first.webview_url(first.linkage_token, self.destination, state=state or reference,
                                registered=self.profile.callback_urls or None)
        return PendingUnbinding(customer, url, reference)

    def finish_unbinding(self, pending: PendingUnbinding, callback_url: str) -> None:
        callback = parse_callback(callback_url)
        linkage = self.vault.get(pending.phone, "unbind_linkage")
        if linkage is None:
            raise WebviewError("The unbinding linkage token expired (5 minutes): start the unbinding again.")
        result = self.client.account_unbinding(linkage, pending.state, callback.auth_code,
                                               scenario="account unbinding 2")
        if not result.unlinked:
            raise WebviewError(f"OVO did not confirm the unbinding ({result.response_code}).")
        self.vault.revoke(pending.phone, "unbound by the partner")

    def resume_unbinding(self, phone: str, callback_url: str) -> None:
        """Finish an unbinding started earlier: the callback's state is the unbinding reference."""
        state = parse_callback(callback_url).state or ""
        self.finish_unbinding(PendingUnbinding(normalize_phone(phone), "", state), callback_url)

    def unbind(self, phone: str, *, otp: str | None = None) -> None:
        """Unbind end to end with a headless webview (sandbox). Refunds keep working afterwards."""
        pending = self.start_unbinding(phone)
        if pending.webview_url:
            self.finish_unbinding(pending, self._headless(pending.webview_url, otp or stage_otp(pending.phone)))

    # ================================================================= balance and debit

    def _with_access(self, phone: str, action: Callable[[str], Any]) -> Any:
        """Run ``action(access_token)``; if OVO says the token is no longer valid, refresh once and retry."""
        customer = normalize_phone(phone)
        try:
            return action(self.access_token(customer))
        except AuthenticationError as exc:
            if not exc.response_code.endswith("02"):
                raise
            self.vault.discard(customer, "access", f"refused by OVO ({exc.response_code})")
            return action(self.access_token(customer))

    def balance(self, phone: str) -> Balance:
        result: Balance = self._with_access(
            phone, lambda token: self.client.balance_inquiry(token, scenario="balance inquiry"))
        return result

    def start_payment(self, phone: str, amount: Decimal | int | str, *, reference: str | None = None,
                      pay_method: str | None = None) -> PendingPayment:
        """Balance check (OVO's rule), ledger row, 1st debit call; returns the PIN webview URL."""
        customer = normalize_phone(phone)
        value = parse_amount(amount)
        if reference is not None:
            check_reference(reference)
        balance: Balance = self._with_access(
            customer, lambda token: self.client.balance_inquiry(token, scenario="balance before debit"))
        token = self.access_token(customer)
        available = balance.accounts.get(pay_method or "CASH", Decimal(0))
        if available < value:
            raise InsufficientFundsError(
                "4035414", f"Insufficient Funds: balance IDR {available:.2f} is below IDR {value:.2f} (checked before "
                "the debit, as OVO requires)", 403, call_id=balance.call_id)
        reference = reference or self.ledger.new_reference()
        body = self.client.payment_body(reference, value, pay_method=pay_method)
        self.ledger.add_payment(reference, customer, value, body)
        first = self._send_payment(customer, body, token, "debit 1st call")
        if isinstance(first, PaymentOutcome):
            raise ValidationError(f"{reference} was already paid at OVO; see status({reference!r}).")
        if not first.in_progress:  # OVO completed it in one call
            self._record_paid(reference, first.reference_no, first.approval_code, first.response_code)
            raise ValidationError(f"{reference} completed without a PIN step ({first.response_code}).")
        self.ledger.update_payment(reference, "AWAITING_PIN", reference_no=first.reference_no,
                                   response_code=first.response_code)
        url = first.webview_url(token, self.destination, state=reference, registered=self.profile.callback_urls or None)
        return PendingPayment(reference, customer, value, url, first.reference_no)

    def finish_payment(self, pending: PendingPayment, callback_url: str) -> PaymentOutcome:
        """PIN callback -> single-use token -> 2nd call with the identical body; recovers lost answers."""
        callback = parse_callback(callback_url)
        single_use = self._generate_token(callback.auth_code)
        self.vault.put(pending.phone, "single_use", single_use.token, expires_at=self._now() + SINGLE_USE_LIFETIME)
        body = self.ledger.payment(pending.partner_reference_no).body
        result = self._send_payment(pending.phone, body, single_use.token, "debit 2nd call")
        self.vault.discard(pending.phone, "single_use", "used")
        if isinstance(result, PaymentOutcome):
            return result
        return self._record_paid(pending.partner_reference_no, result.reference_no, result.approval_code,
                                 result.response_code)

    def resume_payment(self, callback_url: str) -> PaymentOutcome:
        """Finish a payment started earlier: the callback's state is its partnerReferenceNo."""
        reference = parse_callback(callback_url).state or ""
        row = self.ledger.payment(reference)
        pending = PendingPayment(reference, row.phone, row.amount, "", row.reference_no)
        return self.finish_payment(pending, callback_url)

    def _generate_token(self, auth_code: str) -> SingleUseToken:
        """The single-use token, retried on a lost answer (a consumed authCode then says so plainly)."""
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                return self.client.generate_token(auth_code, scenario="generate single-use token"
                                                  if attempt == 1 else "generate single-use token (retry)")
            except (OvoConnectionError, ServerError):
                if attempt == RETRY_ATTEMPTS:
                    raise
                self._sleep(RETRY_BACKOFF_SECONDS * attempt)
        raise AssertionError("unreachable")

    def pay(self, phone: str, amount: Decimal | int | str, *, pin: str = SANDBOX_TEST_PIN, reference: str | None = None,
            pay_method: str | None = None) -> PaymentOutcome:
        """The two-step debit end to end with a headless PIN webview (sandbox)."""
        pending = self.start_payment(phone, amount, reference=reference, pay_method=pay_method)
        return self.finish_payment(pending, self._headless(pending.webview_url, pin))

    def pay_recurring(self, phone: str, amount: Decimal | int | str, *, reference: str | None = None) -> PaymentOutcome:
        """A recurring (``subTransactionType: AUTO``) debit: one PIN-less call; needs OVO's approval."""
        customer = normalize_phone(phone)
        value = parse_amount(amount)
        token = self.access_token(customer)
        self.client.balance_inquiry(token, scenario="balance before recurring debit")
        reference = reference or self.ledger.new_reference("SUB")
        body = self.client.payment_body(reference, value, recurring=True)
        self.ledger.add_payment(reference, customer, value, body, recurring=True)
        result = self._send_payment(customer, body, token, "recurring debit")
        if isinstance(result, PaymentOutcome):
            return result
        return self._record_paid(reference, result.reference_no, result.approval_code, result.response_code)

    def _record_paid(self, reference: str, reference_no: str, approval_code: str, code: str, *,
                     recovered: bool = False) -> PaymentOutcome:
        self.ledger.update_payment(reference, "PAID", reference_no=reference_no, approval_code=approval_code,
                                   response_code=code, note="recovered by status inquiry" if recovered else "")
        row = self.ledger.payment(reference)
        return PaymentOutcome(reference, row.phone, row.amount, "PAID", reference_no, approval_code, recovered)

    def _send_payment(self, phone: str, body: dict[str, Any], token: str, label: str) -> Any:
        """Send a debit call; on a lost answer ask status and resend only what OVO does not have."""
        reference = body["partnerReferenceNo"]
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                return self.client.debit_payment(token, body, scenario=label if attempt == 1 else f"{label} (retry)")
            except OvoApiError as exc:
                if not isinstance(exc, ServerError):
                    self.ledger.update_payment(reference, "FAILED", response_code=exc.response_code,
                                               note=exc.response_message)
                    raise
                problem: Exception = exc
            except OvoConnectionError as exc:
                problem = exc
            self.ledger.update_payment(reference, "UNKNOWN", note=f"{label}: {problem}")
            status = self._status_after_failure(phone, reference)
            if status is not None:
                if status.latest_status == "00":
                    return self._record_paid(reference, status.reference_no, "", status.response_code, recovered=True)
                if status.latest_status in ("05", "06"):
                    self.ledger.update_payment(reference, "FAILED" if status.latest_status == "06" else "EXPIRED",
                                               note=status.description)
                    raise problem
                if status.latest_status in ("01", "02") and label.endswith("1st call"):
                    continue  # initiated: the replayed 1st call returns the stored answer
            if attempt < RETRY_ATTEMPTS:
                self._sleep(RETRY_BACKOFF_SECONDS * attempt)
        raise OvoConnectionError(
            f"{reference}: no answer after {RETRY_ATTEMPTS} attempts; the ledger marks it UNKNOWN. "
            "Run resolve_unknown() later: it asks OVO's status and settles the ledger."
        )

    def _status_after_failure(self, phone: str, reference: str) -> PaymentStatus | None:
        """Status by partnerReferenceNo, or None when OVO has no such payment (safe to resend).

        Status takes the customer's access token; when the customer has unbound meanwhile the
        outcome cannot be asked: the payment is marked ``UNKNOWN_NEEDS_RECONCILIATION``.
        """
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                return self.client.debit_status(self._status_token(phone, reference), reference,
                                                 scenario="status after a lost answer")
            except NotFoundError:
                return None
            except (OvoConnectionError, ServerError):
                self._sleep(RETRY_BACKOFF_SECONDS * attempt)
        raise OvoConnectionError(f"{reference}: status inquiries failed too; the ledger marks it UNKNOWN.")

    def _status_token(self, phone: str, reference: str) -> str:
        """The customer's access token for a status inquiry (OVO: status takes no B2B token)."""
        try:
            return self.access_token(phone)
        except CustomerNotBound:
            self.ledger.update_payment(reference, "UNKNOWN_NEEDS_RECONCILIATION",
                                       note="the customer unbound: only OVO's settlement report can tell")
            raise CustomerNotBound(
                f"{reference}: {phone} has unbound, and OVO's status API takes only the customer's token, so the "
                "outcome cannot be asked. Marked UNKNOWN_NEEDS_RECONCILIATION: reconcile with OVO's settlement "
                "report (settle_from_settlement)."
            ) from None

    def status(self, reference: str) -> PaymentStatus:
        """OVO's view of a payment (by partnerReferenceNo), asked with the customer's access token.

        Also settles an UNKNOWN ledger row. After the customer unbound it cannot be asked:
        :class:`CustomerNotBound` says so and the row waits for reconciliation.
        """
        row = self.ledger.payment(reference)
        status = self.client.debit_status(self._status_token(row.phone, reference), reference,
                                          scenario="payment status")
        if row.status in UNSETTLED and status.latest_status == "00":
            self._record_paid(reference, status.reference_no, "", status.response_code, recovered=True)
        return status

    def resolve_unknown(self) -> list[str]:
        """Ask OVO about every payment the ledger could not settle; returns their new states.

        Payments of customers who have unbound cannot be asked (status takes the customer's
        token): they are listed as ``UNKNOWN_NEEDS_RECONCILIATION``, for the settlement report.
        Refunds whose answer was lost are sent again with the same partnerRefundNo: OVO answers
        a repeat with the refund it made, or makes it once.
        """
        settled = []
        for row in self.ledger.payments("UNKNOWN", "UNKNOWN_NEEDS_RECONCILIATION", "AWAITING_PIN", "CREATED"):
            reference = row.partner_reference_no
            try:
                status = self.client.debit_status(self._status_token(row.phone, reference), reference,
                                                  scenario="resolve unknown payment")
            except CustomerNotBound:
                settled.append(f"{reference}: UNKNOWN_NEEDS_RECONCILIATION (the customer unbound; OVO's settlement "
                               "report will tell)")
                continue
            except NotFoundError:
                self.ledger.update_payment(reference, "FAILED", note="OVO has no such payment")
                settled.append(f"{reference}: FAILED (unknown at OVO)")
                continue
            new = {"00": "PAID", "04": "REFUNDED", "05": "EXPIRED", "06": "FAILED"}.get(status.latest_status)
            if new:
                self.ledger.update_payment(reference, new, reference_no=status.reference_no,
                                           response_code=status.response_code, note="settled by status inquiry")
                settled.append(f"{reference}: {new}")
        settled += self._resolve_refunds()
        return settled

    def _resolve_refunds(self) -> list[str]:
        """Refunds whose answer was lost: sent again, idempotently, and recorded as OVO answers."""
        settled = []
        refunds = self.ledger.to_frame("refunds")
        for refund_no in refunds.loc[refunds["status"].isin(["REQUESTED", "UNKNOWN"]), "partner_refund_no"]:
            row = self.ledger.refund(str(refund_no))
            try:
                result = self._send_refund(row.partner_refund_no, row.body)
            except OvoApiError as exc:
                settled.append(f"{refund_no}: FAILED ({exc.response_code})")
                continue
            except OvoConnectionError:
                settled.append(f"{refund_no}: UNKNOWN (still no answer)")
                continue
            self._record_refunded(row.partner_refund_no, row.partner_reference_no, result)
            settled.append(f"{refund_no}: REFUNDED")
        return settled

    # ================================================================= refunds

    def refund(self, reference: str, amount: Decimal | int | str, *, reason: str = "",
               refund_no: str | None = None) -> Refund:
        """Refund (part of) a paid payment with the B2B token; safe to call again after a lost answer."""
        payment = self.ledger.payment(reference)
        value = parse_amount(amount)
        if payment.status not in ("PAID", "PARTIALLY_REFUNDED"):
            raise ValidationError(f"{reference} is {payment.status} in the ledger; only a PAID payment is refunded.")
        refundable = payment.amount - self.ledger.refunded_total(reference)
        if value > refundable:
            raise ValidationError(
                f"IDR {value:.2f} is more than the IDR {refundable:.2f} left to refund on {reference}.")
        refund_no = refund_no or self.ledger.new_reference("RF")
        body = self.client.refund_body(reference, refund_no, value, reason)
        self.ledger.add_refund(refund_no, reference, value, body)
        result = self._send_refund(refund_no, body)
        self._record_refunded(refund_no, reference, result)
        return result

    def _record_refunded(self, refund_no: str, reference: str, result: Refund) -> None:
        payment = self.ledger.payment(reference)
        self.ledger.update_refund(refund_no, "REFUNDED", refund_no=result.refund_no, response_code=result.response_code)
        total = self.ledger.refunded_total(reference)
        self.ledger.update_payment(reference, "REFUNDED" if total == payment.amount else "PARTIALLY_REFUNDED",
                                   note=f"refunded IDR {total:.2f}")

    def _send_refund(self, refund_no: str, body: dict[str, Any]) -> Refund:
        """Send a refund; on a lost answer send it again, identical: OVO replays a refund it made.

        A B2B token OVO no longer knows (``401xx01``: expired on OVO's clock, or revoked) is
        dropped from the vault and the refund sent once more with a fresh one.
        """
        renewed = False
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                return self.client.debit_refund(self.b2b_token(), body,
                                                scenario="refund" if attempt == 1 else "refund (retry)")
            except OvoApiError as exc:
                if (exc.http_status, exc.response_code[5:]) == (401, "01") and not renewed:  # Invalid Token (B2B)
                    self.vault.discard(PARTNER, "b2b", f"refused by OVO ({exc.response_code})")
                    renewed = True
                    continue
                if not isinstance(exc, ServerError):
                    self.ledger.update_refund(refund_no, "FAILED", response_code=exc.response_code,
                                              note=exc.response_message)
                    raise
                problem: Exception = exc
            except OvoConnectionError as exc:
                problem = exc
            self.ledger.update_refund(refund_no, "UNKNOWN", note=str(problem))
            if attempt < RETRY_ATTEMPTS:
                self._sleep(RETRY_BACKOFF_SECONDS * attempt)
        raise OvoConnectionError(f"Refund {refund_no}: no answer after {RETRY_ATTEMPTS} attempts; marked UNKNOWN. "
                                 "resolve_unknown() sends it again, safely.")
