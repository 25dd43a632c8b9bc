"""Signatures: known answers computed independently, round trips, and tampering."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given
from hypothesis import strategies as st

from ovo_nb.errors import SignatureError, ValidationError
from ovo_nb.signing import (
    EMPTY_BODY_HASH,
    asymmetric_request_string_to_sign,
    body_hash,
    body_hash_variants,
    minify,
    ovo_string_to_sign,
    serialize_body,
    sign_hmac_sha256,
    sign_hmac_sha512,
    sign_rsa_sha256,
    symmetric_string_to_sign,
    token_string_to_sign,
    verify_hmac_sha256,
    verify_hmac_sha512,
    verify_rsa_sha256,
)

TS = "2022-10-24T13:42:13.092+07:00"
PATH = "/OVOSNAP/v2.0/debit/payment-host-to-host"
BODY = {"partnerReferenceNo": "INV-001", "merchantId": "M1", "amount": {"value": "10000.00", "currency": "IDR"},
        "additionalInfo": {"note": "kopi susu é"}}
SECRET = "s3cr3t-client-secret"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.payload.sig"


def test_serialize_is_compact_ordered_and_keeps_non_ascii() -> None:
    raw = serialize_body(BODY)
    assert raw == json.dumps(BODY, separators=(",", ":"), ensure_ascii=False).encode()
    assert "é".encode() in raw and b": " not in raw
    assert serialize_body(None) == b""
    with pytest.raises(ValidationError, match="JSON"):
        serialize_body({"amount": float("nan")})


def test_minify_strips_whitespace_outside_strings_only() -> None:
    spaced = b'{ "a" : "x  y" ,\n "b": [1, 2], "c": "q\\" z" }'
    assert minify(spaced) == b'{"a":"x  y","b":[1,2],"c":"q\\" z"}'
    assert minify("") == b"" and minify(b"") == b""
    assert minify(BODY) == serialize_body(BODY)


def test_body_hash_known_answers() -> None:
    assert body_hash(b"") == EMPTY_BODY_HASH == hashlib.sha256(b"").hexdigest()
    expected = hashlib.sha256(json.dumps(BODY, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
    assert body_hash(BODY) == expected
    assert body_hash(json.dumps(BODY, indent=2, ensure_ascii=False)) == expected


def test_strings_to_sign_have_the_spec_shapes() -> None:
    h = hashlib.sha256(serialize_body(BODY)).hexdigest()
    assert token_string_to_sign("oamerchant", TS) == f"oamerchant|{TS}"
    assert asymmetric_request_string_to_sign("post", PATH, serialize_body(BODY), TS) == f"POST:{PATH}:{h}:{TS}"
    assert symmetric_string_to_sign("POST", PATH, TOKEN, serialize_body(BODY), TS) == f"POST:{PATH}:{TOKEN}:{h}:{TS}"
    assert ovo_string_to_sign("cid", TS, "/user/v2/account/lookup?phone=0812") == f"cid:{TS}:/user/v2/account/lookup?phone=0812"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: symmetric_string_to_sign("POST", PATH, "Bearer " + TOKEN, b"", TS), "Bearer"),
        (lambda: symmetric_string_to_sign("POST", "https://app.byte-stack.net" + PATH, TOKEN, b"", TS), "without scheme"),
        (lambda: asymmetric_request_string_to_sign("POST", "OVOSNAP/v2.0/x", b"", TS), "starting with '/'"),
        (lambda: token_string_to_sign("cid", "2022-10-24 13:42:13"), "yyyy-MM-dd"),
        (lambda: token_string_to_sign("", TS), "client_id"),
    ],
)
def test_usual_mistakes_are_refused_with_a_reason(call: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        call()  # type: ignore[operator]


def test_hmac_sha512_known_answer_in_base64_and_hex() -> None:
    sts = symmetric_string_to_sign("POST", PATH, TOKEN, serialize_body(BODY), TS)
    digest = hmac.new(SECRET.encode(), sts.encode(), hashlib.sha512).digest()
    assert sign_hmac_sha512(SECRET, sts) == base64.b64encode(digest).decode()
    assert sign_hmac_sha512(SECRET, sts, "hex") == digest.hex()
    assert len(sign_hmac_sha512(SECRET, sts, "hex")) == 128


def test_hmac_verifier_accepts_both_encodings_and_rejects_tampering() -> None:
    sts = symmetric_string_to_sign("POST", PATH, TOKEN, serialize_body(BODY), TS)
    for encoding in ("base64", "hex"):
        signature = sign_hmac_sha512(SECRET, sts, encoding)  # type: ignore[arg-type]
        assert verify_hmac_sha512(SECRET, sts, signature)
        assert not verify_hmac_sha512("other-secret", sts, signature)
    signature = sign_hmac_sha512(SECRET, sts)
    tampered_body = dict(BODY, merchantId="M2")
    for other in (
        symmetric_string_to_sign("POST", PATH, TOKEN, serialize_body(tampered_body), TS),
        symmetric_string_to_sign("POST", "/OVOSNAP/v1.0/debit/payment-host-to-host", TOKEN, serialize_body(BODY), TS),
        symmetric_string_to_sign("POST", PATH, TOKEN + "x", serialize_body(BODY), TS),
        symmetric_string_to_sign("POST", PATH, TOKEN, serialize_body(BODY), "2022-10-24T13:42:14.092+07:00"),
    ):
        assert not verify_hmac_sha512(SECRET, other, signature)
    assert not verify_hmac_sha512(SECRET, sts, "not a signature!")
    assert not verify_hmac_sha512(SECRET, sts, base64.encodebytes(base64.b64decode(signature)).decode())


def test_ovo_signature_known_answer() -> None:
    sts = ovo_string_to_sign("cid", TS, "/user/v2/account/lookup?phone=081234567890")
    assert sign_hmac_sha256(SECRET, sts) == hmac.new(SECRET.encode(), sts.encode(), hashlib.sha256).hexdigest()
    assert verify_hmac_sha256(SECRET, sts, sign_hmac_sha256(SECRET, sts, "base64"))
    assert not verify_hmac_sha256(SECRET, sts.replace("0812", "0813"), sign_hmac_sha256(SECRET, sts))
    with pytest.raises(SignatureError, match="empty"):
        sign_hmac_sha256("", sts)


def test_rsa_signature_verifies_with_cryptography_directly(partner_key: rsa.RSAPrivateKey) -> None:
    sts = token_string_to_sign("oamerchant", TS)
    signature = sign_rsa_sha256(partner_key, sts)
    # independent check: the library's own verify on the decoded bytes
    partner_key.public_key().verify(base64.b64decode(signature), sts.encode(), padding.PKCS1v15(), hashes.SHA256())
    assert len(sign_rsa_sha256(partner_key, sts, "hex")) == 512
    with pytest.raises(InvalidSignature):
        partner_key.public_key().verify(base64.b64decode(signature), b"x" + sts.encode(), padding.PKCS1v15(),
                                        hashes.SHA256())


def test_rsa_verifier_round_trip_and_tampering(partner_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    sts = asymmetric_request_string_to_sign("POST", PATH, serialize_body(BODY), TS)
    public = partner_key.public_key()
    for encoding in ("base64", "hex"):
        assert verify_rsa_sha256(public, sts, sign_rsa_sha256(partner_key, sts, encoding))  # type: ignore[arg-type]
    signature = sign_rsa_sha256(partner_key, sts)
    tampered = dict(BODY, amount={"value": "10001.00", "currency": "IDR"})
    assert not verify_rsa_sha256(public, asymmetric_request_string_to_sign("POST", PATH, serialize_body(tampered), TS),
                                 signature)
    assert not verify_rsa_sha256(public, sts.replace("13:42:13", "13:42:14"), signature)
    assert not verify_rsa_sha256(public, asymmetric_request_string_to_sign("POST", PATH + "x", b"", TS), signature)
    assert not verify_rsa_sha256(other_key.public_key(), sts, signature)
    assert not verify_rsa_sha256(public, sts, sign_rsa_sha256(other_key, sts))
    assert not verify_rsa_sha256(public, sts, "")


def test_body_hash_variants_cover_what_third_party_clients_sign() -> None:
    spaced = json.dumps(BODY).encode()  # Python's default: spaced and ASCII-escaped
    variants = body_hash_variants(spaced)
    assert variants["raw"] == hashlib.sha256(spaced).hexdigest()
    assert variants["minified"] == hashlib.sha256(json.dumps(BODY, separators=(",", ":")).encode()).hexdigest()
    assert variants["compact"] == body_hash(BODY)
    assert variants["compact-ascii"] == variants["minified"]
    assert set(body_hash_variants(b"not json")) == {"raw", "minified"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=4) | st.lists(json_values, max_size=4))
def test_minify_of_any_spacing_equals_the_compact_serialisation(value: object) -> None:
    compact = serialize_body(value)
    for spaced in (json.dumps(value, indent=2, ensure_ascii=False), json.dumps(value, ensure_ascii=False)):
        assert minify(spaced) == compact
