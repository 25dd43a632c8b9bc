"""`ovo-nb sandbox` as a partner runs it: a process of its own on a free loopback port, in a given home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def home_env(home: Path) -> dict[str, str]:
    return {**os.environ, "OVO_NB_HOME": str(home)}


def serve(home: Path) -> tuple[subprocess.Popen[str], str]:
    """The started server and its URL (no demo payment, no request lines)."""
    process = subprocess.Popen([sys.executable, "-m", "ovo_nb.cli", "sandbox", "--port", "0", "--no-demo", "--quiet"],
                               env=home_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("OVO sandbox listening on"), first
    return process, first.split()[-1]


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One ``ovo-nb`` command in ``home``."""
    return subprocess.run([sys.executable, "-m", "ovo_nb.cli", *args], capture_output=True, text=True,
                          env=home_env(home), timeout=120)
