"""Reconciliation as relational operations: one SQL definition, run by DuckDB or by Spark.

Reading, validation and matching are SQL over two input relations; the few spots where the
two dialects differ (parsing a timestamp, a regular expression, a hash, a row's input order)
are the methods of :class:`Dialect`. :mod:`ovo_nb.reconciliation` drives it through an
:class:`Engine`: DuckDB embedded (default; out-of-core, reads CSV and Parquet globs itself) or
a Spark session (the same SQL, via temporary views), with only the rows asked for brought back
as pandas.

The plan, chosen for speed on two cores (``bench/reconcile.py``): each side is read and
normalised once into a compact stored table in input order (the engine's parallel scan, no
window function; both sides at the same time when they are files; record type, status and
amount kind as one byte each), summed up and validated by one aggregate over it, and matched by
one full outer join. Duplicated keys are found by grouping 64-bit hashes first, so the exact
(string) grouping runs on the few candidate rows only; refund totals are summed over refund rows
only. The stored result holds numbers and row numbers: references, labels, keys and actions are
computed when rows are read.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from ._escape import CSV_TRIGGERS, PLAIN_NUMBER

COLUMNS = ("record_type", "partner_reference_no", "reference_no", "partner_refund_no", "refund_no", "amount",
           "currency", "status", "time")
"""The schema both sides are read into (``amount`` as text like ``"10000.00"``)."""
NORMALIZED = ("rownum", "record_type", "partner_reference_no", "reference_no", "partner_refund_no", "refund_no",
              "currency", "status", "sen", "day", "key", "payment_key")
"""A validated side as :func:`ovo_nb.reconciliation.load_records` returns it: folded status, integer
``sen``, Jakarta ``day``, the matching ``key``."""
FILE_COLUMN = "ovo_nb_file"
"""The raw relation's column saying which input file (0, 1, ...) a row came from."""
CATEGORIES = ("matched", "missing_at_ovo", "missing_at_partner", "amount_mismatch", "status_mismatch",
              "refund_mismatch", "duplicate")
"""The categories of every reconciliation."""
CUT_OFF = "cut_off"
"""A period's extra category: the same record on both sides, booked on either side of the period's edge."""
ALL_CATEGORIES = (CATEGORIES[0], CUT_OFF, *CATEGORIES[1:])
"""Every category in report order; a stored row's category is its index here."""
OUT = ("key", "record_type", "payment_key", "partner_reference_no", "reference_no", "partner_refund_no", "refund_no",
       "day", "partner_day", "ovo_day", "partner_sen", "partner_status", "ovo_sen", "ovo_status", "category", "action")

ACTIONS = {
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
    "paid_not_recorded": "Paid at OVO but pending at the partner (a lost answer): mark it paid and fulfil the order.",
    "failed_at_ovo": "OVO cancelled or failed it (an abandoned PIN page, an expired payment): mark it failed; do "
                     "not ship.",
    "not_taken": "The partner counts it paid but OVO did not take the money: do not ship; ask status, then contact "
                 "OVO.",
    "never_completed": "Started at the partner but unknown to OVO: it never completed; mark it failed after one "
                       "status inquiry.",
    "failed_not_recorded": "OVO has only a failed attempt the partner never recorded: no money moved; check that "
                           "no order waits on it.",
    "refund_not_at_ovo": "OVO has no such refund: resend it with the same partnerRefundNo (idempotent), or mark it "
                         "failed.",
    "refund_not_recorded": "OVO refunded it but the partner has no record: record the refund.",
    "refund_differs": "The refund amounts or states differ: check both records.",
    "over_refunded": "Refunds exceed the payment on the {side} side: stop refunding and check which refund is wrong.",
    "cut_off": "The same record on both sides, booked on each side of the period's edge (partner {partner_day}, "
               "OVO {ovo_day}): nothing to correct; it explains a difference between the two sides' period totals.",
}

# ----------------------------------------------------------------------------- amounts

AMOUNT_FORMATS = {
    "auto": "detected per file from its unambiguous amounts; a value that reads two ways (15.000) is refused",
    "plain": "15000.00: digits, an optional point and at most two decimals",
    "en": "15,000.00: commas between thousands, a decimal point",
    "id": "15.000,00: points between thousands, a decimal comma (Indonesian)",
}
"""How amounts may be written (each also with an ``Rp`` or ``IDR`` prefix), and ``auto``."""
AMOUNT_KINDS = (
    ("N", "[0-9]{1,16}"),                              # 15000
    ("P", "[0-9]{1,16}[.][0-9]{1,2}"),                 # 15000.00
    ("D", "[0-9]{1,3}[.][0-9]{3}"),                    # 15.000: 15 or 15000?
    ("G", "[0-9]{1,3},[0-9]{3}"),                      # 15,000: 15000 or 15?
    ("E", "[0-9]{1,3}(,[0-9]{3})+([.][0-9]{1,2})?"),   # 15,000.00, 1,500,000
    ("C", "[0-9]{1,16},[0-9]{1,2}"),                   # 15000,00
    ("I", "[0-9]{1,3}([.][0-9]{3})+(,[0-9]{1,2})?"),   # 15.000,00, 1.500.000
)
"""How one amount is written, tried in this order; ``X`` when none fits. Patterns avoid backslashes,
which Spark SQL string literals would swallow."""
KIND_LETTERS = "".join(kind for kind, _ in AMOUNT_KINDS) + "X"
"""A stored amount kind is its position here (one byte a row, not a string)."""
STATUSES = ("SUCCESS", "PENDING", "FAILED")
"""Every status folds to one of these; a stored status is its position here."""
DOT_KINDS, COMMA_KINDS = ("P", "E"), ("C", "I")
"""Kinds only a decimal point (``en``, ``plain``) or only a decimal comma (``id``) can read."""
VALID_KINDS = {"plain": ("N", "P"), "en": ("N", "P", "E", "G"), "id": ("N", "C", "I", "D")}
"""The kinds each explicit format reads; ``auto`` reads ``N`` and the kinds of the file's own format."""

