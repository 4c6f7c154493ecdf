"""Warehouse statements a run costs, counted by the Databricks emulator (they are deterministic).

A load in steady state is its apply statement and one ledger INSERT (its `staged` row, which also
carries the previous load's `committed` row); pre-flight (schema and staging volume made through
Unity Catalog REST), the ledger table and its view are read through Unity Catalog, not with
statements; a missing ledger is made by the statement that writes its first rows, in one SQL script
with its view (two statements on a warehouse without SQL scripting), and a table at its first load
with every column of the run's SCHEMAs. A table's ledger rows are read once per run (not at all for
a table the run created). What the ledger holds afterwards is read back: every
load still has its `staged` and `committed` rows with the table's id.
"""

from __future__ import annotations

import typing as t

import pytest
from target_testlib import record_msg, run, schema_msg, state_msg
from workspace_testlib import settings

from databricks_emulator.server import RunningEmulator
from databricks_emulator.sql.scripting import compound_body, is_compound
from target_databricks import audit
from target_databricks.engines.base import TableRef
from target_databricks.engines.workspace import StatementFailedError, WorkspaceEngine

STREAM = "items"
PROPS: dict[str, t.Any] = {"id": {"type": "integer"}, "label": {"type": ["string", "null"]}}


def _messages(first: int, count: int, *, schema_change_at: int | None = None) -> list[dict[str, t.Any]]:
    out = [schema_msg(STREAM, PROPS, ["id"])]
    for i in range(first, first + count):
        if i == schema_change_at:
            out.append(schema_msg(STREAM, {**PROPS, "note": {"type": ["string", "null"]}}, ["id"]))
        record = {"id": i, "label": f"row {i}"}
        if schema_change_at is not None and i >= schema_change_at:
            record["note"] = "n"
        out.append(record_msg(STREAM, record))
    out.append(state_msg({"bookmarks": {STREAM: first + count}}))
    return out


def _kind(text: str) -> str:
    """A statement as its verb and object: "INSERT ledger", "MERGE items", "CREATE TABLE items"…;
    a SQL script as its statements: "BEGIN CREATE TABLE ledger; CREATE VIEW view END"."""
    if is_compound(text):
        return f"BEGIN {'; '.join(_kind(s) for s in compound_body(text))} END"
    words = [w for w in text.split() if w not in ("OR", "REPLACE")]
    verb = " ".join(words[:2]) if words[0] in ("CREATE", "ALTER") else words[0]
    # The object a statement is about is the first one it names (a column comment may name the
    # ledger too).
    found = {
        name: text.find(marker)
        for name, marker in (
            ("view", "`_ml_connector_loads_current`"),
            ("ledger", "`_ml_connector_loads`"),
            (STREAM, f"`{STREAM}`"),
        )
        if marker in text
    }
    name = min(found, key=found.__getitem__) if found else "other"
    return f"{verb} {name}"


def _kinds(emulator: RunningEmulator) -> list[str]:
    """Each statement the warehouse was sent since the last call, as `_kind`."""
    kinds = [_kind(text) for text in emulator.control.sql_statements()]
    emulator.control.reset_counters()
    return kinds


def _ledger(cfg: dict[str, t.Any]) -> list[audit.LedgerEntry]:
    engine = WorkspaceEngine(cfg)
    try:
        return engine.ledger_read()
    finally:
        engine.close()


