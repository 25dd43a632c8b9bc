"""On the way to OVO stage, every check tells the truth. A loopback sandbox stands in for stage, with a
partner of its own (client id, merchant id, callback URL); the stage profile points at it through the
environment, as a partner's shell or CI would."""

from __future__ import annotations

import json
import re
import shlex
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import nbformat
import pytest

from ovo_nb.cli import main
from ovo_nb.environments import SandboxAdmin, sandbox_admin
from ovo_nb.flows import Ovo
from ovo_nb.keys import default_key_dir, prepare_partner_keys, public_key_pem
from ovo_nb.sandbox import SandboxServer, open_sandbox
from ovo_nb.webview import parse_callback

pytestmark = pytest.mark.timeout(300)

CLIENT_ID, SECRET, MERCHANT = "oamerchantstage", "stage-secret-0123456789abcdef", "MSTAGE77"
CALLBACK = "https://shop.example.com/ovo/callback"


@dataclass
class StandIn:
    url: str
    admin: SandboxAdmin
    sandbox: object
    env: dict[str, str]


def _exported(url: str, prefix: str = "OVO_NB_STAGE_") -> dict[str, str]:
    return {f"{prefix}BASE_URL": url, f"{prefix}CLIENT_ID": CLIENT_ID, f"{prefix}CLIENT_SECRET": SECRET,
            f"{prefix}MERCHANT_ID": MERCHANT, f"{prefix}CALLBACK_URLS": CALLBACK, f"{prefix}CHANNEL_ID": "77001"}


