"""The partner ledger: what the partner believes it charged and refunded (SQLite, or a team's PostgreSQL).

Every payment and refund gets a row before its first call, holding the exact request
body (so a retry resends the identical body) and its state as the flows learn it. It is
the partner's side of reconciliation, and the place a crash cannot erase: each change
is committed before the next call. A reference is written once, whoever writes it: a second
writer of the same reference is refused, on either backend.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ValidationError
from .snap import JAKARTA, Clock, SystemClock
from .storage import DuplicateKey, Schema, open_store

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LedgerPayment", "LedgerRefund", "PartnerLedger"]

PAYMENT_STATES = ("CREATED", "AWAITING_PIN", "PAID", "FAILED", "EXPIRED", "UNKNOWN", "UNKNOWN_NEEDS_RECONCILIATION",
                  "PARTIALLY_REFUNDED", "REFUNDED")
"""``UNKNOWN_NEEDS_RECONCILIATION``: the answer was lost and the customer has since unbound, so OVO's
status API (customer token only) cannot tell; OVO's settlement report will."""
REFUND_STATES = ("REQUESTED", "REFUNDED", "FAILED", "UNKNOWN")
_TABLES = {
    "payment": ("payments", "partner_reference_no", PAYMENT_STATES, {"reference_no", "approval_code", "response_code"}),
    "refund": ("refunds", "partner_refund_no", REFUND_STATES, {"refund_no", "response_code"}),
}

SCHEMA = Schema("ledger", 2, table="payments", tables="""
CREATE TABLE IF NOT EXISTS payments (
    partner_reference_no TEXT PRIMARY KEY,
    phone TEXT NOT NULL,
    amount TEXT NOT NULL,
    status TEXT NOT NULL,
    reference_no TEXT NOT NULL DEFAULT '',
    approval_code TEXT NOT NULL DEFAULT '',
    recurring INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    response_code TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refunds (
    partner_refund_no TEXT PRIMARY KEY,
    partner_reference_no TEXT NOT NULL,
    amount TEXT NOT NULL,
    status TEXT NOT NULL,
    refund_no TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    response_code TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    id {serial},
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    status TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    origin TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS history_origin ON history (origin) WHERE origin IS NOT NULL;
""", upgrades=(
    # 2: where a copied history row came from (`ovo-nb state migrate` copies each once)
    "ALTER TABLE history ADD COLUMN origin TEXT;"
    " CREATE UNIQUE INDEX IF NOT EXISTS history_origin ON history (origin) WHERE origin IS NOT NULL",
))
"""The ledger's tables: a payment or refund is one row under its partner reference, written once."""


@dataclass(frozen=True)
class LedgerPayment:
    partner_reference_no: str
    phone: str
    amount: Decimal
    status: str
    reference_no: str
    approval_code: str
    recurring: bool
    body: dict[str, Any]
    response_code: str
    note: str
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class LedgerRefund:
    partner_refund_no: str
    partner_reference_no: str
    amount: Decimal
    status: str
    refund_no: str
    body: dict[str, Any]
    response_code: str
    note: str
    created_at: str
    updated_at: str


