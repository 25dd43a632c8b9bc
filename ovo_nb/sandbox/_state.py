"""The state every handler works on: the store, the business clock and the token key.

:class:`State` owns the operations several API families share (tokens, customers,
balances, payments' lifecycle, webview sessions); each handler module takes one and
never reaches past it into another handler.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import sqlite3
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..snap import JAKARTA, TRANSACTION_STATUSES, WEBVIEW_LIFETIME, format_amount
from ._types import SandboxClock, SnapError, TokenInfo
from .store import Store

Row = sqlite3.Row
PENDING = ("01", "02")
"""Payment statuses still waiting for the customer: initiated, paying."""


def now_text(moment: datetime) -> str:
    """How the store writes a moment: Jakarta time with milliseconds."""
    return moment.astimezone(JAKARTA).isoformat(timespec="milliseconds")


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


REVOKED_ADVICE = {
    "superseded by a newer binding": (
        "a newer binding of this phone with your client id replaced this one (OVO allows one binding per phone and "
        "partner). Use the tokens of the newer binding; to start over, unbind it, or have the customer unlink you "
        "in the OVO app (sandbox: `ovo-nb trigger unlink-in-app PHONE`), then bind again"),
}
"""What to do about a token revoked for a reason the partner cannot see from its own records."""


class State:
    """The sandbox's memory and clock, and the operations shared by every API family."""

    def __init__(self, store: Store | None = None, clock: SandboxClock | None = None) -> None:
        self.store = store or Store()
        self.clock = clock or SandboxClock()
        offset = self.store.meta("clock_offset_seconds")
        if offset is not None:  # an advanced clock stays advanced across restarts
            self.clock = SandboxClock(self.clock.base, timedelta(seconds=float(offset)))
        key = self.store.meta("token_key")
        if key is None:
            key = secrets.token_hex(32)
            with self.store.transaction():
                self.store.set_meta("token_key", key)
        self._token_key = bytes.fromhex(key)

    def now(self) -> datetime:
        return self.clock.now()

    def partner(self, client_id: str) -> Row | None:
        return self.store.one("SELECT * FROM partners WHERE client_id = ?", client_id)

    # ----------------------------------------------------------------- tokens

    def issue_token(
        self, kind: str, client_id: str, lifetime: timedelta | None, *, phone: str | None = None,
        binding_id: int | None = None, payment_id: int | None = None,
    ) -> tuple[str, datetime | None]:
        """A JWT-shaped token as OVO's samples show (HS256, codehash/random/version, no exp claim)."""
        header = b64url(b'{"alg":"HS256","typ":"JWT"}')
        payload = b64url(json.dumps({"codehash": b64url(secrets.token_hex(16).encode()),
                                     "random": b64url(str(secrets.randbelow(10**7)).encode()),
                                     "version": 1}, separators=(",", ":")).encode())
        mac = hmac.new(self._token_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        token = f"{header}.{payload}.{b64url(mac)}"
        now = self.now()
        expires = now + lifetime if lifetime else None
        self.store.run(
            "INSERT INTO tokens (token, kind, client_id, phone, binding_id, payment_id, issued_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            token, kind, client_id, phone, binding_id, payment_id, now_text(now),
            now_text(expires) if expires else None,
        )
        self.store.record(now_text(now), "token", token[-12:], "issued", kind=kind, phone=phone, binding=binding_id)
        return token, expires

    def token_problem(self, row: Row | None, client_id: str, kinds: tuple[str, ...]) -> str | None:
        """Why the token in ``row`` cannot be used here, or ``None`` when it can."""
        if row is None:
            return "unknown token"
        if row["client_id"] != client_id:
            return "token issued to another partner"
        if row["kind"] not in kinds:
            return f"a {row['kind']} token where {' or '.join(kinds)} is needed"
        if row["revoked_at"]:
            advice = REVOKED_ADVICE.get(row["revoked_reason"], "")
            return f"token revoked ({row['revoked_reason']})" + (f": {advice}" if advice else "")
        if row["expires_at"] and self.now() >= datetime.fromisoformat(row["expires_at"]):
            return "token expired"
        return None

    def check_token(self, token: str | None, client_id: str, kinds: Iterable[str], *, b2b: bool) -> TokenInfo:
        """Validate a bearer token; 401xx03/04 when missing, 401xx01/02 when invalid."""
        missing, invalid = ("03", "01") if b2b else ("04", "02")
        if not token:
            raise SnapError(401, missing)
        row = self.store.one("SELECT * FROM tokens WHERE token = ?", token)
        problem = self.token_problem(row, client_id, tuple(kinds))
        if problem or row is None:
            raise SnapError(401, invalid, extra={"_sandbox": {"hint": problem}})
        return TokenInfo(token, row["kind"], row["phone"], row["binding_id"], row["payment_id"], row["used_at"])

    def revoke(self, where: str, args: tuple[Any, ...], reason: str) -> None:
        self.store.run(f"UPDATE tokens SET revoked_at = ?, revoked_reason = ? WHERE revoked_at IS NULL AND {where}",
                       now_text(self.now()), reason, *args)

    # ----------------------------------------------------------------- customers and bindings

    def customer(self, phone: str | None) -> Row:
        """The registered OVO account of ``phone``, or 404xx11."""
        row = self.store.one("SELECT * FROM customers WHERE phone = ?", phone)
        if row is None or not row["registered"]:
            raise SnapError(404, "11", reason="")
        return row

    def customer_row(self, phone: str) -> Row:
        row = self.store.one("SELECT * FROM customers WHERE phone = ?", phone)
        assert row is not None
        return row

    def active_binding(self, client_id: str, phone: str) -> Row | None:
        return self.store.one("SELECT * FROM bindings WHERE client_id = ? AND phone = ? AND status = 'ACTIVE'",
                              client_id, phone)

    def unbind(self, client_id: str, phone: str, reason: str) -> None:
        """End every binding of ``phone`` with this partner, as OVO does on unbinding.

        Every customer token issued for the phone is revoked (access, refresh, linkage,
        single-use), unused webview authCodes die, open webview pages close and payments still
        waiting for the PIN are canceled: nothing started before the unbinding can move money.
        """
        now = now_text(self.now())
        bindings = self.store.all("SELECT id FROM bindings WHERE client_id = ? AND phone = ? AND status != 'UNBOUND'",
                                  client_id, phone)
        self.store.run("UPDATE bindings SET status = 'UNBOUND', unbound_at = ? WHERE client_id = ? AND phone = ?"
                       " AND status != 'UNBOUND'", now, client_id, phone)
        self.revoke("client_id = ? AND phone = ?", (client_id, phone), reason)
        self.store.run("UPDATE auth_codes SET used_at = ? WHERE client_id = ? AND phone = ? AND used_at IS NULL",
                       now, client_id, phone)
        self.store.run("UPDATE webview_sessions SET status = 'CLOSED' WHERE client_id = ? AND phone = ?"
                       " AND status = 'PENDING'", client_id, phone)
        self.store.run("UPDATE payments SET status = '05', status_desc = 'Canceled: customer unbound'"
                       " WHERE client_id = ? AND phone = ? AND status IN ('01', '02')", client_id, phone)
        for binding in bindings:
            self.store.record(now, "binding", str(binding["id"]), "unbound", reason=reason)

    def unbind_everywhere(self, phone: str, reason: str) -> None:
        """Unbind ``phone`` from every partner (account closed, phone number changed, unlinked in the app)."""
        for row in self.store.all("SELECT DISTINCT client_id FROM bindings WHERE phone = ? AND status != 'UNBOUND'",
                                  phone):
            self.unbind(row["client_id"], phone, reason)

    def move(self, customer: Row, pay_method: str, delta: Decimal, entry: str, client_id: str | None,
             now: datetime, *, payment_id: int | None = None, refund_id: int | None = None, note: str = "") -> Decimal:
        """Change a balance and write the ledger line; returns the new balance."""
        column = "points" if pay_method == "POINTS" else "cash"
        balance = Decimal(customer[column]) + delta
        self.store.run(f"UPDATE customers SET {column} = ? WHERE phone = ?", format_amount(balance), customer["phone"])
        self.store.run(
            "INSERT INTO ledger (at, client_id, phone, entry, balance_type, amount, balance_after, payment_id,"
            " refund_id, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            now_text(now), client_id, customer["phone"], entry, pay_method, format_amount(abs(delta)),
            format_amount(balance), payment_id, refund_id, note,
        )
        return balance

    # ----------------------------------------------------------------- payments

    def current_status(self, payment: Row, now: datetime) -> str:
        """The payment status, expiring a pending payment whose webview time ran out."""
        status = str(payment["status"])
        if status in PENDING and now >= datetime.fromisoformat(payment["expires_at"]):
            self.set_payment_status(payment, "05", "Canceled: expired")
            self.store.record(now_text(now), "payment", payment["partner_reference_no"], "expired")
            return "05"
        return status

    def set_payment_status(self, payment: Row, status: str, description: str | None = None) -> None:
        self.store.run("UPDATE payments SET status = ?, status_desc = ? WHERE id = ?", status,
                       description or TRANSACTION_STATUSES[status], payment["id"])

    # ----------------------------------------------------------------- webview sessions

    def open_session(self, kind: str, client_id: str, phone: str, token: str, *, binding_id: int | None = None,
                     payment_id: int | None = None) -> str:
        """A webview session the customer opens with ``refId``; returns the refId."""
        ref_id = str(uuid.uuid4())
        now = self.now()
        self.store.run(
            "INSERT INTO webview_sessions (ref_id, kind, client_id, phone, token, binding_id, payment_id, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ref_id, kind, client_id, phone, token, binding_id, payment_id, now_text(now),
            now_text(now + WEBVIEW_LIFETIME))
        return ref_id
