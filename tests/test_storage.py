"""The storage seam on both backends, one suite: SQLite files and a real PostgreSQL (a throw-away cluster).

The call log, the vault and the ledger behave the same on each; what a second writer sees; schema versions
recorded, upgraded in place, refused in one line when newer; nothing secret in clear in the stored bytes.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from state_backends import Backend

from ovo_nb.calllog import SCHEMA as CALLS
from ovo_nb.calllog import CallLog
from ovo_nb.errors import KeyFileError, StateFileError, ValidationError
from ovo_nb.ledger import SCHEMA as LEDGER
from ovo_nb.ledger import PartnerLedger
from ovo_nb.secretbox import SecretBox
from ovo_nb.snap import JAKARTA
from ovo_nb.storage import SchemaMismatch, masked, open_store, with_schema
from ovo_nb.tokens import TokenVault

TOKEN = "eyJhbGciOiJSUzI1NiJ9.access-token-that-must-never-be-in-clear"
SECRET = "client-secret-that-must-never-be-stored"
PHONE = "081234567890"


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"responseCode": "2001100", "responseMessage": "Successful",
                                     "accessToken": TOKEN})


def _post(log: CallLog, n: int = 1) -> None:
    with httpx.Client(transport=log.wrap(httpx.MockTransport(_answer))) as client:
        for i in range(n):
            client.post("https://api.example/v1.0/access-token/b2b",
                        headers={"Authorization": f"Bearer {TOKEN}", "X-CLIENT-SECRET": SECRET},
                        json={"grantType": "client_credentials", "phoneNo": PHONE, "n": i})


def test_the_call_log_keeps_each_call_redacted_and_sealed(backend: Backend) -> None:
    box = SecretBox(SecretBox.generate_key())
    with CallLog(backend.location("calls"), run_id="run-a", box=box) as log:
        log.add_secret(SECRET)
        _post(log, 3)
        calls = log.calls()
        assert [c.status for c in calls] == [200, 200, 200]
        assert calls[0].id < calls[1].id < calls[2].id
        assert TOKEN not in calls[0].request_headers["Authorization"] and "0812****7890" in calls[0].request_body
        revealed = log.get(calls[0].id, reveal=True)
        assert revealed.request_headers["Authorization"] == f"Bearer {TOKEN}" and PHONE in revealed.request_body
        assert log.runs() == ["run-a"] and len(log.to_frame()) == 3
        with pytest.raises(ValidationError, match="No run 'nope'"):
            log.require_run("nope")
    raw = backend.raw()
    assert TOKEN.encode() not in raw and SECRET.encode() not in raw and PHONE.encode() not in raw


def test_two_writers_get_unique_ids_and_a_follower_sees_every_call(backend: Backend) -> None:
    first, second = CallLog(backend.location("calls"), run_id="one"), CallLog(backend.location("calls"), run_id="two")
    reader = CallLog(backend.location("calls"))
    seen: list[int] = []
    done = threading.Event()

    def follow() -> None:
        last = 0
        while True:
            finished = done.is_set()
            for call in reader.calls(all_runs=True, after=last):
                seen.append(call.id)
                last = call.id
            if finished:
                return

    follower = threading.Thread(target=follow)
    follower.start()
    writers = [threading.Thread(target=_post, args=(log, 40)) for log in (first, second, first, second)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    follower.join()
    ids = [c.id for c in reader.calls(all_runs=True)]
    assert len(ids) == 160 == len(set(ids))
    assert seen == ids, "the follower missed or repeated a call"
    for log in (first, second, reader):
        log.close()


def test_the_vault_keeps_tokens_sealed_and_answers_only_valid_ones(backend: Backend) -> None:
    box = SecretBox(SecretBox.generate_key())
    vault = TokenVault(backend.location("vault"), box=box)
    soon = datetime.now(JAKARTA) + timedelta(minutes=10)
    vault.put(PHONE, "access", TOKEN, expires_at=soon)
    vault.put(PHONE, "refresh", "refresh-" + TOKEN, expires_at=None)
    vault.set_customer(PHONE, "BOUND", ilp="ILP-1")
    assert vault.get(PHONE, "access") == TOKEN
    vault.discard(PHONE, "access", "refused", only="some other token")
    assert vault.get(PHONE, "access") == TOKEN, "a token that is no longer the refused one stays"
    vault.discard(PHONE, "access", "refused", only=TOKEN)
    assert vault.get(PHONE, "access") is None
    vault.put(PHONE, "access", TOKEN, expires_at=datetime.now(JAKARTA) + timedelta(seconds=5))
    assert vault.get(PHONE, "access") is None, "inside the expiry margin"
    record = vault.customer(PHONE)
    assert record is not None and record.status == "BOUND" and record.ilp == "ILP-1"
    vault.set_customer(PHONE, "BOUND")
    assert vault.customer(PHONE).ilp == "ILP-1"  # type: ignore[union-attr]
    vault.revoke(PHONE, "phone changed")
    assert vault.get(PHONE, "refresh") is None and vault.customer(PHONE).status == "UNBOUND"  # type: ignore[union-attr]
    assert {s.kind for s in vault.status(PHONE)} == {"access", "refresh"}
    vault.close()
    raw = backend.raw()
    assert TOKEN.encode() not in raw and b"refresh-" not in raw


def test_a_vault_refuses_a_key_other_than_the_one_its_tokens_are_sealed_with(backend: Backend) -> None:
    TokenVault(backend.location("vault"), box=SecretBox(SecretBox.generate_key())).close()
    with pytest.raises(KeyFileError, match="sealed with another vault key than this one: set OVO_NB_VAULT_KEY_FILE"):
        TokenVault(backend.location("vault"), box=SecretBox(SecretBox.generate_key()))


def test_the_ledger_writes_a_reference_once_whoever_writes_it(backend: Backend) -> None:
    one, two = PartnerLedger(backend.location("ledger")), PartnerLedger(backend.location("ledger"))
    one.add_payment("INV-1", PHONE, Decimal("15000"), {"amount": {"value": "15000.00"}})
    with pytest.raises(ValidationError, match="already in the ledger"):
        two.add_payment("INV-1", PHONE, Decimal("15000"), {})
    two.update_payment("INV-1", "PAID", reference_no="R-1", approval_code="A")
    one.add_refund("RF-1", "INV-1", Decimal("5000"), {})
    with pytest.raises(ValidationError, match="partnerRefundNo 'RF-1' is already"):
        two.add_refund("RF-1", "INV-1", Decimal("5000"), {})
    one.update_refund("RF-1", "REFUNDED", refund_no="X")
    paid = two.payment("INV-1")
    assert paid.status == "PAID" and paid.amount == Decimal("15000.00") and paid.body["amount"]["value"] == "15000.00"
    assert two.refunded_total("INV-1") == Decimal("5000.00") and [p.partner_reference_no for p in two.payments()] == [
        "INV-1"]
    history = two.to_frame("history")
    assert list(history["status"]) == ["CREATED", "PAID", "REQUESTED", "REFUNDED"] and "origin" not in history
    assert list(two.to_frame("payments", since="9999")["partner_reference_no"]) == []
    one.close()
    two.close()


# --------------------------------------------------------------------------- schema versions


V1_CALLS = """CREATE TABLE calls (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, scenario TEXT NOT NULL DEFAULT '',
started_at TEXT NOT NULL, method TEXT NOT NULL, url TEXT NOT NULL, request_headers TEXT NOT NULL,
request_body TEXT NOT NULL, status INTEGER, response_headers TEXT NOT NULL DEFAULT '{}',
response_body TEXT NOT NULL DEFAULT '', response_code TEXT, response_message TEXT, latency_ms REAL, error TEXT,
sealed BYTEA, sealed_response BYTEA)"""
"""The call log's table as versions before schema versions wrote it (version 1)."""


