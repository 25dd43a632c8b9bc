"""The package's promises: its exported API, and a README that tells the truth about CI."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import ovo_nb

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["calllog", "client", "config", "doctor", "errors", "flows", "keys", "ledger", "models", "runner", "sandbox",
           "secretbox", "signing", "snap", "tokens", "walkthrough", "webview", "widgets",
           "reconciliation", "reports", "traffic", "evidence", "environments", "testbed", "schedules", "finance"]


def test_exported_names_exist_and_are_unique() -> None:
    assert len(ovo_nb.__all__) == len(set(ovo_nb.__all__))
    for name in ovo_nb.__all__:
        assert hasattr(ovo_nb, name), name


def test_every_module_all_names_exist() -> None:
    for module_name in MODULES:
        module = importlib.import_module(f"ovo_nb.{module_name}")
        for name in module.__all__:
            assert hasattr(module, name), f"ovo_nb.{module_name}.{name}"


def test_readme_commands_are_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"## (Set up and run|Test)\n\n```bash\n(.+?)\n```", readme, re.S)
    assert [title for title, _ in blocks] == ["Set up and run", "Test"]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    for _, command in blocks:
        assert command in ci_lines


def test_every_notebook_is_described_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        assert f"`{notebook.stem}`" in readme


def test_the_readme_quickstart_runs(capsys: object) -> None:
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1]
    code = re.search(r"```python\n(.+?)\n```", quickstart, re.S)
    assert code is not None
    exec(compile(code.group(1), "README quickstart", "exec"), {})
    printed = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "SUCCESS" in printed and "2005800" in printed
