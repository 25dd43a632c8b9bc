"""The scheduled reconciliation files: each is valid for its tool, every command in it is one
``ovo-nb`` accepts, and README shows the same text."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from ovo_nb.cli import build_parser
from ovo_nb.schedules import SCHEDULE_FILES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def commands(text: str) -> list[list[str]]:
    """Each ``ovo-nb ...`` command line in ``text``, its shell substitutions and escapes resolved."""
    found = []
    for line in text.splitlines():
        if "ovo-nb reconcile" not in line:
            continue
        command = line[line.index("ovo-nb reconcile"):].rstrip("'")
        command = command.replace("\\%", "%").replace("%%", "%")
        command = re.sub(r"\$\((?:TZ=\S+ )?date [^)]*\)", "2026-11", command)
        command = re.sub(r"\$\{?PERIOD\}?", "2026-11", command)
        found.append(shlex.split(command)[1:])
    return found


@pytest.mark.parametrize("path", [path for path in SCHEDULE_FILES if not path.endswith(".timer")])
def test_every_command_is_one_ovo_nb_accepts(path: str) -> None:
    found = commands(SCHEDULE_FILES[path])
    assert found, path
    for argv in found:
        args = build_parser().parse_args(argv)
        assert args.command == "reconcile" and args.period == "2026-11" and args.fail_on == "any"
        assert args.out and args.out.endswith("2026-11")


def test_each_file_is_valid_for_its_tool() -> None:
    cron = [line for line in SCHEDULE_FILES["schedules/crontab"].splitlines() if line and not line.startswith("#")]
    jobs = [line for line in cron if "=" not in line.split()[0]]
    assert len(jobs) == 2 and all(len(job.split()[:5]) == 5 for job in jobs)
    assert all("%" not in re.sub(r"\\%", "", job) for job in jobs)  # cron turns a bare % into a newline
    service = SCHEDULE_FILES["schedules/ovo-nb-reconcile.service"]
    assert "Type=oneshot" in service and re.search(r"(?<!%)%[^%]", service.split("ExecStart=")[1]) is None
    assert "OnCalendar=*-*-02 06:30:00 Asia/Jakarta" in SCHEDULE_FILES["schedules/ovo-nb-reconcile.timer"]
    workflow = yaml.safe_load(SCHEDULE_FILES[".github/workflows/ovo-reconcile.yml"])
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true, as GitHub's own reader does not
    assert triggers["schedule"] == [{"cron": "30 23 1 * *"}]  # 06:30 Jakarta on the 2nd is 23:30 UTC on the 1st
    steps = workflow["jobs"]["reconcile"]["steps"]
    assert any("ovo-nb reconcile" in step.get("run", "") for step in steps)
    assert steps[-1]["if"] == "always()"  # the reports are kept when the job fails


def test_the_readme_shows_the_same_files() -> None:
    for text in SCHEDULE_FILES.values():
        assert text.strip() in README


def test_init_writes_them_into_the_project(tmp_path: Path) -> None:
    from ovo_nb.scaffold import init_project

    result = init_project(tmp_path / "shop")
    for path, text in SCHEDULE_FILES.items():
        assert path in result.written and (tmp_path / "shop" / path).read_text() == text
    assert "pip install -r requirements.txt" in (tmp_path / "shop" / ".github/workflows/ovo-reconcile.yml").read_text()
