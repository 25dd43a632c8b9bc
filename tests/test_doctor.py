"""The signature doctor: a profile's health, and the explanation of a logged call."""

from __future__ import annotations

from pathlib import Path

import pytest

from ovo_nb import signing
from ovo_nb.calllog import CallLog
from ovo_nb.doctor import check_profile, explain_call
from ovo_nb.flows import Ovo
from ovo_nb.keys import prepare_partner_keys


def test_doctor_checks_a_healthy_sandbox_profile() -> None:
    with Ovo.open() as ovo:
        assert ovo.environment is not None
        checks = check_profile(ovo.profile, transport=ovo.environment.transport)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert {c.name for c in checks} >= {"private key", "public key PKCS#1 (for signatures)", "clock skew"}


def test_doctor_finds_a_vault_key_that_does_not_open_the_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    from ovo_nb.config import load_profile
    from ovo_nb.doctor import check_state
    from ovo_nb.secretbox import SecretBox

    assert [c.detail for c in check_state(load_profile("sandbox")) if c.name == "vault key"] == [
        "no token sealed yet: the first binding seals them with this machine's key"]
    with Ovo.open() as ovo:
        profile = ovo.profile
        ovo.bind("081234567890")
    [found] = [c for c in check_state(profile) if c.name == "vault key"]
    assert found.ok and found.detail == f"opens the tokens sealed in {profile.state_dir}"
    monkeypatch.setenv("OVO_NB_VAULT_KEY", SecretBox.generate_key())
    [found] = [c for c in check_state(profile) if c.name == "vault key"]
    assert not found.ok and "sealed with another vault key" in found.detail and "OVO_NB_VAULT_KEY_FILE" in found.fix


def test_doctor_finds_a_mismatched_public_key() -> None:
    with Ovo.open() as ovo:
        profile = ovo.profile
        other = prepare_partner_keys(profile.private_key_path.parent / "other")
        (profile.private_key_path.parent / "public_key_pkcs1.pem").write_text(
            other.public_key_pkcs1_path.read_text())
    failing = [c for c in check_profile(profile, transport=None) if not c.ok]
    assert any("does NOT match" in c.detail for c in failing)


def test_doctor_explains_a_failed_signature() -> None:
    with Ovo.open() as ovo:
        ovo.bind("081234567890")
        token = ovo.access_token("081234567890")
        request = ovo.client.builder.build("balance_inquiry", {"partnerReferenceNo": "B1"}, token=token)
        request.headers["X-SIGNATURE"] = signing.sign_hmac_sha512("a wrong secret", "whatever")
        response = ovo.client.http.send(request)
        assert response.json()["responseCode"] == "4011100"
        call_id = response.extensions["ovo_nb.call_id"]
        explanation = explain_call(ovo.client.call_log, call_id, ovo.profile)
        good = explain_call(ovo.client.call_log, call_id - 1, ovo.profile)
    assert explanation.api == "balance_inquiry" and explanation.signature_reproduced is False
    assert explanation.string_to_sign.startswith("POST:/OVOSNAP/v2.0/balance-inquiry:")
    text = str(explanation)
    assert "does not reproduce" in text and "4011100" in text and "customer's access token" in text
    assert good.signature_reproduced is True


def test_doctor_without_the_sealed_record_says_so(tmp_path: Path) -> None:
    with Ovo.open(call_log=CallLog(tmp_path / "plain.sqlite")) as ovo:
        ovo.bind("081234567890")
        ovo.balance("081234567890")
        explanation = explain_call(ovo.client.call_log, 4, ovo.profile)
    assert any("masked" in finding for finding in explanation.findings)


def test_a_sandbox_clock_moved_on_purpose_is_not_this_machines_skew() -> None:
    with Ovo.open() as ovo:
        assert ovo.environment is not None and ovo.sandbox is not None
        ovo.sandbox.advance_clock(16 * 60)  # `ovo-nb trigger clock +16m`
        [skew] = [c for c in check_profile(ovo.profile, transport=ovo.environment.transport) if c.name == "clock skew"]
    assert skew.ok and "business time is +960 s" in skew.detail and "NTP" not in skew.fix
