"""The Databricks emulator changes a column type in place only as Delta type widening does."""

from __future__ import annotations

import pytest

from target_databricks.engines.workspace import StatementFailedError, WorkspaceEngine

TABLE = "main.datev.widen"


@pytest.fixture
def table(engine: WorkspaceEngine) -> WorkspaceEngine:
    engine.execute(f"CREATE TABLE {TABLE} (i INT, d DECIMAL(10,2), b BIGINT, day DATE) USING DELTA")
    engine.execute(f"INSERT INTO {TABLE} VALUES (1, 12345678.91, 2, DATE'2024-02-29')")
    return engine


def _types(engine: WorkspaceEngine) -> dict[str, str]:
    return {c.name or "": c.type_text or "" for c in engine.client.tables.get(TABLE).columns or []}


def test_alter_column_type_needs_type_widening_enabled(table: WorkspaceEngine) -> None:
    with pytest.raises(StatementFailedError, match="NOT_SUPPORTED_CHANGE_COLUMN"):
        table.execute(f"ALTER TABLE {TABLE} ALTER COLUMN i TYPE BIGINT")
    table.execute(f"ALTER TABLE {TABLE} SET TBLPROPERTIES ('delta.enableTypeWidening' = 'true')")
    table.execute(f"ALTER TABLE {TABLE} ALTER COLUMN i TYPE BIGINT")
    table.execute(f"ALTER TABLE {TABLE} ALTER COLUMN d TYPE DECIMAL(14,4)")
    table.execute(f"ALTER TABLE {TABLE} ALTER COLUMN b TYPE DECIMAL(22,2)")
    table.execute(f"ALTER TABLE {TABLE} ALTER COLUMN day TYPE TIMESTAMP_NTZ")
    assert _types(table) == {
        "i": "bigint",
        "d": "decimal(14,4)",
        "b": "decimal(22,2)",
        "day": "timestamp_ntz",
    }
    assert table.execute(f"SELECT d, b FROM {TABLE}").rows == [["12345678.9100", "2.00"]]


@pytest.mark.parametrize(
    "change",
    [
        "b TYPE STRING",  # not a widening: needs a rewrite
        "b TYPE DOUBLE",  # BIGINT to DOUBLE is not in Delta's list
        "b TYPE DECIMAL(21,2)",  # BIGINT needs 20 integer digits
        "d TYPE DECIMAL(11,4)",  # scale may grow only as much as precision
        "d TYPE DECIMAL(8,2)",  # narrower
        "day TYPE TIMESTAMP",  # DATE widens to TIMESTAMP_NTZ only
    ],
)
def test_changes_delta_cannot_make_in_place_are_refused(table: WorkspaceEngine, change: str) -> None:
    table.execute(f"ALTER TABLE {TABLE} SET TBLPROPERTIES ('delta.enableTypeWidening' = 'true')")
    with pytest.raises(StatementFailedError, match="NOT_SUPPORTED_CHANGE_COLUMN"):
        table.execute(f"ALTER TABLE {TABLE} ALTER COLUMN {change}")
    assert _types(table)["b"] == "bigint"
