"""The sandbox: a faithful local OVO behind one ``handle(request)`` method.

Every way in (the in-process httpx transport, the loopback HTTP server) hands a
:class:`SandboxRequest` to :meth:`Sandbox.handle` and gets a :class:`SandboxResponse` back.
A request to an OVO API goes through the gateway (:mod:`.gateway`, SNAP_SPEC's order) and
then to its handler (:data:`.handlers.HANDLERS`); the webview and the admin API have their
own modules. Nothing from the client is trusted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..snap import REFUND_WINDOW_DAYS, Endpoint, format_timestamp, match_endpoint
from ..testbed import SANDBOX_TEST_PIN
from . import ops, webview
from ._state import State
from ._types import MAX_BODY_BYTES, SandboxClock, SandboxRequest, SandboxResponse, SnapError, WebviewOutcome
from .admin import ADMIN_PREFIX, handle_admin
from .gateway import IN_STATE_STEPS, PRE_STATE_STEPS, Call
from .handlers import HANDLERS
from .handlers.account import WEBVIEW_PATH
from .store import Store

__all__ = ["REASONS", "WEBVIEW_PATH", "Sandbox", "refusal"]

REASONS = {400: "Bad Request", 405: "Requested Function Is Not Supported", 408: "Request Timeout",
           411: "Length Required", 413: "Request Entity Too Large", 431: "Request Header Fields Too Large",
           503: "Service Unavailable"}
"""HTTP-level refusals, before any API is known."""


def refusal(status: int, hint: str) -> SandboxResponse:
    """An HTTP-level refusal in SNAP's shape: ``responseCode`` = HTTP status + service 00 + case 00."""
    body = {"responseCode": f"{status}0000", "responseMessage": REASONS[status], "_sandbox": {"hint": hint}}
    return SandboxResponse(status, json.dumps(body, separators=(",", ":")).encode(),
                           {"Content-Type": "application/json"})


