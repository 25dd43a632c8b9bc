"""What the sandbox's operator can do that OVO's partners cannot: onboard partners, seed and
change customers, move the clock, inject faults, plant discrepancies, export settlement.

Each function takes the :class:`State`; the :class:`~ovo_nb.sandbox.core.Sandbox` exposes them
as methods, and the admin HTTP API calls those methods.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..errors import ValidationError
from ..keys import load_public_key, public_key_pem, validate_callback_url
from ..snap import (
    ENDPOINTS,
    REFUND_WINDOW_DAYS,
    SETTLEMENT_COLUMNS,
    TRANSACTION_STATUSES,
    format_amount,
    normalize_phone,
    parse_amount,
)
from ..testbed import SANDBOX_TEST_PIN
from ._state import State, now_text
from ._types import FAULT_KINDS, CustomerExists

CUSTOMER_STATUSES = ("ACTIVE", "CLOSED")


def take_fault(st: State, api: str) -> tuple[str, float] | None:
    """The next fault armed for ``api`` (or every API), consumed."""
    if st.store.one("SELECT 1 FROM faults WHERE remaining > 0 LIMIT 1") is None:
        return None  # the common case, without a write transaction
    with st.store.transaction():
        row = st.store.one("SELECT * FROM faults WHERE api IN (?, '*') AND remaining > 0 ORDER BY id LIMIT 1", api)
        if row is None:
            return None
        st.store.run("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", row["id"])
    return str(row["kind"]), float(row["delay_seconds"])


def add_fault(st: State, api: str, kind: str, *, count: int = 1, delay_seconds: float = 0.0) -> None:
    """Make the next ``count`` calls to ``api`` (or ``"*"``) misbehave as ``kind``."""
    if kind not in FAULT_KINDS:
        raise ValidationError(f"Fault kind {kind!r} is not one of {', '.join(FAULT_KINDS)}.")
    if api != "*" and api not in ENDPOINTS:
        raise ValidationError(f"Unknown API {api!r}; use one of {', '.join(sorted(ENDPOINTS))} or '*'.")
    if count < 1 or delay_seconds < 0:
        raise ValidationError("count must be at least 1 and delay_seconds not negative.")
    with st.store.transaction():
        st.store.run("INSERT INTO faults (api, kind, remaining, delay_seconds) VALUES (?, ?, ?, ?)",
                     api, kind, count, delay_seconds)


def clear_faults(st: State) -> None:
    with st.store.transaction():
        st.store.run("DELETE FROM faults")


def advance_clock(st: State, seconds: float) -> datetime:
    """Move business time forward (tokens expire, windows close, blocks lift); persists across restarts."""
    if seconds <= 0:
        raise ValidationError("Advance the clock by a positive number of seconds.")
    moment = st.clock.advance(timedelta(seconds=seconds))
    with st.store.transaction():
        st.store.set_meta("clock_offset_seconds", str(st.clock.offset.total_seconds()))
    return moment


def register_partner(
    st: State, public_key: str, *, client_id: str | None = None, client_secret: str | None = None,
    name: str = "", merchant_id: str | None = None, callback_urls: Iterable[str] = (),
    error_urls: Iterable[str] = (), ip_whitelist: Iterable[str] = (), production: bool = False,
    daily_refund_limit: str | None = None, refund_window_days: int = REFUND_WINDOW_DAYS,
    recurring_allowed: bool = True, lenient: bool = False, channel_id: str = "95221",
) -> tuple[str, str]:
    """Onboard a partner the way OVO does; returns (client id, client secret).

    A production partner needs an IP whitelist (OVO's production checklist): without one,
    every call would fail "IP not whitelisted", so onboarding refuses it up front. Callback and
    error-redirect URLs are registered as OVO registers them: static https URLs, no query.
    """
    key = load_public_key(public_key.encode())
    callback_urls = [validate_callback_url(url) for url in callback_urls]  # what OVO registers: static https
    error_urls = [validate_callback_url(url) for url in error_urls]
    whitelist = [str(entry).strip() for entry in ip_whitelist]
    if production and not whitelist:
        raise ValidationError("A production partner needs an IP whitelist (OVO's production checklist): give the "
                              "public IPs or CIDRs your calls come from.")
    for entry in whitelist:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValidationError(f"IP whitelist entry {entry!r} is not an IP address or CIDR.") from None
    client_id = client_id or f"oamerchant{secrets.token_hex(3)}"
    client_secret = client_secret or secrets.token_urlsafe(32)
    limit = format_amount(parse_amount(daily_refund_limit)) if daily_refund_limit else None
    with st.store.transaction():
        if st.partner(client_id):
            raise ValidationError(f"A partner {client_id!r} already exists.")
        st.store.run(
            "INSERT INTO partners (client_id, name, client_secret, public_key_pem, merchant_id, channel_id,"
            " callback_urls, error_urls, ip_whitelist, production, daily_refund_limit, refund_window_days,"
            " recurring_allowed, lenient, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            client_id, name, client_secret, public_key_pem(key, "pkcs1"), merchant_id or f"M{client_id[-6:].upper()}",
            channel_id, json.dumps(list(callback_urls)), json.dumps(list(error_urls)),
            json.dumps(whitelist), int(production), limit, refund_window_days, int(recurring_allowed),
            int(lenient), now_text(st.now()))
    return client_id, client_secret


PARTNER_SETTINGS = ("daily_refund_limit", "refund_window_days", "recurring_allowed", "lenient")
"""What the operator may change on an onboarded partner (its keys and URLs are OVO's onboarding)."""


def set_partner(st: State, client_id: str, **settings: Any) -> None:
    """Change a partner's daily refund limit, refund window, recurring approval or leniency."""
    unknown = sorted(set(settings) - set(PARTNER_SETTINGS))
    if unknown:
        raise ValidationError(f"Partner setting {', '.join(unknown)} cannot be changed; these can: "
                              f"{', '.join(PARTNER_SETTINGS)}.")
    values = dict(settings)
    if values.get("daily_refund_limit") is not None:
        values["daily_refund_limit"] = format_amount(parse_amount(values["daily_refund_limit"]))
    with st.store.transaction():
        if st.partner(client_id) is None:
            raise ValidationError(f"No partner {client_id!r}.")
        for column, value in values.items():
            st.store.run(f"UPDATE partners SET {column} = ? WHERE client_id = ?",
                         int(value) if isinstance(value, bool) else value, client_id)


def add_customer(st: State, phone: str, *, name: str = "", cash: str = "0", points: str = "0",
                 pin: str = SANDBOX_TEST_PIN, status: str = "ACTIVE", registered: bool = True,
                 pin_locked: bool = False, replace: bool = False) -> str:
    """Create an OVO account; returns the normalised phone.

    An existing one is refused (:class:`CustomerExists`) unless ``replace``: then it takes these
    settings, its blocks are lifted, and each balance change is an ``ADJUST`` entry in its ledger, so
    its balance still equals its movements (its tokens and history stay).
    """
    number = normalize_phone(phone)
    if status not in CUSTOMER_STATUSES:
        raise ValidationError(f"Customer status {status!r} is not ACTIVE or CLOSED.")
    if not (pin.isdigit() and len(pin) == 6):
        raise ValidationError("An OVO security PIN is 6 digits.")
    cash_text = format_amount(parse_amount(cash, allow_zero=True))
    points_text = format_amount(parse_amount(points, allow_zero=True))
    with st.store.transaction():
        if st.store.one("SELECT 1 FROM customers WHERE phone = ?", number) is None:
            st.store.run(
                "INSERT INTO customers (phone, name, registered, status, cash, points, pin, pin_locked, ilp)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", number, name, int(registered), status, cash_text, points_text,
                pin, int(pin_locked), f"ILP{uuid.uuid5(uuid.NAMESPACE_OID, number).hex[:16].upper()}")
            return number
        if not replace:
            raise CustomerExists(
                f"{number} is already a sandbox customer. Send \"replace\": true (replace=True) to replace her "
                f"(a balance change is written to her ledger as an adjustment), or PATCH /_sandbox/customers/{number}.")
        st.store.run("UPDATE customers SET name = ?, registered = ?, pin = ?, otp_failures = 0, otp_generations = 0,"
                     " otp_blocked_until = NULL WHERE phone = ?", name, int(registered), pin, number)
        update_customer(st, number, cash=cash_text, points=points_text, status=status, pin_locked=pin_locked,
                        note="replaced by the sandbox admin")
    return number


def update_customer(st: State, phone: str, *, note: str = "set by the sandbox admin", **changes: Any) -> dict[str, Any]:
    """Set balances or status, or change the phone number (which breaks every token, as at OVO).

    A balance change is an ``ADJUST`` entry in the customer's ledger, with ``note``."""
    number = normalize_phone(phone)
    now = st.now()
    with st.store.transaction():
        customer = st.store.one("SELECT * FROM customers WHERE phone = ?", number)
        if customer is None:
            raise ValidationError(f"No sandbox customer with phone {number}.")
        for column in ("cash", "points"):
            if changes.get(column) is not None:
                new = parse_amount(changes[column], allow_zero=True)
                if new != Decimal(customer[column]):
                    st.move(customer, column.upper(), new - Decimal(customer[column]), "ADJUST", None, now, note=note)
                customer = st.customer_row(number)
        if changes.get("status"):
            status = str(changes["status"]).upper()
            if status not in CUSTOMER_STATUSES:
                raise ValidationError(f"Customer status {status!r} is not ACTIVE or CLOSED.")
            st.store.run("UPDATE customers SET status = ? WHERE phone = ?", status, number)
            if status == "CLOSED":
                st.unbind_everywhere(number, "OVO account closed")
        if changes.get("pin_locked") is not None:
            st.store.run("UPDATE customers SET pin_locked = ?, pin_failures = 0, pin_blocked_until = NULL"
                         " WHERE phone = ?", int(bool(changes["pin_locked"])), number)
        if changes.get("new_phone"):
            new_number = normalize_phone(changes["new_phone"])
            if st.store.one("SELECT 1 FROM customers WHERE phone = ?", new_number):
                raise ValidationError(f"{new_number} already belongs to another sandbox customer.")
            st.unbind_everywhere(number, "phone number changed")
            st.store.run("UPDATE customers SET phone = ? WHERE phone = ?", new_number, number)
            number = new_number
    return customer_view(st, number)


def unlink_in_app(st: State, phone: str, client_id: str | None = None) -> list[str]:
    """The customer unlinks a partner (or every partner) in the OVO app; returns the partners unlinked.

    As at OVO, the partner is not told: its refresh token simply stops working (FAQ).
    """
    number = normalize_phone(phone)
    with st.store.transaction():
        rows = st.store.all("SELECT DISTINCT client_id FROM bindings WHERE phone = ? AND status = 'ACTIVE'"
                            + (" AND client_id = ?" if client_id else ""), number, *([client_id] if client_id else []))
        if not rows:
            raise ValidationError(f"{number} has no active binding{f' with {client_id}' if client_id else ''}.")
        for row in rows:
            st.unbind(row["client_id"], number, "unlinked in the OVO app")
    return [row["client_id"] for row in rows]


def customer_ledger(st: State, phone: str) -> list[dict[str, Any]]:
    """Every movement of a customer's balances at OVO, oldest first (what an audit of OVO's books shows)."""
    number = normalize_phone(phone)
    rows = st.store.all(
        "SELECT l.at, l.client_id, l.entry, l.balance_type, l.amount, l.balance_after, p.partner_reference_no,"
        " r.partner_refund_no FROM ledger l LEFT JOIN payments p ON p.id = l.payment_id"
        " LEFT JOIN refunds r ON r.id = l.refund_id WHERE l.phone = ? ORDER BY l.id", number)
    return [{"at": r["at"], "clientId": r["client_id"], "entry": r["entry"], "balanceType": r["balance_type"],
             "amount": r["amount"], "balanceAfter": r["balance_after"],
             "partnerReferenceNo": r["partner_reference_no"], "partnerRefundNo": r["partner_refund_no"]}
            for r in rows]


def customer_view(st: State, phone: str) -> dict[str, Any]:
    row = st.store.one("SELECT * FROM customers WHERE phone = ?", normalize_phone(phone))
    if row is None:
        raise ValidationError(f"No sandbox customer with phone {phone}.")
    return {"phone": row["phone"], "name": row["name"], "registered": bool(row["registered"]),
            "status": row["status"], "cash": row["cash"], "points": row["points"],
            "pinFailures": row["pin_failures"], "pinLocked": bool(row["pin_locked"]),
            "pinBlockedUntil": row["pin_blocked_until"], "otpBlockedUntil": row["otp_blocked_until"]}


def tamper_payment(st: State, partner_reference_no: str, *, amount: str | None = None,
                   status: str | None = None) -> None:
    """A deliberate discrepancy for reconciliation drills: change OVO's record of a payment.

    ``status`` is a ``latestTransactionStatus`` code (``00``, ``05``, ``06``...). Only the
    record changes; no balance moves, exactly as a wrong settlement line would look.
    """
    with st.store.transaction():
        row = st.store.one("SELECT * FROM payments WHERE partner_reference_no = ?", partner_reference_no)
        if row is None:
            raise ValidationError(f"No sandbox payment {partner_reference_no!r}.")
        if amount is not None:
            st.store.run("UPDATE payments SET amount = ? WHERE id = ?", format_amount(parse_amount(amount)),
                         row["id"])
        if status is not None:
            if status not in TRANSACTION_STATUSES:
                raise ValidationError(f"status {status!r} is not one of {', '.join(TRANSACTION_STATUSES)}.")
            st.set_payment_status(row, status)
        st.store.record(now_text(st.now()), "payment", partner_reference_no, "tampered", amount=amount,
                        status=status)


def settlement_csv(st: State) -> str:
    """OVO's side for reconciliation: one line per payment and per refund, in ``SETTLEMENT_COLUMNS``' order."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([column for column, _, _ in SETTLEMENT_COLUMNS])
    for p in st.store.all("SELECT * FROM payments ORDER BY id"):
        status = st.current_status(p, st.now())
        writer.writerow(["PAYMENT", p["paid_at"] or p["created_at"], p["client_id"], p["merchant_id"],
                         p["partner_reference_no"], p["reference_no"], "", "", p["amount"], "IDR",
                         TRANSACTION_STATUSES.get(status, status).upper(), p["pay_method"]])
    for r in st.store.all("SELECT r.*, p.partner_reference_no, p.reference_no AS payment_reference_no,"
                          " p.merchant_id, p.pay_method FROM refunds r JOIN payments p ON p.id = r.payment_id"
                          " ORDER BY r.id"):
        writer.writerow(["REFUND", r["created_at"], r["client_id"], r["merchant_id"], r["partner_reference_no"],
                         r["payment_reference_no"], r["partner_refund_no"], r["refund_no"], r["amount"], "IDR",
                         "SUCCESS", r["pay_method"]])
    return out.getvalue()
