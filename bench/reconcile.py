"""Reconciliation at scale, against the peer people would pick and against the floor.

Run: .venv/bin/python -m bench.reconcile [--rows 100000 1000000 10000000] [--repeat 3] [--spark]

For each size, N partner rows against N OVO rows with ~1 % discrepancies of every kind (amounts,
statuses, missing on either side, duplicates, refunds) are written as Parquet files (by DuckDB, not
timed). Then each tool runs in a fresh process of its own, ``--repeat`` times, on the same files:

- ovo-nb: ``reconcile(partner_files, ovo_files)`` end to end (read, validate, match, classify every
  row) and its counts and totals;
- datacompy on pandas and on Polars (the library people use to compare two tables): read both
  files, compare on the key columns, count the rows only on each side and the rows that differ;
- a bare DuckDB full outer join of the two files on the key, materialised: the floor.

A figure is the median time of the work inside the process (imports excluded, the same rule for
every tool) with its peak resident memory; the whole process (interpreter start and imports
included) is in the second table. A run over ``--memory-cap`` GB is stopped and shown as such
(datacompy on pandas does not fit 10M rows a side in 8 GB). Targets, printed at the end: faster
than both datacompys at every size; 1M a side within 3x the bare join (the goal stays 2x);
10M a side within 30 s and under 3 GB. ``--spark`` adds ovo-nb on local Spark (a figure).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
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
KEY = ["record_type", "partner_reference_no", "partner_refund_no"]

# Each tool: Python run in a fresh process with the two files as argv; it prints one JSON line.
REPORT = """
import json, resource, time
print(json.dumps({"seconds": time.perf_counter() - started, "found": found,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
TOOLS = {
    "ovo-nb": """
import sys, time
import duckdb  # every tool's libraries are imported before the clock starts
from ovo_nb.reconciliation import reconcile
started = time.perf_counter()
result = reconcile(sys.argv[1], sys.argv[2])
counts, totals = result.counts(), result.totals()
found = int(counts.drop("matched").sum())
""",
    "datacompy pandas": f"""
import sys, time
import datacompy, pandas as pd
started = time.perf_counter()
compare = datacompy.PandasCompare(pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2]), join_columns={KEY})
found = len(compare.df1_unq_rows) + len(compare.df2_unq_rows) + len(compare.all_mismatch())
""",
    "datacompy Polars": f"""
import sys, time
import datacompy, polars as pl
started = time.perf_counter()
compare = datacompy.PolarsCompare(pl.read_parquet(sys.argv[1]), pl.read_parquet(sys.argv[2]), join_columns={KEY})
found = len(compare.df1_unq_rows) + len(compare.df2_unq_rows) + len(compare.all_mismatch())
""",
    "bare DuckDB join": f"""
import sys, tempfile, time
import duckdb
spill = tempfile.TemporaryDirectory()
con = duckdb.connect()
con.execute("SET memory_limit = '2GB'"); con.execute("SET enable_progress_bar = false")
con.execute(f"SET temp_directory = '{{spill.name}}'")
started = time.perf_counter()
con.execute(f"CREATE TEMP TABLE j AS SELECT * FROM read_parquet('{{sys.argv[1]}}') p FULL OUTER JOIN "
            f"read_parquet('{{sys.argv[2]}}') o USING ({', '.join(KEY)})")
found = con.execute("SELECT count(*) FROM j").fetchone()[0]
""",
}
SPARK = """
import sys, time
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.driver.memory", "4g").config("spark.sql.shuffle.partitions", "8").getOrCreate())
from ovo_nb.reconciliation import reconcile
started = time.perf_counter()
result = reconcile(spark.read.parquet(sys.argv[1]), spark.read.parquet(sys.argv[2]))
found = int(result.counts().drop("matched").sum())
"""


@dataclass
class Figure:
    """One tool at one size: each run's work and process seconds, the peak memory, or why it stopped."""

    work: list[float] = field(default_factory=list)
    process: list[float] = field(default_factory=list)
    peak_mb: float = 0.0
    stopped: str = ""

    def cell(self, process: bool = False) -> str:
        if self.stopped:
            return self.stopped
        seconds = statistics.median(self.process if process else self.work)
        return f"{seconds:.2f} s" if process else f"{seconds:.2f} s, {self.peak_mb:,.0f} MB"


def rss_mb(pid: int) -> float:
    """The resident memory of a process and its children, in MB (0 once it is gone)."""
    total = 0.0
    for status in [Path(f"/proc/{pid}/status"), *Path(f"/proc/{pid}/task").glob("*/children")]:
        try:
            if status.name == "status":
                line = next(line for line in status.read_text().splitlines() if line.startswith("VmRSS:"))
                total += int(line.split()[1]) / 1024
            else:
                total += sum(rss_mb(int(child)) for child in status.read_text().split())
        except (OSError, StopIteration, ValueError):
            continue
    return total


def run(code: str, files: tuple[Path, Path], cap_mb: float, timeout: float) -> tuple[dict[str, float], float, str]:
    """One fresh process: its report, its wall time, and why it was stopped (empty if it was not)."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code + REPORT, *map(str, files)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, rss_mb(process.pid))
        if peak > cap_mb or time.perf_counter() - started > timeout:
            process.kill()
            process.wait()
            reason = f"over {cap_mb / 1024:.0f} GB" if peak > cap_mb else f"over {timeout:.0f} s"
            return {}, time.perf_counter() - started, reason
        time.sleep(0.1)
    wall = time.perf_counter() - started
    out, err = process.communicate()
    if process.returncode != 0:
        return {}, wall, f"failed: {(err.strip().splitlines() or ['?'])[-1][:40]}"
    return json.loads(out.strip().splitlines()[-1]), wall, ""


def generate(rows: int, folder: Path) -> tuple[Path, Path]:
    import duckdb

    partner, ovo = folder / f"partner-{rows}.parquet", folder / f"ovo-{rows}.parquet"
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    for sql, path in ((PARTNER, partner), (OVO, ovo)):
        con.execute(f"COPY ({sql.format(rows=rows, s=max(rows // 500, 1))}) TO '{path}' (FORMAT parquet)")
    return partner, ovo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="rows a side, each size")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and size (the median is shown)")
    parser.add_argument("--memory-cap", type=float, default=8.0, help="GB a run may use before it is stopped")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a run may take before it is stopped")
    parser.add_argument("--spark", action="store_true", help="also ovo-nb on local Spark (a figure, no target)")
    args = parser.parse_args()
    tools = {**TOOLS, **({"ovo-nb on Spark": SPARK} if args.spark else {})}
    folder = Path(tempfile.mkdtemp(prefix="ovo-nb-bench-"))
    figures: dict[int, dict[str, Figure]] = {}
    found: dict[int, dict[str, float]] = {}
    for rows in args.rows:
        files = generate(rows, folder)
        figures[rows], found[rows] = {}, {}
        for _ in range(args.repeat):
            for name, code in tools.items():  # interleaved: a machine getting busier touches every tool alike
                figure = figures[rows].setdefault(name, Figure())
                if figure.stopped:
                    continue
                report, wall, stopped = run(code, files, args.memory_cap * 1024, args.timeout)
                if stopped:
                    figure.stopped = stopped
                    continue
                figure.work.append(report["seconds"])
                figure.process.append(wall)
                figure.peak_mb = max(figure.peak_mb, report["peak_mb"])
                found[rows][name] = report["found"]
        for path in files:
            path.unlink()
    folder.rmdir()
    names = list(tools)
    width = max(len(n) for n in names) + 2
    print(f"{'rows a side':<12}" + "".join(f"{n:>{width + 6}}" for n in names) + f"{'ovo-nb / join':>16}")
    for rows, row in figures.items():
        ratio = (f"{statistics.median(row['ovo-nb'].work) / statistics.median(row['bare DuckDB join'].work):.2f}"
                 if not row["ovo-nb"].stopped and not row["bare DuckDB join"].stopped else "-")
        print(f"{rows:<12,}" + "".join(f"{row[n].cell():>{width + 6}}" for n in names) + f"{ratio:>16}")
    print("whole process, interpreter start and imports included:")
    for rows, row in figures.items():
        print(f"{rows:<12,}" + "".join(f"{row[n].cell(process=True):>{width + 6}}" for n in names))
    print(targets(figures))
    print(json.dumps({"differences found (ovo-nb counts rows, datacompy counts rows and mismatches)": found}),
          file=sys.stderr)


def targets(figures: dict[int, dict[str, Figure]]) -> str:
    """The issue's targets, each with its figure and whether it is met."""
    lines = []

    def work(row: dict[str, Figure], name: str) -> float:
        return statistics.median(row[name].work) if not row[name].stopped else float("inf")

    faster = all(work(row, "ovo-nb") < min(work(row, "datacompy pandas"), work(row, "datacompy Polars"))
                 for row in figures.values())
    lines.append(f"targets: faster than datacompy (pandas and Polars) at every size: {'yes' if faster else 'NO'}")
    if 1_000_000 in figures:
        row = figures[1_000_000]
        ratio = work(row, "ovo-nb") / work(row, "bare DuckDB join")
        lines.append(f"         1,000,000 a side / the bare join: {ratio:.2f} (target <= 3: "
                     f"{'met' if ratio <= 3 else 'NOT met'}; goal 2)")
    if 10_000_000 in figures:
        ours = figures[10_000_000]["ovo-nb"]
        seconds = work(figures[10_000_000], "ovo-nb")
        met = seconds <= 30 and ours.peak_mb < 3072
        lines.append(f"         10,000,000 a side: {seconds:.1f} s, {ours.peak_mb:,.0f} MB (target <= 30 s and "
                     f"< 3,072 MB: {'met' if met else 'NOT met'})")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
