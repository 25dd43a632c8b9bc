"""Key setup: generation, storage, loading, the credential request and OVO's credential pair."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ovo_nb.errors import CredentialError, KeyFileError, ValidationError
from ovo_nb.keys import (
    CredentialPair,
    Credentials,
    build_credential_request,
    decrypt_credentials,
    decrypt_key_bin,
    decrypted_credential_file,
    encrypt_credentials,
    fingerprint,
    generate_private_key,
    load_private_key,
    load_public_key,
    openssl_enc_decrypt,
    openssl_enc_encrypt,
    parse_credential_text,
    prepare_partner_keys,
    public_key_pem,
    read_credential_pair,
    save_private_key,
    validate_callback_url,
    validate_ip_entry,
    write_credential_request,
)

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")
CREDS = Credentials("oamerchantam", "Zx9-secret-Value_42", {"merchant_id": "M-123"})


def run_openssl(*args: str, cwd: Path) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True)


# --------------------------------------------------------------------------- generation and storage


def test_generate_sizes() -> None:
    assert generate_private_key(3072).key_size == 3072
    with pytest.raises(ValidationError, match="2048"):
        generate_private_key(1024)


def test_private_key_is_saved_encrypted_owner_only_and_never_overwritten(
    tmp_path: Path, partner_key: rsa.RSAPrivateKey
) -> None:
    path = save_private_key(partner_key, tmp_path / "k" / "key.pem", "correct horse")
    text = path.read_text()
    assert text.startswith("-----BEGIN ENCRYPTED " + "PRIVATE KEY-----")  # split: no key text in the repo
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert fingerprint(load_private_key(path, "correct horse")) == fingerprint(partner_key)
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        save_private_key(partner_key, path, "correct horse")
    assert path.read_text() == text
    other = generate_private_key()
    save_private_key(other, path, "correct horse", overwrite=True)
    assert fingerprint(load_private_key(path, "correct horse")) == fingerprint(other)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ValidationError, match="8 characters"):
        save_private_key(partner_key, tmp_path / "short.pem", "short")


def test_loading_errors_say_what_to_do(tmp_path: Path, partner_key: rsa.RSAPrivateKey) -> None:
    path = save_private_key(partner_key, tmp_path / "key.pem", "correct horse")
    with pytest.raises(KeyFileError, match="encrypted; give its passphrase"):
        load_private_key(path)
    with pytest.raises(KeyFileError, match="passphrase is wrong"):
        load_private_key(path, "wrong horse")
    with pytest.raises(KeyFileError, match="does not exist"):
        load_private_key(tmp_path / "missing.pem")
    with pytest.raises(KeyFileError, match="holds a public key"):
        load_private_key(public_key_pem(partner_key).encode())
    with pytest.raises(KeyFileError, match="not a key"):
        load_private_key(b"-----BEGIN " + b"PRIVATE KEY-----\nAAAA\n-----END " + b"PRIVATE KEY-----\n")
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(KeyFileError, match="RSA"):
        load_private_key(ec_pem)
    with pytest.raises(KeyFileError, match="holds a private key"):
        load_public_key(ec_pem)
    with pytest.raises(KeyFileError, match="X.509"):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


def test_unencrypted_pkcs1_and_der_keys_load(partner_key: rsa.RSAPrivateKey) -> None:
    for encoding, fmt in ((serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL),
                          (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8)):
        data = partner_key.private_bytes(encoding, fmt, serialization.NoEncryption())
        assert fingerprint(load_private_key(data)) == fingerprint(partner_key)
    with pytest.raises(KeyFileError, match="not encrypted"):
        load_private_key(partner_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()), "needless")


def test_public_key_in_both_formats_ovo_asks_for(partner_key: rsa.RSAPrivateKey) -> None:
    x509, pkcs1 = public_key_pem(partner_key, "x509"), public_key_pem(partner_key, "pkcs1")
    assert x509.startswith("-----BEGIN PUBLIC KEY-----")
    assert pkcs1.startswith("-----BEGIN RSA PUBLIC KEY-----")
    assert fingerprint(load_public_key(x509)) == fingerprint(load_public_key(pkcs1)) == fingerprint(partner_key)
    assert fingerprint(partner_key).startswith("SHA256:") and len(fingerprint(partner_key)) == 7 + 95


def test_prepare_partner_keys_reuses_the_key_and_rotates_only_when_asked(tmp_path: Path) -> None:
    first = prepare_partner_keys(tmp_path / "stage")
    assert first.created and first.key_size == 2048
    assert stat.S_IMODE(first.private_key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "stage" / "partner_private_key.passphrase").stat().st_mode) == 0o600
    assert "private_key=" not in repr(first) and "PRIVATE" not in repr(first)
    again = prepare_partner_keys(tmp_path / "stage")
    assert not again.created and again.fingerprint == first.fingerprint
    rotated = prepare_partner_keys(tmp_path / "stage", rotate=True)
    assert rotated.created and rotated.fingerprint != first.fingerprint
    assert load_public_key(rotated.public_key_pkcs1_path) is not None


def test_production_keys_need_the_passphrase_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(KeyFileError, match="OVO_NB_KEY_PASSPHRASE"):
        prepare_partner_keys(tmp_path / "production", environment="production")
    monkeypatch.setenv("OVO_NB_KEY_PASSPHRASE", "a production passphrase")
    keys = prepare_partner_keys(tmp_path / "production", environment="production")
    assert not (tmp_path / "production" / "partner_private_key.passphrase").exists()
    assert load_private_key(keys.private_key_path, "a production passphrase")


# --------------------------------------------------------------------------- credential request


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://shop.example/ovo", "https"),
        ("https://shop.example/ovo/{orderId}", "templated"),
        ("https://shop.example/ovo/<id>", "templated"),
        ("https://shop.example/orders/:id/return", "templated"),
        ("https://shop.example/ovo/*", "templated"),
        ("https://shop.example/ovo%7Bid%7D", "templated"),
        ("https://shop.example/ovo?order=1", "query"),
        ("https://shop.example/ovo#done", "query or fragment"),
        ("https://user:pw@shop.example/ovo", "user name"),
        ("https:///ovo", "no host"),
        ("", "empty"),
    ],
)
def test_bad_callback_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_callback_url(url)


def test_good_callback_url_passes() -> None:
    assert validate_callback_url(" https://shop.example/ovo/return ") == "https://shop.example/ovo/return"


@pytest.mark.parametrize(
    ("entry", "message"),
    [("10.1.2.3", "private"), ("192.168.0.0/24", "private"), ("127.0.0.1", "private or local"),
     ("fd00::1", "private"), ("fe80::1", "local"), ("0.0.0.0/0", "private or local|too many"),
     ("8.8.0.0/8", "host bits"), ("8.0.0.0/8", "too many"), ("300.1.1.1", "not an IPv4"), ("example.com", "not an")],
)
def test_bad_ip_entries_are_refused(entry: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_ip_entry(entry)


def test_good_ip_entries_pass() -> None:
    assert validate_ip_entry("203.0.113.10") == "203.0.113.10"
    assert validate_ip_entry("203.0.113.0/28") == "203.0.113.0/28"
    assert validate_ip_entry("2001:db8::10") == "2001:db8::10"
    assert validate_ip_entry("8.8.8.8/32") == "8.8.8.8"


def test_stage_request_needs_keys_and_callbacks_only(partner_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    request = build_credential_request(
        partner_key, "stage", ["https://shop.example/ovo/return", "https://shop.example/ovo/return"],
        ip_whitelist=["203.0.113.10"], daily_refund_limit="1000000", partner_name="Toko Kopi",
    )
    assert request.callback_urls == ("https://shop.example/ovo/return",)
    assert request.ip_whitelist == () and request.daily_refund_limit is None
    folder = write_credential_request(request, tmp_path / "request")
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["REQUEST.md", "public_key_pkcs1.pem", "public_key_x509.pem", "request.json"]
    assert "IP whitelist" not in (folder / "REQUEST.md").read_text()
    for path in folder.iterdir():
        assert "PRIVATE" not in path.read_text()
    with pytest.raises(ValidationError, match="at least one callback"):
        build_credential_request(partner_key, "stage", [])
    with pytest.raises(ValidationError, match="'stage' or 'production'"):
        build_credential_request(partner_key, "sandbox", ["https://shop.example/r"])
    with pytest.raises(ValidationError, match="lists"):
        build_credential_request(partner_key, "stage", "https://shop.example/r")
    with pytest.raises(ValidationError, match="Give partner_name"):  # OVO files the request under it
        build_credential_request(partner_key, "stage", ["https://shop.example/r"], partner_name=" ")


def test_production_request_needs_ips_and_refund_limit(partner_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    callbacks = ["https://shop.example/ovo/return"]
    with pytest.raises(ValidationError, match="IP whitelist"):
        build_credential_request(partner_key, "production", callbacks, daily_refund_limit="5000000")
    with pytest.raises(ValidationError, match="daily refund limit"):
        build_credential_request(partner_key, "production", callbacks, ip_whitelist=["203.0.113.10"])
    with pytest.raises(ValidationError, match="negative"):
        build_credential_request(partner_key, "production", callbacks, ip_whitelist=["203.0.113.10"],
                                 daily_refund_limit="-5")
    no_refund = build_credential_request(partner_key, "production", callbacks, ip_whitelist=["203.0.113.10"],
                                         uses_refund=False, partner_name="Toko Kopi")
    assert no_refund.daily_refund_limit is None
    request = build_credential_request(
        partner_key, "production", callbacks, ip_whitelist=["203.0.113.10", "198.51.100.0/29"],
        daily_refund_limit=50_000_000, error_redirect_urls=["https://shop.example/ovo/error"], partner_name="Toko Kopi",
    )
    folder = write_credential_request(request, tmp_path / "prod")
    summary = json.loads((folder / "request.json").read_text())
    assert summary["daily_refund_limit"] == "50000000.00"
    assert summary["ip_whitelist"] == ["203.0.113.10", "198.51.100.0/29"]
    assert summary["fingerprint"] == fingerprint(partner_key)
    markdown = (folder / "REQUEST.md").read_text()
    assert "IDR 50000000.00" in markdown and "Toko Kopi" in markdown and "https://shop.example/ovo/error" in markdown
    assert request.daily_refund_limit == Decimal("50000000.00")


# --------------------------------------------------------------------------- credentials


def test_credentials_round_trip_through_ovos_scheme(partner_key: rsa.RSAPrivateKey) -> None:
    pair = encrypt_credentials(partner_key.public_key(), CREDS)
    assert pair.cred_file_enc.startswith(b"Salted__")
    assert len(pair.key_bin_enc) == 256
    opened = decrypt_credentials(pair, partner_key)
    assert opened == CREDS
    assert CREDS.client_secret not in repr(opened) and opened.masked_secret.startswith("Zx9-")


def test_credential_errors_are_plain(partner_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey,
                                     tmp_path: Path) -> None:
    pair = encrypt_credentials(partner_key.public_key(), CREDS)
    wrong_key = f"another public key \\(this private key is {fingerprint(other_key)}; compare it with the key you sent"
    with pytest.raises(CredentialError, match=wrong_key):
        decrypt_credentials(pair, other_key)
    # A wrong key fails in one of two ways, depending on the ciphertext: a block at or above its modulus is
    # refused outright, any other decrypts to noise (implicit rejection). Both say the same.
    modulus = other_key.public_key().public_numbers().n
    for block in (modulus + 1, modulus // 3):
        if block.bit_length() <= other_key.key_size:
            with pytest.raises(CredentialError, match=wrong_key):
                decrypt_credentials(CredentialPair(block.to_bytes(other_key.key_size // 8, "big"), pair.cred_file_enc),
                                    other_key)
    with pytest.raises(CredentialError, match="bytes but your RSA-3072"):
        decrypt_credentials(pair, generate_private_key(3072))
    other_pair = encrypt_credentials(partner_key.public_key(), CREDS)
    with pytest.raises(CredentialError, match="bad decrypt.*do not belong together"):
        decrypt_credentials(CredentialPair(pair.key_bin_enc, other_pair.cred_file_enc), partner_key)
    with pytest.raises(CredentialError, match="Salted__"):
        decrypt_credentials(CredentialPair(pair.key_bin_enc, b"garbage"), partner_key)
    with pytest.raises(CredentialError, match="Salted__"):
        decrypt_credentials(CredentialPair(pair.key_bin_enc, pair.cred_file_enc[:-3]), partner_key)
    with pytest.raises(CredentialError, match="Cannot read key.bin.enc"):
        read_credential_pair(tmp_path / "nope.enc", tmp_path / "cred_file.enc")


@pytest.mark.parametrize(
    "text",
    [
        "client_id=oamerchantam\nclient_secret=abc\n",
        "Client ID : oamerchantam\nSecret Key : abc\n",
        '{"clientId": "oamerchantam", "clientSecret": "abc"}',
        "\ufeffclientId = \"oamerchantam\"\r\nclientSecret = 'abc'\r\n",
    ],
)
def test_credential_file_layouts(text: str) -> None:
    creds = parse_credential_text(text)
    assert (creds.client_id, creds.client_secret) == ("oamerchantam", "abc")


def test_credential_file_without_a_secret_names_the_fields_not_their_values() -> None:
    with pytest.raises(CredentialError, match="no a client secret; fields found: client_id, note") as info:
        parse_credential_text("client_id=oamerchantam\nnote=hello-value\n")
    assert "hello-value" not in str(info.value)


def test_saved_credentials_are_private_toml(tmp_path: Path) -> None:
    import tomllib

    path = CREDS.save(tmp_path / "credentials.toml")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tomllib.loads(path.read_text()) == {"client_id": "oamerchantam", "client_secret": CREDS.client_secret,
                                               "merchant_id": "M-123"}


def test_openssl_enc_round_trip_with_fixed_salt() -> None:
    data = openssl_enc_encrypt(b"hello", b"pw", salt=b"12345678")
    assert data[:16] == b"Salted__12345678"
    assert openssl_enc_decrypt(data, b"pw") == b"hello"


# --------------------------------------------------------------------------- real openssl


@needs_openssl
@pytest.mark.parametrize("traditional", [True, False])
def test_keys_made_by_openssl_genrsa_des3_load(tmp_path: Path, traditional: bool) -> None:
    args = ["genrsa", "-des3", "-passout", "pass:partner-pass", "-out", "id_rsa.pem", "2048"]
    if traditional:
        args.insert(1, "-traditional")
    run_openssl(*args, cwd=tmp_path)
    if traditional:
        assert "Proc-Type: 4,ENCRYPTED" in (tmp_path / "id_rsa.pem").read_text()
    key = load_private_key(tmp_path / "id_rsa.pem", "partner-pass")
    run_openssl("rsa", "-in", "id_rsa.pem", "-passin", "pass:partner-pass", "-pubout", "-out", "id_rsa.pub.pem",
                cwd=tmp_path)
    assert fingerprint(load_public_key(tmp_path / "id_rsa.pub.pem")) == fingerprint(key)


@needs_openssl
def test_our_pair_opens_with_ovos_openssl_commands_byte_for_byte(tmp_path: Path) -> None:
    run_openssl("genrsa", "-traditional", "-des3", "-passout", "pass:partner-pass", "-out", "id_rsa.pem", "2048",
                cwd=tmp_path)
    key = load_private_key(tmp_path / "id_rsa.pem", "partner-pass")
    pair = encrypt_credentials(key.public_key(), CREDS)
    pair.write(tmp_path)
    run_openssl("pkeyutl", "-decrypt", "-inkey", "id_rsa.pem", "-passin", "pass:partner-pass", "-in", "key.bin.enc",
                "-out", "key.bin", cwd=tmp_path)
    run_openssl("enc", "-d", "-aes-256-cbc", "-in", "cred_file.enc", "-out", "cred_file.txt", "-pass",
                "file:./key.bin", "-md", "sha256", cwd=tmp_path)
    assert (tmp_path / "key.bin").read_bytes() == decrypt_key_bin(pair.key_bin_enc, key)
    assert (tmp_path / "cred_file.txt").read_bytes() == decrypted_credential_file(pair, key)
    assert parse_credential_text((tmp_path / "cred_file.txt").read_text()) == CREDS


@needs_openssl
@pytest.mark.parametrize("key_bin", [b"", b"\r\n", b"\0"], ids=["hex-line", "crlf", "nul"])
def test_a_pair_made_by_openssl_opens_with_ours(tmp_path: Path, partner_key: rsa.RSAPrivateKey,
                                                key_bin: bytes) -> None:
    (tmp_path / "id_rsa.pub.pem").write_text(public_key_pem(partner_key))
    (tmp_path / "cred_file.txt").write_text("clientId: oamerchantam\nclientSecret: s3cr3t\n")
    run_openssl("rand", "-hex", "-out", "key.bin", "32", cwd=tmp_path)
    if key_bin:  # awkward passwords: openssl keeps \r, and stops at NUL
        (tmp_path / "key.bin").write_bytes(b"pass" + key_bin + b"word\n")
    run_openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", "id_rsa.pub.pem", "-in", "key.bin", "-out", "key.bin.enc",
                cwd=tmp_path)
    run_openssl("enc", "-aes-256-cbc", "-md", "sha256", "-in", "cred_file.txt", "-out", "cred_file.enc", "-pass",
                "file:./key.bin", cwd=tmp_path)
    pair = read_credential_pair(tmp_path / "key.bin.enc", tmp_path / "cred_file.enc")
    assert decrypted_credential_file(pair, partner_key) == (tmp_path / "cred_file.txt").read_bytes()
    creds = decrypt_credentials(pair, partner_key)
    assert (creds.client_id, creds.client_secret) == ("oamerchantam", "s3cr3t")


def test_a_wrong_key_always_gives_the_same_clear_error(partner_key: rsa.RSAPrivateKey,
                                                         other_key: rsa.RSAPrivateKey) -> None:
    # the wrong key decrypts key.bin.enc to noise; now and then that noise unpads cleanly
    for _ in range(300):
        with pytest.raises(CredentialError, match="another public key"):
            decrypt_credentials(encrypt_credentials(partner_key.public_key(), CREDS), other_key)