class PartnerLedger:
    """Payments and refunds as the partner records them."""

    def __init__(self, path: str | Path = ":memory:", *, clock: Clock | None = None) -> None:
        self.path = str(path)
        self.clock = clock or SystemClock()
        self._store = open_store(self.path, SCHEMA)

    @property
    def where(self) -> str:
        """Where the ledger is, safe to show (a database URL without its password)."""
        return self._store.where

    def __repr__(self) -> str:
        return f"PartnerLedger(path={self.where!r})"

    def now(self) -> str:
        """The ledger clock's time as its rows store it (Jakarta, ISO 8601): a mark for ``to_frame(since=...)``."""
        return self.clock.now().astimezone(JAKARTA).isoformat(timespec="milliseconds")

    def new_reference(self, prefix: str = "INV") -> str:
        """A fresh, unique partnerReferenceNo: ``INV-20261126-153000-1a2b3c``."""
        return f"{prefix}-{self.clock.now().astimezone(JAKARTA):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"

    def add_payment(self, reference: str, phone: str, amount: Decimal, body: dict[str, Any], *,
                    recurring: bool = False) -> None:
        """Record a payment before its first call; a reference is used once."""
        now = self.now()
        try:
            with self._store.transaction():
                self._store.run(
                    "INSERT INTO payments (partner_reference_no, phone, amount, status, recurring, body, created_at,"
                    " updated_at) VALUES (?, ?, ?, 'CREATED', ?, ?, ?, ?)",
                    (reference, phone, f"{amount:.2f}", int(recurring), json.dumps(body, ensure_ascii=False), now,
                     now))
                self._history("payment", reference, "CREATED", "")
        except DuplicateKey:
            raise ValidationError(
                f"partnerReferenceNo {reference!r} is already in the ledger; every payment needs a new one."
            ) from None

    def update_payment(self, reference: str, status: str, *, note: str = "", **fields: str) -> None:
        """Move a payment to ``status``, with what OVO said (``reference_no``, ``approval_code``, ``response_code``)."""
        self._update("payment", reference, status, note, fields)

    def payment(self, reference: str) -> LedgerPayment:
        found = self._store.records("SELECT * FROM payments WHERE partner_reference_no = ?", (reference,))
        if not found:
            raise ValidationError(f"No payment {reference!r} in the partner ledger.")
        values = found[0]
        values.update(amount=Decimal(values["amount"]), recurring=bool(values["recurring"]),
                      body=json.loads(values["body"]))
        return LedgerPayment(**values)

    def payments(self, *statuses: str) -> list[LedgerPayment]:
        query = "SELECT partner_reference_no FROM payments"
        if statuses:
            query += f" WHERE status IN ({', '.join('?' * len(statuses))})"
        refs = [r[0] for r in self._store.rows(query + " ORDER BY created_at", statuses)]
        return [self.payment(ref) for ref in refs]

    def add_refund(self, refund_no: str, reference: str, amount: Decimal, body: dict[str, Any]) -> None:
        now = self.now()
        try:
            with self._store.transaction():
                self._store.run(
                    "INSERT INTO refunds (partner_refund_no, partner_reference_no, amount, status, body, created_at,"
                    " updated_at) VALUES (?, ?, ?, 'REQUESTED', ?, ?, ?)",
                    (refund_no, reference, f"{amount:.2f}", json.dumps(body, ensure_ascii=False), now, now))
                self._history("refund", refund_no, "REQUESTED", "")
        except DuplicateKey:
            raise ValidationError(f"partnerRefundNo {refund_no!r} is already in the ledger.") from None

    def update_refund(self, partner_refund_no: str, status: str, *, note: str = "", **fields: str) -> None:
        """Move a refund to ``status``, with what OVO said (``refund_no``, ``response_code``)."""
        self._update("refund", partner_refund_no, status, note, fields)

    def _update(self, kind: str, key: str, status: str, note: str, fields: dict[str, str]) -> None:
        table, key_column, states, allowed = _TABLES[kind]
        if status not in states:
            raise ValidationError(f"Unknown {kind} state {status!r}.")
        chosen = {k: v for k, v in fields.items() if k in allowed}
        sets = "".join(f", {column} = ?" for column in chosen)
        with self._store.transaction():
            self._store.run(f"UPDATE {table} SET status = ?, note = ?, updated_at = ?{sets} WHERE {key_column} = ?",
                            (status, note, self.now(), *chosen.values(), key))
            self._history(kind, key, status, note)

    def refund(self, refund_no: str) -> LedgerRefund:
        found = self._store.records("SELECT * FROM refunds WHERE partner_refund_no = ?", (refund_no,))
        if not found:
            raise ValidationError(f"No refund {refund_no!r} in the partner ledger.")
        values = found[0]
        values.update(amount=Decimal(values["amount"]), body=json.loads(values["body"]))
        return LedgerRefund(**values)

    def refunded_total(self, reference: str) -> Decimal:
        rows = self._store.rows("SELECT amount FROM refunds WHERE partner_reference_no = ? AND status = 'REFUNDED'",
                                (reference,))
        return sum((Decimal(r[0]) for r in rows), Decimal(0))

    def _history(self, kind: str, reference: str, status: str, note: str) -> None:
        self._store.run("INSERT INTO history (at, kind, reference, status, note) VALUES (?, ?, ?, ?, ?)",
                        (self.now(), kind, reference, status, note))

    def to_frame(self, table: str = "payments", *, since: str = "") -> pd.DataFrame:
        """``payments``, ``refunds`` or ``history`` as a DataFrame (amounts as exact strings);
        ``since`` (from :meth:`now`) keeps the rows written from then on."""
        import pandas as pd

        if table not in ("payments", "refunds", "history"):
            raise ValidationError("table is 'payments', 'refunds' or 'history'.")
        column = "at" if table == "history" else "created_at"
        order = "id" if table == "history" else "created_at"
        columns, rows = self._store.table(f"SELECT * FROM {table} WHERE {column} >= ? ORDER BY {order}", (since,))
        frame = pd.DataFrame.from_records(rows, columns=columns)
        return frame.drop(columns=["body", "origin"], errors="ignore")

    def copy_into(self, target: PartnerLedger) -> dict[str, tuple[int, int, int, Decimal, Decimal]]:
        """Copy the payments, refunds and history into ``target`` (``ovo-nb state migrate``); a reference already
        there is left as it is. Returns, per table: (rows here, rows written now, rows of here found in
        ``target``, the amounts here, the amounts ``target`` holds under the same references)."""
        source, into = self._store, target._store
        counts = {}
        for table, key in (("payments", "partner_reference_no"), ("refunds", "partner_refund_no")):
            columns, _ = source.table(f"SELECT * FROM {table} WHERE 1 = 0")
            written = source.copy_rows(into, table, columns, key=key)
            here = dict(source.rows(f"SELECT {key}, amount FROM {table}"))
            theirs = {k: v for k, v in into.rows(f"SELECT {key}, amount FROM {table}") if k in here}
            counts[table] = (len(here), written, len(theirs), sum(map(Decimal, here.values()), Decimal(0)),
                             sum(map(Decimal, theirs.values()), Decimal(0)))
        written = source.copy_rows(into, "history", ("at", "kind", "reference", "status", "note"), key="origin")
        total = source.one("SELECT COUNT(*) FROM history")
        counts["history"] = (int(total[0]) if total else 0, written, source.count_copied(into, "history"),
                             Decimal(0), Decimal(0))
        return counts

    def close(self) -> None:
        """Close the ledger (a SQLite file is checkpointed: a copied ``.sqlite`` then holds everything)."""
        self._store.close()
