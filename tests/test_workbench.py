"""``ovo-nb calls``: the call log from a terminal, on a real log written by the real flows."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from ovo_nb.calllog import CallLog
from ovo_nb.cli import main
from ovo_nb.config import load_profile
from ovo_nb.errors import InsufficientFundsError
from ovo_nb.flows import Ovo
from ovo_nb.workbench import CallFilter, follow, parse_since, select_calls


@pytest.fixture()
def logged() -> dict[str, object]:
    """A bound customer, one paid debit, and one debit OVO refuses for insufficient funds."""
    with Ovo.open() as ovo:
        assert ovo.sandbox is not None
        rich = ovo.sandbox.add_customer("081299990001", name="Rich", cash="1000000")
        poor = ovo.sandbox.add_customer("081299990002", name="Poor", cash="1000")
        ovo.bind(rich)
        ovo.bind(poor)
        paid = ovo.pay(rich, "15000")
        body = ovo.client.payment_body(ovo.ledger.new_reference(), "5000")  # straight to OVO, no balance pre-check
        with pytest.raises(InsufficientFundsError):
            ovo.client.debit_payment(ovo.tokens.access_token(poor), body, scenario="over the balance")
        return {"run": ovo.client.call_log.run_id, "reference": paid.partner_reference_no}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["calls", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_list_filters_by_failure_api_and_run(logged: dict[str, object],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--json", "--limit", "100")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) > 8 and {r["run"] for r in rows} == {logged["run"]}
    assert all("081299990001" not in line for line in out.splitlines())  # phones masked in paths
    code, out, _ = run_cli(capsys, "--json", "--failed")
    failed = [json.loads(line) for line in out.splitlines()]
    assert [r["code"] for r in failed] == ["4035414"] and failed[0]["meaning"].startswith("Insufficient Funds")
    code, out, _ = run_cli(capsys, "--json", "--api", "debit_payment", "--run", str(logged["run"]))
    assert {json.loads(line)["path"] for line in out.splitlines()} == {"/OVOSNAP/v2.0/debit/payment-host-to-host"}
    code, out, _ = run_cli(capsys, "--limit", "3")
    assert code == 0 and out.count("\n") > 3 and "code" in out and "meaning" in out  # a table with a header


def test_show_puts_the_request_next_to_the_answer(logged: dict[str, object], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with CallLog.open(load_profile().state_dir / "calls.sqlite") as log:
        [refused] = select_calls(log, CallFilter(failed=True))
    code, out, _ = run_cli(capsys, "show", str(refused.id))
    assert code == 0 and "request" in out and "response" in out
    assert "SNAP 4035414 Insufficient Funds" in out and "latency" in out and "eyJhbGci…#" in out  # masked token
    code, out, _ = run_cli(capsys, "show", str(refused.id), "--reveal")
    assert "eyJhbGci…#" not in out.split("Authorization", 1)[1][:60]  # the full token, asked for
    page = tmp_path / "call.html"
    assert run_cli(capsys, "show", str(refused.id), "--html", str(page))[0] == 0
    html = page.read_text()
    assert "<script" not in html and "Insufficient Funds" in html and "081299990002" not in html


@pytest.mark.parametrize(("argv", "message"), [
    (["show", "999999"], "No call with id 999999"),
    (["show", "x"], "numeric call id"),
    (["--run", "nope"], "No run 'nope'"),
    (["--api", "debit"], "is not an API"),
    (["--since", "yesterday"], "neither a span"),
    (["--limit", "0"], "--limit 0"),
])
def test_bad_input_is_one_line(logged: dict[str, object], capsys: pytest.CaptureFixture[str], argv: list[str],
                               message: str) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_no_call_log_yet_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys)
    assert code == 2 and "No call log at" in err and "run a notebook" in err


def test_follow_prints_new_calls_as_they_are_logged(logged: dict[str, object]) -> None:
    path = load_profile().state_dir / "calls.sqlite"
    seen: list[str] = []
    done = threading.Event()
    with CallLog.open(path) as log:
        def tail() -> None:
            for call in follow(log, CallFilter(limit=1), interval=0.05, stop=done.is_set):
                seen.append(call.response_code or "")

        reader = threading.Thread(target=tail)
        reader.start()
        with Ovo.open() as ovo:
            ovo.status(str(logged["reference"]))
        deadline = time.monotonic() + 10
        while "2005500" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        done.set()
        reader.join(timeout=5)
    assert len(seen) >= 2 and "2005500" in seen[1:]  # the last logged call, then the new status call


def test_since_reads_spans_and_times() -> None:
    assert abs(time.time() - 900 - parse_since("15m").timestamp()) < 5
    assert parse_since("2026-11-28T09:00").utcoffset().total_seconds() == 7 * 3600  # type: ignore[union-attr]
