"""`ovo-nb postman`: the exported collection, run by the real runner (newman 6) against the loopback sandbox.

newman and jsrsasign are pinned in tests/postman/package.json (`npm ci --prefix tests/postman`, which
.ci/run does); the tests that need them skip, saying so, only where node or those packages cannot be had.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from ovo_nb import signing
from ovo_nb.cli import main
from ovo_nb.config import load_profile
from ovo_nb.keys import fingerprint, prepare_partner_keys
from ovo_nb.postman import JSRSASIGN_FILE, JSRSASIGN_VERSION, build_collection, export_postman, signing_script
from ovo_nb.sandbox import SandboxServer, open_sandbox
from ovo_nb.sandbox.core import Sandbox
from ovo_nb.snap import SignatureKind, format_timestamp, parse_timestamp
from ovo_nb.testbed import SANDBOX_TEST_PIN

TOOLS = Path(__file__).resolve().parent / "postman"
NEWMAN = TOOLS / "node_modules" / ".bin" / "newman"
JSRSASIGN = TOOLS / JSRSASIGN_FILE
RICH = "081234567890"
FAQ_ORDER = [
    "Lookup phone", "Account binding", "Binding webview (OTP, then PIN)", "B2B2C access token", "B2B2C refresh",
    "Balance inquiry", "Direct debit, 1st call", "Payment webview (PIN)", "Generate token", "Direct debit, 2nd call",
    "Direct debit status", "B2B access token", "Refund", "Unbinding, 1st call", "Unbinding webview (OTP)",
    "Unbinding, 2nd call",
]


def need_node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Postman collection's scripts cannot be run here")
    return node


def need_newman() -> Path:
    need_node()
    if not (NEWMAN.exists() and JSRSASIGN.exists()):
        pytest.skip("newman and jsrsasign are not installed: run `npm ci --prefix tests/postman` (.ci/run does)")
    return NEWMAN


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Sandbox, SandboxServer]]:
    """``ovo-nb sandbox`` as a user starts it: the default partner's credentials on disk, a loopback port."""
    sandbox, _ = open_sandbox(":memory:")
    server = SandboxServer(sandbox, "127.0.0.1", 0).start()
    monkeypatch.setenv("OVO_NB_SANDBOX_URL", server.url)
    yield sandbox, server
    server.stop()
    sandbox.store.close()


def export(out: Path, *args: str) -> tuple[Path, Path]:
    assert main(["postman", "--out", str(out), "--jsrsasign", str(JSRSASIGN), *args]) == 0
    return out / "ovo-nb-sandbox.postman_collection.json", out / "ovo-nb-sandbox.postman_environment.json"


