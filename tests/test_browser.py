"""In a real browser: the sandbox webview, the reports, and JupyterLab with the widget panel.

Driven by Playwright on the system's Chromium (``/usr/bin/chromium``, headless); no browser
is ever downloaded. Screenshots of each step go to ``outputs/screenshots/``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from chromium import NEEDS_CHROMIUM, shot

pytestmark = NEEDS_CHROMIUM
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 420, "height": 860})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.console_errors = errors
    yield opened
    context.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, Any, dict[str, str]]]:
    from ovo_nb.sandbox import SandboxServer, demo_links, open_sandbox

    sandbox, partner = open_sandbox(tmp_path / "state.sqlite", folder=tmp_path / "partner")
    with SandboxServer(sandbox) as server:
        yield sandbox, server, demo_links(sandbox, partner, server.url)


def test_binding_webview_wrong_then_right_otp(page: Any, served: tuple[Any, Any, dict[str, str]]) -> None:
    _, server, links = served
    label, url = next((k, v) for k, v in links.items() if k.startswith("binding"))
    otp = label.split("OTP ")[1].rstrip(")")
    page.goto(url)
    assert page.get_by_role("heading", name="Link your OVO account").is_visible()
    assert page.get_by_label("OTP code").is_visible()
    shot(page, "01-binding-otp")
    page.get_by_label("OTP code").fill("0000")
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_role("alert").inner_text() == "Wrong OTP. 4 attempts left."
    assert "/cellblockui/partner/activation" in page.url  # the customer stays on the page
    shot(page, "02-binding-wrong-otp")
    page.get_by_label("OTP code").fill(otp)
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_role("status").inner_text() == "OTP accepted. Enter your OVO Security PIN."
    page.get_by_label("Security PIN").fill("123456")  # binding is 2FA: the OTP, then the PIN
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{server.url}/_sandbox/callback?*")
    response = json.loads(parse_qs(urlsplit(page.url).query)["response"][0])
    assert response["displayMsg"] == "SUCCESS" and len(response["authCode"]) == 22
    assert "authCode" in page.locator("#response").inner_text()
    shot(page, "03-binding-callback")
    assert page.console_errors == []


def test_payment_webview_pin_and_blocks(page: Any, served: tuple[Any, Any, dict[str, str]]) -> None:
    _sandbox, _, links = served
    url = next(v for k, v in links.items() if k.startswith("payment"))
    page.goto(url)
    assert page.get_by_role("heading", name="Confirm payment").is_visible()
    assert "Rp10,000.00" in page.content()
    shot(page, "04-payment-pin")
    for left in (2, 1):
        page.get_by_label("Security PIN").fill("000000")
        page.get_by_role("button", name="Continue").click()
        assert page.get_by_role("alert").inner_text() == f"Wrong PIN. {left} attempt{'s' if left > 1 else ''} left."
    page.get_by_label("Security PIN").fill("000000")
    page.get_by_role("button", name="Continue").click()
    assert "Too many wrong PINs" in page.get_by_role("alert").inner_text()
    assert page.get_by_role("button", name="Continue").is_disabled()
    shot(page, "05-payment-pin-blocked")


def test_the_webview_is_phone_shaped_and_self_contained(page: Any, served: tuple[Any, Any, dict[str, str]]) -> None:
    _, _, links = served
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(next(iter(links.values())))
    assert all(r.startswith("http://127.0.0.1") for r in requests)  # no network assets
    width = page.evaluate("document.querySelector('main').getBoundingClientRect().width")
    assert width <= 420
    assert page.evaluate("document.querySelectorAll('script').length") == 0


def test_reports_render_without_missing_assets(page: Any, tmp_path: Path) -> None:
    from ovo_nb.reconciliation import from_ledger, from_settlement, reconcile
    from ovo_nb.reports import write_reconciliation
    from ovo_nb.traffic import drill_session, sandbox_settlement, simulate_period

    ovo, clock = drill_session(tmp_path, days=2)
    simulate_period(ovo, clock, days=2, payments_per_day=3)
    written = write_reconciliation(reconcile(from_ledger(ovo.ledger), from_settlement(sandbox_settlement(ovo))),
                                   tmp_path, ["html"])
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.set_viewport_size({"width": 1300, "height": 900})
    page.goto(written["reconciliation.html"].as_uri())
    assert page.get_by_role("heading", name="OVO reconciliation").is_visible()
    assert page.locator("svg rect").count() > 4
    shot(page, "06-reconciliation-report")
    assert failed == [] and page.console_errors == []


def test_the_in_process_panel_link_opens_and_lands_on_a_page_to_copy_from(
        page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process, the panel serves the webview on a loopback port; the placeholder partner callback
    lands on a page that shows the result and the URL to paste back."""
    from ovo_nb.walkthrough import Walkthrough
    from ovo_nb.widgets import FlowPanel

    monkeypatch.setenv("OVO_NB_MANUAL_WEBVIEW", "1")  # a person does the webview step, as against stage
    wt = Walkthrough()
    try:
        phone = wt.new_sandbox_customer()
        panel = FlowPanel(wt, phone)
        panel.buttons["Bind"].click()
        href = panel.link.value.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        assert href.startswith("http://127.0.0.1:") and "ovo-sandbox.local" not in href
        page.goto(href)
        page.get_by_label("OTP code").fill(phone[-4:])
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("Security PIN").fill("123456")
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url("http://127.0.0.1:*/_sandbox/callback?*")
        assert '"displayMsg": "SUCCESS"' in page.locator("#response").inner_text()
        copied = page.get_by_label("The callback URL").input_value()
        assert copied == page.url and page.get_by_role("button", name="Copy the callback URL").is_visible()
        shot(page, "10-in-process-callback-landing")
        panel.callback.value = copied
        panel.buttons["Finish webview step"].click()
        assert panel.state == "done", panel.messages[-1]
        assert "refresh" in panel.tokens.value and panel.callback.value == ""
    finally:
        wt.ovo.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def jupyterlab(tmp_path: Path, served: tuple[Any, Any, dict[str, str]]) -> Iterator[tuple[str, Any]]:
    sandbox, server, _ = served
    work = tmp_path / "lab"
    shutil.copytree(ROOT / "notebooks", work / "notebooks")
    port, token = free_port(), "ovo-nb-browser-test"
    settings = tmp_path / "lab-settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    env = {**os.environ, "OVO_NB_SANDBOX_URL": server.url, "OVO_NB_HOME": str(tmp_path / "partner-home"),
           "OVO_NB_MANUAL_WEBVIEW": "1", "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings")}
    shutil.copytree(tmp_path / "partner", tmp_path / "partner-home" / "sandbox")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", f"--ServerApp.token={token}",
         f"--ServerApp.root_dir={work}", "--ServerApp.ip=127.0.0.1", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--allow-root",
         "--LabApp.extension_manager=readonly"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/status", params={"token": token}, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        process.terminate()
        pytest.fail("JupyterLab did not start within 60 s")
    yield f"{base}/lab/tree/notebooks/02_binding.ipynb?token={token}", sandbox
    process.terminate()
    process.wait(timeout=20)


