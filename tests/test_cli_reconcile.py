"""``ovo-nb reconcile`` and ``ovo-nb ledger export``: exit codes for cron and CI, one line per
failing category, JSON for machines, the cut-off on planted data."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from ovo_nb.cli import main
from ovo_nb.config import load_profile
from ovo_nb.ledger import PartnerLedger
from ovo_nb.snap import JAKARTA, ManualClock

SAMPLES = Path(__file__).resolve().parent.parent / "ovo_nb" / "samples"
PARTNER, OVO = SAMPLES / "partner-ledger-2026-11.csv", SAMPLES / "ovo-settlement-2026-11.csv"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_clean_month_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "reconcile", str(OVO), str(OVO), "--partner-preset", "ovo-settlement",
                         "--fail-on", "any")
    assert code == 0 and err == ""
    assert "matched" in out and "12" in out and "FAIL" not in out


def test_failing_categories_exit_1_with_one_line_each(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "reconcile", str(PARTNER), str(OVO), "--period", "2026-11", "--out",
                         str(tmp_path / "nov"), "--fail-on", "missing_at_ovo,amount_mismatch,cut_off")
    assert code == 1
    lines = err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["FAIL cut_off", "FAIL missing_at_ovo", "FAIL amount_mismatch"]
    assert lines[1] == (f"FAIL missing_at_ovo: 1 row(s), partner IDR 19,000.00, OVO IDR 0.00 "
                        f"(see {tmp_path / 'nov' / 'missing_at_ovo.csv'})")
    assert "2026-11 (Jakarta days" in out and "cut_off" in out
    written = {p.name for p in (tmp_path / "nov").iterdir()}
    assert {"reconciliation.xlsx", "reconciliation.html", "cut_off.csv", "missing_at_ovo.csv"} <= written
    cut_off = pd.read_csv(tmp_path / "nov" / "cut_off.csv", dtype=str, encoding="utf-8-sig")
    assert cut_off[["Partner day (Jakarta)", "OVO day (Jakarta)"]].values.tolist() == [
        ["2026-10-31", "2026-11-01"], ["2026-11-30", "2026-12-01"]]


def test_json_for_machines(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "reconcile", str(PARTNER), str(OVO), "--period", "2026-11", "--json",
                         "--fail-on", "any")
    summary = json.loads(out)
    assert code == 1 and summary["exit"] == 1
    assert summary["period"] == "2026-11" and summary["counts"]["cut_off"] == 2
    assert summary["failing"] == ["missing_at_ovo", "missing_at_partner", "amount_mismatch", "status_mismatch",
                                  "refund_mismatch", "duplicate"]
    assert summary["totals"]["amount_mismatch"] == {"partner_idr": "75000.00", "ovo_idr": "76000.00"}
    assert summary["inputs"]["ovo_payment_idr_across_cut_off"] == "87500.00"
    assert summary["sources"]["ovo"] == str(OVO) and summary["written"] == {}
    assert len(err.splitlines()) == 6


@pytest.mark.parametrize(("argv", "message"), [
    (["--fail-on", "missing"], "--fail-on missing: not a category"),
    (["--period", "November"], "period 'November'"),
    (["--amount-format", "euro"], "Unknown amount format 'euro'"),
    (["--ovo-preset", "bank"], "--ovo-preset 'bank'"),
    (["--partner-map", "order_id"], "--partner-map 'order_id'"),
])
def test_a_mistake_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, "reconcile", str(PARTNER), str(OVO), *argv)
    assert code == 2 and out == ""
    assert err.startswith("ovo-nb: ") and message in err and len(err.splitlines()) == 1


def test_an_ambiguous_export_is_refused_naming_its_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    export = tmp_path / "ovo.csv"
    export.write_text(OVO.read_text().replace("15000.00", "15.000", 1))
    code, _, err = run(capsys, "reconcile", str(PARTNER), str(export))
    assert code == 2 and "ovo.csv line 3 (INV-20261103-091502-b4d6f8: '15.000' could be 15000 or 15)" in err
    code, out, _ = run(capsys, "reconcile", str(PARTNER), str(export), "--ovo-amount-format", "id",
                       "--ovo-map", "merchant_id=merchant")
    assert code == 2  # told it is Indonesian, its 45000.00 rows no longer read: still refused, never guessed
    mapped = tmp_path / "orders.csv"
    pd.read_csv(PARTNER, dtype=str).rename(columns={"partner_reference_no": "order_id"}).to_csv(mapped, index=False)
    code, out, _ = run(capsys, "reconcile", str(mapped), str(OVO), "--partner-map", "order_id=partner_reference_no")
    assert code == 0 and "missing_at_ovo" in out


@pytest.fixture
def ledger() -> PartnerLedger:
    """The sandbox profile's ledger with a payment on 30 Nov 23:58 and one in October."""
    clock = ManualClock(datetime(2026, 10, 20, 10, 0, tzinfo=JAKARTA))
    book = PartnerLedger(load_profile("sandbox").state_dir / "ledger.sqlite", clock=clock)
    book.add_payment("INV-OCT", "081234567890", Decimal("5000"), {})
    book.update_payment("INV-OCT", "PAID", reference_no="OVO-1")
    clock.advance(datetime(2026, 11, 30, 23, 58, tzinfo=JAKARTA) - clock.now())
    book.add_payment("INV-EDGE", "081234567890", Decimal("87500"), {})
    book.update_payment("INV-EDGE", "PAID", reference_no="OVO-2")
    book.add_refund("RF-EDGE", "INV-EDGE", Decimal("500"), {})
    book.update_refund("RF-EDGE", "REFUNDED", refund_no="OVO-RF-2")
    return book


