"""Linking a customer's OVO account (lookup, binding, the 2FA webview, tokens) and unlinking it."""

from __future__ import annotations

from ..calllog import mask_msisdn
from ..errors import CustomerMustRegister, WebviewError
from ..models import Lookup
from ..snap import LINKAGE_TOKEN_LIFETIME, normalize_phone, stage_otp
from ..testbed import SANDBOX_TEST_PIN
from ..webview import parse_callback
from ._session import Session
from ._types import PendingBinding, PendingUnbinding
from .tokens import TokenService

__all__ = ["BindingService"]


class BindingService:
    """Binding and unbinding, each as start (webview URL) + finish (callback URL), or headless end to end."""

    def __init__(self, session: Session, tokens: TokenService) -> None:
        self.session, self.tokens = session, tokens

    def lookup(self, phone: str) -> Lookup:
        """Lookup before linkage, as OVO requires; CAN_REGISTER raises :class:`CustomerMustRegister`."""
        result = self.session.client.lookup(phone, scenario="lookup")
        if result.can_register:
            raise CustomerMustRegister(
                f"{mask_msisdn(result.phone)} has no OVO account yet (CAN_REGISTER): ask the customer to register "
                "in the OVO app, then try again."
            )
        return result

    def start_binding(self, phone: str, *, state: str | None = None, lookup: bool = True) -> PendingBinding:
        """Lookup (skip with ``lookup=False`` when just done) + binding; returns the webview URL."""
        s = self.session
        customer = normalize_phone(phone)
        if lookup:
            self.lookup(customer)
        reference = s.ledger.new_reference("BIND")
        binding = s.client.account_binding(customer, reference, scenario="account binding")
        s.vault.put(customer, "linkage", binding.linkage_token, expires_at=s.now() + LINKAGE_TOKEN_LIFETIME)
        s.vault.set_customer(customer, "BINDING")
        state = state or reference
        url = binding.webview_url(binding.linkage_token, s.destination, state=state, registered=s.registered())
        return PendingBinding(customer, url, state)

    def finish_binding(self, pending: PendingBinding, callback_url: str) -> str:
        """The callback URL the webview returned -> access and refresh tokens in the vault; returns the ILP."""
        s = self.session
        callback = parse_callback(callback_url)
        if callback.state and callback.state != pending.state:
            raise WebviewError(f"This callback is for {callback.state!r}, not this binding ({pending.state!r}).")
        linkage = s.vault.get(pending.phone, "linkage")
        if linkage is None:
            raise WebviewError(self._linkage_gone(pending.phone, "linkage", "binding"))
        tokens = s.client.b2b2c_token(linkage, callback.auth_code, scenario="access token (binding)")
        s.vault.discard(pending.phone, "linkage", "exchanged")
        self.tokens.store(pending.phone, tokens.access_token, tokens.refresh_token, tokens.access_expires_at,
                          tokens.ilp)
        return tokens.ilp

    def _linkage_gone(self, phone: str, kind: str, flow: str) -> str:
        """Why there is no linkage token to finish ``flow`` with: used, expired, revoked, or never started here."""
        held = [t for t in self.session.vault.status(phone) if t.kind == kind]
        if not held:
            return (f"No {flow} of {mask_msisdn(phone)} was started in this vault: start it first (or is this callback "
                    "for another customer?).")
        if held[-1].revoked in ("exchanged", "unbound by the partner"):
            return (f"This {flow} was already finished: its linkage token was exchanged (a callback URL works once)."
                    + (" The customer is bound." if flow == "binding" and self.tokens.is_bound(phone) else ""))
        if held[-1].revoked:
            return f"The {flow}'s linkage token was revoked ({held[-1].revoked}): start the {flow} again."
        return f"The {flow}'s linkage token expired (5 minutes): start the {flow} again."

    def resume_binding(self, phone: str, callback_url: str) -> str:
        """Finish a binding started earlier (another run): the callback URL is all it needs."""
        state = parse_callback(callback_url).state or ""
        return self.finish_binding(PendingBinding(normalize_phone(phone), "", state), callback_url)

    def bind(self, phone: str, *, otp: str | None = None, pin: str = SANDBOX_TEST_PIN) -> str:
        """Bind end to end with a headless webview (sandbox): the OTP, then the Security PIN; returns the ILP."""
        pending = self.start_binding(phone)
        callback = self.session.headless(pending.webview_url, otp or stage_otp(pending.phone), pin)
        return self.finish_binding(pending, callback)

    def start_unbinding(self, phone: str, *, state: str | None = None) -> PendingUnbinding:
        """The 1st unbinding call (access token); returns the confirmation webview URL."""
        s = self.session
        customer = normalize_phone(phone)
        reference = s.ledger.new_reference("UNBIND")
        first = s.client.account_unbinding(self.tokens.access_token(customer), reference,
                                           scenario="account unbinding 1")
        if first.unlinked or not first.linkage_token:
            s.vault.revoke(customer, "unbound by the partner")
            return PendingUnbinding(customer, "", reference)
        s.vault.put(customer, "unbind_linkage", first.linkage_token, expires_at=s.now() + LINKAGE_TOKEN_LIFETIME)
        url = first.webview_url(first.linkage_token, s.destination, state=state or reference,
                                registered=s.registered())
        return PendingUnbinding(customer, url, reference)

    def finish_unbinding(self, pending: PendingUnbinding, callback_url: str) -> None:
        """The 2nd unbinding call with the webview's authCode; the customer's tokens are revoked."""
        s = self.session
        callback = parse_callback(callback_url)
        linkage = s.vault.get(pending.phone, "unbind_linkage")
        if linkage is None:
            raise WebviewError(self._linkage_gone(pending.phone, "unbind_linkage", "unbinding"))
        result = s.client.account_unbinding(linkage, pending.state, callback.auth_code,
                                            scenario="account unbinding 2")
        if not result.unlinked:
            raise WebviewError(f"OVO did not confirm the unbinding ({result.response_code}).")
        s.vault.revoke(pending.phone, "unbound by the partner")

    def resume_unbinding(self, phone: str, callback_url: str) -> None:
        """Finish an unbinding started earlier: the callback's state is the unbinding reference."""
        state = parse_callback(callback_url).state or ""
        self.finish_unbinding(PendingUnbinding(normalize_phone(phone), "", state), callback_url)

    def unbind(self, phone: str, *, otp: str | None = None) -> None:
        """Unbind end to end with a headless webview (sandbox). Refunds keep working afterwards."""
        pending = self.start_unbinding(phone)
        if pending.webview_url:
            self.finish_unbinding(pending, self.session.headless(pending.webview_url, otp or stage_otp(pending.phone)))
