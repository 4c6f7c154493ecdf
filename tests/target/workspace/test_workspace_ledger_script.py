"""The ledger and its view made by one SQL script: a `BEGIN … END` compound statement whose first
rows are values inside it. What those values hold (a `;`, the word END, quotes) stays text: the
script is split by the warehouse's tokenizer, never by the connector."""

from __future__ import annotations

import datetime as dt

from databricks_emulator.server import RunningEmulator
from target_databricks.engines.base import LedgerEntry
from target_databricks.engines.workspace import WorkspaceEngine

AT = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def test_first_ledger_rows_with_script_syntax_in_their_text_land_as_written(
    engine: WorkspaceEngine, emulator: RunningEmulator
) -> None:
    error = "refused; END; DROP TABLE x; -- it's BEGIN \\ END"
    entries = [
        LedgerEntry("L;1", "s", "main.datev.t", "upsert", "failed", 1, 1, "/Volumes/a;b", error, AT, AT, 0),
        LedgerEntry("END", "s", "main.datev.t", "upsert", "staged", 2, 1, None, None, AT),
    ]
    emulator.control.reset_counters()
    engine.ledger_append(entries)
    (script,) = emulator.control.sql_statements()
    assert script.startswith("BEGIN\nCREATE TABLE") and script.endswith(";\nEND")
    assert sorted(engine.ledger_read(), key=lambda e: e.load_id) == sorted(entries, key=lambda e: e.load_id)
    current = engine.execute(
        "SELECT `load_id`, `error` FROM `main`.`datev`.`_ml_connector_loads_current` ORDER BY `load_id`"
    )
    assert current.rows == [["END", None], ["L;1", error]]
