"""The embedded engine: real Delta tables on disk (delta-rs) at <local_path>/<catalog>/<schema>/<table>.

At most once per (table, load): each commit carries an application transaction
`Transaction(app_id=<table id>.<load id>, version=<attempt>)` and the load's identity in its commit
info. delta-rs records application transactions but does not enforce them, so every commit is
preceded by `DeltaTable.transaction_version(app_id)` under a lock that other processes respect too,
and a load already there is not applied again: its row counts are read back from that commit's
metrics. The table id is the Delta table's `metaData.id`, new when a table is dropped and created
again. Commit conflicts (parallel sinks, the ledger) are retried after re-checking.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import logging
import os
import re
import threading
import time
import typing as t
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# delta-rs allocates through its own jemalloc, which keeps freed pages for 10 s by default: a MERGE's
# memory would still be held when the next batch is typed. Read when deltalake is first loaded.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")

from deltalake import (
    CommitProperties,
    DeltaTable,
    QueryBuilder,
    Transaction,
    WriterProperties,
    write_deltalake,
)
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError
from deltalake.writer.properties import ColumnProperties

from target_databricks import audit
from target_databricks import schema as sch
from target_databricks.engines.base import (
    LEDGER_TABLE,
    Applied,
    Column,
    Engine,
    EngineError,
    LedgerEntry,
    Load,
    Prior,
    TableRef,
    TableSpec,
)
from target_databricks.errors import SettingsError
from target_databricks.settings import (
    DEFAULT_LOCAL_PATH,
    load_method_for,
    table_options,
    target_catalog,
    target_schema,
    uc_name,
)

logger = logging.getLogger(__name__)

_CONFORMED = re.compile(r"[a-z0-9_]+")
_COMMIT_RETRIES = 20
_pc: t.Any = pc  # kernels pyarrow's stubs do not declare
# Rows per record batch handed to delta-rs (its own write batches are 8k-64k rows).
_SOURCE_CHUNK_ROWS = 16_384
# The field metadata key marking the columns `maintain` Z-orders by: their order, "0", "1", ... ("" for
# none). delta-rs has no liquid clustering, and Delta table properties admit only Delta's own keys.
Z_ORDER_KEY = "ml_connector.zorder"
# The commit info key that names the load application a commit made (Load.identity).
COMMIT_IDENTITY_KEY = "ml_connector.load"

# The upsert order: a target row is replaced only by a strictly newer source row.
_ORDER_T = f"coalesce(t.{sch.EXTRACTED_AT}, t.{sch.RECEIVED_AT})"
_ORDER_S = f"coalesce(s.{sch.EXTRACTED_AT}, s.{sch.RECEIVED_AT})"
NEWER_PREDICATE = (
    f"{_ORDER_S} > {_ORDER_T} OR ({_ORDER_S} = {_ORDER_T} AND s.{sch.POSITION} > t.{sch.POSITION})"
    f" OR t.{sch.POSITION} IS NULL"
)


_T = t.TypeVar("_T")


def _retry_on_conflict(action: t.Callable[[], _T]) -> _T:
    for attempt in range(_COMMIT_RETRIES):
        try:
            return action()
        except CommitFailedError:
            if attempt == _COMMIT_RETRIES - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


def app_id(load: Load) -> str:
    """The Delta application-transaction id of a load into a table; the attempt is its version."""
    return f"{load.table_id}.{load.load_id}"


def _applied_here(table: DeltaTable, load: Load) -> bool:
    """The table's own log has this load's application transaction (any attempt). Tables written
    before transactions named the table id carry the bare load id (the log is the table's own)."""
    return (
        table.transaction_version(app_id(load)) is not None
        or table.transaction_version(load.load_id) is not None
    )


def _applied_from_history(table: DeltaTable, load: Load) -> Applied:
    """The counts of the commit that applied `load` (any attempt), from its commit metrics."""
    prefix = f"{load.table_id}.{load.load_id}."
    for commit in table.history():
        if str(commit.get(COMMIT_IDENTITY_KEY, "")).startswith(prefix):
            return _applied(commit.get("operationMetrics") or {}, already=True)
    # Applied (the transaction is there) but no commit info names it: written before commits
    # carried the identity. The staged rows are what that load appended or merged.
    return Applied(rows=load.rows, already=True)


def _applied(metrics: t.Mapping[str, t.Any], *, already: bool = False) -> Applied:
    if "num_target_rows_inserted" in metrics:  # MERGE
        inserted = int(metrics.get("num_target_rows_inserted") or 0)
        updated = int(metrics.get("num_target_rows_updated") or 0)
        deleted = int(metrics.get("num_target_rows_deleted") or 0)
    else:  # WRITE (append / overwrite)
        inserted, updated, deleted = int(metrics.get("num_added_rows") or 0), 0, 0
    return Applied(inserted + updated + deleted, inserted, updated, deleted, already=already)


def _arrow_schema(
    columns: t.Iterable[Column], not_null: t.Collection[str] = (), z_order: t.Sequence[str] = ()
) -> pa.Schema:
    """Columns as Arrow fields: key columns NOT NULL, the description as field metadata `comment`
    (Databricks reads it as the column comment), Z-order columns marked."""

    def metadata(column: Column) -> dict[str, str] | None:
        meta = {"comment": column.comment} if column.comment else {}
        if column.name in z_order:
            meta[Z_ORDER_KEY] = str(z_order.index(column.name))
        return meta or None

    return pa.schema(
        [
            pa.field(c.name, c.arrow_type, nullable=c.name not in not_null, metadata=metadata(c))
            for c in columns
        ]
    )


@contextlib.contextmanager
def _refused_properties() -> t.Iterator[None]:
    """A property value delta-rs refuses (e.g. `delta.enableDeletionVectors: maybe`) is the
    setting's fault: one line naming it."""
    try:
        yield
    except DeltaError as exc:
        if "delta." not in str(exc):
            raise
        raise SettingsError(
            f"table_properties: delta-rs refuses {str(exc).split('error: ')[-1]}; give the value in "
            "Delta's format (e.g. `interval 60 days`, a number of bytes, true/false)."
        ) from exc


def _set_column_metadata(table: DeltaTable, column: str, metadata: dict[str, str]) -> None:
    _retry_on_conflict(lambda: table.alter.set_column_metadata(column, metadata))


def z_order_columns(table: DeltaTable) -> list[str]:
    """The columns marked for Z-ordering, in their order."""
    marked = {
        f.name: int(mark)
        for f in pa.schema(table.schema().to_arrow())
        if (mark := (f.metadata or {}).get(Z_ORDER_KEY.encode(), b"").decode()).isdigit()
    }
    return sorted(marked, key=marked.__getitem__)


def read_delta_table(table: DeltaTable) -> pa.Table:
    """All rows, read by delta-rs' own engine. (to_pyarrow_table/-dataset go through a Python
    filesystem bridge that intermittently aborts the interpreter at exit in deltalake 1.6.)"""
    schema = pa.schema(table.schema().to_arrow())
    reader = QueryBuilder().register("t", table).execute("SELECT * FROM t").read_all()
    return pa.table(reader).cast(schema)  # string_view → string, as written


def _column(alias: str, name: str) -> str:
    """`alias."name"`: DataFusion (delta-rs' SQL) quotes identifiers with double quotes. Conformed
    names can still be words its parser reads otherwise (`null`, `true`) or start with a digit."""
    return f'{alias}."{name.replace(chr(34), chr(34) * 2)}"'


def _sql_literal(value: t.Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return None


def _key_ranges(data: pa.Table, keys: t.Sequence[str]) -> list[str]:
    """`t.k BETWEEN min AND max` of the batch's keys: rows outside cannot match, and with the bounds
    as literals delta-rs skips non-overlapping files up front (about 5x faster MERGE into big tables
    when keys grow, e.g. line ids)."""
    terms: list[str] = []
    for key in keys:
        column = data.column(key)
        if not (pa.types.is_integer(column.type) or pa.types.is_string(column.type)):
            continue
        bounds = _pc.min_max(column).as_py()
        low, high = _sql_literal(bounds["min"]), _sql_literal(bounds["max"])
        if low is not None and high is not None:
            terms.append(f"{_column('t', key)} >= {low} AND {_column('t', key)} <= {high}")
    return terms


def _disjoint_from_table(table: DeltaTable, data: pa.Table, keys: t.Sequence[str]) -> bool:
    """No row of the table can match the batch on its keys: for one integer key, every data file's
    min/max statistics lie outside the batch's range (integer statistics are exact; a file without
    them may hold anything). An upsert of such a batch inserts every row, exactly as an append."""
    files = pa.table(table.get_add_actions(flatten=True))
    if not files.num_rows:
        return True
    for key in keys:
        if not pa.types.is_integer(data.column(key).type):
            continue
        low_col, high_col = f"min.{key}", f"max.{key}"
        if low_col not in files.column_names or high_col not in files.column_names:
            continue
        lows, highs = files.column(low_col), files.column(high_col)
        if lows.null_count or highs.null_count:
            continue
        bounds = _pc.min_max(data.column(key)).as_py()
        below = _pc.less(highs, pa.scalar(bounds["min"], highs.type))
        above = _pc.greater(lows, pa.scalar(bounds["max"], lows.type))
        if _pc.all(_pc.or_(below, above)).as_py():
            return True
    return False


def _batches(data: pa.Table) -> pa.RecordBatchReader:
    """The batch as a stream of small record batches: delta-rs then holds a few of them at a time
    instead of its own copy of the whole source."""
    return pa.RecordBatchReader.from_batches(data.schema, data.to_batches(max_chunksize=_SOURCE_CHUNK_ROWS))


def _writer_properties(spec: TableSpec) -> WriterProperties:
    """delta-rs' defaults (snappy, dictionaries), except that columns unique within every load (the
    input position, a single key) are not dictionary-encoded: building a dictionary that overflows
    and falls back to plain pages was about a quarter of a load's write time, for larger files."""
    unique = [sch.POSITION, *spec.key_properties] if len(spec.key_properties) == 1 else [sch.POSITION]
    plain = ColumnProperties(dictionary_enabled=False)
    return WriterProperties(compression="SNAPPY", column_properties=dict.fromkeys(unique, plain))


class LocalEngine(Engine):
    name = "local"

    def __init__(self, config: t.Mapping[str, t.Any]) -> None:
        self.root = Path(str(config.get("local_path") or DEFAULT_LOCAL_PATH)).resolve()
        self.catalog = target_catalog(config)
        self.schema = target_schema(config)
        self._settings = dict(config)
        self.options = table_options(config)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._ledger_ready = False
        # The table a stage() call just wrote, by its staged path: apply() takes it instead of
        # reading the file back (replay and a later attempt read the file).
        self._just_staged: dict[str, pa.Table] = {}

    # --- paths ---------------------------------------------------------------------------------

    def table_path(self, ref: TableRef) -> Path:
        """Only valid names become path steps, and the result must stay under the root.

        Catalog and schema are the user's Unity Catalog names (no slash or period, so no path
        traversal); table names are conformed.
        """
        uc_name("catalog", ref.catalog)
        uc_name("schema", ref.schema)
        if not _CONFORMED.fullmatch(ref.name):
            raise EngineError(f"refusing non-conformed name {ref.name!r} as a path step")
        path = (self.root / ref.catalog / ref.schema / ref.name).resolve()
        if not path.is_relative_to(self.root):
            raise EngineError(f"table path {path} escapes {self.root}")
        return path

    @property
    def staging_dir(self) -> Path:
        return self.root / "_staging" / self.catalog / self.schema

    @property
    def ledger_ref(self) -> TableRef:
        return TableRef(self.catalog, self.schema, LEDGER_TABLE)

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def _open(self, ref: TableRef) -> DeltaTable | None:
        try:
            return DeltaTable(str(self.table_path(ref)))
        except TableNotFoundError:
            return None

    # --- Engine --------------------------------------------------------------------------------

    def preflight(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise EngineError(f"local_path {self.root} is not writable: {exc}") from exc

    def ensure_table(self, spec: TableSpec) -> None:
        path = self.table_path(spec.ref)
        with self._lock(str(path)):
            table = self._open(spec.ref)
            if table is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                with _refused_properties():
                    DeltaTable.create(
                        str(path),
                        schema=_arrow_schema(spec.columns, spec.key_properties, self._z_order(spec)),
                        mode="ignore",
                        description=spec.comment or None,
                        configuration=self.options.properties or None,
                    )
                return
            existing = {f.name: f.type for f in pa.schema(table.schema().to_arrow())}
            changes = [
                sch.type_change(c.name, sch.sql_type_for_arrow(existing[c.name]), c.sql_type)
                for c in spec.columns
                if c.name in existing
            ]
            kept = sch.check_type_changes(spec.ref, changes)
            if kept:
                logger.warning(kept)
            retyped = {
                c.column: sch.arrow_type_for_sql(c.to) for c in changes if c.action in ("widen", "rewrite")
            }
            if retyped:
                # delta-rs has no in-place type widening: rewrite the table with the columns cast.
                logger.warning(
                    "Rewriting %s to change column types: %s",
                    spec.ref.full_name,
                    "; ".join(c.describe() for c in changes if c.column in retyped),
                )
                self._retype(table, retyped)
            new = [c for c in spec.columns if c.name not in existing]
            if new:
                fields = DeltaSchema.from_arrow(_arrow_schema(new)).fields
                _retry_on_conflict(lambda: table.alter.add_columns(list(fields)))
            self._converge(table, spec)

    def _z_order(self, spec: TableSpec) -> tuple[str, ...]:
        method = load_method_for(self._settings, spec.key_properties)
        return self.options.clustering({c.name for c in spec.columns}, spec.key_properties, method)

    def _converge(self, table: DeltaTable, spec: TableSpec) -> None:
        """Comments (Delta field metadata `comment`, which Databricks reads as the column comment),
        the description and properties of an existing table, changed only where they differ."""
        table.update_incremental()
        z_order = self._z_order(spec)
        for field in pa.schema(table.schema().to_arrow()):
            column = spec.column(field.name)
            have = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
            want = {}
            if column is not None and column.comment and have.get("comment") != column.comment:
                want["comment"] = column.comment
            mark = str(z_order.index(field.name)) if field.name in z_order else ""
            if have.get(Z_ORDER_KEY, "") != mark:
                want[Z_ORDER_KEY] = mark
            if want:
                _set_column_metadata(table, field.name, want)
        if spec.comment and (table.metadata().description or "") != spec.comment:
            _retry_on_conflict(lambda: table.alter.set_table_description(spec.comment))
        current = table.metadata().configuration
        changed = {k: v for k, v in self.options.properties.items() if current.get(k) != v}
        if changed:
            with _refused_properties():
                _retry_on_conflict(lambda: table.alter.set_table_properties(changed))

    @staticmethod
    def _retype(table: DeltaTable, retyped: t.Mapping[str, pa.DataType]) -> None:
        def rewrite() -> None:
            # Read inside the retry: a conflicting commit means there are rows this copy lacks.
            table.update_incremental()
            data = read_delta_table(table)
            fields = [pa.field(f.name, retyped.get(f.name, f.type), f.nullable) for f in data.schema]
            arrays = [data.column(f.name).cast(f.type) for f in fields]
            rewritten = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
            write_deltalake(table, rewritten, mode="overwrite", schema_mode="overwrite")

        _retry_on_conflict(rewrite)
        table.update_incremental()

    def table_id(self, ref: TableRef) -> str:
        table = self._open(ref)
        if table is None:
            raise EngineError(f"table {ref.full_name} does not exist under {self.root}")
        return str(table.metadata().id)

    def prior(self, load: Load) -> Prior:
        table = self._open(load.table.ref)
        if table is None or not _applied_here(table, load):
            # Not in this table (its own log says so): whatever the ledger says about other tables
            # or attempts, this is a first application here.
            return Prior(committed=False, attempt=1)
        # Applied; the ledger (read only on this rare path) says whether that was recorded.
        recorded = audit.prior(self.ledger_read(), load)
        return dataclasses.replace(recorded, applied=True)

    @contextlib.contextmanager
    def _table_lock(self, path: str) -> t.Iterator[None]:
        """This process's lock and a file lock other target processes take too: the check for an
        application transaction and the commit that records it happen under one lock."""
        locks = self.root / "_locks"
        locks.mkdir(parents=True, exist_ok=True)
        name = Path(path).relative_to(self.root).as_posix().replace("/", ".")
        with self._lock(path), (locks / f"{name}.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def stage(self, load: Load, data: pa.Table) -> str:
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        final = self.staging_dir / f"{load.load_id}-{load.table_id}-{load.attempt}.parquet"
        partial = final.with_name(f".{final.name}.{uuid.uuid4().hex}.partial")
        # Only replay or a later attempt reads it back: the fastest codec (lz4 took about 0.6 of zstd's
        # time for about twice the size); no dictionaries, most columns are near-unique.
        pq.write_table(data, partial, compression="lz4", use_dictionary=False)
        os.replace(partial, final)  # atomic: a staged file is either whole or absent
        self._just_staged = {str(final): data}
        return str(final)

    def read_staged(self, staged: str) -> pa.Table:
        return pq.read_table(staged)

    def apply(self, load: Load) -> Applied:
        path = str(self.table_path(load.table.ref))
        data: pa.Table | None = None
        staged = self._just_staged.pop(load.staged, None)
        with self._table_lock(path):

            def commit() -> Applied:
                nonlocal data
                table = DeltaTable(path)
                if _applied_here(table, load):
                    return _applied_from_history(table, load)
                if data is None:
                    data = self._align(pq.read_table(load.staged) if staged is None else staged, table)
                props = CommitProperties(
                    app_transactions=[Transaction(app_id=app_id(load), version=load.attempt)],
                    custom_metadata={COMMIT_IDENTITY_KEY: load.identity},
                )
                keys = load.table.key_properties
                if load.method == "upsert" and not _disjoint_from_table(table, data, keys):
                    predicate = " AND ".join(
                        [f"{_column('t', k)} = {_column('s', k)}" for k in keys] + _key_ranges(data, keys)
                    )
                    metrics = (
                        table.merge(
                            source=_batches(data),
                            predicate=predicate,
                            source_alias="s",
                            target_alias="t",
                            writer_properties=_writer_properties(load.table),
                            commit_properties=props,
                        )
                        .when_matched_update_all(predicate=NEWER_PREDICATE)
                        .when_not_matched_insert_all()
                        .execute()
                    )
                    return _applied(metrics)
                # An upsert whose keys cannot be in the table is appended (no join with the table),
                # with the same application transaction in the same commit.
                mode: t.Literal["append", "overwrite"] = (
                    "overwrite" if load.method == "overwrite" else "append"
                )
                write_deltalake(
                    table,
                    _batches(data),
                    mode=mode,
                    writer_properties=_writer_properties(load.table),
                    commit_properties=props,
                )
                return Applied(data.num_rows, data.num_rows, 0, 0)

            return _retry_on_conflict(commit)

    @staticmethod
    def _align(data: pa.Table, table: DeltaTable) -> pa.Table:
        """The staged batch in the table's column order and (widened) types; absent columns null."""
        target = pa.schema(table.schema().to_arrow())
        arrays = [
            data.column(f.name).cast(f.type)
            if f.name in data.column_names
            else pa.nulls(data.num_rows, f.type)
            for f in target
        ]
        return pa.Table.from_arrays(arrays, schema=target)

    def unstage(self, staged: str) -> None:
        Path(staged).unlink(missing_ok=True)

    def activate_version(self, spec: TableSpec, version: int, *, hard_delete: bool) -> None:
        older = f"({sch.TABLE_VERSION} < {int(version)} OR {sch.TABLE_VERSION} IS NULL)"
        path = str(self.table_path(spec.ref))
        with self._lock(path):
            table = DeltaTable(path)
            if hard_delete:
                _retry_on_conflict(lambda: table.delete(older))
                return
            now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            _retry_on_conflict(
                lambda: table.update(
                    predicate=f"{older} AND {sch.DELETED_AT} IS NULL",
                    updates={sch.DELETED_AT: f"CAST('{now}' AS TIMESTAMP)"},
                )
            )

    def ledger_append(self, entries: t.Sequence[LedgerEntry]) -> None:
        if not entries:
            return
        path = self.table_path(self.ledger_ref)
        data = audit.entries_to_arrow(entries)
        with self._lock(str(path)):
            if not self._ledger_ready:  # once per engine: every load appends to the ledger twice
                path.parent.mkdir(parents=True, exist_ok=True)
                if self._open(self.ledger_ref) is None:
                    DeltaTable.create(str(path), schema=audit.LEDGER_SCHEMA, mode="ignore")
                self._ledger_ready = True
            # Another process may append at the same moment: delta-rs fails the loser; retry.
            # schema_mode merge: a ledger from before a column existed (table_id) gains it.
            _retry_on_conflict(lambda: write_deltalake(str(path), data, mode="append", schema_mode="merge"))

    def ledger_read(self) -> list[LedgerEntry]:
        table = self._open(self.ledger_ref)
        if table is None:
            return []
        return audit.entries_from_arrow(read_delta_table(table))

    def read_table(self, ref: TableRef) -> pa.Table:
        table = self._open(ref)
        if table is None:
            raise EngineError(f"table {ref.full_name} does not exist under {self.root}")
        return read_delta_table(table)

    def z_order(self, ref: TableRef) -> list[str]:
        """The columns `maintain` Z-orders the table by (empty: it only compacts)."""
        table = self._open(ref)
        return [] if table is None else z_order_columns(table)

    def maintain(self, refs: t.Sequence[TableRef], *, vacuum_retention_hours: int) -> list[str]:
        lines: list[str] = []
        for ref in [*refs, self.ledger_ref]:
            table = self._open(ref)
            if table is None:
                continue
            order = z_order_columns(table)
            with self._lock(str(self.table_path(ref))):
                # Z-ordering rewrites (and so compacts) the files, clustered by the key.
                compacted = table.optimize.z_order(order) if order else table.optimize.compact()
                removed = table.vacuum(
                    retention_hours=vacuum_retention_hours,
                    # Delta refuses < 168 h unless told; the setting is the user's explicit choice.
                    enforce_retention_duration=vacuum_retention_hours >= 168,
                    dry_run=False,
                )
            lines.append(
                f"{ref.full_name}: compacted {compacted.get('numFilesRemoved', 0)} files into "
                f"{compacted.get('numFilesAdded', 0)}{' Z-ordered by ' + ', '.join(order) if order else ''}; "
                f"vacuum removed {len(removed)} files"
            )
        return lines
