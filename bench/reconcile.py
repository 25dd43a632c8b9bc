"""Reconciliation at scale: N partner rows against N OVO rows with ~1 % discrepancies of every kind.

Run: .venv/bin/python bench/reconcile.py [--rows 1000000]

Prints the wall time of reconcile() (inputs already validated into the common schema) as a
ratio to a bare pandas outer merge on the same keys in the same run (target <= 3), the time
of load_records() validation, and the peak memory of the process (target < 2 GB).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from ovo_nb.reconciliation import load_records, reconcile


def sides(rows: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    refs = pd.Series([f"INV-{i:09d}" for i in range(rows)], dtype="string")
    sen = rng.integers(1_000_00, 5_000_000_00, rows)
    amount = pd.Series(sen // 100, dtype="string") + "." + pd.Series(sen % 100, dtype="string").str.zfill(2)
    day = pd.Series(rng.integers(1, 29, rows)).astype("string").str.zfill(2)
    base = pd.DataFrame({"record_type": "PAYMENT", "partner_reference_no": refs, "partner_refund_no": "",
                         "amount": amount, "status": "SUCCESS", "time": "2026-11-" + day + "T10:00:00+07:00"})
    partner, ovo = base.copy(), base.copy()
    slice_ = rows // 500  # 0.2 % per kind, five kinds: ~1 %
    partner = partner.drop(index=range(0, slice_))  # missing at partner
    ovo = ovo.drop(index=range(slice_, 2 * slice_))  # missing at OVO
    ovo.loc[2 * slice_:3 * slice_ - 1, "amount"] = "1.00"  # amount mismatch
    partner.loc[3 * slice_:4 * slice_ - 1, "status"] = "PENDING"  # status mismatch
    partner = pd.concat([partner, partner.loc[4 * slice_:5 * slice_ - 1]])  # duplicates
    refunds = base.loc[5 * slice_:7 * slice_ - 1].assign(record_type="REFUND", amount="1.00")
    refunds["partner_refund_no"] = "RF-" + refunds["partner_reference_no"]
    partner = pd.concat([partner, refunds.iloc[:slice_]])  # refunds on both sides...
    ovo = pd.concat([ovo, refunds])  # ...and some only at OVO: refund mismatches
    return partner.reset_index(drop=True), ovo.reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    partner_raw, ovo_raw = sides(args.rows)
    started = time.perf_counter()
    partner = load_records(partner_raw, side="partner")
    ovo = load_records(ovo_raw, side="OVO")
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    partner[["key", "sen", "status"]].merge(ovo[["key", "sen", "status"]], on="key", how="outer", indicator=True)
    bare_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = reconcile(partner, ovo)
    ours = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert int(result.rows["partner_sen"].sum()) == int(partner["sen"].sum())
    print(f"{'figure':<52} {'value':>12}")
    print(f"{'rows per side':<52} {args.rows:>12,}")
    print(f"{'validation into the common schema, both sides (s)':<52} {load_seconds:>12.2f}")
    print(f"{'bare pandas outer merge (s)':<52} {bare_seconds:>12.2f}")
    print(f"{'reconcile() (s)':<52} {ours:>12.2f}")
    print(f"{'reconcile / bare merge (target <= 3)':<52} {ours / bare_seconds:>12.2f}")
    print(f"{'peak memory, whole process (MB, target < 2048)':<52} {peak_mb:>12.0f}")
    for category, count in result.counts().items():
        print(f"{'rows: ' + category:<52} {count:>12,}")


if __name__ == "__main__":
    main()
