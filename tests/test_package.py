"""The package's promises: its exported API, and a README that tells the truth about CI."""

from __future__ import annotations

import importlib
from pathlib import Path

import ovo_nb

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["calllog", "client", "config", "doctor", "errors", "flows", "keys", "ledger", "models", "runner", "sandbox",
           "secretbox", "signing", "snap", "tokens", "walkthrough", "webview", "widgets",
           "reconciliation", "reports", "traffic", "evidence", "environments", "testbed", "project", "scaffold", "outcome",
           "postman", "schedules", "finance"]


def test_exported_names_exist_and_are_unique() -> None:
    assert len(ovo_nb.__all__) == len(set(ovo_nb.__all__))
    for name in ovo_nb.__all__:
        assert hasattr(ovo_nb, name), name


def test_every_module_all_names_exist() -> None:
    for module_name in MODULES:
        module = importlib.import_module(f"ovo_nb.{module_name}")
        for name in module.__all__:
            assert hasattr(module, name), f"ovo_nb.{module_name}.{name}"


def test_every_notebook_is_described_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        assert f"`{notebook.stem}`" in readme
