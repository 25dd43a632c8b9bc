"""The call log: durable rows, redaction, the unredacted switch, cURL, pandas."""

from __future__ import annotations

import json
import shlex
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from ovo_nb.calllog import CallLog, as_curl, mask_token
from ovo_nb.errors import OvoNbError
from ovo_nb.secretbox import SecretBox

ACCESS = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIwODEyMzQ1Njc4OTAifQ.c2lnbmF0dXJlLXZhbHVlLWhlcmU"
REFRESH = "rt-0123456789abcdefghijklmnopqrstuvwxyz"
SECRET = "client-secret-value-123456"


def fake_ovo(request: httpx.Request) -> httpx.Response:
    """Answers like OVO's token endpoint, echoing nothing secret back."""
    if request.url.path.endswith("/timeout"):
        raise httpx.ReadTimeout("read timed out", request=request)
    return httpx.Response(
        200,
        json={"responseCode": "2007400", "responseMessage": "Successful", "accessToken": ACCESS,
              "refreshToken": REFRESH, "tokenType": "Bearer"},
        headers={"X-TIMESTAMP": "2026-11-26T10:00:00.000+07:00"},
    )


def client_for(log: CallLog) -> httpx.Client:
    return httpx.Client(base_url="https://app.byte-stack.net", transport=log.wrap(httpx.MockTransport(fake_ovo)))


def post_token(client: httpx.Client) -> httpx.Response:
    body = json.dumps({"grantType": "REFRESH_TOKEN", "refreshToken": REFRESH}, separators=(",", ":"))
    return client.post(
        "/OVOSNAP/v2.0/access-token/b2b2c",
        content=body,
        headers={"Authorization": f"Bearer {ACCESS}", "X-CLIENT-KEY": "oamerchant", "X-CLIENT-SECRET": SECRET,
                 "Content-Type": "application/json"},
    )


def test_mask_keeps_a_prefix_and_a_fingerprint_only() -> None:
    masked = mask_token(ACCESS)
    assert masked.startswith("eyJhbGci…#") and ACCESS not in masked and len(masked) < 20
    assert mask_token(ACCESS) == masked != mask_token(ACCESS + "x")
    assert mask_token("short") .startswith("…#")


def test_each_call_is_one_row_with_its_snap_code(tmp_path: Path) -> None:
    with CallLog(tmp_path / "calls.sqlite") as log, client_for(log) as client, log.scenario("refresh"):
        response = post_token(client)
        call = log.get(response.extensions["ovo_nb.call_id"])
    assert call.status == 200 and call.response_code == "2007400" and call.response_message == "Successful"
    assert call.scenario == "refresh" and call.method == "POST"
    assert call.path == "/OVOSNAP/v2.0/access-token/b2b2c"
    assert call.latency_ms is not None and call.latency_ms >= 0
    assert call.started_at.endswith("+07:00")


def test_the_request_is_committed_before_the_answer_arrives(tmp_path: Path) -> None:
    db = tmp_path / "calls.sqlite"
    seen: list[tuple[object, ...]] = []

    def slow_ovo(request: httpx.Request) -> httpx.Response:
        with sqlite3.connect(db) as other:  # another connection, as another process would
            seen.extend(other.execute("SELECT method, status FROM calls").fetchall())
        return httpx.Response(200, json={"responseCode": "2001100"})

    log = CallLog(db)
    with httpx.Client(transport=log.wrap(httpx.MockTransport(slow_ovo))) as client:
        client.post("https://app.byte-stack.net/OVOSNAP/v2.0/balance-inquiry", content=b"{}")
    assert seen == [("POST", None)]


def test_a_failed_exchange_is_kept_with_its_error(tmp_path: Path) -> None:
    db = tmp_path / "calls.sqlite"
    log = CallLog(db, run_id="run-1")
    with client_for(log) as client, pytest.raises(httpx.ReadTimeout):
        client.post("/OVOSNAP/v2.0/debit/timeout", content=b'{"partnerReferenceNo":"INV-1"}')
    reopened = CallLog(db)
    [call] = reopened.calls("run-1")
    assert call.status is None and call.error is not None and call.error.startswith("ReadTimeout")
    assert call.request_body == '{"partnerReferenceNo":"INV-1"}'


def test_stored_records_hold_no_token_and_no_secret(tmp_path: Path) -> None:
    db = tmp_path / "calls.sqlite"
    log = CallLog.open(db)
    log.add_secret(SECRET)
    with client_for(log) as client:
        post_token(client)
        client.get(f"/user/v1/oauth/token?grantType=authorization_code&code={REFRESH}")
    first, second = log.calls()
    assert first.request_headers["Authorization"] == f"Bearer {mask_token(ACCESS)}"
    assert "x-client-secret" not in {k.lower() for k in first.request_headers}
    assert json.loads(first.request_body)["refreshToken"] == mask_token(REFRESH)
    assert json.loads(first.response_body)["accessToken"] == mask_token(ACCESS)
    assert REFRESH not in second.url and "grantType=authorization_code" in second.url
    log.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("calls.sqlite"))
    for secret in (ACCESS, REFRESH, SECRET):
        assert secret.encode() not in raw