def test_small_run_statements(emulator: RunningEmulator) -> None:
    cfg = settings(emulator)
    emulator.control.reset_counters()
    run(cfg, _messages(0, 1_001, schema_change_at=500))  # two loads: the schema change drains
    fresh = _kinds(emulator)
    # Pre-flight made schema and volume through Unity Catalog (no statement); the table is made at
    # its first load with the columns of both SCHEMAs (no ALTER); the ledger with its first row and
    # its view by one SQL script.
    assert fresh == [
        "CREATE TABLE items",
        "BEGIN CREATE TABLE ledger; CREATE VIEW view END",  # the ledger with load 1 staged
        "MERGE items",
        "INSERT ledger",  # load 1 committed + load 2 staged
        "MERGE items",
        "INSERT ledger",  # load 2 committed
    ]

    # A second run into an existing table: its ledger rows are read once, then INSERT + MERGE.
    cfg2 = {**cfg, "batch_size_rows": 400}
    run(cfg2, _messages(2_000, 1_001))  # loads of 400, 400, 201 rows
    assert _kinds(emulator) == [
        "SELECT ledger",
        "INSERT ledger",
        "MERGE items",
        "INSERT ledger",
        "MERGE items",
        "INSERT ledger",
        "MERGE items",
        "INSERT ledger",
    ]

    # The same input again: every load was committed to this table; one read, one INSERT of skips.
    run(cfg2, _messages(2_000, 1_001))
    assert _kinds(emulator) == ["SELECT ledger", "INSERT ledger"]

    ledger = _ledger(cfg)
    table_id = WorkspaceEngine(cfg).table_id(TableRef("main", "datev", STREAM))
    by_status: dict[str, int] = {}
    for row in ledger:
        assert row.table_id == table_id
        by_status[row.status] = by_status.get(row.status, 0) + 1
    assert by_status == {"staged": 5, "committed": 5, "skipped": 3}
    current = audit.current_loads(ledger)
    assert {e.status for e in current.values()} == {"committed"} and len(current) == 5
    assert _view(cfg) == {load_id: e.status for load_id, e in current.items()}  # the script's view


def test_small_run_into_a_new_table_of_a_loaded_schema(emulator: RunningEmulator) -> None:
    cfg = settings(emulator)
    run(cfg, [schema_msg("seed", PROPS, ["id"]), record_msg("seed", {"id": 1})])  # ledger and view
    emulator.control.reset_counters()
    run(cfg, _messages(0, 1_001, schema_change_at=500))
    assert _kinds(emulator) == [
        "CREATE TABLE items",  # with the columns of both SCHEMAs
        "INSERT ledger",  # load 1 staged
        "MERGE items",
        "INSERT ledger",  # load 1 committed + load 2 staged
        "MERGE items",
        "INSERT ledger",  # load 2 committed
    ]
    rows = WorkspaceEngine(cfg).read_table(TableRef("main", "datev", STREAM))
    notes = rows.column("note").to_pylist()
    assert rows.num_rows == 1_001 and notes.count(None) == 500 and notes.count("n") == 501


def test_steady_state_is_two_statements_per_batch(emulator: RunningEmulator) -> None:
    cfg = {**settings(emulator), "batch_size_rows": 100}
    run(cfg, _messages(0, 100))  # the table and the ledger exist from here on
    emulator.control.reset_counters()
    run(cfg, _messages(1_000, 200))
    two_batches = len(_kinds(emulator))
    run(cfg, _messages(5_000, 700))
    seven_batches = len(_kinds(emulator))
    assert (seven_batches - two_batches) / 5 <= 2


