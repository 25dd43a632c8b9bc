"""Reconciliation: the partner's records against OVO's, every row in exactly one category.

Both sides are brought to one schema (:data:`COLUMNS`): a record is a ``PAYMENT`` keyed by
its partnerReferenceNo (OVO's referenceNo when the partner's is missing) or a ``REFUND`` keyed
by its partnerRefundNo. Money is exact: integer sen inside, ``Decimal`` at the edges, never
float. The business day is the Jakarta calendar day (cut-off 00:00 +07:00).

Categories: ``matched``, ``missing_at_ovo``, ``missing_at_partner``, ``amount_mismatch``,
``status_mismatch``, ``refund_mismatch``, ``duplicate``. Every non-matched row carries a
plain-language action. Category totals add up to each side's input totals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import ValidationError
from .models import status_name
from .snap import JAKARTA, TRANSACTION_STATUSES

if TYPE_CHECKING:
    from .ledger import PartnerLedger

__all__ = ["CATEGORIES", "COLUMNS", "Reconciliation", "from_ledger", "from_settlement", "load_records",
           "reconcile", "settle_from_settlement"]

COLUMNS = ("record_type", "partner_reference_no", "reference_no", "partner_refund_no", "refund_no", "amount",
           "currency", "status", "time")
"""The schema both sides are read into (``amount`` as text like ``"10000.00"`` or a number)."""
CATEGORIES = ("matched", "missing_at_ovo", "missing_at_partner", "amount_mismatch", "status_mismatch",
              "refund_mismatch", "duplicate")

_NAMED = {
    "SUCCESS": "SUCCESS", "PAID": "SUCCESS", "REFUNDED": "SUCCESS", "PARTIALLY_REFUNDED": "SUCCESS",
    "PENDING": "PENDING", "INITIATED": "PENDING", "PAYING": "PENDING", "CREATED": "PENDING", "AWAITING_PIN": "PENDING",
    "UNKNOWN": "PENDING", "UNKNOWN_NEEDS_RECONCILIATION": "PENDING", "REQUESTED": "PENDING",
    "FAILED": "FAILED", "CANCELED": "FAILED", "CANCELLED": "FAILED", "EXPIRED": "FAILED", "NOT_FOUND": "FAILED",
}
_STATUS = {**_NAMED, **{code: _NAMED[status_name(code)] for code in TRANSACTION_STATUSES}}
"""Every status either side writes (names, or OVO's codes 00-07), folded to SUCCESS, PENDING or FAILED."""
_AMOUNT_RE = r"^\d{1,16}(?:\.\d{1,2})?$"


# --------------------------------------------------------------------------- inputs


def _sen(amounts: pd.Series, side: str, keys: pd.Series) -> pd.Series:
    """Exact integer sen from text like ``10000.5`` / ``10000.00``; names the bad rows."""
    if amounts.empty:
        return pd.Series([], dtype="int64", index=amounts.index)
    text = amounts.astype("string").str.strip()  # no separators: "1,500" or "1,5" are ambiguous
    bad = ~text.fillna("").str.match(_AMOUNT_RE)
    if bad.any():
        sample = ", ".join(f"row {i} ({keys.iloc[i]!s}: {amounts.iloc[i]!r})" for i in np.flatnonzero(bad)[:5])
        raise ValidationError(f"{side}: {int(bad.sum())} amount(s) are not IDR with at most two decimals: {sample}.")
    parts = text.str.split(".", n=1, expand=True)
    whole = parts[0].astype("int64")
    cents = parts[1].fillna("0").str.ljust(2, "0").astype("int64") if parts.shape[1] > 1 else 0
    return whole * 100 + cents


def load_records(source: str | Path | pd.DataFrame, *, side: str, mapping: Mapping[str, str] | None = None,
                 default_type: str = "PAYMENT") -> pd.DataFrame:
    """Read one side (CSV, XLSX, Parquet or a DataFrame) into the common schema, validated.

    ``mapping`` renames source columns to :data:`COLUMNS` names (``{"our_ref": "partner_reference_no"}``).
    Missing columns, unreadable amounts or times, non-IDR currencies and unknown statuses are
    refused with the rows named; duplicate keys are kept (they become the ``duplicate`` category).
    """
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise ValidationError(f"{side}: {path} does not exist.")
        reader = {".csv": lambda p: pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig"),
                  ".xlsx": lambda p: pd.read_excel(p, dtype=str), ".parquet": pd.read_parquet}.get(path.suffix.lower())
        if reader is None:
            raise ValidationError(f"{side}: {path.name} is not .csv, .xlsx or .parquet.")
        frame = reader(path)
    frame = frame.rename(columns=dict(mapping or {}))
    if "record_type" not in frame and "type" in frame:
        frame = frame.rename(columns={"type": "record_type"})
    if "record_type" not in frame:
        frame["record_type"] = default_type
    for optional in ("reference_no", "partner_refund_no", "refund_no", "time"):
        if optional not in frame:
            frame[optional] = ""
    if "currency" not in frame:
        frame["currency"] = "IDR"
    missing = [c for c in ("partner_reference_no", "amount", "status") if c not in frame]
    if missing:
        raise ValidationError(f"{side}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame))}. "
                              "Pass mapping={'your column': 'partner_reference_no', ...}.")
    frame = frame[list(COLUMNS)].astype("string").fillna("").reset_index(drop=True)
    frame["record_type"] = frame["record_type"].str.upper()
    wrong_type = ~frame["record_type"].isin(["PAYMENT", "REFUND"])
    if wrong_type.any():
        raise ValidationError(
            f"{side}: record_type must be PAYMENT or REFUND (rows {list(np.flatnonzero(wrong_type)[:5])}).")
    non_idr = frame["currency"].str.upper().ne("IDR") & frame["currency"].ne("")
    if non_idr.any():
        rows = ", ".join(f"row {i}: {frame['currency'].iloc[i]}" for i in np.flatnonzero(non_idr)[:5])
        raise ValidationError(f"{side}: only IDR is reconciled; found {rows}.")
    key = frame["partner_reference_no"].where(frame["record_type"] == "PAYMENT", frame["partner_refund_no"])
    frame["sen"] = _sen(frame["amount"], side, key)
    status = frame["status"].str.upper().str.strip()
    unknown = ~status.isin(list(_STATUS))
    if unknown.any():
        rows = ", ".join(f"row {i}: {frame['status'].iloc[i]!r}" for i in np.flatnonzero(unknown)[:5])
        raise ValidationError(f"{side}: unknown status {rows}; known: {', '.join(sorted(set(_STATUS)))}.")
    frame["status"] = status.map(_STATUS)
    times = pd.to_datetime(frame["time"].replace("", pd.NA), errors="coerce", utc=True, format="ISO8601")
    bad_time = times.isna() & frame["time"].ne("")
    if bad_time.any():
        rows = ", ".join(f"row {i}: {frame['time'].iloc[i]!r}" for i in np.flatnonzero(bad_time)[:5])
        raise ValidationError(f"{side}: unreadable time(s) {rows}; use ISO 8601 like 2026-11-26T13:42:13+07:00.")
    frame["day"] = times.dt.tz_convert("Asia/Jakarta").dt.strftime("%Y-%m-%d").fillna("")
    missing_key = key.eq("") & frame["reference_no"].eq("")
    if missing_key.any():
        raise ValidationError(f"{side}: rows without any reference: {list(np.flatnonzero(missing_key)[:5])}.")
    frame["key"] = frame["record_type"] + ":" + key.where(key.ne(""), "ref:" + frame["reference_no"])
    frame["payment_key"] = frame["partner_reference_no"]
    return frame.drop(columns=["amount", "time"])


def from_ledger(ledger: PartnerLedger) -> pd.DataFrame:
    """The partner ledger's payments and successful or open refunds, in the common schema.

    A payment that failed before OVO ever gave it a referenceNo moved no money and exists
    only at the partner, so it is left out rather than reported as missing at OVO.
    """
    payments = ledger.to_frame("payments")
    payments = payments[~((payments["status"] == "FAILED") & (payments["reference_no"] == ""))]
    refunds = ledger.to_frame("refunds")
    rows = [{"record_type": "PAYMENT", "partner_reference_no": p["partner_reference_no"],
             "reference_no": p["reference_no"], "partner_refund_no": "", "refund_no": "", "amount": p["amount"],
             "currency": "IDR", "status": p["status"], "time": p["created_at"]} for p in payments.to_dict("records")]
    rows += [{"record_type": "REFUND", "partner_reference_no": r["partner_reference_no"], "reference_no": "",
              "partner_refund_no": r["partner_refund_no"], "refund_no": r["refund_no"], "amount": r["amount"],
              "currency": "IDR", "status": r["status"], "time": r["created_at"]}
             for r in refunds.to_dict("records") if r["status"] != "FAILED"]
    return load_records(pd.DataFrame(rows, columns=list(COLUMNS)), side="partner ledger")


def settle_from_settlement(ledger: PartnerLedger, ovo: pd.DataFrame) -> list[str]:
    """Settle the ledger's ``UNKNOWN_NEEDS_RECONCILIATION`` payments from OVO's side (:func:`from_settlement`).

    Such a payment lost its answer after the customer unbound, so no status inquiry can tell;
    OVO's settlement line can. SUCCESS makes it PAID, FAILED makes it FAILED; a payment absent
    from the report or still pending stays as it is. Returns one line per payment looked at.
    """
    payments = ovo[ovo["record_type"].eq("PAYMENT")].drop_duplicates("partner_reference_no")
    by_reference = payments.set_index("partner_reference_no")
    settled = []
    for row in ledger.payments("UNKNOWN_NEEDS_RECONCILIATION"):
        reference = row.partner_reference_no
        if reference not in by_reference.index:
            settled.append(f"{reference}: not in OVO's report; still UNKNOWN_NEEDS_RECONCILIATION")
            continue
        line = by_reference.loc[reference]
        new = {"SUCCESS": "PAID", "FAILED": "FAILED"}.get(str(line["status"]))
        if new is None:
            settled.append(f"{reference}: still pending at OVO")
            continue
        ledger.update_payment(reference, new, reference_no=str(line["reference_no"]),
                              note="settled by OVO's settlement report")
        settled.append(f"{reference}: {new}")
    return settled


def from_settlement(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """OVO's side from the sandbox's ``settlement.csv`` (or a report in the same layout)."""
    return load_records(source, side="OVO settlement", mapping={"type": "record_type"})


# --------------------------------------------------------------------------- matching

_ACTIONS = {
    "missing_at_ovo": "OVO has no record of it: ask status with the partnerReferenceNo; if OVO still has "
                      "nothing, the payment never completed: mark it failed and do not ship.",
    "missing_at_partner": "OVO charged a payment the partner never recorded: find the order by its "
                          "partnerReferenceNo and record it, or refund it.",
    "amount_mismatch": "The amounts differ: OVO's amount is what the customer paid; correct the partner "
                       "record or refund the difference.",
    "status_mismatch": "The statuses differ: ask status and update the partner record.",
    "refund_mismatch": "The refund differs between the two sides.",
    "duplicate": "The same reference appears again on one side: its first row is reconciled above; remove this "
                 "extra entry (or, at OVO, ask why it was recorded twice).",
}


@dataclass
class Reconciliation:
    """The outcome: one row per matched pair or unmatched record, and the totals."""

    rows: pd.DataFrame
    partner_input: pd.DataFrame = field(repr=False)
    ovo_input: pd.DataFrame = field(repr=False)
    parameters: dict[str, Any] = field(default_factory=dict)
    generated_at: str = field(default_factory=lambda: datetime.now(JAKARTA).isoformat(timespec="seconds"))

    def category(self, name: str) -> pd.DataFrame:
        if name not in CATEGORIES:
            raise ValidationError(f"Unknown category {name!r}; one of {', '.join(CATEGORIES)}.")
        return self.rows[self.rows["category"] == name]

    def counts(self) -> pd.Series:
        return self.rows["category"].value_counts().reindex(list(CATEGORIES), fill_value=0)

    def totals(self) -> pd.DataFrame:
        """IDR per category and record type, for each side (exact Decimals)."""
        grouped = self.rows.groupby(["category", "record_type"], observed=True)[["partner_sen", "ovo_sen"]].sum()
        grouped = grouped.reindex(pd.MultiIndex.from_product([CATEGORIES, ["PAYMENT", "REFUND"]],
                                                             names=["category", "record_type"]), fill_value=0)
        out = grouped.apply(lambda column: column.map(_to_decimal))
        out.columns = ["partner_idr", "ovo_idr"]
        return out

    def daily(self) -> pd.DataFrame:
        """IDR per Jakarta day: matched and not matched, on each side."""
        frame = self.rows.assign(matched=self.rows["category"].eq("matched"))
        table = frame.pivot_table(index="day", columns="matched", values=["partner_sen", "ovo_sen"], aggfunc="sum",
                                  fill_value=0)
        table.columns = [f"{'ovo' if side == 'ovo_sen' else 'partner'}_{'matched' if m else 'open'}_idr"
                         for side, m in table.columns]
        return table.map(_to_decimal).sort_index()

    def input_totals(self) -> dict[str, Decimal]:
        return {f"{side}_{kind.lower()}_idr": _to_decimal(int(frame.loc[frame["record_type"] == kind, "sen"].sum()))
                for side, frame in (("partner", self.partner_input), ("ovo", self.ovo_input))
                for kind in ("PAYMENT", "REFUND")}

    def for_display(self, name: str | None = None) -> pd.DataFrame:
        """Rows with IDR amounts as exact Decimals, ready for a table or a report."""
        rows = self.rows if name is None else self.category(name)
        shown = rows.drop(columns=["partner_sen", "ovo_sen"]).copy()
        shown.insert(shown.columns.get_loc("partner_status"), "partner_idr", rows["partner_sen"].map(_to_decimal))
        shown.insert(shown.columns.get_loc("ovo_status"), "ovo_idr", rows["ovo_sen"].map(_to_decimal))
        return shown.reset_index(drop=True)


def _to_decimal(sen: Any) -> Decimal:
    return (Decimal(int(sen)) / 100).quantize(Decimal("0.01"))


def reconcile(partner: pd.DataFrame, ovo: pd.DataFrame, **parameters: Any) -> Reconciliation:
    """Match both sides (from :func:`load_records` and friends) and classify every row once.

    A key that appears more than once on a side does not hide its other discrepancies: its
    first row in input order (the *representative*) is matched and classified like any other,
    and every further row is reported as a ``duplicate`` on its side. So one row of output per
    representative pair, one per extra row, and each input row counted exactly once.
    """
    both = {"partner": partner, "ovo": ovo}
    extra = {side: frame["key"].duplicated(keep="first") for side, frame in both.items()}
    dup_rows = [_side_only(frame[extra[side]], side, "duplicate", _ACTIONS["duplicate"])
                for side, frame in both.items()]
    clean = {side: frame[~extra[side]] for side, frame in both.items()}
    merged = clean["partner"].merge(clean["ovo"], on="key", how="outer", suffixes=("_p", "_o"), indicator=True)
    rows = _classify(merged)
    result = pd.concat([rows, *dup_rows], ignore_index=True)
    result = _refund_checks(result)
    order = result["category"].map({name: i for i, name in enumerate(CATEGORIES)}).to_numpy()
    result = result.iloc[np.argsort(order, kind="stable")]  # grouped by category, input order kept inside
    return Reconciliation(result.reset_index(drop=True), partner, ovo, dict(parameters))


_OUT = ["key", "record_type", "payment_key", "partner_reference_no", "reference_no", "partner_refund_no", "refund_no",
        "day", "partner_sen", "partner_status", "ovo_sen", "ovo_status", "category", "action"]


def _side_only(rows: pd.DataFrame, side: str, category: str, action: str) -> pd.DataFrame:
    out = pd.DataFrame({
        "key": rows["key"], "record_type": rows["record_type"], "payment_key": rows["payment_key"],
        "partner_reference_no": rows["partner_reference_no"], "reference_no": rows["reference_no"],
        "partner_refund_no": rows["partner_refund_no"], "refund_no": rows["refund_no"], "day": rows["day"],
        "partner_sen": rows["sen"] if side == "partner" else 0,
        "partner_status": rows["status"] if side == "partner" else "",
        "ovo_sen": rows["sen"] if side == "ovo" else 0,
        "ovo_status": rows["status"] if side == "ovo" else "",
        "category": category, "action": f"{action} (on the {'partner' if side == 'partner' else 'OVO'} side)",
    })
    return out[_OUT]


def _classify(m: pd.DataFrame) -> pd.DataFrame:
    left, right = m["_merge"].eq("left_only"), m["_merge"].eq("right_only")

    def pick(name: str) -> pd.Series:
        return m[f"{name}_p"].where(~right, m[f"{name}_o"])

    out = pd.DataFrame({
        "key": m["key"], "record_type": pick("record_type"), "payment_key": pick("payment_key"),
        "partner_reference_no": pick("partner_reference_no"),
        "reference_no": m["reference_no_o"].where(~left, m["reference_no_p"]).fillna(""),
        "partner_refund_no": pick("partner_refund_no"), "refund_no": m["refund_no_o"].where(~left, m["refund_no_p"]),
        "day": m["day_p"].where(m["day_p"].fillna("").ne(""), m["day_o"]).fillna(""),
        "partner_sen": m["sen_p"].fillna(0).astype("int64"), "partner_status": m["status_p"].fillna(""),
        "ovo_sen": m["sen_o"].fillna(0).astype("int64"), "ovo_status": m["status_o"].fillna(""),
    })
    refund = out["record_type"].eq("REFUND")
    amount_differs = out["partner_sen"].ne(out["ovo_sen"])
    status_differs = out["partner_status"].ne(out["ovo_status"])
    out["category"] = np.select(
        [refund & (left | right | amount_differs | status_differs), left, right, amount_differs, status_differs],
        ["refund_mismatch", "missing_at_ovo", "missing_at_partner", "amount_mismatch", "status_mismatch"],
        default="matched")
    out["action"] = out["category"].map(_ACTIONS).fillna("")
    partner_pending = out["partner_status"].eq("PENDING")
    success_at_ovo = out["ovo_status"].eq("SUCCESS")
    status_rows = out["category"].eq("status_mismatch")
    out.loc[status_rows & partner_pending & success_at_ovo, "action"] = (
        "Paid at OVO but pending at the partner (a lost answer): mark it paid and fulfil the order.")
    out.loc[status_rows & partner_pending & out["ovo_status"].eq("FAILED"), "action"] = (
        "OVO cancelled or failed it (an abandoned PIN page, an expired payment): mark it failed; do not ship.")
    out.loc[status_rows & out["partner_status"].eq("SUCCESS") & ~success_at_ovo, "action"] = (
        "The partner counts it paid but OVO did not take the money: do not ship; ask status, then contact OVO.")
    missing_ovo = out["category"].eq("missing_at_ovo")
    out.loc[missing_ovo & partner_pending, "action"] = (
        "Started at the partner but unknown to OVO: it never completed; mark it failed after one status inquiry.")
    refund_rows = out["category"].eq("refund_mismatch")
    out.loc[refund_rows & left, "action"] = ("OVO has no such refund: resend it with the same partnerRefundNo "
                                             "(idempotent), or mark it failed.")
    out.loc[refund_rows & right, "action"] = "OVO refunded it but the partner has no record: record the refund."
    out.loc[refund_rows & ~left & ~right, "action"] = "The refund amounts or states differ: check both records."
    return out[_OUT]


def _refund_checks(rows: pd.DataFrame) -> pd.DataFrame:
    """Matched refunds whose payment is over-refunded (on either side) become refund mismatches."""
    refunds = rows["record_type"].eq("REFUND")
    if not refunds.any():
        return rows
    refunded_keys = rows.loc[refunds, "payment_key"].unique()
    payments = rows[rows["record_type"].eq("PAYMENT") & rows["payment_key"].isin(refunded_keys)]
    payments = payments.drop_duplicates("payment_key").set_index("payment_key")
    for side in ("partner", "ovo"):
        refunded = rows[refunds].groupby("payment_key")[f"{side}_sen"].sum()
        paid = payments[f"{side}_sen"].reindex(refunded.index).fillna(0)
        over = set(refunded.index[refunded > paid])
        hit = refunds & rows["payment_key"].isin(over) & rows["category"].eq("matched")
        rows.loc[hit, "category"] = "refund_mismatch"
        rows.loc[hit, "action"] = (f"Refunds exceed the payment on the {side} side: stop refunding and check "
                                   "which refund is wrong.")
    return rows

