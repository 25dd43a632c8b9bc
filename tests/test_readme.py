"""README.md tells the truth: every block marked `<!-- runs -->` runs as written, in a project of its own,
in order; the Quickstart runs five times in a row on one state; every negative run in the notebooks table
passes; and the commands CI runs are the README's."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ovo_nb.cli import main

pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
MARKED = re.compile(r"<!-- runs -->\n```(\w+)\n(.*?)\n```", re.S)


def marked_blocks() -> list[tuple[str, str]]:
    return [(kind, code) for kind, code in MARKED.findall(README)]


def test_blocks_meant_to_run_are_marked() -> None:
    kinds = [kind for kind, _ in marked_blocks()]
    assert kinds.count("python") >= 3 and kinds.count("bash") >= 4 and "toml" in kinds


@pytest.fixture
def project(tmp_path: Path, isolated_home: Path) -> tuple[Path, dict[str, str]]:
    """A folder of its own with `.venv` as the README's commands expect, and this environment's ovo-nb in it."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / ".venv").symlink_to(Path(sys.prefix))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "OVO_NB_HOME": str(isolated_home)}
    return folder, env


def _run(kind: str, code: str, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if kind == "python":
        command = [sys.executable, "-c", code]
    elif kind == "bash":
        command = ["bash", "-euo", "pipefail", "-c", code]
    else:  # a sandbox config file: the sandbox applies it, with the partner's public key it names beside it
        (folder / "sandbox.toml").write_text(code)
        key = re.search(r'public_key_file = "([^"]+)"', code)
        setup = ("from ovo_nb.keys import generate_private_key, public_key_pem\n"
                 f"open({key.group(1) if key else 'key.pem'!r}, 'w').write(public_key_pem(generate_private_key(2048), "
                 "'pkcs1'))\n"
                 "from ovo_nb.sandbox import apply_config, open_sandbox\n"
                 "sandbox, _ = open_sandbox(':memory:')\n"
                 "print(apply_config(sandbox, 'sandbox.toml'))\n")
        command = [sys.executable, "-c", setup]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def test_every_marked_block_runs_as_written(project: tuple[Path, dict[str, str]]) -> None:
    folder, env = project
    blocks = marked_blocks()
    quickstart = README.split("## Quickstart", 1)[1]
    first_python = MARKED.search(quickstart)
    assert first_python is not None and first_python.group(1) == "python"
    for attempt in range(5):  # the Quickstart, five times in a row on one state
        done = _run("python", first_python.group(2), folder, env)
        assert done.returncode == 0, f"Quickstart run {attempt + 1}: {done.stderr[-2000:]}"
        assert "SUCCESS" in done.stdout and "2005800" in done.stdout
    for kind, code in blocks:
        if code == first_python.group(2):
            continue
        done = _run(kind, code, folder, env)
        assert done.returncode == 0, f"this README block failed:\n{code}\n{done.stdout[-1500:]}\n{done.stderr[-2000:]}"


def negative_runs() -> list[tuple[str, list[str]]]:
    """Every `-p ...` example in the notebooks table's last column, with its notebook."""
    runs = []
    for row in re.findall(r"^\| `(\d\d_\w+)` \|.*\| (.*?) \|$", README, re.M):
        notebook, column = row
        for example in re.findall(r"`(-p [^`]+)`", column):
            runs.append((notebook.split("_", 1)[1], shlex.split(example)))
    return runs


def test_the_notebooks_table_has_a_negative_run_for_every_notebook() -> None:
    assert {name for name, _ in negative_runs()} == {
        "key_setup", "binding", "direct_debit", "refund", "unbinding", "reconciliation", "bi_submission"}


@pytest.mark.parametrize(("notebook", "arguments"), negative_runs(),
                         ids=[f"{n}:{' '.join(a)}" for n, a in negative_runs()])
def test_every_negative_run_in_the_table_passes(notebook: str, arguments: list[str], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", notebook, *arguments, "--output", str(tmp_path)]) == 0, capsys.readouterr().out
    assert "1 of 1 notebooks passed" in capsys.readouterr().out


def test_readme_commands_are_what_ci_runs() -> None:
    blocks = re.findall(r"## (Set up and run|Test)\n\n```bash\n(.+?)\n```", README, re.S)
    assert [title for title, _ in blocks] == ["Set up and run", "Test"]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    for _, command in blocks:
        assert command in ci_lines
