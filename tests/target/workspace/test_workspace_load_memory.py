"""A load's Arrow tables are freed when the load returns, not at the cycle collector's next run: an
error the workspace engine catches and handles on the way (NotFound for a ledger or table not made
yet) must not keep the load's frames, and with them its tables, in a reference cycle."""

from __future__ import annotations

import gc
import io
import json
import typing as t
import weakref

import pyarrow as pa
import pytest
from workspace_testlib import batch, settings, spec

from databricks_emulator.server import RunningEmulator
from target_databricks.engines.base import Load
from target_databricks.engines.workspace import WorkspaceEngine
from target_databricks.loads import run_load
from target_databricks.target import TargetDatabricks


@pytest.fixture
def no_collection() -> t.Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("no_collection")
def test_the_first_load_into_a_fresh_schema_leaves_no_table_behind(engine: WorkspaceEngine) -> None:
    table = spec()
    engine.ensure_table(table)  # the ledger is not made yet: the load's ledger lookup finds nothing
    data = batch(table, "L1", [(i, f"label {i}", "1.50") for i in range(2_000)])
    alive = weakref.ref(data)
    run_load(engine, Load("L1", "lines", table, "upsert", data.num_rows, staged=""), data)
    del data
    assert alive() is None
    assert engine.read_table(table.ref).num_rows == 2_000


@pytest.mark.usefixtures("no_collection")
def test_a_run_hands_back_every_arrow_byte_it_allocated(emulator: RunningEmulator) -> None:
    properties = {"id": {"type": "integer"}, "text": {"type": ["string", "null"]}}
    lines = [{"type": "SCHEMA", "stream": "s", "schema": {"type": "object", "properties": properties}}]
    lines[0]["key_properties"] = ["id"]
    lines += [{"type": "RECORD", "stream": "s", "record": {"id": i, "text": "x" * 40}} for i in range(3_000)]
    target = TargetDatabricks(config={**settings(emulator), "batch_size_rows": 1_000})
    before = pa.total_allocated_bytes()
    target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in lines)))
    assert pa.total_allocated_bytes() == before
    rows = WorkspaceEngine(settings(emulator)).read_table(spec("s").ref)
    assert sorted(rows.column("id").to_pylist()) == list(range(3_000))
