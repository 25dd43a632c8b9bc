"""Conformance: a run recorded against a differently configured sandbox (standing in for stage),
replayed against a fresh sandbox; the differences found must be exactly those introduced."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from ovo_nb.calllog import CallLog
from ovo_nb.cli import main
from ovo_nb.conformance import conformance, fresh_sandbox
from ovo_nb.errors import OvoNbError
from ovo_nb.flows import Ovo


def record(*, fault: str = "", refund_limit: str = "") -> tuple[Path, str, dict[str, int]]:
    """Every API once through the real flows; optionally one fault or a partner setting the fresh sandbox lacks."""
    with Ovo.open() as ovo:
        assert ovo.sandbox is not None
        if refund_limit:
            ovo.sandbox.set_partner(ovo.profile.client_id, daily_refund_limit=refund_limit)
        phone = ovo.sandbox.add_customer("081255550001", cash="1000000")
        ovo.lookup(phone)
        ovo.bind(phone)
        ovo.balance(phone)
        paid = ovo.pay(phone, "20000")
        if fault:
            ovo.sandbox.add_fault("debit_status", fault)
        with contextlib.suppress(OvoNbError):  # refused by the recording side's fault or settings
            ovo.status(paid.partner_reference_no)
        with contextlib.suppress(OvoNbError):
            ovo.refund(paid.partner_reference_no, "5000")
        ovo.unbind(phone)
        log = ovo.client.call_log
        ids = {}
        for call in log.calls():
            ids.setdefault(call.path.rsplit("/", 1)[-1].split("?")[0], call.id)
        return Path(log.path), log.run_id, ids


def replayed(path: Path, run_id: str) -> list[tuple[int, tuple[str, ...]]]:
    with CallLog.open(path) as log, Ovo.open("sandbox", sandbox_state=":memory:") as fresh:
        report = conformance(log, run_id, fresh)
    assert len(report.calls) >= 14
    return [(c.recorded.id, c.differences) for c in report.differences]


def test_a_run_like_the_sandbox_replays_without_a_difference() -> None:
    path, run_id, _ = record()
    assert replayed(path, run_id) == []  # bindings, webviews, single-use token, refund, unbinding all mapped


def test_a_fault_on_the_recorded_side_is_the_one_difference() -> None:
    path, run_id, ids = record(fault="error_500")
    [(call_id, found)] = replayed(path, run_id)
    assert call_id == ids["status"]  # the status call that got the 500
    assert found[:2] == ("HTTP 500 vs 200", "SNAP 5005500 vs 2005500")


def test_a_partner_setting_on_the_recorded_side_is_the_one_difference() -> None:
    path, run_id, ids = record(refund_limit="1000")
    [(call_id, found)] = replayed(path, run_id)
    assert call_id == ids["refund"] and any(part.startswith("SNAP 403") for part in found)


def test_the_command_prints_the_table_writes_the_page_and_fails_on_differences(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, run_id, _ = record(fault="error_500")
    page = tmp_path / "conformance.html"
    assert main(["conformance", run_id, "--source", "sandbox", "--html", str(page)]) == 1
    out = capsys.readouterr().out
    assert "calls answered alike" in out and "HTTP 500 vs 200" in out
    html = page.read_text()
    assert "<script" not in html and 'class="diff"' in html and "081255550001" not in html
    assert main(["conformance", "nope", "--source", "sandbox"]) == 2
    assert "No run 'nope'" in capsys.readouterr().err


def test_a_run_is_replayed_alone_when_only_the_partners_b2b_token_ties_it_to_earlier_ones() -> None:
    runs = []
    for _ in range(2):  # the second run's refund carries the B2B token the first one fetched (15 minutes)
        with Ovo.open() as ovo:
            assert ovo.sandbox is not None
            phone = ovo.sandbox.new_customer()
            ovo.bind(phone)
            paid = ovo.pay(phone, "20000")
            ovo.refund(paid.partner_reference_no, "5000")
            runs.append((Path(ovo.client.call_log.path), ovo.client.call_log.run_id))
    (path, first), (_, second) = runs
    with CallLog.open(path) as log:
        b2b = [c for c in log.calls(all_runs=True) if c.path.endswith("/access-token/b2b")]
        assert [c.run_id for c in b2b] == [first]  # fetched once, by the first run
        with fresh_sandbox() as fresh:  # as the command replays: its own vault too
            report = conformance(log, second, fresh)
    assert {c.recorded.run_id for c in report.calls} == {second} and report.differences == []


def test_a_run_in_another_profiles_log_is_one_line_naming_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", "20261206-000000-abcdef"]) == 2  # no stage log here: the run may be the sandbox's
    assert "name the profile whose log holds the run with --source" in capsys.readouterr().err
