"""When the workspace engine makes a table: at its first load, with every column the run's SCHEMAs
declared for it (a schema change before that load is one CREATE TABLE, no ALTER), or at run end
for an empty stream. An incompatible change still fails at its SCHEMA, before any record of it is
read and before any DDL. What lands is read back from the emulator (columns, types, values)."""

from __future__ import annotations

import dataclasses
import typing as t

import pytest
from target_testlib import record_msg, run, schema_msg, state_msg
from workspace_testlib import batch, settings, spec

from databricks_emulator.server import RunningEmulator
from target_databricks import schema as sch
from target_databricks.engines.base import Load, SchemaChangeError, TableRef
from target_databricks.engines.workspace import WorkspaceEngine
from target_databricks.loads import run_load

REF = TableRef("main", "datev", "items")
PROPS: dict[str, t.Any] = {"id": {"type": "integer"}, "n": {"type": ["integer", "null"]}}


def _ddl(emulator: RunningEmulator) -> list[str]:
    """The first two words of each CREATE / ALTER statement on `items` since the last reset."""
    return [
        " ".join(text.split()[:2])
        for text in emulator.control.sql_statements()
        if text.startswith(("CREATE", "ALTER")) and "`items`" in text
    ]


def _column_types(cfg: dict[str, t.Any]) -> dict[str, str]:
    info = WorkspaceEngine(cfg).client.tables.get(REF.full_name)
    return {c.name or "": sch.normalize_type(c.type_text or "") for c in info.columns or []}


def test_schema_change_before_the_first_load_is_one_create_with_every_column(
    emulator: RunningEmulator,
) -> None:
    cfg = settings(emulator)
    emulator.control.reset_counters()
    # The second SCHEMA adds `note` and declares `n` a string; both sinks drain at run end.
    changed = {**PROPS, "n": {"type": ["string", "null"]}, "note": {"type": ["string", "null"]}}
    run(
        cfg,
        [
            schema_msg("items", PROPS, ["id"]),
            record_msg("items", {"id": 1, "n": 10}),
            schema_msg("items", changed, ["id"]),
            record_msg("items", {"id": 2, "n": "twenty", "note": "x"}),
            state_msg({"bookmarks": {"items": 2}}),
        ],
    )
    assert _ddl(emulator) == ["CREATE TABLE"]
    types = _column_types(cfg)
    assert (types["id"], types["n"], types["note"]) == ("BIGINT", "STRING", "STRING")
    rows = {r["id"]: r for r in WorkspaceEngine(cfg).read_table(REF).to_pylist()}
    assert {k: (r["n"], r["note"]) for k, r in rows.items()} == {1: ("10", None), 2: ("twenty", "x")}


def test_an_empty_stream_is_an_empty_table_made_at_run_end(emulator: RunningEmulator) -> None:
    cfg = settings(emulator)
    emulator.control.reset_counters()
    run(cfg, [schema_msg("items", PROPS, ["id"]), state_msg({"bookmarks": {"items": 0}})])
    assert len(emulator.control.sql_statements()) == 1  # its CREATE TABLE; no loads, no ledger
    assert _ddl(emulator) == ["CREATE TABLE"]
    assert (_column_types(cfg)["id"], _column_types(cfg)["n"]) == ("BIGINT", "BIGINT")
    assert WorkspaceEngine(cfg).read_table(REF).num_rows == 0


def test_incompatible_change_before_the_first_load_fails_before_any_ddl(emulator: RunningEmulator) -> None:
    cfg = settings(emulator)
    flag = {"id": {"type": "integer"}, "flag": {"type": "boolean"}}
    emulator.control.reset_counters()
    with pytest.raises(SchemaChangeError) as info:
        run(
            cfg,
            [
                schema_msg("items", flag, ["id"]),
                record_msg("items", {"id": 1, "flag": True}),
                schema_msg("items", {**flag, "flag": {"type": "integer"}}, ["id"]),
                record_msg("items", {"id": 2, "flag": 5}),
            ],
        )
    assert "flag: table has BOOLEAN, stream declares BIGINT" in str(info.value)
    assert emulator.control.sql_statements() == []  # nothing created, nothing loaded
    assert not WorkspaceEngine(cfg).client.tables.exists(REF.full_name).table_exists


def test_a_table_another_writer_made_after_the_schema_has_its_ledger_read(emulator: RunningEmulator) -> None:
    table = spec()
    mine = WorkspaceEngine(settings(emulator))
    mine.preflight()
    assert mine.declare_table(table) is False  # missing now: made at the first load
    other = WorkspaceEngine(settings(emulator))
    other.ensure_table(table)  # meanwhile another writer makes the table and commits a load
    data = batch(table, "L1", [(1, "a", "1.00")])
    load = Load("L1", "lines", table, "upsert", data.num_rows, staged="")
    assert run_load(other, load, data) is not None
    mine.ensure_table(table)  # finds it made: its ledger rows count
    assert mine.prior(dataclasses.replace(load, table_id=mine.table_id(table.ref))).committed
