"""Finance's page end to end in Chromium: ``ovo-nb finance`` (Voila), the token, uploads, the
result, downloads, a bad file, the size cap, escaping, and the session's files deleted after it."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import NEEDS_CHROMIUM, shot
from openpyxl import load_workbook

pytestmark = NEEDS_CHROMIUM
SAMPLES = Path(__file__).resolve().parent.parent / "ovo_nb" / "samples"
PARTNER, OVO = SAMPLES / "partner-ledger-2026-11.csv", SAMPLES / "ovo-settlement-2026-11.csv"
TOKEN = "finance-page-test-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(tmp: Path, *extra: str) -> tuple[subprocess.Popen[str], str, Path]:
    """``ovo-nb finance`` as finance starts it; returns the process, the page's URL and the temporary
    folder its sessions live in."""
    port, scratch = free_port(), tmp / "scratch"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "OVO_NB_HOME": str(tmp / "home")}
    process = subprocess.Popen([sys.executable, "-m", "ovo_nb.cli", "finance", "--port", str(port), "--token", TOKEN,
                                *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"ovo-nb finance stopped: {process.stdout.read() if process.stdout else ''}")
            time.sleep(0.3)
    return process, f"http://127.0.0.1:{port}", scratch


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    tmp = tmp_path_factory.mktemp("finance")
    data = tmp / "exports"
    (data / "ovo").mkdir(parents=True)  # as the README lays exports out: exports/ovo/settlement-*.csv
    (data / "ovo" / "ovo-settlement-2026-11.csv").write_bytes(OVO.read_bytes())
    process, url, scratch = start_server(tmp, "--data", str(data), "--max-upload", "1")
    yield url, scratch, tmp
    stop(process)


@pytest.fixture
def page(browser: Any, server: tuple[str, Path, Path]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1300, "height": 1960}, accept_downloads=True)
    opened = context.new_page()
    opened.requests, opened.failed = [], []
    opened.on("request", lambda request: opened.requests.append(request.url))
    opened.on("requestfailed", lambda request: opened.failed.append(request.url))
    opened.goto(f"{server[0]}/?token={TOKEN}")
    opened.get_by_role("button", name="Reconcile").wait_for(timeout=120_000)
    yield opened
    context.close()


def sessions(scratch: Path) -> list[Path]:
    return sorted(scratch.glob("ovo-nb-finance-*/session-*"))


def reconcile(page: Any, partner: Path, ovo: Path, period: str = "2026-11") -> None:
    page.get_by_label("Partner records:").set_input_files(str(partner))
    page.get_by_label("OVO settlement:").set_input_files(str(ovo))
    for path in (partner, ovo):
        page.get_by_text(f"{path.name} (").wait_for(timeout=60_000)  # the note: received whole
    page.get_by_label("Period").fill(period)
    page.get_by_role("button", name="Reconcile").click()


def test_the_page_needs_its_token(browser: Any, server: tuple[str, Path, Path]) -> None:
    context = browser.new_context()
    anonymous = context.new_page()
    anonymous.goto(server[0] + "/")
    assert "/login" in anonymous.url and anonymous.get_by_role("button", name="Reconcile").count() == 0
    context.close()


def test_upload_reconcile_see_and_download(page: Any, server: tuple[str, Path, Path], tmp_path: Path) -> None:
    reconcile(page, PARTNER, OVO)
    status = page.get_by_role("status").filter(has_text="Reconciled")
    status.wait_for(timeout=120_000)
    assert status.inner_text() == "Reconciled 2026-11: 5 matched, 2 across the cut-off, 6 to act on."
    counts = page.locator("table.counts")
    assert "Across the cut-off" in counts.inner_text() and "132,500.00" in counts.inner_text()
    assert page.locator("svg rect").count() > 8  # the daily chart
    rows = page.locator("table.data").nth(1)
    assert "2026-10-31" in rows.inner_text() and "2026-11-01" in rows.inner_text()  # cut-off: both days
    shot(page, "11-finance-page")
    page.get_by_role("button", name="Missing at OVO (1)").click()
    page.locator("table.data", has_text="INV-20261115-120000-a9c3e5").wait_for()
    assert "mark it failed" in page.locator("table.data").nth(1).inner_text()
    with page.expect_download() as workbook:
        page.get_by_role("button", name="Workbook (.xlsx)").click()
    book = load_workbook(io.BytesIO(Path(workbook.value.path()).read_bytes()))
    assert book.sheetnames[:3] == ["Summary", "Matched", "Across the cut-off"]
    assert workbook.value.suggested_filename == "reconciliation.xlsx"
    with page.expect_download() as bundle:
        page.get_by_role("button", name="All CSVs (.zip)").click()
    names = zipfile.ZipFile(io.BytesIO(Path(bundle.value.path()).read_bytes())).namelist()
    assert {"cut_off.csv", "missing_at_ovo.csv", "matched.csv"} <= set(names)
    with page.expect_download() as category:
        page.get_by_role("button", name="Missing at OVO (.csv)").click()
    assert "INV-20261115-120000-a9c3e5" in Path(category.value.path()).read_text(encoding="utf-8-sig")
    remote = [url for url in page.requests if not url.startswith(("http://127.0.0.1", "blob:", "data:"))]
    assert set(remote) <= set(page.failed)  # the template's CDN stylesheet is refused: nothing leaves the machine


def test_a_file_from_the_data_folder_and_a_bad_file_is_one_message(page: Any, tmp_path: Path) -> None:
    bad = tmp_path / "partner-export.csv"
    bad.write_text(PARTNER.read_text().replace("15000.00", "15.000", 1))
    page.get_by_label("Partner records:").set_input_files(str(bad))
    page.get_by_text("partner-export.csv (").wait_for(timeout=60_000)
    page.locator("select").nth(3).select_option(label="ovo/ovo-settlement-2026-11.csv")  # OVO's side: picked
    page.get_by_role("button", name="Reconcile").click()
    alert = page.get_by_role("alert")
    alert.wait_for(timeout=120_000)
    assert alert.count() == 1
    assert alert.inner_text() == (
        "partner: 1 amount(s) not IDR in the plain format (15000.00: digits, an optional point and at most two "
        "decimals): partner-export.csv line 3 (INV-20261103-091502-b4d6f8: '15.000').")
    assert not page.locator("table.counts").is_visible()


def test_an_upload_over_the_cap_is_refused_before_it_is_sent(page: Any, server: tuple[str, Path, Path],
                                                              tmp_path: Path) -> None:
    big = tmp_path / "huge.csv"
    big.write_text(PARTNER.read_text() + "x" * (1024 * 1024 + 10))
    page.get_by_label("OVO settlement:").set_input_files(str(big))
    alert = page.get_by_role("alert")
    alert.wait_for(timeout=60_000)
    assert alert.inner_text().startswith("huge.csv is 1.0 MB: over the 1 MB a file may have here.")
    assert not [p for s in sessions(server[1]) for p in s.rglob("*huge*")]  # not a byte was kept


def test_what_the_files_say_is_shown_as_text_never_run(page: Any, tmp_path: Path) -> None:
    hostile = tmp_path / "partner.csv"
    hostile.write_text(PARTNER.read_text().replace("INV-20261115-120000-a9c3e5",
                                                   '"<img src=x onerror=""document.title=1"">"'))
    reconcile(page, hostile, OVO)
    page.get_by_role("status").filter(has_text="Reconciled").wait_for(timeout=120_000)
    page.get_by_role("button", name="Missing at OVO (1)").click()
    cell = page.locator("td", has_text="<img src=x")
    cell.wait_for()
    assert page.locator("img[src=x]").count() == 0 and page.title() != "1"


def test_the_session_files_go_when_the_page_is_closed(browser: Any, server: tuple[str, Path, Path]) -> None:
    before = set(sessions(server[1]))
    context = browser.new_context()
    opened = context.new_page()
    opened.goto(f"{server[0]}/?token={TOKEN}")
    opened.get_by_role("button", name="Reconcile").wait_for(timeout=120_000)
    reconcile(opened, PARTNER, OVO)
    opened.get_by_role("status").filter(has_text="Reconciled").wait_for(timeout=120_000)
    mine = set(sessions(server[1])) - before
    assert len(mine) == 1 and (next(iter(mine)) / "partner" / PARTNER.name).exists()
    opened.close(run_before_unload=True)  # the page asks Voila to shut its kernel down
    deadline = time.monotonic() + 60
    while any(p.exists() for p in mine) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(p.exists() for p in mine)
    context.close()


def test_the_server_stops_cleanly_and_leaves_nothing(tmp_path: Path) -> None:
    process, _, scratch = start_server(tmp_path)
    assert list(scratch.glob("ovo-nb-finance-*"))
    code = stop(process)
    output = process.stdout.read() if process.stdout else ""
    assert code == 0, output
    assert list(scratch.glob("ovo-nb-finance-*")) == [], output
    assert f"?token={TOKEN}" in output and "Traceback" not in output, output
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    try:
        done = subprocess.run([sys.executable, "-m", "ovo_nb.cli", "finance", "--port",
                               str(busy.getsockname()[1])], capture_output=True, text=True, timeout=60)
    finally:
        busy.close()
    assert done.returncode == 2 and done.stderr.startswith("ovo-nb: cannot listen on 127.0.0.1:"), done.stderr
