"""Reconciliation as relational operations: one SQL definition, run by DuckDB or by Spark.

Loading, validation and matching are SQL over two input relations; the few spots where the
two dialects differ (parsing a timestamp, its Jakarta day, a row's input order) are the
methods of :class:`Dialect`. :mod:`ovo_nb.reconciliation` drives it through an
:class:`Engine`: DuckDB embedded (default; out-of-core, reads CSV and Parquet globs itself) or
a Spark session (the same SQL, via temporary views), with only the rows asked for brought back
as pandas.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from ._escape import CSV_TRIGGERS, PLAIN_NUMBER

COLUMNS = ("record_type", "partner_reference_no", "reference_no", "partner_refund_no", "refund_no", "amount",
           "currency", "status", "time")
"""The schema both sides are read into (``amount`` as text like ``"10000.00"``)."""
NORMALIZED = ("rownum", "record_type", "partner_reference_no", "reference_no", "partner_refund_no", "refund_no",
              "currency", "status", "sen", "day", "key", "payment_key")
"""A validated side: folded status, integer ``sen``, Jakarta ``day``, the matching ``key``."""
CATEGORIES = ("matched", "missing_at_ovo", "missing_at_partner", "amount_mismatch", "status_mismatch",
              "refund_mismatch", "duplicate")
OUT = ("key", "record_type", "payment_key", "partner_reference_no", "reference_no", "partner_refund_no", "refund_no",
       "day", "partner_sen", "partner_status", "ovo_sen", "ovo_status", "category", "action")
AMOUNT_PATTERN = r"^[0-9]{1,16}(\.[0-9]{1,2})?$"

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
    "refund_not_at_ovo": "OVO has no such refund: resend it with the same partnerRefundNo (idempotent), or mark it "
                         "failed.",
    "refund_not_recorded": "OVO refunded it but the partner has no record: record the refund.",
    "refund_differs": "The refund amounts or states differ: check both records.",
    "over_refunded": "Refunds exceed the payment on the {side} side: stop refunding and check which refund is wrong.",
}


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

    def timestamp(self, expr: str) -> str:
        """A timestamp from ISO 8601 text, NULL when unreadable."""
        return f"TRY_CAST({expr} AS TIMESTAMPTZ)"

    def jakarta_day(self, ts: str) -> str:
        """The Jakarta calendar day (cut-off 00:00 +07:00) of a timestamp, as ``yyyy-MM-dd``."""
        return f"CAST(CAST({ts} AS DATE) AS VARCHAR)"  # the session's time zone is Asia/Jakarta

    def input_order(self) -> str:
        """A number that grows with the rows' order in the source."""
        return "row_number() OVER ()"

    def column(self, name: str) -> str:
        """A source column, quoted (its name may have spaces or capitals)."""
        return '"' + name.replace('"', '""') + '"'

    def whole_division(self, numerator: str, denominator: str) -> str:
        """Integer division, exact for any BIGINT."""
        return f"({numerator} // {denominator})"


