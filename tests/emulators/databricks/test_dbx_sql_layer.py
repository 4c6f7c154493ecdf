"""Databricks SQL a Unity Catalog loader sends, run through the emulator as a target would."""

from __future__ import annotations

import decimal
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from databricks.sdk import WorkspaceClient
from dbx_emu_helpers import failed, ok

from databricks_emulator.server import start


def _parquet(table: pa.Table) -> io.BytesIO:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    buffer.seek(0)
    return buffer


def _setup_schema(w: WorkspaceClient) -> None:
    ok(w, "CREATE CATALOG IF NOT EXISTS Finance")
    ok(w, "CREATE SCHEMA IF NOT EXISTS `finance`.`DATEV`")
    ok(w, "CREATE VOLUME IF NOT EXISTS finance.datev.staging")
    ok(
        w,
        "CREATE TABLE IF NOT EXISTS finance.datev.bookings (id BIGINT, amount DECIMAL(18,2), note STRING) "
        "USING DELTA TBLPROPERTIES ('delta.appendOnly' = 'false')",
    )


def test_catalog_schema_table_and_add_columns(sp_client: WorkspaceClient) -> None:
    _setup_schema(sp_client)
    ok(sp_client, "ALTER TABLE finance.datev.bookings ADD COLUMNS (booked DATE, `odd``name` STRING)")
    rows = ok(sp_client, "DESCRIBE TABLE finance.datev.bookings")
    assert [r[:2] for r in rows] == [
        ["id", "bigint"],
        ["amount", "decimal(18,2)"],
        ["note", "string"],
        ["booked", "date"],
        ["odd`name", "string"],
    ]
    message = failed(sp_client, "ALTER TABLE finance.datev.bookings ADD COLUMNS (NOTE STRING)")
    assert message.startswith("[FIELD_ALREADY_EXISTS]")
    assert ok(sp_client, "SHOW TABLES IN finance.datev") == [["datev", "bookings", "false"]]
    assert ["finance"] in ok(sp_client, "SHOW CATALOGS")


def test_type_change_fails_like_delta(sp_client: WorkspaceClient) -> None:
    _setup_schema(sp_client)
    message = failed(sp_client, "ALTER TABLE finance.datev.bookings ALTER COLUMN amount TYPE DECIMAL(20,2)")
    assert message.startswith("[NOT_SUPPORTED_CHANGE_COLUMN]")
    assert "[DELTA_UNSUPPORTED_DROP_COLUMN]" in failed(
        sp_client, "ALTER TABLE finance.datev.bookings DROP COLUMN note"
    )


def test_invalid_column_characters_need_column_mapping(sp_client: WorkspaceClient) -> None:
    _setup_schema(sp_client)
    assert "[DELTA_INVALID_CHARACTERS_IN_COLUMN_NAMES]" in failed(
        sp_client, "CREATE TABLE finance.datev.x (`a b` STRING) USING DELTA"
    )
    ok(
        sp_client,
        "CREATE TABLE finance.datev.y (`a b` STRING) USING DELTA "
        "TBLPROPERTIES ('delta.columnMapping.mode' = 'name', 'delta.minReaderVersion' = '2')",
    )


def test_merge_from_read_files_over_uploaded_parquet(sp_client: WorkspaceClient) -> None:
    _setup_schema(sp_client)
    ok(sp_client, "INSERT INTO finance.datev.bookings VALUES (1, 10.00, 'old'), (2, 20.00, 'keep')")
    batch = pa.table(
        {
            "id": pa.array([1, 1, 3], pa.int64()),
            "amount": pa.array([11, 12, 30], pa.int64()),
            "note": ["stale", "new", "inserted"],
            "seq": [1, 2, 1],
        }
    )
    sp_client.files.upload(
        "/Volumes/finance/datev/staging/load-1/batch.parquet", _parquet(batch), overwrite=True
    )
    rows = ok(
        sp_client,
        "MERGE INTO finance.datev.bookings AS t USING ("
        " SELECT * FROM read_files('/Volumes/finance/datev/staging/load-1/', format => 'parquet')"
        " QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY seq DESC) = 1) AS s "
        "ON t.id <=> s.id "
        "WHEN MATCHED AND s.note <> t.note THEN UPDATE SET t.amount = s.amount, t.note = s.note "
        "WHEN NOT MATCHED THEN INSERT (id, amount, note) VALUES (s.id, s.amount, s.note)",
    )
    assert rows == [["2", "1", "0", "1"]]  # affected, updated, deleted, inserted
    assert ok(sp_client, "SELECT id, amount, note FROM finance.datev.bookings ORDER BY id") == [
        ["1", "12.00", "new"],
        ["2", "20.00", "keep"],
        ["3", "30.00", "inserted"],
    ]


