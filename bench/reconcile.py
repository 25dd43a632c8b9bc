"""Reconciliation at scale: N partner rows against N OVO rows with ~1 % discrepancies of every kind.

Run: .venv/bin/python bench/reconcile.py [--rows 1000000] [--spark]

Both sides are written as Parquet files first (by DuckDB, not timed). Then, each in a fresh
process so its peak memory is its own: a bare DuckDB full outer join of the two files on the
key, and the whole reconciliation end to end (read the files, validate, match, counts and
totals). Prints the time of each, their ratio (target <= 2 at 1,000,000 rows a side), and the
reconciliation's peak resident memory (target < 3 GB at 10,000,000 rows a side). ``--spark``
adds the same reconciliation on local Spark (a figure, no target).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENERATE = """
WITH base AS (
  SELECT i, 'INV-' || lpad(CAST(i AS VARCHAR), 10, '0') AS ref, 100000 + hash(i) % 499900000 AS sen,
         '2026-11-' || lpad(CAST(1 + i % 28 AS VARCHAR), 2, '0') || 'T10:00:00+07:00' AS time
  FROM range({rows}) t(i)
), payments AS (
  SELECT i, 'PAYMENT' AS record_type, ref AS partner_reference_no, '' AS partner_refund_no,
         CAST(sen // 100 AS VARCHAR) || '.' || lpad(CAST(sen % 100 AS VARCHAR), 2, '0') AS amount, time
  FROM base
)
"""
PARTNER = GENERATE + """
SELECT record_type, partner_reference_no, partner_refund_no, amount,
       CASE WHEN i BETWEEN 3 * {s} AND 4 * {s} - 1 THEN 'PENDING' ELSE 'SUCCESS' END AS status, time
FROM payments WHERE i >= {s}
UNION ALL SELECT record_type, partner_reference_no, partner_refund_no, amount, 'SUCCESS', time
FROM payments WHERE i BETWEEN 4 * {s} AND 5 * {s} - 1
UNION ALL SELECT 'REFUND', partner_reference_no, 'RF-' || partner_reference_no, '1.00', 'SUCCESS', time
FROM payments WHERE i BETWEEN 5 * {s} AND 6 * {s} - 1
"""
OVO = GENERATE + """
SELECT record_type, partner_reference_no, partner_refund_no,
       CASE WHEN i BETWEEN 2 * {s} AND 3 * {s} - 1 THEN '1.00' ELSE amount END AS amount, 'SUCCESS' AS status, time
FROM payments WHERE i < {s} OR i >= 2 * {s}
UNION ALL SELECT 'REFUND', partner_reference_no, 'RF-' || partner_reference_no, '1.00', 'SUCCESS', time
FROM payments WHERE i BETWEEN 5 * {s} AND 7 * {s} - 1
"""

BARE = """
import duckdb, resource, sys, time
import tempfile
con = duckdb.connect(); con.execute("SET memory_limit = '2GB'"); con.execute("SET enable_progress_bar = false")
con.execute(f"SET temp_directory = '{tempfile.mkdtemp()}'")
started = time.perf_counter()
con.execute(f"CREATE TEMP TABLE j AS SELECT * FROM read_parquet('{sys.argv[1]}') p FULL OUTER JOIN "
            f"read_parquet('{sys.argv[2]}') o USING (record_type, partner_reference_no, partner_refund_no)")
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
OURS = """
import resource, sys, time
from ovo_nb.reconciliation import reconcile
started = time.perf_counter()
result = reconcile(sys.argv[1], sys.argv[2])
counts, totals = result.counts(), result.totals()
seconds = time.perf_counter() - started
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, int(counts.sum()))
"""
SPARK = """
import sys, time
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.driver.memory", "4g").config("spark.sql.shuffle.partitions", "8").getOrCreate())
from ovo_nb.reconciliation import reconcile
started = time.perf_counter()
result = reconcile(spark.read.parquet(sys.argv[1]), spark.read.parquet(sys.argv[2]))
counts, totals = result.counts(), result.totals()
print(time.perf_counter() - started, 0, int(counts.sum()))
spark.stop()
"""


def run(code: str, *args: str) -> list[float]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return [float(v) for v in done.stdout.strip().splitlines()[-1].split()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--spark", action="store_true", help="also reconcile on local Spark")
    args = parser.parse_args()
    import duckdb

    folder = Path(tempfile.mkdtemp())
    partner, ovo = folder / "partner.parquet", folder / "ovo.parquet"
    slice_ = max(args.rows // 500, 1)  # 0.2 % per kind: ~1 % in all
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    for sql, path in ((PARTNER, partner), (OVO, ovo)):
        con.execute(f"COPY ({sql.format(rows=args.rows, s=slice_)}) TO '{path}' (FORMAT parquet)")
    bare_seconds, bare_mb = run(BARE, str(partner), str(ovo))[:2]
    ours_seconds, ours_mb, rows_out = run(OURS, str(partner), str(ovo))
    figures = {"rows per side": f"{args.rows:,}", "output rows": f"{int(rows_out):,}",
               "bare DuckDB full outer join of the Parquet files (s)": f"{bare_seconds:.2f}",
               "reconcile end to end: read, validate, match, counts, totals (s)": f"{ours_seconds:.2f}",
               "reconcile / bare join (target <= 2 at 1,000,000)": f"{ours_seconds / bare_seconds:.2f}",
               "reconcile peak resident memory (MB; target < 3072 at 10,000,000)": f"{ours_mb:.0f}",
               "bare join peak resident memory (MB)": f"{bare_mb:.0f}"}
    if args.spark:
        started = time.perf_counter()
        spark_seconds = run(SPARK, str(partner), str(ovo))[0]
        figures["the same on local Spark, reconcile only (s)"] = f"{spark_seconds:.2f}"
        figures["local Spark including its start (s)"] = f"{time.perf_counter() - started:.2f}"
    print(f"{'figure':<66} {'value':>12}")
    for label, value in figures.items():
        print(f"{label:<66} {value:>12}")
    print(json.dumps({"folder": str(folder)}), file=sys.stderr)


if __name__ == "__main__":
    main()