class SparkDialect(Dialect):
    name = "spark"

    def timestamp(self, expr: str) -> str:
        return f"try_to_timestamp({expr})"

    def jakarta_day(self, ts: str) -> str:
        return f"date_format(from_utc_timestamp({ts}, 'Asia/Jakarta'), 'yyyy-MM-dd')"

    def input_order(self) -> str:
        return "monotonically_increasing_id()"

    def column(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def whole_division(self, numerator: str, denominator: str) -> str:
        return f"({numerator} div {denominator})"


# ----------------------------------------------------------------------------- loading and validation


def normalize_sql(raw: str, status_fold: Mapping[str, str], dialect: Dialect) -> str:
    """The validated side from a raw relation with :data:`COLUMNS` (all text) and ``rownum``.

    Invalid rows are kept here, flagged in ``problem``; :func:`problems_sql` names them.
    """
    fold = " ".join(f"WHEN {_q(k)} THEN {_q(v)}" for k, v in status_fold.items())
    return f"""
WITH t AS (
  SELECT rownum,
         UPPER(TRIM(COALESCE(record_type, ''))) AS record_type,
         COALESCE(partner_reference_no, '') AS partner_reference_no,
         COALESCE(reference_no, '') AS reference_no,
         COALESCE(partner_refund_no, '') AS partner_refund_no,
         COALESCE(refund_no, '') AS refund_no,
         TRIM(COALESCE(amount, '')) AS amount,
         UPPER(COALESCE(currency, '')) AS currency,
         UPPER(TRIM(COALESCE(status, ''))) AS status_text,
         COALESCE(time, '') AS time
  FROM {raw}
), k AS (
  SELECT *, CASE WHEN record_type = 'PAYMENT' THEN partner_reference_no ELSE partner_refund_no END AS own_key,
         CASE status_text {fold} ELSE NULL END AS status,
         {dialect.timestamp("NULLIF(time, '')")} AS ts
  FROM t
)
SELECT rownum, record_type, partner_reference_no, reference_no, partner_refund_no, refund_no, currency, status,
       CASE WHEN regexp_extract(amount, {_q(AMOUNT_PATTERN)}, 0) = amount
            THEN CAST(split_part(amount, '.', 1) AS BIGINT) * 100
                 + CASE WHEN amount LIKE '%.%' THEN CAST(rpad(split_part(amount, '.', 2), 2, '0') AS BIGINT) ELSE 0 END
       END AS sen,
       COALESCE({dialect.jakarta_day("ts")}, '') AS day,
       record_type || ':' || CASE WHEN own_key <> '' THEN own_key ELSE 'ref:' || reference_no END AS key,
       partner_reference_no AS payment_key,
       CASE
         WHEN record_type NOT IN ('PAYMENT', 'REFUND') THEN 'record_type(s) not PAYMENT or REFUND'
         WHEN currency NOT IN ('IDR', '') THEN 'currency(ies) not IDR (only IDR is reconciled)'
         WHEN regexp_extract(amount, {_q(AMOUNT_PATTERN)}, 0) <> amount
           THEN 'amount(s) not IDR with at most two decimals'
         WHEN status IS NULL THEN 'unknown status(es)'
         WHEN time <> '' AND ts IS NULL THEN 'unreadable time(s) (use ISO 8601 like 2026-11-26T13:42:13+07:00)'
         WHEN own_key = '' AND reference_no = '' THEN 'row(s) without any reference'
       END AS problem,
       CASE
         WHEN record_type NOT IN ('PAYMENT', 'REFUND') THEN record_type
         WHEN currency NOT IN ('IDR', '') THEN currency
         WHEN regexp_extract(amount, {_q(AMOUNT_PATTERN)}, 0) <> amount THEN amount
         WHEN status IS NULL THEN status_text
         ELSE time
       END AS detail
FROM k"""


def problems_sql(normalized: str) -> str:
    """Each validation problem with how many rows have it and the first five row numbers."""
    return f"""
SELECT problem, COUNT(*) AS n, MIN(rownum) AS first_row
FROM {normalized} WHERE problem IS NOT NULL GROUP BY problem ORDER BY first_row"""


def sample_sql(normalized: str, problem: str) -> str:
    """The first five rows with ``problem``: their number, own reference and offending value."""
    return (f"SELECT rownum, CASE WHEN record_type = 'REFUND' THEN partner_refund_no ELSE partner_reference_no END"
            f" AS reference, detail FROM {normalized} WHERE problem = {_q(problem)} ORDER BY rownum LIMIT 5")


# ----------------------------------------------------------------------------- matching


def match_sql(partner: str, ovo: str) -> str:
    """Every row of both validated sides in exactly one category, with its action.

    The first row of a key on a side (input order) is its representative: matched and
    classified; each further row of that key is a ``duplicate`` on its side. Representatives are
    found by aggregation and joins (hash operators, no sort), so the engine can spill to disk.
    """
    a = {k: _q(v) for k, v in ACTIONS.items()}
    over = {side: _q(ACTIONS["over_refunded"].format(side=side)) for side in ("partner", "ovo")}
    return f"""
WITH p_first AS (SELECT key, MIN(rownum) AS first FROM {partner} GROUP BY key),
o_first AS (SELECT key, MIN(rownum) AS first FROM {ovo} GROUP BY key),
p AS (SELECT s.*, CASE WHEN s.rownum = f.first THEN 1 ELSE 2 END AS nth
      FROM {partner} s JOIN p_first f ON s.key = f.key),
o AS (SELECT s.*, CASE WHEN s.rownum = f.first THEN 1 ELSE 2 END AS nth
      FROM {ovo} s JOIN o_first f ON s.key = f.key),
j AS (
  SELECT COALESCE(p.key, o.key) AS key,
         CASE WHEN p.key IS NULL THEN o.record_type ELSE p.record_type END AS record_type,
         CASE WHEN p.key IS NULL THEN o.payment_key ELSE p.payment_key END AS payment_key,
         CASE WHEN p.key IS NULL THEN o.partner_reference_no ELSE p.partner_reference_no END AS partner_reference_no,
         CASE WHEN o.key IS NULL THEN p.reference_no ELSE o.reference_no END AS reference_no,
         CASE WHEN p.key IS NULL THEN o.partner_refund_no ELSE p.partner_refund_no END AS partner_refund_no,
         CASE WHEN o.key IS NULL THEN p.refund_no ELSE o.refund_no END AS refund_no,
         CASE WHEN COALESCE(p.day, '') <> '' THEN p.day ELSE COALESCE(o.day, '') END AS day,
         COALESCE(p.sen, 0) AS partner_sen, COALESCE(p.status, '') AS partner_status,
         COALESCE(o.sen, 0) AS ovo_sen, COALESCE(o.status, '') AS ovo_status,
         o.key IS NULL AS left_only, p.key IS NULL AS right_only,
         COALESCE(p.rownum, 1000000000000 + o.rownum) AS position
  FROM (SELECT * FROM p WHERE nth = 1) p FULL OUTER JOIN (SELECT * FROM o WHERE nth = 1) o ON p.key = o.key
),
c AS (
  SELECT *,
    CASE
      WHEN record_type = 'REFUND' AND (left_only OR right_only OR partner_sen <> ovo_sen
                                       OR partner_status <> ovo_status) THEN 'refund_mismatch'
      WHEN left_only THEN 'missing_at_ovo'
      WHEN right_only THEN 'missing_at_partner'
      WHEN partner_sen <> ovo_sen THEN 'amount_mismatch'
      WHEN partner_status <> ovo_status THEN 'status_mismatch'
      ELSE 'matched'
    END AS category
  FROM j
),
paid AS (
  SELECT payment_key, SUM(partner_sen) AS partner_paid, SUM(ovo_sen) AS ovo_paid
  FROM c WHERE record_type = 'PAYMENT' AND payment_key IN (SELECT payment_key FROM c WHERE record_type = 'REFUND')
  GROUP BY payment_key
),
refunded AS (
  SELECT payment_key, SUM(partner_sen) AS partner_refunded, SUM(ovo_sen) AS ovo_refunded
  FROM c WHERE record_type = 'REFUND' GROUP BY payment_key
),
flagged AS (
  SELECT c.*, FALSE AS over_partner, FALSE AS over_ovo FROM c WHERE record_type = 'PAYMENT'
  UNION ALL
  SELECT c.*,
         COALESCE(r.partner_refunded, 0) > COALESCE(pd.partner_paid, 0) AS over_partner,
         COALESCE(r.ovo_refunded, 0) > COALESCE(pd.ovo_paid, 0) AS over_ovo
  FROM c LEFT JOIN refunded r ON c.payment_key = r.payment_key
         LEFT JOIN paid pd ON c.payment_key = pd.payment_key
  WHERE c.record_type = 'REFUND'
),
classified AS (
  SELECT key, record_type, payment_key, partner_reference_no, reference_no, partner_refund_no, refund_no, day,
         partner_sen, partner_status, ovo_sen, ovo_status, position,
         CASE WHEN category = 'matched' AND record_type = 'REFUND' AND (over_partner OR over_ovo)
              THEN 'refund_mismatch' ELSE category END AS category,
         CASE
           WHEN category = 'matched' AND record_type = 'REFUND' AND over_ovo THEN {over['ovo']}
           WHEN category = 'matched' AND record_type = 'REFUND' AND over_partner THEN {over['partner']}
           WHEN category = 'matched' THEN ''
           WHEN category = 'status_mismatch' AND partner_status = 'PENDING' AND ovo_status = 'SUCCESS'
             THEN {a['paid_not_recorded']}
           WHEN category = 'status_mismatch' AND partner_status = 'PENDING' AND ovo_status = 'FAILED'
             THEN {a['failed_at_ovo']}
           WHEN category = 'status_mismatch' AND partner_status = 'SUCCESS' THEN {a['not_taken']}
           WHEN category = 'missing_at_ovo' AND partner_status = 'PENDING' THEN {a['never_completed']}
           WHEN category = 'refund_mismatch' AND left_only THEN {a['refund_not_at_ovo']}
           WHEN category = 'refund_mismatch' AND right_only THEN {a['refund_not_recorded']}
           WHEN category = 'refund_mismatch' THEN {a['refund_differs']}
           WHEN category = 'missing_at_ovo' THEN {a['missing_at_ovo']}
           WHEN category = 'missing_at_partner' THEN {a['missing_at_partner']}
           WHEN category = 'amount_mismatch' THEN {a['amount_mismatch']}
           ELSE {a['status_mismatch']}
         END AS action
  FROM flagged
),
extras AS (
  SELECT key, record_type, payment_key, partner_reference_no, reference_no, partner_refund_no, refund_no, day,
         sen AS partner_sen, status AS partner_status, 0 AS ovo_sen, '' AS ovo_status,
         2000000000000 + rownum AS position,
         'duplicate' AS category, {_q(ACTIONS['duplicate'] + ' (on the partner side)')} AS action
  FROM p WHERE nth > 1
  UNION ALL
  SELECT key, record_type, payment_key, partner_reference_no, reference_no, partner_refund_no, refund_no, day,
         0 AS partner_sen, '' AS partner_status, sen AS ovo_sen, status AS ovo_status, 3000000000000 + rownum,
         'duplicate', {_q(ACTIONS['duplicate'] + ' (on the OVO side)')}
  FROM o WHERE nth > 1
)
SELECT {', '.join(OUT)},
       CASE category {' '.join(f"WHEN {_q(c)} THEN {i}" for i, c in enumerate(CATEGORIES))} END AS category_rank,
       position
FROM (SELECT * FROM classified UNION ALL SELECT * FROM extras) r"""


# ----------------------------------------------------------------------------- engines


class Engine(Protocol):
    """Runs the SQL above: DuckDB in this process, or a Spark session."""

    dialect: Dialect

    def view(self, name: str, sql: str) -> None: ...

    def materialize(self, name: str, sql: str) -> None: ...

    def columns(self, name: str) -> list[str]: ...

    def register(self, name: str, frame: Any) -> None: ...

    def read_files(self, name: str, paths: Iterable[str], kind: str) -> None: ...

    def fetch(self, sql: str) -> pd.DataFrame: ...

    def scalar(self, sql: str) -> Any: ...

    def export(self, sql: str, path: str, kind: str) -> None: ...


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

    def __post_init__(self) -> None:
        if self.connection is None:
            import duckdb

            self.connection = duckdb.connect()
            self.connection.execute("SET preserve_insertion_order = true")
            self.connection.execute("SET enable_progress_bar = false")  # no bar in notebooks and logs
            self.connection.execute(f"SET memory_limit = {_q(self.memory_limit)}")
            spill = Path(tempfile.gettempdir()) / f"ovo-nb-duckdb-{os.getpid()}"  # never the working folder
            self.connection.execute(f"SET temp_directory = {_q(str(spill))}")
            self.connection.execute("SET TimeZone = 'Asia/Jakarta'")  # a timestamp's date is its Jakarta day

    def view(self, name: str, sql: str) -> None:
        self.connection.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")

    def materialize(self, name: str, sql: str) -> None:
        self.connection.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def columns(self, name: str) -> list[str]:
        return [str(d[0]) for d in self.connection.execute(f"SELECT * FROM {name} LIMIT 0").description]

    def register(self, name: str, frame: Any) -> None:
        """A pandas DataFrame, a DuckDB relation or an Arrow table, scanned where it is."""
        self.connection.register(name, frame)

    def read_files(self, name: str, paths: Iterable[str], kind: str) -> None:
        listed = "[" + ", ".join(_q(p) for p in paths) + "]"
        if kind == "csv":
            scan = f"read_csv({listed}, all_varchar = true, header = true, union_by_name = true)"
        else:
            scan = f"read_parquet({listed}, union_by_name = true)"
        self.view(name, f"SELECT * FROM {scan}")

    def fetch(self, sql: str) -> pd.DataFrame:
        frame: pd.DataFrame = self.connection.execute(sql).fetchdf()
        return frame

    def export(self, sql: str, path: str, kind: str) -> None:
        """Write a query's rows to a CSV (with a BOM, for Excel) or Parquet file, streaming."""
        options = "FORMAT csv, HEADER true" if kind == "csv" else "FORMAT parquet"
        self.connection.execute(f"COPY ({sql}) TO {_q(path)} ({options})")

    def scalar(self, sql: str) -> Any:
        row = self.connection.execute(sql).fetchone()
        return row[0] if row else None


@dataclass
class SparkEngine:
    """A Spark session: the same SQL through temporary views; Spark DataFrames come in as they are."""

    spark: Any
    dialect: Dialect = field(default_factory=SparkDialect)

    def __post_init__(self) -> None:
        self.spark.conf.set("spark.sql.session.timeZone", "UTC")

    def view(self, name: str, sql: str) -> None:
        self.spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {sql}")

    def materialize(self, name: str, sql: str) -> None:
        self.spark.sql(f"CACHE TABLE {name} AS {sql}")

    def columns(self, name: str) -> list[str]:
        return list(self.spark.table(name).columns)

    def register(self, name: str, frame: Any) -> None:
        if isinstance(frame, pd.DataFrame):
            frame = self.spark.createDataFrame(frame.astype(object).where(frame.notna(), None))
        frame.createOrReplaceTempView(name)

    def read_files(self, name: str, paths: Iterable[str], kind: str) -> None:
        listed = list(paths)
        reader = self.spark.read.option("header", "true") if kind == "csv" else self.spark.read
        frame = reader.csv(listed) if kind == "csv" else reader.parquet(*listed)
        frame.createOrReplaceTempView(name)

    def fetch(self, sql: str) -> pd.DataFrame:
        frame: pd.DataFrame = self.spark.sql(sql).toPandas()
        return frame

    def export(self, sql: str, path: str, kind: str) -> None:
        """Write a query's rows as a folder of CSV or Parquet part files (Spark's way)."""
        writer = self.spark.sql(sql).write.mode("overwrite")
        writer.option("header", "true").csv(path) if kind == "csv" else writer.parquet(path)

    def scalar(self, sql: str) -> Any:
        rows = self.spark.sql(sql).collect()
        return rows[0][0] if rows else None