def newman(collection: Path, environment: Path, report: Path, *only: str, export_to: Path | None = None) -> dict[str, Any]:
    """One newman run; its JSON report's ``run``."""
    command = [str(NEWMAN), "run", str(collection), "-e", str(environment), "--reporters", "cli,json",
               "--reporter-json-export", str(report), "--timeout-request", "30000", "--color", "off"]
    command += [arg for name in only for arg in ("--folder", name)]
    if export_to:
        command += ["--export-environment", str(export_to)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert report.exists(), done.stdout + done.stderr
    run: dict[str, Any] = json.loads(report.read_text())["run"]
    run["console"] = done.stdout
    return run


def failures(run: dict[str, Any]) -> list[str]:
    return [f"{f['source']['name']}: {f['error'].get('test', '')} {f['error']['message']}"
            for f in run["failures"]]


def summary(run: dict[str, Any]) -> str:
    stats = run["stats"]
    return (f"newman: {stats['requests']['total']} requests ({stats['requests']['failed']} failed), "
            f"{stats['assertions']['total']} assertions ({stats['assertions']['failed']} failed)")


# ----------------------------------------------------------------------------- the real runner, end to end


def test_newman_runs_the_whole_flow_against_the_loopback_sandbox(
        loopback: tuple[Sandbox, SandboxServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need_newman()
    sandbox, _ = loopback
    collection, environment = export(tmp_path / "postman")
    run = newman(collection, environment, tmp_path / "report.json")
    with capsys.disabled():
        print(f"\n{summary(run)}")
    assert failures(run) == [], run["console"]
    executed = [e["item"]["name"] for e in run["executions"]]
    assert executed == FAQ_ORDER
    assert all(e.get("assertions") for e in run["executions"])  # every request is checked
    assert run["stats"]["assertions"]["failed"] == 0 and run["stats"]["requests"]["failed"] == 0
    # what OVO recorded: one debit of 15,000.00, a refund of 5,000.00, and the customer unlinked
    assert Decimal(sandbox.customer_view(RICH)["cash"]) == Decimal("10000000.00") - 15000 + 5000
    assert [m["entry"] for m in sandbox.customer_ledger(RICH)][-2:] == ["DEBIT", "REFUND"]
    # every signed request went out minified and was verified strictly (the default partner is not lenient)
    forms = {header["value"] for e in run["executions"] for header in e["response"]["header"]
             if header["key"].lower() == "x-sandbox-body-hash-form"}
    assert forms == {"minified"}
    # the run can start again: the flow ends unbound
    again = newman(collection, environment, tmp_path / "again.json")
    assert failures(again) == [] and len(again["executions"]) == len(FAQ_ORDER)


def test_against_ovo_each_webview_step_stops_the_run_until_the_callback_is_pasted(
        loopback: tuple[Sandbox, SandboxServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stage and production (here the sandbox with $OVO_NB_MANUAL_WEBVIEW): a person opens each webview."""
    need_newman()
    sandbox, _ = loopback
    monkeypatch.setenv("OVO_NB_MANUAL_WEBVIEW", "1")
    collection, environment = export(tmp_path / "postman")
    values = {v["key"]: v["value"] for v in json.loads(environment.read_text())["values"]}
    assert values["webviewMode"] == "manual" and "pin" not in values
    stops, remaining, env = [], list(FAQ_ORDER), environment
    for attempt in range(4):
        state = tmp_path / f"env{attempt}.json"
        run = newman(collection, env, tmp_path / f"run{attempt}.json", *remaining, export_to=state)
        executed = [e["item"]["name"] for e in run["executions"]]
        problems = failures(run)
        if not problems:
            assert executed == [name for name in remaining if "webview" not in name]  # the pasted one is read, unsent
            break
        step = run["failures"][0]["source"]["name"]  # the run stopped at a webview, waiting for the customer
        assert "webview" in step and len(problems) == 1 and "waiting for the customer" in problems[0], problems
        sent = remaining[1:] if attempt else remaining  # a run after a paste starts at the webview it reads
        assert executed == sent[:sent.index(step)]
        kind = step.split()[0].lower()
        exported = json.loads(state.read_text())
        current = {v["key"]: v for v in exported["values"]}
        url = current[f"{kind}WebviewUrl"]["value"]
        assert "Open in a browser: http://127.0.0.1" in run["console"] and url.startswith("http://127.0.0.1")
        codes = {"binding": [RICH[-4:], SANDBOX_TEST_PIN], "payment": [SANDBOX_TEST_PIN], "unbinding": [RICH[-4:]]}
        outcome = None
        for code in codes[kind]:  # the customer, in the browser
            outcome = sandbox.webview_submit(url, code)
        assert outcome is not None and outcome.ok and outcome.callback_url
        current[f"{kind}CallbackUrl"]["value"] = outcome.callback_url  # what the person pastes
        state.write_text(json.dumps(exported))
        stops.append(kind)
        remaining, env = remaining[remaining.index(step):], state
    assert stops == ["binding", "payment", "unbinding"]
    assert [m["entry"] for m in sandbox.customer_ledger(RICH)][-2:] == ["DEBIT", "REFUND"]


def test_a_refused_step_stops_the_run_with_ovo_s_message(loopback: tuple[Sandbox, SandboxServer],
                                                          tmp_path: Path) -> None:
    need_newman()
    sandbox, _ = loopback
    collection, environment = export(tmp_path / "postman")
    wrong_pin = json.loads(environment.read_text())
    for variable in wrong_pin["values"]:
        if variable["key"] == "pin":
            variable["value"] = "000000"
    (tmp_path / "wrong-pin.json").write_text(json.dumps(wrong_pin))
    run = newman(collection, tmp_path / "wrong-pin.json", tmp_path / "pin.json")
    assert [e["item"]["name"] for e in run["executions"]] == FAQ_ORDER[:3]  # stopped at the webview
    assert failures(run) == ["Binding webview (OTP, then PIN): the webview took the codes and redirected with an "
                             "authCode Wrong PIN. 2 attempts left.: expected 422 to deeply equal 200"]
    sandbox.update_customer(RICH, cash="1000.00")
    run = newman(collection, environment, tmp_path / "broke.json")
    assert [e["item"]["name"] for e in run["executions"]] == FAQ_ORDER[:7]  # stopped at the 1st debit call
    assert len(failures(run)) == 1 and "responseCode 2025400" in failures(run)[0]
    assert "Insufficient Funds: expected '4035414' to deeply equal '2025400'" in failures(run)[0]


def test_the_collection_script_agrees_with_the_python_signer(tmp_path: Path) -> None:
    """minify, the strings to sign, X-TIMESTAMP and X-EXTERNAL-ID of the JavaScript, against ovo_nb.signing."""
    node = need_node()
    bodies = ['{ "a" : "x y" ,\n\t"b": [1, 2, {"c": "q\\"uo te\\\\"}] }', '{"note": "café  \\u00e9 \\n", "k": null}',
              '{\r\n  "partnerReferenceNo": "PAY-1",\r\n  "amount": {"value": "1.00", "currency": "IDR"}\r\n}', ""]
    parts = {"client_id": "oamerchantx", "method": "POST", "path": "/OVOSNAP/v2.0/debit/status", "token": "tok",
             "digest": "ab12", "timestamp": "2026-11-28T13:42:13.092+07:00"}
    probe = tmp_path / "probe.js"
    probe.write_text(signing_script() + f"""
var bodies = {json.dumps(bodies)}, parts = {json.dumps(parts)}, kinds = {json.dumps([k.value for k in SignatureKind])};
console.log(JSON.stringify({{
    minified: bodies.map(minify),
    strings: kinds.map(function (k) {{ return stringToSign(k, parts); }}),
    timestamp: jakartaTimestamp(Date.UTC(2026, 10, 28, 18, 30, 5, 7)),
    ids: [externalId(1700000000000), externalId(1700000000000)],
    token: bareToken('Bearer  abc.def '),
    paths: OVO.kinds
}}));
""")
    done = subprocess.run([node, str(probe)], capture_output=True, text=True, timeout=60, check=True)
    seen = json.loads(done.stdout)
    assert seen["minified"] == [signing.minify(b.encode()).decode() for b in bodies]
    assert seen["strings"] == [signing.compose_string_to_sign(k, **parts) for k in SignatureKind]
    assert seen["timestamp"] == "2026-11-29T01:30:05.007+07:00"
    assert parse_timestamp(seen["timestamp"]) and format_timestamp(parse_timestamp(seen["timestamp"])) == seen["timestamp"]
    assert all(i.isdigit() and len(i) == 19 and i.startswith("1700000000000") for i in seen["ids"])
    assert seen["token"] == "abc.def"
    assert seen["paths"]["/OVOSNAP/v1.0/access-token/b2b"] == "asymmetric-token"
    assert seen["paths"]["/OVOSNAP/v2.0/oauth/account/registration-account-binding"] == "asymmetric-request"
    assert seen["paths"]["/user/v2/account/lookup"] == "ovo" and not any(p.startswith("/api/") for p in seen["paths"])


# ----------------------------------------------------------------------------- what the files hold


@pytest.fixture
def sandbox_credentials() -> None:
    sandbox, _ = open_sandbox(":memory:")  # writes the default partner's key and credentials, as `ovo-nb sandbox`
    sandbox.store.close()


def fake_jsrsasign(tmp_path: Path) -> Path:
    path = tmp_path / JSRSASIGN_FILE
    path.parent.mkdir(parents=True)
    path.write_text("var KJUR = {}; var KEYUTIL = {}; /* a stand-in with jsrsasign's names */")
    return path


def test_secrets_live_only_in_the_environment(sandbox_credentials: None, tmp_path: Path, isolated_home: Path) -> None:
    done = export_postman(jsrsasign=fake_jsrsasign(tmp_path))
    assert done.collection.parent == isolated_home / "postman" and done.requests == len(FAQ_ORDER)
    assert stat.S_IMODE(done.collection.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(done.environment.stat().st_mode) == 0o600
    profile = load_profile("sandbox")
    environment = json.loads(done.environment.read_text())
    values = {v["key"]: v for v in environment["values"]}
    secret = {k for k, v in values.items() if v["type"] == "secret"}
    assert {"clientSecret", "privateKey", "accessToken", "refreshToken", "singleUseToken", "b2bToken",
            "linkageToken", "unbindingToken", "bindingWebviewUrl", "paymentAuthCode"} <= secret
    assert values["clientSecret"]["value"] == profile.client_secret
    key = serialization.load_pem_private_key(values["privateKey"]["value"].encode(), password=None)
    pkcs8 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode()
    assert values["privateKey"]["value"].strip() == pkcs8.strip()  # PKCS#8, no passphrase (made at run time)
    assert fingerprint(key) == fingerprint(profile.private_key)  # type: ignore[arg-type]
    assert values["baseUrl"]["value"] == "http://127.0.0.1:8765" and values["webviewMode"]["value"] == "sandbox"
    assert values["phone"]["value"] == RICH and values["pin"]["value"] == SANDBOX_TEST_PIN
    collection = done.collection.read_text()
    passphrase = (profile.private_key_path.parent / "partner_private_key.passphrase").read_text().strip()
    key_lines = [line for line in values["privateKey"]["value"].splitlines() if "-----" not in line]
    for leaked in [profile.client_secret, passphrase, *key_lines]:
        assert leaked not in collection
    parsed = json.loads(collection)
    assert parsed["info"]["schema"] == "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
    assert [i["name"] for folder in parsed["item"] for i in folder["item"]] == FAQ_ORDER


def test_each_request_carries_the_headers_the_client_sends(sandbox_credentials: None, tmp_path: Path) -> None:
    collection = build_collection(load_profile("sandbox"), "var KJUR, KEYUTIL;")
    requests = {i["name"]: i["request"] for folder in collection["item"] for i in folder["item"]}

    def headers(name: str) -> dict[str, str]:
        return {h["key"]: h["value"] for h in requests[name]["header"]}

    assert headers("B2B access token") == {"Content-Type": "application/json", "X-TIMESTAMP": "{{xTimestamp}}",
                                           "X-CLIENT-KEY": "{{clientId}}", "X-SIGNATURE": "{{xSignature}}"}
    assert headers("B2B2C access token")["Authorization"] == "Bearer {{linkageToken}}"
    assert "Authorization" not in headers("B2B2C refresh") and "Authorization" not in headers("Account binding")
    assert headers("Account binding")["X-EXTERNAL-ID"] == "{{xExternalId}}"
    assert headers("Direct debit, 2nd call")["Authorization"] == "Bearer {{singleUseToken}}"
    assert headers("Refund")["Authorization"] == "Bearer {{b2bToken}}"
    assert headers("Unbinding, 2nd call")["Authorization"] == "Bearer {{unbindingToken}}"
    assert headers("Balance inquiry")["CHANNEL-ID"] == "{{channelId}}"
    assert headers("Lookup phone") == {"Content-Type": "application/json", "X-TIMESTAMP": "{{xTimestamp}}",
                                       "X-PARTNER-ID": "{{clientId}}", "X-SIGNATURE": "{{xSignature}}"}
    assert requests["Lookup phone"]["url"]["raw"] == "{{baseUrl}}/user/v2/account/lookup?phone={{phone}}"
    assert requests["B2B access token"]["url"]["raw"] == "{{baseUrl}}/OVOSNAP/v1.0/access-token/b2b"
    assert requests["Direct debit, 2nd call"]["body"]["raw"] == "{{paymentBody}}"
    assert requests["Payment webview (PIN)"]["url"]["raw"] == "{{baseUrl}}/_sandbox/webview/complete"
    tests = {i["name"]: "\n".join(i["event"][0]["script"]["exec"]) for f in collection["item"] for i in f["item"]}
    assert "responseCode 2025400 (Request In Progress)" in tests["Direct debit, 1st call"]
    assert "responseCode 2005800 (Successful)" in tests["Refund"]


def test_stage_gets_the_manual_webview_and_its_own_settings(tmp_path: Path, isolated_home: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    prepare_partner_keys(isolated_home / "keys" / "stage", environment="stage")
    monkeypatch.setenv("OVO_NB_CLIENT_ID", "oamerchantacme")
    monkeypatch.setenv("OVO_NB_CLIENT_SECRET", "stage-secret-123")
    monkeypatch.setenv("OVO_NB_MERCHANT_ID", "MACME01")
    monkeypatch.setenv("OVO_NB_PATH_STYLE", "faq")
    monkeypatch.setenv("OVO_NB_SIGNATURE_ENCODING", "hex")
    monkeypatch.setenv("OVO_NB_CALLBACK_URLS", "https://acme.example/ovo/return")
    done = export_postman("stage", tmp_path / "out", jsrsasign=fake_jsrsasign(tmp_path))
    assert done.webview_mode == "manual" and done.environment.name == "ovo-nb-stage.postman_environment.json"
    values = {v["key"]: v["value"] for v in json.loads(done.environment.read_text())["values"]}
    assert values["baseUrl"] == "https://app.byte-stack.net" and values["signatureEncoding"] == "hex"
    assert values["callbackUrl"] == "https://acme.example/ovo/return" and values["phone"] == "" and "pin" not in values
    collection = json.loads(done.collection.read_text())
    urls = [i["request"]["url"]["raw"] for f in collection["item"] for i in f["item"]]
    assert "{{baseUrl}}/OVOSNAP/v1.0/balance-inquiry" in urls  # the FAQ's paths


@pytest.mark.parametrize(("setup", "args", "said"), [
    ("production", ["--profile", "production"], "needs --yes-production-secrets"),
    ("", ["--jsrsasign", "nowhere.js"], "Cannot read jsrsasign"),
    ("not-jsrsasign", [], "is not jsrsasign's one-file build"),
    ("no-jsrsasign", [], "npm install jsrsasign"),
    ("no-sandbox", [], "start the sandbox once"),
    ("aspi", [], "speaks the 'aspi' dialect"),
    ("no-callback", ["--profile", "stage"], "has no callback_urls"),
])
def test_mistakes_are_one_line(setup: str, args: list[str], said: str, tmp_path: Path, isolated_home: Path,
                               monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    if setup != "no-sandbox":
        open_sandbox(":memory:")[0].store.close()
    jsrsasign = fake_jsrsasign(tmp_path)
    if setup == "not-jsrsasign":
        jsrsasign.write_text("console.log('hello')")
    if setup == "no-jsrsasign":
        jsrsasign.unlink()
    if setup == "aspi":
        monkeypatch.setenv("OVO_NB_DIALECT", "aspi")
    if setup in ("no-callback", "production"):
        prepare_partner_keys(isolated_home / "keys" / "stage", environment="stage")
        for name, value in (("CLIENT_ID", "oamerchantacme"), ("CLIENT_SECRET", "s3cret"), ("MERCHANT_ID", "M1")):
            monkeypatch.setenv(f"OVO_NB_{name}", value)
    assert main(["postman", "--out", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ovo-nb: ") and said in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_found_jsrsasign_is_the_nearest_node_modules(sandbox_credentials: None, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fake_jsrsasign(tmp_path)
    (tmp_path / "project" / "sub").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "project" / "sub")
    done = export_postman(out=tmp_path / "out")
    variables = json.loads(done.collection.read_text())["variable"]
    assert variables[0]["key"] == "jsrsasign" and "stand-in" in variables[0]["value"]
    assert os.access(done.environment, os.R_OK)


def test_the_pinned_runner_is_the_one_the_export_recommends() -> None:
    pins = json.loads((TOOLS / "package.json").read_text())["dependencies"]
    assert pins["jsrsasign"] == JSRSASIGN_VERSION and pins["newman"].startswith("6.")
    locked = json.loads((TOOLS / "package-lock.json").read_text())["packages"]
    assert locked["node_modules/jsrsasign"]["version"] == JSRSASIGN_VERSION
    assert locked["node_modules/newman"]["version"] == pins["newman"]