def test_reveal_is_the_explicit_switch_for_full_headers(tmp_path: Path) -> None:
    log = CallLog.open(tmp_path / "calls.sqlite")
    log.add_secret(SECRET)
    with client_for(log) as client:
        post_token(client)
    [call] = log.calls(reveal=True)
    assert call.revealed
    assert call.request_headers["Authorization"] == f"Bearer {ACCESS}"
    assert json.loads(call.response_body)["accessToken"] == ACCESS
    assert SECRET not in json.dumps(call.request_headers) and SECRET not in call.request_body
    assert f"Bearer {ACCESS}" in as_curl(call)
    assert ACCESS not in as_curl(log.calls()[0])


def test_reveal_without_a_box_or_with_another_key_fails_clearly(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "plain.sqlite")
    with client_for(log) as client:
        post_token(client)
    with pytest.raises(OvoNbError, match="without a secret box"):
        log.calls(reveal=True)
    boxed = CallLog(tmp_path / "boxed.sqlite", box=SecretBox(SecretBox.generate_key()))
    with client_for(boxed) as client:
        post_token(client)
    boxed.close()
    stranger = CallLog(tmp_path / "boxed.sqlite", box=SecretBox(SecretBox.generate_key()))
    with pytest.raises(OvoNbError, match="another vault key"):
        stranger.calls(all_runs=True, reveal=True)


def test_curl_rendering_is_a_valid_shell_command(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.sqlite")
    with client_for(log) as client:
        client.post("/OVOSNAP/v2.0/balance-inquiry", content="{\"note\":\"it's é\"}",
                    headers={"X-PARTNER-ID": "oamerchant", "Content-Type": "application/json"})
    curl = as_curl(log.calls()[0])
    words = shlex.split(curl.replace("\\\n", " "))
    assert words[:4] == ["curl", "-X", "POST", "https://app.byte-stack.net/OVOSNAP/v2.0/balance-inquiry"]
    assert "X-PARTNER-ID: oamerchant" in words
    assert words[-1] == "{\"note\":\"it's é\"}"
    assert not any(w.lower().startswith(("host:", "content-length:")) for w in words)


def test_frame_and_scenarios(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.sqlite")
    with client_for(log) as client:
        with log.scenario("binding: positive"):
            post_token(client)
        client.post("/OVOSNAP/v2.0/balance-inquiry", content=b"{}", extensions={"ovo_nb.scenario": "balance"})
    frame = log.to_frame()
    assert list(frame["scenario"]) == ["binding: positive", "balance"]
    assert list(frame["response_code"]) == ["2007400", "2007400"]
    assert {"method", "path", "latency_ms", "status"} <= set(frame.columns)
    assert "request_headers" not in frame.columns
    assert "request_headers" in log.to_frame(full=True).columns
    other = CallLog(tmp_path / "calls.sqlite", run_id="later")
    assert other.to_frame().empty and len(other.to_frame(all_runs=True)) == 2


def test_event_hooks_log_an_existing_client(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.sqlite")
    with log.attach(httpx.Client(transport=httpx.MockTransport(fake_ovo))) as client:
        client.post("https://app.byte-stack.net/x", content=b"{}")
    [call] = log.calls()
    assert call.status == 200 and call.response_code == "2007400"


def test_concurrent_calls_are_all_recorded(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.sqlite")

    def worker() -> None:
        with client_for(log) as client:
            for _ in range(25):
                post_token(client)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    calls = log.calls()
    assert len(calls) == 200 and all(c.status == 200 for c in calls)


def test_phone_numbers_are_masked_in_paths_queries_and_bodies(tmp_path: Path) -> None:
    from ovo_nb.calllog import redact_url
    from ovo_nb.flows import Ovo

    assert redact_url("http://x/user/v2/account/lookup?phone=081234567890") == (
        "http://x/user/v2/account/lookup?phone=0812****7890")
    with Ovo.open() as ovo:
        ovo.bind("081234567890")
        calls = ovo.client.call_log.to_frame()
        text = calls.to_csv()
        assert "081234567890" not in text and "0812****7890" in text
        call_id = int(calls.index[calls["scenario"] == "account binding"][0])
        stored = ovo.client.call_log.get(call_id).request_body  # a body whose only private field is the phone
        assert '"phoneNo":"0812****7890"' in stored and "081234567890" not in stored
        binding = ovo.client.call_log.get(call_id, reveal=True)
        assert "081234567890" in binding.request_body  # the full number is sealed, for an explicit reveal


def test_the_doctor_masks_the_token_in_the_string_to_sign() -> None:
    from ovo_nb.doctor import explain_call
    from ovo_nb.flows import Ovo

    with Ovo.open() as ovo:
        ovo.bind("081234567890")
        ovo.balance("081234567890")
        token = ovo.access_token("081234567890")
        calls = ovo.client.call_log.to_frame()
        explanation = explain_call(ovo.client.call_log, int(calls.index[-1]), ovo.profile)
    assert token in explanation.string_to_sign and token not in str(explanation)
