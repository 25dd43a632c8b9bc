"""From nothing to a green run, timed two ways, and what an install weighs.

- clone to green: `git clone` of this repository, then the README's set-up command
  (`python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/ovo-nb run`);
- wheel to green: the wheel built from this source, a fresh venv, `pip install` of the wheel,
  `ovo-nb init`, `ovo-nb run`;
- the installed venv's size: the runtime alone, with `[spark]`, with `[dev]`.

Run: .venv/bin/python -m bench.install [--offline]

Installs come from the package index (pip's cache makes them fast after the first time), or with
``--offline`` from ``.wheelhouse`` (runtime only: `.ci/run` fills it). Everything happens in a
temporary folder, with its own ovo-nb home.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} exited {done.returncode}: {(done.stderr or done.stdout).strip()[-500:]}")
    return time.perf_counter() - started


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--offline", action="store_true", help="install from .wheelhouse (wheel to green only)")
    args = parser.parse_args()
    index = ["--no-index", "--find-links", str(ROOT / ".wheelhouse")] if args.offline else []
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="ovo-nb-install-") as temp:
        place = Path(temp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OVO_NB_", "VIRTUAL_ENV", "PYTHON"))}
        env["OVO_NB_HOME"] = str(place / "home")

        seconds = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *index, "-w", str(place / "dist"),
                        str(ROOT)], place, env)
        [wheel] = (place / "dist").glob("*.whl")
        seconds += _run(["python3", "-m", "venv", str(place / "venv")], place, env)
        seconds += _run([str(place / "venv" / "bin" / "pip"), "install", "-q", *index, str(wheel)], place, env)
        seconds += _run([str(place / "venv" / "bin" / "ovo-nb"), "init", "shop"], place, env)
        run = _run([str(place / "venv" / "bin" / "ovo-nb"), "run"], place / "shop", env)
        rows += [("wheel to green (s)", f"{seconds + run:.1f}"), ("  of which ovo-nb run (s)", f"{run:.1f}"),
                 ("venv, runtime (MB)", f"{_size_mb(place / 'venv'):.0f}")]
        if not args.offline:
            for extra in ("spark", "dev"):
                _run([str(place / "venv" / "bin" / "pip"), "install", "-q", f"{wheel}[{extra}]"], place, env)
                rows.append((f"venv, with [{extra}] (MB)", f"{_size_mb(place / 'venv'):.0f}"))

            clone = place / "clone"
            seconds = _run(["git", "clone", "-q", str(ROOT), str(clone)], place, env)
            seconds += _run(["bash", "-c", "python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]' && "
                                           ".venv/bin/ovo-nb run"], clone, {**env, "OVO_NB_HOME": str(place / "h2")})
            rows.append(("clone to green (s)", f"{seconds:.1f}"))
    print("install: from nothing to a green run")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    main()