def test_binding_notebook_and_panel_in_jupyterlab(browser: Any, jupyterlab: tuple[str, Any]) -> None:
    url, _ = jupyterlab
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    lab = context.new_page()
    lab.goto(url)
    lab.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
    lab.get_by_text("Kernel status: Idle").first.wait_for(state="attached", timeout=120_000)  # the kernel is up
    lab.wait_for_timeout(2000)  # let the notebook panel settle before driving its menus
    lab.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    run_all = lab.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first
    run_all.wait_for()
    run_all.click()
    try:
        lab.locator(".ovo-card.ovo-waiting", has_text="Outcome").wait_for(timeout=120_000)  # stops at the webview
    except Exception as exc:
        errors = [str(exc)[:300], *lab.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()]
        shot(lab, "failed-jupyterlab-run")
        raise AssertionError(f"the notebook did not reach its webview step; errors: {errors[:3]}") from None
    assert lab.locator(".ovo-card.ovo-done", has_text="lookup").first.is_visible()  # a green card per step
    assert "2000000" in lab.locator(".ovo-card.ovo-done", has_text="lookup").first.inner_text()  # code, meaning
    diagram = lab.locator("svg.ovo-sequence").first  # the run as a picture, drawn from the call log
    assert diagram.is_visible() and "account binding" in (diagram.text_content() or "")
    assert not lab.get_by_text("StepResult(").count() and not lab.get_by_text("dtype:").count()
    lab.locator(".ovo-card", has_text="lookup").first.scroll_into_view_if_needed()
    shot(lab, "07a-jupyterlab-step-cards")
    diagram.scroll_into_view_if_needed()
    shot(lab, "07b-jupyterlab-sequence-diagram")
    panel = lab.locator(".widget-vbox").last
    panel.wait_for(timeout=60_000)
    for name in ("Lookup", "Bind", "Balance", "Pay", "Finish webview step"):
        assert panel.get_by_role("button", name=name, exact=True).is_visible()
    shot(lab, "07-jupyterlab-binding-notebook")
    panel.get_by_role("button", name="Bind", exact=True).click()
    link = panel.get_by_role("link", name="Open the OVO webview")
    link.wait_for(timeout=60_000)
    webview = context.new_page()
    webview.route("https://partner.example.com/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<h1>Partner callback</h1>"))
    webview.goto(link.get_attribute("href"))
    webview.get_by_label("OTP code").fill("0000")
    webview.get_by_role("button", name="Continue").click()
    assert "4 attempts left" in webview.get_by_role("alert").inner_text()
    customer = panel.get_by_role("combobox").input_value()
    webview.get_by_label("OTP code").fill(customer.split()[0][-4:])  # the picker shows "phone name: purpose"
    webview.get_by_role("button", name="Continue").click()
    webview.get_by_label("Security PIN").fill("123456")
    webview.get_by_role("button", name="Continue").click()
    webview.wait_for_url("https://partner.example.com/ovo/callback?*")
    lab.bring_to_front()
    field = panel.get_by_placeholder("paste the URL the webview landed on")
    field.fill(webview.url.split("?")[0])  # a bad paste: refused in red, the binding still waiting
    panel.get_by_role("button", name="Finish webview step").click()
    panel.locator(".ovo-card.ovo-refused", has_text="still waiting").wait_for(timeout=60_000)
    assert panel.locator(".progress-bar-danger").count() == 1
    shot(lab, "09-jupyterlab-panel-refused")
    field.fill(webview.url)
    panel.get_by_role("button", name="Finish webview step").click()
    panel.locator(".ovo-card.ovo-done", has_text="Finish webview step").wait_for(timeout=60_000)
    assert panel.locator(".progress-bar-success").count() == 1
    panel.locator("td", has_text="refresh").wait_for(timeout=60_000)
    assert "refresh" in panel.inner_text() and "access" in panel.inner_text()
    shot(lab, "08-jupyterlab-tokens-after-binding")
    context.close()
