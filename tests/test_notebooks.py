"""The notebooks, executed for real with papermill, and their outputs checked."""

from __future__ import annotations

import json
import re
import stat
import tomllib
from pathlib import Path
from xml.etree import ElementTree

import nbformat
import pytest

from ovo_nb.cli import main
from ovo_nb.config import load_profile
from ovo_nb.keys import (
    PASSPHRASE_FILE,
    Credentials,
    decrypt_credentials,
    default_key_dir,
    encrypt_credentials,
    load_private_key,
    read_credential_pair,
)
from ovo_nb.runner import run_notebooks, write_junit

pytestmark = pytest.mark.timeout(300)


def notebook_text(path: Path) -> str:
    """Every output and the metadata of an executed notebook, as one searchable string."""
    return json.dumps(nbformat.read(path, as_version=4), ensure_ascii=False)


def cell_outputs(path: Path) -> str:
    texts = []
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") + json.dumps(output.get("data", {}), ensure_ascii=False))
    return "\n".join(texts)


STRAY_REPR = re.compile(r"\b[A-Z][A-Za-z0-9_]*\(|dtype: |<[\w.]+ object at 0x|^'[^']*'$", re.MULTILINE)
"""What a cell shows when it forgot to render: ``StepResult(...)``, a Series footer, an object or string repr."""


def stray_reprs(path: Path) -> list[str]:
    """Every text/plain output and printed line of an executed notebook that shows a raw repr."""
    found = []
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "") + output.get("data", {}).get("text/plain", "")
            found += [match.group(0) for match in STRAY_REPR.finditer(text)]
    return found


def assert_no_secret_material(text: str, *secrets: str) -> None:
    assert "PRIVATE KEY-----" not in text
    for secret in secrets:
        assert secret not in text


def test_key_setup_runs_headless_and_leaks_nothing(tmp_path: Path) -> None:
    result = run_notebooks(["key_setup"], output_root=tmp_path, progress=False)
    assert result.ok, result.notebooks
    executed = result.run_dir / "01_key_setup.ipynb"
    outputs = cell_outputs(executed)
    assert "generated now" in outputs and "verifies with the PKCS#1 key: True" in outputs
    assert "-----BEGIN PUBLIC KEY-----" in outputs and "-----BEGIN RSA PUBLIC KEY-----" in outputs

    key_folder = default_key_dir("stage")
    passphrase = (key_folder / PASSPHRASE_FILE).read_text().strip()
    key = load_private_key(key_folder / "partner_private_key.pem", passphrase)
    demo = decrypt_credentials(
        read_credential_pair(*(result.run_dir / "key_setup" / "from_ovo" / n for n in ("key.bin.enc", "cred_file.enc"))),
        key,
    )
    assert demo.client_id in outputs
    assert_no_secret_material(notebook_text(executed), passphrase, demo.client_secret)
    request = json.loads((result.run_dir / "key_setup" / "credential_request" / "request.json").read_text())
    assert request["environment"] == "stage" and request["callback_urls"] == list(load_profile().callback_urls)

    again = run_notebooks(["key_setup"], output_root=tmp_path, progress=False)
    assert again.ok and "existing key reused" in cell_outputs(again.run_dir / "01_key_setup.ipynb")
    assert json.loads((again.run_dir / "key_setup" / "credential_request" / "request.json").read_text())[
        "fingerprint"] == request["fingerprint"]


