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
    assert panel.link.value.startswith('<a href="http://ovo-sandbox.local/cellblockui/partner/activation?')
    assert "eyJhbGci…#" in panel.link.value  # the visible text is masked
    panel.buttons["Finish webview step"].click()
    assert "refresh" in panel.tokens.value and "usable" in panel.tokens.value
    panel.amount.value = "12500.00"
    panel.buttons["Pay"].click()
    panel.buttons["Finish webview step"].click()
    assert "status='PAID'" in panel.messages[-1]
    panel.buttons["Refund all"].click()
    assert "2005800" in panel.messages[-1]
    assert panel.progress.bar_style == "success"
    panel.buttons["Finish webview step"].click()
    assert "Nothing is waiting" in panel.messages[-1] and panel.progress.bar_style == "danger"


def test_headless_runs_skip_the_panel(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OVO_NB_RUN_DIR", "/tmp/x")
    assert flow_panel(Walkthrough()) is None
    assert "skipped" in capsys.readouterr().out
