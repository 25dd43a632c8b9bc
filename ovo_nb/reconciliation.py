"""Reconciliation: the partner's records against OVO's, every row in exactly one category.

Both sides are brought to one schema (:data:`COLUMNS`): a record is a ``PAYMENT`` keyed by
its partnerReferenceNo (OVO's referenceNo when the partner's is missing) or a ``REFUND`` keyed
by its partnerRefundNo. Money is exact: integer sen inside, ``Decimal`` at the edges, never
float. The business day is the Jakarta calendar day (cut-off 00:00 +07:00).

Categories: ``matched``, ``missing_at_ovo``, ``missing_at_partner``, ``amount_mismatch``,
``status_mismatch``, ``refund_mismatch``, ``duplicate``, and for a :class:`Period` also
``cut_off`` (the same record booked on each side of the period's edge). Every non-matched row
carries a plain-language action. Category totals add up to each side's input totals.

Amounts are read as exports write them (:data:`AMOUNT_FORMATS`: ``15000.00``, ``15,000.00``,
``15.000,00``, with or without ``Rp``), the format given or detected per file; a value that
reads two ways is refused, never guessed. :data:`PRESETS` name the column layouts of OVO's
settlement file and of the partner ledger export.

Loading, validation and matching are one SQL definition (:mod:`ovo_nb._recon_sql`), run by
DuckDB embedded by default (out of core: CSV and Parquet files, globs of monthly files,
pandas DataFrames) or unchanged by Spark (``reconcile(spark.table("ledger"), ...)``). Counts,
totals and days are computed in the engine; only the rows asked for become pandas.
"""

from __future__ import annotations

import calendar
import glob
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._recon_sql import (
    ALL_CATEGORIES,
    AMOUNT_FORMATS,
    CATEGORIES,
    COLUMNS,
    COMMA_KINDS,
    CUT_OFF,
    DOT_KINDS,
    FILE_COLUMN,
    NORMALIZED,
    OUT,
    PROBLEMS,
    VALID_KINDS,
    DuckDBEngine,
    Engine,
    SparkEngine,
    day_sql,
    decoded_sql,
    extras_sql,
    frame_sql,
    fresh_name,
    inert_text,
    kinds_sql,
    kref,
    match_sql,
    normalize_sql,
    presented_sql,
    problems_sql,
    samples_sql,
)
from .errors import ValidationError
from .models import status_name
from .snap import JAKARTA, SETTLEMENT_COLUMNS, TRANSACTION_STATUSES

CATEGORY_TITLES = {"matched": "Matched", "cut_off": "Across the cut-off", "missing_at_ovo": "Missing at OVO",
                   "missing_at_partner": "Missing at partner", "amount_mismatch": "Amount mismatch",
                   "status_mismatch": "Status mismatch", "refund_mismatch": "Refund mismatch", "duplicate": "Duplicate"}
"""Each category as people name it: in reports, charts and finance's page."""
CATEGORY_COLOURS = tuple((CATEGORY_TITLES[name], colour) for name, colour in (
    ("matched", "#4c2a86"), ("cut_off", "#7d6bb0"), ("missing_at_ovo", "#d0473a"), ("missing_at_partner", "#e07b39"),
    ("amount_mismatch", "#c98a00"), ("status_mismatch", "#3a78c2"), ("refund_mismatch", "#2f8f5b"),
    ("duplicate", "#8a8299")))
"""One colour per category, the same in the notebook, the HTML report and finance's page."""

if TYPE_CHECKING:
    from .ledger import PartnerLedger
    from .views import Chart

__all__ = ["ALL_CATEGORIES", "AMOUNT_FORMATS", "CATEGORIES", "CATEGORY_TITLES", "COLUMNS", "CUT_OFF", "NO_PRESET",
           "PRESETS", "SETTLED",
           "DuckDBEngine", "Period", "Preset", "Reconciliation", "SparkEngine", "from_ledger", "from_settlement",
           "ledger_rows", "load_records", "reconcile", "settle_from_settlement"]

