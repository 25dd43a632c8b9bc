"""The token vault: every customer's OVO tokens, encrypted at rest, with their expiry.

OVO asks partners to keep each customer's tokens and ILP. The vault keeps the current
token of each kind per customer (``linkage``, ``access``, ``refresh``, ``single_use``)
and the partner's ``b2b`` token, sealed with a :class:`~ovo_nb.secretbox.SecretBox`, so the
SQLite file alone reveals nothing. It answers only valid tokens: expired or revoked ones
read as missing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ._files import close_sqlite, open_sqlite
from .secretbox import SecretBox
from .snap import JAKARTA, Clock, SystemClock

__all__ = ["PARTNER", "CustomerRecord", "TokenStatus", "TokenVault"]

PARTNER = "__partner__"
"""The vault's name for the partner itself (its B2B token)."""
EXPIRY_MARGIN = timedelta(seconds=30)
"""A token this close to expiry counts as expired, so it never dies in flight."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    customer TEXT NOT NULL,
    kind TEXT NOT NULL,
    sealed BLOB NOT NULL,
    issued_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    revoked_reason TEXT,
    PRIMARY KEY (customer, kind)
);
CREATE TABLE IF NOT EXISTS customers (
    customer TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    ilp TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    customer TEXT NOT NULL,
    event TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class TokenStatus:
    """A token's state without its value: for tables and widgets."""

    customer: str
    kind: str
    issued_at: datetime
    expires_at: datetime | None
    revoked: str | None
    seconds_left: float | None

    @property
    def usable(self) -> bool:
        return self.revoked is None and (self.seconds_left is None or self.seconds_left > 0)


@dataclass(frozen=True)
class CustomerRecord:
    customer: str
    status: str
    ilp: str
    reason: str
    updated_at: str


class TokenVault:
    """Customer tokens in SQLite, sealed; one current token per customer and kind."""

    def __init__(self, path: str | Path = ":memory:", *, box: SecretBox | None = None,
                 clock: Clock | None = None) -> None:
        self.path = str(path)
        self.box = box or SecretBox.default()
        self.clock = clock or SystemClock()
        self._db = open_sqlite(self.path, _SCHEMA)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenVault(path={self.path!r})"

    def _now(self) -> datetime:
        return self.clock.now().astimezone(JAKARTA)

    def _event(self, customer: str, event: str) -> None:
        self._db.execute("INSERT INTO events (at, customer, event) VALUES (?, ?, ?)",
                         (self._now().isoformat(), customer, event))

    def put(self, customer: str, kind: str, token: str, *, expires_at: datetime | None) -> None:
        """Keep ``token`` as the customer's current ``kind`` token (committed before returning)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO tokens (customer, kind, sealed, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                (customer, kind, self.box.seal(token.encode()), self._now().isoformat(),
                 expires_at.isoformat() if expires_at else None))
            self._event(customer, f"{kind} token stored")

    def get(self, customer: str, kind: str) -> str | None:
        """The usable ``kind`` token of ``customer``, or ``None`` if missing, expired or revoked."""
        with self._lock:
            row = self._db.execute("SELECT sealed, expires_at, revoked_at FROM tokens WHERE customer = ? AND kind = ?",
                                   (customer, kind)).fetchone()
        if row is None or row[2] is not None:
            return None
        if row[1] and datetime.fromisoformat(row[1]) - EXPIRY_MARGIN <= self._now():
            return None
        return self.box.open(row[0]).decode()

    def discard(self, customer: str, kind: str, reason: str) -> None:
        """Mark one token unusable (used, or refused by OVO)."""
        with self._lock:
            self._db.execute("UPDATE tokens SET revoked_at = ?, revoked_reason = ? WHERE customer = ? AND kind = ?"
                             " AND revoked_at IS NULL", (self._now().isoformat(), reason, customer, kind))
            self._event(customer, f"{kind} token discarded: {reason}")

    def revoke(self, customer: str, reason: str) -> None:
        """Revoke every token of ``customer`` and mark it unbound (unbinding, phone change, CLOSED)."""
        with self._lock:
            self._db.execute("UPDATE tokens SET revoked_at = ?, revoked_reason = ? WHERE customer = ?"
                             " AND revoked_at IS NULL", (self._now().isoformat(), reason, customer))
            self._set_customer(customer, "UNBOUND", reason=reason)
            self._event(customer, f"all tokens revoked: {reason}")

    def _set_customer(self, customer: str, status: str, *, ilp: str | None = None, reason: str = "") -> None:
        self._db.execute(
            "INSERT INTO customers (customer, status, ilp, reason, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (customer) DO UPDATE SET status = excluded.status, reason = excluded.reason,"
            " updated_at = excluded.updated_at, ilp = CASE WHEN excluded.ilp != '' THEN excluded.ilp ELSE ilp END",
            (customer, status, ilp or "", reason, self._now().isoformat()))

    def set_customer(self, customer: str, status: str, *, ilp: str | None = None, reason: str = "") -> None:
        """Record the customer's linkage state (``BOUND``, ``UNBOUND``) and the ILP OVO returned."""
        with self._lock:
            self._set_customer(customer, status, ilp=ilp, reason=reason)
            self._event(customer, f"customer {status.lower()}" + (f": {reason}" if reason else ""))

    def customer(self, customer: str) -> CustomerRecord | None:
        with self._lock:
            row = self._db.execute("SELECT customer, status, ilp, reason, updated_at FROM customers WHERE customer = ?",
                                   (customer,)).fetchone()
        return CustomerRecord(*row) if row else None

    def status(self, customer: str | None = None) -> list[TokenStatus]:
        """Every token's state (no values), for one customer or all."""
        query = "SELECT customer, kind, issued_at, expires_at, revoked_reason FROM tokens"
        args: tuple[str, ...] = ()
        if customer:
            query, args = query + " WHERE customer = ?", (customer,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY customer, kind", args).fetchall()
        now = self._now()
        result = []
        for who, kind, issued, expires, revoked in rows:
            expiry = datetime.fromisoformat(expires) if expires else None
            left = (expiry - now).total_seconds() if expiry else None
            result.append(TokenStatus(who, kind, datetime.fromisoformat(issued), expiry, revoked, left))
        return result

    def close(self) -> None:
        """Checkpoint and close the database (a copied ``.sqlite`` then holds everything)."""
        with self._lock:
            close_sqlite(self._db)
