"""The team soak: client processes sharing one vault, ledger and call log on PostgreSQL, against one sandbox.

Run: .venv/bin/python -m bench.shared_soak [--processes 2] [--customers 3] [--epochs 3] [--payments 8]
     [--state-url postgresql://...]   (default: a throw-away cluster, bench/pgcluster.py)

Starts `ovo-nb sandbox` in its own process and binds the customers once. Then, epoch after epoch, starts the
client processes at the same instant, each paying (and refunding every third payment) for every customer, each
in an ovo-nb home of its own, as teammates on two machines would: they share only the database and the team's
vault key file (OVO_NB_VAULT_KEY_FILE). Between epochs every token expires: the sandbox's clock moves past the
access tokens' 15 days (OVO refuses the old ones) and the shared vault's copies are put back with an expiry in
the past, so each epoch starts with the processes racing to renew every customer's token and the B2B token.

Then it checks: no payment debited twice, exactly one refresh per customer per expiry and one B2B
token per epoch (counted in the shared call log, every refresh answered 200), the shared ledger equal to OVO's
side (the settlement report reconciles with only matched rows, balances equal the movements, the paid total
equals OVO's debits). Exits non-zero when an invariant breaks. The suite runs a short one
(tests/test_shared_state.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.soak import SoakReport, _check, _Server, finish, restore_environment

__all__ = ["run_shared_soak"]

EPOCH = timedelta(days=15, minutes=2)
"""How far each epoch moves both clocks: past the access token's 15 days (and the B2B token's 15 minutes)."""
START_CASH = "100000000"


def worker(args: argparse.Namespace) -> None:
    """One client process: wait for the start, pay for every customer, refund every third; print a summary."""
    from ovo_nb.errors import OvoNbError
    from ovo_nb.flows import Ovo

    go = Path(args.go)
    while not go.exists():
        time.sleep(0.005)
    paid, refunded, failed = 0, 0, []
    with Ovo.open() as ovo:
        phones = args.phones.split(",")
        for n in range(args.payments):
            phone = phones[n % len(phones)]
            try:
                outcome = ovo.pay(phone, 10_000 + 1_000 * (n % 7))
                paid += 1
                if n % 3 == 0:
                    ovo.refund(outcome.partner_reference_no, 2_000)
                    refunded += 1
            except OvoNbError as exc:
                failed.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"paid": paid, "refunded": refunded, "failed": failed}))


def _expire_tokens(ovo: Any, phones: list[str]) -> None:
    """Every token past its life: at OVO (its clock 15 days on) and in the shared vault (expiry in the past)."""
    from ovo_nb.snap import normalize_phone
    from ovo_nb.tokens import PARTNER

    ovo.sandbox.advance_clock(EPOCH.total_seconds())
    past = ovo.session.now() - timedelta(seconds=1)
    for who, kind in [(normalize_phone(p), "access") for p in phones] + [(PARTNER, "b2b")]:
        token = ovo.vault.get(who, kind)
        if token is not None:
            ovo.vault.put(who, kind, token, expires_at=past)


def _home_for(folder: Path, shared_home: Path, name: str) -> Path:
    """An ovo-nb home of one teammate: the sandbox partner's key and credentials, nothing else shared."""
    home = folder / name
    shutil.copytree(shared_home / "sandbox", home / "sandbox",
                    ignore=shutil.ignore_patterns("state.sqlite*"), dirs_exist_ok=True)
    return home


