"""Postman: the collection OVO's partners already work with, written for a profile.

:func:`export_postman` writes a Postman Collection v2.1 with every mandatory API in the FAQ's
order (lookup, binding, its webview, the B2B2C token and its refresh, balance, the two debit
calls around the PIN webview and Generate Token, status, the B2B token, refund, unbinding around
its webview) and an environment for the profile. One collection-level pre-request script
(``postman_signing.js``) sets X-TIMESTAMP, X-EXTERNAL-ID and the signature each API takes; its
paths, signature kinds and strings-to-sign are written from :mod:`ovo_nb.snap` and
:mod:`ovo_nb.signing`, and its header names are the ones :class:`~ovo_nb.client.SnapRequestBuilder`
sends, so the collection and the client cannot drift apart. Each request tests its SNAP code.

Against the sandbox the webview steps type the OTP and PIN through its admin API
(``POST /_sandbox/webview/complete``); elsewhere (or with ``$OVO_NB_MANUAL_WEBVIEW``) a webview
step stops the run with the URL to open and the variable to paste the callback into.

Secrets (client secret, the private key decrypted as PKCS#8 PEM, and every token the run
receives) live only in the environment file (0600, Postman's ``secret`` type), never in the
collection. RSA signing needs jsrsasign, which Postman's sandbox lacks: its source comes from a
local npm install and travels in the collection variable ``jsrsasign``, so nothing is fetched
at run time and the collection runs offline, in the Postman app and in newman alike.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from . import __version__
from ._files import ensure_private_dir, ovo_nb_home, write_private_file
from .client import SnapRequestBuilder
from .config import Profile, load_profile
from .environments import ADMIN_PATH, MANUAL_WEBVIEW_ENV, WEBVIEW_COMPLETE
from .errors import ValidationError
from .signing import compose_string_to_sign
from .snap import (
    ENDPOINTS,
    JAKARTA,
    TRANSACTION_STATUSES,
    PathStyle,
    SignatureKind,
    endpoint,
    format_timestamp,
    response_code,
    response_message,
)
from .testbed import SANDBOX_SERVER_URL, SANDBOX_TEST_PIN, TEST_CUSTOMERS

__all__ = ["JSRSASIGN_FILE", "JSRSASIGN_VERSION", "PostmanExport", "build_collection", "build_environment",
           "export_postman", "find_jsrsasign", "signing_script"]

SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
JSRSASIGN_VERSION = "11.1.5"
"""The jsrsasign the collection is checked with (tests/postman/package.json pins the same)."""
JSRSASIGN_FILE = Path("node_modules") / "jsrsasign" / "lib" / "jsrsasign-all-min.js"
"""Where ``npm install jsrsasign`` puts the one-file build the collection carries."""
_JSRSASIGN_MAX_BYTES = 2 * 1024 * 1024


# ----------------------------------------------------------------------------- the requests, in the FAQ's order


@dataclass(frozen=True)
class _Request:
    """One request of the collection: an OVO API, or (``api=None``) a webview step."""

    name: str
    about: str
    api: str | None = None
    body: Any = None
    token: str | None = None
    """The environment variable ``Authorization: Bearer`` carries."""
    query: tuple[tuple[str, str], ...] = ()
    expect: str = ""
    """The SNAP responseCode of success ('' for OVO's non-SNAP APIs)."""
    tests: str = ""
    """JavaScript run after the answer: further checks, and what to keep for the next requests."""
    webview: str = ""
    """For a webview step: ``binding``, ``payment`` or ``unbinding``."""


def _code(http_status: int, api: str) -> str:
    service = endpoint(api).service_code
    assert service is not None
    return response_code(http_status, service)


def _keep(variable: str, expression: str) -> str:
    return f"pm.environment.set({json.dumps(variable)}, {expression});"


def _webview_url(kind: str, token: str) -> str:
    """JavaScript building the FAQ's webview URL from the answer: redirectUrl + every qParams entry
    + token + destination (the registered callback URL) + submissionType=redirect."""
    return "\n".join([
        f"var params = Object.assign({{}}, answer.additionalInfo.qParams, {{token: {token}, "
        "destination: pm.environment.get('callbackUrl'), submissionType: 'redirect'});",
        f"pm.environment.set('{kind}WebviewUrl', answer.redirectUrl + '?' + Object.keys(params).map(function (k) {{",
        "    return encodeURIComponent(k) + '=' + encodeURIComponent(params[k]);",
        "}).join('&'));",
        f"pm.environment.set('{kind}CallbackUrl', '');",
        f"pm.environment.set('{kind}AuthCode', '');",
    ])


def _requests() -> list[tuple[str, list[_Request]]]:
    """The folders and their requests: every mandatory API of the FAQ, in its order."""
    paid = TRANSACTION_STATUSES["00"]
    reference = "{{$timestamp}}{{$randomInt}}"
    return [
        ("1. Linkage", [
            _Request("Lookup phone", "Whether the phone can be linked (mandatory before binding). "
                     "CAN_REGISTER: ask the customer to register in the OVO app first.", "lookup",
                     query=(("phone", "{{phone}}"),),
                     tests="pm.test('accountStatus is ACTIVE (CAN_REGISTER: the customer must register in the OVO "
                           "app first)', function () {\n    pm.expect(answer.accountStatus, answer.message)"
                           ".to.eql('ACTIVE');\n});\nif (answer.accountStatus !== 'ACTIVE') {\n"
                           "    pm.execution.setNextRequest(null);\n}"),
            _Request("Account binding", "Starts linking: answers the linkageToken (5 minutes) and the OTP webview.",
                     "account_binding", {"partnerReferenceNo": f"BIND-{reference}", "phoneNo": "{{phone}}",
                                         "merchantId": "{{merchantId}}"}, expect=_code(200, "account_binding"),
                     tests=_keep("linkageToken", "answer.linkageToken") + "\n"
                     + _webview_url("binding", "answer.linkageToken")),
            _Request("Binding webview (OTP, then PIN)", "The customer types the OTP (the last 4 digits of the phone "
                     "at stage) and the Security PIN. The webview URL carries the linkageToken.", webview="binding"),
            _Request("B2B2C access token", "The binding webview's authCode, with the linkageToken, for the access "
                     "token (15 days) and the refresh token.", "b2b2c_token",
                     {"grantType": "AUTHORIZATION_CODE", "authCode": "{{bindingAuthCode}}"}, token="linkageToken",
                     expect=_code(200, "b2b2c_token"),
                     tests=_keep("accessToken", "answer.accessToken") + "\n"
                     + _keep("refreshToken", "answer.refreshToken")),
            _Request("B2B2C refresh", "A new access token from the refresh token (no Authorization).", "b2b2c_token",
                     {"grantType": "REFRESH_TOKEN", "refreshToken": "{{refreshToken}}"},
                     expect=_code(200, "b2b2c_token"), tests=_keep("accessToken", "answer.accessToken")),
        ]),
        ("2. Direct debit", [
            _Request("Balance inquiry", "OVO Cash and Points; OVO requires it before every debit.", "balance_inquiry",
                     {"partnerReferenceNo": f"BAL-{reference}"}, token="accessToken",
                     expect=_code(200, "balance_inquiry")),
            _Request("Direct debit, 1st call", "Starts the payment with the access token: 202 'Transaction still on "
                     "process', nothing deducted yet, and the PIN webview.", "debit_payment",
                     {"partnerReferenceNo": f"PAY-{reference}", "merchantId": "{{merchantId}}",
                      "amount": {"value": "{{amount}}", "currency": "IDR"},
                      "urlParam": [{"url": "{{callbackUrl}}", "type": "PAY_RETURN", "isDeeplink": "N"}]},
                     token="accessToken", expect=_code(202, "debit_payment"),
                     tests="\n".join([_keep("paymentBody", "pm.request.body.raw"),
                                      _keep("paymentReferenceNo", "answer.partnerReferenceNo"),
                                      _keep("referenceNo", "answer.referenceNo"),
                                      _webview_url("payment", "pm.environment.get('accessToken')")])),
            _Request("Payment webview (PIN)", "The customer types the Security PIN. The webview URL carries the "
                     "access token (not a linkage token).", webview="payment"),
            _Request("Generate token", "The payment webview's authCode for the singleUseToken (15 minutes).",
                     "generate_token", query=(("grantType", "authorization_code"), ("code", "{{paymentAuthCode}}")),
                     tests="pm.test('a singleUseToken', function () {\n    pm.expect(answer.singleUseToken, "
                           "explain(answer)).to.be.a('string').and.not.empty;\n});\n"
                           + _keep("singleUseToken", "answer.singleUseToken")),
            _Request("Direct debit, 2nd call", "The identical body (the variable paymentBody holds what the 1st call "
                     "sent) with the singleUseToken: the debit.", "debit_payment", "{{paymentBody}}",
                     token="singleUseToken", expect=_code(200, "debit_payment"),
                     tests="pm.test('an approvalCode', function () {\n    pm.expect(answer.approvalCode)"
                           ".to.be.a('string').and.not.empty;\n});"),
            _Request("Direct debit status", "Where the payment stands, with the customer's access token.",
                     "debit_status", {"originalPartnerReferenceNo": "{{paymentReferenceNo}}",
                                      "originalReferenceNo": "{{referenceNo}}",
                                      "serviceCode": endpoint("debit_payment").service_code,
                                      "merchantId": "{{merchantId}}"}, token="accessToken",
                     expect=_code(200, "debit_status"),
                     tests=f"pm.test('latestTransactionStatus 00 ({paid})', function () {{\n"
                           "    pm.expect(answer.latestTransactionStatus, answer.transactionStatusDesc).to.eql('00');\n"
                           "});"),
        ]),
        ("3. Refund", [
            _Request("B2B access token", "The partner's system token (15 minutes), for refunds only.", "b2b_token",
                     {"grantType": "client_credentials", "additionalInfo": {}}, expect=_code(200, "b2b_token"),
                     tests=_keep("b2bToken", "answer.accessToken")),
            _Request("Refund", "Refunds part of the payment with the B2B token (works after unbinding too).",
                     "debit_refund", {"originalPartnerReferenceNo": "{{paymentReferenceNo}}",
                                      "originalReferenceNo": "{{referenceNo}}", "partnerRefundNo": f"RF-{reference}",
                                      "refundAmount": {"value": "{{refundAmount}}", "currency": "IDR"},
                                      "reason": "Refund from Postman", "merchantId": "{{merchantId}}"},
                     token="b2bToken", expect=_code(200, "debit_refund")),
        ]),
        ("4. Unbinding", [
            _Request("Unbinding, 1st call", "With the access token and authCode null: answers the unbinding token "
                     "and its confirmation webview.", "account_unbinding",
                     {"partnerReferenceNo": f"UNBIND-{reference}", "authCode": None}, token="accessToken",
                     expect=_code(200, "account_unbinding"),
                     tests="\n".join([_keep("unbindingToken", "answer.linkageToken"),
                                      _keep("unbindingReferenceNo",
                                            "JSON.parse(pm.request.body.raw).partnerReferenceNo"),
                                      _webview_url("unbinding", "answer.linkageToken")])),
            _Request("Unbinding webview (OTP)", "The customer confirms with the OTP. The webview URL carries the "
                     "unbinding token.", webview="unbinding"),
            _Request("Unbinding, 2nd call", "The unbinding token and the webview's authCode: the account is unlinked "
                     "and every token revoked.", "account_unbinding",
                     {"partnerReferenceNo": "{{unbindingReferenceNo}}", "authCode": "{{unbindingAuthCode}}"},
                     token="unbindingToken", expect=_code(200, "account_unbinding"),
                     tests="pm.test('unlinkResult success', function () {\n"
                           "    pm.expect(answer.unlinkResult).to.eql('success');\n});"),
        ]),
    ]


_WEBVIEW_ROUTE = f"{ADMIN_PATH}/{WEBVIEW_COMPLETE}"
_WEBVIEW_CODES = {"binding": ["{{otp}}", "{{pin}}"], "payment": ["{{pin}}"], "unbinding": ["{{otp}}"]}
"""What the customer types in each webview, in order (the sandbox's test customers share one PIN)."""

# ----------------------------------------------------------------------------- scripts

_EXPLAIN = ("function explain(answer) {\n"
            "    var hint = answer && answer._sandbox && answer._sandbox.hint;\n"
            "    return String(answer && (answer.responseMessage || answer.message || answer.error)) "
            "+ (hint ? ' | sandbox: ' + hint : '');\n}")

_COLLECTION_TESTS = """\
// ovo-nb: every OVO answer has SNAP's shape: the HTTP status is the responseCode's first three digits.
(function () {
    var answer;
    try { answer = pm.response.json(); } catch (e) { return; }
    if (!answer || !/^[0-9]{7}$/.test(String(answer.responseCode))) { return; }
    pm.test('HTTP ' + pm.response.code + ' is the first three digits of ' + answer.responseCode, function () {
        pm.expect(String(pm.response.code)).to.eql(String(answer.responseCode).slice(0, 3));
    });
    if (answer._sandbox && answer._sandbox.hint) { console.log(pm.info.requestName + ': ' + answer._sandbox.hint); }
})();"""


def _tests_script(request: _Request) -> str:
    """The request's checks; a refused step stops the run (the flow cannot go on without it)."""
    if request.expect:
        check = (f"var passed = answer.responseCode === '{request.expect}';\n"
                 f"pm.test('responseCode {request.expect} ({response_message(request.expect)})', function () {{\n"
                 f"    pm.expect(answer.responseCode, explain(answer)).to.eql('{request.expect}');\n}});")
    else:
        check = ("var passed = pm.response.code === 200;\n"
                 "pm.test('HTTP 200', function () {\n"
                 "    pm.expect(pm.response.code, explain(answer)).to.eql(200);\n});")
    stop = "if (!passed) {\n    pm.execution.setNextRequest(null);\n}"
    if request.tests:
        then = "\n".join("    " + line for line in request.tests.splitlines())
        stop = f"if (passed) {{\n{then}\n}} else {{\n    pm.execution.setNextRequest(null);\n}}"
    return "\n".join(["var answer = {};", "try { answer = pm.response.json(); } catch (e) { }", _EXPLAIN, check, stop])


def _webview_prerequest(kind: str) -> str:
    """Sandbox: type the codes through the admin API. Elsewhere: stop with the URL, or read the pasted callback."""
    return f"""\
// The {kind} webview. Against the sandbox (webviewMode 'sandbox') this request types the customer's codes
// through the sandbox's admin API. Against OVO (webviewMode 'manual') nothing is sent: the run stops with
// the URL to open in a browser; paste the URL the browser lands on into {kind}CallbackUrl and send this
// request again (or run the collection from here), and its authCode is read from the callback.
pm.variables.set('otp', String(pm.environment.get('phone') || '').slice(-4));
if (pm.environment.get('webviewMode') !== 'sandbox') {{
    var landed = String(pm.environment.get('{kind}CallbackUrl') || '');
    if (!landed) {{
        console.log('Open in a browser: ' + pm.environment.get('{kind}WebviewUrl'));
        pm.test('waiting for the customer: open {kind}WebviewUrl in a browser, then paste the URL it lands on '
                + 'into {kind}CallbackUrl and send this request again', function () {{
            pm.expect.fail('{kind}CallbackUrl is empty');
        }});
        pm.execution.setNextRequest(null);
    }} else {{
        var response = {{}};
        (landed.split('?')[1] || '').split('&').forEach(function (pair) {{
            var at = pair.indexOf('=');
            if (pair.slice(0, at) === 'response') {{
                try {{
                    response = JSON.parse(decodeURIComponent(pair.slice(at + 1).replace(/\\+/g, ' ')));
                }} catch (e) {{ }}
            }}
        }});
        pm.test('the callback carries an authCode', function () {{
            pm.expect(response.authCode, 'displayMsg ' + response.displayMsg + ', errorCode ' + response.errorCode
                      + ': start the step again').to.be.a('string').and.not.empty;
        }});
        if (response.authCode) {{
            pm.environment.set('{kind}AuthCode', response.authCode);
        }} else {{
            pm.execution.setNextRequest(null);
        }}
    }}
    pm.execution.skipRequest();
}}"""


def _webview_tests(kind: str) -> str:
    return f"""\
var answer = {{}};
try {{ answer = pm.response.json(); }} catch (e) {{ }}
var authCode = answer.response && answer.response.authCode;
pm.test('the webview took the codes and redirected with an authCode', function () {{
    pm.expect(pm.response.code, answer.message || answer.error).to.eql(200);
    pm.expect(authCode).to.be.a('string').and.not.empty;
}});
if (authCode) {{
    pm.environment.set('{kind}CallbackUrl', answer.callbackUrl);
    pm.environment.set('{kind}AuthCode', authCode);
}} else {{
    pm.execution.setNextRequest(null);
}}"""


def _event(listen: str, script: str) -> dict[str, Any]:
    return {"listen": listen, "script": {"type": "text/javascript", "exec": script.splitlines()}}


# ----------------------------------------------------------------------------- the vocabulary for the script

_FIELDS = ("client_id", "method", "path", "token", "digest", "timestamp")
_MARK = "\x01"


def _string_to_sign_templates() -> dict[str, list[str]]:
    """Each kind's string-to-sign as alternating literal text and field names, read off
    :func:`~ovo_nb.signing.compose_string_to_sign` itself (fields marked, then split)."""
    marked = {name: f"{_MARK}{name.upper()}{_MARK}" for name in _FIELDS}
    templates = {}
    for kind in SignatureKind:
        pieces = compose_string_to_sign(kind, **marked).split(_MARK)
        templates[kind.value] = [piece.lower() if i % 2 else piece for i, piece in enumerate(pieces)]
    return templates


_NEEDS = {
    "clientId": "the client id OVO issued (client_id in the credential file)",
    "clientSecret": "the client secret OVO issued (client_secret in the credential file)",
    "privateKey": "the partner private key as unencrypted PEM (ovo-nb postman writes it into the environment)",
    "signatureEncoding": "base64 (SNAP) or hex (OVO's FAQ sample)",
    "jsrsasign": "jsrsasign's source (jsrsasign-all-min.js); export again with ovo-nb postman --jsrsasign FILE",
}


def _vocabulary() -> dict[str, Any]:
    kinds = {}
    for api in ENDPOINTS.values():
        for path in api.all_paths():
            if not path.startswith("/api/"):  # the BI devsite signs its own way (dialect aspi)
                kinds[path] = api.signature.value
    offset = JAKARTA.utcoffset(None)
    return {
        "kinds": dict(sorted(kinds.items())),
        "stringToSign": _string_to_sign_templates(),
        "rsa": [SignatureKind.ASYMMETRIC_TOKEN.value, SignatureKind.ASYMMETRIC_REQUEST.value],
        "hmac": {SignatureKind.SYMMETRIC.value: "HmacSHA512", SignatureKind.OVO.value: "HmacSHA256"},
        "fixedEncoding": {SignatureKind.OVO.value: "hex"},
        "jakartaOffsetMinutes": int(offset.total_seconds() // 60),
        "jakartaOffset": format_timestamp()[-6:],  # as snap writes X-TIMESTAMP's offset
        "needs": _NEEDS,
    }


def signing_script() -> str:
    """The collection-level pre-request script, with the vocabulary written in."""
    template = resources.files("ovo_nb").joinpath("postman_signing.js").read_text(encoding="utf-8")
    return template.replace("__OVO_VOCABULARY__", json.dumps(_vocabulary(), indent=4))


# ----------------------------------------------------------------------------- requests and headers

_HEADER_VALUES = {
    "content-type": "application/json", "x-timestamp": "{{xTimestamp}}", "x-signature": "{{xSignature}}",
    "x-client-key": "{{clientId}}", "x-partner-id": "{{clientId}}", "x-external-id": "{{xExternalId}}",
    "x-device-id": "{{deviceId}}", "channel-id": "{{channelId}}",
}
_TRANSPORT_HEADERS = {"host", "content-length"}


def _headers(builder: SnapRequestBuilder, request: _Request) -> list[dict[str, str]]:
    """The headers the client sends for this API, each with the variable Postman fills it from."""
    assert request.api is not None
    built = builder.build(request.api, request.body if isinstance(request.body, dict) else {},
                          token="token" if request.token else None, query=dict(request.query) or None)
    headers = []
    for raw_name, _ in built.headers.raw:
        name = raw_name.decode()
        key = name.lower()
        if key in _TRANSPORT_HEADERS:
            continue
        if key == "authorization":
            value = f"Bearer {{{{{request.token}}}}}"
        elif key in _HEADER_VALUES:
            value = _HEADER_VALUES[key]
        else:
            raise ValidationError(f"The client sends a header the Postman export does not know: {name}.")
        headers.append({"key": name, "value": value, "type": "text"})
    return headers


def _url(base: str, path: str, query: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    raw = base + path + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")
    url: dict[str, Any] = {"raw": raw, "host": [base], "path": [p for p in path.split("/") if p]}
    if query:
        url["query"] = [{"key": k, "value": v} for k, v in query]
    return url


def _raw_body(body: Any) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body, indent=4, ensure_ascii=False)
    return {"mode": "raw", "raw": text, "options": {"raw": {"language": "json"}}}


def _item(builder: SnapRequestBuilder, style: PathStyle, request: _Request) -> dict[str, Any]:
    if request.webview:
        http: dict[str, Any] = {
            "method": "POST", "header": [{"key": "Content-Type", "value": "application/json", "type": "text"}],
            "url": _url("{{baseUrl}}", _WEBVIEW_ROUTE),
            "body": _raw_body({"url": f"{{{{{request.webview}WebviewUrl}}}}",
                               "codes": _WEBVIEW_CODES[request.webview]}),
        }
        events = [_event("prerequest", _webview_prerequest(request.webview)),
                  _event("test", _webview_tests(request.webview))]
        about = request.about + (f" Sandbox: through the admin API `POST {_WEBVIEW_ROUTE}`. OVO stage or "
                                 f"production: the run stops here; open `{request.webview}WebviewUrl` in a browser "
                                 f"and paste the URL it lands on into `{request.webview}CallbackUrl`.")
    else:
        assert request.api is not None
        api = endpoint(request.api)
        http = {"method": api.method, "header": _headers(builder, request),
                "url": _url("{{baseUrl}}", api.path(style), request.query)}
        if request.body is not None:
            http["body"] = _raw_body(request.body)
        events = [_event("test", _tests_script(request))]
        token = f"`Authorization: Bearer {{{{{request.token}}}}}`" if request.token else "no Authorization"
        about = f"{request.about}\n\nSignature: {api.signature.value}; {token}."
    http["description"] = about
    return {"name": request.name, "event": events, "request": http}


def build_collection(profile: Profile, jsrsasign_source: str) -> dict[str, Any]:
    """The Postman Collection v2.1 for ``profile``: no secret in it, only ``{{variables}}``."""
    _check_dialect(profile)
    builder = SnapRequestBuilder(profile.client_id, profile.client_secret, profile.private_key,
                                 style=profile.path_style, channel_id=profile.channel_id, device_id=profile.device_id)
    folders = [{"name": name, "item": [_item(builder, profile.path_style, r) for r in requests]}
               for name, requests in _requests()]
    return {
        "info": {
            "_postman_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"ovo-nb/postman/{profile.name}/collection")),
            "name": f"OVO SNAP direct debit ({profile.name}, ovo-nb)",
            "description": ("Every mandatory API of OVO's FAQ in its order, signed by the collection-level "
                            "pre-request script. Written by `ovo-nb postman`; see the ovo-nb README, "
                            "\"Using Postman\". Pick the environment written with it."),
            "schema": SCHEMA,
        },
        "item": folders,
        "event": [_event("prerequest", signing_script()), _event("test", _COLLECTION_TESTS)],
        "variable": [{"key": "jsrsasign", "value": jsrsasign_source, "type": "string",
                      "description": "jsrsasign's source (RSA signing), from a local npm install"}],
    }


# ----------------------------------------------------------------------------- the environment


def _private_key_pem(profile: Profile) -> str:
    """The partner key as unencrypted PKCS#8 PEM: what jsrsasign reads without a passphrase."""
    return profile.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode()


_RUNTIME_SECRETS = ("linkageToken", "accessToken", "refreshToken", "singleUseToken", "b2bToken", "unbindingToken",
                    "bindingWebviewUrl", "paymentWebviewUrl", "unbindingWebviewUrl", "bindingCallbackUrl",
                    "paymentCallbackUrl", "unbindingCallbackUrl", "bindingAuthCode", "paymentAuthCode",
                    "unbindingAuthCode")
"""What the run receives and keeps: tokens and what carries them (webview URLs, callbacks, authCodes)."""
_RUNTIME_VALUES = ("paymentBody", "paymentReferenceNo", "referenceNo", "unbindingReferenceNo")


def build_environment(profile: Profile, base_url: str, *, manual_webview: bool = False) -> dict[str, Any]:
    """The Postman environment for ``profile``: settings, and the secrets typed ``secret``."""
    if not profile.callback_urls:
        raise ValidationError(f"Profile {profile.name!r} has no callback_urls: the webview steps need the callback "
                              "URL OVO registered for you. Add callback_urls = [\"https://...\"] under "
                              f"[profiles.{profile.name}] in ~/.ovo-nb/config.toml, or set OVO_NB_CALLBACK_URLS.")
    sandbox = profile.is_sandbox and not manual_webview
    settings: list[tuple[str, str, bool]] = [
        ("baseUrl", base_url, False), ("clientId", profile.client_id, False),
        ("clientSecret", profile.client_secret, True), ("privateKey", _private_key_pem(profile), True),
        ("merchantId", profile.merchant_id, False), ("channelId", profile.channel_id, False),
        ("deviceId", profile.device_id, False), ("callbackUrl", profile.callback_urls[0], False),
        ("signatureEncoding", profile.signature_encoding, False),
        ("webviewMode", "sandbox" if sandbox else "manual", False),
        ("phone", TEST_CUSTOMERS[0]["phone"] if profile.is_sandbox else "", False),
        ("amount", "15000.00", False), ("refundAmount", "5000.00", False),
    ]
    if sandbox:
        settings.append(("pin", SANDBOX_TEST_PIN, False))
    settings += [(name, "", True) for name in _RUNTIME_SECRETS] + [(name, "", False) for name in _RUNTIME_VALUES]
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"ovo-nb/postman/{profile.name}/environment")),
        "name": f"OVO {profile.name} (ovo-nb)",
        "values": [{"key": key, "value": value, "type": "secret" if secret else "default", "enabled": True}
                   for key, value, secret in settings],
        "_postman_variable_scope": "environment",
        "_postman_exported_using": f"ovo-nb/{__version__}",
    }


