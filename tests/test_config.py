"""Profiles: read from every source, checked value by value, and never a side effect."""

from __future__ import annotations

from pathlib import Path

import pytest

from ovo_nb.config import load_profile
from ovo_nb.errors import ValidationError

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
