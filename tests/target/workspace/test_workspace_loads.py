"""Tables, ordered MERGE, COPY INTO, overwrite, ACTIVATE_VERSION and the ledger on the emulator."""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa
import pytest
from workspace_testlib import T0, batch, by_id, settings, spec, staged_load

from databricks_emulator.server import RunningEmulator
from target_databricks import audit
from target_databricks.engines.base import (
    Applied,
    Column,
    LedgerEntry,
    LoadMethod,
    SchemaChangeError,
    TableSpec,
)
from target_databricks.engines.workspace import StatementFailedError, WorkspaceEngine

LATER = T0 + dt.timedelta(hours=1)


def _apply(
    eng: WorkspaceEngine, table: TableSpec, load_id: str, data: pa.Table, method: LoadMethod = "upsert"
) -> int:
    return eng.apply(staged_load(eng, table, load_id, data, method)).rows


def test_create_add_column_and_incompatible_change(engine: WorkspaceEngine) -> None:
    table = spec()
    engine.ensure_table(table)
    engine.ensure_table(table)  # idempotent
    _apply(engine, table, "L1", batch(table, "L1", [(1, "a", "1.50")]))

    wider = spec("lines", Column("note", "STRING", pa.string()))
    engine.ensure_table(wider)
    columns = {c.name: c.type_text for c in engine.client.tables.get("main.datev.lines").columns or []}
    assert columns["note"] == "string"
    _apply(engine, wider, "L2", batch(wider, "L2", [(2, "b", "2.00")], first_position=10))
    rows = by_id(engine.read_table(wider.ref))
    assert rows[1]["note"] is None and rows[2]["label"] == "b"

    changed = spec("lines", Column("note", "STRING", pa.string()))
    changed = TableSpec(
        changed.ref,
        (*changed.columns[:2], Column("amount", "BOOLEAN", pa.bool_()), *changed.columns[3:]),
        changed.key_properties,
    )
    before = engine.read_table(wider.ref)
    with pytest.raises(
        SchemaChangeError, match=r"amount: table has DECIMAL\(15,2\), stream declares BOOLEAN"
    ):
        engine.ensure_table(changed)
    assert engine.read_table(wider.ref).equals(before)  # no data changed
    columns = {c.name: c.type_text for c in engine.client.tables.get("main.datev.lines").columns or []}
    assert columns["amount"] == "decimal(15,2)"


def test_ordered_merge_never_lets_an_older_batch_win(engine: WorkspaceEngine) -> None:
    table = spec()
    engine.ensure_table(table)
    # Within a batch the newest version of a key wins (later position at equal extraction time).
    first = batch(table, "new", [(1, "v1", "1.00"), (1, "v2", "2.00"), (2, "x", None)], extracted_at=LATER)
    assert _apply(engine, table, "new", first) == 2
    # A late batch extracted earlier, even with later positions, changes nothing ...
    late = batch(table, "late", [(1, "old", "9.99"), (3, "only-here", "3.00")], first_position=100)
    assert _apply(engine, table, "late", late) == 1  # only the new key 3 is inserted
    rows = by_id(engine.read_table(table.ref))
    assert rows[1]["label"] == "v2" and rows[1]["amount"] == decimal.Decimal("2.00")
    assert rows[2]["amount"] is None and rows[3]["label"] == "only-here"
    # ... and a newer one replaces the row.
    newer = batch(table, "newer", [(1, "v3", "3.00")], extracted_at=LATER + dt.timedelta(minutes=1))
    assert _apply(engine, table, "newer", newer) == 1
    assert by_id(engine.read_table(table.ref))[1]["label"] == "v3"
    # Re-running a merge (a lost answer retried by the SDK) converges to the same table.
    snapshot = engine.read_table(table.ref)
    again = staged_load(engine, table, "new", first)
    engine.execute(engine.statement_for(again))
    assert engine.read_table(table.ref).sort_by("id").equals(snapshot.sort_by("id"))