def _write_v1(backend: Backend) -> None:
    if backend.name == "sqlite":
        with sqlite3.connect(backend.location("calls")) as db:
            db.execute(V1_CALLS.replace("BYTEA", "BLOB"))
            db.execute("INSERT INTO calls (run_id, started_at, method, url, request_headers, request_body)"
                       " VALUES ('old', '2026-01-01T00:00:00+07:00', 'GET', 'https://x/', '{}', '')")
        return
    import psycopg

    with psycopg.connect(backend.location("calls"), autocommit=True) as conn:
        path = conn.execute("SELECT current_setting('search_path')").fetchone()[0]  # type: ignore[index]
        conn.execute(f"CREATE SCHEMA {path}")
        conn.execute(V1_CALLS.replace("INTEGER PRIMARY KEY", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"))
        conn.execute("INSERT INTO calls (run_id, started_at, method, url, request_headers, request_body)"
                     " VALUES ('old', '2026-01-01T00:00:00+07:00', 'GET', 'https://x/', '{}', '')")


def test_an_older_schema_is_upgraded_in_place_a_shared_one_on_request(backend: Backend) -> None:
    _write_v1(backend)
    if backend.name == "postgresql":
        with pytest.raises(SchemaMismatch) as refused:
            CallLog(backend.location("calls"))
        line = str(refused.value)
        assert "schema version 1; this ovo-nb uses version 2. Run `ovo-nb state upgrade` once" in line
        assert "\n" not in line
        open_store(backend.location("calls"), CALLS, upgrade=True).close()
    with CallLog(backend.location("calls"), run_id="new") as log:
        assert log.runs() == ["old"]
        _post(log)
        assert log.runs() == ["old", "new"]
    store = open_store(backend.location("calls"), CALLS)
    assert store.one("SELECT version FROM ovo_nb_schema WHERE room = 'calls'") == (2,)
    store.close()


def test_a_newer_schema_is_refused_in_one_line_saying_what_to_install(backend: Backend) -> None:
    PartnerLedger(backend.location("ledger")).close()
    store = open_store(backend.location("ledger"), LEDGER)
    store.run("UPDATE ovo_nb_schema SET version = 9, written_by = '7.1.0' WHERE room = 'ledger'")
    store.close()
    with pytest.raises(SchemaMismatch) as refused:
        PartnerLedger(backend.location("ledger"))
    assert "at schema version 9, written by ovo-nb 7.1.0; this ovo-nb" in str(refused.value)
    assert "pip install -U 'ovo-nb>=7.1.0'" in str(refused.value)


# --------------------------------------------------------------------------- locks across processes

HOLD = """
import sys, time
from ovo_nb.tokens import TokenVault
from ovo_nb.secretbox import SecretBox
vault = TokenVault(sys.argv[1], box=SecretBox(sys.argv[2]))
for _ in range(5):
    with vault.renewing("081234567890"):
        with open(sys.argv[3], "a") as out:
            out.write("in\\n")
        time.sleep(0.05)
        with open(sys.argv[3], "a") as out:
            out.write("out\\n")
vault.close()
"""


def test_the_renewal_lock_admits_one_process_at_a_time(backend: Backend, tmp_path: Path) -> None:
    key = SecretBox.generate_key()
    TokenVault(backend.location("vault"), box=SecretBox(key)).close()
    trace = tmp_path / "trace"
    holders = [subprocess.Popen([sys.executable, "-c", HOLD, backend.location("vault"), key, str(trace)])
               for _ in range(3)]
    assert [p.wait(timeout=120) for p in holders] == [0, 0, 0]
    assert trace.read_text().split() == ["in", "out"] * 15


# --------------------------------------------------------------------------- the connection string


def test_a_database_url_is_shown_without_its_password() -> None:
    url = with_schema("postgresql://team:s3cr%40t@db.example:5433/ovo?sslmode=require", "ovo_nb_stage")
    shown = masked(url)
    assert shown == "postgresql://team@db.example:5433/ovo?sslmode=require (schema ovo_nb_stage)"
    assert "s3cr" not in shown and with_schema(url, "other") == url


def test_a_refused_connection_is_one_line_without_the_password(pg_cluster: object) -> None:
    url = pg_cluster.url  # type: ignore[attr-defined]
    password = pg_cluster.password  # type: ignore[attr-defined]
    for bad, says in ((url.replace(password, "wrong-" + password[:6]), "password authentication failed"),
                      (url + "?sslmode=require", "server does not support SSL, but SSL was required")):
        with pytest.raises(StateFileError) as refused:
            PartnerLedger(bad)
        line = str(refused.value)
        assert says in line and "\n" not in line and password[:6] not in line, line
        assert line.startswith("Cannot open the ledger tables in postgresql://ovo@127.0.0.1:")
    ledger = PartnerLedger(url + "?sslmode=disable")
    assert ledger.payments() == []
    ledger.close()


def test_only_the_call_log_commits_before_the_disk_has_it(backend: Backend) -> None:
    """The log trades its last moments on a power cut (SQLite) or a server crash (PostgreSQL) for speed; the
    vault and the ledger never do (they keep the server's own setting)."""
    if backend.name == "sqlite":
        asked, fast, full = "PRAGMA synchronous", (1,), (2,)  # NORMAL, FULL
    else:
        asked = "SELECT setting, source FROM pg_settings WHERE name = 'synchronous_commit'"
        fast, full = ("off", "session"), None
    with CallLog(backend.location("calls"), run_id="run-a") as log:
        assert log._store.one(asked) == fast
    box = SecretBox(SecretBox.generate_key())
    for room in (TokenVault(backend.location("vault"), box=box), PartnerLedger(backend.location("ledger"))):
        found = room._store.one(asked)
        assert found == full if full else found is not None and found[1] != "session"
        room.close()
