"""The one small interface both engines implement (local Delta on disk; a Databricks workspace).

The sink turns a drained batch into one Arrow table typed by the stream's schema and hands it to
an engine as a `Load`. Everything an engine does is keyed by the load's dedupe identity: the
table's own id (which a DROP / CREATE OR REPLACE changes), the deterministic `load_id` and the
attempt. So a crash followed by a rerun of the same input converges instead of duplicating rows,
and the same rows loaded into another (or a recreated) table are really loaded there.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import typing as t

from target_databricks.errors import UserError

if t.TYPE_CHECKING:
    import pyarrow as pa

LoadMethod = t.Literal["upsert", "append-only", "overwrite"]
LoadStatus = t.Literal["staged", "committed", "failed", "skipped"]

LEDGER_TABLE = "_ml_connector_loads"
LEDGER_VIEW = "_ml_connector_loads_current"
# The ledger's columns and Databricks types, in LedgerEntry field order (field name = column name).
LEDGER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("load_id", "STRING"),
    ("stream", "STRING"),
    ("table", "STRING"),
    ("method", "STRING"),
    ("status", "STRING"),
    ("rows", "BIGINT"),
    ("attempt", "BIGINT"),
    ("staged_file", "STRING"),
    ("error", "STRING"),
    ("recorded_at", "TIMESTAMP"),
    ("started_at", "TIMESTAMP"),
    ("duration_ms", "BIGINT"),
    ("table_id", "STRING"),
)

# The metadata columns every table gets (names, types, the upsert order): schema.METADATA_COLUMNS.

# Schema metadata keys of a staged Parquet file: enough to re-apply it (replay) without the stream.
STAGED_META_STREAM = b"ml_connector.stream"
STAGED_META_TABLE = b"ml_connector.table"
STAGED_META_KEYS = b"ml_connector.key_properties"
STAGED_META_METHOD = b"ml_connector.method"
STAGED_META_SQL_TYPES = b"ml_connector.sql_types"


class EngineError(UserError):
    """A load cannot proceed; the message says what the user should fix."""


class SchemaChangeError(EngineError):
    """An incompatible type change of an existing column; no data was changed."""


@dataclasses.dataclass(frozen=True)
class TableRef:
    """Conformed (lower-case, valid) names; build SQL with schema.quote_identifier only."""

    catalog: str
    schema: str
    name: str

    @property
    def full_name(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.name}"


@dataclasses.dataclass(frozen=True)
class Column:
    name: str  # conformed
    sql_type: str  # Databricks SQL type, e.g. "DECIMAL(15,2)", "TIMESTAMP", "STRING"
    arrow_type: pa.DataType
    comment: str = ""  # the property's JSON Schema `description`: the column comment in Unity Catalog


@dataclasses.dataclass(frozen=True)
class TableSpec:
    ref: TableRef
    columns: tuple[Column, ...]
    key_properties: tuple[str, ...]  # conformed column names; empty means no key
    comment: str = ""  # the table comment: which stream, from which tap

    def arrow_schema(self) -> pa.Schema:
        import pyarrow as pa

        return pa.schema([pa.field(c.name, c.arrow_type, nullable=True) for c in self.columns])

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclasses.dataclass(frozen=True)
class Load:
    load_id: str  # deterministic: see audit.load_id
    stream: str
    table: TableSpec
    method: LoadMethod
    rows: int
    staged: str  # engine-specific location of the staged Parquet file
    attempt: int = 1
    table_id: str = ""  # the table's own identity (Engine.table_id) at the time of the load

    @property
    def identity(self) -> str:
        """Names one application of this load's rows into this table: table id, load id, attempt."""
        return f"{self.table_id}.{self.load_id}.{self.attempt}"


@dataclasses.dataclass(frozen=True)
class Applied:
    """What one application of a load did to its table.

    The split into inserted/updated/deleted comes from the table's commit metrics (Delta commit info
    locally, the statement's result manifest in the workspace); None where the engine cannot see it
    (a Jobs run). `already`: the load was found applied to this table by an earlier attempt whose
    ledger row was lost, or by a concurrent writer; the counts are then that commit's when known.
    `attempt`: set when the engine moved on to a new attempt by itself (a reused identity it could
    not confirm).
    """

    rows: int
    inserted: int | None = None
    updated: int | None = None
    deleted: int | None = None
    already: bool = False
    attempt: int | None = None


