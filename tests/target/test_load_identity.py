"""Issue 7 on the local engine: a load's dedupe identity is (table id, load id, attempt), so the same
input lands in every table it is loaded into, again after a table is dropped, exactly once after
the ledger is wiped or when two processes load it at once; one INFO line reports each load."""

from __future__ import annotations

import json
import logging
import re
import shutil
import typing as t
from pathlib import Path

import pytest
from load_identity_testlib import (
    assert_all_committed,
    assert_loaded,
    current,
    messages,
    run_together,
)
from target_testlib import config, engine, lines, read, run

from target_databricks.engines.base import LEDGER_TABLE, TableRef


def _reader(cfg: dict[str, t.Any]) -> t.Callable[[str], t.Any]:
    return lambda table: read(cfg, table)


def _table_ids(cfg: dict[str, t.Any]) -> set[str]:
    eng = engine(cfg)
    return {eng.table_id(TableRef("main", cfg["schema"], name)) for name in ("lines", "events")}


def test_same_input_into_two_schemas_lands_in_both(tmp_path: Path) -> None:
    msgs = messages()
    dev, prod = (config(tmp_path, schema=s, batch_size_rows=40) for s in ("dev", "prod"))
    run(dev, msgs)
    run(prod, msgs)
    for cfg in (dev, prod):
        assert_loaded(_reader(cfg), msgs)
        assert_all_committed(engine(cfg), _table_ids(cfg))


def test_dropped_and_recreated_tables_get_the_rows_back(tmp_path: Path) -> None:
    msgs = messages()
    cfg = config(tmp_path, batch_size_rows=40)
    run(cfg, msgs)
    before = _table_ids(cfg)
    for name in ("lines", "events"):  # DROP TABLE: the Delta table is gone, the ledger stays
        shutil.rmtree(engine(cfg).table_path(TableRef("main", "datev", name)))
    run(cfg, msgs)
    assert_loaded(_reader(cfg), msgs)
    after = _table_ids(cfg)
    assert not before & after  # new tables, new ids
    assert_all_committed(engine(cfg), after)


def test_wiped_ledger_then_the_same_input_loads_nothing_twice(tmp_path: Path) -> None:
    msgs = messages()
    cfg = config(tmp_path, batch_size_rows=40)
    run(cfg, msgs)
    first = current(engine(cfg))
    shutil.rmtree(engine(cfg).table_path(TableRef("main", "datev", LEDGER_TABLE)))
    run(cfg, msgs)
    assert_loaded(_reader(cfg), msgs)
    # The loads were found applied (the tables' own logs) and recorded with that commit's counts.
    again = current(engine(cfg))
    assert {e.status for e in again.values()} == {"committed"}
    assert {k: e.rows for k, e in again.items()} == {k: e.rows for k, e in first.items()}


@pytest.mark.slow
def test_two_processes_loading_one_stream_at_once(tmp_path: Path) -> None:
    msgs = messages()
    cfg = config(tmp_path, batch_size_rows=10)  # many small loads: the two runs overlap
    cfg_path, input_path = tmp_path / "config.json", tmp_path / "input.singer"
    cfg_path.write_text(json.dumps(cfg))
    input_path.write_text(lines(msgs))
    for code, err in run_together(cfg_path, input_path):
        assert code == 0, err[-2000:]
    assert_loaded(_reader(cfg), msgs)  # none lost, none twice
    assert_all_committed(engine(cfg), _table_ids(cfg))
    assert not list((Path(cfg["local_path"]) / "_staging").rglob("*.parquet"))


_LOADED = re.compile(
    r"Loaded stream (?P<stream>\w+) into main\.datev\.(?P<table>\w+): (?P<inserted>\d+) inserted, "
    r"(?P<updated>\d+) updated, (?P<deleted>\d+) deleted in \d+\.\d\d s \(load \w+, attempt 1\)"
)


def test_one_info_line_per_load(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    msgs = messages()
    cfg = config(tmp_path, batch_size_rows=40)
    with caplog.at_level(logging.INFO, logger="target_databricks.loads"):
        run(cfg, msgs)
    lines_ = [r.getMessage() for r in caplog.records if r.name == "target_databricks.loads"]
    matches = [_LOADED.fullmatch(line) for line in lines_]
    assert all(matches), lines_
    assert len(matches) == len(current(engine(cfg)))  # one line per load
    totals: dict[str, list[int]] = {"lines": [0, 0, 0], "events": [0, 0, 0]}
    for m in t.cast("list[re.Match[str]]", matches):
        assert m["stream"] == m["table"]
        for i, key in enumerate(("inserted", "updated", "deleted")):
            totals[m["table"]][i] += int(m[key])
    per_key = {r["id"] for r in read(cfg, "lines").to_pylist()}
    assert totals["lines"][0] == len(per_key)  # each key inserted once, later versions updated
    assert totals["lines"][1] > 0 and totals["lines"][2] == 0
    assert totals["events"] == [read(cfg, "events").num_rows, 0, 0]
    # A rerun of the same input: one line per load, saying it was committed before.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="target_databricks.loads"):
        run(cfg, msgs)
    skipped = [r.getMessage() for r in caplog.records if r.name == "target_databricks.loads"]
    assert len(skipped) == len(matches)
    assert all(" was committed to this table before" in line for line in skipped)


def test_a_ledger_from_before_table_ids_gains_the_column(tmp_path: Path) -> None:
    from deltalake import write_deltalake

    from target_databricks import audit

    cfg = config(tmp_path, batch_size_rows=40)
    eng = engine(cfg)
    old_schema = audit.LEDGER_SCHEMA.remove(audit.LEDGER_SCHEMA.get_field_index("table_id"))
    path = eng.table_path(TableRef("main", "datev", LEDGER_TABLE))
    path.parent.mkdir(parents=True)
    write_deltalake(str(path), old_schema.empty_table())
    msgs = messages()
    run(cfg, msgs)
    assert_loaded(_reader(cfg), msgs)
    assert_all_committed(engine(cfg), _table_ids(cfg))
