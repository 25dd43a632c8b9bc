"""The widget panel drives the same flows when clicked, and never runs headless."""

from __future__ import annotations

import pytest

from ovo_nb.walkthrough import Walkthrough
from ovo_nb.widgets import FlowPanel, flow_panel


def test_buttons_drive_the_flows() -> None:
    panel = FlowPanel(Walkthrough())
    panel.customer.value = "081234567890"
    panel.buttons["Bind"].click()
    assert "completed headlessly" in panel.messages[-1]
    assert panel.link.value.startswith('<a href="http://127.0.0.1:')  # in-process: served on a loopback port
    assert "/cellblockui/partner/activation?" in panel.link.value
    assert "eyJhbGci…#" in panel.link.value  # the visible text is masked
    panel.buttons["Finish webview step"].click()
    assert "refresh" in panel.tokens.value and "usable" in panel.tokens.value
    panel.amount.value = "12500.00"
    panel.buttons["Pay"].click()
    panel.buttons["Finish webview step"].click()
    assert "PAID" in panel.messages[-1] and "12,500.00" in panel.messages[-1]
    panel.buttons["Refund all"].click()
    assert "2005800" in panel.messages[-1]
    assert panel.progress.bar_style == "success"
    panel.buttons["Finish webview step"].click()
    assert "Nothing is waiting" in panel.messages[-1] and panel.progress.bar_style == "danger"
    assert panel.state == "refused" and not any(button.disabled for button in panel.buttons.values())


def test_buttons_are_disabled_while_a_call_runs() -> None:
    panel = FlowPanel(Walkthrough())
    assert panel.state == "idle"
    seen: list[tuple[str, bool, str]] = []
    panel.run("probe", lambda: seen.append((panel.state, all(b.disabled for b in panel.buttons.values()),
                                            panel.progress.bar_style)))
    assert seen == [("working", True, "info")]
    assert panel.state == "done" and panel.progress.bar_style == "success"
    assert not any(button.disabled for button in panel.buttons.values())


def test_the_panel_picks_the_notebooks_customer_and_names_the_test_customers() -> None:
    wt = Walkthrough()
    panel = FlowPanel(wt, "081200000001")
    assert panel.phone == "081200000001" and "Broke Budi" in str(panel.customer.value)
    assert len(panel.customer.options) == 6 and all(" " in option for option in panel.customer.options)
    fresh = wt.new_sandbox_customer()
    own = FlowPanel(wt, fresh)
    assert own.phone == fresh and fresh not in str(own.customer.value) and fresh not in str(own.customer.options)
    assert FlowPanel(wt).phone == "081234567890"


def test_a_bad_callback_paste_keeps_the_pending_flow() -> None:
    wt = Walkthrough()
    panel = FlowPanel(wt, wt.new_sandbox_customer())
    panel.buttons["Bind"].click()
    good = panel.callback.value
    panel.callback.value = "https://partner.example.com/ovo/callback?oops"
    panel.buttons["Finish webview step"].click()
    assert panel.state == "refused" and "still waiting" in panel.messages[-1] and panel.pending is not None
    panel.callback.value = good
    panel.buttons["Finish webview step"].click()
    assert panel.state == "done" and panel.pending is None and panel.callback.value == ""
    assert "days" in panel.tokens.value or "h " in panel.tokens.value  # time left in words, not "21,600 min"


def test_headless_runs_skip_the_panel(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OVO_NB_RUN_DIR", "/tmp/x")
    assert flow_panel(Walkthrough()) is None
    assert "skipped" in capsys.readouterr().out