def run_shared_soak(folder: str | Path, state_url: str, *, processes: int = 2, customers: int = 3, epochs: int = 3,
                    payments: int = 8) -> SoakReport:
    """Run the team soak in ``folder`` against the database at ``state_url``; returns the figures and invariants."""
    folder = Path(folder)
    home = folder / "home"
    key_file = folder / "team-vault.key"
    env = {**os.environ, "OVO_NB_HOME": str(home), "OVO_NB_STATE_URL": state_url,
           "OVO_NB_VAULT_KEY_FILE": str(key_file)}
    env.pop("OVO_NB_VAULT_KEY", None)
    env.pop("OVO_NB_MANUAL_WEBVIEW", None)
    previous = {k: os.environ.get(k) for k in ("OVO_NB_HOME", "OVO_NB_SANDBOX_URL", "OVO_NB_STATE_URL",
                                                "OVO_NB_VAULT_KEY_FILE", "OVO_NB_VAULT_KEY", "OVO_NB_MANUAL_WEBVIEW")}
    server = _Server(folder / "sandbox.sqlite", env)
    report = SoakReport()
    started = time.perf_counter()
    server.start()
    env["OVO_NB_SANDBOX_URL"] = server.url
    os.environ.update({k: v for k, v in env.items() if k.startswith("OVO_NB_")})
    for name in ("OVO_NB_VAULT_KEY", "OVO_NB_MANUAL_WEBVIEW"):
        os.environ.pop(name, None)
    try:
        from ovo_nb.calllog import CallLog
        from ovo_nb.flows import Ovo
        from ovo_nb.secretbox import SecretBox

        SecretBox.write_key(key_file)
        phones = [f"0818{n:08d}" for n in range(customers)]
        with Ovo.open() as ovo:
            admin = ovo.sandbox
            assert admin is not None
            for phone in phones:
                admin.add_customer(phone, cash=START_CASH)
                ovo.bind(phone)
            homes = [_home_for(folder, home, f"teammate-{i}") for i in range(processes)]
            outcomes: list[dict[str, Any]] = []
            for epoch in range(epochs):
                if epoch:
                    _expire_tokens(ovo, phones)
                go = folder / f"go-{epoch}"
                running = [subprocess.Popen(
                    [sys.executable, "-m", "bench.shared_soak", "--worker", "--go", str(go), "--phones",
                     ",".join(phones), "--payments", str(payments)],
                    env={**env, "OVO_NB_HOME": str(teammate)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True, cwd=Path(__file__).resolve().parent.parent) for teammate in homes]
                time.sleep(1.0)  # every process imported and waiting
                go.write_text("go")
                for process in running:
                    out, err = process.communicate(timeout=600)
                    if process.returncode != 0:
                        report.problems.append(f"a client process failed: {err.strip().splitlines()[-1:]}")
                        continue
                    outcomes.append(json.loads(out.strip().splitlines()[-1]))
            report.payments_attempted = processes * epochs * payments
            report.payments_paid = sum(o["paid"] for o in outcomes)
            report.refunds = sum(o["refunded"] for o in outcomes)
            report.problems += [f for o in outcomes for f in o["failed"]][:5]
            report.invariants["every client process finished"] = len(outcomes) == processes * epochs
            report.invariants["every payment and refund succeeded"] = not any(o["failed"] for o in outcomes) and \
                report.payments_paid == report.payments_attempted
            with CallLog.open(ovo.profile.state_location("calls")) as log:
                calls = log.calls(all_runs=True)
            refreshes = [c for c in calls if c.scenario == "refresh access token"]
            b2b = [c for c in calls if c.scenario == "b2b token"]
            report.invariants["exactly one refresh per customer per expiry"] = (
                len(refreshes) == customers * (epochs - 1) and all(c.status == 200 for c in refreshes))
            report.invariants["exactly one B2B token per expiry"] = len(b2b) == epochs and all(
                c.status == 200 for c in b2b)
            if not report.invariants["exactly one refresh per customer per expiry"]:
                report.problems.append(f"refresh calls: {len(refreshes)} (expected {customers * (epochs - 1)}): "
                                       f"{[(c.id, c.status, c.response_code) for c in refreshes]}")
            ids = [c.id for c in calls]
            report.invariants["call ids unique across writers"] = len(ids) == len(set(ids))
            _check(ovo, admin, phones, folder, report)
            report.calls = len(calls)
    finally:
        server.stop()
        restore_environment(previous)
    report.seconds = time.perf_counter() - started
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--go", help=argparse.SUPPRESS)
    parser.add_argument("--phones", help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--customers", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--payments", type=int, default=8, help="payments per process per epoch")
    parser.add_argument("--state-url", default=None, help="the database (default: a throw-away cluster)")
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    from bench.pgcluster import throwaway_cluster

    folder = tempfile.mkdtemp()
    if args.state_url:
        report = run_shared_soak(folder, args.state_url, processes=args.processes, customers=args.customers,
                                 epochs=args.epochs, payments=args.payments)
    else:
        with throwaway_cluster() as cluster:
            report = run_shared_soak(folder, cluster.url, processes=args.processes, customers=args.customers,
                                     epochs=args.epochs, payments=args.payments)
    finish(report)


if __name__ == "__main__":
    main()
