"""Issue 7 against the Databricks emulator, for `load_via: statements` and `jobs`: the same input
into two schemas lands in both, a dropped and recreated table gets its rows back, a wiped ledger
loads nothing twice, two processes at once lose and duplicate nothing."""

from __future__ import annotations

import json
import logging
import typing as t
from pathlib import Path

import pytest
from load_identity_testlib import assert_all_committed, assert_loaded, current, messages, run_together
from target_testlib import lines, run
from workspace_testlib import settings

from databricks_emulator.server import RunningEmulator
from target_databricks.engines import workspace_sql as sql
from target_databricks.engines.base import LEDGER_COLUMNS, TableRef
from target_databricks.engines.workspace import WorkspaceEngine

LOAD_VIA = pytest.mark.parametrize("load_via", ["statements", "jobs"])


def _engine(emulator: RunningEmulator, **overrides: t.Any) -> WorkspaceEngine:
    return WorkspaceEngine(settings(emulator, **overrides))


def _reader(eng: WorkspaceEngine) -> t.Callable[[str], t.Any]:
    return lambda table: eng.read_table(TableRef("main", eng.schema, table))


def _table_ids(eng: WorkspaceEngine) -> set[str]:
    return {eng.table_id(TableRef("main", eng.schema, name)) for name in ("lines", "events")}


@LOAD_VIA
def test_same_input_into_two_schemas_lands_in_both(emulator: RunningEmulator, load_via: str) -> None:
    msgs = messages()
    for schema in ("dev", "prod"):
        run(settings(emulator, schema=schema, load_via=load_via, batch_size_rows=40), msgs)
    for schema in ("dev", "prod"):
        eng = _engine(emulator, schema=schema)
        assert_loaded(_reader(eng), msgs)
        assert_all_committed(eng, _table_ids(eng))
    # Nothing is left staged in either schema's volume.
    for schema in ("dev", "prod"):
        folder = sql.volume_path("main", schema, "_ml_connector_staging", "loads")
        assert list(_engine(emulator).client.files.list_directory_contents(folder)) == []


@LOAD_VIA
def test_dropped_and_recreated_tables_get_the_rows_back(emulator: RunningEmulator, load_via: str) -> None:
    msgs = messages()
    cfg = settings(emulator, load_via=load_via, batch_size_rows=40)
    run(cfg, msgs)
    eng = _engine(emulator)
    before = _table_ids(eng)
    eng.execute("DROP TABLE main.datev.lines")
    eng.execute("DROP TABLE main.datev.events")
    run(cfg, msgs)
    assert_loaded(_reader(eng), msgs)
    after = _table_ids(eng)
    assert not before & after
    assert_all_committed(eng, after)


@LOAD_VIA
def test_wiped_ledger_then_the_same_input_loads_nothing_twice(
    emulator: RunningEmulator, load_via: str
) -> None:
    msgs = messages()
    cfg = settings(emulator, load_via=load_via, batch_size_rows=40)
    run(cfg, msgs)
    eng = _engine(emulator)
    first = current(eng)
    eng.execute("DROP TABLE main.datev._ml_connector_loads")
    run(cfg, msgs)
    assert_loaded(_reader(eng), msgs)
    again = current(_engine(emulator))
    assert {e.status for e in again.values()} == {"committed"}
    assert set(again) == set(first)


@pytest.mark.slow
@LOAD_VIA
def test_two_processes_loading_one_stream_at_once(
    emulator: RunningEmulator, tmp_path: Path, load_via: str
) -> None:
    msgs = messages()
    cfg_path, input_path = tmp_path / "config.json", tmp_path / "input.singer"
    cfg_path.write_text(json.dumps(settings(emulator, load_via=load_via, batch_size_rows=20)))
    input_path.write_text(lines(msgs))
    for code, err in run_together(cfg_path, input_path):
        assert code == 0, err[-2000:]
    eng = _engine(emulator)
    assert_loaded(_reader(eng), msgs)  # none lost, none twice
    assert_all_committed(eng, _table_ids(eng))


@LOAD_VIA
def test_one_info_line_per_load(
    emulator: RunningEmulator, load_via: str, caplog: pytest.LogCaptureFixture
) -> None:
    msgs = messages()
    with caplog.at_level(logging.INFO, logger="target_databricks.loads"):
        run(settings(emulator, load_via=load_via, batch_size_rows=40), msgs)
    found = [r.getMessage() for r in caplog.records if r.name == "target_databricks.loads"]
    assert len(found) == len(current(_engine(emulator)))
    assert all(line.startswith("Loaded stream ") for line in found)
    events = [line for line in found if line.startswith("Loaded stream events into main.datev.events: ")]
    if load_via == "statements":  # the result manifest has the counts
        assert sum(int(line.split(": ")[1].split(" inserted")[0]) for line in events) == 50
        assert all(" 0 updated, 0 deleted in " in line for line in events)
    else:  # a Jobs run reports no counts: the load's rows, and that the split is not known
        assert sum(int(line.split(": ")[1].split(" rows")[0]) for line in events) == 50
        assert all("split into inserted/updated/deleted is not known" in line for line in events)


@LOAD_VIA
def test_a_rerun_of_committed_loads_stages_and_runs_nothing(emulator: RunningEmulator, load_via: str) -> None:
    msgs = messages()
    cfg = settings(emulator, load_via=load_via, batch_size_rows=40)
    run(cfg, msgs)
    loads = current(_engine(emulator))
    emulator.control.reset_counters()
    run(cfg, msgs)
    # Each load was found committed to its table in the ledger: no upload, no statement, no run.
    assert emulator.control.count("files.put") == 0
    assert emulator.control.count("jobs.submit") == 0
    entries = _engine(emulator).ledger_read()
    assert sorted(e.load_id for e in entries if e.status == "skipped") == sorted(loads)
    assert {e.status for e in current(_engine(emulator)).values()} == {"committed"}
    assert_loaded(_reader(_engine(emulator)), msgs)


def test_a_ledger_from_before_table_ids_gains_the_column(emulator: RunningEmulator) -> None:
    eng = _engine(emulator)
    eng.preflight()
    columns = ", ".join(f"`{name}` {sql_type}" for name, sql_type in LEDGER_COLUMNS if name != "table_id")
    eng.execute(f"CREATE TABLE main.datev._ml_connector_loads ({columns}) USING DELTA")
    msgs = messages()
    run(settings(emulator, batch_size_rows=40), msgs)
    assert_loaded(_reader(eng), msgs)
    assert_all_committed(_engine(emulator), _table_ids(eng))
