"""Every refusal on the way names the way out: OVO's two OTP limits told apart, a superseded binding and an
already linked phone that point somewhere that works, and a sandbox that can start fresh."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_process import cli, serve

from ovo_nb.cli import main
from ovo_nb.config import load_profile
from ovo_nb.errors import BusinessRuleError, CustomerNotBound, WebviewError
from ovo_nb.flows import Ovo
from ovo_nb.workbench import trigger


@pytest.fixture
def two_teammates(tmp_path: Path) -> Iterator[tuple[Ovo, Ovo]]:
    """Two vaults on one sandbox: two analysts, or two machines, binding the same phone."""
    state = tmp_path / "sandbox.sqlite"
    profile = load_profile("sandbox")
    first = Ovo.open(dataclasses.replace(profile, state_dir=tmp_path / "a"), sandbox_state=state)
    second = Ovo.open(dataclasses.replace(profile, state_dir=tmp_path / "b"), sandbox_state=state)
    yield first, second
    first.close()
    second.close()


def test_the_otp_generation_limit_is_not_called_wrong_otps() -> None:
    with Ovo.open(sandbox_state=":memory:") as ovo:
        assert ovo.sandbox is not None
        phone = ovo.sandbox.new_customer()
        for _ in range(5):
            ovo.start_binding(phone)  # each binding sends an OTP; every one of them was right, none typed
        with pytest.raises(BusinessRuleError) as sent:
            ovo.start_binding(phone)
        assert sent.value.response_code == "4030711" and "Five OTPs were sent to this phone" in sent.value.hint
        assert "wrong" not in sent.value.sandbox_hint.lower() and "ovo-nb sandbox reset" in str(sent.value)

        typo = ovo.sandbox.new_customer()
        pending = ovo.start_binding(typo)
        for _ in range(5):
            with pytest.raises(WebviewError):
                ovo.sandbox.complete_webview(pending.webview_url, "0000")
        with pytest.raises(WebviewError, match="Too many wrong OTPs"):
            ovo.sandbox.complete_webview(pending.webview_url, typo[-4:])
        with pytest.raises(BusinessRuleError) as wrong:
            ovo.start_binding(typo)
        assert "Five wrong OTPs were typed" in wrong.value.hint


def test_the_generic_otp_hint_names_both_limits() -> None:
    from ovo_nb.errors import api_error

    error = api_error("4030711", "OTP Blocked", 403)
    assert "five were requested, or five wrong ones typed" in error.hint


def test_a_superseded_binding_points_to_a_way_out_that_works(two_teammates: tuple[Ovo, Ovo]) -> None:
    first, second = two_teammates
    assert first.sandbox is not None
    phone = first.sandbox.new_customer()
    mine, theirs = first.start_binding(phone), second.start_binding(phone)  # a teammate binds it too, meanwhile
    first.finish_binding(mine, first.sandbox.complete_webview(mine.webview_url, phone[-4:], "123456"))
    second.finish_binding(theirs, first.sandbox.complete_webview(theirs.webview_url, phone[-4:], "123456"))
    # OVO keeps one binding per phone and partner: the newer one supersedes mine
    with pytest.raises(CustomerNotBound) as stale:
        first.balance(phone)
    assert "a newer binding of this phone with your client id replaced this one" in str(stale.value)
    assert "unlink-in-app" in str(stale.value) and not first.is_bound(phone)
    with pytest.raises(BusinessRuleError) as linked:
        first.bind(phone)  # what the old hint said to do: refused while the newer binding is active
    assert "Account Already Linked" in str(linked.value) and "unlink" in linked.value.hint
    did, _ = trigger(first.sandbox, "unlink-in-app", [phone])  # the way out the hint names
    assert "unlinked oamerchantsandbox" in did
    first.bind(phone)
    assert first.balance(phone).accounts["CASH"] > 0


def test_sandbox_reset_starts_fresh_and_keeps_the_partner(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    with Ovo.open() as ovo:
        assert ovo.sandbox is not None
        client_id, secret = ovo.profile.client_id, ovo.profile.client_secret
        ovo.bind("081234567890")
        assert ovo.is_bound("081234567890")
    assert main(["sandbox", "reset"]) == 0
    out = capsys.readouterr().out
    assert "removed" in out and "state.sqlite" in out and "vault.sqlite" in out and "kept" in out
    with Ovo.open() as ovo:
        assert (ovo.profile.client_id, ovo.profile.client_secret) == (client_id, secret)
        assert not ovo.is_bound("081234567890")
        ovo.bind("081234567890")  # the named test customer binds again
        state = ovo.profile.state_dir
        assert main(["sandbox", "reset"]) == 2  # open in this process: refused, nothing removed
        assert "is open in another process" in capsys.readouterr().err
        assert (state / "vault.sqlite").exists()
    assert main(["sandbox", "reset", "--state", ":memory:"]) == 2
    assert "nothing to reset" in capsys.readouterr().err


def test_a_callback_used_twice_or_for_another_customer_says_so() -> None:
    with Ovo.open(sandbox_state=":memory:") as ovo:
        assert ovo.sandbox is not None
        phone, other = ovo.sandbox.new_customer(), ovo.sandbox.new_customer()
        pending = ovo.start_binding(phone)
        landed = ovo.sandbox.complete_webview(pending.webview_url, phone[-4:], "123456")
        ovo.resume_binding(phone, landed)
        with pytest.raises(WebviewError, match="already finished: its linkage token was exchanged .* The customer is "
                                               "bound"):
            ovo.resume_binding(phone, landed)
        with pytest.raises(WebviewError, match=r"No binding of 0812\*\*\*\*\d{4} was started in this vault"):
            ovo.resume_binding(other, landed)


def test_a_refusal_made_here_is_not_shown_as_ovos_answer() -> None:
    from ovo_nb.errors import InsufficientFundsError
    from ovo_nb.walkthrough import StepResult

    with Ovo.open(sandbox_state=":memory:") as ovo:
        ovo.bind("081200000001")  # Broke Budi: IDR 1,000
        with pytest.raises(InsufficientFundsError) as caught:
            ovo.start_payment("081200000001", "5000")
        debits = [c for c in ovo.client.call_log.calls() if "payment-host-to-host" in c.path]
    assert caught.value.local and debits == []  # the balance inquiry said so; no debit was sent
    card = StepResult("debit, 1st call", "refused", error=caught.value).card()
    assert card.detail.startswith("checked here, nothing sent: Insufficient Funds") and "OVO said" not in card.text()


def test_sandbox_reset_tells_a_running_sandbox_from_a_stopped_or_killed_one(tmp_path: Path) -> None:
    state = tmp_path / "sandbox" / "state.sqlite"
    running, _ = serve(tmp_path)
    try:
        refused = cli(tmp_path, "sandbox", "reset")
        assert refused.returncode == 2 and "is open in another process" in refused.stderr and state.exists()
    finally:
        running.terminate()  # SIGTERM, as a service manager stops it: the state is closed as by Ctrl+C
        assert running.wait(timeout=20) == 0
    assert state.exists() and not Path(f"{state}-wal").exists()
    assert cli(tmp_path, "sandbox", "reset").returncode == 0 and not state.exists()
    killed, _ = serve(tmp_path)
    killed.kill()
    killed.wait(timeout=20)
    assert Path(f"{state}-wal").exists()  # left behind by SIGKILL, held by nobody
    done = cli(tmp_path, "sandbox", "reset")
    assert done.returncode == 0 and f"removed {state}-wal" in done.stdout and not state.exists()
