"""Profiles, the webview helpers and the signature doctor."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from ovo_nb import signing
from ovo_nb.calllog import CallLog
from ovo_nb.config import load_profile
from ovo_nb.doctor import check_profile, explain_call
from ovo_nb.environments import open_environment
from ovo_nb.errors import ValidationError, WebviewError
from ovo_nb.flows import Ovo
from ovo_nb.keys import Credentials, default_key_dir, prepare_partner_keys
from ovo_nb.webview import build_webview_url, parse_callback

ANSWER = {"responseCode": "2000700", "redirectUrl": "https://webview.byte-stack.net/cellblockui/partner/activation",
          "additionalInfo": {"qParams": {"action": "otpLinkage", "authType": "2FA", "client-id": "oamerchantam",
                                         "phoneNumber": "08129376****", "refId": "56d39eff"}}}


def test_sandbox_profile_needs_no_configuration(isolated_home: Path) -> None:
    profile = load_profile()
    assert profile.name == "sandbox" and profile.in_process and profile.client_id == "oamerchantsandbox"
    assert not isolated_home.exists()  # reading a profile makes no key and writes no file
    env = open_environment(profile)  # opening the in-process sandbox creates the default partner
    try:
        ready = env.profile
        assert ready.client_secret and ready.client_secret not in repr(ready)
        assert ready.client_secret not in str(ready.summary())
        assert ready.private_key.key_size == 2048
        assert load_profile().client_secret == ready.client_secret  # now read from its credentials file
    finally:
        env.close()


def test_stage_profile_without_credentials_says_what_to_do() -> None:
    with pytest.raises(ValidationError, match=r"no client_id.*01_key_setup.*OVO_NB_CLIENT_ID.*\[profiles.stage\]"):
        load_profile("stage", env={})
    with pytest.raises(ValidationError, match="Unknown profile"):
        load_profile("prod", env={})


def test_stage_profile_from_key_setup_file_and_environment(tmp_path: Path) -> None:
    folder = default_key_dir("stage")
    prepare_partner_keys(folder)
    Credentials("oamerchantstage", "stage-secret-value", {"merchant_id": "M1"}).save(folder / "credentials.toml")
    profile = load_profile("stage", env={})
    assert (profile.base_url, profile.client_id, profile.merchant_id) == (
        "https://app.byte-stack.net", "oamerchantstage", "M1")
    config = tmp_path / "config.toml"
    config.write_text('[profiles.stage]\nchannel_id = "12345"\ncallback_urls = ["https://shop.example/ovo"]\n')
    profile = load_profile("stage", config_file=config,
                           env={"OVO_NB_MERCHANT_ID": "M2", "OVO_NB_SIGNATURE_ENCODING": "hex"})
    assert (profile.channel_id, profile.merchant_id, profile.signature_encoding) == ("12345", "M2", "hex")
    assert profile.callback_urls == ("https://shop.example/ovo",)
    assert "stage-secret-value" not in repr(profile)


def test_webview_url_is_exactly_the_faq_recipe() -> None:
    url = build_webview_url(ANSWER, "eyJ.linkage", "https://piswebblank.pis", state="payment1234")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == ANSWER["redirectUrl"]
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {"action": "otpLinkage", "authType": "2FA", "client-id": "oamerchantam",
                     "phoneNumber": "08129376****", "refId": "56d39eff", "token": "eyJ.linkage",
                     "destination": "https://piswebblank.pis", "submissionType": "redirect", "state": "payment1234"}
    with pytest.raises(ValidationError, match="not a registered callback URL"):
        build_webview_url(ANSWER, "t", "https://evil.example", registered=["https://piswebblank.pis"])
    with pytest.raises(WebviewError, match="no webview"):
        build_webview_url({"responseCode": "2005400"}, "t", "https://piswebblank.pis")


def test_parse_the_faq_callback_sample() -> None:
    sample = ("https://piswebblank.pis/?response=%7B%22displayMsg%22%3A%22SUCCESS%22%2C%22displayHeader%22%3A%22%22"
              "%2C%22retryAttemptsLeft%22%3A4%2C%22authCode%22%3A%22YOAKdzhRSviBfGyAc15_LQ%22%2C%22errorCode%22%3A%22"
              "%22%2C%22enable_redirection%22%3Afalse%7D")
    result = parse_callback(sample)
    assert (result.auth_code, result.retry_attempts_left, result.display_msg) == ("YOAKdzhRSviBfGyAc15_LQ", 4, "SUCCESS")
    assert "YOAKdzh" not in repr(result)
    failed = "https://x.example/?response=" + quote(json.dumps({"displayMsg": "Wrong PIN", "errorCode": "E12"}))
    with pytest.raises(WebviewError, match=r"Wrong PIN \(errorCode E12\)"):
        parse_callback(failed)
    for bad, message in (("not a url", "whole URL"), ("https://x.example/?response=%7Bcut", "not JSON")):
        with pytest.raises(WebviewError, match=message):
            parse_callback(bad)


def test_doctor_checks_a_healthy_sandbox_profile() -> None:
    with Ovo.open() as ovo:
        assert ovo.environment is not None
        checks = check_profile(ovo.profile, transport=ovo.environment.transport)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert {c.name for c in checks} >= {"private key", "public key PKCS#1 (for signatures)", "clock skew"}


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