class Sandbox:
    """A local OVO: partners, customers, tokens, payments and every SNAP rule."""

    def __init__(self, store: Store | None = None, clock: SandboxClock | None = None, *,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.state = State(store, clock)
        self.max_body_bytes = max_body_bytes

    @property
    def store(self) -> Store:
        return self.state.store

    @property
    def clock(self) -> SandboxClock:
        return self.state.clock

    # ================================================================= entry point

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request; never raises, never answers with a traceback."""
        if len(request.body) > self.max_body_bytes:
            return refusal(413, f"The body is {len(request.body)} bytes; the limit is {self.max_body_bytes}.")
        try:
            if request.path == ADMIN_PREFIX or request.path.startswith(ADMIN_PREFIX + "/"):
                return handle_admin(self, request)
            if request.path == WEBVIEW_PATH:
                return webview.serve(self.state, request)
            if request.path == "/favicon.ico":  # browsers ask for it on every page
                return SandboxResponse(204, b"")
            api = match_endpoint(request.path)
            if api is None:
                return self._json(404, {"responseCode": "4040002", "responseMessage": "Invalid Routing",
                                        "_sandbox": {"hint": f"No OVO API at {request.path}."}})
            if request.method != api.method:
                return self._json(405, {"responseCode": "4050000",
                                        "responseMessage": "Requested Function Is Not Supported",
                                        "_sandbox": {"hint": f"{api.name} takes {api.method}."}})
            return self._api(request, api)
        except Exception as exc:  # a sandbox bug must still answer like OVO would
            return self._json(500, {"responseCode": "5000001", "responseMessage": "Internal Server Error",
                                    "_sandbox": {"bug": f"{type(exc).__name__}: {exc}"}})

    def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> SandboxResponse:
        return SandboxResponse(
            status,
            json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
            {"Content-Type": "application/json", "X-TIMESTAMP": format_timestamp(self.clock.now()),
             **(headers or {})},
        )

    def _api(self, request: SandboxRequest, api: Endpoint) -> SandboxResponse:
        call = Call(request, api)
        fault = ops.take_fault(self.state, api.name)
        if fault and fault[0] in ("timeout_before", "drop_before"):
            return SandboxResponse(504, b"", fault=fault[0], fault_delay=fault[1])
        if fault and fault[0] == "error_500":
            return self._json(500, {"responseCode": f"500{call.service}00", "responseMessage": "General Error"})
        try:
            for step in PRE_STATE_STEPS:
                step(self.state, call)
            with self.store.transaction():
                for step in IN_STATE_STEPS:
                    step(self.state, call)
                status, payload = HANDLERS[api.name](self.state, call)
            response = self._json(status, self._flagged(payload, call), call.headers)
        except SnapError as error:
            payload = self._flagged(error.body(self._error_service(call, error)), call)
            response = self._json(error.http_status, payload, call.headers)
            if call.external is not None:  # the refused call still used its X-EXTERNAL-ID
                with self.store.transaction():
                    self.store.run("INSERT OR IGNORE INTO external_ids VALUES (?, ?, ?)", *call.external)
        if response.status >= 500 and call.external is not None:  # a retry may reuse the X-EXTERNAL-ID
            self.store.run("DELETE FROM external_ids WHERE client_id = ? AND day = ? AND external_id = ?",
                           *call.external)
        if fault:
            response.fault, response.fault_delay = fault
        return response

    @staticmethod
    def _flagged(payload: dict[str, Any], call: Call) -> dict[str, Any]:
        """The answer, with what was accepted only out of tolerance in ``_sandbox.warnings``."""
        if call.warnings:
            payload = {**payload, "_sandbox": {**payload.get("_sandbox", {}), "warnings": call.warnings}}
        return payload

    @staticmethod
    def _error_service(call: Call, error: SnapError) -> str:
        if call.dialect == "ovo" and call.api.name == "account_unbinding" and (error.http_status, error.case) == (
                401, "00"):
            return "07"  # OVO's gateway answers account-endpoint auth failures with 07 (FAQ)
        return call.service

    # ================================================================= the webview, headless

    def webview_submit(self, url: str, *codes: str) -> WebviewOutcome:
        """Enter codes in the webview at ``url`` as a customer would: the OTP, then (binding) the PIN."""
        return webview.submit(self.state, url, *codes)

    # ================================================================= operator's controls

    def add_fault(self, api: str, kind: str, *, count: int = 1, delay_seconds: float = 0.0) -> None:
        """Make the next ``count`` calls to ``api`` (or ``"*"``) misbehave as ``kind``."""
        ops.add_fault(self.state, api, kind, count=count, delay_seconds=delay_seconds)

    def clear_faults(self) -> None:
        ops.clear_faults(self.state)

    def advance_clock(self, seconds: float) -> datetime:
        """Move business time forward (tokens expire, windows close, blocks lift); persists across restarts."""
        return ops.advance_clock(self.state, seconds)

    def register_partner(
        self, public_key_pem: str, *, client_id: str | None = None, client_secret: str | None = None,
        name: str = "", merchant_id: str | None = None, callback_urls: Iterable[str] = (),
        error_urls: Iterable[str] = (), ip_whitelist: Iterable[str] = (), production: bool = False,
        daily_refund_limit: str | None = None, refund_window_days: int = REFUND_WINDOW_DAYS,
        recurring_allowed: bool = True, lenient: bool = False, channel_id: str = "95221",
    ) -> tuple[str, str]:
        """Onboard a partner the way OVO does; returns (client id, client secret)."""
        return ops.register_partner(
            self.state, public_key_pem, client_id=client_id, client_secret=client_secret, name=name,
            merchant_id=merchant_id, callback_urls=callback_urls, error_urls=error_urls, ip_whitelist=ip_whitelist,
            production=production, daily_refund_limit=daily_refund_limit, refund_window_days=refund_window_days,
            recurring_allowed=recurring_allowed, lenient=lenient, channel_id=channel_id)

    def add_customer(self, phone: str, *, name: str = "", cash: str = "0", points: str = "0",
                     pin: str = SANDBOX_TEST_PIN, status: str = "ACTIVE", registered: bool = True,
                     pin_locked: bool = False, replace: bool = False) -> str:
        """Create an OVO account (an existing one only with ``replace``, see ``ops.add_customer``); its phone."""
        return ops.add_customer(self.state, phone, name=name, cash=cash, points=points, pin=pin, status=status,
                                registered=registered, pin_locked=pin_locked, replace=replace)

    def update_customer(self, phone: str, **changes: Any) -> dict[str, Any]:
        """Set balances or status, lock the PIN, or change the phone number (which breaks every token)."""
        return ops.update_customer(self.state, phone, **changes)

    def unlink_in_app(self, phone: str, client_id: str | None = None) -> list[str]:
        """The customer unlinks a partner (or all) in the OVO app: its tokens stop working."""
        return ops.unlink_in_app(self.state, phone, client_id)

    def customer_view(self, phone: str) -> dict[str, Any]:
        return ops.customer_view(self.state, phone)

    def customer_ledger(self, phone: str) -> list[dict[str, Any]]:
        """Every movement of the customer's balances at OVO, oldest first."""
        return ops.customer_ledger(self.state, phone)

    def set_partner(self, client_id: str, **settings: Any) -> dict[str, Any]:
        """Change a partner's ``daily_refund_limit``, ``refund_window_days``, ``recurring_allowed``, ``lenient``."""
        ops.set_partner(self.state, client_id, **settings)
        view = self.partner_view(client_id)
        assert view is not None
        return view

    def partner_view(self, client_id: str) -> dict[str, Any] | None:
        """A partner's settings, never its secret; ``None`` when unknown."""
        row = self.state.partner(client_id)
        if row is None:
            return None
        view = {k: row[k] for k in row.keys() if k != "client_secret"}  # noqa: SIM118 (sqlite3.Row)
        for key in ("callback_urls", "error_urls", "ip_whitelist"):
            view[key] = json.loads(view[key])
        return view

    def tamper_payment(self, partner_reference_no: str, *, amount: str | None = None,
                       status: str | None = None) -> None:
        """A deliberate discrepancy for reconciliation drills: change OVO's record of a payment."""
        ops.tamper_payment(self.state, partner_reference_no, amount=amount, status=status)

    def settlement_csv(self) -> str:
        """OVO's side for reconciliation: one line per payment and per refund."""
        return ops.settlement_csv(self.state)
