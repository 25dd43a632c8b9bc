"""A period of Jakarta days, and the month-end cut-off: a row inside whose counterpart is booked just
outside is matched across the edge and reported with both days, never as missing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from ovo_nb.errors import ValidationError
from ovo_nb.reconciliation import Period, reconcile
from ovo_nb.reports import write_reconciliation


def row(ref: str, amount: str, time: str, status: str = "SUCCESS", kind: str = "PAYMENT",
        refund: str = "") -> dict[str, str]:
    return {"record_type": kind, "partner_reference_no": ref, "partner_refund_no": refund, "amount": amount,
            "status": status, "time": time}


PARTNER = pd.DataFrame([
    row("EDGE-START", "45000.00", "2026-10-31T23:59:30+07:00"),   # OVO books it on 1 Nov
    row("INSIDE", "15000.00", "2026-11-10T10:00:00+07:00"),
    row("EDGE-END", "87500.00", "2026-11-30T23:58:41+07:00"),     # OVO books it on 1 Dec
    row("EDGE-WRONG", "10000.00", "2026-11-30T23:59:00+07:00"),   # across the edge, and a different amount
    row("LOST", "19000.00", "2026-11-30T22:00:00+07:00"),          # OVO never got it
    row("OCTOBER", "5000.00", "2026-10-15T10:00:00+07:00"),        # another month, both sides
    row("OCT-ONLY", "7000.00", "2026-10-31T12:00:00+07:00"),       # another month, one side only
    row("DEC-FAR", "3000.00", "2026-12-03T10:00:00+07:00"),        # days outside, counterpart inside
])
OVO = pd.DataFrame([
    row("EDGE-START", "45000.00", "2026-11-01T00:00:02+07:00"),
    row("INSIDE", "15000.00", "2026-11-10T10:00:01+07:00"),
    row("EDGE-END", "87500.00", "2026-12-01T00:00:07+07:00"),
    row("EDGE-WRONG", "11000.00", "2026-12-01T00:00:09+07:00"),
    row("OCTOBER", "5000.00", "2026-10-15T10:00:01+07:00"),
    row("DEC-ONLY", "8000.00", "2026-12-01T08:00:00+07:00"),
    row("DEC-FAR", "3000.00", "2026-11-30T10:00:00+07:00"),
])


def test_periods_parse_and_refuse_what_is_not_one() -> None:
    assert Period.parse("2026-11") == Period(date(2026, 11, 1), date(2026, 11, 30))
    assert Period.parse("2028-02") == Period(date(2028, 2, 1), date(2028, 2, 29))
    assert Period.parse("2026-11-30") == Period(date(2026, 11, 30), date(2026, 11, 30))
    assert Period.parse("2026-11-01..2026-11-15").end == date(2026, 11, 15)
    assert [str(Period.parse(t)) for t in ("2026-11", "2026-11-30", "2026-11-01..2026-11-15")] == [
        "2026-11", "2026-11-30", "2026-11-01..2026-11-15"]
    for bad in ("2026-13", "November", "2026-11-31", "2026-11-15..2026-11-01", ""):
        with pytest.raises(ValidationError, match="give a month"):
            Period.parse(bad)


def test_the_month_end_cut_off_is_its_own_category_with_both_days() -> None:
    result = reconcile(PARTNER, OVO, period="2026-11")
    rows = result.rows.set_index("partner_reference_no")
    assert set(rows.index) == {"EDGE-START", "INSIDE", "EDGE-END", "EDGE-WRONG", "LOST", "DEC-FAR"}
    for ref, partner_day, ovo_day in (("EDGE-START", "2026-10-31", "2026-11-01"),
                                      ("EDGE-END", "2026-11-30", "2026-12-01")):
        assert rows.loc[ref, "category"] == "cut_off"
        assert (rows.loc[ref, "partner_day"], rows.loc[ref, "ovo_day"]) == (partner_day, ovo_day)
        assert partner_day in rows.loc[ref, "action"] and ovo_day in rows.loc[ref, "action"]
        assert rows.loc[ref, "day"].startswith("2026-11")  # counted on its day inside the period
    assert rows.loc["EDGE-WRONG", "category"] == "amount_mismatch"  # a difference still shows first
    assert rows.loc["EDGE-WRONG", "ovo_day"] == "2026-12-01"
    assert rows.loc["LOST", "category"] == "missing_at_ovo"
    assert rows.loc["INSIDE", "category"] == "matched"
    assert rows.loc["DEC-FAR", "category"] == "missing_at_partner"  # three days out is not across the cut-off
    assert result.counts()["cut_off"] == 2 and "missing_at_partner" in result.counts().index
    assert result.categories[1] == "cut_off" and result.parameters["period"] == "2026-11"


def test_without_a_period_there_is_no_cut_off_and_nothing_is_left_out() -> None:
    result = reconcile(PARTNER, OVO)
    assert "cut_off" not in result.counts().index
    assert result.size() == 9
    assert result.category("missing_at_partner")["partner_reference_no"].tolist() == ["DEC-ONLY"]


def test_a_period_totals_say_what_came_from_across_the_edge(tmp_path: Path) -> None:
    result = reconcile(PARTNER, OVO, period="2026-11")
    inputs = result.input_totals()
    assert inputs["partner_payment_idr"] == Decimal("131500.00")  # INSIDE, EDGE-END, EDGE-WRONG, LOST
    assert inputs["partner_payment_idr_across_cut_off"] == Decimal("45000.00")  # EDGE-START
    assert inputs["ovo_payment_idr"] == Decimal("63000.00")  # EDGE-START, INSIDE, DEC-FAR
    assert inputs["ovo_payment_idr_across_cut_off"] == Decimal("98500.00")  # EDGE-END, EDGE-WRONG
    totals = result.totals().groupby(level="record_type").sum()
    assert totals.loc["PAYMENT", "partner_idr"] == inputs["partner_payment_idr"] + inputs[
        "partner_payment_idr_across_cut_off"]
    assert totals.loc["PAYMENT", "ovo_idr"] == inputs["ovo_payment_idr"] + inputs["ovo_payment_idr_across_cut_off"]
    written = write_reconciliation(result, tmp_path)
    from openpyxl import load_workbook

    book = load_workbook(written["reconciliation.xlsx"])
    assert book.sheetnames[:3] == ["Summary", "Matched", "Across the cut-off"]
    header = [c.value for c in book["Across the cut-off"][1]]
    assert "Partner day (Jakarta)" in header and "OVO day (Jakarta)" in header
    labels = [r[0].value for r in book["Summary"].iter_rows()]
    assert "Partner payments in 2026-11" in labels
    assert "OVO payments dated outside the period, matched across the cut-off" in labels
    assert (tmp_path / "cut_off.csv").exists()


def test_cut_off_days_widens_or_narrows_the_search() -> None:
    narrow = reconcile(PARTNER, OVO, period="2026-11", cut_off_days=0)
    rows = narrow.rows.set_index(["partner_reference_no", "category"])
    assert ("EDGE-END", "missing_at_ovo") in rows.index  # its counterpart is not looked for outside
    assert ("EDGE-START", "missing_at_partner") in rows.index
    wide = reconcile(PARTNER, OVO, period="2026-11", cut_off_days=3)
    assert wide.rows.set_index("partner_reference_no").loc["DEC-FAR", "category"] == "cut_off"
    with pytest.raises(ValidationError, match="cut_off_days -1"):
        reconcile(PARTNER, OVO, period="2026-11", cut_off_days=-1)


def test_a_period_needs_every_row_dated() -> None:
    undated = pd.concat([PARTNER, pd.DataFrame([row("NO-TIME", "1.00", "")])], ignore_index=True)
    with pytest.raises(ValidationError, match=r"1 row\(s\) without a time .*: row 8 \(NO-TIME"):
        reconcile(undated, OVO, period="2026-11")
    assert reconcile(undated, OVO).size("missing_at_ovo") == 3  # without a period it is just a row


def test_a_period_on_files_and_frames_agree(tmp_path: Path) -> None:
    PARTNER.to_csv(tmp_path / "partner.csv", index=False)
    OVO.to_parquet(tmp_path / "ovo.parquet")
    on_files = reconcile(tmp_path / "partner.csv", tmp_path / "ovo.parquet", period="2026-11")
    on_frames = reconcile(PARTNER, OVO, period="2026-11")
    columns = ["key", "category", "partner_day", "ovo_day", "partner_sen", "ovo_sen"]
    pd.testing.assert_frame_equal(on_files.rows[columns], on_frames.rows[columns])