def test_merge_reports_what_it_did_to_each_row(sp_client: WorkspaceClient) -> None:
    """The counts Databricks answers a MERGE with, checked against the table read back: rows
    updated, deleted, inserted, and matched rows whose condition did not hold (not affected)."""
    _setup_schema(sp_client)
    ok(
        sp_client,
        "INSERT INTO finance.datev.bookings VALUES "
        "(1, 10.00, 'old'), (2, 20.00, 'keep'), (3, 30.00, 'drop'), (4, 40.00, 'old')",
    )
    source = (
        "SELECT * FROM VALUES (1, 11.00, 'new'), (2, 20.00, 'keep'), (3, 0.00, 'drop'), "
        "(4, 44.00, 'new'), (5, 50.00, 'new'), (6, 60.00, 'new') AS v(id, amount, note)"
    )
    upsert = (
        f"MERGE INTO finance.datev.bookings t USING ({source}) s ON t.id = s.id "
        "WHEN MATCHED AND s.note <> t.note THEN UPDATE SET amount = s.amount, note = s.note "
        "WHEN NOT MATCHED AND s.id < 6 THEN INSERT (id, amount, note) VALUES (s.id, s.amount, s.note)"
    )
    # affected, updated, deleted, inserted: 1 and 4 updated, 5 inserted; 2, 3 and 6 untouched
    assert ok(sp_client, upsert) == [["3", "2", "0", "1"]]
    with_delete = (
        f"MERGE INTO finance.datev.bookings t USING ({source}) s ON t.id = s.id "
        "WHEN MATCHED AND s.note = 'drop' THEN DELETE "
        "WHEN MATCHED AND s.amount <> t.amount THEN UPDATE SET amount = s.amount "
        "WHEN NOT MATCHED THEN INSERT (id, amount, note) VALUES (s.id, s.amount, s.note)"
    )
    assert ok(sp_client, with_delete) == [["2", "0", "1", "1"]]  # 3 deleted, 6 inserted
    assert ok(sp_client, "SELECT id, amount, note FROM finance.datev.bookings ORDER BY id") == [
        ["1", "11.00", "new"],
        ["2", "20.00", "keep"],
        ["4", "44.00", "new"],
        ["5", "50.00", "new"],
        ["6", "60.00", "new"],
    ]


def test_merge_with_duplicate_source_rows_fails(sp_client: WorkspaceClient) -> None:
    _setup_schema(sp_client)
    ok(sp_client, "INSERT INTO finance.datev.bookings VALUES (1, 10.00, 'old')")
    message = failed(
        sp_client,
        "MERGE INTO finance.datev.bookings t "
        "USING (SELECT * FROM VALUES (1, 'a'), (1, 'b') AS v(id, note)) s "
        "ON t.id = s.id WHEN MATCHED THEN UPDATE SET note = s.note",
    )
    assert message.startswith("[DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE]")
    assert ok(sp_client, "SELECT note FROM finance.datev.bookings") == [["old"]]


def test_merge_update_set_star_matches_columns_by_name(sp_client: WorkspaceClient) -> None:
    _setup_schema(sp_client)
    ok(sp_client, "INSERT INTO finance.datev.bookings VALUES (1, 10.00, 'old')")
    ok(
        sp_client,
        "MERGE INTO finance.datev.bookings t USING (SELECT 'new' AS note, 5.5 AS amount, 1 AS id "
        "UNION ALL SELECT 'two', 2, 2) s ON t.id = s.id "
        "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
    )
    assert ok(sp_client, "SELECT * FROM finance.datev.bookings ORDER BY id") == [
        ["1", "5.50", "new"],
        ["2", "2.00", "two"],
    ]


def test_copy_into_twice_loads_once(sp_client: WorkspaceClient) -> None:
    _setup_schema(sp_client)
    first = pa.table({"id": pa.array([1, 2], pa.int64()), "note": ["a", "b"]})
    sp_client.files.upload("/Volumes/finance/datev/staging/append/f1.parquet", _parquet(first))
    copy = (
        "COPY INTO finance.datev.bookings FROM '/Volumes/finance/datev/staging/append' "
        "FILEFORMAT = PARQUET PATTERN = '*.parquet'"
    )
    assert ok(sp_client, copy) == [["2", "2", "0"]]
    assert ok(sp_client, copy) == [["0", "0", "0"]]
    second = pa.table({"id": pa.array([3], pa.int64()), "note": ["c"]})
    sp_client.files.upload("/Volumes/finance/datev/staging/append/f2.parquet", _parquet(second))
    assert ok(sp_client, copy) == [["1", "1", "0"]]
    assert ok(sp_client, "SELECT count(*), count(amount) FROM finance.datev.bookings") == [["3", "0"]]


