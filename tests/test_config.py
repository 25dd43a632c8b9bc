"""Profiles: read from every source, checked value by value, and never a side effect."""

from __future__ import annotations

from pathlib import Path

import pytest

from ovo_nb.config import load_profile
from ovo_nb.environments import open_environment
from ovo_nb.errors import ValidationError
from ovo_nb.keys import Credentials, default_key_dir, prepare_partner_keys

STAGE = {"OVO_NB_CLIENT_ID": "oamerchantx", "OVO_NB_CLIENT_SECRET": "s3cret-value", "OVO_NB_MERCHANT_ID": "MX"}


@pytest.mark.parametrize(("toml", "message"), [
    ('path_style = "nope"', r"path_style from \[profiles.stage\] in .* is 'nope'; choose one of tech-doc, faq"),
    ("client_secret = 12345", r"client_secret from .* must be a string .*got \(hidden\)"),
    ('signature_encoding = "base32"', "choose one of base64, hex"),
    ('callback_urls = "https://a.example/cb"', None),
    ("callback_urls = [1, 2]", "must be a list of URLs"),
    ('channel_id = "123456789"', "at most 5 printable ASCII"),
])
def test_config_values_of_the_wrong_type_or_outside_their_set(tmp_path: Path, toml: str, message: str | None) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[profiles.stage]\n{toml}\n")
    if message is None:
        assert load_profile("stage", config_file=config, env=STAGE).callback_urls == ("https://a.example/cb",)
        return
    with pytest.raises(ValidationError, match=message):
        load_profile("stage", config_file=config, env=STAGE)


def test_a_line_break_in_a_header_value_is_refused_with_its_variable() -> None:
    with pytest.raises(ValidationError, match="OVO_NB_DEVICE_ID must be .* no line break"):
        load_profile("stage", env={**STAGE, "OVO_NB_DEVICE_ID": "web\r\nX-Evil: 1"})


def test_a_config_file_that_is_not_toml_is_named(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[profiles.stage\nclient_id = ")
    with pytest.raises(ValidationError, match="config.toml is not valid TOML"):
        load_profile("stage", config_file=config, env=STAGE)


def test_reading_the_sandbox_profile_writes_nothing(isolated_home: Path) -> None:
    profile = load_profile("sandbox", env={})
    assert profile.client_id == "oamerchantsandbox" and profile.client_secret == ""
    assert not isolated_home.exists()


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
    with pytest.raises(ValidationError, match=r"no client_id.*ovo-nb run key_setup --profile stage.*OVO_NB_STAGE_CLIENT_ID.*\[profiles.stage\]"):
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
