"""``ovo-nb run`` killed with SIGKILL leaves no process behind: pool workers, kernels, the resource tracker.

For real: the command runs the notebooks, is killed once its kernels are up, and every process it
started must be gone within seconds, its output pipe closed.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

if not Path("/proc/self/stat").exists():
    pytest.skip("reads the process tree from /proc (Linux)", allow_module_level=True)


def children() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            tree.setdefault(parent, []).append(int(entry))
    return tree


def descendants(pid: int) -> set[int]:
    tree, found, todo = children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is gone, only not yet reaped
    except OSError:
        return False


@pytest.mark.timeout(300)
@pytest.mark.parametrize("jobs", [2, 1])
def test_a_killed_run_leaves_no_process_behind(tmp_path: Path, jobs: int) -> None:
    env = {**os.environ, "OVO_NB_HOME": str(tmp_path / "home"), "CI": "1"}
    run = subprocess.Popen([sys.executable, "-m", "ovo_nb.cli", "run", "key_setup", "binding", "--jobs", str(jobs),
                            "--output", str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=env, cwd=Path(__file__).resolve().parent.parent, start_new_session=True)
    started: set[int] = set()
    try:
        expected_kernels = jobs
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until the kernels are up: the whole tree exists
            started |= descendants(run.pid)
            if sum("ipykernel" in command_line(pid) for pid in descendants(run.pid)) >= expected_kernels:
                break
            assert run.poll() is None, run.stdout.read() if run.stdout else ""
            time.sleep(0.2)
        else:
            pytest.fail("the kernels never started")
        started |= descendants(run.pid)
        kinds = {pid: command_line(pid) for pid in started}
        if jobs > 1:
            assert sum("multiprocessing" in line for line in kinds.values()) >= jobs, kinds  # workers and tracker
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(alive(pid) for pid in started):
            time.sleep(0.2)
        left = {pid: kinds[pid] for pid in started if alive(pid)}
        assert left == {}, left
        assert run.stdout is not None and reaches_end(run.stdout.fileno(), 5.0)  # nobody holds the caller's pipe
    finally:
        if run.poll() is None:
            run.kill()
        for pid in started:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def reaches_end(fd: int, seconds: float) -> bool:
    """Whether the pipe ``fd`` reads to its end (every writer gone) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready and not os.read(fd, 65536):
            return True
    return False