_NAMED = {
    "SUCCESS": "SUCCESS", "PAID": "SUCCESS", "REFUNDED": "SUCCESS", "PARTIALLY_REFUNDED": "SUCCESS",
    "PENDING": "PENDING", "INITIATED": "PENDING", "PAYING": "PENDING", "CREATED": "PENDING", "AWAITING_PIN": "PENDING",
    "UNKNOWN": "PENDING", "UNKNOWN_NEEDS_RECONCILIATION": "PENDING", "REQUESTED": "PENDING",
    "FAILED": "FAILED", "CANCELED": "FAILED", "CANCELLED": "FAILED", "EXPIRED": "FAILED", "NOT_FOUND": "FAILED",
    "NOT FOUND": "FAILED",
}
_STATUS = {**_NAMED, **{code: _NAMED[status_name(code)] for code in TRANSACTION_STATUSES}}
"""Every status either side writes (names, or OVO's codes 00-07), folded to SUCCESS, PENDING or FAILED."""

Source = Any
"""A side: a file path or glob (CSV, Parquet, XLSX), a pandas DataFrame (raw or from :func:`load_records`),
a Spark DataFrame, an Ibis table, an Arrow table or a DuckDB relation."""


# --------------------------------------------------------------------------- layouts and periods


@dataclass(frozen=True)
class Preset:
    """How one kind of export names its columns and writes its amounts."""

    name: str
    what: str
    mapping: Mapping[str, str] = field(default_factory=dict)
    """Its column -> the :data:`COLUMNS` field it fills."""
    amount_format: str | None = None
    """One of :data:`AMOUNT_FORMATS`; ``None``: what :func:`reconcile` is told (``auto`` by default)."""


PRESETS = {
    "ovo-settlement": Preset("ovo-settlement", "OVO's settlement file (assumed layout: snap.SETTLEMENT_COLUMNS)",
                             {column: name for column, name, _ in SETTLEMENT_COLUMNS if name and name != column}),
    "ledger": Preset("ledger", "the partner ledger export (ovo-nb ledger export)", {}, "plain"),
}
"""The layouts ovo-nb knows by name; ``mapping`` covers every other."""
NO_PRESET = Preset("none", "the columns as named")
"""No layout: the columns are named as :data:`COLUMNS` names them (``mapping`` may rename some)."""
SETTLED = ("matched", CUT_OFF)
"""The categories nobody needs to act on."""


def _preset(preset: str | Preset | None) -> Preset:
    if preset is None or isinstance(preset, Preset):
        return preset or NO_PRESET
    if preset not in PRESETS:
        raise ValidationError(f"Unknown preset {preset!r}; one of {', '.join(PRESETS)}.")
    return PRESETS[preset]


def _amount_format(name: str) -> str:
    if name not in AMOUNT_FORMATS:
        raise ValidationError(f"Unknown amount format {name!r}; one of " +
                              ", ".join(f"{k} ({v.split(':')[0]})" for k, v in AMOUNT_FORMATS.items()) + ".")
    return name


@dataclass(frozen=True)
class Period:
    """Jakarta calendar days from ``start`` to ``end``, both included: a month, a day or a range."""

    start: date
    end: date

    @classmethod
    def parse(cls, text: str) -> Period:
        """``2026-11`` (a month), ``2026-11-30`` (a day) or ``2026-11-01..2026-11-15``."""
        value = text.strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}", value):
                year, month = map(int, value.split("-"))
                return cls(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                return cls(date.fromisoformat(value), date.fromisoformat(value))
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2}", value):
                first, last = (date.fromisoformat(v) for v in value.split(".."))
                if first <= last:
                    return cls(first, last)
        except ValueError:
            pass
        raise ValidationError(f"period {text!r}: give a month (2026-11), a day (2026-11-30) or a range "
                              "(2026-11-01..2026-11-15), in Jakarta days.")

    def __str__(self) -> str:
        if self.start == self.end:
            return str(self.start)
        last = calendar.monthrange(self.start.year, self.start.month)[1]
        if self.start.day == 1 and self.end == self.start.replace(day=last):
            return f"{self.start:%Y-%m}"
        return f"{self.start}..{self.end}"

    def widened(self, days: int) -> tuple[date, date]:
        """The period and ``days`` either side: where a counterpart across the cut-off is looked for."""
        return self.start - timedelta(days=days), self.end + timedelta(days=days)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


# --------------------------------------------------------------------------- reading and validation


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


