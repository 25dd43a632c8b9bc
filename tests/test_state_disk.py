"""A read-only home and a full disk, for real: one line that says which and what to do, money consistent.

Each case runs in a private mount namespace (tests/disk_scenarios.py): a read-only bind mount
or a small tmpfs, gone when the process ends.
"""

from __future__ import annotations

import json
import os
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from disk_scenarios import RICH, in_private_mounts, read_only, small_disk

from ovo_nb import Ovo

TESTS = Path(__file__).parent

COMMANDS = """
import json, subprocess, sys
out = {}
for name, args in (("calls", ["calls", "--limit", "3"]), ("doctor", ["doctor"])):
    done = subprocess.run([sys.executable, "-m", "ovo_nb.cli", *args], capture_output=True, text=True)
    out[name] = [done.returncode, done.stderr]
done = subprocess.run([sys.executable, "-c", "from ovo_nb import Ovo\\nwith Ovo.open() as ovo: ovo.pay('081234567890', '1000')"],
                      capture_output=True, text=True)
out["library"] = [done.returncode, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""]
print(json.dumps(out))
"""


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "OVO_NB_HOME": str(home), "PYTHONPATH": str(TESTS.parent)}


def _run_commands(mounts: str, home: Path) -> dict[str, list[object]]:
    done = in_private_mounts(mounts, [sys.executable, "-c", COMMANDS], _env(home))
    assert done.returncode == 0, done.stderr
    result: dict[str, list[object]] = json.loads(done.stdout)
    return result


def _one_line(stderr: object) -> str:
    text = str(stderr).strip()
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    return text


def test_a_read_only_home_is_one_line_in_the_library_calls_and_doctor(isolated_home: Path) -> None:
    with Ovo.open() as ovo:
        ovo.bind(RICH)
        ovo.pay(RICH, "1000")
    result = _run_commands(read_only(isolated_home), isolated_home)
    for name in ("calls", "doctor"):
        code, stderr = result[name]
        line = _one_line(stderr)
        assert code == 2, (name, line)
        assert line.startswith("ovo-nb: ") and ".sqlite is on a read-only file system: ovo-nb writes to it" in line
        assert "Remount it read-write, or set OVO_NB_HOME" in line and "damaged" not in line, line
    code, line = result["library"]
    assert code == 1 and line.startswith("ovo_nb.errors.StateFileError: ") and "read-only file system" in str(line)


def test_a_read_only_empty_home_is_one_line_for_doctor(tmp_path: Path) -> None:
    home = tmp_path / "readonly"
    home.mkdir()
    result = _run_commands(read_only(home), home)
    code, stderr = result["doctor"]
    line = _one_line(stderr)
    assert code == 2 and f"{home} is on a read-only file system: ovo-nb must create sandbox there" in line, line


def test_a_full_disk_is_one_line_for_calls_and_doctor(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    fill = ("python3 - <<'EOF'\nimport os\nfd = os.open('" + str(home) + "/filler', os.O_WRONLY | os.O_CREAT)\n"
            "try:\n    while True: os.write(fd, b'x' * 4096)\nexcept OSError: pass\n"
            "try:\n    while True: os.write(fd, b'x')\nexcept OSError: pass\nEOF")
    prepare = (f"{small_disk(home, '4m')}\n{sys.executable} -c \"from ovo_nb import Ovo\n"
               f"with Ovo.open() as ovo: ovo.bind('{RICH}')\"\n{fill}")
    result = _run_commands(prepare, home)
    for name in ("calls", "doctor"):
        code, stderr = result[name]
        line = _one_line(stderr)
        assert code == 2 and "is full" in line and "Free some space there" in line, (name, line)
    code, line = result["library"]
    assert code == 1 and "is full" in str(line)


@pytest.mark.timeout(300)
def test_a_full_disk_keeps_money_consistent_and_resolve_unknown_settles_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    state = home / "state" / "sandbox"
    state.mkdir(parents=True)
    done = in_private_mounts(small_disk(state, "2m"), [sys.executable, str(TESTS / "disk_scenarios.py")],
                             _env(home))
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    refused = [a["refused"] for a in found["attempts"] if "refused" in a]
    paid = [a["paid"] for a in found["attempts"] if "paid" in a]
    assert refused and paid, found["attempts"]
    for message in refused:
        assert "\n" not in message and "is full" in message and "Free some space there" in message, message
    assert "could not write" in refused[0] and "left open" not in refused[0]  # with nothing free, nothing was sent
    left_open = [m for m in refused if "is left open in the ledger" in m]
    assert left_open and all("resolve_unknown()" in m for m in left_open)
    # money: what OVO debited is exactly what the ledger says was paid, each payment once
    debited = [m["partnerReferenceNo"] for m in found["movements"] if m["entry"] == "DEBIT"]
    assert len(debited) == len(set(debited))
    ledger = {row["partner_reference_no"]: row for row in found["ledger"]}
    assert {ref for ref, row in ledger.items() if row["status"] == "PAID"} == set(debited)
    assert sum(Decimal(m["amount"]) for m in found["movements"] if m["entry"] == "DEBIT") == Decimal(1000) * len(debited)
    # some debits went through while the disk refused to record them: resolve_unknown() found them
    recovered = [line.split(":")[0] for line in found["settled"] if line.endswith(": PAID")]
    assert recovered and set(recovered) <= set(found["open_before"]) and set(recovered) <= set(debited)
