"""The ``ovo-nb`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import OvoNbError

__all__ = ["main"]


def _run(args: argparse.Namespace) -> int:
    from .runner import run_notebooks

    result = run_notebooks(args.notebooks, output_root=args.output, cell_timeout=args.timeout)
    for notebook in result.notebooks:
        mark = "ok  " if notebook.ok else "FAIL"
        line = f"{mark} {notebook.notebook:<32} {notebook.seconds:6.1f}s"
        print(line + (f"  {notebook.error}" if notebook.error else ""))
    passed = sum(n.ok for n in result.notebooks)
    print(f"{passed}/{len(result.notebooks)} notebooks passed; outputs in {result.run_dir}")
    return 0 if result.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ovo-nb", description="OVO BI SNAP integration toolkit.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute the notebooks headless into outputs/<run-id>/")
    run.add_argument("notebooks", nargs="*", help="notebook names (default: all), e.g. key_setup")
    run.add_argument("--output", default=None, help="output root folder (default: outputs/)")
    run.add_argument("--timeout", type=int, default=600, help="seconds one cell may take (default: 600)")
    run.set_defaults(handler=_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except OvoNbError as exc:
        print(f"ovo-nb: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
