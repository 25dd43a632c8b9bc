"""The business flows: bind, balance, two-step debit, status, refund, unbind, recurring.

:class:`Ovo` ties the client, the token vault, the partner ledger and the webview together,
so a whole integration reads as a few lines::

    ovo = Ovo.open()                        # the embedded sandbox by default
    ovo.bind("081234567890")                # lookup, binding, OTP + PIN webview, tokens -> vault
    payment = ovo.pay("081234567890", "15000")
    ovo.refund(payment.partner_reference_no, "5000")
    ovo.unbind("081234567890")

Against stage or production the webview steps need the customer: use ``start_*`` to get the
URL and ``finish_*`` with the callback URL the browser landed on.

Behind :class:`Ovo`, one service per resource shares one :class:`~ovo_nb.flows._session.Session`
and one retry helper driven by each error's ``should_retry``:

    tokens    TokenService    the B2B token and each customer's access token, renewed when OVO says so
    binding   BindingService  lookup, binding and unbinding around their webviews
    payments  PaymentService  balance, the two debit calls, recurring debits, status, recovery
    refunds   RefundService   refunds, resent identically after a lost answer
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx

from ..calllog import CallLog
from ..client import OvoClient
from ..config import Profile
from ..environments import Environment, SandboxAdmin, open_environment
from ..ledger import PartnerLedger
from ..models import Balance, Lookup, PaymentStatus, Refund
from ..snap import Clock, SystemClock
from ..testbed import SANDBOX_TEST_PIN
from ..tokens import TokenVault
from ..webview import WebviewCompleter
from ._session import Session
from ._types import PaymentOutcome, PendingBinding, PendingPayment, PendingUnbinding
from .binding import BindingService
from .payments import PaymentService
from .refunds import RefundService
from .tokens import TokenService

__all__ = ["Ovo", "PaymentOutcome", "PendingBinding", "PendingPayment", "PendingUnbinding"]


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
        profile = client.profile
        self.session = Session(client, vault, ledger,
                               destination or (profile.callback_urls[0] if profile.callback_urls else ""),
                               webview_completer, sleep)
        self.tokens = TokenService(self.session)
        self.binding = BindingService(self.session, self.tokens)
        self.payments = PaymentService(self.session, self.tokens)
        self.refunds = RefundService(self.session, self.tokens)
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
        """Everything wired for ``profile`` (default ``sandbox``), state where the profile keeps it (its state
        folder, or the team's database of its ``state_url``).

        :func:`ovo_nb.environments.open_environment` decides where calls go: the sandbox in
        this process (or at ``$OVO_NB_SANDBOX_URL``), which also completes webview steps
        headlessly, or OVO. ``sandbox_state`` picks the in-process sandbox's SQLite file (default
        ``~/.ovo-nb/sandbox/state.sqlite``, ``":memory:"`` for a throw-away one).
        """
        env = open_environment(profile, sandbox_state=sandbox_state, clock=clock, transport=transport)
        try:
            clock = clock or SystemClock()
            profile = env.profile
            log = call_log or CallLog.open(profile.state_location("calls"))
            if call_log is None:  # a log the caller gave stays the caller's to close
                env._closers.append(log.close)
            client = OvoClient(env.profile, transport=env.transport, clock=clock, call_log=log)
            env._closers.append(client.close)
            vault = TokenVault(profile.state_location("vault"), clock=clock)
            env._closers.append(vault.close)
            ledger = PartnerLedger(profile.state_location("ledger"), clock=clock)
            env._closers.append(ledger.close)
        except BaseException:
            env.close()
            raise
        return cls(client, vault=vault, ledger=ledger, webview_completer=env.completer, sleep=sleep, environment=env)

    # ----------------------------------------------------------------- what the session holds

    @property
    def client(self) -> OvoClient:
        return self.session.client

    @property
    def vault(self) -> TokenVault:
        return self.session.vault

    @property
    def ledger(self) -> PartnerLedger:
        return self.session.ledger

    @property
    def profile(self) -> Profile:
        return self.session.profile

    @property
    def destination(self) -> str:
        """The registered callback URL the webview returns to."""
        return self.session.destination

    @destination.setter
    def destination(self, url: str) -> None:
        self.session.destination = url

    @property
    def complete_webview(self) -> WebviewCompleter | None:
        """Types the customer's codes in the sandbox webview; ``None`` where a person must."""
        return self.session.complete_webview

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

    # ----------------------------------------------------------------- tokens

    def b2b_token(self) -> str:
        """The partner's B2B token from the vault, renewed before its 15 minutes run out."""
        return self.tokens.b2b_token()

    def access_token(self, phone: str) -> str:
        """A valid access token for ``phone``; an expired one is refreshed (and the refresh logged)."""
        return self.tokens.access_token(phone)

    def is_bound(self, phone: str) -> bool:
        """Whether the vault holds a usable refresh token for ``phone``."""
        return self.tokens.is_bound(phone)

    def revoke(self, phone: str, reason: str = "phone number changed") -> None:
        """Forget a customer's tokens locally (OVO breaks them when the phone number changes)."""
        self.tokens.revoke(phone, reason)

    # ----------------------------------------------------------------- binding and unbinding

    def lookup(self, phone: str) -> Lookup:
        """Lookup before linkage, as OVO requires; CAN_REGISTER raises :class:`CustomerMustRegister`."""
        return self.binding.lookup(phone)

    def start_binding(self, phone: str, *, state: str | None = None, lookup: bool = True) -> PendingBinding:
        """Lookup (skip with ``lookup=False`` when just done) + binding; returns the webview URL."""
        return self.binding.start_binding(phone, state=state, lookup=lookup)

    def finish_binding(self, pending: PendingBinding, callback_url: str) -> str:
        """The callback URL the webview returned -> tokens in the vault; returns the ILP."""
        return self.binding.finish_binding(pending, callback_url)

    def resume_binding(self, phone: str, callback_url: str) -> str:
        """Finish a binding started earlier (another run): the callback URL is all it needs."""
        return self.binding.resume_binding(phone, callback_url)

    def bind(self, phone: str, *, otp: str | None = None, pin: str = SANDBOX_TEST_PIN) -> str:
        """Bind end to end with a headless webview (sandbox): the OTP, then the Security PIN; returns the ILP."""
        return self.binding.bind(phone, otp=otp, pin=pin)

    def start_unbinding(self, phone: str, *, state: str | None = None) -> PendingUnbinding:
        """The 1st unbinding call; returns the confirmation webview URL."""
        return self.binding.start_unbinding(phone, state=state)

    def finish_unbinding(self, pending: PendingUnbinding, callback_url: str) -> None:
        """The 2nd unbinding call with the webview's authCode; the customer's tokens are revoked."""
        self.binding.finish_unbinding(pending, callback_url)

    def resume_unbinding(self, phone: str, callback_url: str) -> None:
        """Finish an unbinding started earlier: the callback's state is the unbinding reference."""
        self.binding.resume_unbinding(phone, callback_url)

    def unbind(self, phone: str, *, otp: str | None = None) -> None:
        """Unbind end to end with a headless webview (sandbox). Refunds keep working afterwards."""
        self.binding.unbind(phone, otp=otp)

    # ----------------------------------------------------------------- balance and debit

    def balance(self, phone: str) -> Balance:
        return self.payments.balance(phone)

    def start_payment(self, phone: str, amount: Decimal | int | str, *, reference: str | None = None,
                      pay_method: str | None = None) -> PendingPayment:
        """Balance check (OVO's rule), ledger row, 1st debit call; returns the PIN webview URL."""
        return self.payments.start_payment(phone, amount, reference=reference, pay_method=pay_method)

    def finish_payment(self, pending: PendingPayment, callback_url: str) -> PaymentOutcome:
        """PIN callback -> single-use token -> 2nd call with the identical body; recovers lost answers."""
        return self.payments.finish_payment(pending, callback_url)

    def resume_payment(self, callback_url: str) -> PaymentOutcome:
        """Finish a payment started earlier: the callback's state is its partnerReferenceNo."""
        return self.payments.resume_payment(callback_url)

    def pay(self, phone: str, amount: Decimal | int | str, *, pin: str = SANDBOX_TEST_PIN,
            reference: str | None = None, pay_method: str | None = None) -> PaymentOutcome:
        """The two-step debit end to end with a headless PIN webview (sandbox)."""
        return self.payments.pay(phone, amount, pin=pin, reference=reference, pay_method=pay_method)

    def pay_recurring(self, phone: str, amount: Decimal | int | str, *,
                      reference: str | None = None) -> PaymentOutcome:
        """A recurring (``subTransactionType: AUTO``) debit: one PIN-less call; needs OVO's approval."""
        return self.payments.pay_recurring(phone, amount, reference=reference)

    def status(self, reference: str) -> PaymentStatus:
        """OVO's view of a payment, asked with the customer's access token (see PaymentService.status)."""
        return self.payments.status(reference)

    # ----------------------------------------------------------------- refunds and recovery

    def refund(self, reference: str, amount: Decimal | int | str, *, reason: str = "",
               refund_no: str | None = None) -> Refund:
        """Refund (part of) a paid payment with the B2B token; safe to call again after a lost answer."""
        return self.refunds.refund(reference, amount, reason=reason, refund_no=refund_no)

    def resolve_unknown(self) -> list[str]:
        """Settle what an outage left open: status for payments, identical resends for refunds.

        Payments of customers who have unbound are listed as ``UNKNOWN_NEEDS_RECONCILIATION``:
        only OVO's settlement report can tell (:func:`ovo_nb.reconciliation.settle_from_settlement`).
        """
        return self.payments.resolve_unknown() + self.refunds.resolve_unknown()