def test_state_waits_for_the_deferred_ledger_rows(
    emulator: RunningEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = {**settings(emulator), "batch_size_rows": 400}
    run(cfg, _messages(0, 10))
    # Second run: the table's ledger rows, then INSERT + MERGE per load; the 8th statement is the
    # INSERT of the last `committed` row, written just before STATE: it fails.
    emulator.control.fail_statement(8, "warehouse went away")
    capsys.readouterr()
    with pytest.raises(StatementFailedError, match="warehouse went away"):
        run(cfg, _messages(2_000, 1_001))
    assert '"bookmarks"' not in capsys.readouterr().out  # no STATE for rows the ledger lacked
    # Closing the engine wrote the deferred row after all: the ledger tells what landed.
    current = audit.current_loads(_ledger(cfg))
    assert [e.status for e in current.values()] == ["committed"] * 4

    run(cfg, _messages(2_000, 1_001))  # the tap re-sends: every load is found committed
    assert '"bookmarks"' in capsys.readouterr().out
    assert (
        sorted(e.status for e in _ledger(cfg) if e.recorded_at > max(x.recorded_at for x in current.values()))
        == ["skipped"] * 3
    )
    rows = WorkspaceEngine(cfg).read_table(TableRef("main", "datev", STREAM))
    assert rows.num_rows == 1_011


def test_ledger_view_is_redefined_only_when_its_definition_changed(emulator: RunningEmulator) -> None:
    cfg = settings(emulator)
    run(cfg, _messages(0, 10))
    emulator.control.reset_counters()
    run(cfg, _messages(100, 10))
    assert not [k for k in _kinds(emulator) if k.endswith("view") or k.startswith(("CREATE", "ALTER"))]

    # A ledger whose view an older release defined: the next run replaces the view and marks it.
    ledger = "`main`.`datev`.`_ml_connector_loads`"
    WorkspaceEngine(cfg).execute(
        f"ALTER TABLE {ledger} SET TBLPROPERTIES ('ml_connector.ledger_view' = 'old')"
    )
    emulator.control.reset_counters()
    run(cfg, _messages(200, 10))
    kinds = _kinds(emulator)
    assert kinds[:2] == ["CREATE VIEW view", "ALTER TABLE ledger"]
    run(cfg, _messages(300, 10))
    assert "CREATE VIEW view" not in _kinds(emulator)


def _view(cfg: dict[str, t.Any]) -> dict[str, str]:
    """load id -> status, as `_ml_connector_loads_current` shows it."""
    result = WorkspaceEngine(cfg).execute(
        "SELECT `load_id`, `status` FROM `main`.`datev`.`_ml_connector_loads_current`"
    )
    return {str(load_id): str(status) for load_id, status in result.rows}


def test_small_run_on_a_warehouse_without_sql_scripting(emulator: RunningEmulator) -> None:
    # The warehouse refuses the script (PARSE_SYNTAX_ERROR at BEGIN: nothing of it ran); the ledger
    # and its view are made by two statements, as before scripting.
    emulator.control.set_sql_scripting(False)
    cfg = settings(emulator)
    emulator.control.reset_counters()
    run(cfg, _messages(0, 1_001, schema_change_at=500))
    assert emulator.control.count("statements.execute") == 8  # the refused script is a request
    assert _kinds(emulator) == [
        "CREATE TABLE items",
        "CREATE TABLE ledger",
        "CREATE VIEW view",
        "MERGE items",
        "INSERT ledger",
        "MERGE items",
        "INSERT ledger",
    ]
    ledger = _ledger(cfg)
    assert sorted(e.status for e in ledger) == ["committed"] * 2 + ["staged"] * 2
    current = audit.current_loads(ledger)
    assert _view(cfg) == {load_id: e.status for load_id, e in current.items()}
    assert WorkspaceEngine(cfg).read_table(TableRef("main", "datev", STREAM)).num_rows == 1_001


def test_ledger_script_whose_answer_is_lost_converges(emulator: RunningEmulator) -> None:
    cfg = settings(emulator)
    run(cfg, _messages(0, 10))
    engine = WorkspaceEngine(cfg)
    engine.execute("DROP VIEW `main`.`datev`.`_ml_connector_loads_current`")
    engine.execute("DROP TABLE `main`.`datev`.`_ml_connector_loads`")
    emulator.control.reset_counters()
    # The next run's first statement is the ledger script (no ledger: no rows to read). It runs, its
    # answer is lost, the SDK sends it again: the ledger exists now (TABLE_OR_VIEW_ALREADY_EXISTS),
    # the run finds it and its view made and writes its rows with an INSERT.
    emulator.control.drop_next(1, match="POST /api/2.0/sql/statements*")
    run(cfg, _messages(100, 10))
    assert _kinds(emulator) == [
        "BEGIN CREATE TABLE ledger; CREATE VIEW view END",
        "BEGIN CREATE TABLE ledger; CREATE VIEW view END",  # the SDK's retry: fails at its first statement
        "INSERT ledger",  # load 1 staged, again
        "MERGE items",
        "INSERT ledger",  # load 1 committed
    ]
    ledger = _ledger(cfg)
    assert sorted(e.status for e in ledger) == ["committed", "staged", "staged"]
    current = audit.current_loads(ledger)
    assert [e.status for e in current.values()] == ["committed"]
    assert _view(cfg) == {load_id: e.status for load_id, e in current.items()}
    assert WorkspaceEngine(cfg).read_table(TableRef("main", "datev", STREAM)).num_rows == 20
