"""The workspace engine's SQL text and pure helpers: parsed back with sqlglot's Databricks dialect."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from target_databricks import schema as sch
from target_databricks.engines import workspace_sql as sql
from target_databricks.engines.base import Column, LedgerEntry, TableRef, TableSpec
from target_databricks.engines.workspace_jobs import idempotency_token, sql_file_path

REF = TableRef("main", "datev", "booking_lines")
SPEC = TableSpec(
    REF,
    (
        Column("id", "BIGINT", pa.int64()),
        Column("amount", "DECIMAL(15,2)", pa.decimal128(15, 2)),
        Column("weird`name", "STRING", pa.string()),
        Column("_sdc_extracted_at", "TIMESTAMP", pa.timestamp("us", tz="UTC")),
        Column("_sdc_received_at", "TIMESTAMP", pa.timestamp("us", tz="UTC")),
        Column("_ml_position", "BIGINT", pa.int64()),
    ),
    ("id",),
)
WHEN_S = "coalesce(s.`_sdc_extracted_at`, s.`_sdc_received_at`)"
WHEN_T = "coalesce(t.`_sdc_extracted_at`, t.`_sdc_received_at`)"
PATH = "/Volumes/main/datev/_ml_connector_staging/loads/abc.parquet"


def parse(text: str) -> exp.Expr:
    tree = sqlglot.parse_one(text, read="databricks")
    assert tree is not None
    return tree


def test_string_literal_escapes_backslash_and_quote() -> None:
    text = "it's a \\ path"
    literal = sql.string_literal(text)
    assert literal == "'it\\'s a \\\\ path'"
    # The Databricks dialect reads it back to the original text.
    assert parse(f"SELECT {literal}").find(exp.Literal).this == text  # type: ignore[union-attr]


def test_literal_is_typed_and_null_safe() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert sql.literal(when, "TIMESTAMP") == "CAST('2026-01-02 02:04:05.000006+00:00' AS TIMESTAMP)"
    assert sql.literal(None, "BIGINT") == "CAST(NULL AS BIGINT)"
    assert sql.literal(7, "INT") == "CAST('7' AS INT)"
    assert sql.literal(True, "BOOLEAN") == "CAST('true' AS BOOLEAN)"
    with pytest.raises(ValueError, match="naive"):
        sql.literal(dt.datetime(2026, 1, 1), "TIMESTAMP")  # noqa: DTZ001 - the point of the test


def test_merge_is_ordered_deduplicated_and_null_safe() -> None:
    text = sql.merge(SPEC, PATH)
    tree = parse(text)
    assert isinstance(tree, exp.Merge)
    assert "`main`.`datev`.`booking_lines`" in text
    assert (
        "read_files('/Volumes/main/datev/_ml_connector_staging/loads/abc.parquet', format => 'parquet')"
        in text
    )
    assert (
        "QUALIFY ROW_NUMBER() OVER (PARTITION BY `id` ORDER BY coalesce(`_sdc_extracted_at`, "
        "`_sdc_received_at`) DESC NULLS LAST, `_ml_position` DESC NULLS LAST) = 1" in text
    )
    assert "ON t.`id` <=> s.`id`" in text
    # Only a newer source row replaces a target row: (extracted_at, position) compared as a tuple.
    matched = text.split("WHEN MATCHED AND ", 1)[1].split(" THEN UPDATE", 1)[0]
    assert f"{WHEN_S} > {WHEN_T} OR ({WHEN_S} IS NOT NULL AND {WHEN_T} IS NULL)" in matched
    assert f"{WHEN_S} <=> {WHEN_T} AND (s.`_ml_position` > t.`_ml_position`" in matched
    # A target row this target did not write (no position) is always replaced.
    assert matched.endswith("OR t.`_ml_position` IS NULL)")
    assert "`weird``name` = s.`weird``name`" in text
    assert "CAST(`amount` AS DECIMAL(15,2)) AS `amount`" in text


def test_copy_into_overwrite_and_ddl_parse() -> None:
    copy = sql.copy_into(SPEC, PATH)
    assert copy.startswith(
        "COPY INTO `main`.`datev`.`booking_lines`\nFROM (SELECT CAST(`id` AS BIGINT) AS `id`, "
    )
    # The staged columns are cast to the table's types (COPY INTO enforces the table schema).
    assert "CAST(`amount` AS DECIMAL(15,2)) AS `amount`" in copy
    assert copy.endswith(f" FROM '{PATH}')\nFILEFORMAT = PARQUET")
    assert isinstance(parse(copy), exp.Copy)
    assert isinstance(parse(sql.overwrite(SPEC, PATH)), exp.Insert)
    create = sql.create_table(SPEC)
    # Key columns are NOT NULL and carry the informational primary key.
    assert create.startswith(
        "CREATE TABLE IF NOT EXISTS `main`.`datev`.`booking_lines` (`id` BIGINT NOT NULL, "
    )
    assert create.endswith(", CONSTRAINT `booking_lines_pk` PRIMARY KEY (`id`)) USING DELTA")
    assert isinstance(parse(create), exp.Create)
    add = sql.add_columns(REF, [Column("new_col", "DATE", pa.date32())])
    assert add == "ALTER TABLE `main`.`datev`.`booking_lines` ADD COLUMNS (`new_col` DATE)"
    assert sql.vacuum(REF, 200) == "VACUUM `main`.`datev`.`booking_lines` RETAIN 200 HOURS"


def test_activate_version_uses_named_parameters() -> None:
    soft = sql.activate_version(REF, hard_delete=False)
    assert ":version" in soft and ":deleted_at" in soft
    assert soft.startswith("UPDATE `main`.`datev`.`booking_lines` SET `_sdc_deleted_at` = :deleted_at")
    hard = sql.activate_version(REF, hard_delete=True)
    assert hard == (
        "DELETE FROM `main`.`datev`.`booking_lines` "
        "WHERE (`_sdc_table_version` < :version OR `_sdc_table_version` IS NULL)"
    )


def test_ledger_insert_and_view() -> None:
    when = dt.datetime(2026, 11, 26, 1, 2, 3, tzinfo=dt.UTC)
    entry = LedgerEntry("L1", "s", "main.datev.t", "upsert", "committed", 3, 2, None, "it's bad", when)
    text = sql.ledger_insert("main", "datev", [entry, entry])
    tree = parse(text)
    assert isinstance(tree, exp.Insert)
    assert text.count("CAST('L1' AS STRING)") == 2
    assert "CAST(NULL AS STRING)" in text and "CAST('it\\'s bad' AS STRING)" in text
    view = sql.create_ledger_view("main", "datev")
    assert "`_ml_connector_loads_current`" in view and "PARTITION BY l.`load_id`" in view
    # a stale staged row, or a rerun's skipped one, never hides a committed row of the same table
    assert "l.`status` IN ('staged', 'skipped') AND EXISTS" in view
    assert isinstance(parse(view), exp.Create)


def test_arrow_type_of_result_columns() -> None:
    assert sch.arrow_type_for_sql("decimal(15,2)") == pa.decimal128(15, 2)
    assert sch.arrow_type_for_sql("timestamp") == pa.timestamp("us", tz="UTC")
    assert sch.arrow_type_for_sql("array<string>") == pa.string()


def test_idempotency_token_per_table_load_and_attempt() -> None:
    first, again = idempotency_token("T1", "L1", 1), idempotency_token("T1", "L1", 1)
    replay, other_table = idempotency_token("T1", "L1", 2), idempotency_token("T2", "L1", 1)
    assert len(first) <= 64 and first == again and len({first, replay, other_table}) == 3
    path = sql_file_path("/Shared/ml-connector/", "T1", "a/b:c", 2)
    assert path == "/Shared/ml-connector/a_b_c-T1-attempt2.sql"