def test_key_setup_opens_ovos_files_for_production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVO_NB_KEY_PASSPHRASE", "production passphrase from a vault")
    first = run_notebooks(["key_setup"], parameters={"environment": "production", "ip_whitelist": ["203.0.113.10"],
                                                     "daily_refund_limit": "50000000.00"},
                          output_root=tmp_path, progress=False)
    assert first.ok, first.notebooks
    key_folder = default_key_dir("production")
    key = load_private_key(key_folder / "partner_private_key.pem", "production passphrase from a vault")
    issued = Credentials("oamerchantprod", "prod-secret-0123456789abcdef", {"merchant_id": "M-9"})
    encrypt_credentials(key.public_key(), issued).write(tmp_path / "from_ovo")
    result = run_notebooks(
        ["key_setup"],
        parameters={"environment": "production", "ip_whitelist": ["203.0.113.10", "198.51.100.0/29"],
                    "daily_refund_limit": "50000000.00",
                    "key_bin_enc_path": str(tmp_path / "from_ovo" / "key.bin.enc"),
                    "cred_file_enc_path": str(tmp_path / "from_ovo" / "cred_file.enc")},
        output_root=tmp_path, progress=False,
    )
    assert result.ok, result.notebooks
    executed = result.run_dir / "01_key_setup.ipynb"
    outputs = cell_outputs(executed)
    assert "oamerchantprod" in outputs and "prod…(28 chars)" in outputs and "IDR 50000000.00" in outputs
    saved = key_folder / "credentials.toml"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert tomllib.loads(saved.read_text())["client_secret"] == issued.client_secret
    assert not (key_folder / PASSPHRASE_FILE).exists()
    assert_no_secret_material(notebook_text(executed), issued.client_secret, "production passphrase from a vault")


def test_bad_parameters_fail_the_run_with_the_reason(tmp_path: Path) -> None:
    result = run_notebooks(["key_setup"], parameters={"callback_urls": ["http://partner.example.com/cb"]},
                           output_root=tmp_path, progress=False)
    [notebook] = result.notebooks
    assert not result.ok
    assert "ValidationError" in notebook.error and "must use https" in notebook.error
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["ok"] is False and summary["notebooks"][0]["error"] == notebook.error


