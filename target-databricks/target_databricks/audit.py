"""Load ids (the one place that decides them), ledger rows, and the current state of each load."""

from __future__ import annotations

import datetime as dt
import hashlib
import typing as t

import pyarrow as pa
import pyarrow.parquet as pq

from target_databricks import schema as sch
from target_databricks.engines.base import LEDGER_COLUMNS, LedgerEntry, Load, LoadStatus, Prior

# Set by the target, not the tap: never part of a load id (a re-fed batch must get the same id).
VOLATILE_COLUMNS = frozenset({sch.RECEIVED_AT, sch.BATCHED_AT, sch.SEQUENCE, sch.LOAD_ID})

MAX_ERROR_CHARS = 2000


def load_id(stream: str, data: pa.Table, *, salt: str = "") -> str:
    """sha256 over the stream name and the batch's rows, including each RECORD's time_extracted and
    input position, so a re-fed batch gets the same id and a new batch with equal values does not.

    The rows are hashed as an uncompressed Parquet file: unlike Arrow IPC buffers, Parquet
    encodes only valid values, so the bytes depend on the data alone, not on how arrays were built.
    `salt` makes ids run-specific where re-application must not be skipped (load_method overwrite).
    """
    stable = data.select([c for c in data.column_names if c not in VOLATILE_COLUMNS])
    stable = stable.replace_schema_metadata(None)
    digest = hashlib.sha256()
    for part in (stream, salt):
        digest.update(part.encode())
        digest.update(b"\0")
    # The file's bytes go into the hash as Parquet writes them: no in-memory copy of the batch.
    pq.write_table(
        stable,
        _HashingSink(digest),
        compression="none",
        use_dictionary=False,
        write_statistics=False,
        store_schema=False,
        row_group_size=max(1, stable.num_rows),
    )
    return digest.hexdigest()[:40]


class _HashingSink:
    """A write-only file for pyarrow (wrapped as a PythonFile) that feeds a hash."""

    closed = False

    def __init__(self, digest: hashlib._Hash) -> None:
        self._digest = digest
        self._size = 0

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        self._size += len(data)
        return len(data)

    def tell(self) -> int:
        return self._size

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


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
        table_id=load.table_id or None,
    )


def same_table(item: LedgerEntry, load: Load) -> bool:
    """The ledger row is about `load`'s very table (same table id). Rows written before the ledger
    recorded table ids prove nothing about any table as it is now: they never count."""
    return item.table_id is not None and item.table_id == load.table_id


def prior(entries: t.Iterable[LedgerEntry], load: Load) -> Prior:
    """From the ledger rows of `load`'s id: committed to this very table, and the attempt to use.

    An attempt that has neither `committed` nor `failed` was cut short (a crash): it is resumed under
    its own identity, whose staged file, COPY INTO file and Jobs token tell whether it was applied.
    After a failure the next attempt is a new one.
    """
    mine = [e for e in entries if e.load_id == load.load_id and same_table(e, load)]
    if not mine:
        return Prior(committed=False, attempt=1)
    last = max(e.attempt for e in mine)
    # The staged file an earlier attempt left, to resume with or (committed) to remove.
    staged = next((e.staged_file for e in reversed(mine) if e.staged_file), None) or ""
    if any(e.status == "committed" for e in mine):
        return Prior(committed=True, attempt=last, staged=staged)
    if any(e.attempt == last and e.status == "failed" for e in mine):
        return Prior(committed=False, attempt=last + 1, staged=staged)
    return Prior(committed=False, attempt=last, staged=staged)


# Ledger states, in the order a load passes them (one row each, append-only):
#   staged    the rows are staged (attempt n); nothing is in the table yet, or a crash follows
#   committed the rows are in the table: applied by this attempt, or found applied (with the
#             commit's row counts) when an earlier attempt died before recording it
#   failed    the attempt failed; the staged file stays for `replay` (a new attempt)
#   skipped   a later run found the load already committed to this table; nothing was done
# `skipped` and a stale `staged` never hide a `committed` row of the same table.
_SUPERSEDED_BY_COMMITTED = ("staged", "skipped")


def current_loads(entries: t.Iterable[LedgerEntry]) -> dict[str, LedgerEntry]:
    """load_id → its current ledger row (the `_ml_connector_loads_current` view, computed locally).

    The latest row wins (then the later attempt, then the more final status), except that a load
    committed to a table stays committed: later `skipped` or `staged` rows for that same table id
    (a rerun that found it done, a stale concurrent writer) do not hide it.
    """
    items = list(entries)
    committed = {(e.load_id, e.table_id) for e in items if e.status == "committed"}
    rank = {"staged": 0, "failed": 1, "skipped": 2, "committed": 3}
    current: dict[str, LedgerEntry] = {}
    for item in sorted(items, key=lambda e: (e.recorded_at, e.attempt, rank[e.status])):
        if item.status in _SUPERSEDED_BY_COMMITTED and (item.load_id, item.table_id) in committed:
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
    # A ledger written before a column existed (table_id) reads that column as null.
    for field in LEDGER_SCHEMA:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    rows = table.select(LEDGER_SCHEMA.names).to_pylist()
    entries = [LedgerEntry(**row) for row in rows]
    return sorted(entries, key=lambda e: e.recorded_at)
