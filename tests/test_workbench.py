"""``ovo-nb calls``: the call log from a terminal, on a real log written by the real flows."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ovo_nb.calllog import CallLog
from ovo_nb.cli import main
from ovo_nb.config import load_profile
from ovo_nb.errors import InsufficientFundsError, ValidationError
from ovo_nb.flows import Ovo
from ovo_nb.workbench import CallFilter, follow, parse_since, select_calls, trigger


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
    revealed = tmp_path / "revealed.html"
    assert run_cli(capsys, "show", str(refused.id), "--html", str(revealed), "--reveal")[0] == 0
    assert revealed.stat().st_mode & 0o777 == 0o600 and re.search(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", revealed.read_text())


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
    assert "" not in seen  # each shown with its answer, never as a bare request


def test_follow_holds_a_call_until_its_answer_arrives(logged: dict[str, object]) -> None:
    path = load_profile().state_dir / "calls.sqlite"
    shown: list[tuple[int, int | None, float]] = []
    done = threading.Event()
    with CallLog.open(path) as log:
        last = log.calls(all_runs=True)[-1].id

        def tail() -> None:
            for call in follow(log, CallFilter(limit=1), interval=0.02, stop=done.is_set):
                shown.append((call.id, call.status, time.monotonic()))

        reader = threading.Thread(target=tail)
        reader.start()
        with Ovo.open() as ovo:
            assert ovo.sandbox is not None
            ovo.sandbox.add_fault("debit_status", "slow", delay_seconds=0.6)
            started = time.monotonic()
            ovo.status(str(logged["reference"]))  # logged at once, answered 0.6 s later
            answered_at = time.monotonic()
        deadline = time.monotonic() + 10
        while len(shown) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        done.set()
        reader.join(timeout=5)
    assert [call_id for call_id, _, _ in shown][:1] == [last]
    new = [(status, at) for call_id, status, at in shown if call_id > last]
    assert len(new) == 1 and new[0][0] == 200  # shown once, with its answer
    assert new[0][1] >= started + 0.5 and new[0][1] >= answered_at - 0.5


def test_since_reads_spans_and_times() -> None:
    assert abs(time.time() - 900 - parse_since("15m").timestamp()) < 5
    assert parse_since("2026-11-28T09:00").utcoffset().total_seconds() == 7 * 3600  # type: ignore[union-attr]


@pytest.fixture()
def running(tmp_path: Path) -> Iterator[tuple[object, str]]:
    """A sandbox served on loopback, as `ovo-nb sandbox` serves it."""
    from ovo_nb.sandbox import SandboxServer, open_sandbox

    sandbox, _ = open_sandbox(tmp_path / "state.sqlite", folder=tmp_path / "partner")
    with SandboxServer(sandbox) as server:
        yield sandbox, server.url
    sandbox.store.close()


def trigger_cli(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> tuple[int, str, str]:
    code = main(["trigger", *argv, "--url", url])
    out, err = capsys.readouterr()
    return code, out, err


def test_triggers_set_up_a_scenario_and_say_how_to_undo_it(running: tuple[object, str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    sandbox, url = running
    phone = sandbox.add_customer("081277770001", cash="250000")  # type: ignore[attr-defined]
    code, out, _ = trigger_cli(capsys, url, "insufficient-funds", phone)
    assert code == 0 and "cash 250000.00 -> 0.00" in out and "0812****0001" in out
    assert sandbox.customer_view(phone)["cash"] == "0.00"  # type: ignore[attr-defined]
    undo = out.split("undo: ", 1)[1].strip()
    assert undo == f"ovo-nb trigger set-customer {phone} cash=250000.00"
    assert trigger_cli(capsys, url, *undo.split()[2:])[0] == 0
    assert sandbox.customer_view(phone)["cash"] == "250000.00"  # type: ignore[attr-defined]
    assert trigger_cli(capsys, url, "pin-blocked", phone)[0] == 0
    assert sandbox.customer_view(phone)["pinLocked"] is True  # type: ignore[attr-defined]
    code, out, _ = trigger_cli(capsys, url, "clock", "+16m")
    assert code == 0 and "moved +16m" in out
    code, out, _ = trigger_cli(capsys, url, "timeout-after-commit")
    assert code == 0 and "debit_payment" in out and "clear-faults" in out
    faults = sandbox.state.store.one("SELECT api, kind FROM faults")  # type: ignore[attr-defined]
    assert tuple(faults) == ("debit_payment", "timeout_after_commit")
    assert trigger_cli(capsys, url, "clear-faults")[0] == 0
    assert sandbox.state.store.one("SELECT COUNT(*) FROM faults WHERE remaining > 0")[0] == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(("argv", "message"), [
    (["nope"], "No trigger 'nope'"),
    (["insufficient-funds"], "usage: ovo-nb trigger insufficient-funds PHONE"),
    (["clock", "16"], "usage: ovo-nb trigger clock +16m"),
    (["server-error", "debit"], "'debit' is not an API"),
    (["set-customer", "081277770001", "name=x"], "set-customer takes cash="),
])
def test_bad_triggers_are_one_line(running: tuple[object, str], capsys: pytest.CaptureFixture[str],
                                   argv: list[str], message: str) -> None:
    code, out, err = trigger_cli(capsys, running[1], *argv)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1


def test_a_trigger_with_no_sandbox_running_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = trigger_cli(capsys, "http://127.0.0.1:9", "insufficient-funds", "081234567890")
    assert code == 2 and "No sandbox answers at http://127.0.0.1:9" in err and "ovo-nb sandbox" in err
    assert "--url, or $OVO_NB_SANDBOX_URL" in err
    assert main(["trigger", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "timeout-after-commit [API]" in listed and "clock +16m" in listed


def test_replay_resends_with_fresh_signatures_and_current_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    import dataclasses

    from ovo_nb.workbench import replay

    with Ovo.open() as ovo:
        assert ovo.sandbox is not None
        phone = ovo.sandbox.add_customer("081266660001", cash="1000000")
        ovo.bind(phone)
        ovo.balance(phone)
        paid = ovo.pay(phone, "20000")
        ovo.refund(paid.partner_reference_no, "5000")
        log = ovo.client.call_log
        calls = log.calls()
        balance = next(c for c in calls if c.path.endswith("/balance-inquiry"))
        refund = next(c for c in calls if c.path.endswith("/debit/refund"))
        debits = [c for c in calls if c.path.endswith("/debit/payment-host-to-host")]
        token_call = next(c for c in calls if "/oauth/token" in c.path)
    assert main(["replay", str(balance.id)]) == 0
    out = capsys.readouterr().out
    assert f"call {balance.id} replayed as call" in out and out.count("SNAP 2001100") == 2
    with CallLog.open(load_profile().state_dir / "calls.sqlite") as log:
        again = log.calls(all_runs=True)[-1]
        first = log.get(balance.id)
        assert again.scenario == f"replay of call {balance.id}"
        assert again.request_headers["X-EXTERNAL-ID"] != first.request_headers["X-EXTERNAL-ID"]
        assert again.request_headers["X-TIMESTAMP"] != first.request_headers["X-TIMESTAMP"]
        assert again.request_body == first.request_body
    assert main(["replay", str(refund.id)]) == 0  # OVO answers a resent refund with the refund it made
    assert capsys.readouterr().out.count("SNAP 2005800") == 2
    with Ovo.open() as ovo:
        assert ovo.sandbox is not None
        trigger(ovo.sandbox, "clock", ["+16m"])  # OVO's clock moves on: the vault's B2B token is dead there
    assert main(["replay", str(refund.id)]) == 0  # renewed once, as the flows do, not refused 4015801
    assert capsys.readouterr().out.count("SNAP 2005800") == 2
    with Ovo.open() as ovo:
        assert ovo.sandbox is not None
        assert [m["entry"] for m in ovo.sandbox.customer_ledger(phone)].count("REFUND") == 1  # no second refund
        for call, message in ((debits[1], "2nd call of debit_payment"), (token_call, "OVO accepts once")):
            with pytest.raises(ValidationError, match=message):
                replay(ovo.client.call_log, call.id, ovo)
        ovo.client.profile = dataclasses.replace(ovo.profile, name="production")  # the guard, before any send
        with pytest.raises(ValidationError, match="moves money; replaying it against production takes"):
            replay(ovo.client.call_log, debits[0].id, ovo)
    assert main(["replay", "999999"]) == 2 and "No call with id 999999" in capsys.readouterr().err


def test_a_trigger_finds_the_sandbox_the_profile_points_at(running: tuple[object, str],
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox, url = running
    monkeypatch.setenv("OVO_NB_SANDBOX_URL", url)  # as the notebooks and the library are pointed at it
    phone = sandbox.add_customer("081277770002", cash="1000")  # type: ignore[attr-defined]
    assert main(["trigger", "insufficient-funds", phone]) == 0 and "-> 0.00" in capsys.readouterr().out
    assert sandbox.customer_view(phone)["cash"] == "0.00"  # type: ignore[attr-defined]
