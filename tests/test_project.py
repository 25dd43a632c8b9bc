"""A partner's own project: where notebooks and outputs are found, `ovo-nb init`, and the project's settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from ovo_nb._files import artefact_dir
from ovo_nb.cli import main
from ovo_nb.config import load_profile
from ovo_nb.errors import ValidationError
from ovo_nb.project import find_project, packaged_notebooks
from ovo_nb.scaffold import init_project

NOTEBOOKS = sorted(p.name for p in packaged_notebooks().glob("*.ipynb"))


def test_the_packaged_notebooks_are_all_seven() -> None:
    assert len(NOTEBOOKS) == 7 and NOTEBOOKS[0] == "01_key_setup.ipynb"


def test_a_project_is_found_from_any_folder_inside_it(tmp_path: Path) -> None:
    init_project(tmp_path / "shop")
    for start in (tmp_path / "shop", tmp_path / "shop" / "notebooks"):
        project = find_project(start)
        assert (project.kind, project.root, project.notebooks) == ("project", tmp_path / "shop",
                                                                    tmp_path / "shop" / "notebooks")
        assert project.settings == tmp_path / "shop" / "ovo-nb.toml"


def test_a_notebooks_folder_here_or_this_folder_being_one(tmp_path: Path) -> None:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "mine.ipynb").write_text("{}")
    assert find_project(tmp_path).notebooks == tmp_path / "notebooks"
    inside = find_project(tmp_path / "notebooks")  # a kernel started in notebooks/, as JupyterLab does
    assert (inside.kind, inside.root) == ("folder", tmp_path)


def test_elsewhere_the_packaged_notebooks_and_outputs_here(tmp_path: Path) -> None:
    project = find_project(tmp_path)
    assert project.kind == "packaged" and project.notebooks == packaged_notebooks()
    assert project.outputs == tmp_path / "outputs" and "ovo-nb init" in project.describe()


def test_a_kernel_in_the_projects_notebooks_folder_writes_into_the_projects_outputs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    init_project(tmp_path / "shop")
    monkeypatch.delenv("OVO_NB_RUN_DIR", raising=False)
    monkeypatch.chdir(tmp_path / "shop" / "notebooks")
    folder = artefact_dir("key_setup")
    assert folder.parent.parent == tmp_path / "shop" / "outputs"


def test_init_writes_a_project_and_can_run_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "shop"
    assert main(["init", str(target)]) == 0
    out = capsys.readouterr().out
    for name in ("ovo-nb.toml", ".gitignore", ".github/workflows/ovo-nb.yml", ".gitlab-ci.yml", "README.md",
                 "requirements.txt", *(f"notebooks/{n}" for n in NOTEBOOKS)):
        assert (target / name).is_file(), name
        assert f"wrote     {name}" in out
    settings = tomllib.loads((target / "ovo-nb.toml").read_text())
    assert settings == {"profile": "sandbox", "profiles": {"stage": {}, "production": {}}}  # all else commented
    assert "secret" not in (target / "ovo-nb.toml").read_text().split("[profiles.stage]")[1].lower()
    ignored = (target / ".gitignore").read_text().split()
    assert {"outputs/", ".ovo-nb/", "*.pem", "*.sqlite"} <= set(ignored)
    for ci in (".github/workflows/ovo-nb.yml", ".gitlab-ci.yml"):
        assert "ovo-nb run --profile sandbox --junit reports/junit.xml" in (target / ci).read_text()

    (target / "notebooks" / "02_binding.ipynb").write_text("my own changes")
    assert main(["init", str(target)]) == 0
    again = capsys.readouterr().out
    assert "wrote" not in again and "already up to date" in again
    assert "kept      notebooks/02_binding.ipynb: it exists and differs" in again
    assert (target / "notebooks" / "02_binding.ipynb").read_text() == "my own changes"

    (target / "notebooks" / "03_direct_debit.ipynb").unlink()
    (target / "ovo-nb.toml").write_text('[profiles.stage]\nclient_id = "mine"\n')
    executed = json.loads((target / "notebooks" / "04_refund.ipynb").read_text())  # saved in JupyterLab: outputs
    for cell in executed["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [{"output_type": "stream", "name": "stdout", "text": "x"}], 1
    (target / "notebooks" / "04_refund.ipynb").write_text(json.dumps(executed))
    assert main(["init", str(target), "--force"]) == 0
    forced = capsys.readouterr().out
    assert "replaced  notebooks/02_binding.ipynb" in forced and "wrote     notebooks/03_direct_debit.ipynb" in forced
    assert "kept      ovo-nb.toml: yours to fill in" in forced and "04_refund" not in forced  # outputs are yours
    assert 'client_id = "mine"' in (target / "ovo-nb.toml").read_text()
    assert (target / "notebooks" / "02_binding.ipynb").read_bytes() == (
        packaged_notebooks() / "02_binding.ipynb").read_bytes()


def test_init_into_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").write_text("x")
    assert main(["init", str(tmp_path / "taken")]) == 2
    assert capsys.readouterr().err.strip() == f"ovo-nb: {tmp_path / 'taken'} is a file, not a folder: give a folder " \
                                              "for the project."


def test_version_from_the_command_and_python_dash_m() -> None:
    from ovo_nb import __version__

    for command in (["ovo-nb"], [sys.executable, "-m", "ovo_nb"]):
        if command == ["ovo-nb"]:
            command = [str(Path(sys.executable).parent / "ovo-nb")]
        done = subprocess.run([*command, "--version"], capture_output=True, text=True, check=True,
                              env={**os.environ, "COLUMNS": "30"})  # a narrow terminal: still one line
        assert done.stdout.startswith(f"ovo-nb {__version__} (Python ") and done.stdout.count("\n") == 1


STAGE = {"OVO_NB_CLIENT_SECRET": "s3cret-value"}


def test_the_projects_settings_sit_between_the_home_config_and_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text(
        '[profiles.stage]\nclient_id = "from-home"\nmerchant_id = "M-HOME"\nchannel_id = "11111"\n')
    init_project(tmp_path / "shop")
    (tmp_path / "shop" / "ovo-nb.toml").write_text(
        'profile = "stage"\n[profiles.stage]\nclient_id = "from-project"\nmerchant_id = "M-PROJECT"\n')
    monkeypatch.chdir(tmp_path / "shop" / "notebooks")
    profile = load_profile(env={**STAGE, "OVO_NB_MERCHANT_ID": "M-ENV"})  # the project's default profile
    assert (profile.name, profile.client_id, profile.merchant_id, profile.channel_id) == (
        "stage", "from-project", "M-ENV", "11111")
    scoped = load_profile(env={**STAGE, "OVO_NB_MERCHANT_ID": "M-ENV", "OVO_NB_STAGE_MERCHANT_ID": "M-STAGE"})
    assert scoped.merchant_id == "M-STAGE"
    assert load_profile(env={**STAGE, "OVO_NB_PROFILE": "sandbox"}).name == "sandbox"


def test_a_secret_in_the_committed_settings_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    init_project(tmp_path / "shop")
    (tmp_path / "shop" / "ovo-nb.toml").write_text(
        '[profiles.stage]\nclient_id = "x"\nmerchant_id = "M"\nclient_secret = "oops"\n')
    monkeypatch.chdir(tmp_path / "shop")
    with pytest.raises(ValidationError, match=r"client_secret is set under \[profiles.stage\] in .*ovo-nb.toml, a "
                                              r"file committed with the project: remove it, and set "
                                              r"OVO_NB_STAGE_CLIENT_SECRET") as caught:
        load_profile("stage", env={})
    assert "oops" not in str(caught.value)


def test_stages_account_variables_never_reach_the_sandbox_profile() -> None:
    exported = {"OVO_NB_BASE_URL": "https://app.byte-stack.net", "OVO_NB_CLIENT_ID": "oamerchantstage",
                "OVO_NB_CLIENT_SECRET": "stage-secret", "OVO_NB_MERCHANT_ID": "MSTAGE", "OVO_NB_CHANNEL_ID": "12345",
                "OVO_NB_CALLBACK_URLS": "https://shop.example.com/cb", "OVO_NB_DEVICE_ID": "ci-runner"}
    sandbox = load_profile("sandbox", env=exported)
    assert sandbox.in_process and sandbox.client_id == "oamerchantsandbox" and sandbox.merchant_id == "MSANDBOX01"
    assert sandbox.device_id == "ci-runner"  # how this client calls, not who it is: still applies
    stage = load_profile("stage", env=exported)
    assert (stage.client_id, stage.merchant_id, stage.callback_urls) == ("oamerchantstage", "MSTAGE",
                                                                        ("https://shop.example.com/cb",))


def test_an_unknown_default_profile_in_the_project_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ovo-nb.toml").write_text('profile = "staging"\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError, match=r"profile in .*ovo-nb.toml is 'staging'; choose one of sandbox, stage"):
        load_profile(env={})


def test_the_rules_name_the_installed_fidelity_page_and_a_closed_pipe_is_no_traceback() -> None:
    script = Path(sys.executable).parent / "ovo-nb"
    done = subprocess.run(f"'{script}' sandbox --rules | head -1", shell=True, capture_output=True, text=True,
                          check=True)
    page = done.stdout.split("; ", 1)[1].split(" lists", 1)[0]
    assert Path(page).is_file() and Path(page).name == "FIDELITY.md"
    assert done.stderr == ""


def test_key_setup_for_stage_takes_the_profiles_callback_urls_and_name_never_placeholders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:

    from ovo_nb.runner import run_notebooks

    init_project(tmp_path / "shop")
    monkeypatch.chdir(tmp_path / "shop")
    bare = run_notebooks(["key_setup"], profile="stage", progress=False)
    [notebook] = bare.notebooks
    assert notebook.state == "failed" and "Give partner_name" in notebook.error  # nothing made up for OVO
    (tmp_path / "shop" / "ovo-nb.toml").write_text(
        '[profiles.stage]\npartner_name = "PT Toko Kita"\ncallback_urls = ["https://toko.example.id/ovo/cb"]\n')
    done = run_notebooks(["key_setup"], profile="stage", progress=False)
    assert done.ok, done.notebooks
    request = json.loads((done.run_dir / "key_setup" / "credential_request" / "request.json").read_text())
    assert (request["partner_name"], request["callback_urls"]) == ("PT Toko Kita", ["https://toko.example.id/ovo/cb"])


def test_a_run_refused_before_it_starts_leaves_no_output_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    init_project(tmp_path / "shop")
    monkeypatch.chdir(tmp_path / "shop")
    assert main(["run", "--profile", "stage", "--jobs", "2"]) == 2  # stage has no client id yet
    assert "Profile 'stage' has no client_id" in capsys.readouterr().err
    assert not (tmp_path / "shop" / "outputs").exists()


def test_a_secret_under_any_profile_of_the_settings_file_stops_every_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    init_project(tmp_path / "shop")
    (tmp_path / "shop" / "ovo-nb.toml").write_text('[profiles.production]\nclient_secret = "leak"\n')
    monkeypatch.chdir(tmp_path / "shop")
    assert main(["run", "binding"]) == 2  # a sandbox run, the one CI makes: refused all the same
    err = capsys.readouterr().err
    assert "client_secret is set under [profiles.production]" in err and "leak" not in err


def test_a_project_made_from_a_source_folder_says_its_requirements_install_here_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ovo_nb import scaffold

    checkout = Path(scaffold.__file__).resolve().parent.parent  # this suite runs ovo-nb installed from its clone
    assert main(["init", str(tmp_path / "shop")]) == 0
    assert f"note      requirements.txt names {checkout}" in capsys.readouterr().out
    lines = (tmp_path / "shop" / "requirements.txt").read_text().splitlines()
    assert lines[-1] == f"ovo-nb @ {checkout.as_uri()}" and f"pip wheel --no-deps -w vendor {checkout}" in lines[2]
    named = Requirement(lines[-1])  # as pip reads it
    assert (named.name, named.url) == ("ovo-nb", checkout.as_uri())
    index = scaffold._requirements(scaffold._Source())
    assert index.splitlines()[-1].startswith("ovo-nb==")  # from an index: the version, which the index has


def test_made_up_traffic_stays_in_this_process_whatever_the_sandbox_profile_points_at(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """06's drill and 07's scenarios run on a sandbox of their own, never the loopback server or team database the
    user's sandbox profile names (a drill's clock is days behind: a server would refuse its timestamps)."""
    from ovo_nb.conformance import fresh_sandbox
    from ovo_nb.evidence import evidence_session
    from ovo_nb.traffic import drill_session, simulate_period

    monkeypatch.setenv("OVO_NB_SANDBOX_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("OVO_NB_SANDBOX_CLIENT_ID", "someone-elses")
    ovo, clock = drill_session(tmp_path / "drill", days=1)
    with ovo:
        assert ovo.sandbox is not None and ovo.profile.in_process and ovo.profile.client_id == "oamerchantsandbox"
        assert simulate_period(ovo, clock, days=1, payments_per_day=2, discrepancies=False).payments
    for opened in (evidence_session(tmp_path / "evidence"), fresh_sandbox()):
        with opened as session:
            assert session.sandbox is not None and session.profile.in_process
            session.bind(session.sandbox.new_customer())