def test_statement_retried_after_a_lost_answer_does_not_duplicate(
    engine: WorkspaceEngine, emulator: RunningEmulator
) -> None:
    table = spec(keys=())
    engine.ensure_table(table)
    data = batch(table, "A1", [(1, "a", "1.00"), (2, "b", "2.00")])
    load = staged_load(engine, table, "A1", data, "append-only")
    emulator.control.reset_counters()
    # The COPY INTO runs, its answer is lost, the SDK sends it again: COPY INTO skips the file.
    emulator.control.drop_next(1, match="POST /api/2.0/sql/statements*")
    written = engine.apply(load)
    assert emulator.control.count("statements.execute") >= 2  # COPY INTO twice
    assert engine.read_table(table.ref).num_rows == 2
    # The second COPY INTO skipped the file this identity names: the first one appended its rows.
    assert written == Applied(2, 2, 0, 0, already=True)


def test_append_into_a_wider_table_casts_the_staged_columns(engine: WorkspaceEngine) -> None:
    # An earlier stream version made amount DECIMAL(38,10); this one declares DECIMAL(15,2) and its
    # Parquet file says so. COPY INTO enforces the table's types, so the target must cast.
    wide = spec(keys=())
    wide = TableSpec(
        wide.ref,
        tuple(
            Column(c.name, "DECIMAL(38,10)", pa.decimal128(38, 10)) if c.name == "amount" else c
            for c in wide.columns
        ),
        (),
    )
    engine.ensure_table(wide)
    narrow = spec(keys=())
    engine.ensure_table(narrow)  # holds: the table keeps its wider type
    data = batch(narrow, "W1", [(1, "a", "1.25"), (2, "b", None)])
    assert _apply(engine, narrow, "W1", data, "append-only") == 2
    rows = by_id(engine.read_table(narrow.ref))
    assert rows[1]["amount"] == decimal.Decimal("1.25") and rows[2]["amount"] is None
    columns = {c.name: c.type_text for c in engine.client.tables.get("main.datev.lines").columns or []}
    assert columns["amount"] == "decimal(38,10)"


def test_copy_into_twice_loads_once(engine: WorkspaceEngine) -> None:
    table = spec(keys=())
    engine.ensure_table(table)
    data = batch(table, "A1", [(1, "a", "1.00"), (1, "a", "1.00")])
    load = staged_load(engine, table, "A1", data, "append-only")
    assert engine.apply(load).rows == 2
    again = engine.apply(load)
    assert again == Applied(2, 2, 0, 0, already=True)  # COPY INTO skipped the file it loaded
    assert engine.read_table(table.ref).num_rows == 2
    # Once the ledger says committed to this table, `prior` tells the load not to stage again.
    assert not engine.prior(load).committed
    now = dt.datetime.now(dt.UTC)
    engine.ledger_append(
        [
            LedgerEntry(
                "A1",
                "lines",
                table.ref.full_name,
                "append-only",
                "committed",
                2,
                1,
                load.staged,
                None,
                now,
                table_id=load.table_id,
            )
        ]
    )
    assert engine.prior(load).committed
    # A different load id is a different file: loaded.
    assert _apply(engine, table, "A2", batch(table, "A2", [(3, "c", None)]), "append-only") == 1
    assert sorted(engine.read_table(table.ref).column("id").to_pylist()) == [1, 1, 3]


def test_upsert_without_keys_appends(engine: WorkspaceEngine) -> None:
    table = spec(keys=())
    engine.ensure_table(table)
    _apply(engine, table, "K1", batch(table, "K1", [(1, "a", None), (1, "a", None)]), "upsert")
    assert engine.read_table(table.ref).num_rows == 2


def test_overwrite_replaces_the_table(engine: WorkspaceEngine) -> None:
    table = spec()
    engine.ensure_table(table)
    _apply(engine, table, "O1", batch(table, "O1", [(1, "a", None), (2, "b", None)]))
    assert _apply(engine, table, "O2", batch(table, "O2", [(5, "z", "5.00")]), "overwrite") == 1
    assert engine.read_table(table.ref).column("id").to_pylist() == [5]
    # Applying the same overwrite again gives the same table.
    same = staged_load(engine, table, "O2", batch(table, "O2", [(5, "z", "5.00")]), "overwrite")
    engine.execute(engine.statement_for(same))
    assert engine.read_table(table.ref).column("id").to_pylist() == [5]