# ----------------------------------------------------------------------------- files


def find_jsrsasign(start: Path | None = None) -> Path | None:
    """``node_modules/jsrsasign/lib/jsrsasign-all-min.js`` in ``start`` (default: here) or a parent, as node looks."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / JSRSASIGN_FILE).is_file():
            return candidate / JSRSASIGN_FILE
    return None


def _read_jsrsasign(path: Path | None) -> str:
    found = path or find_jsrsasign()
    if found is None:
        raise ValidationError("jsrsasign not found: the collection signs with RSA through jsrsasign, which Postman "
                              f"lacks. Run `npm install jsrsasign@{JSRSASIGN_VERSION}` here, or give --jsrsasign "
                              "path/to/jsrsasign-all-min.js.")
    try:
        size = found.stat().st_size
        text = found.read_text(encoding="utf-8") if size <= _JSRSASIGN_MAX_BYTES else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"Cannot read jsrsasign from {found}: {exc}") from None
    if "KEYUTIL" not in text or "KJUR" not in text:
        raise ValidationError(f"{found} is not jsrsasign's one-file build (jsrsasign-all-min.js from the npm package).")
    return text


def _check_dialect(profile: Profile) -> None:
    if profile.dialect != "ovo":
        raise ValidationError(f"Profile {profile.name!r} speaks the {profile.dialect!r} dialect; this collection "
                              "speaks OVO's (dialect = \"ovo\").")


@dataclass(frozen=True)
class PostmanExport:
    """The files :func:`export_postman` wrote."""

    collection: Path
    environment: Path
    requests: int
    webview_mode: str


def export_postman(profile: str | Profile | None = None, out: str | Path | None = None, *,
                   jsrsasign: str | Path | None = None, production_secrets: bool = False,
                   env: Mapping[str, str] | None = None) -> PostmanExport:
    """Write ``ovo-nb-<profile>.postman_collection.json`` and ``.postman_environment.json`` into ``out``
    (default ``~/.ovo-nb/postman``, 0700); the environment is 0600.

    The sandbox profile points at the loopback sandbox (``$OVO_NB_SANDBOX_URL``, or where
    ``ovo-nb sandbox`` listens by default) and needs its credentials (``ovo-nb sandbox`` writes
    them). Production's secrets are exported only with ``production_secrets=True``.
    """
    env = os.environ if env is None else env
    resolved = profile if isinstance(profile, Profile) else load_profile(profile, env=env)
    _check_dialect(resolved)
    if resolved.name == "production" and not production_secrets:
        raise ValidationError("Exporting production's client secret and private key into a Postman environment "
                              "needs --yes-production-secrets; try your flows against stage instead.")
    if resolved.is_sandbox and not resolved.client_secret:
        raise ValidationError(f"No sandbox credentials in {resolved.private_key_path.parent}: start the sandbox once "
                              "(`ovo-nb sandbox`), which writes them, then export again.")
    base_url = SANDBOX_SERVER_URL if resolved.in_process else resolved.base_url.rstrip("/")
    source = _read_jsrsasign(Path(jsrsasign).expanduser() if jsrsasign else None)
    environment = build_environment(resolved, base_url, manual_webview=bool(env.get(MANUAL_WEBVIEW_ENV)))
    collection = build_collection(resolved, source)
    folder = ensure_private_dir(Path(out).expanduser() if out else ovo_nb_home() / "postman")
    stem = f"ovo-nb-{resolved.name}"
    collection_path = folder / f"{stem}.postman_collection.json"
    collection_path.write_text(json.dumps(collection, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    environment_path = write_private_file(folder / f"{stem}.postman_environment.json",
                                          (json.dumps(environment, indent=2, ensure_ascii=False) + "\n").encode(),
                                          overwrite=True)
    mode = next(v["value"] for v in environment["values"] if v["key"] == "webviewMode")
    return PostmanExport(collection_path, environment_path, sum(len(f["item"]) for f in collection["item"]), mode)
