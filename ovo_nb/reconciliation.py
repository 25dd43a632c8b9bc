"""Reconciliation: the partner's records against OVO's, every row in exactly one category.

Both sides are brought to one schema (:data:`COLUMNS`): a record is a ``PAYMENT`` keyed by
its partnerReferenceNo (OVO's referenceNo when the partner's is missing) or a ``REFUND`` keyed
by its partnerRefundNo. Money is exact: integer sen inside, ``Decimal`` at the edges, never
float. The business day is the Jakarta calendar day (cut-off 00:00 +07:00).

Categories: ``matched``, ``missing_at_ovo``, ``missing_at_partner``, ``amount_mismatch``,
``status_mismatch``, ``refund_mismatch``, ``duplicate``. Every non-matched row carries a
plain-language action. Category totals add up to each side's input totals.

Loading, validation and matching are one SQL definition (:mod:`ovo_nb._recon_sql`), run by
DuckDB embedded by default (out of core: CSV and Parquet files, globs of monthly files,
pandas DataFrames) or unchanged by Spark (``reconcile(spark.table("ledger"), ...)``). Counts,
totals and days are computed in the engine; only the rows asked for become pandas.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._recon_sql import (
    CATEGORIES,
    COLUMNS,
    NORMALIZED,
    OUT,
    DuckDBEngine,
    Engine,
    SparkEngine,
    fresh_name,
    inert_text,
    match_sql,
    normalize_sql,
    problems_sql,
    sample_sql,
)
from .errors import ValidationError
from .models import status_name
from .snap import JAKARTA, TRANSACTION_STATUSES
from .views import Chart

CATEGORY_COLOURS = (("matched", "#4c2a86"), ("missing_at_ovo", "#d0473a"), ("missing_at_partner", "#e07b39"),
                    ("amount_mismatch", "#c98a00"), ("status_mismatch", "#3a78c2"), ("refund_mismatch", "#2f8f5b"),
                    ("duplicate", "#8a8299"))
"""One colour per category, the same in the notebook and in the HTML report."""

if TYPE_CHECKING:
    from .ledger import PartnerLedger

__all__ = ["CATEGORIES", "COLUMNS", "DuckDBEngine", "Reconciliation", "SparkEngine", "from_ledger",
           "from_settlement", "load_records", "reconcile", "settle_from_settlement"]

_NAMED = {
    "SUCCESS": "SUCCESS", "PAID": "SUCCESS", "REFUNDED": "SUCCESS", "PARTIALLY_REFUNDED": "SUCCESS",
    "PENDING": "PENDING", "INITIATED": "PENDING", "PAYING": "PENDING", "CREATED": "PENDING", "AWAITING_PIN": "PENDING",
    "UNKNOWN": "PENDING", "UNKNOWN_NEEDS_RECONCILIATION": "PENDING", "REQUESTED": "PENDING",
    "FAILED": "FAILED", "CANCELED": "FAILED", "CANCELLED": "FAILED", "EXPIRED": "FAILED", "NOT_FOUND": "FAILED",
}
_STATUS = {**_NAMED, **{code: _NAMED[status_name(code)] for code in TRANSACTION_STATUSES}}
"""Every status either side writes (names, or OVO's codes 00-07), folded to SUCCESS, PENDING or FAILED."""
_DEFAULTS = {"currency": "IDR", "reference_no": "", "partner_refund_no": "", "refund_no": "", "time": ""}

Source = Any
"""A side: a file path or glob (CSV, Parquet, XLSX), a pandas DataFrame (raw or from :func:`load_records`),
a Spark DataFrame, an Ibis table, an Arrow table or a DuckDB relation."""


def _is_spark(source: Any) -> bool:
    return type(source).__module__.startswith("pyspark")


def _engine_for(*sources: Any, engine: Engine | None = None) -> Engine:
    """The engine given, Spark's for Spark DataFrames, else a new DuckDB."""
    if engine is not None:
        return engine
    spark = next((s for s in sources if _is_spark(s)), None)
    if spark is not None:
        return SparkEngine(spark.sparkSession)
    return DuckDBEngine()


def _files(source: str | Path, side: str) -> tuple[list[str], str]:
    text = str(Path(source).expanduser())
    paths = sorted(glob.glob(text)) if any(ch in text for ch in "*?[") else [text]
    if not paths or not all(Path(p).exists() for p in paths):
        raise ValidationError(f"{side}: {text} does not exist" + (" (no file matches)" if paths == [] else "") + ".")
    kinds = {Path(p).suffix.lower() for p in paths}
    if len(kinds) != 1 or not kinds <= {".csv", ".xlsx", ".parquet"}:
        raise ValidationError(f"{side}: {text} is not .csv, .xlsx or .parquet (one kind of file at a time).")
    return paths, kinds.pop().lstrip(".")


def _raw(engine: Engine, source: Source, side: str, mapping: Mapping[str, str] | None, default_type: str) -> str:
    """A view of the source with :data:`COLUMNS` as text and ``rownum`` (input order)."""
    loaded = fresh_name("source")
    if isinstance(source, (str, Path)):
        paths, kind = _files(source, side)
        if kind == "xlsx":  # read with openpyxl: DuckDB's Excel reader is an extension fetched from the network
            engine.register(loaded, pd.concat([pd.read_excel(p, dtype=str) for p in paths], ignore_index=True))
        else:
            engine.read_files(loaded, paths, kind)
    elif isinstance(source, pd.DataFrame):
        engine.register(loaded, source.reset_index(drop=True))
    elif hasattr(source, "to_pyarrow") and not _is_spark(source):  # an Ibis table: its rows, as Arrow
        engine.register(loaded, source.to_pyarrow())
    else:
        engine.register(loaded, source)
    present = engine.columns(loaded)
    renames = dict(mapping or {})
    if "record_type" not in renames.values() and "record_type" not in present and "type" in present:
        renames["type"] = "record_type"
    named = {renames.get(c, c): c for c in present}
    missing = [c for c in ("partner_reference_no", "amount", "status") if c not in named]
    if missing:
        raise ValidationError(f"{side}: missing column(s) {', '.join(missing)}; found {', '.join(present)}. "
                              "Pass mapping={'your column': 'partner_reference_no', ...}.")
    defaults = {**_DEFAULTS, "record_type": default_type}
    projected = ", ".join(
        f"CAST({engine.dialect.column(named[c])} AS STRING) AS {c}" if c in named else f"'{defaults[c]}' AS {c}"
        for c in COLUMNS)
    raw = fresh_name("raw")
    engine.view(raw, f"SELECT {projected}, {engine.dialect.input_order()} AS rownum FROM {loaded}")
    return raw


def _validated(engine: Engine, source: Source, side: str, mapping: Mapping[str, str] | None,
               default_type: str) -> str:
    """The name of the validated side; a ValidationError naming the bad rows when any is invalid."""
    if isinstance(source, pd.DataFrame) and {"key", "sen", "day"} <= set(source.columns):
        ready = fresh_name("validated")  # already from load_records: its order is the input order
        frame = source.reset_index(drop=True).assign(rownum=range(1, len(source) + 1))
        engine.register(ready, frame[list(NORMALIZED)])
        return ready
    normalized = fresh_name("normalized")
    raw = _raw(engine, source, side, mapping, default_type)
    engine.materialize(normalized, normalize_sql(raw, _STATUS, engine.dialect))
    problems = engine.fetch(problems_sql(normalized))
    if not problems.empty:
        lines = []
        for problem, count in zip(problems["problem"], problems["n"], strict=True):
            sample = engine.fetch(sample_sql(normalized, str(problem)))
            rows = ", ".join(f"row {int(r) - 1} ({ref}: {detail!r})" for r, ref, detail in
                             zip(sample["rownum"], sample["reference"], sample["detail"], strict=True))
            lines.append(f"{int(count)} {problem}: {rows}")
        raise ValidationError(f"{side}: " + "; ".join(lines) + ".")
    ready = fresh_name("validated")
    engine.view(ready, f"SELECT {', '.join(NORMALIZED)} FROM {normalized}")
    return ready


def load_records(source: Source, *, side: str, mapping: Mapping[str, str] | None = None,
                 default_type: str = "PAYMENT", engine: Engine | None = None) -> pd.DataFrame:
    """Read one side (CSV, XLSX or Parquet files, a glob of them, or a DataFrame) into the common schema.

    ``mapping`` renames source columns to :data:`COLUMNS` names (``{"our_ref": "partner_reference_no"}``).
    Missing columns, unreadable amounts or times, non-IDR currencies and unknown statuses are
    refused with the rows named; duplicate keys are kept (their extra rows become ``duplicate``).
    For data too large for memory, pass the files to :func:`reconcile` directly instead.
    """
    engine = _engine_for(source, engine=engine)
    ready = _validated(engine, source, side, mapping, default_type)
    frame = engine.fetch(f"SELECT * FROM {ready} ORDER BY rownum")
    frame["sen"] = frame["sen"].astype("int64")
    return frame.astype({c: "string" for c in NORMALIZED if c not in ("rownum", "sen")})


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


@dataclass
class Reconciliation:
    """The outcome, held in the engine: counts, totals and days are computed there; rows on request."""

    engine: Engine = field(repr=False)
    view: str
    partner_view: str = field(repr=False)
    ovo_view: str = field(repr=False)
    parameters: dict[str, Any] = field(default_factory=dict)
    generated_at: str = field(default_factory=lambda: datetime.now(JAKARTA).isoformat(timespec="seconds"))

    def _rows(self, where: str = "") -> pd.DataFrame:
        frame = self.engine.fetch(f"SELECT {', '.join(OUT)} FROM {self.view} {where} "
                                  "ORDER BY category_rank, position")
        for column in ("partner_sen", "ovo_sen"):
            frame[column] = frame[column].astype("int64")
        return frame

    @cached_property
    def rows(self) -> pd.DataFrame:
        """Every output row as pandas, grouped by category, input order inside (for small results)."""
        return self._rows()

    def category(self, name: str) -> pd.DataFrame:
        if name not in CATEGORIES:
            raise ValidationError(f"Unknown category {name!r}; one of {', '.join(CATEGORIES)}.")
        return self._rows(f"WHERE category = '{name}'")

    def size(self, name: str | None = None) -> int:
        """How many rows the result (or one category) has, without fetching them."""
        where = f"WHERE category = '{name}'" if name else ""
        return int(self.engine.scalar(f"SELECT COUNT(*) FROM {self.view} {where}"))

    def counts(self) -> pd.Series:
        counted = self.engine.fetch(f"SELECT category, COUNT(*) AS n FROM {self.view} GROUP BY category")
        series = pd.Series(counted["n"].astype("int64").to_numpy(), index=counted["category"].astype(str),
                           name="count")
        return series.reindex(list(CATEGORIES), fill_value=0).rename_axis("category")

    def totals(self) -> pd.DataFrame:
        """IDR per category and record type, for each side (exact Decimals)."""
        summed = self.engine.fetch(f"SELECT category, record_type, SUM(partner_sen) AS p, SUM(ovo_sen) AS o "
                                   f"FROM {self.view} GROUP BY category, record_type")
        grouped = summed.set_index(["category", "record_type"])[["p", "o"]].astype("int64")
        grouped = grouped.reindex(pd.MultiIndex.from_product([CATEGORIES, ["PAYMENT", "REFUND"]],
                                                             names=["category", "record_type"]), fill_value=0)
        out = grouped.apply(lambda column: column.map(_to_decimal))
        out.columns = ["partner_idr", "ovo_idr"]
        return out

    def daily(self) -> pd.DataFrame:
        """IDR per Jakarta day: matched and not matched on each side, and ``open_idr``: each row not
        matched counted once, at the larger of its two amounts (a chart adds no row twice)."""
        summed = self.engine.fetch(
            f"SELECT day, SUM(CASE WHEN category = 'matched' THEN partner_sen ELSE 0 END) AS partner_matched_idr, "
            f"SUM(CASE WHEN category = 'matched' THEN 0 ELSE partner_sen END) AS partner_open_idr, "
            f"SUM(CASE WHEN category = 'matched' THEN ovo_sen ELSE 0 END) AS ovo_matched_idr, "
            f"SUM(CASE WHEN category = 'matched' THEN 0 ELSE ovo_sen END) AS ovo_open_idr, "
            f"SUM(CASE WHEN category = 'matched' THEN 0 WHEN partner_sen > ovo_sen THEN partner_sen "
            f"ELSE ovo_sen END) AS open_idr "
            f"FROM {self.view} GROUP BY day ORDER BY day")
        table = summed.set_index("day")
        return table.astype("int64").map(_to_decimal)

    def daily_by_category(self) -> pd.DataFrame:
        """IDR per Jakarta day (rows) and category (columns), each row once at the larger of its two amounts."""
        summed = self.engine.fetch(
            f"SELECT day, category, SUM(CASE WHEN partner_sen > ovo_sen THEN partner_sen ELSE ovo_sen END) AS sen "
            f"FROM {self.view} GROUP BY day, category")
        table = summed.pivot_table(index="day", columns="category", values="sen", aggfunc="sum", fill_value=0)
        present = [c for c in CATEGORIES if c in table.columns]
        return table[present].astype("int64").map(_to_decimal).rename_axis(index="day", columns=None)

    def chart(self) -> Chart:
        """The daily IDR per category as a bar chart (inline SVG in a notebook or report)."""
        frame = self.daily_by_category()
        frame.index = [str(day)[5:] for day in frame.index]
        return Chart(frame, title="IDR per day and category (Jakarta days)", colours=CATEGORY_COLOURS)

    def input_totals(self) -> dict[str, Decimal]:
        out = {}
        for side, view in (("partner", self.partner_view), ("ovo", self.ovo_view)):
            for kind in ("PAYMENT", "REFUND"):
                total = self.engine.scalar(f"SELECT COALESCE(SUM(sen), 0) FROM {view} WHERE record_type = '{kind}'")
                out[f"{side}_{kind.lower()}_idr"] = _to_decimal(int(total))
        return out

    def export(self, name: str, path: str | Path, kind: str = "parquet") -> Path:
        """Write one category's rows (IDR as exact text) straight from the engine to CSV or Parquet."""
        rupiah = {side: self.engine.dialect.whole_division(f"abs({side}_sen)", "100") for side in ("partner", "ovo")}
        idr = {side: (f"CASE WHEN {side}_sen < 0 THEN '-' ELSE '' END || CAST({rupiah[side]} AS STRING) || '.' "
                      f"|| lpad(CAST(abs({side}_sen) % 100 AS STRING), 2, '0')") for side in ("partner", "ovo")}
        columns = [c for c in OUT if c not in ("key", "payment_key", "partner_sen", "ovo_sen")]
        if kind == "csv":  # text from the input files, opened in a spreadsheet: never a formula
            columns = [f"{inert_text(c)} AS {c}" for c in columns]
        sql = (f"SELECT {', '.join(columns)}, {idr['partner']} AS partner_idr, {idr['ovo']} AS ovo_idr, "
               f"partner_sen - ovo_sen AS difference_sen FROM {self.view} WHERE category = '{name}' "
               "ORDER BY position")
        self.engine.export(sql, str(path), kind)
        return Path(path)

    def for_display(self, name: str | None = None) -> pd.DataFrame:
        """Rows with IDR amounts as exact Decimals, ready for a table or a report."""
        rows = self.rows if name is None else self.category(name)
        shown = rows.drop(columns=["partner_sen", "ovo_sen"]).copy()
        shown.insert(shown.columns.get_loc("partner_status"), "partner_idr", rows["partner_sen"].map(_to_decimal))
        shown.insert(shown.columns.get_loc("ovo_status"), "ovo_idr", rows["ovo_sen"].map(_to_decimal))
        shown.insert(shown.columns.get_loc("category"), "difference_idr",
                     (rows["partner_sen"] - rows["ovo_sen"]).map(_to_decimal))
        return shown.reset_index(drop=True)


def _to_decimal(sen: Any) -> Decimal:
    return (Decimal(int(sen)) / 100).quantize(Decimal("0.01"))


def reconcile(partner: Source, ovo: Source, *, engine: Engine | None = None,
              partner_mapping: Mapping[str, str] | None = None, ovo_mapping: Mapping[str, str] | None = None,
              **parameters: Any) -> Reconciliation:
    """Match both sides and classify every row once, in the engine (DuckDB unless told otherwise).

    Each side is a file path or glob (CSV, Parquet, XLSX), a pandas DataFrame (raw, or from
    :func:`load_records`), a Spark DataFrame (the reconciliation then runs on its Spark session),
    or a DuckDB relation. Raw sides are validated first, with the bad rows named.

    A key that appears more than once on a side does not hide its other discrepancies: its
    first row in input order (the *representative*) is matched and classified like any other,
    and every further row is reported as a ``duplicate`` on its side. So one row of output per
    representative pair, one per extra row, and each input row counted exactly once.
    """
    engine = _engine_for(partner, ovo, engine=engine)
    partner_view = _validated(engine, partner, "partner", partner_mapping, "PAYMENT")
    ovo_view = _validated(engine, ovo, "OVO", ovo_mapping, "PAYMENT")
    view = fresh_name("reconciliation")
    engine.materialize(view, match_sql(partner_view, ovo_view))  # matched once; counts and totals read it
    return Reconciliation(engine, view, partner_view, ovo_view, dict(parameters))