def test_cli_run_and_its_errors(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "reports" / "junit.xml"
    assert main(["run", "key_setup", "--output", str(tmp_path), "--junit", str(junit)]) == 0
    out, err = capfd.readouterr()  # the kernel's own output included: no noise, no carriage returns
    assert "1 of 1 notebooks passed" in out and "JUnit report" in out
    assert "without encryption" not in out + err and "\r" not in out + err
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("failures") == "0"
    assert main(["run", "key_setup", "--jobs", "0"]) == 2 and "--jobs 0" in capfd.readouterr().err
    assert main(["run", "no_such_notebook"]) == 2
    assert "No notebook named 'no_such_notebook'" in capfd.readouterr().err
    assert main(["run", "key_setup", "--output", str(tmp_path), "--junit", "/proc/junit.xml"]) == 2
    assert "Cannot write the JUnit report to /proc/junit.xml" in capfd.readouterr().err


FLOW_NOTEBOOKS = ["binding", "direct_debit", "refund", "unbinding"]
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")


def test_every_notebook_runs_headless_and_the_run_leaks_nothing(tmp_path: Path) -> None:
    """The one full run of the suite: every notebook (two at a time, as `ovo-nb run` on two cores does),
    then every byte of its outputs scanned."""
    result = run_notebooks(output_root=tmp_path, progress=False, jobs=2)
    assert result.ok, [n.error for n in result.notebooks if not n.ok]
    secret = load_profile().client_secret.encode()
    for path in result.run_dir.rglob("*"):
        if path.is_file():  # executed notebooks, reports, SQLite files: nothing holds a key, a secret, a token
            data = path.read_bytes()
            assert b"PRIVATE KEY-----" not in data, path
            assert secret not in data, path
            assert not JWT.search(data.decode("latin-1")), f"a full token in {path.relative_to(result.run_dir)}"
    assert [n.notebook for n in result.notebooks] == [
        "01_key_setup.ipynb", "02_binding.ipynb", "03_direct_debit.ipynb", "04_refund.ipynb", "05_unbinding.ipynb",
        "06_reconciliation.ipynb", "07_bi_submission.ipynb"]
    debit = cell_outputs(result.run_dir / "03_direct_debit.ipynb")
    assert "[done] debit, 1st call" in debit and "[done] debit, 2nd call" in debit and "SUCCESS" in debit
    assert "[done] Outcome\\n  passed: ended with success (expected: success); calls went to sandbox (in-process)" in debit
    unbinding = cell_outputs(result.run_dir / "05_unbinding.ipynb")
    assert "refused as expected" in unbinding and "[done] refund after unbinding" in unbinding
    calls = (result.run_dir / "calls.csv").read_text(encoding="utf-8-sig")
    for code in ("2000700", "2007400", "2025400", "2005400", "2005500", "2005800", "2000900"):
        assert code in calls
    assert "7 of 7 notebooks passed" in (result.run_dir / "summary.html").read_text()
    report = ElementTree.parse(write_junit(result, tmp_path / "junit.xml")).getroot()
    suites = {suite.get("name"): suite for suite in report}
    assert suites["notebooks"].get("tests") == "7" and suites["bi_submission"].get("tests") == "18"
    assert suites["bi_submission"].get("failures") == "0"
    scenario_results = json.loads((result.run_dir / "bi_submission" / "scenarios.json").read_text())
    scenario_results[0].update(passed=False, actual="4011100")  # a verdict gone wrong reads as a CI failure
    (result.run_dir / "bi_submission" / "scenarios.json").write_text(json.dumps(scenario_results))
    failure = ElementTree.parse(write_junit(result, tmp_path / "junit2.xml")).getroot().find(".//failure")
    assert failure is not None and f"expected {scenario_results[0]['expected']}, got 4011100" in failure.get(
        "message", "")
    evidence = cell_outputs(result.run_dir / "07_bi_submission.ipynb")
    assert "18 of 18 scenarios answered the expected SNAP code" in evidence
    assert (result.run_dir / "bi_submission" / "functional_test_evidence.xlsx").exists()
    reports = result.run_dir / "reconciliation"
    assert {"reconciliation.xlsx", "reconciliation.html", "missing_at_ovo.csv"} <= {p.name for p in reports.iterdir()}
    recon = cell_outputs(result.run_dir / "06_reconciliation.ipynb")
    assert "missing_at_partner" in recon and "Paid at OVO but pending at the partner" in recon
    for name in ("02_binding.ipynb", "03_direct_debit.ipynb", "04_refund.ipynb", "05_unbinding.ipynb"):
        assert 'ovo-sequence' in cell_outputs(result.run_dir / name), f"no sequence diagram in {name}"
    assert cell_outputs(result.run_dir / "06_reconciliation.ipynb").count("<svg") >= 3  # daily, codes, latency
    for executed in result.notebooks:
        assert stray_reprs(Path(executed.output)) == [], executed.notebook
    secret = load_profile().client_secret
    for path in result.run_dir.rglob("*"):
        if path.is_file() and path.suffix in {".ipynb", ".csv", ".html", ".json", ".md", ".pem"}:
            text = path.read_text(encoding="utf-8-sig")
            assert_no_secret_material(text, secret)
            assert not JWT.search(text), f"a full token in {path.name}"
            if path.suffix == ".ipynb":
                assert "widgets" not in json.loads(text)["metadata"], f"widget state saved in {path.name}"


@pytest.mark.parametrize(
    ("notebook", "parameters", "expected"),
    [
        ("binding", {"phone": "081200000003", "expect": "CustomerMustRegister"}, "CAN_REGISTER"),
        ("direct_debit", {"phone": "081200000001", "amount": "5000", "expect": "4035414"}, "Insufficient Funds"),
        ("direct_debit", {"pin": "000000", "expect": "WebviewError"}, "Wrong PIN. 2 attempts left."),
        ("refund", {"refund_amount": "20000.01", "expect": "ValidationError"}, "left to refund"),
        ("unbinding", {"otp": "0000", "expect": "WebviewError"}, "Wrong OTP. 4 attempts left."),
    ],
)
def test_negative_runs_show_the_refusal_and_pass(tmp_path: Path, notebook: str, parameters: dict[str, str],
                                                 expected: str) -> None:
    result = run_notebooks([notebook], parameters=parameters, output_root=tmp_path, progress=False)
    [executed] = result.notebooks
    assert executed.ok, executed.error
    outputs = cell_outputs(Path(executed.output))
    assert "[refused]" in outputs and expected in outputs
    here = " checked here, before anything reached OVO" if parameters["expect"] == "4035414" else ""  # balance said
    assert f"Outcome\\n  passed: ended with {parameters['expect']}{here} (expected: {parameters['expect']})" in outputs
    assert "[skipped]" in outputs or notebook == "refund"
    summary = (result.run_dir / "summary.html").read_text()  # the refusal, its parameters (phones masked), PASS
    assert parameters["expect"] in summary and "PASS" in summary and "expect=" in summary
    assert parameters.get("phone", "no phone given") not in summary


def test_an_unexpected_outcome_fails_the_run_naming_the_cell(tmp_path: Path) -> None:
    result = run_notebooks(["direct_debit"], parameters={"pin": "000000"}, output_root=tmp_path, progress=False)
    [executed] = result.notebooks
    assert not executed.ok
    assert "AssertionError: ended with WebviewError (expected: success): " in executed.error
    assert executed.error.startswith("cell ")


def test_cli_parameters_keep_their_declared_types(tmp_path: Path) -> None:
    from ovo_nb.runner import coerce_parameters, find_notebooks

    chosen = find_notebooks(["key_setup", "direct_debit"])
    typed = coerce_parameters({"phone": "081234567890", "key_size": "3072", "rotate_key": "yes",
                               "callback_urls": "https://a.example/x, https://b.example/y"}, chosen)
    assert typed == {"phone": "081234567890", "key_size": 3072, "rotate_key": True,
                     "callback_urls": ["https://a.example/x", "https://b.example/y"]}
    from ovo_nb.errors import OvoNbError

    with pytest.raises(OvoNbError, match="declared int"):
        coerce_parameters({"key_size": "big"}, chosen)
    with pytest.raises(OvoNbError, match="known parameters"):
        coerce_parameters({"colour": "red"}, chosen)


def test_an_unwritable_output_folder_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "key_setup", "--output", "/dev/null/runs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ovo-nb: Cannot write the run's outputs to /dev/null/runs") and "--output" in err
    assert len(err.strip().splitlines()) == 1