@pytest.mark.parametrize("hard_delete", [False, True])
def test_activate_version(engine: WorkspaceEngine, hard_delete: bool) -> None:
    table = spec()
    engine.ensure_table(table)
    _apply(engine, table, "V1", batch(table, "V1", [(1, "a", None), (2, "b", None)], version=1))
    _apply(
        engine,
        table,
        "V2",
        batch(table, "V2", [(2, "b2", None), (3, "c", None)], version=2, extracted_at=LATER),
    )
    engine.activate_version(table, 2, hard_delete=hard_delete)
    rows = by_id(engine.read_table(table.ref))
    if hard_delete:
        assert sorted(rows) == [2, 3]
    else:
        assert sorted(rows) == [1, 2, 3]
        assert rows[1]["_sdc_deleted_at"] is not None
        assert rows[2]["_sdc_deleted_at"] is None and rows[3]["_sdc_deleted_at"] is None
    engine.activate_version(spec("never_loaded"), 2, hard_delete=hard_delete)  # no table: nothing to do


def test_ledger_rows_and_current_view(engine: WorkspaceEngine) -> None:
    assert engine.ledger_read() == []
    t1 = dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)
    t2, t3 = t1 + dt.timedelta(seconds=1), t1 + dt.timedelta(seconds=2)
    entries = [
        LedgerEntry("L1", "lines", "main.datev.lines", "upsert", "staged", 2, 1, "/Volumes/x", None, t1, t1),
        LedgerEntry(
            "L1",
            "lines",
            "main.datev.lines",
            "upsert",
            "failed",
            2,
            1,
            "/Volumes/x",
            "it's \\ broken",
            t2,
            t1,
            1000,
        ),
        LedgerEntry("L2", "lines", "main.datev.lines", "append-only", "staged", 1, 1, None, None, t2),
    ]
    engine.ledger_append(entries[:1])
    engine.ledger_append(entries[1:])
    engine.ledger_append(
        [
            LedgerEntry(
                "L1", "lines", "main.datev.lines", "upsert", "committed", 2, 2, "/Volumes/x", None, t3, t3, 5
            )
        ]
    )
    read = engine.ledger_read()
    assert read[:3] == entries[:1] + sorted(entries[1:], key=lambda e: e.load_id)
    assert read[3].status == "committed" and read[3].attempt == 2
    view = "main.datev._ml_connector_loads_current"
    current = engine.execute(f"SELECT load_id, status, attempt FROM {view} ORDER BY load_id")
    assert current.rows == [["L1", "committed", "2"], ["L2", "staged", "1"]]
    # A stale writer records `staged` after the commit: the load stays committed, as in audit.
    stale = LedgerEntry("L1", "lines", "main.datev.lines", "upsert", "staged", 2, 2, "/Volumes/x", None, t3)
    engine.ledger_append([stale])
    again = engine.execute(f"SELECT status FROM {view} WHERE load_id = 'L1'")
    assert again.rows == [["committed"]]
    assert audit.current_loads(engine.ledger_read())["L1"].status == "committed"


def test_stage_read_back_and_unstage(engine: WorkspaceEngine) -> None:
    table = spec()
    data = batch(table, "S1", [(1, "a", "1.25")]).replace_schema_metadata({b"ml_connector.stream": b"lines"})
    engine.ensure_table(table)
    staged = staged_load(engine, table, "S1", data).staged
    table_id = engine.table_id(table.ref)
    # Named by the identity: load id, the table's Unity Catalog table_id, attempt.
    assert staged == f"/Volumes/main/datev/_ml_connector_staging/loads/S1-{table_id}-1.parquet"
    back = engine.read_staged(staged)
    assert back.equals(data) and back.schema.metadata == {b"ml_connector.stream": b"lines"}
    engine.unstage(staged)
    engine.unstage(staged)  # idempotent
    with pytest.raises(FileNotFoundError):
        engine.read_staged(staged)


