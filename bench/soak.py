"""The soak, with figures: payments and refunds through a faulty, restarting sandbox server.

Run: .venv/bin/python bench/soak.py [--payments 1000] [--customers 8] [--workers 4] [--fault-rate 0.12]

Starts `ovo-nb sandbox` as its own process, injects faults at random into about 10 % of calls
(timeouts before and after commit, 5xx, dropped connections, slow answers), kills and restarts
the server once mid-run, then checks the invariants: ledger = sandbox, no double debit, no
payment stuck, reconciliation all matched. Exits non-zero when an invariant breaks.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from ovo_nb.soak import run_soak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--fault-rate", type=float, default=0.12)
    args = parser.parse_args()
    report = run_soak(tempfile.mkdtemp(), customers=args.customers, payments=args.payments, workers=args.workers,
                      fault_rate=args.fault_rate)
    print(f"{'figure':<52}  value")
    print("\n".join(report.lines()))
    for problem in report.problems:
        print(f"problem: {problem}")
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
