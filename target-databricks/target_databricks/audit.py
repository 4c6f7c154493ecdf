"""Load ids (the one place that decides them), ledger rows, and the current state of each load."""

from __future__ import annotations

import datetime as dt
import hashlib
import typing as t

import pyarrow as pa
import pyarrow.parquet as pq

from target_databricks import schema as sch
from target_databricks.engines.base import LEDGER_COLUMNS, LedgerEntry, Load, LoadStatus

# Set by the target, not the tap: never part of a load id (a re-fed batch must get the same id).
VOLATILE_COLUMNS = frozenset({sch.RECEIVED_AT, sch.BATCHED_AT, sch.SEQUENCE, sch.LOAD_ID})

MAX_ERROR_CHARS = 2000


def load_id(stream: str, data: pa.Table, *, salt: str = "") -> str:
    """sha256 over the stream name and the batch's rows, including each RECORD's time_extracted and
    input position, so a re-fed batch gets the same id and a new batch with equal values does not.

    The rows are hashed as an uncompressed in-memory Parquet file: unlike Arrow IPC buffers, Parquet
    encodes only valid values, so the bytes depend on the data alone, not on how arrays were built.
    `salt` makes ids run-specific where re-application must not be skipped (load_method overwrite).
    """
    stable = data.select([c for c in data.column_names if c not in VOLATILE_COLUMNS])
    stable = stable.replace_schema_metadata(None)
    buffer = pa.BufferOutputStream()
    pq.write_table(
        stable,
        buffer,
        compression="none",
        use_dictionary=False,
        write_statistics=False,
        store_schema=False,
        row_group_size=max(1, stable.num_rows),
    )
    digest = hashlib.sha256()
    for part in (stream, salt):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(buffer.getvalue())
    return digest.hexdigest()[:40]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def entry(
    load: Load,
    status: LoadStatus,
    *,
    started_at: dt.datetime | None = None,
    error: BaseException | str | None = None,
    rows: int | None = None,
) -> LedgerEntry:
    """One ledger row for a status change of `load`."""
    now = _now()
    message = None
    if error is not None:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        message = text[:MAX_ERROR_CHARS]
    return LedgerEntry(
        load_id=load.load_id,
        stream=load.stream,
        table=load.table.ref.full_name,
        method=load.method,
        status=status,
        rows=load.rows if rows is None else rows,
        attempt=load.attempt,
        staged_file=load.staged,
        error=message,
        recorded_at=now,
        started_at=started_at,
        duration_ms=None if started_at is None else int((now - started_at).total_seconds() * 1000),
    )


def current_loads(entries: t.Iterable[LedgerEntry]) -> dict[str, LedgerEntry]:
    """load_id → its latest ledger row (the `_ml_connector_loads_current` view, computed locally).

    Later attempts win; within an attempt the later row. A load once committed stays committed even
    if a stale concurrent writer records `staged` after it.
    """
    current: dict[str, LedgerEntry] = {}
    rank = {"staged": 0, "failed": 1, "skipped": 2, "committed": 2}
    for item in sorted(entries, key=lambda e: (e.attempt, e.recorded_at, rank[e.status])):
        previous = current.get(item.load_id)
        if previous is not None and previous.status in ("committed", "skipped") and item.status == "staged":
            continue
        current[item.load_id] = item
    return current


def needs_replay(entry: LedgerEntry) -> bool:
    """Failed, or staged but never committed (the process died in between)."""
    return entry.status in ("failed", "staged") and bool(entry.staged_file)


_LEDGER_ARROW_TYPES = {"STRING": pa.string(), "BIGINT": pa.int64(), "TIMESTAMP": sch.TIMESTAMP_TYPE}
LEDGER_SCHEMA = pa.schema([(name, _LEDGER_ARROW_TYPES[sql_type]) for name, sql_type in LEDGER_COLUMNS])


def entries_to_arrow(entries: t.Sequence[LedgerEntry]) -> pa.Table:
    columns = {name: [getattr(e, name) for e in entries] for name in LEDGER_SCHEMA.names}
    return pa.table(columns, schema=LEDGER_SCHEMA)


def entries_from_arrow(table: pa.Table) -> list[LedgerEntry]:
    rows = table.select(LEDGER_SCHEMA.names).to_pylist()
    entries = [LedgerEntry(**row) for row in rows]
    return sorted(entries, key=lambda e: e.recorded_at)
