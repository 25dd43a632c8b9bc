"""Real exports: amounts as they are written in the wild, ambiguous ones refused by row, bad rows
named by file and line, and the presets on their sample files."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from ovo_nb.errors import ValidationError
from ovo_nb.reconciliation import PRESETS, load_records, reconcile
from ovo_nb.snap import SETTLEMENT_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "ovo_nb" / "samples"


def write_csv(path: Path, amounts: list[str]) -> Path:
    frame = pd.DataFrame({"partner_reference_no": [f"R{n}" for n in range(len(amounts))], "amount": amounts,
                          "status": "PAID", "time": "2026-11-26T10:00:00+07:00"})
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("written", "amount_format", "sen"), [
    ("15000.00", "plain", 1_500_000), ("15000", "plain", 1_500_000), ("15000.5", "plain", 1_500_050),
    ("15,000.00", "en", 1_500_000), ("1,500,000", "en", 150_000_000), ("15,000", "en", 1_500_000),
    ("15000.75", "en", 1_500_075),
    ("15.000,00", "id", 1_500_000), ("1.500.000", "id", 150_000_000), ("15.000", "id", 1_500_000),
    ("15000,5", "id", 1_500_050),
    ("Rp15.000,00", "id", 1_500_000), ("Rp 15.000", "id", 1_500_000), ("Rp. 1.500.000,25", "id", 150_000_025),
    ("rp15000", "auto", 1_500_000), ("IDR 15,000.00", "auto", 1_500_000), ("Rp15.000,00", "auto", 1_500_000),
    ("15,000.00", "auto", 1_500_000), ("1.500.000", "auto", 150_000_000), (" 15000.00 ", "auto", 1_500_000),
])
def test_each_amount_format_reads_exactly(written: str, amount_format: str, sen: int) -> None:
    records = load_records(pd.DataFrame([{"partner_reference_no": "A", "amount": written, "status": "PAID"}]),
                           side="partner", amount_format=amount_format)
    assert records["sen"].tolist() == [sen]


@pytest.mark.parametrize(("written", "amount_format"), [
    ("15,000.00", "plain"), ("15.000,00", "en"), ("15,000.00", "id"), ("15.000", "en"), ("15,000", "id"),
    ("15000.50", "id"), ("1.005", "plain"), ("-15000.00", "auto"), ("15 000", "auto"), ("1e5", "auto"),
    ("12345678901234567,00", "id"), ("", "auto"),
])
def test_amounts_a_format_cannot_read_are_refused(written: str, amount_format: str) -> None:
    with pytest.raises(ValidationError, match=r"1 amount\(s\) not IDR"):
        load_records(pd.DataFrame([{"partner_reference_no": "A", "amount": written, "status": "PAID"}]),
                     side="partner", amount_format=amount_format)


@pytest.mark.parametrize(("written", "readings"), [
    ("15.000", "15000 or 15"), ("15,000", "15000 or 15"), ("1.500", "1500 or 1.5"), ("1,005", "1005 or 1.005"),
    ("Rp7.500", "7500 or 7.5"),
])
def test_a_value_that_reads_two_ways_is_refused_by_row_never_guessed(tmp_path: Path, written: str,
                                                                     readings: str) -> None:
    # even in a file whose other amounts say which way it is written: a guess is never made
    indonesian = "." in written
    others = ["10.000,00", "2.500.000", "12.000,50"] if indonesian else ["10,000.00", "2,500,000", "12,000.50"]
    path = write_csv(tmp_path / "export.csv", [*others[:2], written, others[2]])
    with pytest.raises(ValidationError) as refused:
        load_records(path, side="partner")
    message = str(refused.value)
    assert f"export.csv line 4 (R2: {written!r} could be {readings})" in message
    assert message.startswith("partner: 1 amount(s)") and "id 15.000,00" in message
    assert len(message.splitlines()) == 1
    told = load_records(path, side="partner", amount_format="id" if indonesian else "en")  # told, it reads them
    assert told["sen"].iloc[2] == int(readings.split()[0]) * 100


def test_the_format_is_detected_per_file(tmp_path: Path) -> None:
    write_csv(tmp_path / "ovo-2026-10.csv", ["15,000.00", "1,250,000.00"])
    write_csv(tmp_path / "ovo-2026-11.csv", ["Rp15.000,00", "Rp1.250.000"])
    records = load_records(str(tmp_path / "ovo-*.csv"), side="OVO")
    assert records["sen"].tolist() == [1_500_000, 125_000_000, 1_500_000, 125_000_000]


def test_a_file_mixing_formats_has_its_odd_rows_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "mixed.csv", ["15,000.00", "1,250,000.00", "3,000.50", "Rp15.000,00"])
    with pytest.raises(ValidationError, match=re.escape(
            "mixed.csv line 5 (R3: 'Rp15.000,00', unlike this file's other amounts (15,000.00))")):
        load_records(path, side="OVO")
    tied = write_csv(tmp_path / "tied.csv", ["15,000.00", "15.000,00"])
    with pytest.raises(ValidationError, match=r"2 amount\(s\).*this file mixes"):
        load_records(tied, side="OVO")


def test_bad_rows_are_named_by_file_and_line(tmp_path: Path) -> None:
    good = write_csv(tmp_path / "a-2026-10.csv", ["1.00", "2.00"])
    bad = tmp_path / "a-2026-11.csv"
    bad.write_text("partner_reference_no,amount,status,time\nX1,1.00,PAID,2026-11-01T10:00:00+07:00\n"
                   "X2,1.00,MAYBE,2026-11-01T10:00:00+07:00\nX3,1.00,PAID,yesterday\n")
    with pytest.raises(ValidationError) as refused:
        load_records(str(tmp_path / "a-*.csv"), side="partner")
    assert str(refused.value) == ("partner: 1 unknown status(es): a-2026-11.csv line 3 (X2: 'MAYBE'); 1 unreadable "
                                  "time(s) (use ISO 8601 like 2026-11-26T13:42:13+07:00): a-2026-11.csv line 4 "
                                  "(X3: 'yesterday').")
    assert good.exists()
    pd.read_csv(bad, dtype=str).to_excel(tmp_path / "book.xlsx", index=False)
    with pytest.raises(ValidationError, match=r"book\.xlsx row 3 \(X2: 'MAYBE'\)"):  # Excel's own row numbers
        load_records(tmp_path / "book.xlsx", side="partner")
    pd.read_csv(bad, dtype=str).to_parquet(tmp_path / "rows.parquet")
    with pytest.raises(ValidationError, match=r"rows\.parquet row 2 \(X2: 'MAYBE'\)"):
        load_records(tmp_path / "rows.parquet", side="partner")


def test_a_file_that_is_not_csv_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"partner_reference_no,amount,status\n\"A,1.00,PAID\nB,2.00\x00,PAID,extra,columns\n")
    with pytest.raises(ValidationError) as refused:
        load_records(broken, side="OVO")
    assert str(refused.value).startswith("OVO: ") and len(str(refused.value).splitlines()) == 1


def test_the_settlement_layout_is_one_table_the_sandbox_writes_and_the_preset_reads() -> None:
    from ovo_nb.sandbox import open_sandbox

    sandbox, _ = open_sandbox(":memory:")
    header = next(csv.reader(io.StringIO(sandbox.settlement_csv())))
    assert header == [column for column, _, _ in SETTLEMENT_COLUMNS]
    with (SAMPLES / "ovo-settlement-2026-11.csv").open() as sample:
        assert next(csv.reader(sample)) == header
    assert PRESETS["ovo-settlement"].mapping == {"type": "record_type"}
    readme = (ROOT / "README.md").read_text()
    for column, field, meaning in SETTLEMENT_COLUMNS:  # the README documents the same table
        assert f"| `{column}` | {f'`{field}`' if field else '-'} | {meaning} |" in readme


def test_the_presets_read_their_sample_files() -> None:
    ovo = load_records(SAMPLES / "ovo-settlement-2026-11.csv", side="OVO", preset="ovo-settlement")
    partner = load_records(SAMPLES / "partner-ledger-2026-11.csv", side="partner", preset="ledger")
    assert len(ovo) == 12 and len(partner) == 12
    assert set(ovo["status"]) == {"SUCCESS"} and {"SUCCESS", "PENDING"} == set(partner["status"])
    assert ovo.loc[ovo["record_type"] == "REFUND", "partner_refund_no"].tolist()[0].startswith("RF-")
    with pytest.raises(ValidationError, match="Unknown preset 'ovo'"):
        load_records(SAMPLES / "ovo-settlement-2026-11.csv", side="OVO", preset="ovo")
    with pytest.raises(ValidationError, match="missing column.*preset"):
        load_records(SAMPLES / "ovo-settlement-2026-11.csv", side="OVO", mapping={"partner_reference_no": "x"})


def test_the_sample_month_has_every_category() -> None:
    result = reconcile(SAMPLES / "partner-ledger-2026-11.csv", SAMPLES / "ovo-settlement-2026-11.csv",
                       partner_preset="ledger", ovo_preset="ovo-settlement", period="2026-11")
    assert result.counts().to_dict() == {"matched": 5, "cut_off": 2, "missing_at_ovo": 1, "missing_at_partner": 1,
                                         "amount_mismatch": 1, "status_mismatch": 1, "refund_mismatch": 1,
                                         "duplicate": 1}


def test_reports_show_what_the_files_say_as_text(tmp_path: Path) -> None:
    from ovo_nb.reports import write_reconciliation

    hostile = '<img src=x onerror="alert(1)">'
    partner = pd.DataFrame([{"partner_reference_no": hostile, "amount": "1.00", "status": "PAID"}])
    ovo = pd.DataFrame([{"partner_reference_no": "A", "amount": "1.00", "status": "SUCCESS"}])
    page = write_reconciliation(reconcile(partner, ovo), tmp_path, ["html"])["reconciliation.html"].read_text()
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page and "<img" not in page


@pytest.mark.parametrize("content", [b"not a workbook at all", b"record_type,amount\nPAYMENT,1.00\n",
                                     b"PK\x03\x04 a zip that breaks off"])
def test_a_file_named_xlsx_that_is_no_workbook_is_one_line(tmp_path: Path, content: bytes) -> None:
    fake = tmp_path / "export.xlsx"
    fake.write_bytes(content)
    with pytest.raises(ValidationError, match=r"partner: cannot read .*export\.xlsx as XLSX \(is it an Excel "
                                              r"workbook\?\): .+") as refused:
        load_records(fake, side="partner")
    assert "\n" not in str(refused.value)
