"""The token vault: every customer's OVO tokens, encrypted at rest, with their expiry.

OVO asks partners to keep each customer's tokens and ILP. The vault keeps the current
token of each kind per customer (``linkage``, ``access``, ``refresh``, ``single_use``)
and the partner's ``b2b`` token, sealed with a :class:`~ovo_nb.secretbox.SecretBox`, so the
database alone (a SQLite file, or a team's PostgreSQL and its dumps) reveals nothing: the key lives
in a file or variable, never in the database. It answers only valid tokens: expired or revoked ones
read as missing. :meth:`TokenVault.renewing` is the lock under which a token is renewed, so processes
sharing one vault renew it once.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .errors import KeyFileError, OvoNbError
from .secretbox import VAULT_KEY_ENV, VAULT_KEY_FILE_ENV, SecretBox
from .snap import JAKARTA, Clock, SystemClock
from .storage import Schema, open_store

__all__ = ["PARTNER", "CustomerRecord", "TokenStatus", "TokenVault"]

PARTNER = "__partner__"
"""The vault's name for the partner itself (its B2B token)."""
EXPIRY_MARGIN = timedelta(seconds=30)
"""A token this close to expiry counts as expired, so it never dies in flight."""

SCHEMA = Schema("vault", 2, table="tokens", tables="""
CREATE TABLE IF NOT EXISTS tokens (
    customer TEXT NOT NULL,
    kind TEXT NOT NULL,
    sealed {bytes} NOT NULL,
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
    id {serial},
    at TEXT NOT NULL,
    customer TEXT NOT NULL,
    event TEXT NOT NULL,
    origin TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS events_origin ON events (origin) WHERE origin IS NOT NULL;
CREATE TABLE IF NOT EXISTS sealing (
    name TEXT PRIMARY KEY,
    probe {bytes} NOT NULL
);
""", upgrades=(
    # 2: where a copied event came from (migrate copies each once); a probe sealed with the vault's key
    "ALTER TABLE events ADD COLUMN origin TEXT;"
    " CREATE UNIQUE INDEX IF NOT EXISTS events_origin ON events (origin) WHERE origin IS NOT NULL;"
    " CREATE TABLE IF NOT EXISTS sealing (name TEXT PRIMARY KEY, probe {bytes} NOT NULL)",
))
"""The vault's tables. ``sealing`` holds a known text sealed with the vault's key (never the key): a teammate
with another key is told so at once, before sealing tokens nobody else can open."""
_PROBE = b"ovo-nb vault key probe"
_TOKEN_COLUMNS = ("customer", "kind", "sealed", "issued_at", "expires_at", "revoked_at", "revoked_reason")


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
    """Customer tokens, sealed; one current token per customer and kind (SQLite, or a team's PostgreSQL)."""

    def __init__(self, path: str | Path = ":memory:", *, box: SecretBox | None = None,
                 clock: Clock | None = None) -> None:
        self.path = str(path)
        self.box = box or SecretBox.default()
        self.clock = clock or SystemClock()
        self._store = open_store(self.path, SCHEMA)
        try:
            self._check_key()
        except BaseException:
            self._store.close()
            raise

    def __repr__(self) -> str:
        return f"TokenVault(path={self._store.where!r})"

    def _check_key(self) -> None:
        """Refuse a key other than the one this vault's tokens are sealed with."""
        self._store.run("INSERT INTO sealing (name, probe) VALUES ('vault key', ?) ON CONFLICT (name) DO NOTHING",
                        (self.box.seal(_PROBE),))
        row = self._store.one("SELECT probe FROM sealing WHERE name = 'vault key'")
        try:
            same = row is not None and self.box.open(bytes(row[0])) == _PROBE
        except OvoNbError:
            same = False
        if not same:
            raise KeyFileError(
                f"The tokens in {self._store.where} are sealed with another vault key than this one: set "
                f"{VAULT_KEY_FILE_ENV} to the key file the others use (or {VAULT_KEY_ENV} to the key itself)."
            ) from None

    def _now(self) -> datetime:
        return self.clock.now().astimezone(JAKARTA)

    def _event(self, customer: str, event: str) -> None:
        self._store.run("INSERT INTO events (at, customer, event) VALUES (?, ?, ?)",
                        (self._now().isoformat(), customer, event))

    def put(self, customer: str, kind: str, token: str, *, expires_at: datetime | None) -> None:
        """Keep ``token`` as the customer's current ``kind`` token (committed before returning)."""
        with self._store.transaction():
            self._store.run(
                "INSERT INTO tokens (customer, kind, sealed, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (customer, kind) DO UPDATE SET sealed = excluded.sealed, issued_at = excluded.issued_at,"
                " expires_at = excluded.expires_at, revoked_at = NULL, revoked_reason = NULL",
                (customer, kind, self.box.seal(token.encode()), self._now().isoformat(),
                 expires_at.isoformat() if expires_at else None))
            self._event(customer, f"{kind} token stored")

    def get(self, customer: str, kind: str) -> str | None:
        """The usable ``kind`` token of ``customer``, or ``None`` if missing, expired or revoked."""
        row = self._store.one("SELECT sealed, expires_at, revoked_at FROM tokens WHERE customer = ? AND kind = ?",
                              (customer, kind))
        if row is None or row[2] is not None:
            return None
        if row[1] and datetime.fromisoformat(row[1]) - EXPIRY_MARGIN <= self._now():
            return None
        return self.box.open(bytes(row[0])).decode()

    def renewing(self, customer: str) -> contextlib.AbstractContextManager[None]:
        """The lock to hold while renewing ``customer``'s tokens: one holder at a time across threads, processes
        and (on PostgreSQL) machines. Read the vault again once inside: another holder may have renewed."""
        return self._store.lock(f"renew {customer}")

    def discard(self, customer: str, kind: str, reason: str, *, only: str | None = None) -> None:
        """Mark one token unusable (used, or refused by OVO); with ``only``, just if it is still that token
        (a token another process renewed meanwhile is kept)."""
        with self._store.transaction():
            if only is not None:
                row = self._store.one("SELECT sealed FROM tokens WHERE customer = ? AND kind = ?", (customer, kind))
                if row is None or self.box.open(bytes(row[0])).decode() != only:
                    return
            self._store.run("UPDATE tokens SET revoked_at = ?, revoked_reason = ? WHERE customer = ? AND kind = ?"
                            " AND revoked_at IS NULL", (self._now().isoformat(), reason, customer, kind))
            self._event(customer, f"{kind} token discarded: {reason}")

    def revoke(self, customer: str, reason: str) -> None:
        """Revoke every token of ``customer`` and mark it unbound (unbinding, phone change, CLOSED)."""
        with self._store.transaction():
            self._store.run("UPDATE tokens SET revoked_at = ?, revoked_reason = ? WHERE customer = ?"
                            " AND revoked_at IS NULL", (self._now().isoformat(), reason, customer))
            self._set_customer(customer, "UNBOUND", reason=reason)
            self._event(customer, f"all tokens revoked: {reason}")

    def _set_customer(self, customer: str, status: str, *, ilp: str | None = None, reason: str = "") -> None:
        self._store.run(
            "INSERT INTO customers (customer, status, ilp, reason, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (customer) DO UPDATE SET status = excluded.status, reason = excluded.reason,"
            " updated_at = excluded.updated_at,"
            " ilp = CASE WHEN excluded.ilp != '' THEN excluded.ilp ELSE customers.ilp END",
            (customer, status, ilp or "", reason, self._now().isoformat()))

    def set_customer(self, customer: str, status: str, *, ilp: str | None = None, reason: str = "") -> None:
        """Record the customer's linkage state (``BOUND``, ``UNBOUND``) and the ILP OVO returned."""
        with self._store.transaction():
            self._set_customer(customer, status, ilp=ilp, reason=reason)
            self._event(customer, f"customer {status.lower()}" + (f": {reason}" if reason else ""))

    def customer(self, customer: str) -> CustomerRecord | None:
        row = self._store.one("SELECT customer, status, ilp, reason, updated_at FROM customers WHERE customer = ?",
                              (customer,))
        return CustomerRecord(*row) if row else None

    def status(self, customer: str | None = None) -> list[TokenStatus]:
        """Every token's state (no values), for one customer or all."""
        query = "SELECT customer, kind, issued_at, expires_at, revoked_reason FROM tokens"
        args: tuple[str, ...] = ()
        if customer:
            query, args = query + " WHERE customer = ?", (customer,)
        rows = self._store.rows(query + " ORDER BY customer, kind", args)
        now = self._now()
        result = []
        for who, kind, issued, expires, revoked in rows:
            expiry = datetime.fromisoformat(expires) if expires else None
            left = (expiry - now).total_seconds() if expiry else None
            result.append(TokenStatus(who, kind, datetime.fromisoformat(issued), expiry, revoked, left))
        return result

    def copy_into(self, target: TokenVault) -> dict[str, tuple[int, int, int]]:
        """Copy the tokens, customers and events into ``target`` (``ovo-nb state migrate``), tokens resealed with
        its key; where ``target`` already holds a newer token or customer state, that one stays. Returns, per
        table: (rows here, rows written now, rows of here that ``target`` holds as new or newer)."""
        source, into = self._store, target._store

        def reseal(row: dict[str, Any]) -> dict[str, Any]:
            return {**row, "sealed": target.box.seal(self.box.open(bytes(row["sealed"])))}

        counts = {}
        for table, columns, key, newer, transform in (
                ("tokens", _TOKEN_COLUMNS, "customer, kind", "issued_at", reseal),
                ("customers", ("customer", "status", "ilp", "reason", "updated_at"), "customer", "updated_at", None)):
            written = source.copy_rows(into, table, columns, key=key, newer=newer, transform=transform)
            here = source.rows(f"SELECT {key}, {newer} FROM {table}")
            theirs = {tuple(r[:-1]): r[-1] for r in into.rows(f"SELECT {key}, {newer} FROM {table}")}
            held = sum(1 for r in here if tuple(r[:-1]) in theirs and theirs[tuple(r[:-1])] >= r[-1])
            counts[table] = (len(here), written, held)
        written = source.copy_rows(into, "events", ("at", "customer", "event"), key="origin")
        total = source.one("SELECT COUNT(*) FROM events")
        counts["events"] = (int(total[0]) if total else 0, written, source.count_copied(into, "events"))
        return counts

    def close(self) -> None:
        """Close the vault (a SQLite file is checkpointed: a copied ``.sqlite`` then holds everything)."""
        self._store.close()