@pytest.fixture
def stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    keys = prepare_partner_keys(default_key_dir("stage"), environment="stage")
    sandbox, _ = open_sandbox(":memory:", folder=tmp_path / "stand-in")
    sandbox.register_partner(public_key_pem(keys.private_key, "pkcs1"), client_id=CLIENT_ID, client_secret=SECRET,
                             merchant_id=MERCHANT, callback_urls=[CALLBACK], channel_id="77001")
    server = SandboxServer(sandbox, "127.0.0.1", 0, workers=4).start()
    env = _exported(server.url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    admin = sandbox_admin(server.url)
    try:
        yield StandIn(server.url, admin, sandbox, env)
    finally:
        admin.close()
        server.stop()
        sandbox.store.close()


def _summary(run_root: Path) -> dict[str, object]:
    [run_dir] = [p for p in run_root.iterdir() if p.is_dir()]
    return json.loads((run_dir / "summary.json").read_text())  # type: ignore[no-any-return]


def test_the_profile_in_the_environment_is_where_the_notebooks_call(
        stage: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OVO_NB_PROFILE", "stage")
    phone = stage.admin.new_customer()
    assert main(["run", "binding", "-p", "phone", phone, "--output", str(tmp_path / "runs")]) == 3
    out = capsys.readouterr().out
    assert "WAIT 02_binding.ipynb" in out and f"stage ({stage.url})" in out and "in-process" not in out
    [notebook] = _summary(tmp_path / "runs")["notebooks"]  # type: ignore[misc]
    assert (notebook["state"], notebook["profile"], notebook["base_url"]) == ("waiting", "stage", stage.url)
    lookups = stage.sandbox.store.all("SELECT client_id FROM lookups")  # type: ignore[attr-defined]
    assert [row["client_id"] for row in lookups] == [CLIENT_ID]  # the stand-in, not the sandbox, got the calls


def test_waiting_for_the_customer_is_never_a_pass_and_the_printed_command_resumes(
        stage: StandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    phone = stage.admin.new_customer()
    junit = tmp_path / "junit.xml"
    assert main(["run", "binding", "--profile", "stage", "-p", "phone", phone, "--output", str(tmp_path / "runs"),
                 "--junit", str(junit)]) == 3
    out = capsys.readouterr().out
    url = re.search(r"^     (http://127\.0\.0\.1:\d+/cellblockui/\S+)$", out, re.M)
    assert url is not None, out
    token = parse_qs_token(url.group(1))
    stored = Path(re.search(r"also in (\S+\.url), readable by you only", out).group(1))  # type: ignore[union-attr]
    assert stored.read_text().strip() == url.group(1) and stat.S_IMODE(stored.stat().st_mode) == 0o600
    for path in (tmp_path / "runs").rglob("*"):  # the customer's token and phone never land in outputs/
        if path.is_file():
            assert token not in path.read_text(errors="replace"), path
            assert phone not in path.read_text(errors="replace"), path
    case = ElementTree.parse(junit).getroot().find(".//testcase")
    assert case is not None and case.find("failure") is None
    skipped = case.find("skipped")
    assert skipped is not None and "waiting" in skipped.get("message", "") and "callback_url" in skipped.get(
        "message", "")
    assert ElementTree.parse(junit).getroot().find("testsuite").get("skipped") == "1"  # type: ignore[union-attr]

    landed = stage.admin.complete_webview(url.group(1), phone[-4:], "123456")  # the customer, on the phone
    command = re.search(r"then resume with:\n     (ovo-nb run .+)$", out, re.M).group(1)  # type: ignore[union-attr]
    assert command == (f"ovo-nb run binding --profile stage -p phone {phone} -p callback_url "
                       "'<the URL the browser landed on>'")
    words = shlex.split(command.replace("'<the URL the browser landed on>'", shlex.quote(landed)))
    assert main([*words[1:], "--output", str(tmp_path / "resumed")]) == 0
    assert "PASS 02_binding.ipynb" in capsys.readouterr().out
    auth_code = parse_callback(landed).auth_code
    for path in (tmp_path / "resumed").rglob("*"):  # the authCode in the callback parameter stays out of outputs
        if path.is_file():
            assert auth_code not in path.read_text(errors="replace"), path
    masked = _summary(tmp_path / "runs")["notebooks"][0]["resume"]  # type: ignore[index]
    assert phone not in masked and "<the customer" in masked
    with Ovo.open("stage") as ovo:
        assert ovo.is_bound(phone)


def parse_qs_token(url: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(url).query)["token"][0]


def test_what_stage_lacks_is_skipped_with_the_reason(stage: StandIn, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "junit.xml"
    assert main(["run", "binding", "refund", "bi_submission", "--profile", "stage", "--jobs", "1",
                 "--output", str(tmp_path / "runs"), "--junit", str(junit)]) == 4
    out = capsys.readouterr().out
    assert out.count("SKIP ") == 3 and "0 of 3 notebooks passed, 3 skipped" in out
    assert "give -p phone <the phone of your OVO stage account>" in out
    assert "give -p reference <its partnerReferenceNo>" in out and "need a person at every webview step" in out
    summary = _summary(tmp_path / "runs")
    assert summary["state"] == "skipped" and summary["ok"] is False
    cases = ElementTree.parse(junit).getroot().findall(".//testcase")
    assert all(c.find("skipped") is not None and c.find("failure") is None for c in cases)


def test_p_profile_wins_over_the_option_and_the_variable(stage: StandIn, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OVO_NB_PROFILE", "stage")
    assert main(["run", "binding", "--profile", "stage", "-p", "profile", "sandbox",
                 "--output", str(tmp_path / "runs")]) == 0
    assert "PASS 02_binding.ipynb" in (out := capsys.readouterr().out) and "sandbox (in-process)" in out


def test_calls_that_went_elsewhere_than_asked_fail_the_run(stage: StandIn, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "mine"
    (project / "notebooks").mkdir(parents=True)
    (project / "ovo-nb.toml").write_text("")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("from ovo_nb import Walkthrough\n"
                                                "wt = Walkthrough('sandbox')  # hard-coded: ignores what was asked\n"
                                                "wt.finish()")]
    nbformat.write(notebook, project / "notebooks" / "hardcoded.ipynb")
    (project / "notebooks" / "hardcoded.ipynb").chmod(0o644)
    import os

    os.chdir(project)
    assert main(["run", "--profile", "stage"]) == 1
    out = capsys.readouterr().out
    assert "FAIL hardcoded.ipynb" in out and "its calls went to profile sandbox, not stage as asked" in out


# ----------------------------------------------------------------------------- doctor against the server


def _doctor(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["doctor", "--profile", "stage", *extra])
    return code, capsys.readouterr().out


def test_doctor_proves_each_credential_against_the_server(stage: StandIn, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _doctor(capsys)
    assert code == 0, out
    for line in ("ok   network:", f"ok   client id: OVO knows {CLIENT_ID}", "ok   private key at OVO:",
                 "ok   clock at OVO:", "ok   client secret:", f"ok   merchant id: {MERCHANT}"):
        assert line in out

    monkeypatch.setenv("OVO_NB_STAGE_CLIENT_SECRET", "wrong")
    code, out = _doctor(capsys)
    assert code == 1 and "FAIL client secret: OVO refused the HMAC-SHA512 signature (4015800" in out
    assert "SKIP merchant id" in out and "wrong" not in out.replace("is wrong", "")
    assert "this one came from OVO_NB_STAGE_CLIENT_SECRET" in out
    monkeypatch.setenv("OVO_NB_STAGE_CLIENT_SECRET", SECRET)

    from ovo_nb.keys import Credentials

    Credentials("oamerchantother", "a-secret-issued-for-another-client").save(  # key setup decrypted another pair
        default_key_dir("stage") / "credentials.toml", overwrite=True)
    monkeypatch.delenv("OVO_NB_STAGE_CLIENT_SECRET")  # the secret now comes from that file, the id from the variable
    code, out = _doctor(capsys)
    assert code == 1 and "FAIL credentials" in out and "the secret was issued for oamerchantother, not " \
        f"{CLIENT_ID}" in out
    monkeypatch.setenv("OVO_NB_STAGE_CLIENT_SECRET", SECRET)

    monkeypatch.setenv("OVO_NB_STAGE_CLIENT_ID", "oamerchantnobody")
    code, out = _doctor(capsys)
    assert code == 1 and "FAIL client id: OVO does not know oamerchantnobody (4017300 Unauthorized. Unknown Client)" \
        in out
    monkeypatch.setenv("OVO_NB_STAGE_CLIENT_ID", CLIENT_ID)

    monkeypatch.setenv("OVO_NB_STAGE_MERCHANT_ID", "MNOBODY")
    code, out = _doctor(capsys)
    assert code == 1 and "ok   client secret" in out and "FAIL merchant id: OVO does not know merchant MNOBODY" in out
    monkeypatch.setenv("OVO_NB_STAGE_MERCHANT_ID", MERCHANT)

    other = default_key_dir("stage").parent / "other"
    prepare_partner_keys(other, environment="stage")
    monkeypatch.setenv("OVO_NB_STAGE_PRIVATE_KEY_PATH", str(other / "partner_private_key.pem"))
    code, out = _doctor(capsys)
    assert code == 1 and "FAIL private key at OVO: OVO could not verify the signature" in out


def test_a_doctor_that_never_reached_the_server_says_so(stage: StandIn, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OVO_NB_STAGE_BASE_URL", "http://127.0.0.1:9")
    code, out = _doctor(capsys)
    assert code == 3 and "FAIL network: http://127.0.0.1:9 did not answer (ConnectError" in out
    assert "SKIP client secret: not checked: the server was not reached" in out and "unproven" in out
    code, out = _doctor(capsys, "--offline")
    assert code == 0 and "offline: nothing sent" in out and "network" not in out and "clock skew" not in out

    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Quiet(BaseHTTPRequestHandler):  # a web server, but not OVO: no POST, no SNAP JSON
        def log_message(self, *args: object) -> None:
            pass

    other = HTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("OVO_NB_STAGE_BASE_URL", f"http://127.0.0.1:{other.server_address[1]}")
        code, out = _doctor(capsys)
    finally:
        other.shutdown()
    assert code == 3 and "does not answer as OVO does (HTTP 501, not SNAP JSON)" in out and "base URL" in out


# ----------------------------------------------------------------------------- conformance of a stage run


def _record_stage_run(admin: SandboxAdmin) -> str:
    """Every API once against the stand-in, the customer doing each webview step through its admin API."""
    with Ovo.open("stage") as ovo:
        assert ovo.sandbox is None and ovo.profile.merchant_id == MERCHANT
        phone = admin.new_customer(cash="1000000")
        ovo.lookup(phone)
        pending = ovo.start_binding(phone, lookup=False)
        ovo.finish_binding(pending, admin.complete_webview(pending.webview_url, phone[-4:], "123456"))
        ovo.balance(phone)
        started = ovo.start_payment(phone, "20000")
        paid = ovo.finish_payment(started, admin.complete_webview(started.webview_url, "123456"))
        ovo.status(paid.partner_reference_no)
        ovo.refund(paid.partner_reference_no, "5000")
        unbinding = ovo.start_unbinding(phone)
        ovo.finish_unbinding(unbinding, admin.complete_webview(unbinding.webview_url, phone[-4:]))
        return ovo.client.call_log.run_id


def test_a_stage_run_with_its_own_merchant_replays_alike_with_stages_variables_exported(
        stage: StandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in stage.env:  # the generic variables, as a shell set up for stage has them
        monkeypatch.delenv(name)
    for name, value in _exported(stage.url, "OVO_NB_").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OVO_NB_PROFILE", "stage")
    run_id = _record_stage_run(stage.admin)
    assert main(["conformance", run_id, "--source", "stage"]) == 0
    out = capsys.readouterr().out
    calls = int(re.search(r"(\d+) of \1 calls answered alike", out).group(1))  # type: ignore[union-attr]
    assert calls >= 13, out


def _run_id(root: Path) -> str:
    return str(_summary(root)["run_id"])


def test_a_flow_split_over_runs_replays_alike_and_a_wrong_signature_is_not_a_difference(
        stage: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Against stage a webview step ends one run and its callback starts the next: conformance of the resuming
    run replays the runs its flow began in first."""
    phone = stage.admin.new_customer()
    runs = []
    for notebook, codes in (("binding", (phone[-4:], "123456")), ("direct_debit", ("123456",))):
        waiting, resumed = tmp_path / f"{notebook}-1", tmp_path / f"{notebook}-2"
        assert main(["run", notebook, "--profile", "stage", "-p", "phone", phone, "--output", str(waiting)]) == 3
        url = re.search(r"^     (http://127\.0\.0\.1:\d+/cellblockui/\S+)$", capsys.readouterr().out, re.M)
        landed = stage.admin.complete_webview(url.group(1), *codes)  # type: ignore[union-attr]
        assert main(["run", notebook, "--profile", "stage", "-p", "phone", phone, "-p", "callback_url", landed,
                     "--output", str(resumed)]) == 0
        runs += [_run_id(waiting), _run_id(resumed)]
    capsys.readouterr()
    assert main(["conformance", runs[3], "--source", "stage"]) == 0  # the debit's resume, after all that began it
    out = capsys.readouterr().out
    assert re.search(r"(\d+) of \1 calls answered alike", out) and all(run in out for run in runs[:3])

    monkeypatch.setenv("OVO_NB_STAGE_CLIENT_SECRET", "wrong")
    assert main(["doctor", "--profile", "stage"]) == 1  # its refund probe is refused for the signature
    monkeypatch.setenv("OVO_NB_STAGE_CLIENT_SECRET", SECRET)
    from ovo_nb.calllog import CallLog
    from ovo_nb.config import load_profile

    with CallLog.open(load_profile("stage").state_dir / "calls.sqlite") as log:
        doctor_run = log.runs()[-1]
    capsys.readouterr()
    assert main(["conformance", doctor_run, "--source", "stage"]) == 0
    assert "1 not comparable" in (out := capsys.readouterr().out) and "signature or timestamp was refused" in out
