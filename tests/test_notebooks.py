"""The notebooks, executed for real with papermill, and their outputs checked."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import nbformat
import pytest

from ovo_nb.cli import main
from ovo_nb.keys import (
    PASSPHRASE_FILE,
    Credentials,
    decrypt_credentials,
    default_key_dir,
    encrypt_credentials,
    load_private_key,
    read_credential_pair,
)
from ovo_nb.runner import run_notebooks

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
    assert request["environment"] == "stage" and request["callback_urls"] == ["https://partner.example.com/ovo/callback"]

    again = run_notebooks(["key_setup"], output_root=tmp_path, progress=False)
    assert again.ok and "existing key reused" in cell_outputs(again.run_dir / "01_key_setup.ipynb")
    assert json.loads((again.run_dir / "key_setup" / "credential_request" / "request.json").read_text())[
        "fingerprint"] == request["fingerprint"]


def test_key_setup_opens_ovos_files_for_production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVO_NB_KEY_PASSPHRASE", "production passphrase from a vault")
    first = run_notebooks(["key_setup"], parameters={"environment": "production"}, output_root=tmp_path,
                          progress=False)
    assert first.ok, first.notebooks
    key_folder = default_key_dir("production")
    key = load_private_key(key_folder / "partner_private_key.pem", "production passphrase from a vault")
    issued = Credentials("oamerchantprod", "prod-secret-0123456789abcdef", {"merchant_id": "M-9"})
    encrypt_credentials(key.public_key(), issued).write(tmp_path / "from_ovo")
    result = run_notebooks(
        ["key_setup"],
        parameters={"environment": "production", "ip_whitelist": ["203.0.113.10", "198.51.100.0/29"],
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


def test_cli_run_and_its_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "key_setup", "--output", str(tmp_path)]) == 0
    assert "1/1 notebooks passed" in capsys.readouterr().out
    assert main(["run", "no_such_notebook"]) == 2
    assert "No notebook named 'no_such_notebook'" in capsys.readouterr().err