@dataclass
class _Side:
    """One side as the engine holds it, and where its rows came from (to name a bad one)."""

    label: str
    name: str
    """A view of the side as the SQL reads it (:func:`decoded_sql` of ``stored``)."""
    raw: str = ""
    stored: str = ""
    summary: list[tuple[Any, ...]] = field(default_factory=list)
    """:func:`kinds_sql`'s rows: (file, kind, problem, record_type, inside the period, rows, sen)."""
    paths: list[str] = field(default_factory=list)
    kind: str = ""
    """``csv``, ``xlsx`` or ``parquet`` for files; empty for a frame or a table."""

    def where(self, rownum: int, file: int, first: Mapping[int, int]) -> str:
        """A row as its reader finds it: a CSV file's line, an XLSX file's row as Excel numbers it, a
        Parquet file's row (from 1), or a frame's index."""
        if not self.paths:
            return f"row {rownum - 1}"
        offset = rownum - first[file]
        name = Path(self.paths[file]).name
        return {"csv": f"{name} line {offset + 2}", "xlsx": f"{name} row {offset + 2}"}.get(
            self.kind, f"{name} row {offset + 1}")


def _raw(engine: Engine, source: Source, side: _Side, mapping: Mapping[str, str], default_type: str) -> str:
    """A view of the source with :data:`COLUMNS` as text and :data:`FILE_COLUMN`."""
    loaded = fresh_name("source")
    if isinstance(source, (str, Path)):
        side.paths, side.kind = _files(source, side.label)
        if side.kind == "xlsx":  # read with openpyxl: DuckDB's Excel reader is an extension fetched from the network
            frames = []
            for i, path in enumerate(side.paths):
                try:
                    frames.append(pd.read_excel(path, dtype=str).assign(**{FILE_COLUMN: i}))
                except Exception as exc:  # a renamed or damaged file: openpyxl raises a dozen kinds
                    raise ValidationError(f"{side.label}: cannot read {path} as XLSX (is it an Excel workbook?): "
                                          f"{(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
            engine.register(loaded, pd.concat(frames, ignore_index=True))
        else:
            try:
                engine.read_files(loaded, side.paths, side.kind)
            except engine.errors as exc:
                raise ValidationError(f"{side.label}: cannot read {', '.join(side.paths)} as {side.kind.upper()}: "
                                      f"{str(exc).splitlines()[0]}") from None
    elif isinstance(source, pd.DataFrame):
        engine.register(loaded, source.reset_index(drop=True))
    elif hasattr(source, "to_pyarrow") and not _is_spark(source):  # an Ibis table: its rows, as Arrow
        engine.register(loaded, source.to_pyarrow())
    else:
        engine.register(loaded, source)
    present = [c for c in engine.columns(loaded) if c != FILE_COLUMN]
    renames = {k: v for k, v in mapping.items() if k in present}
    if "record_type" not in renames.values() and "record_type" not in present and "type" in present:
        renames["type"] = "record_type"
    named = {renames.get(c, c): c for c in present}
    missing = [c for c in ("partner_reference_no", "amount", "status") if c not in named]
    if missing:
        raise ValidationError(f"{side.label}: missing column(s) {', '.join(missing)}; found {', '.join(present)}. "
                              "Pass mapping={'your column': 'partner_reference_no', ...} (or a preset).")
    defaults = {"record_type": default_type, "currency": "IDR"}
    projected = ", ".join(
        f"CAST({engine.dialect.column(named[c])} AS STRING) AS {c}" if c in named else f"'{defaults.get(c, '')}' AS {c}"
        for c in COLUMNS)
    origin = f"{FILE_COLUMN}" if side.paths else f"0 AS {FILE_COLUMN}"
    engine.view(side.raw, f"SELECT {projected}, {origin} FROM {loaded}", shared=side.kind in ("csv", "parquet"))
    return side.raw


def _amount_rule(summary: list[tuple[Any, ...]], amount_format: str) -> tuple[dict[int, tuple[str, ...]],
                                                                              dict[int, str]]:
    """The amount kinds each file's rows may have, and each file's detected family (``dot``,
    ``comma``, ``none`` or ``mixed``) under ``auto``; from a side's summary (:func:`kinds_sql`)."""
    files = sorted({int(row[0]) for row in summary}) or [0]
    if amount_format != "auto":
        return dict.fromkeys(files, VALID_KINDS[amount_format]), {}
    families: dict[int, str] = {}
    for file in files:
        dot, comma = (sum(int(row[5]) for row in summary if int(row[0]) == file and row[1] in kinds)
                      for kinds in (DOT_KINDS, COMMA_KINDS))
        families[file] = ("dot" if dot > comma else "comma" if comma > dot else "mixed" if dot else "none")
    readable = {"dot": ("N", *DOT_KINDS), "comma": ("N", *COMMA_KINDS), "mixed": ("N",), "none": ("N",)}
    return {file: readable[families[file]] for file in files}, families


def _amount_sql(allowed: Mapping[int, tuple[str, ...]]) -> str:
    """SQL over ``file`` and ``kind``: whether a row's amount is readable."""
    rules = {file: f"kind IN ({', '.join(repr(k) for k in kinds)})" for file, kinds in allowed.items()}
    if len(set(rules.values())) <= 1:
        return next(iter(rules.values()))
    return "CASE file " + " ".join(f"WHEN {f} THEN {rule}" for f, rule in rules.items()) + " END"


def _amount_detail(value: str, kind: str, family: str, amount_format: str) -> str:
    """Why an amount was refused, quoting it."""
    if kind in ("D", "G") and amount_format == "auto":
        whole, part = re.split(r"[.,]", value.strip().lstrip("RrPpIiDd. "))[:2]
        return f"{value!r} could be {int(whole + part)} or {f'{whole}.{part}'.rstrip('0').rstrip('.')}"
    if family in ("dot", "comma") and kind not in ("X", "N"):
        return f"{value!r}, unlike this file's other amounts ({'15,000.00' if family == 'dot' else '15.000,00'})"
    if family == "mixed" and kind != "X":
        return f"{value!r} (this file mixes 15,000.00 and 15.000,00)"
    return repr(value)


def _amount_label(amount_format: str) -> str:
    if amount_format == "auto":
        return (PROBLEMS[3] + " or readable two ways (say how amounts are written: plain 15000.00, en 15,000.00 "
                "or id 15.000,00)")
    return f"amount(s) not IDR in the {amount_format} format ({AMOUNT_FORMATS[amount_format]})"


def _check(engine: Engine, side: _Side, amount_format: str, details_sql: str) -> None:
    """Raise a ValidationError naming the first bad rows of each problem, if the side has any."""
    allowed, families = _amount_rule(side.summary, amount_format)
    if all(problem is None and kind in allowed[int(file)] for file, kind, problem, *_ in side.summary):
        return
    amount_ok = _amount_sql(allowed)
    problems = engine.fetch(problems_sql(side.name, amount_ok))
    detailed, stored = fresh_name("detailed"), fresh_name("stored")
    engine.ordered(stored, details_sql)  # the rows again, unfiltered, with their text: this path only
    engine.view(detailed, decoded_sql(stored, details=True))
    first = {int(f): int(r) for f, r in engine.fetch(f"SELECT file, MIN(rownum) AS r FROM {detailed} "
                                                      "GROUP BY file").itertuples(index=False)}
    lines = []
    for code, count in zip(problems["code"].astype(int), problems["n"].astype(int), strict=True):
        sample = engine.fetch(samples_sql(detailed, amount_ok, code))
        rows = []
        for rownum, file, reference, kind, detail in sample.itertuples(index=False):
            quoted = (_amount_detail(str(detail), str(kind), families.get(int(file), ""), amount_format) if code == 3
                      else repr(str(detail)))
            rows.append(f"{side.where(int(rownum), int(file), first)} ({reference}: {quoted})")
        label = _amount_label(amount_format) if code == 3 else PROBLEMS[code]
        lines.append(f"{count} {label}: {', '.join(rows)}")
    engine.drop(detailed)
    engine.drop(stored)
    raise ValidationError(f"{side.label}: " + "; ".join(lines) + ".")


@dataclass
class _Prepared:
    """A side ready to be stored: the SQL that reads it, and what its checks need."""

    side: _Side
    sql: str
    details: str
    amount_format: str


def _prepare(engine: Engine, source: Source, label: str, preset: str | Preset | None,
             mapping: Mapping[str, str] | None, amount_format: str, default_type: str,
             window: tuple[date, date] | None) -> _Prepared:
    """The views a side is read through, and the SQL that normalises it (rows outside ``window`` left out)."""
    chosen = _preset(preset)
    side = _Side(label, fresh_name("side"), fresh_name("raw"), fresh_name("stored"))
    if isinstance(source, pd.DataFrame) and {"key", "sen", "day"} <= set(source.columns):
        engine.register(side.raw, source.reset_index(drop=True))  # from load_records: valid, in input order
        return _Prepared(side, frame_sql(side.raw, engine.dialect, window),
                         frame_sql(side.raw, engine.dialect, window, details=True), "auto")
    raw = _raw(engine, source, side, {**chosen.mapping, **(mapping or {})}, default_type)
    return _Prepared(side, normalize_sql(raw, _STATUS, engine.dialect, window),
                     normalize_sql(raw, _STATUS, engine.dialect, window, details=True),
                     _amount_format(chosen.amount_format or amount_format))


def _store(engine: Engine, prepared: Sequence[_Prepared], period: tuple[date, date] | None = None) -> list[_Side]:
    """The sides stored in input order (at the same time where they are files), summed up (rows in
    ``period`` apart) and checked in turn: a ValidationError naming the first side's bad rows."""
    shared = all(p.side.kind in ("csv", "parquet") for p in prepared)
    errors = engine.ordered_all([(p.side.stored, p.sql) for p in prepared], shared)
    for p, error in zip(prepared, errors, strict=True):
        side = p.side
        if error is not None:
            raise ValidationError(f"{side.label}: cannot read {', '.join(side.paths) or 'the table'}: "
                                  f"{str(error).splitlines()[0]}")
        engine.view(side.name, decoded_sql(side.stored))
        side.summary = engine.rows(kinds_sql(side.name, period))
        _check(engine, side, p.amount_format, p.details)
    return [p.side for p in prepared]


def load_records(source: Source, *, side: str, mapping: Mapping[str, str] | None = None,
                 preset: str | Preset | None = None, amount_format: str = "auto", default_type: str = "PAYMENT",
                 engine: Engine | None = None) -> pd.DataFrame:
    """Read one side (CSV, XLSX or Parquet files, a glob of them, or a DataFrame) into the common schema.

    ``preset`` names a known layout (:data:`PRESETS`); ``mapping`` renames source columns to
    :data:`COLUMNS` names (``{"our_ref": "partner_reference_no"}``), over the preset's.
    ``amount_format`` is one of :data:`AMOUNT_FORMATS` (``auto``: detected per file). Missing
    columns, unreadable or ambiguous amounts, unreadable times, non-IDR currencies and unknown
    statuses are refused with the rows named (file and line for files); duplicate keys are kept
    (their extra rows become ``duplicate``). For data too large for memory, pass the files to
    :func:`reconcile` directly instead.
    """
    engine = _engine_for(source, engine=engine)
    _amount_format(amount_format)
    ready = _store(engine, [_prepare(engine, source, side, preset, mapping, amount_format, default_type, None)])[0]
    frame = engine.fetch(
        f"SELECT rownum, record_type, partner_reference_no, reference_no, partner_refund_no, refund_no, "
        f"'IDR' AS currency, status, sen, COALESCE(CAST(day AS STRING), '') AS day, "
        f"record_type || ':' || {kref()} AS key, partner_reference_no AS payment_key FROM {ready.name} ORDER BY rownum")
    engine.drop(ready.name)
    engine.drop(ready.stored)
    frame["sen"] = frame["sen"].astype("int64")
    frame["rownum"] = frame["rownum"].astype("int64")
    return frame[list(NORMALIZED)].astype({c: "string" for c in NORMALIZED if c not in ("rownum", "sen")})


def ledger_rows(ledger: PartnerLedger, period: Period | None = None) -> pd.DataFrame:
    """The partner's side as the ledger holds it (:data:`COLUMNS`, its own statuses, Jakarta times):
    payments and refunds that are not failed, created on a day of ``period`` when one is given.

    A payment that failed before OVO ever gave it a referenceNo moved no money and exists only at
    the partner, so it is left out rather than reported as missing at OVO; so is a failed refund.
    This is the ``ledger`` preset's layout (``ovo-nb ledger export``).
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
    if period is not None:
        rows = [row for row in rows if datetime.fromisoformat(row["time"]).astimezone(JAKARTA).date() in period]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def from_ledger(ledger: PartnerLedger) -> pd.DataFrame:
    """The partner ledger's payments and successful or open refunds (:func:`ledger_rows`), in the common schema."""
    return load_records(ledger_rows(ledger), side="partner ledger")


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


def from_settlement(source: str | Path | pd.DataFrame, *, amount_format: str = "auto") -> pd.DataFrame:
    """OVO's side from a settlement file in the assumed layout (:data:`ovo_nb.snap.SETTLEMENT_COLUMNS`)."""
    return load_records(source, side="OVO settlement", preset="ovo-settlement", amount_format=amount_format)


# --------------------------------------------------------------------------- the result


@dataclass
class Reconciliation:
    """The outcome, held in the engine: counts, totals and days are computed there; rows on request."""

    engine: Engine = field(repr=False)
    view: str
    table: str = field(repr=False)
    inputs: dict[str, Decimal] = field(repr=False)
    period: Period | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    generated_at: str = field(default_factory=lambda: datetime.now(JAKARTA).isoformat(timespec="seconds"))

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories this reconciliation has: ``cut_off`` only for a period."""
        return ALL_CATEGORIES if self.period else CATEGORIES

    def _code(self, name: str) -> int:
        if name not in self.categories:
            raise ValidationError(f"Unknown category {name!r}; one of {', '.join(self.categories)}.")
        return ALL_CATEGORIES.index(name)

    def _rows(self, where: str = "", limit: int | None = None) -> pd.DataFrame:
        frame = self.engine.fetch(f"SELECT {', '.join(OUT)} FROM {self.view} {where} "
                                  "ORDER BY category_rank, position" + (f" LIMIT {int(limit)}" if limit else ""))
        for column in ("partner_sen", "ovo_sen"):
            frame[column] = frame[column].astype("int64")
        return frame

    @cached_property
    def rows(self) -> pd.DataFrame:
        """Every output row as pandas, grouped by category, input order inside (for small results)."""
        return self._rows()

    def category(self, name: str, limit: int | None = None) -> pd.DataFrame:
        """One category's rows (the first ``limit`` of them), in input order."""
        return self._rows(f"WHERE category_rank = {self._code(name)}", limit)

    @cached_property
    def _grouped(self) -> dict[tuple[str, str], tuple[int, int, int]]:
        """(category, record type) -> rows, partner sen, OVO sen: one pass over the result."""
        return {(ALL_CATEGORIES[int(c)], "REFUND" if refund else "PAYMENT"): (int(n), int(p or 0), int(o or 0))
                for c, refund, n, p, o in self.engine.rows(
                    f"SELECT category, refund, COUNT(*), SUM(partner_sen), SUM(ovo_sen) FROM {self.table} "
                    "GROUP BY category, refund")}

    def size(self, name: str | None = None) -> int:
        """How many rows the result (or one category) has, without fetching them."""
        if name is not None:
            self._code(name)
        return sum(n for (category, _), (n, _, _) in self._grouped.items() if name in (None, category))

    def counts(self) -> pd.Series:
        return pd.Series([self.size(name) for name in self.categories], index=list(self.categories),
                         name="count", dtype="int64").rename_axis("category")

    def totals(self) -> pd.DataFrame:
        """IDR per category and record type, for each side (exact Decimals)."""
        index = pd.MultiIndex.from_product([self.categories, ["PAYMENT", "REFUND"]], names=["category", "record_type"])
        sums = [self._grouped.get(key, (0, 0, 0))[1:] for key in index]
        return pd.DataFrame([(_to_decimal(p), _to_decimal(o)) for p, o in sums], index=index,
                            columns=["partner_idr", "ovo_idr"])

    @property
    def _days(self) -> str:
        """The stored rows with ``day`` as text (no references: quick to group)."""
        bounds = (self.period.start, self.period.end) if self.period else None
        return f"(SELECT COALESCE(CAST({day_sql(bounds)} AS STRING), '') AS day, * FROM {self.table}) d"

    def daily(self) -> pd.DataFrame:
        """IDR per Jakarta day: matched and not matched on each side, and ``open_idr``: each row not
        matched counted once, at the larger of its two amounts (a chart adds no row twice)."""
        summed = self.engine.fetch(
            f"SELECT day, SUM(CASE WHEN category = 0 THEN partner_sen ELSE 0 END) AS partner_matched_idr, "
            f"SUM(CASE WHEN category = 0 THEN 0 ELSE partner_sen END) AS partner_open_idr, "
            f"SUM(CASE WHEN category = 0 THEN ovo_sen ELSE 0 END) AS ovo_matched_idr, "
            f"SUM(CASE WHEN category = 0 THEN 0 ELSE ovo_sen END) AS ovo_open_idr, "
            f"SUM(CASE WHEN category = 0 THEN 0 WHEN partner_sen > ovo_sen THEN partner_sen "
            f"ELSE ovo_sen END) AS open_idr "
            f"FROM {self._days} GROUP BY day ORDER BY day")
        table = summed.set_index("day")
        return table.astype("int64").map(_to_decimal)

    def daily_by_category(self) -> pd.DataFrame:
        """IDR per Jakarta day (rows) and category (columns), each row once at the larger of its two amounts."""
        summed = self.engine.fetch(
            f"SELECT day, category, SUM(CASE WHEN partner_sen > ovo_sen THEN partner_sen ELSE ovo_sen END) AS sen "
            f"FROM {self._days} GROUP BY day, category")
        summed["category"] = [ALL_CATEGORIES[int(c)] for c in summed["category"]]
        table = summed.pivot_table(index="day", columns="category", values="sen", aggfunc="sum", fill_value=0)
        present = [c for c in self.categories if c in table.columns]
        return table[present].astype("int64").map(_to_decimal).rename_axis(index="day", columns=None)

    def chart(self) -> Chart:
        """The daily IDR per category as a bar chart (inline SVG in a notebook or report)."""
        from .views import Chart  # only here: a command-line reconciliation needs no charts

        frame = self.daily_by_category().rename(columns=CATEGORY_TITLES)
        frame.index = [str(day)[5:] for day in frame.index]
        return Chart(frame, title="IDR per day and category (Jakarta days)", colours=CATEGORY_COLOURS)

    def input_totals(self) -> dict[str, Decimal]:
        """IDR per side and record type as read (in the period, for a period); for a period also
        ``..._across_cut_off``: counterparts dated outside it, matched to a row inside."""
        return dict(self.inputs)

    def export(self, name: str, path: str | Path, kind: str = "parquet") -> Path:
        """Write one category's rows (IDR as exact text) straight from the engine to CSV or Parquet."""
        rupiah = {side: self.engine.dialect.whole_division(f"abs({side}_sen)", "100") for side in ("partner", "ovo")}
        idr = {side: (f"CASE WHEN {side}_sen < 0 THEN '-' ELSE '' END || CAST({rupiah[side]} AS STRING) || '.' "
                      f"|| lpad(CAST(abs({side}_sen) % 100 AS STRING), 2, '0')") for side in ("partner", "ovo")}
        columns = [c for c in OUT if c not in ("key", "payment_key", "partner_sen", "ovo_sen")]
        if kind == "csv":  # text from the input files, opened in a spreadsheet: never a formula
            columns = [f"{inert_text(c)} AS {c}" for c in columns]
        sql = (f"SELECT {', '.join(columns)}, {idr['partner']} AS partner_idr, {idr['ovo']} AS ovo_idr, "
               f"partner_sen - ovo_sen AS difference_sen FROM {self.view} "
               f"WHERE category_rank = {self._code(name)} ORDER BY position")
        self.engine.export(sql, str(path), kind)
        return Path(path)

    def for_display(self, name: str | None = None, limit: int | None = None) -> pd.DataFrame:
        """Rows (of one category; its first ``limit``) with IDR amounts as exact Decimals, ready for a table."""
        rows = self.rows if name is None else self.category(name, limit)
        shown = rows.drop(columns=["partner_sen", "ovo_sen"]).copy()
        shown.insert(shown.columns.get_loc("partner_status"), "partner_idr", rows["partner_sen"].map(_to_decimal))
        shown.insert(shown.columns.get_loc("ovo_status"), "ovo_idr", rows["ovo_sen"].map(_to_decimal))
        shown.insert(shown.columns.get_loc("category"), "difference_idr",
                     (rows["partner_sen"] - rows["ovo_sen"]).map(_to_decimal))
        return shown.reset_index(drop=True)

    def category_totals(self) -> pd.DataFrame:
        """The amounts of each category (payments and refunds together), on each side."""
        return self.totals().groupby(level="category", sort=False).sum()

    def open_rows(self) -> int:
        """How many rows need a person: all but the :data:`SETTLED` categories."""
        return int(self.counts().drop(list(SETTLED), errors="ignore").sum())

    def summary(self) -> dict[str, Any]:
        """Everything a machine needs, as JSON-ready values (amounts as exact text)."""
        totals = self.category_totals()
        return {
            "period": str(self.period) if self.period else None,
            "generated_at": self.generated_at,
            "parameters": {k: str(v) for k, v in self.parameters.items()},
            "counts": {name: int(n) for name, n in self.counts().items()},
            "totals": {name: {"partner_idr": f"{row['partner_idr']:.2f}", "ovo_idr": f"{row['ovo_idr']:.2f}"}
                       for name, row in totals.iterrows()},
            "inputs": {name: f"{value:.2f}" for name, value in self.inputs.items()},
        }


def _to_decimal(sen: Any) -> Decimal:
    return (Decimal(int(sen)) / 100).quantize(Decimal("0.01"))


def _inputs(engine: Engine, partner: _Side, ovo: _Side, stored: str, period: Period | None) -> dict[str, Decimal]:
    """Each side's IDR per record type as read (in the period: from its summary), and for a period
    what came from across the cut-off."""
    out: dict[str, Decimal] = {}
    for label, side in (("partner", partner), ("ovo", ovo)):
        for kind in ("PAYMENT", "REFUND"):
            out[f"{label}_{kind.lower()}_idr"] = _to_decimal(sum(int(row[6] or 0) for row in side.summary
                                                                 if row[3] == kind and row[4]))
    if period:
        inside = f"BETWEEN DATE '{period.start}' AND DATE '{period.end}'"
        for label in ("partner", "ovo"):
            summed = dict(engine.rows(
                f"SELECT refund, SUM({label}_sen) AS s FROM {stored} WHERE {label[0]}_rownum IS NOT NULL "
                f"AND NOT ({label}_day {inside}) GROUP BY refund"))
            for kind, refund in (("payment", False), ("refund", True)):
                out[f"{label}_{kind}_idr_across_cut_off"] = _to_decimal(summed.get(refund) or 0)
    return out


def reconcile(partner: Source, ovo: Source, *, engine: Engine | None = None,
              partner_mapping: Mapping[str, str] | None = None, ovo_mapping: Mapping[str, str] | None = None,
              partner_preset: str | Preset | None = None, ovo_preset: str | Preset | None = None,
              amount_format: str = "auto", period: Period | str | None = None, cut_off_days: int = 1,
              **parameters: Any) -> Reconciliation:
    """Match both sides and classify every row once, in the engine (DuckDB unless told otherwise).

    Each side is a file path or glob (CSV, Parquet, XLSX), a pandas DataFrame (raw, or from
    :func:`load_records`), a Spark DataFrame (the reconciliation then runs on its Spark session),
    or a DuckDB relation. Raw sides are validated first, with the bad rows named; ``*_preset``,
    ``*_mapping`` and ``amount_format`` say how they are written (see :func:`load_records`).

    A key that appears more than once on a side does not hide its other discrepancies: its
    first row in input order (the *representative*) is matched and classified like any other,
    and every further row is reported as a ``duplicate`` on its side. So one row of output per
    representative pair, one per extra row, and each input row counted exactly once.

    With a ``period`` (``"2026-11"``, a :class:`Period`), only its Jakarta days are reconciled:
    a row inside whose counterpart is dated up to ``cut_off_days`` outside (a payment at 23:58 on
    the 30th that OVO books on the 1st) is matched across the edge and reported as ``cut_off``
    with both days, never as missing; rows outside the period are otherwise left out.
    """
    engine = _engine_for(partner, ovo, engine=engine)
    chosen = Period.parse(period) if isinstance(period, str) else period
    if cut_off_days < 0:
        raise ValidationError(f"cut_off_days {cut_off_days}: give 0 or more.")
    window = chosen.widened(cut_off_days) if chosen else None
    bounds = (chosen.start, chosen.end) if chosen else None
    _amount_format(amount_format)
    p, o = _store(engine, [
        _prepare(engine, partner, "partner", partner_preset, partner_mapping, amount_format, "PAYMENT", window),
        _prepare(engine, ovo, "OVO", ovo_preset, ovo_mapping, amount_format, "PAYMENT", window)], bounds)
    extras, table, view = fresh_name("extras"), fresh_name("matched"), fresh_name("reconciliation")
    engine.materialize(extras, extras_sql(p.name, o.name))
    engine.materialize(table, match_sql(p.name, o.name, extras, bounds))
    engine.view(view, presented_sql(table, p.name, o.name, bounds))
    inputs = _inputs(engine, p, o, table, chosen)
    engine.drop(extras)
    if chosen:
        parameters = {"period": str(chosen), "cut_off_days": cut_off_days, **parameters}
    return Reconciliation(engine, view, table, inputs, chosen, dict(parameters))
