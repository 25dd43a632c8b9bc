"""One reconciliation, several engines: DuckDB over DataFrames and over files, and local Spark, row by row."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from test_reconcile import planted_sides

from ovo_nb.reconciliation import DuckDBEngine, load_records, reconcile

PLAN = [(n, frozenset(kinds)) for n, kinds in enumerate([
    (), ("amount",), ("status",), ("missing_at_ovo",), ("missing_at_partner",), ("duplicate_partner", "amount"),
    ("duplicate_ovo", "status"), ("refund_over_duplicate", "duplicate_partner"), ("refund_without_payment",),
    (), ("amount", "duplicate_ovo"), ("status", "refund_over_duplicate"),
])]
KEY = ["key", "category", "partner_sen", "ovo_sen", "partner_status", "ovo_status"]


def canonical(rows: pd.DataFrame) -> pd.DataFrame:
    frame = rows[KEY].astype({"partner_sen": "int64", "ovo_sen": "int64"}).astype({"key": str, "category": str})
    return frame.sort_values(KEY).reset_index(drop=True)


@pytest.fixture(scope="module")
def sides() -> tuple[pd.DataFrame, pd.DataFrame]:
    partner, ovo, _ = planted_sides(PLAN)
    return partner, ovo


def test_files_and_globs_match_dataframes(sides: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    partner, ovo = sides
    expected = reconcile(load_records(partner, side="partner"), load_records(ovo, side="OVO"))
    half = len(partner) // 2
    partner.iloc[:half].to_csv(tmp_path / "partner-2026-10.csv", index=False)
    partner.iloc[half:].to_csv(tmp_path / "partner-2026-11.csv", index=False)
    ovo.to_parquet(tmp_path / "ovo.parquet")
    from_files = reconcile(str(tmp_path / "partner-*.csv"), str(tmp_path / "ovo.parquet"))
    pd.testing.assert_frame_equal(canonical(from_files.rows), canonical(expected.rows))
    assert from_files.totals().equals(expected.totals())
    assert from_files.size() == len(expected.rows) and from_files.size("duplicate") == len(
        expected.category("duplicate"))


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    if shutil.which("java") is None:
        pytest.skip("no Java on this machine (.ci/run installs Debian's default-jre-headless): Spark cannot start")
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("ovo-nb-test")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
               .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
    yield session
    session.stop()


def test_spark_gives_the_same_rows_as_duckdb_and_pandas(sides: tuple[pd.DataFrame, pd.DataFrame],
                                                        spark: object) -> None:
    partner, ovo = sides
    on_pandas = reconcile(load_records(partner, side="partner"), load_records(ovo, side="OVO"))
    on_duckdb = reconcile(partner, ovo, engine=DuckDBEngine())
    on_spark = reconcile(spark.createDataFrame(partner), spark.createDataFrame(ovo))  # type: ignore[attr-defined]
    assert on_spark.engine.dialect.name == "spark"
    for result in (on_duckdb, on_spark):
        pd.testing.assert_frame_equal(canonical(result.rows), canonical(on_pandas.rows))
        assert result.totals().equals(on_pandas.totals())
        assert result.counts().equals(on_pandas.counts())
        assert result.input_totals() == on_pandas.input_totals()


def test_arrow_tables_and_duckdb_relations_are_sides_too(sides: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    import duckdb
    import pyarrow as pa

    partner, ovo = sides
    expected = reconcile(partner, ovo)
    engine = DuckDBEngine()
    relation = engine.connection.from_df(ovo)
    result = reconcile(pa.Table.from_pandas(partner), relation, engine=engine)
    pd.testing.assert_frame_equal(canonical(result.rows), canonical(expected.rows))
    assert isinstance(relation, duckdb.DuckDBPyRelation)


def test_spark_streams_a_category_to_csv_with_hostile_references_inert(spark: object, tmp_path: Path) -> None:
    from payloads import PAYLOADS, csv_cells, csv_problems
    from test_injection import sides as hostile_sides

    partner, ovo = hostile_sides(list(PAYLOADS))
    result = reconcile(spark.createDataFrame(partner), spark.createDataFrame(ovo))  # type: ignore[attr-defined]
    folder = result.export("missing_at_ovo", tmp_path / "missing", "csv")
    parts = sorted(folder.glob("part-*.csv"))
    assert parts and all(csv_problems(part) == [] for part in parts)
    cells = set().union(*(csv_cells(part) for part in parts))
    assert {"'+SUM(1+1)*cmd|' /C calc'!A0", "<script>alert(document.cookie)</script>"} <= cells