def test_ledger_export_and_reconcile_the_ledger(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                ledger: PartnerLedger) -> None:
    code, out, _ = run(capsys, "ledger", "export", "--period", "2026-11")
    exported = pd.read_csv(pd.io.common.StringIO(out), dtype=str, keep_default_na=False)
    assert code == 0 and exported["partner_reference_no"].tolist() == ["INV-EDGE", "INV-EDGE"]
    assert exported.columns.tolist() == ["record_type", "partner_reference_no", "reference_no", "partner_refund_no",
                                         "refund_no", "amount", "currency", "status", "time"]
    assert "081234567890" not in out  # no phone numbers in an export
    target = tmp_path / "nov.xlsx"
    code, _, err = run(capsys, "ledger", "export", "--period", "2026-11", "--out", str(target))
    assert code == 0 and "2 row(s) of 2026-11 written" in err
    code, _, err = run(capsys, "ledger", "export", "--period", "2026-11", "--out", str(target))
    assert code == 2 and "already exists" in err
    ovo = tmp_path / "ovo.csv"
    lines = OVO.read_text().splitlines()
    ovo.write_text("\n".join([lines[0],
                              "PAYMENT,2026-12-01T00:00:04+07:00,c,m,INV-EDGE,OVO-2,,,87500.00,IDR,SUCCESS,CASH",
                              "REFUND,2026-12-01T00:01:00+07:00,c,m,INV-EDGE,OVO-2,RF-EDGE,OVO-RF-2,500.00,IDR,"
                              "SUCCESS,CASH"]) + "\n")
    code, out, err = run(capsys, "reconcile", "ledger", str(ovo), "--period", "2026-11", "--json",
                         "--fail-on", "missing_at_ovo,missing_at_partner")
    summary = json.loads(out)
    assert code == 0, err
    assert summary["counts"]["cut_off"] == 2  # the payment and its refund, both booked by OVO on 1 Dec
    assert sum(summary["counts"].values()) == 2  # October's payment is not November's business
    assert summary["sources"]["partner"].startswith("partner ledger (")
    ledger.close()


def test_no_ledger_yet_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "reconcile", "ledger", str(OVO))
    assert code == 2 and "No partner ledger at" in err
    assert not (load_profile("sandbox").state_dir / "ledger.sqlite").exists()  # nothing created
    assert "give the partner's export file instead of 'ledger'" in err
    code, _, err = run(capsys, "ledger", "export", "--period", "2026-11")
    assert code == 2 and "No partner ledger" in err and "instead of 'ledger'" not in err  # export takes no file
    code, _, err = run(capsys, "ledger", "export", "--period", "2026-11", "--out", "november.txt")
    assert code == 2 and "give a .csv, .xlsx or .parquet file name" in err  # the typo first: it costs nothing


def test_samples_are_what_the_readme_points_at() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for sample in (PARTNER, OVO):
        assert f"ovo_nb/samples/{sample.name}" in readme
