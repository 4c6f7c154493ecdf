"""Helpers for the workspace engine tests: emulator settings, table specs, staged batches."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import typing as t

import pyarrow as pa

from databricks_emulator.auth import PERSONAL_ACCESS_TOKEN as PAT
from databricks_emulator.auth import SERVICE_PRINCIPAL_ID as SP_ID
from databricks_emulator.auth import SERVICE_PRINCIPAL_SECRET as SP_SECRET
from databricks_emulator.server import RunningEmulator
from databricks_emulator.warehouses import DEFAULT_WAREHOUSE_ID
from target_databricks.engines.base import Column, Engine, Load, LoadMethod, TableRef, TableSpec

__all__ = ["PAT", "SP_ID", "SP_SECRET", "T0", "TS", "batch", "by_id", "settings", "spec", "staged_load"]
TS = pa.timestamp("us", tz="UTC")
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def settings(emu: RunningEmulator, **overrides: t.Any) -> dict[str, t.Any]:
    base: dict[str, t.Any] = {
        "engine": "workspace",
        "host": emu.url,
        "auth_type": "oauth-m2m",
        "client_id": SP_ID,
        "client_secret": SP_SECRET,
        "http_path": f"/sql/1.0/warehouses/{DEFAULT_WAREHOUSE_ID}",
        "catalog": "main",
        "schema": "datev",
        # Keep waits short against a local server (the defaults suit a real workspace).
        "poll_interval_seconds": 0.05,
        "retry_timeout_seconds": 30,
    }
    return {**base, **overrides}


def spec(name: str = "lines", *extra: Column, keys: tuple[str, ...] = ("id",)) -> TableSpec:
    """A table as the sink declares it: data columns plus the target's bookkeeping columns."""
    columns = (
        Column("id", "BIGINT", pa.int64()),
        Column("label", "STRING", pa.string()),
        Column("amount", "DECIMAL(15,2)", pa.decimal128(15, 2)),
        *extra,
        Column("_sdc_extracted_at", "TIMESTAMP", TS),
        Column("_sdc_received_at", "TIMESTAMP", TS),
        Column("_sdc_table_version", "BIGINT", pa.int64()),
        Column("_sdc_deleted_at", "TIMESTAMP", TS),
        Column("_ml_position", "BIGINT", pa.int64()),
        Column("_ml_load_id", "STRING", pa.string()),
    )
    return TableSpec(TableRef("main", "datev", name), columns, keys)


def batch(
    table: TableSpec,
    load_id: str,
    rows: t.Sequence[tuple[int, str, str | None]],
    *,
    extracted_at: dt.datetime | None = T0,
    first_position: int = 1,
    version: int | None = None,
) -> pa.Table:
    """Rows (id, label, amount) as the sink stages them."""
    received = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    records = [
        {
            "id": key,
            "label": label,
            "amount": None if amount is None else decimal.Decimal(amount),
            "_sdc_extracted_at": extracted_at,
            "_sdc_received_at": received,
            "_sdc_table_version": version,
            "_sdc_deleted_at": None,
            "_ml_position": first_position + i,
            "_ml_load_id": load_id,
        }
        for i, (key, label, amount) in enumerate(rows)
    ]
    return pa.Table.from_pylist(records, schema=table.arrow_schema())


def by_id(table: pa.Table) -> dict[int, dict[str, t.Any]]:
    return {row["id"]: row for row in table.to_pylist()}


def staged_load(
    eng: Engine,
    table: TableSpec,
    load_id: str,
    data: pa.Table,
    method: LoadMethod = "upsert",
    *,
    attempt: int = 1,
) -> Load:
    """`data` staged as the load of `load_id` into the table as it exists now (its table id)."""
    load = Load(load_id, table.ref.name, table, method, data.num_rows, "", attempt, eng.table_id(table.ref))
    return dataclasses.replace(load, staged=eng.stage(load, data))
