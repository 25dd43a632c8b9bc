"""Reconciliation: categories, exact totals, validation, reports read back."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from ovo_nb.errors import ValidationError
from ovo_nb.reconciliation import CATEGORIES, from_ledger, from_settlement, load_records, reconcile
from ovo_nb.reports import write_reconciliation
from ovo_nb.traffic import drill_session, sandbox_settlement, simulate_period


def rec(kind: str, ref: str, amount: str, status: str, refund: str = "", time: str = "2026-11-26T10:00:00+07:00",
        **extra: str) -> dict[str, str]:
    return {"record_type": kind, "partner_reference_no": ref, "partner_refund_no": refund, "amount": amount,
            "status": status, "time": time, **extra}


PARTNER = [
    rec("PAYMENT", "A", "100.00", "PAID"), rec("PAYMENT", "B", "200.00", "PAID"),
    rec("PAYMENT", "C", "300.00", "AWAITING_PIN"), rec("PAYMENT", "D", "50", "PAID"),
    rec("PAYMENT", "E", "70.5", "PAID"), rec("PAYMENT", "E", "70.5", "PAID"),
    rec("PAYMENT", "G", "80.00", "PAID", time="2026-11-26T23:59:59+07:00"),
    rec("REFUND", "A", "60.00", "REFUNDED", "RA"), rec("REFUND", "G", "10.00", "REFUNDED", "RG"),
]
OVO = [
    rec("PAYMENT", "A", "100.00", "SUCCESS", reference_no="1"), rec("PAYMENT", "B", "250.00", "SUCCESS"),
    rec("PAYMENT", "C", "300.00", "SUCCESS"), rec("PAYMENT", "F", "10.00", "SUCCESS"),
    rec("PAYMENT", "E", "70.50", "SUCCESS"), rec("PAYMENT", "G", "80.00", "SUCCESS", time="2026-11-27T00:00:01+07:00"),
    rec("REFUND", "A", "60.00", "SUCCESS", "RA"), rec("REFUND", "A", "50.00", "SUCCESS", "RB"),
]


@pytest.fixture
def result() -> object:
    return reconcile(load_records(pd.DataFrame(PARTNER), side="partner"), load_records(pd.DataFrame(OVO), side="OVO"))


def test_every_category_with_its_rows_and_actions(result: object) -> None:
    rows = result.for_display()  # type: ignore[attr-defined]
    by_key = {(r["key"], r["partner_status"] != ""): r for r in rows.to_dict("records")}
    assert by_key[("PAYMENT:A", True)]["category"] == "matched"
    assert by_key[("PAYMENT:G", True)]["category"] == "matched" and by_key[("PAYMENT:G", True)]["day"] == "2026-11-26"
    assert by_key[("PAYMENT:D", True)]["category"] == "missing_at_ovo"
    assert by_key[("PAYMENT:F", False)]["category"] == "missing_at_partner"
    assert by_key[("PAYMENT:B", True)]["category"] == "amount_mismatch"
    status = by_key[("PAYMENT:C", True)]
    assert status["category"] == "status_mismatch" and "lost answer" in status["action"]
    assert by_key[("REFUND:RB", False)]["category"] == "refund_mismatch"
    assert "record the refund" in by_key[("REFUND:RB", False)]["action"]
    over = by_key[("REFUND:RA", True)]
    assert over["category"] == "refund_mismatch" and "exceed the payment on the ovo side" in over["action"]
    assert by_key[("REFUND:RG", True)]["category"] == "refund_mismatch"  # OVO has no RG
    duplicates = rows[rows["category"] == "duplicate"]
    assert list(duplicates["key"]) == ["PAYMENT:E"] and duplicates["partner_status"].tolist() == ["SUCCESS"]
    assert len(rows[(rows["key"] == "PAYMENT:E") & (rows["category"] == "matched")]) == 1  # its first row still matches
    assert set(result.counts().index) == set(CATEGORIES)  # type: ignore[attr-defined]
    assert all(rows.loc[rows["category"] != "matched", "action"].str.len() > 20)


def test_a_failed_attempt_only_ovo_has_is_not_called_a_charge() -> None:
    ovo = [*OVO, rec("PAYMENT", "H", "10000.00", "FAILED")]  # an abandoned PIN page nobody recorded
    rows = reconcile(load_records(pd.DataFrame(PARTNER), side="partner"),
                     load_records(pd.DataFrame(ovo), side="OVO")).for_display()
    found = rows[rows["key"] == "PAYMENT:H"].iloc[0]
    assert found["category"] == "missing_at_partner" and "no money moved" in found["action"]
    assert "charged" not in found["action"]
    charged = rows[rows["key"] == "PAYMENT:F"].iloc[0]  # a SUCCESS only OVO has is still money to find
    assert "OVO charged a payment the partner never recorded" in charged["action"]


def test_totals_are_exact_and_conserved(result: object) -> None:
    totals = result.totals().groupby(level="record_type").sum()  # type: ignore[attr-defined]
    inputs = result.input_totals()  # type: ignore[attr-defined]
    assert inputs == {"partner_payment_idr": Decimal("871.00"), "partner_refund_idr": Decimal("70.00"),
                      "ovo_payment_idr": Decimal("810.50"), "ovo_refund_idr": Decimal("110.00")}
    assert totals.loc["PAYMENT", "partner_idr"] == inputs["partner_payment_idr"]
    assert totals.loc["REFUND", "ovo_idr"] == inputs["ovo_refund_idr"]
    assert all(isinstance(v, Decimal) for v in totals.to_numpy().ravel())
    daily = result.daily()  # type: ignore[attr-defined]
    assert list(daily.index) == ["2026-11-26"]  # the Jakarta day: 23:59:59 +07:00 is still the 26th


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"partner_reference_no": "A", "amount": "1.00"}], "missing column"),
        ([rec("PAYMENT", "A", "1,500", "PAID"), rec("PAYMENT", "B", "abc", "PAID")], r"2 amount\(s\).*row 1 \(B: 'abc'\)"),
        ([rec("PAYMENT", "A", "1.005", "PAID")], "two decimals"),
        ([rec("PAYMENT", "A", "1.00", "PAID", currency="USD")], "only IDR"),
        ([rec("PAYMENT", "A", "1.00", "PAID", time="yesterday")], "unreadable time"),
        ([rec("PAYMENT", "A", "1.00", "MAYBE")], "unknown status"),
        ([rec("CHARGE", "A", "1.00", "PAID")], "PAYMENT or REFUND"),
        ([rec("PAYMENT", "", "1.00", "PAID")], "without any reference"),
    ],
)
def test_bad_input_is_refused_naming_the_rows(rows: list[dict[str, str]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load_records(pd.DataFrame(rows), side="partner")


def test_files_and_column_mappings(tmp_path: Path) -> None:
    frame = pd.DataFrame([{"order": "A", "total": "100.00", "state": "PAID", "when": "2026-11-26T10:00:00+07:00",
                           "nama": "Budi Śantoso"}])
    frame.to_csv(tmp_path / "partner.csv", index=False, encoding="utf-8-sig")
    frame.to_excel(tmp_path / "partner.xlsx", index=False)
    mapping = {"order": "partner_reference_no", "total": "amount", "state": "status", "when": "time"}
    for name in ("partner.csv", "partner.xlsx"):
        records = load_records(tmp_path / name, side="partner", mapping=mapping)
        assert list(records["sen"]) == [10000] and list(records["status"]) == ["SUCCESS"]
    with pytest.raises(ValidationError, match="does not exist"):
        load_records(tmp_path / "nope.csv", side="partner")
    (tmp_path / "partner.txt").write_text("x")
    with pytest.raises(ValidationError, match=r"not \.csv"):
        load_records(tmp_path / "partner.txt", side="partner")


def test_reports_open_as_finance_expects(result: object, tmp_path: Path) -> None:
    written = write_reconciliation(result, tmp_path, ["csv", "xlsx", "html"])  # type: ignore[arg-type]
    book = load_workbook(written["reconciliation.xlsx"])
    assert book.sheetnames == ["Summary", "Matched", "Missing at OVO", "Missing at partner", "Amount mismatch",
                               "Status mismatch", "Refund mismatch", "Duplicate"]
    sheet = book["Amount mismatch"]
    header = [c.value for c in sheet[1]]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref and sheet["A1"].font.bold
    assert "key" not in header and header[:2] == ["Type", "partnerReferenceNo"]
    idr = sheet.cell(2, header.index("OVO IDR") + 1)
    assert idr.value == 250 and idr.number_format == "#,##0.00"
    assert sheet.cell(2, header.index("Difference IDR (partner − OVO)") + 1).value == -50
    assert sheet.cell(3, 1).value == "Total (1 rows)" and sheet.cell(3, header.index("OVO IDR") + 1).value == 250
    summary = {}
    for row in book["Summary"].iter_rows():
        if row[0].value == "Totals per category (IDR)":
            break
        summary[row[0].value] = row[1].value
    assert summary["Partner payments"] == 871 and summary["Duplicate"] == 1
    html = written["reconciliation.html"].read_text()
    assert "<script" not in html and "src=" not in html and "<svg" in html and "Missing at partner (1)" in html
    assert 'class="scroll"' in html and "max-width:1248px" in html and "Difference IDR" in html
    csv = (tmp_path / "duplicate.csv").read_text(encoding="utf-8-sig")
    assert csv.count("\n") == 2 and (tmp_path / "duplicate.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    with pytest.raises(ValidationError, match="Unknown report format"):
        write_reconciliation(result, tmp_path, ["pdf"])  # type: ignore[arg-type]


def test_a_drill_through_the_real_flows_finds_each_discrepancy(tmp_path: Path) -> None:
    ovo, clock = drill_session(tmp_path, days=2)
    drill = simulate_period(ovo, clock, days=2, payments_per_day=3)
    result = reconcile(from_ledger(ovo.ledger), from_settlement(sandbox_settlement(ovo)))
    rows = result.for_display()
    category = {r["partner_reference_no"] or r["partner_refund_no"]: r["category"] for r in rows.to_dict("records")
                if r["record_type"] == "PAYMENT"}
    assert category[drill.discrepancies["missing at OVO"]] == "missing_at_ovo"
    assert category[drill.discrepancies["missing at partner"]] == "missing_at_partner"
    assert category[drill.discrepancies["amount mismatch"]] == "amount_mismatch"
    assert category[drill.discrepancies["lost answer (status mismatch)"]] == "status_mismatch"
    assert category[drill.discrepancies["abandoned PIN page"]] == "status_mismatch"
    refunds = rows[rows["record_type"] == "REFUND"]
    assert refunds.loc[refunds["partner_refund_no"] == drill.discrepancies["refund missing at partner"],
                       "category"].item() == "refund_mismatch"
    assert result.counts()["matched"] >= drill.payments - 2


amounts = st.integers(min_value=1, max_value=10**9).map(lambda sen: f"{sen // 100}.{sen % 100:02d}")
records = st.lists(
    st.tuples(st.sampled_from(["PAYMENT", "REFUND"]), st.sampled_from(list("ABCDEFGH")), amounts,
              st.sampled_from(["PAID", "SUCCESS", "PENDING", "FAILED", "REFUNDED"]), st.sampled_from(["", "1", "2"])),
    max_size=25)


def frame_of(items: list[tuple[str, str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame([rec(kind, ref, amount, status, refund=f"R{ref}{n}" if kind == "REFUND" else "",
                             time=f"2026-11-2{n or 0}T10:00:00+07:00")
                         for kind, ref, amount, status, n in items], columns=[
        "record_type", "partner_reference_no", "partner_refund_no", "amount", "status", "time"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(partner=records, ovo=records)
def test_every_row_lands_in_exactly_one_category_and_money_is_conserved(partner: list, ovo: list) -> None:  # type: ignore[type-arg]
    p = load_records(frame_of(partner), side="partner")
    o = load_records(frame_of(ovo), side="OVO")
    result = reconcile(p, o)
    rows = result.rows
    assert int((rows["partner_status"] != "").sum()) == len(p)
    assert int((rows["ovo_status"] != "").sum()) == len(o)
    assert int(rows["partner_sen"].sum()) == int(p["sen"].sum())
    assert int(rows["ovo_sen"].sum()) == int(o["sen"].sum())
    assert set(rows["category"]) <= set(CATEGORIES)
    assert rows["category"].notna().all()


# ----------------------------------------------------------------------------- planted discrepancies

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

KINDS = ("amount", "status", "missing_at_ovo", "missing_at_partner", "duplicate_partner", "duplicate_ovo",
         "refund_over_duplicate", "refund_without_payment")


def planted_sides(plan: list[tuple[int, frozenset[str]]]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, set[str]]]:
    """Two sides of payments (and refunds) with the planted discrepancies; what each category must find."""
    partner, ovo, expected = [], [], {k: set() for k in ("amount_mismatch", "status_mismatch", "missing_at_ovo",
                                                         "missing_at_partner", "duplicate", "refund_mismatch")}
    for n, kinds in plan:
        ref, sen = f"P{n}", 10_000 + n * 100
        mine = rec("PAYMENT", ref, f"{sen / 100:.2f}", "PAID")
        theirs = rec("PAYMENT", ref, f"{(sen + (500 if 'amount' in kinds else 0)) / 100:.2f}",
                     "FAILED" if "status" in kinds else "SUCCESS")
        if "missing_at_partner" not in kinds:
            partner.append(mine)
        if "missing_at_ovo" not in kinds:
            ovo.append(theirs)
        if "duplicate_partner" in kinds and "missing_at_partner" not in kinds:
            partner.append(mine)
            expected["duplicate"].add(f"PAYMENT:{ref}")
        if "duplicate_ovo" in kinds and "missing_at_ovo" not in kinds:
            ovo.append(theirs)
            expected["duplicate"].add(f"PAYMENT:{ref}")
        both_sides = not kinds & {"missing_at_ovo", "missing_at_partner"}
        if "missing_at_ovo" in kinds and "missing_at_partner" not in kinds:
            expected["missing_at_ovo"].add(f"PAYMENT:{ref}")
        if "missing_at_partner" in kinds and "missing_at_ovo" not in kinds:
            expected["missing_at_partner"].add(f"PAYMENT:{ref}")
        if both_sides and "amount" in kinds:
            expected["amount_mismatch"].add(f"PAYMENT:{ref}")
        elif both_sides and "status" in kinds:
            expected["status_mismatch"].add(f"PAYMENT:{ref}")
        if "refund_over_duplicate" in kinds:  # refunds add up to more than the (duplicated) payment
            for side, status in ((partner, "REFUNDED"), (ovo, "SUCCESS")):
                side.append(rec("REFUND", ref, f"{sen / 100:.2f}", status, f"R{n}a"))
                side.append(rec("REFUND", ref, "1.00", status, f"R{n}b"))
            expected["refund_mismatch"] |= {f"REFUND:R{n}a", f"REFUND:R{n}b"}
        if "refund_without_payment" in kinds:
            for side, status in ((partner, "REFUNDED"), (ovo, "SUCCESS")):
                side.append(rec("REFUND", f"GONE{n}", "5.00", status, f"RG{n}"))
            expected["refund_mismatch"].add(f"REFUND:RG{n}")
    return pd.DataFrame(partner), pd.DataFrame(ovo), expected


plans = st.lists(st.frozensets(st.sampled_from(KINDS), max_size=3), min_size=1, max_size=25).map(
    lambda kinds: list(enumerate(kinds)))


@settings(max_examples=60, deadline=None)
@given(plan=plans)
def test_every_planted_discrepancy_is_found_once_and_totals_are_conserved(plan: list[tuple[int, frozenset[str]]]) -> None:
    partner_frame, ovo_frame, expected = planted_sides(plan)
    if partner_frame.empty or ovo_frame.empty:
        return
    result = reconcile(load_records(partner_frame, side="partner"), load_records(ovo_frame, side="OVO"))
    rows = result.rows
    for category, keys in expected.items():
        found = set(rows.loc[rows["category"] == category, "key"])
        assert keys <= found, (category, keys - found)
    for category in ("amount_mismatch", "status_mismatch", "missing_at_ovo", "missing_at_partner"):
        found = set(rows.loc[rows["category"] == category, "key"])
        assert found == expected[category], category  # nothing counted in a category it does not belong to
    assert len(rows) == rows[["key", "partner_status", "ovo_status", "partner_sen", "ovo_sen", "category"]].shape[0]
    extra = (partner_frame.duplicated(["record_type", "partner_reference_no", "partner_refund_no"]).sum()
             + ovo_frame.duplicated(["record_type", "partner_reference_no", "partner_refund_no"]).sum())
    assert (rows["category"] == "duplicate").sum() == extra  # one row per extra entry, none for the first
    for side, frame in (("partner", partner_frame), ("ovo", ovo_frame)):
        loaded = load_records(frame, side=side)
        assert int(rows[f"{side}_sen"].sum()) == int(loaded["sen"].sum())  # every input row counted exactly once


def test_a_category_too_big_for_excel_goes_beside_the_workbook(result: object, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from ovo_nb import reports

    monkeypatch.setattr(reports, "EXCEL_ROWS", 2)  # as if the matched rows were over a million
    written = write_reconciliation(result, tmp_path, ["xlsx"])  # type: ignore[arg-type]
    book = load_workbook(written["reconciliation.xlsx"])
    note = book["Matched"]["A1"].value
    assert "more than a sheet holds" in note and "matched.parquet" in note
    assert any("matched.parquet" in str(row[1].value) for row in book["Summary"].iter_rows() if len(row) > 1)
    beside = pd.read_parquet(tmp_path / "matched.parquet")
    assert len(beside) == result.size("matched")  # type: ignore[attr-defined]
    assert set(beside["partner_idr"]) >= {"100.00"}  # exact text, never float
    assert book["Amount mismatch"].max_row == 3  # the small categories stay in the workbook


def test_the_daily_chart_counts_each_open_row_once(result: object) -> None:
    rows = result.rows  # type: ignore[attr-defined]
    open_rows = rows[rows["category"] != "matched"]
    expected = int(open_rows[["partner_sen", "ovo_sen"]].max(axis=1).sum())
    assert int(sum(result.daily()["open_idr"]) * 100) == expected  # type: ignore[attr-defined]
