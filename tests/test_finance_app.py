"""Finance's page without a browser: what the kernel side does with uploads (a client that lies
included), the result, one message for a bad file, and the session's files deleted at its end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ovo_nb.finance import FinanceApp, FinanceSettings, Upload

SAMPLES = Path(__file__).resolve().parent.parent / "ovo_nb" / "samples"
PARTNER, OVO = SAMPLES / "partner-ledger-2026-11.csv", SAMPLES / "ovo-settlement-2026-11.csv"


@pytest.fixture
def app(tmp_path: Path) -> Any:
    made = FinanceApp(FinanceSettings(data_dir=None, max_upload=64 * 1024, sessions=tmp_path / "sessions"))
    yield made
    made.close()


def send(upload: Upload, name: str, data: bytes, *, announced: int | None = None, piece: int = 1000) -> None:
    """What the browser sends for one file: start, pieces, end."""
    upload._message(None, {"event": "start", "name": name, "size": len(data) if announced is None else announced}, [])
    for offset in range(0, len(data), piece):
        upload._message(None, {"event": "piece", "offset": offset}, [memoryview(data[offset:offset + piece])])
    upload._message(None, {"event": "end", "name": name, "size": len(data)}, [])


def test_uploads_are_written_whole_and_reconciled(app: Any) -> None:
    send(app.sides["partner"].upload, "partner-ledger-2026-11.csv", PARTNER.read_bytes())
    send(app.sides["ovo"].upload, "../../ovo settlement.csv", OVO.read_bytes())
    partner, ovo = app.sides["partner"].upload.path, app.sides["ovo"].upload.path
    assert partner.read_bytes() == PARTNER.read_bytes() and ovo.name == "ovo-settlement.csv"
    assert ovo.parent == app.folder / "ovo" and (app.folder.stat().st_mode & 0o777) == 0o700
    app.period.value = "2026-11"
    app.run()
    assert "Reconciled 2026-11: 5 matched, 2 across the cut-off, 6 to act on." in app.message.value
    assert "Across the cut-off" in app.counts.value and "<svg" in app.chart.value
    assert app.category.value == "cut_off" and "2026-12-01" in app.rows.value
    assert all(app.downloads[name].ready for name in ("reconciliation.xlsx", "reconciliation-csv.zip"))
    app.category.value = "missing_at_ovo"
    assert "INV-20261115-120000-a9c3e5" in app.rows.value
    assert app.downloads["category.csv"].path.name == "missing_at_ovo.csv"


@pytest.mark.parametrize(("name", "data", "announced", "message"), [
    ("big.csv", b"x" * (64 * 1024 + 1), None, "big.csv is over the 64 KB a file may have here."),
    ("liar.csv", b"x" * 5000, 100, "liar.csv sent more than it announced; nothing was kept."),
    ("short.csv", b"x" * 50, 100, "short.csv arrived incomplete (50 bytes of 100 bytes); upload it again."),
    ("notes.txt", b"hello", None, "notes.txt is not a .csv, .xlsx or .parquet file."),
])
def test_what_the_kernel_refuses(app: Any, name: str, data: bytes, announced: int | None, message: str) -> None:
    upload = app.sides["partner"].upload
    send(upload, name, data, announced=announced)
    assert upload.path is None and upload.error == message
    assert message in app.message.value and 'role="alert"' in app.message.value
    assert list((app.folder / "partner").iterdir()) == []  # nothing kept, not even a piece


def test_the_browser_refusal_and_a_bad_file_are_one_message_each(app: Any) -> None:
    upload = app.sides["partner"].upload
    upload._message(None, {"event": "refused", "name": "month.csv", "size": 5 * 1024 * 1024}, [])
    assert app.message.value.count("role=") == 1 and "month.csv is 5 MB: over the 64 KB" in app.message.value
    app.run()
    assert "Choose a file for Partner records and OVO settlement first." in app.message.value
    send(upload, "partner.csv", PARTNER.read_bytes().replace(b"15000.00", b"15.000", 1))
    app.sides["ovo"].pick.value = str(OVO)  # the sample, picked
    app.run()
    assert app.message.value.count("role=") == 1 and "partner.csv line 3" in app.message.value
    assert app.results.layout.display == "none" and app.button.description == "Reconcile"


def test_picking_a_file_forgets_the_upload_and_closing_deletes_everything(app: Any) -> None:
    upload = app.sides["ovo"].upload
    send(upload, "ovo.csv", OVO.read_bytes())
    kept = upload.path
    app.sides["ovo"].pick.value = str(OVO)
    assert upload.path is None and not kept.exists() and app.sides["ovo"].source() == OVO
    folder = app.folder
    app.close()
    assert not folder.exists()


def test_the_data_folder_offers_exports_in_its_subfolders_and_nothing_outside_it(tmp_path: Path) -> None:
    data, outside = tmp_path / "exports", tmp_path / "elsewhere"
    (data / "ovo").mkdir(parents=True)
    (data / ".cache").mkdir()
    outside.mkdir()
    (data / "ovo" / "settlement-2026-11.csv").write_bytes(OVO.read_bytes())
    (data / "ledger-2026-11.xlsx").write_bytes(b"")
    (data / "notes.txt").write_text("not an export")
    (data / ".cache" / "old.csv").write_text("hidden")
    (outside / "secret.csv").write_text("outside")
    (data / "linked.csv").symlink_to(outside / "secret.csv")
    made = FinanceApp(FinanceSettings(data_dir=data, sessions=tmp_path / "sessions"))
    try:
        offered = [label for label, _ in made.sides["ovo"].pick.options]
    finally:
        made.close()
    assert offered[:3] == ["(uploaded file)", "ledger-2026-11.xlsx", "ovo/settlement-2026-11.csv"]
    assert not any(label in offered for label in ("notes.txt", ".cache/old.csv", "linked.csv"))