# ----------------------------------------------------------------------------- validation

PROBLEMS = {
    1: "record_type(s) not PAYMENT or REFUND",
    2: "currency(ies) not IDR (only IDR is reconciled)",
    3: "amount(s) not IDR with at most two decimals",
    4: "unknown status(es)",
    5: "unreadable time(s) (use ISO 8601 like 2026-11-26T13:42:13+07:00)",
    6: "row(s) without any reference",
    7: "row(s) without a time (a period needs every row's Jakarta day)",
}
"""Each validation problem by its code, in the order a row is checked (the first one found is reported)."""


def _q(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def inert_text(expr: str) -> str:
    """``expr`` made inert for a spreadsheet in the engine, as :func:`ovo_nb._escape.inert_text` does in Python:
    text starting like a formula gets a leading ``'``, a plain number stays as it is."""
    starts = ", ".join(f"chr({ord(c)})" for c in CSV_TRIGGERS)
    number = _q(f"^{PLAIN_NUMBER}$")
    return (f"CASE WHEN substr({expr}, 1, 1) IN ({starts}) AND regexp_extract({expr}, {number}, 0) <> {expr} "
            f"THEN concat({_q(chr(39))}, {expr}) ELSE {expr} END")


class Dialect:
    """What DuckDB and Spark SQL spell differently; everything else is shared SQL."""

    name = "duckdb"

    def day(self, text: str) -> str:
        """The Jakarta calendar day (cut-off 00:00 +07:00) of ISO 8601 text, as a DATE; NULL when unreadable.

        Text without an offset is Jakarta time (the session's time zone); Jakarta is UTC+7 all year,
        so the day is counted from the epoch (twice as fast as a calendar conversion)."""
        micros = f"epoch_us(TRY_CAST({text} AS TIMESTAMPTZ)) + 25200000000"
        return f"DATE '1970-01-01' + CAST(floor(({micros}) / 86400000000) AS INTEGER)"

    def matches(self, text: str, pattern: str) -> str:
        """Whether the whole of ``text`` matches ``pattern``."""
        return f"regexp_full_match({text}, {_q(pattern)})"

    def hash(self, *columns: str) -> str:
        """A 64-bit hash of the columns (equal values, equal hashes)."""
        return f"hash({', '.join(columns)})"

    def column(self, name: str) -> str:
        """A source column, quoted (its name may have spaces or capitals)."""
        return '"' + name.replace('"', '""') + '"'

    def whole_division(self, numerator: str, denominator: str) -> str:
        """Integer division, exact for any BIGINT."""
        return f"({numerator} // {denominator})"


class SparkDialect(Dialect):
    name = "spark"

    def day(self, text: str) -> str:
        return f"to_date(from_utc_timestamp(try_to_timestamp({text}), 'Asia/Jakarta'))"

    def matches(self, text: str, pattern: str) -> str:
        return f"({text} RLIKE {_q('^(' + pattern + ')$')})"

    def hash(self, *columns: str) -> str:
        return f"xxhash64({', '.join(columns)})"

    def column(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def whole_division(self, numerator: str, denominator: str) -> str:
        return f"({numerator} div {denominator})"


# ----------------------------------------------------------------------------- reading and validation


def kref(alias: str = "") -> str:
    """The side-local part of the matching key: the own reference (partnerReferenceNo for a
    payment, partnerRefundNo for a refund), else ``ref:`` and OVO's referenceNo."""
    a = f"{alias}." if alias else ""
    return (f"CASE WHEN {a}record_type = 'PAYMENT' AND {a}partner_reference_no <> '' THEN {a}partner_reference_no "
            f"WHEN {a}record_type <> 'PAYMENT' AND {a}partner_refund_no <> '' THEN {a}partner_refund_no "
            f"ELSE 'ref:' || {a}reference_no END")


def _amount_text(raw: str) -> str:
    """The amount without blanks and without an ``Rp``, ``Rp.`` or ``IDR`` prefix."""
    text = f"TRIM(COALESCE({raw}, ''))"
    return (f"TRIM(CASE WHEN UPPER(LEFT({text}, 3)) IN ('IDR', 'RP.') THEN SUBSTRING({text}, 4) "
            f"WHEN UPPER(LEFT({text}, 2)) = 'RP' THEN SUBSTRING({text}, 3) ELSE {text} END)")


def _kind(amount: str, dialect: Dialect) -> str:
    whens = " ".join(f"WHEN {dialect.matches(amount, pattern)} THEN '{kind}'" for kind, pattern in AMOUNT_KINDS)
    return f"CASE {whens} ELSE 'X' END"


def _sen(amount: str, kind: str) -> str:
    """Integer sen for any kind but ``X``: a point family reading drops commas, a comma family
    reading drops points and turns the comma into the decimal mark; ``D``/``G`` read as thousands.
    NULL when the number is too large."""
    dot = f"TRY_CAST(replace({amount}, ',', '') AS DECIMAL(18, 2))"
    comma = f"TRY_CAST(replace(replace({amount}, '.', ''), ',', '.') AS DECIMAL(18, 2))"
    return (f"CAST(CASE WHEN {kind} IN ('N', 'P', 'E', 'G') THEN {dot} WHEN {kind} IN ('C', 'I', 'D') THEN {comma} "
            "END * 100 AS BIGINT)")


def normalize_sql(raw: str, status_fold: Mapping[str, str], dialect: Dialect,
                  window: tuple[date, date] | None = None, details: bool = False) -> str:
    """A side from a raw relation with :data:`COLUMNS` (all text) and :data:`FILE_COLUMN`.

    Rows keep their input order. ``problem`` holds the code (:data:`PROBLEMS`) of every check
    but the amount's, which depends on the file's format and is decided afterwards from
    ``kind``. With a ``window`` (first and last Jakarta day), rows dated outside it are left out.
    ``details`` keeps every row, adds the raw text a message about a bad row quotes and
    ``in_window`` (for that path only).

    Values already clean (``PAYMENT``, ``SUCCESS``, ``IDR``, ``15000.00``) take a short path; only
    the others are trimmed, upper-cased, stripped of ``Rp`` and matched against every amount kind.
    The record type, status and amount kind are stored as one byte each; :func:`decoded_sql`
    reads them back as text.
    """
    fold = " ".join(f"WHEN {_q(k)} THEN {STATUSES.index(v)}" for k, v in status_fold.items())
    plain = "[0-9]{1,16}([.][0-9]{1,2})?"
    inside = f"day BETWEEN DATE '{window[0]}' AND DATE '{window[1]}'" if window else ""
    extra = (f", raw_record_type, raw_currency, raw_amount, raw_status, raw_time, "
             f"{f'(day IS NULL OR {inside})' if window else 'TRUE'} AS in_window") if details else ""
    where = f" WHERE day IS NULL OR {inside}" if window and not details else ""
    return f"""
WITH r AS (
  SELECT {FILE_COLUMN} AS file, record_type AS raw_record_type, partner_reference_no AS raw_partner_reference_no,
         reference_no AS raw_reference_no, partner_refund_no AS raw_partner_refund_no, refund_no AS raw_refund_no,
         amount AS raw_amount, currency AS raw_currency, status AS raw_status, time AS raw_time
  FROM {raw}
), t AS (
  SELECT *,
         CASE WHEN raw_record_type IN ('PAYMENT', 'REFUND') THEN raw_record_type
              ELSE UPPER(TRIM(COALESCE(raw_record_type, ''))) END AS record_type,
         COALESCE(raw_partner_reference_no, '') AS partner_reference_no,
         COALESCE(raw_reference_no, '') AS reference_no,
         COALESCE(raw_partner_refund_no, '') AS partner_refund_no,
         COALESCE(raw_refund_no, '') AS refund_no,
         CASE WHEN raw_currency IN ('IDR', '') THEN raw_currency ELSE UPPER(TRIM(COALESCE(raw_currency, ''))) END
           AS currency,
         COALESCE(CASE raw_status {fold} END,
                  CASE replace(UPPER(TRIM(COALESCE(raw_status, ''))), ' ', '_') {fold} END) AS status,
         COALESCE(raw_time, '') AS time,
         COALESCE({dialect.matches('raw_amount', plain)}, FALSE) AS plain
  FROM r
), a AS (
  SELECT *, CASE WHEN plain THEN raw_amount ELSE {_amount_text('raw_amount')} END AS amount,
         {dialect.day("NULLIF(time, '')")} AS day
  FROM t
), k AS (
  SELECT *, CASE WHEN plain THEN CASE WHEN instr(amount, '.') > 0 THEN 'P' ELSE 'N' END
                 ELSE {_kind('amount', dialect)} END AS kind0
  FROM a
), m AS (
  SELECT *, CASE WHEN plain THEN CAST(TRY_CAST(amount AS DECIMAL(18, 2)) * 100 AS BIGINT)
                 ELSE {_sen('amount', 'kind0')} END AS sen
  FROM k
)
SELECT file, record_type = 'REFUND' AS refund, partner_reference_no, reference_no, partner_refund_no, refund_no,
       CAST(status AS TINYINT) AS status, sen,
       CAST(CASE WHEN sen IS NULL THEN {len(KIND_LETTERS) - 1} ELSE instr({_q(KIND_LETTERS)}, kind0) - 1 END AS TINYINT)
         AS kind, day, {dialect.hash('record_type', kref())} AS h,
       CAST(CASE
         WHEN record_type NOT IN ('PAYMENT', 'REFUND') THEN 1
         WHEN currency NOT IN ('IDR', '') THEN 2
         WHEN status IS NULL THEN 4
         WHEN time <> '' AND day IS NULL THEN 5
         WHEN reference_no = '' AND (CASE WHEN record_type = 'PAYMENT' THEN partner_reference_no
                                          ELSE partner_refund_no END) = '' THEN 6
         {"WHEN day IS NULL THEN 7" if window else ""}
       END AS TINYINT) AS problem{extra}
FROM m{where}"""


def frame_sql(frame: str, dialect: Dialect, window: tuple[date, date] | None = None, details: bool = False) -> str:
    """A side from a frame :func:`ovo_nb.reconciliation.load_records` made (already valid), in its order;
    ``window`` and ``details`` as for :func:`normalize_sql`."""
    inside = f"day IS NULL OR day BETWEEN DATE '{window[0]}' AND DATE '{window[1]}'" if window else "TRUE"
    blanks = ", ".join(f"CAST(NULL AS STRING) AS raw_{c}"
                       for c in ("record_type", "currency", "amount", "status", "time"))
    selected = f"*, {blanks}, ({inside}) AS in_window" if details else "*"
    return f"""
SELECT {selected} FROM (
  SELECT 0 AS file, record_type = 'REFUND' AS refund, partner_reference_no, reference_no, partner_refund_no,
         refund_no, CAST(CASE status {" ".join(f"WHEN {_q(v)} THEN {i}" for i, v in enumerate(STATUSES))} END
         AS TINYINT) AS status, CAST(sen AS BIGINT) AS sen, CAST(0 AS TINYINT) AS kind,
         TRY_CAST(NULLIF(day, '') AS DATE) AS day, {dialect.hash('record_type', kref())} AS h,
         CAST({"CASE WHEN day = '' THEN 7 END" if window else 'NULL'} AS TINYINT) AS problem
  FROM {frame}
) f{f" WHERE {inside}" if window and not details else ""}"""


def decoded_sql(stored: str, details: bool = False) -> str:
    """A stored side as the SQL below reads it: the record type, status and amount kind as text."""
    statuses = " ".join(f"WHEN {i} THEN {_q(v)}" for i, v in enumerate(STATUSES))
    extra = (", raw_record_type, raw_currency, raw_amount, raw_status, raw_time, in_window" if details else "")
    return (f"SELECT rownum, file, CASE WHEN refund THEN 'REFUND' ELSE 'PAYMENT' END AS record_type, "
            f"partner_reference_no, reference_no, partner_refund_no, refund_no, CASE status {statuses} END AS status, "
            f"sen, substr({_q(KIND_LETTERS)}, kind + 1, 1) AS kind, day, h, problem{extra} FROM {stored}")


def kinds_sql(side: str, period: tuple[date, date] | None = None) -> str:
    """A side in one pass: rows and sen per file, amount kind, problem, record type and whether
    dated in ``period``. What ``auto`` decides a file's format from, whether the side has any bad
    row at all, and its input totals."""
    inside = f"COALESCE(day BETWEEN DATE '{period[0]}' AND DATE '{period[1]}', FALSE)" if period else "TRUE"
    return (f"SELECT file, kind, problem, record_type, {inside} AS inside, COUNT(*) AS n, SUM(sen) AS sen "
            f"FROM {side} GROUP BY file, kind, problem, record_type, {inside}")


def problem_sql(amount_ok: str) -> str:
    """Each row's problem code, the amount's included (``amount_ok``: SQL over ``file`` and ``kind``)."""
    return f"CASE WHEN problem IN (1, 2) THEN problem WHEN NOT ({amount_ok}) THEN 3 ELSE problem END"


def problems_sql(side: str, amount_ok: str) -> str:
    """Each problem found, with how many rows have it, in the order of its first row."""
    return f"""
SELECT code, COUNT(*) AS n, MIN(rownum) AS first_row FROM (
  SELECT rownum, {problem_sql(amount_ok)} AS code FROM {side}
) c WHERE code IS NOT NULL GROUP BY code ORDER BY first_row"""


def samples_sql(detailed: str, amount_ok: str, code: int) -> str:
    """The first five rows with problem ``code`` (in a ``details`` side's window): where, whose, and what."""
    detail = {1: "raw_record_type", 2: "raw_currency", 3: "raw_amount", 4: "raw_status", 5: "raw_time"}.get(code, "''")
    return (f"SELECT rownum, file, CASE WHEN record_type = 'REFUND' THEN partner_refund_no "
            f"ELSE partner_reference_no END AS reference, kind, COALESCE({detail}, '') AS detail FROM {detailed} "
            f"WHERE in_window AND {problem_sql(amount_ok)} = {code} ORDER BY rownum LIMIT 5")


# ----------------------------------------------------------------------------- matching


def extras_sql(partner: str, ovo: str) -> str:
    """``side`` (0: the partner, 1: OVO) and ``rownum`` of every row whose key an earlier row of its
    side already has.

    Rows are grouped by their key's 64-bit hash first (integers, cheap); only rows whose hash
    repeats are grouped by the key itself, so a collision costs a little work, never a wrong answer."""
    return " UNION ALL ".join(f"""
SELECT * FROM (
  WITH c AS (
    SELECT rownum, record_type, {kref()} AS kref FROM {side}
    WHERE h IN (SELECT h FROM {side} GROUP BY h HAVING COUNT(*) > 1)
  )
  SELECT {n} AS side, c.rownum FROM c JOIN (
    SELECT record_type, kref, MIN(rownum) AS first FROM c GROUP BY record_type, kref HAVING COUNT(*) > 1
  ) f ON c.record_type = f.record_type AND c.kref = f.kref WHERE c.rownum <> f.first
) x{n}""" for n, side in enumerate((partner, ovo)))


def _firsts(side: str, extras: str, n: int) -> str:
    """Side ``n``'s representatives: every row but the further rows of a repeated key."""
    return (f"SELECT s.*, {kref('s')} AS kref FROM {side} s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {extras} e WHERE e.side = {n} AND e.rownum = s.rownum)")


def over_refunded_sql(partner: str, ovo: str, extras: str) -> str:
    """The partner's refund rows (``rownum``) whose payment is refunded more than it was paid, on
    OVO's side (``over_ovo``) or the partner's.

    A refund counts towards the partner's payment reference where the partner has it (else
    OVO's); only refund rows and the payments they name are summed."""
    rp, ro = _firsts(partner, extras, 0), _firsts(ovo, extras, 1)
    return f"""
WITH rj AS (
  SELECT CASE WHEN p.kref IS NULL THEN o.partner_reference_no ELSE p.partner_reference_no END AS payment_key,
         COALESCE(p.sen, 0) AS p_sen, COALESCE(o.sen, 0) AS o_sen
  FROM (SELECT * FROM ({rp}) x WHERE record_type = 'REFUND') p
  FULL OUTER JOIN (SELECT * FROM ({ro}) y WHERE record_type = 'REFUND') o ON p.kref = o.kref
), refunded AS (
  SELECT payment_key, SUM(p_sen) AS partner_refunded, SUM(o_sen) AS ovo_refunded FROM rj GROUP BY payment_key
), paid_p AS (
  SELECT partner_reference_no AS payment_key, SUM(sen) AS paid FROM ({rp}) x
  WHERE record_type = 'PAYMENT' AND partner_reference_no IN (SELECT payment_key FROM refunded) GROUP BY 1
), paid_o AS (
  SELECT partner_reference_no AS payment_key, SUM(sen) AS paid FROM ({ro}) y
  WHERE record_type = 'PAYMENT' AND partner_reference_no IN (SELECT payment_key FROM refunded) GROUP BY 1
), over AS (
  SELECT r.payment_key, r.ovo_refunded > COALESCE(po.paid, 0) AS over_ovo
  FROM refunded r LEFT JOIN paid_p pp ON r.payment_key = pp.payment_key
                  LEFT JOIN paid_o po ON r.payment_key = po.payment_key
  WHERE r.partner_refunded > COALESCE(pp.paid, 0) OR r.ovo_refunded > COALESCE(po.paid, 0)
)
SELECT x.rownum, over.over_ovo FROM ({rp}) x JOIN over ON x.partner_reference_no = over.payment_key
WHERE x.record_type = 'REFUND'"""


def match_sql(partner: str, ovo: str, extras: str, period: tuple[date, date] | None = None) -> str:
    """Every row of both validated sides in exactly one category, stored compactly.

    The first row of a key on a side (input order) is its representative: matched and
    classified; each further row of that key is a ``duplicate`` on its side. With a ``period``,
    a pair counts when either row is dated inside it; a pair that would match but straddles the
    period's edge is ``cut_off``; rows outside the period without a counterpart inside are left
    out. A row holds no text: its sides' rows are ``p_rownum`` and ``o_rownum``
    (:func:`presented_sql` reads their references), ``refund`` says the record type, statuses are
    indexes into :data:`STATUSES` (NULL: no row on that side), ``category`` into
    :data:`ALL_CATEGORIES`; ``note`` says which side a refund exceeds its payment on (1: OVO,
    2: the partner).
    """
    code = {name: i for i, name in enumerate(ALL_CATEGORIES)}

    def status(column: str) -> str:
        whens = " ".join(f"WHEN {_q(v)} THEN {i}" for i, v in enumerate(STATUSES))
        return f"CAST(CASE {column} {whens} END AS TINYINT)"
    inside = (lambda day: f"{day} BETWEEN DATE '{period[0]}' AND DATE '{period[1]}'") if period else None
    keep = f"WHERE ({inside('p.day')} OR {inside('o.day')})" if inside else ""
    crossing = (f"WHEN p.kref IS NOT NULL AND o.kref IS NOT NULL AND ({inside('p.day')}) <> ({inside('o.day')}) "
                f"THEN {code[CUT_OFF]} ") if inside else ""
    further = " ".join(
        f"""UNION ALL
SELECT s.record_type = 'REFUND', {'s.rownum' if n == 0 else 'NULL'}, {'NULL' if n == 0 else 's.rownum'},
       {'s.day' if n == 0 else 'NULL'}, {'NULL' if n == 0 else 's.day'},
       {'s.sen' if n == 0 else '0'}, {status('s.status') if n == 0 else 'NULL'},
       {'0' if n == 0 else 's.sen'}, {'NULL' if n == 0 else status('s.status')}, {code['duplicate']}, 0
FROM {side} s JOIN (SELECT rownum FROM {extras} WHERE side = {n}) e ON s.rownum = e.rownum
{f"WHERE {inside('s.day')}" if inside else ""}"""
        for n, side in enumerate((partner, ovo)))
    return f"""
SELECT COALESCE(p.record_type, o.record_type) = 'REFUND' AS refund,
       p.rownum AS p_rownum, o.rownum AS o_rownum, p.day AS partner_day, o.day AS ovo_day,
       COALESCE(p.sen, 0) AS partner_sen, {status('p.status')} AS partner_status,
       COALESCE(o.sen, 0) AS ovo_sen, {status('o.status')} AS ovo_status,
       CASE
         WHEN COALESCE(p.record_type, o.record_type) = 'REFUND'
              AND (o.kref IS NULL OR p.kref IS NULL OR p.sen <> o.sen OR p.status <> o.status)
           THEN {code['refund_mismatch']}
         WHEN o.kref IS NULL THEN {code['missing_at_ovo']}
         WHEN p.kref IS NULL THEN {code['missing_at_partner']}
         WHEN p.sen <> o.sen THEN {code['amount_mismatch']}
         WHEN p.status <> o.status THEN {code['status_mismatch']}
         WHEN r.rownum IS NOT NULL THEN {code['refund_mismatch']}
         {crossing}ELSE {code['matched']}
       END AS category,
       CASE WHEN r.rownum IS NOT NULL AND o.kref IS NOT NULL AND p.sen = o.sen AND p.status = o.status
            THEN CASE WHEN r.over_ovo THEN 1 ELSE 2 END ELSE 0 END AS note
FROM ({_firsts(partner, extras, 0)}) p
FULL OUTER JOIN ({_firsts(ovo, extras, 1)}) o ON p.record_type = o.record_type AND p.kref = o.kref
LEFT JOIN ({over_refunded_sql(partner, ovo, extras)}) r ON r.rownum = p.rownum
{keep}
{further}"""


def day_sql(period: tuple[date, date] | None = None) -> str:
    """A stored row's day: the partner's, else OVO's; for a period, the one inside it."""
    if not period:
        return "COALESCE(partner_day, ovo_day)"
    return (f"CASE WHEN partner_day BETWEEN DATE '{period[0]}' AND DATE '{period[1]}' THEN partner_day "
            "ELSE COALESCE(ovo_day, partner_day) END")


def position_sql() -> str:
    """Where a stored row sorts inside its category: the partner's input order, then OVO's, then
    each side's further rows."""
    return (f"CASE WHEN category = {ALL_CATEGORIES.index('duplicate')} THEN "
            "CASE WHEN p_rownum IS NULL THEN 3000000000000 + o_rownum ELSE 2000000000000 + p_rownum END "
            "ELSE COALESCE(p_rownum, 1000000000000 + o_rownum) END")


def presented_sql(stored: str, partner: str, ovo: str, period: tuple[date, date] | None = None) -> str:
    """A stored result as people read it: :data:`OUT` (the key, the references from each side's
    row, days as text, category names, the action), ``category_rank`` and ``position``."""
    code = {name: i for i, name in enumerate(ALL_CATEGORIES)}
    a = {k: _q(v) for k, v in ACTIONS.items()}
    over = {side: _q(ACTIONS["over_refunded"].format(side=side)) for side in ("partner", "ovo")}
    parts = re.split(r"\{(partner_day|ovo_day)\}", ACTIONS["cut_off"])
    cut_off_text = " || ".join(f"CAST({part} AS STRING)" if n % 2 else _q(part) for n, part in enumerate(parts))
    names = " ".join(f"WHEN {i} THEN {_q(name)}" for i, name in enumerate(ALL_CATEGORIES))
    own = {c: f"CASE WHEN r.p_rownum IS NULL THEN o.{c} ELSE p.{c} END AS {c}"
           for c in ("partner_reference_no", "partner_refund_no")}
    theirs = {c: f"CASE WHEN r.o_rownum IS NULL THEN p.{c} ELSE o.{c} END AS {c}"
              for c in ("reference_no", "refund_no")}
    statuses = " ".join(f"WHEN {i} THEN {_q(v)}" for i, v in enumerate(STATUSES))
    return f"""
WITH x AS (
  SELECT r.p_rownum, r.o_rownum, r.partner_day, r.ovo_day, r.partner_sen, r.ovo_sen, r.category, r.note,
         CASE WHEN r.refund THEN 'REFUND' ELSE 'PAYMENT' END AS record_type,
         COALESCE(CASE r.partner_status {statuses} END, '') AS partner_status,
         COALESCE(CASE r.ovo_status {statuses} END, '') AS ovo_status,
         {own['partner_reference_no']}, {theirs['reference_no']}, {own['partner_refund_no']}, {theirs['refund_no']}
  FROM {stored} r LEFT JOIN {partner} p ON p.rownum = r.p_rownum LEFT JOIN {ovo} o ON o.rownum = r.o_rownum
)
SELECT record_type || ':' || {kref()} AS key, record_type, partner_reference_no AS payment_key,
       partner_reference_no, reference_no, partner_refund_no, refund_no,
       COALESCE(CAST({day_sql(period)} AS STRING), '') AS day,
       COALESCE(CAST(partner_day AS STRING), '') AS partner_day, COALESCE(CAST(ovo_day AS STRING), '') AS ovo_day,
       partner_sen, partner_status, ovo_sen, ovo_status,
       CASE category {names} END AS category,
       CASE
         WHEN category = {code['matched']} THEN ''
         WHEN category = {code[CUT_OFF]} THEN {cut_off_text}
         WHEN note = 1 THEN {over['ovo']}
         WHEN note = 2 THEN {over['partner']}
         WHEN category = {code['status_mismatch']} AND partner_status = 'PENDING' AND ovo_status = 'SUCCESS'
           THEN {a['paid_not_recorded']}
         WHEN category = {code['status_mismatch']} AND partner_status = 'PENDING' AND ovo_status = 'FAILED'
           THEN {a['failed_at_ovo']}
         WHEN category = {code['status_mismatch']} AND partner_status = 'SUCCESS' THEN {a['not_taken']}
         WHEN category = {code['missing_at_ovo']} AND partner_status = 'PENDING' THEN {a['never_completed']}
         WHEN category = {code['refund_mismatch']} AND ovo_status = '' THEN {a['refund_not_at_ovo']}
         WHEN category = {code['refund_mismatch']} AND partner_status = '' THEN {a['refund_not_recorded']}
         WHEN category = {code['refund_mismatch']} THEN {a['refund_differs']}
         WHEN category = {code['missing_at_ovo']} THEN {a['missing_at_ovo']}
         WHEN category = {code['missing_at_partner']} AND ovo_status = 'FAILED' THEN {a['failed_not_recorded']}
         WHEN category = {code['missing_at_partner']} THEN {a['missing_at_partner']}
         WHEN category = {code['amount_mismatch']} THEN {a['amount_mismatch']}
         WHEN category = {code['duplicate']} AND partner_status <> ''
           THEN {_q(ACTIONS['duplicate'] + ' (on the partner side)')}
         WHEN category = {code['duplicate']} THEN {_q(ACTIONS['duplicate'] + ' (on the OVO side)')}
         ELSE {a['status_mismatch']}
       END AS action,
       category AS category_rank, {position_sql()} AS position
FROM x"""


# ----------------------------------------------------------------------------- engines


class Engine(Protocol):
    """Runs the SQL above: DuckDB in this process, or a Spark session."""

    dialect: Dialect

    def view(self, name: str, sql: str, shared: bool = False) -> None:
        """A view; ``shared``: one that :meth:`ordered_all` can read from more than one connection."""
        ...

    def materialize(self, name: str, sql: str) -> None: ...

    def ordered(self, name: str, sql: str) -> None:
        """Store a query's rows, in the order it yields them, with ``rownum`` (1, 2, ...) in that order."""
        ...

    def ordered_all(self, items: Sequence[tuple[str, str]], shared: bool) -> list[Exception | None]:
        """:meth:`ordered` for each (name, SQL), at the same time where the engine can (``shared``:
        the SQL reads only views made with ``shared=True``); each one's error, or None."""
        ...

    def drop(self, name: str) -> None: ...

    def columns(self, name: str) -> list[str]: ...

    def register(self, name: str, frame: Any) -> None: ...

    def read_files(self, name: str, paths: list[str], kind: str) -> None:
        """A shared view of the files' rows, all text for CSV, with :data:`FILE_COLUMN` (each path's index)."""
        ...

    def fetch(self, sql: str) -> pd.DataFrame: ...

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """A small result as tuples (no pandas)."""
        ...

    def export(self, sql: str, path: str, kind: str) -> None: ...

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        """What the engine raises for input it cannot read."""
        ...


def one_by_one(engine: Engine, items: Sequence[tuple[str, str]]) -> list[Exception | None]:
    """:meth:`Engine.ordered` for each (name, SQL) in turn; each one's error, or None."""
    errors: list[Exception | None] = []
    for name, sql in items:
        try:
            engine.ordered(name, sql)
            errors.append(None)
        except engine.errors as exc:
            errors.append(exc)
    return errors


_ids = itertools.count(1)


def fresh_name(prefix: str) -> str:
    """A view name no earlier reconciliation in this process used."""
    return f"ovo_{prefix}_{next(_ids)}"


@dataclass
class DuckDBEngine:
    """DuckDB embedded: in memory up to ``memory_limit``, spilling to a temporary folder beyond it."""

    connection: Any = None
    memory_limit: str = "2GB"
    dialect: Dialect = field(default_factory=Dialect)
    _made: dict[str, str] = field(default_factory=dict, repr=False)
    """What each name this engine made is (``view``, ``table``, ``ordered``): what :meth:`drop` drops."""

    def __post_init__(self) -> None:
        if self.connection is None:
            import duckdb

            self.connection = duckdb.connect()
            self.connection.execute("SET preserve_insertion_order = true")  # a stored side keeps the input order
            self.connection.execute("SET enable_progress_bar = false")  # no bar in notebooks and logs
            self.connection.execute(f"SET memory_limit = {_q(self.memory_limit)}")
            spill = Path(tempfile.gettempdir()) / f"ovo-nb-duckdb-{os.getpid()}"  # never the working folder
            self.connection.execute(f"SET temp_directory = {_q(str(spill))}")
            self.connection.execute("SET TimeZone = 'Asia/Jakarta'")  # a timestamp's date is its Jakarta day

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        import duckdb

        return (duckdb.Error,)

    def view(self, name: str, sql: str, shared: bool = False) -> None:
        self.connection.execute(f"CREATE OR REPLACE {'' if shared else 'TEMP '}VIEW {name} AS {sql}")
        self._made.setdefault(name, "view")

    def materialize(self, name: str, sql: str) -> None:
        self.connection.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        self._made[name] = "table"

    def ordered(self, name: str, sql: str) -> None:
        """A table keeps the insertion order of a parallel scan; its ``rowid`` is that order, free."""
        self.materialize(f"{name}_rows", sql)
        self._number(name)

    def _number(self, name: str) -> None:
        """``name``: the stored ``{name}_rows`` numbered in their stored order."""
        self.view(name, f"SELECT rowid + 1 AS rownum, * FROM {name}_rows")
        self._made[name] = "ordered"

    def ordered_all(self, items: Sequence[tuple[str, str]], shared: bool) -> list[Exception | None]:
        """Both sides at once, each on its own connection to the same database: a small file is read
        by one thread, so two of them take the time of one on two cores."""
        import threading

        if not shared or len(items) < 2:
            return one_by_one(self, items)
        errors: list[Exception | None] = [None] * len(items)

        def store(n: int, name: str, sql: str) -> None:
            cursor = self.connection.cursor()
            try:
                cursor.execute("SET TimeZone = 'Asia/Jakarta'")  # a session setting: each connection its own
                cursor.execute(f"CREATE OR REPLACE TABLE {name}_rows AS {sql}")
            except self.errors as exc:
                errors[n] = exc
            finally:
                cursor.close()

        threads = [threading.Thread(target=store, args=(n, *item)) for n, item in enumerate(items)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for (name, _), error in zip(items, errors, strict=True):
            if error is None:
                self._number(name)
        return errors

    def drop(self, name: str) -> None:
        """Free what :meth:`materialize`, :meth:`ordered` or :meth:`view` made under ``name``."""
        made = self._made.pop(name, "")
        if made == "table":
            self.connection.execute(f"DROP TABLE {name}")
        elif made:
            self.connection.execute(f"DROP VIEW {name}")
        if made == "ordered":
            self.connection.execute(f"DROP TABLE {name}_rows")

    def columns(self, name: str) -> list[str]:
        return [str(d[0]) for d in self.connection.execute(f"SELECT * FROM {name} LIMIT 0").description]

    def register(self, name: str, frame: Any) -> None:
        """A pandas DataFrame, a DuckDB relation or an Arrow table, scanned where it is."""
        self.connection.register(name, frame)

    def read_files(self, name: str, paths: list[str], kind: str) -> None:
        listed = "[" + ", ".join(_q(p) for p in paths) + "]"
        if kind == "csv":
            scan = (f"read_csv({listed}, all_varchar = true, header = true, union_by_name = true, "
                    "filename = 'ovo_nb_path')")
        else:
            scan = f"read_parquet({listed}, union_by_name = true, filename = 'ovo_nb_path')"
        index = " ".join(f"WHEN {_q(p)} THEN {i}" for i, p in enumerate(paths))
        self.view(name, f"SELECT * EXCLUDE (ovo_nb_path), CASE ovo_nb_path {index} END AS {FILE_COLUMN} FROM {scan}",
                  shared=True)

    def fetch(self, sql: str) -> pd.DataFrame:
        frame: pd.DataFrame = self.connection.execute(sql).fetchdf()
        return frame

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return list(self.connection.execute(sql).fetchall())

    def export(self, sql: str, path: str, kind: str) -> None:
        """Write a query's rows to a CSV or Parquet file, streaming."""
        options = "FORMAT csv, HEADER true" if kind == "csv" else "FORMAT parquet"
        self.connection.execute(f"COPY ({sql}) TO {_q(path)} ({options})")



@dataclass
class SparkEngine:
    """A Spark session: the same SQL through temporary views; Spark DataFrames come in as they are."""

    spark: Any
    dialect: Dialect = field(default_factory=SparkDialect)

    def __post_init__(self) -> None:
        self.spark.conf.set("spark.sql.session.timeZone", "UTC")

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        from pyspark.errors import PySparkException

        return (PySparkException,)

    def view(self, name: str, sql: str, shared: bool = False) -> None:
        self.spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {sql}")

    def materialize(self, name: str, sql: str) -> None:
        """Computed now and kept (a local checkpoint: no lineage back to what it was computed from,
        so that may be dropped, and joining it to itself needs no re-planning)."""
        self.spark.sql(sql).localCheckpoint(eager=True).createOrReplaceTempView(name)

    def ordered(self, name: str, sql: str) -> None:
        self.materialize(name, f"SELECT monotonically_increasing_id() + 1 AS rownum, * FROM ({sql}) q")

    def ordered_all(self, items: Sequence[tuple[str, str]], shared: bool) -> list[Exception | None]:
        """One after the other: the Spark session spreads each over its executors."""
        return one_by_one(self, items)

    def drop(self, name: str) -> None:
        """Forget the name; Spark frees its rows once nothing computed from them needs them."""
        self.spark.catalog.dropTempView(name)

    def columns(self, name: str) -> list[str]:
        return list(self.spark.table(name).columns)

    def register(self, name: str, frame: Any) -> None:
        if isinstance(frame, pd.DataFrame):
            frame = self.spark.createDataFrame(frame.astype(object).where(frame.notna(), None))
        frame.createOrReplaceTempView(name)

    def read_files(self, name: str, paths: list[str], kind: str) -> None:
        from functools import reduce

        from pyspark.sql.functions import lit

        reader = self.spark.read.option("header", "true") if kind == "csv" else self.spark.read
        frames = [(reader.csv(p) if kind == "csv" else reader.parquet(p)).withColumn(FILE_COLUMN, lit(i))
                  for i, p in enumerate(paths)]
        reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames).createOrReplaceTempView(name)

    def fetch(self, sql: str) -> pd.DataFrame:
        frame: pd.DataFrame = self.spark.sql(sql).toPandas()
        return frame

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.spark.sql(sql).collect()]

    def export(self, sql: str, path: str, kind: str) -> None:
        """Write a query's rows as a folder of CSV or Parquet part files (Spark's way)."""
        writer = self.spark.sql(sql).write.mode("overwrite")
        writer.option("header", "true").csv(path) if kind == "csv" else writer.parquet(path)