def test_maintain(engine: WorkspaceEngine) -> None:
    table = spec()
    engine.ensure_table(table)
    lines = engine.maintain([table.ref], vacuum_retention_hours=200)
    assert lines == ["OPTIMIZE main.datev.lines", "VACUUM main.datev.lines RETAIN 200 HOURS"]
    assert engine.ledger_read() == []  # reading makes no ledger: nothing more to maintain
    assert len(engine.maintain([table.ref], vacuum_retention_hours=200)) == 2
    entry = LedgerEntry(
        "M1", "lines", "main.datev.lines", "upsert", "staged", 1, 1, "/Volumes/m", None, T0, T0
    )
    engine.ledger_append([entry])  # the first row makes the ledger: maintained as well from now on
    assert engine.maintain([table.ref], vacuum_retention_hours=200)[2:] == [
        "OPTIMIZE main.datev._ml_connector_loads",
        "VACUUM main.datev._ml_connector_loads RETAIN 200 HOURS",
    ]
    assert engine.maintain([table.ref], vacuum_retention_hours=0)[0].startswith("vacuum retention raised")


def test_narrower_stream_type_loads_into_the_wider_column(engine: WorkspaceEngine) -> None:
    wide = spec("money", Column("total", "DECIMAL(38,10)", pa.decimal128(38, 10)))
    engine.ensure_table(wide)
    narrow = spec("money", Column("total", "DECIMAL(15,2)", pa.decimal128(15, 2)))
    engine.ensure_table(narrow)  # DECIMAL(15,2) fits DECIMAL(38,10): no SchemaChangeError
    data = batch(narrow, "W1", [(1, "a", "1.25")]).set_column(
        3, "total", pa.array([decimal.Decimal("12.34")], pa.decimal128(15, 2))
    )
    assert _apply(engine, narrow, "W1", data) == 1
    rows = by_id(engine.read_table(narrow.ref))
    assert rows[1]["total"] == decimal.Decimal("12.34")
    columns = {c.name: c.type_text for c in engine.client.tables.get("main.datev.money").columns or []}
    assert columns["total"] == "decimal(38,10)"  # the table keeps its type


def test_throttled_and_unavailable_answers_are_retried(
    engine: WorkspaceEngine, emulator: RunningEmulator
) -> None:
    table = spec()
    engine.ensure_table(table)
    emulator.control.fail_next(1, status=429, match="POST /api/2.0/sql/statements*", retry_after=0)
    emulator.control.fail_next(1, status=503, match="PUT /api/2.0/fs/files/*", retry_after=0)
    assert _apply(engine, table, "R1", batch(table, "R1", [(1, "a", None)])) == 1
    statuses = {r.status for r in emulator.control.requests}
    assert {429, 503} <= statuses
    assert engine.read_table(table.ref).num_rows == 1


def test_statement_timeout_cancels(emulator: RunningEmulator) -> None:
    eng = WorkspaceEngine(settings(emulator, statement_timeout_seconds=0.3))
    eng.preflight()
    emulator.control.warehouse_start_polls = 10**9
    emulator.control.set_warehouse_state("STOPPED")  # statements now wait in PENDING
    with pytest.raises(StatementFailedError, match=r"did not finish within 0.3 s .*cancelled"):
        eng.execute("SELECT 1")
    assert emulator.control.count("statements.cancel") == 1


def test_a_ledger_another_writer_made_meanwhile_gets_the_rows(
    emulator: RunningEmulator, engine: WorkspaceEngine
) -> None:
    # Both writers find no ledger; the other one makes it first (with its row and the view).
    assert engine.ledger_read() == []
    other = WorkspaceEngine(settings(emulator))
    first = LedgerEntry(
        "L1", "lines", "main.datev.lines", "upsert", "staged", 2, 1, "/Volumes/a", None, T0, T0
    )
    other.ledger_append([first])
    mine = LedgerEntry(
        "L2", "lines", "main.datev.lines", "upsert", "staged", 3, 1, "/Volumes/b", None, T0, T0
    )
    engine.ledger_append([mine])  # its CREATE fails (the table exists): the row is appended instead
    assert sorted(WorkspaceEngine(settings(emulator)).ledger_read(), key=lambda e: e.load_id) == [first, mine]
    view = "main.datev._ml_connector_loads_current"
    assert engine.execute(f"SELECT load_id FROM {view} ORDER BY load_id").rows == [["L1"], ["L2"]]
