"""Where calls go: each environment, its admin controls, and nothing left open afterwards."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from ovo_nb.environments import ENVIRONMENTS, open_environment
from ovo_nb.errors import ValidationError
from ovo_nb.flows import Ovo
from ovo_nb.sandbox import SandboxServer, open_sandbox


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_hundred_open_close_cycles_leave_no_file_descriptor() -> None:
    with Ovo.open() as ovo:  # the first opening makes the sandbox partner's key and files
        ovo.bind("081234567890")
    gc.collect()  # what earlier tests left for the collector closes now, not during the count
    before = open_fds()
    for _ in range(100):
        with Ovo.open() as ovo:
            ovo.balance("081234567890")
    gc.collect()
    assert open_fds() - before <= 0  # not one descriptor gained


def test_closing_checkpoints_so_a_copied_database_holds_everything(tmp_path: Path) -> None:
    with Ovo.open() as ovo:
        ovo.bind("081234567890")
        payment = ovo.pay("081234567890", "15000")
        state = ovo.profile.state_dir
    for name in ("ledger.sqlite", "vault.sqlite", "calls.sqlite"):
        wal = state / f"{name}-wal"
        assert not wal.exists() or wal.stat().st_size == 0, name
    copy = tmp_path / "ledger-copy.sqlite"
    copy.write_bytes((state / "ledger.sqlite").read_bytes())  # the file alone, no -wal beside it
    import sqlite3

    with sqlite3.connect(copy) as db:
        assert db.execute("SELECT status FROM payments WHERE partner_reference_no = ?",
                          (payment.partner_reference_no,)).fetchone() == ("PAID",)


def test_the_registry_names_every_kind() -> None:
    assert set(ENVIRONMENTS) == {"in-process", "loopback", "stage", "production"}


def test_ovo_has_no_admin_and_no_headless_webview(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"OVO_NB_CLIENT_ID": "oamerchantx", "OVO_NB_CLIENT_SECRET": "s3cret",
                       "OVO_NB_MERCHANT_ID": "MX"}.items():
        monkeypatch.setenv(key, value)
    env = open_environment("stage")
    try:
        assert (env.name, env.admin, env.completer, env.transport) == ("OVO stage", None, None, None)
    finally:
        env.close()


def test_the_loopback_sandbox_through_its_admin_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox, _ = open_sandbox(tmp_path / "state.sqlite")
    with SandboxServer(sandbox) as server:
        monkeypatch.setenv("OVO_NB_SANDBOX_URL", server.url)
        with Ovo.open() as ovo:
            admin = ovo.sandbox
            assert admin is not None and ovo.environment is not None
            assert ovo.environment.name == "loopback sandbox"
            phone = admin.add_customer("081311112222", cash="250000")
            ovo.bind(phone)
            paid = ovo.pay(phone, "15000")
            assert admin.customer(phone)["cash"] == "235000.00"
            assert [m["entry"] for m in admin.customer_ledger(phone)] == ["DEBIT"]
            assert paid.partner_reference_no in admin.settlement_csv()
            admin.set_partner(ovo.profile.client_id, daily_refund_limit="1000.00")
            assert admin.advance_clock(60) is not None
            admin.add_fault("balance_inquiry", "error_500")
            admin.clear_faults()
            assert admin.unlink_in_app(phone) == [ovo.profile.client_id]
            with pytest.raises(ValidationError, match="refused"):
                admin.add_customer("12")
    sandbox.store.close()


def test_the_loopback_sandbox_needs_its_credentials_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVO_NB_SANDBOX_URL", "http://127.0.0.1:9")
    with pytest.raises(ValidationError, match="start the sandbox first"):
        open_environment()
