"""The soak: many payments and refunds through a faulty, restarting sandbox server, then the invariants.

Run: .venv/bin/python -m bench.soak [--payments 1000] [--customers 8] [--workers 4] [--fault-rate 0.12]

Starts `ovo-nb sandbox` as its own process, binds customers, and has worker threads pay and refund
through :class:`~ovo_nb.flows.Ovo` while faults are injected at random into about 10 % of calls
(timeouts before and after commit, 5xx, dropped connections, slow answers) and the server process
is killed and restarted once. Then it settles what the outages left open and checks, through the
sandbox's admin API only: no payment debited twice, each customer's balance equals OVO's movements,
the partner's paid total equals OVO's debits, none is stuck, reconciliation finds only matched
rows. Exits non-zero when an invariant breaks. The suite runs a short one
(tests/test_soak_and_security.py).
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from bench.pgcluster import free_port
from ovo_nb.environments import SandboxAdmin
from ovo_nb.errors import OvoNbError

__all__ = ["SoakReport", "run_soak"]

FAULTED_APIS = ("balance_inquiry", "debit_payment", "debit_status", "debit_refund", "generate_token")
FAULTS = ("timeout_before", "timeout_after_commit", "error_500", "drop_before", "drop_after_commit", "slow")
CLIENT_TIMEOUT = 1.0
"""Seconds the soak's client waits for an answer; injected timeouts hold the line longer."""


@dataclass
class SoakReport:
    """The figures of one soak run and the invariants it checked."""

    payments_attempted: int = 0
    payments_paid: int = 0
    refunds: int = 0
    calls: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    recoveries: int = 0
    settled_after: int = 0
    restarts: int = 0
    seconds: float = 0.0
    invariants: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(self.invariants.values())

    def lines(self) -> list[str]:
        faulted = sum(self.faults.values())
        rows = [("payments attempted", self.payments_attempted), ("payments paid", self.payments_paid),
                ("refunds", self.refunds), ("calls", self.calls),
                ("faults injected", f"{faulted} ({faulted / max(self.calls, 1):.1%} of calls)"),
                *((f"  {kind}", n) for kind, n in sorted(self.faults.items())),
                ("retries", self.retries), ("recovered by status inquiry", self.recoveries),
                ("settled after the run", self.settled_after), ("server restarts", self.restarts),
                ("seconds", f"{self.seconds:.1f}"),
                *((f"invariant: {name}", "holds" if held else "BROKEN") for name, held in self.invariants.items())]
        return [f"{label:<52}  {value}" for label, value in rows]


class _Server:
    """``ovo-nb sandbox`` in its own process, restartable on the same port and state file."""

    def __init__(self, state: Path, env: dict[str, str]) -> None:
        self.state, self.env, self.port = state, env, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ovo_nb.cli", "sandbox", "--port", str(self.port), "--state", str(self.state),
             "--no-demo"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/_sandbox", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise OvoNbError("The sandbox server did not start within 60 s.")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)

    def retrying(self, operation: Any) -> Any:
        """Run an admin operation, waiting while the server restarts."""
        for _ in range(50):
            try:
                return operation()
            except OvoNbError:
                time.sleep(0.2)
        raise OvoNbError("The sandbox admin API did not answer for 10 s.")


def run_soak(folder: str | Path, *, customers: int = 8, payments: int = 1000, workers: int = 4,
             fault_rate: float = 0.12, refund_every: int = 4, seed: int = 2026) -> SoakReport:
    """Run the soak in ``folder`` (its own ovo-nb home); returns the figures and invariants."""
    folder = Path(folder)
    home = folder / "home"
    env = {**os.environ, "OVO_NB_HOME": str(home)}
    previous = {k: os.environ.get(k) for k in ("OVO_NB_HOME", "OVO_NB_SANDBOX_URL", "OVO_NB_MANUAL_WEBVIEW")}
    server = _Server(folder / "sandbox.sqlite", env)
    report = SoakReport()
    started = time.perf_counter()
    server.start()
    os.environ.update(OVO_NB_HOME=str(home), OVO_NB_SANDBOX_URL=server.url)
    os.environ.pop("OVO_NB_MANUAL_WEBVIEW", None)
    try:
        from ovo_nb.flows import Ovo

        ovo = Ovo.open(sleep=lambda seconds: time.sleep(min(seconds, 0.5)))
        admin = ovo.sandbox
        assert admin is not None
        ovo.client.http.timeout = httpx.Timeout(CLIENT_TIMEOUT)
        phones = [f"0817{n:08d}" for n in range(customers)]
        for phone in phones:
            admin.add_customer(phone, cash="100000000")
            ovo.bind(phone)
        _drive(ovo, server, admin, phones, payments, workers, fault_rate, refund_every, seed, report)
        server.retrying(admin.clear_faults)
        server.retrying(lambda: admin.advance_clock(16 * 60))  # abandoned PIN pages expire
        report.settled_after = len(ovo.resolve_unknown())
        _check(ovo, admin, phones, folder, report)
        ovo.close()
    finally:
        server.stop()
        restore_environment(previous)
    report.seconds = time.perf_counter() - started
    return report