@dataclasses.dataclass(frozen=True)
class Prior:
    """What the ledger and the table know of a load before it is staged (Engine.prior)."""

    committed: bool  # this load was committed to this very table (same table id)
    attempt: int  # the attempt to use: an unfinished one is resumed, after a failure a new one
    applied: bool = False  # the table's own log shows the load applied (nothing to stage again)
    staged: str = ""  # the staged file an earlier attempt recorded (resumed, or removed when done)


@dataclasses.dataclass(frozen=True)
class LedgerEntry:
    """One row of the append-only loads ledger: one row per status change of a load."""

    load_id: str
    stream: str
    table: str  # full name
    method: str
    status: LoadStatus
    rows: int
    attempt: int
    staged_file: str | None
    error: str | None
    recorded_at: dt.datetime  # UTC
    started_at: dt.datetime | None = None
    duration_ms: int | None = None
    table_id: str | None = None  # None in rows written before the ledger recorded table ids


class Engine(abc.ABC):
    """Where tables live. Implementations: engines.local.LocalEngine, engines.workspace.WorkspaceEngine."""

    name: t.ClassVar[str]

    @abc.abstractmethod
    def preflight(self) -> None:
        """Check everything a load needs up front; raise EngineError naming the fix."""

    def declare_table(self, spec: TableSpec) -> bool:
        """A stream's SCHEMA arrived: an incompatible type change raises SchemaChangeError now, before
        any record of it is read. True when the table is ready for the stream's loads; False when the
        engine makes it later (ensure_table at the first load, or at run end for an empty stream)."""
        self.ensure_table(spec)
        return True

    @abc.abstractmethod
    def ensure_table(self, spec: TableSpec) -> None:
        """Create the table, or add new columns; an incompatible type change raises SchemaChangeError."""

    @abc.abstractmethod
    def table_id(self, ref: TableRef) -> str:
        """The table's own identity (Unity Catalog table_id; Delta metaData.id); new after a drop."""

    @abc.abstractmethod
    def prior(self, load: Load) -> Prior:
        """Whether `load` (with its table_id) was committed to this table, and which attempt is next."""

    @abc.abstractmethod
    def stage(self, load: Load, data: pa.Table) -> str:
        """Persist the batch as Parquet under a name derived from load.identity; return its location."""

    @abc.abstractmethod
    def apply(self, load: Load) -> Applied:
        """Commit the staged rows at most once per (table id, load id) (ordered upsert / append once /
        overwrite); a load already applied to this table is reported with `already`, not applied again.
        """

    @abc.abstractmethod
    def unstage(self, staged: str) -> None:
        """Remove a staged file once the ledger no longer needs it."""

    @abc.abstractmethod
    def activate_version(self, spec: TableSpec, version: int, *, hard_delete: bool) -> None:
        """ACTIVATE_VERSION: rows of older _sdc_table_version are soft- or hard-deleted."""

    @abc.abstractmethod
    def ledger_append(self, entries: t.Sequence[LedgerEntry]) -> None:
        """Append status rows to the ledger table (created on first use)."""

    @abc.abstractmethod
    def ledger_read(self) -> list[LedgerEntry]:
        """All ledger rows, oldest first."""

    @abc.abstractmethod
    def read_table(self, ref: TableRef) -> pa.Table:
        """The table's current rows (tests, reports, parity checks)."""

    @abc.abstractmethod
    def maintain(self, refs: t.Sequence[TableRef], *, vacuum_retention_hours: int) -> list[str]:
        """Compact/OPTIMIZE and VACUUM; return a line per action for the log."""

    @abc.abstractmethod
    def read_staged(self, staged: str) -> pa.Table:
        """The staged file's rows and schema metadata (STAGED_META_*); used by `replay`."""

    # Set by the target: `committed`/`skipped` ledger rows may wait for flush_ledger (which the
    # target calls before it emits STATE) and share a statement with the next rows.
    defer_ledger_rows: bool = False

    def flush_ledger(self) -> None:  # noqa: B027 - optional hook
        """Write ledger rows the engine deferred; an engine that never defers has nothing to do."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (after flush_ledger)."""
