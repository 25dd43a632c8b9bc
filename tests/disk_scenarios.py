"""Real read-only folders and a real full disk, for tests/test_state_disk.py.

``in_private_mounts`` runs a command in its own user and mount namespace (``unshare -rm``), where
a folder can be remounted read-only or covered by a small tmpfs without touching the machine's
mounts: they vanish with the process, even if it is killed. Run as a script, this file is the
full-disk scenario that runs inside such a namespace and prints its findings as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RICH = "081234567890"


def in_private_mounts(mounts: str, command: list[str], env: dict[str, str],
                      timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``mounts`` (shell lines) then ``command`` in a private mount namespace; skip where there is none."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs unshare (util-linux) to make a read-only folder or a small full disk")
    probe = subprocess.run([unshare, "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"this machine allows no private mount namespace (unshare -rm: {probe.stderr.decode().strip()})")
    script = f"set -e\n{mounts}\nexec \"$@\""
    return subprocess.run([unshare, "-rm", "sh", "-c", script, "sh", *command], capture_output=True, text=True,
                          env=env, timeout=timeout)


def read_only(folder: Path) -> str:
    """Shell lines remounting ``folder`` read-only in the namespace."""
    return f"mount --bind '{folder}' '{folder}'\nmount -o remount,bind,ro '{folder}'"


def small_disk(folder: Path, size: str) -> str:
    """Shell lines covering ``folder`` with an empty tmpfs of ``size``."""
    return f"mount -t tmpfs -o size={size},mode=0700 tmpfs '{folder}'"


def _fill(folder: Path, leave: int) -> Path:
    """Fill the disk holding ``folder``, then give back ``leave`` bytes."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (1 << 16, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)
    return filler


def full_disk_scenario() -> dict[str, object]:
    """Pay with a little more room each time on a full disk; free it; settle; compare with OVO.

    The partner's state (call log, vault, ledger) is on the small disk; OVO (the in-process
    sandbox's state) is elsewhere, as it is in life.
    """
    from ovo_nb import Ovo
    from ovo_nb.errors import StateFileError

    with Ovo.open() as ovo:
        ovo.bind(RICH)
        state = ovo.profile.state_dir
    attempts: list[dict[str, object]] = []
    for leave in (0, 4096, *range(96 * 1024, 320 * 1024, 8 * 1024)):
        filler = _fill(state, leave)
        try:
            with Ovo.open() as ovo:
                outcome = ovo.pay(RICH, "1000")
            attempts.append({"leave": leave, "paid": outcome.partner_reference_no})
        except StateFileError as exc:
            attempts.append({"leave": leave, "refused": str(exc)})
        finally:
            filler.unlink()
    with Ovo.open() as ovo:
        open_before = [p.partner_reference_no for p in ovo.ledger.payments("CREATED", "AWAITING_PIN", "UNKNOWN")]
        settled = ovo.resolve_unknown()
        payments = ovo.ledger.to_frame("payments")[["partner_reference_no", "status", "amount"]]
        assert ovo.sandbox is not None
        movements = ovo.sandbox.customer_ledger(RICH)
    return {"attempts": attempts, "open_before": open_before, "settled": settled,
            "ledger": payments.to_dict("records"), "movements": movements}


if __name__ == "__main__":
    print(json.dumps(full_disk_scenario(), default=str))
    sys.stdout.flush()