def _drive(ovo: Any, server: _Server, admin: SandboxAdmin, phones: list[str], payments: int, workers: int,
           fault_rate: float, refund_every: int, seed: int, report: SoakReport) -> None:
    lock = threading.Lock()
    counter = iter(range(payments))
    restart_at = payments // 2

    def worker(index: int) -> None:
        rng = random.Random(seed + index)
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            if n == restart_at:
                server.stop()
                server.start()
                report.restarts += 1
            if rng.random() < fault_rate * 4:  # about four calls per payment are exposed to a fault
                kind = rng.choice(FAULTS)
                api, delay = rng.choice(FAULTED_APIS), 0.2 if kind == "slow" else CLIENT_TIMEOUT + 0.3
                server.retrying(functools.partial(admin.add_fault, api, kind, delay_seconds=delay))
                with lock:
                    report.faults[kind] += 1
            phone = phones[(index + n) % len(phones)]
            with lock:
                report.payments_attempted += 1
            try:
                outcome = ovo.pay(phone, 10_000 + (n % 13) * 1_000)
            except (OvoNbError, httpx.HTTPError):
                continue  # left for resolve_unknown() at the end
            with lock:
                report.payments_paid += 1
            if n % refund_every == 0:
                try:
                    ovo.refund(outcome.partner_reference_no, 5_000)
                    with lock:
                        report.refunds += 1
                except (OvoNbError, httpx.HTTPError):
                    continue

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _check(ovo: Any, admin: SandboxAdmin, phones: list[str], folder: Path, report: SoakReport) -> None:
    from ovo_nb.reconciliation import from_ledger, load_records, reconcile

    frame = ovo.client.call_log.to_frame()
    report.calls = len(frame)
    report.retries = int(frame["scenario"].str.contains("retry").sum())
    ledger = ovo.ledger.to_frame("payments")
    history = ovo.ledger.to_frame("history")
    report.recoveries = int(history["note"].str.contains("recovered by status inquiry").sum())
    stuck = ledger[ledger["status"].isin(["CREATED", "AWAITING_PIN", "UNKNOWN"])]
    report.invariants["no payment without a final state"] = stuck.empty
    if not stuck.empty:
        report.problems.append(f"stuck: {stuck[['partner_reference_no', 'status']].to_dict('records')[:5]}")
    csv_path = folder / "settlement.csv"
    csv_path.write_text(admin.settlement_csv())
    result = reconcile(from_ledger(ovo.ledger), load_records(csv_path, side="OVO", mapping={"type": "record_type"}))
    open_rows = result.rows[result.rows["category"] != "matched"]
    report.invariants["reconciliation finds only matched rows"] = open_rows.empty
    if not open_rows.empty:
        report.problems.append(f"open rows: {open_rows[['key', 'category']].to_dict('records')[:5]}")
    movements = {phone: admin.customer_ledger(phone) for phone in phones}
    debits = Counter(m["partnerReferenceNo"] for moves in movements.values() for m in moves if m["entry"] == "DEBIT")
    report.invariants["no payment debited twice"] = all(n == 1 for n in debits.values())
    balanced = True
    for phone, moves in movements.items():
        expected = Decimal("100000000.00")
        for move in moves:
            if move["entry"] in ("DEBIT", "REFUND"):
                expected += Decimal(move["amount"]) if move["entry"] == "REFUND" else -Decimal(move["amount"])
        balanced &= Decimal(admin.customer(phone)["cash"]) == expected
    report.invariants["balances equal the ledger's movements"] = balanced
    paid = ledger[ledger["status"].isin(["PAID", "PARTIALLY_REFUNDED", "REFUNDED"])]
    debited = sum((Decimal(m["amount"]) for moves in movements.values() for m in moves if m["entry"] == "DEBIT"),
                  Decimal(0))
    report.invariants["partner's paid total equals OVO's debits"] = (
        sum((Decimal(a) for a in paid["amount"]), Decimal(0)) == debited)


def restore_environment(previous: dict[str, str | None]) -> None:
    """Put the variables a soak set back as they were (``None``: unset)."""
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def finish(report: SoakReport) -> None:
    """Print the figures and the problems; exit non-zero when an invariant broke."""
    print(f"{'figure':<52}  value")
    print("\n".join(report.lines()))
    for problem in report.problems:
        print(f"problem: {problem}")
    sys.exit(0 if report.ok else 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--fault-rate", type=float, default=0.12)
    args = parser.parse_args()
    report = run_soak(tempfile.mkdtemp(), customers=args.customers, payments=args.payments, workers=args.workers,
                      fault_rate=args.fault_rate)
    finish(report)


if __name__ == "__main__":
    main()
