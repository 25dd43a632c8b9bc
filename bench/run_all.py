"""Every benchmark of the project, one table of figures: compare them from release to release.

Run: .venv/bin/python bench/run_all.py [--quick]

Each script prints its own figures (ratios to a baseline measured in the same run where one
exists); this runs them one after another and gathers the lines into one table. ``--quick``
uses small sizes (a sanity pass, not figures to compare).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {
    "sandbox": (["--seconds", "3"], ["--seconds", "0.5"]),
    "client_overhead": (["--calls", "1000"], ["--calls", "100"]),
    "runner": ([], []),
    "reconcile": (["--rows", "100000", "1000000"], ["--rows", "20000", "--repeat", "1"]),
    "soak": (["--payments", "1000"], ["--payments", "40", "--customers", "3", "--workers", "2"]),
    "install": ([], ["--offline"]),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes: check the benches run")
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    failed = []
    for name, (full, quick) in BENCHES.items():
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", f"bench.{name}", *(quick if args.quick else full)],
                              cwd=HERE.parent, capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        for line in lines[1:]:  # the first line is each script's header
            parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)  # figures and values are 2+ spaces apart
            label, value = [*parts, ""][:2]
            rows.append((name, label.strip(), value.strip()))
        rows.append((name, "bench wall time (s)", f"{time.perf_counter() - started:.1f}"))
        if done.returncode != 0:
            failed.append(name)
            rows.append((name, "FAILED", (done.stderr.strip().splitlines() or ["?"])[-1][:60]))
    width = max(len(label) for _, label, _ in rows)
    print(f"{'bench':<16} {'figure':<{width}} value")
    for name, label, value in rows:
        print(f"{name:<16} {label:<{width}} {value}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