def test_copy_into_enforces_the_table_types_and_casts_in_a_select(sp_client: WorkspaceClient) -> None:
    _setup_schema(sp_client)  # bookings: id BIGINT, amount DECIMAL(18,2), note STRING
    narrow = pa.table(
        {
            "id": pa.array([1], pa.int32()),
            "amount": pa.array([decimal.Decimal("1.50")], pa.decimal128(9, 2)),
            "note": ["a"],
        }
    )
    sp_client.files.upload("/Volumes/finance/datev/staging/narrow/F1.parquet", _parquet(narrow))
    # Like Delta's schema enforcement: no silent widening of INT / DECIMAL(9,2) by a plain COPY INTO ...
    message = failed(
        sp_client,
        "COPY INTO finance.datev.bookings FROM '/Volumes/finance/datev/staging/narrow/F1.parquet' "
        "FILEFORMAT = PARQUET",
    )
    assert message.startswith("[DELTA_FAILED_TO_MERGE_FIELDS]")
    assert "BIGINT and INT" in message
    assert ok(sp_client, "SELECT count(*) FROM finance.datev.bookings") == [["0"]]
    # ... while the SELECT form casts (the path keeps its case), and still loads a file only once.
    copy = (
        "COPY INTO finance.datev.bookings FROM (SELECT CAST(id AS BIGINT) AS id, "
        "CAST(amount AS DECIMAL(18,2)) AS amount, note FROM "
        "'/Volumes/finance/datev/staging/narrow/F1.parquet') FILEFORMAT = PARQUET"
    )
    assert ok(sp_client, copy) == [["1", "1", "0"]]
    assert ok(sp_client, copy) == [["0", "0", "0"]]
    assert ok(sp_client, "SELECT id, amount, note FROM finance.datev.bookings") == [["1", "1.50", "a"]]


def test_unqualified_names_use_statement_catalog_and_schema(sp_client: WorkspaceClient) -> None:
    _setup_schema(sp_client)
    ok(sp_client, "INSERT INTO bookings (id) VALUES (5)", catalog="finance", schema="datev")
    assert ok(sp_client, "SELECT id FROM datev.bookings", catalog="finance") == [["5"]]
    assert ok(sp_client, "SELECT current_catalog(), current_schema()", catalog="finance", schema="datev") == [
        ["finance", "datev"]
    ]
    rows = ok(
        sp_client,
        "SELECT column_name, data_type, full_data_type FROM finance.information_schema.columns "
        "WHERE table_name = 'bookings' ORDER BY ordinal_position",
    )
    assert rows == [
        ["id", "BIGINT", "bigint"],
        ["amount", "DECIMAL", "decimal(18,2)"],
        ["note", "STRING", "string"],
    ]


def test_warehouse_settings_and_noops(sp_client: WorkspaceClient) -> None:
    _setup_schema(sp_client)
    assert "[CONFIG_NOT_AVAILABLE]" in failed(
        sp_client, "SET spark.databricks.delta.schema.autoMerge.enabled = true"
    )
    ok(sp_client, "OPTIMIZE finance.datev.bookings")
    ok(sp_client, "VACUUM finance.datev.bookings")
    assert "[EMULATOR_UNSUPPORTED_STATEMENT]" in failed(
        sp_client,
        "MERGE WITH SCHEMA EVOLUTION INTO finance.datev.bookings t USING finance.datev.bookings s "
        "ON t.id = s.id WHEN MATCHED THEN UPDATE SET *",
    )


def test_data_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "persist"
    for expected in ([["1"]], [["1"], ["2"]]):
        with start(data) as emulator:
            w = WorkspaceClient(host=emulator.url, token="dapi-emulator-token", auth_type="pat")
            ok(w, "CREATE CATALOG IF NOT EXISTS keep")
            ok(w, "CREATE TABLE IF NOT EXISTS keep.default.t (n BIGINT) USING DELTA")
            ok(w, f"INSERT INTO keep.default.t VALUES ({len(expected)})")
            assert ok(w, "SELECT n FROM keep.default.t ORDER BY n") == expected


@pytest.mark.parametrize(
    ("matched", "refused"),
    [
        ("WHEN MATCHED AND s.note = 'b' THEN DELETE", True),
        ("WHEN MATCHED AND s.note = 'a' THEN UPDATE SET note = s.note WHEN MATCHED THEN DELETE", True),
        ("WHEN MATCHED THEN DELETE", False),
    ],
)
def test_merge_delete_with_duplicate_source_rows(
    sp_client: WorkspaceClient, matched: str, refused: bool
) -> None:
    # Delta refuses several source rows for one target row unless the only matched action is an
    # unconditional DELETE.
    _setup_schema(sp_client)
    ok(sp_client, "INSERT INTO finance.datev.bookings VALUES (1, 10.00, 'old'), (2, 20.00, 'keep')")
    statement = (
        "MERGE INTO finance.datev.bookings t "
        "USING (SELECT * FROM VALUES (1, 'a'), (1, 'b') AS v(id, note)) s "
        f"ON t.id = s.id {matched}"
    )
    if refused:
        message = failed(sp_client, statement)
        assert message.startswith("[DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE]")
        expected = [["1", "old"], ["2", "keep"]]
    else:
        ok(sp_client, statement)
        expected = [["2", "keep"]]
    assert ok(sp_client, "SELECT id, note FROM finance.datev.bookings ORDER BY id") == expected
