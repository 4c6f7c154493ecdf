"""Opt-in: the workspace engine against a real Databricks workspace.

Runs only when DATABRICKS_HOST, DATABRICKS_WAREHOUSE_ID and credentials the SDK can use
(DATABRICKS_TOKEN, or DATABRICKS_CLIENT_ID + DATABRICKS_CLIENT_SECRET) are set. It works in a fresh
schema `ml_connector_live_<random>` of ML_CONNECTOR_LIVE_CATALOG (default `main`) and drops it after.
"""

from __future__ import annotations

import datetime as dt
import os
import typing as t
import uuid

import pyarrow as pa
import pytest
from workspace_testlib import T0, batch, by_id, spec, staged_load

from target_databricks.engines.base import Column, TableRef, TableSpec
from target_databricks.engines.workspace import WorkspaceEngine

pytestmark = pytest.mark.live

_HAS_CREDENTIALS = bool(os.environ.get("DATABRICKS_TOKEN")) or bool(
    os.environ.get("DATABRICKS_CLIENT_ID") and os.environ.get("DATABRICKS_CLIENT_SECRET")
)
if not (os.environ.get("DATABRICKS_HOST") and os.environ.get("DATABRICKS_WAREHOUSE_ID") and _HAS_CREDENTIALS):
    pytest.skip(
        "live Databricks test: set DATABRICKS_HOST, DATABRICKS_WAREHOUSE_ID and a token or client id/secret",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def live() -> t.Iterator[WorkspaceEngine]:
    catalog = os.environ.get("ML_CONNECTOR_LIVE_CATALOG", "main")
    schema = f"ml_connector_live_{uuid.uuid4().hex[:8]}"
    # Host, credentials and auth type come from the SDK's own environment variables.
    eng = WorkspaceEngine(
        {"catalog": catalog, "schema": schema, "warehouse_id": os.environ["DATABRICKS_WAREHOUSE_ID"]}
    )
    eng.preflight()
    yield eng
    eng.execute(f"DROP SCHEMA IF EXISTS `{catalog}`.`{schema}` CASCADE")


def _live_spec(eng: WorkspaceEngine, keys: tuple[str, ...] = ("id",)) -> TableSpec:
    base = spec("lines", keys=keys)
    return TableSpec(TableRef(eng.catalog, eng.schema, "lines" if keys else "events"), base.columns, keys)


def test_ordered_merge_and_copy_into_on_databricks(live: WorkspaceEngine) -> None:
    table = _live_spec(live)
    live.ensure_table(table)
    newer = batch(
        table, "N", [(1, "new", "2.00"), (1, "newest", "3.00")], extracted_at=T0 + dt.timedelta(hours=1)
    )
    live.apply(staged_load(live, table, "N", newer))
    older = batch(table, "O", [(1, "old", "1.00"), (2, "two", None)], first_position=10)
    live.apply(staged_load(live, table, "O", older))
    rows = by_id(live.read_table(table.ref))
    assert rows[1]["label"] == "newest" and rows[2]["label"] == "two"

    events = _live_spec(live, keys=())
    live.ensure_table(events)
    load = staged_load(live, events, "E", batch(events, "E", [(1, "a", None), (2, "b", None)]), "append-only")
    live.apply(load)
    assert live.apply(load).already  # COPY INTO skipped the file this identity names
    assert live.read_table(events.ref).num_rows == 2
    live.unstage(load.staged)


def test_append_into_a_wider_column_on_databricks(live: WorkspaceEngine) -> None:
    # The staged Parquet says DECIMAL(15,2); the table (made by an earlier stream version) has
    # DECIMAL(38,10). COPY INTO selects with CASTs, so Databricks' schema enforcement accepts it.
    narrow = _live_spec(live, keys=())
    wide = TableSpec(
        TableRef(live.catalog, live.schema, "wide_events"),
        tuple(
            Column(c.name, "DECIMAL(38,10)", pa.decimal128(38, 10)) if c.name == "amount" else c
            for c in narrow.columns
        ),
        (),
    )
    live.ensure_table(wide)
    narrow = TableSpec(wide.ref, narrow.columns, ())
    live.ensure_table(narrow)
    load = staged_load(live, narrow, "W", batch(narrow, "W", [(1, "a", "1.25")]), "append-only")
    live.apply(load)
    assert str(by_id(live.read_table(narrow.ref))[1]["amount"]).startswith("1.25")
    live.unstage(load.staged)
