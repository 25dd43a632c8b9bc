"""The sandbox's memory: partners, customers, tokens, payments and the ledger, in SQLite.

One file (or ``:memory:``) holds everything, so a server restart or a second process
(a notebook kernel next to ``ovo-nb sandbox``) sees the same OVO. Each request runs in
one ``BEGIN IMMEDIATE`` transaction: it commits whole or not at all.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._files import close_sqlite, open_sqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS partners (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    client_secret TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    channel_id TEXT NOT NULL DEFAULT '95221',
    callback_urls TEXT NOT NULL DEFAULT '[]',
    error_urls TEXT NOT NULL DEFAULT '[]',
    ip_whitelist TEXT NOT NULL DEFAULT '[]',
    production INTEGER NOT NULL DEFAULT 0,
    daily_refund_limit TEXT,
    refund_window_days INTEGER NOT NULL DEFAULT 60,
    recurring_allowed INTEGER NOT NULL DEFAULT 1,
    lenient INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS customers (
    phone TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    registered INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT 'ACTIVE',
    cash TEXT NOT NULL DEFAULT '0.00',
    points TEXT NOT NULL DEFAULT '0.00',
    pin TEXT NOT NULL DEFAULT '123456',
    pin_failures INTEGER NOT NULL DEFAULT 0,
    pin_blocked_until TEXT,
    pin_locked INTEGER NOT NULL DEFAULT 0,
    otp_failures INTEGER NOT NULL DEFAULT 0,
    otp_generations INTEGER NOT NULL DEFAULT 0,
    otp_window_start TEXT,
    otp_blocked_until TEXT,
    otp_block_reason TEXT,
    ilp TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lookups (client_id TEXT NOT NULL, phone TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bindings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    partner_customer_id TEXT,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    activated_at TEXT,
    unbound_at TEXT
);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    client_id TEXT NOT NULL,
    phone TEXT,
    binding_id INTEGER,
    payment_id INTEGER,
    issued_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    revoked_reason TEXT,
    used_at TEXT
);
CREATE TABLE IF NOT EXISTS webview_sessions (
    ref_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    client_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    token TEXT NOT NULL,
    binding_id INTEGER,
    payment_id INTEGER,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'PENDING',
    stage TEXT NOT NULL DEFAULT 'CODE',
    opened_at TEXT
);
CREATE TABLE IF NOT EXISTS auth_codes (
    code TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    client_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    binding_id INTEGER,
    payment_id INTEGER,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE TABLE IF NOT EXISTS payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    partner_reference_no TEXT NOT NULL,
    reference_no TEXT NOT NULL UNIQUE,
    phone TEXT NOT NULL,
    binding_id INTEGER,
    merchant_id TEXT NOT NULL,
    amount TEXT NOT NULL,
    pay_method TEXT NOT NULL DEFAULT 'CASH',
    recurring INTEGER NOT NULL DEFAULT 0,
    request_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    status_desc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    paid_at TEXT,
    approval_code TEXT,
    result_json TEXT,
    UNIQUE (client_id, partner_reference_no)
);
CREATE TABLE IF NOT EXISTS refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    payment_id INTEGER NOT NULL,
    partner_refund_no TEXT NOT NULL,
    refund_no TEXT NOT NULL UNIQUE,
    amount TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    request_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    result_json TEXT NOT NULL,
    UNIQUE (client_id, partner_refund_no)
);
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    client_id TEXT,
    phone TEXT NOT NULL,
    entry TEXT NOT NULL,
    balance_type TEXT NOT NULL,
    amount TEXT NOT NULL,
    balance_after TEXT NOT NULL,
    payment_id INTEGER,
    refund_id INTEGER,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS external_ids (
    client_id TEXT NOT NULL,
    day TEXT NOT NULL,
    external_id TEXT NOT NULL,
    PRIMARY KEY (client_id, day, external_id)
);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    api TEXT NOT NULL,
    kind TEXT NOT NULL,
    remaining INTEGER NOT NULL,
    delay_seconds REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS tokens_binding ON tokens (binding_id);
CREATE INDEX IF NOT EXISTS tokens_phone ON tokens (client_id, phone);
CREATE INDEX IF NOT EXISTS payments_ref ON payments (client_id, reference_no);
"""


MIGRATIONS: tuple[tuple[str, str, str], ...] = (
    ("partners", "lenient", "INTEGER NOT NULL DEFAULT 0"),
    ("webview_sessions", "stage", "TEXT NOT NULL DEFAULT 'CODE'"),
    ("webview_sessions", "opened_at", "TEXT"),
    ("customers", "otp_block_reason", "TEXT"),
)
"""Columns added since the first release: a state file made by an older version gains them."""


class Store:
    """A thin, thread-safe wrapper over one SQLite connection."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._db = open_sqlite(self.path, SCHEMA, fast_commits=True)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        for table, column, definition in MIGRATIONS:
            columns = {row["name"] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def close(self) -> None:
        """Checkpoint and close the database (a copied ``.sqlite`` then holds everything)."""
        with self._lock:
            close_sqlite(self._db)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Store]:
        """One atomic unit of work; nested calls join the outer transaction."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer and self._db.in_transaction:  # SQLite may have rolled back itself (a full disk)
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._db.execute("COMMIT")

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._db.execute(sql, args).fetchone()
            return row

    def all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    def run(self, sql: str, *args: Any) -> int:
        """Execute a write; returns the new row id (for inserts)."""
        with self._lock:
            cursor = self._db.execute(sql, args)
            return cursor.lastrowid or 0

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = ?", key)
        return row["value"] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = ?",
                 key, value, value)

    def record(self, at: str, entity: str, entity_id: str | int, event: str, **detail: Any) -> None:
        """Append to the history every entity keeps (tokens, bindings, payments, refunds)."""
        self.run("INSERT INTO history (at, entity, entity_id, event, detail) VALUES (?, ?, ?, ?, ?)",
                 at, entity, str(entity_id), event, json.dumps(detail, default=str))