def test_a_damaged_call_log_still_gets_a_run_summary(tmp_path: Path) -> None:
    state = load_profile().state_dir
    state.mkdir(parents=True, exist_ok=True)
    (state / "calls.sqlite").write_bytes(b"garbage" * 100)
    result = run_notebooks(["key_setup"], output_root=tmp_path, progress=False)
    assert result.ok
    assert json.loads((result.run_dir / "summary.json").read_text())["calls"] == 0
    assert (result.run_dir / "summary.html").exists()


def test_notebooks_that_write_files_run_from_their_own_folder_in_a_clone(tmp_path: Path) -> None:
    """As JupyterLab and nbconvert run them: the kernel's working folder is notebooks/, and the files land
    in the clone's outputs/ (the wheel's copies are checked the same way in test_wheel)."""
    import shutil
    import subprocess
    import sys

    clone = tmp_path / "clone"
    shutil.copytree(Path(__file__).resolve().parent.parent / "notebooks", clone / "notebooks")
    for name in ("01_key_setup.ipynb", "06_reconciliation.ipynb", "07_bi_submission.ipynb"):
        done = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                               "--output-dir", str(tmp_path / "executed"), name],
                              cwd=clone / "notebooks", capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    sessions = list((clone / "outputs").iterdir())  # one per kernel: each session's own run id
    assert {p.name for session in sessions for p in session.iterdir()} == {"key_setup", "reconciliation",
                                                                           "bi_submission"}
    assert not (clone / "notebooks" / "outputs").exists()
