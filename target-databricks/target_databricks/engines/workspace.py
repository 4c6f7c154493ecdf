"""The workspace engine: Unity Catalog Delta tables in a Databricks workspace, via databricks-sdk.

One data path: a batch is staged as Parquet in a Unity Catalog volume (Files API) and applied with
ONE statement (ordered MERGE, COPY INTO, or INSERT OVERWRITE) through the SQL Statement Execution
API, or the same statement as a one-time Jobs run (`load_via: jobs`). The SDK retries 429/503 and
lost connections, POSTs included, so a statement may run twice: every statement here converges.

A load's dedupe identity is the table's Unity Catalog `table_id` (new after DROP / CREATE OR
REPLACE), the load id and the attempt: the staged file's name (and so COPY INTO's file identity),
the Jobs token and SQL file derive from it, and the ledger counts a `committed` row only for the
same table id.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import io
import json
import logging
import tempfile
import threading
import time
import traceback
import typing as t

from target_databricks import audit
from target_databricks import schema as sch
from target_databricks.engines import workspace_sql as sql
from target_databricks.engines.base import (
    LEDGER_COLUMNS,
    LEDGER_VIEW,
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
from target_databricks.engines.workspace_auth import make_client, warehouse_id
from target_databricks.engines.workspace_jobs import (
    JobRunFailedError,
    RunNotConfirmedError,
    poll_delays,
    run_sql,
)
from target_databricks.settings import (
    DEFAULT_JOBS_DIR,
    DEFAULT_LOAD_VIA,
    DEFAULT_POLL_INTERVAL_SECONDS,
    DEFAULT_STAGING_VOLUME,
    DEFAULT_STATEMENT_TIMEOUT_SECONDS,
    DEFAULT_WAREHOUSE_START_TIMEOUT_SECONDS,
    load_method_for,
    table_options,
    target_catalog,
    target_schema,
)

if t.TYPE_CHECKING:
    import pyarrow as pa
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.catalog import TableInfo
    from databricks.sdk.service.sql import StatementResponse

logger = logging.getLogger(__name__)

# Databricks refuses VACUUM below 7 days unless a Spark conf is set, which SQL warehouses do not allow.
MIN_VACUUM_RETENTION_HOURS = 168
_LEDGER_CHUNK = 200
# Delta collects statistics for the first 32 columns (dataSkippingNumIndexedCols); liquid clustering
# keys need them.
_STATS_COLUMNS = 32
# New Jobs attempts one apply may start when tokens' runs cannot be confirmed as this load's.
_MAX_NEW_ATTEMPTS = 5
# What a warehouse without SQL scripting answers a compound statement: PARSE_SYNTAX_ERROR at BEGIN,
# or UNSUPPORTED_FEATURE.SQL_SCRIPTING where the parser knows scripts and has them turned off.
_NO_SQL_SCRIPTING = ("42601", "0A000")


class StatementFailedError(EngineError):
    """A statement ended FAILED / CANCELED / CLOSED; carries Databricks' error code and message."""

    def __init__(self, message: str, *, error_code: str | None = None, sql_state: str | None = None):
        super().__init__(message)
        self.error_code = error_code
        self.sql_state = sql_state


class Result(t.NamedTuple):
    columns: list[tuple[str, str]]  # (name, Databricks type text)
    rows: list[list[str | None]]  # JSON_ARRAY: every value a string or None


class WorkspaceEngine(Engine):
    name = "workspace"

    def __init__(self, config: t.Mapping[str, t.Any], *, client: WorkspaceClient | None = None) -> None:
        self._settings = dict(config)
        # As the user wrote them, lower case (as Unity Catalog stores them), like every TableRef.
        self.catalog = target_catalog(config)
        self.schema = target_schema(config)
        self.create_catalog = bool(config.get("create_catalog", False))
        self.options = table_options(config)
        self.staging_volume = str(config.get("staging_volume") or DEFAULT_STAGING_VOLUME)
        self.load_via = str(config.get("load_via") or DEFAULT_LOAD_VIA)
        if self.load_via not in ("statements", "jobs"):
            raise EngineError(f"load_via {self.load_via!r} is not supported: use 'statements' or 'jobs'.")
        self.warehouse_id = warehouse_id(config)
        self.warehouse_start_timeout = float(
            config.get("warehouse_start_timeout_seconds") or DEFAULT_WAREHOUSE_START_TIMEOUT_SECONDS
        )
        self.statement_timeout = float(
            config.get("statement_timeout_seconds") or DEFAULT_STATEMENT_TIMEOUT_SECONDS
        )
        self.jobs_workspace_dir = str(config.get("jobs_workspace_dir") or DEFAULT_JOBS_DIR)
        # Upper bound of the polling back-off (statements, warehouse start, job runs).
        self.poll_seconds = float(config.get("poll_interval_seconds") or DEFAULT_POLL_INTERVAL_SECONDS)
        # Let the API hold the answer up to 10 s (it accepts 0 or 5..50 s), never past our own limit.
        held = int(min(10, self.statement_timeout))
        self._wait_timeout = f"{held}s" if held >= 5 else "0s"
        self._client = client
        self._client_lock = threading.Lock()
        self._tables: dict[TableRef, TableSpec] = {}  # effective specs: the table's own column types
        # Data columns a table has and its stream no longer declares (a property dropped from a later
        # SCHEMA): every row a load writes has NULL there, as the local engine writes them.
        self._undeclared: dict[TableRef, tuple[Column, ...]] = {}
        # Per table, this run's SCHEMAs (oldest first) and the column types they make of it (from the
        # table's Unity Catalog description): checked at SCHEMA time, created at the first load.
        self._declared: dict[TableRef, list[TableSpec]] = {}
        self._planned: dict[TableRef, dict[str, str]] = {}
        self._tables_lock = threading.RLock()
        self._created: set[TableRef] = set()  # tables this run made (CREATE TABLE)
        self._ledger_ready: bool | None = None  # whether the ledger table exists; None: not read yet
        self._staging_dir_ready = False
        # The ledger as this run knows it: table id -> that table's ledger rows, read once per table
        # and run (rows naming a table id are facts about that table; its replacement has a new id)
        # plus the rows this engine appended since. A table this run found missing and then saw
        # created has a new id no ledger row can name yet: nothing to read.
        self._ledger_rows: dict[str, list[LedgerEntry]] = {}
        self._absent: set[TableRef] = set()
        # With defer_ledger_rows, `committed` and `skipped` rows wait for the next ledger statement
        # or flush_ledger (the target flushes before it emits STATE; close flushes too); staged
        # files they supersede are removed after they land.
        self.defer_ledger_rows = False
        self._pending: list[LedgerEntry] = []
        self._pending_unstage: list[str] = []
        self._ledger_lock = threading.RLock()
        self.last_run_id: int | None = None  # the Jobs run of the last apply (load_via: jobs)

    # --- plumbing --------------------------------------------------------------------------------

    @property
    def client(self) -> WorkspaceClient:
        # Built on first use (the SDK resolves OAuth endpoints when its Config is made), once:
        # sinks drain in parallel threads and share it.
        with self._client_lock:
            if self._client is None:
                self._client = make_client(self._settings)
            return self._client

    def execute(self, statement: str, parameters: t.Mapping[str, tuple[object, str]] | None = None) -> Result:
        """Run one statement and wait for a terminal state; FAILED raises with Databricks' message.

        parameters: name -> (value, Databricks type), bound as named markers (:name).
        """
        from databricks.sdk.service.sql import (
            Disposition,
            ExecuteStatementRequestOnWaitTimeout,
            Format,
            StatementParameterListItem,
            StatementState,
        )

        params = [
            StatementParameterListItem(name=name, value=sql.parameter_text(value), type=sql_type)
            for name, (value, sql_type) in (parameters or {}).items()
        ]
        logger.debug("Statement: %s", statement)
        w = self.client
        response = w.statement_execution.execute_statement(
            statement=statement,
            warehouse_id=self.warehouse_id,
            # No session catalog/schema: every name is fully qualified, and pre-flight runs before
            # the catalog and schema exist.
            parameters=params or None,
            wait_timeout=self._wait_timeout,
            on_wait_timeout=ExecuteStatementRequestOnWaitTimeout.CONTINUE,
            disposition=Disposition.INLINE,
            format=Format.JSON_ARRAY,
        )
        statement_id = response.statement_id or ""
        deadline = time.monotonic() + self.statement_timeout
        sleeps = poll_delays(self.poll_seconds)
        while self._state(response) in (StatementState.PENDING, StatementState.RUNNING):
            if time.monotonic() > deadline:
                w.statement_execution.cancel_execution(statement_id)
                raise StatementFailedError(
                    f"Statement {statement_id} did not finish within {self.statement_timeout:g} s "
                    "(statement_timeout_seconds) and was cancelled: " + _summary(statement)
                )
            time.sleep(next(sleeps))
            response = w.statement_execution.get_statement(statement_id)
        state = self._state(response)
        if state != StatementState.SUCCEEDED:
            status = response.status
            error = status.error if status else None
            code = error.error_code.value if error and error.error_code else None
            message = (error.message if error else None) or f"statement ended {state}"
            sql_state = status.sql_state if status else None
            raise StatementFailedError(
                f"Databricks statement failed [{code or state}]"
                + (f" (SQLSTATE {sql_state})" if sql_state else "")
                + f": {message} -- in: {_summary(statement)}",
                error_code=code,
                sql_state=sql_state,
            )
        return self._result(response)

    @staticmethod
    def _state(response: StatementResponse) -> t.Any:
        return response.status.state if response.status else None

    def _result(self, response: StatementResponse) -> Result:
        manifest = response.manifest
        columns = [
            (c.name or "", c.type_text or (c.type_name.value if c.type_name else "STRING"))
            for c in ((manifest.schema.columns or []) if manifest and manifest.schema else [])
        ]
        if manifest and manifest.truncated:
            raise EngineError("A result was truncated by the Statement Execution API (over 25 MiB inline).")
        rows: list[list[str | None]] = []
        chunk = response.result
        while chunk is not None:
            rows.extend(t.cast("list[list[str | None]]", chunk.data_array or []))
            if chunk.next_chunk_index is None:
                break
            chunk = self.client.statement_execution.get_statement_result_chunk_n(
                response.statement_id or "", chunk.next_chunk_index
            )
        return Result(columns, rows)

    # --- pre-flight ------------------------------------------------------------------------------

    def preflight(self) -> None:
        """Metastore, warehouse, catalog, schema and staging volume: Unity Catalog REST calls only,
        so a run's statements are its loads (creating what is missing costs no statement either)."""
        from databricks.sdk.errors import NotFound, PermissionDenied

        self._check_metastore()
        self._ensure_warehouse_running()
        w = self.client
        try:
            w.catalogs.get(self.catalog)
        except NotFound:
            if not self.create_catalog:
                raise EngineError(
                    f"Catalog {self.catalog!r} does not exist: create it in Catalog Explorer (or "
                    f"CREATE CATALOG {self.catalog}), or set create_catalog: true to let the target "
                    "create it (that needs the CREATE CATALOG privilege on the metastore)."
                ) from None
            logger.info("Creating catalog %s (create_catalog is true)", self.catalog)
            self._create(
                lambda: w.catalogs.create(self.catalog),
                f"Cannot create catalog {self.catalog!r}: the principal needs the CREATE CATALOG "
                "privilege on the metastore (or create the catalog yourself and grant USE CATALOG)",
            )
        except PermissionDenied as exc:
            raise EngineError(
                f"No access to catalog {self.catalog!r}: grant the principal USE CATALOG on it ({exc})."
            ) from exc
        try:
            w.schemas.get(f"{self.catalog}.{self.schema}")
        except NotFound:
            logger.info("Creating schema %s.%s", self.catalog, self.schema)
            self._create(
                lambda: w.schemas.create(self.schema, self.catalog),
                f"Cannot create schema {self.catalog}.{self.schema}: grant the principal CREATE SCHEMA "
                f"on catalog {self.catalog}",
            )
        try:
            w.volumes.read(f"{self.catalog}.{self.schema}.{self.staging_volume}")
        except NotFound:
            from databricks.sdk.service.catalog import VolumeType

            logger.info("Creating staging volume %s.%s.%s", self.catalog, self.schema, self.staging_volume)
            self._create(
                lambda: w.volumes.create(self.catalog, self.schema, self.staging_volume, VolumeType.MANAGED),
                f"Cannot create the staging volume {self.staging_volume!r}: grant the principal CREATE "
                f"VOLUME on schema {self.catalog}.{self.schema}",
            )

    @staticmethod
    def _create(create: t.Callable[[], object], fix: str) -> None:
        """One Unity Catalog create call; one made concurrently by another writer is as good."""
        from databricks.sdk.errors import BadRequest, PermissionDenied, ResourceConflict

        try:
            create()
        except ResourceConflict:
            pass  # ALREADY_EXISTS: created between our look and our create
        except (PermissionDenied, BadRequest) as exc:
            raise EngineError(f"{fix}. Databricks said: {exc.error_code}: {exc}") from exc

    def _check_metastore(self) -> None:
        from databricks.sdk.errors import DatabricksError, NotFound, PermissionDenied, Unauthenticated

        try:
            self.client.metastores.summary()
        except NotFound as exc:
            raise EngineError(
                "Unity Catalog is not enabled for this workspace: assign a metastore to it (account "
                "console → Catalog → metastore → Assign to workspace); the target writes Unity Catalog "
                f"tables and volumes only. ({exc.error_code or 'NOT_FOUND'}: {exc})"
            ) from exc
        except (Unauthenticated, ValueError) as exc:
            # ValueError: the SDK could not get an OAuth token (e.g. invalid_client).
            raise EngineError(
                "Databricks rejected the credentials: check host and client_id/client_secret "
                f"(OAuth M2M) or token (PAT). ({exc})"
            ) from exc
        except PermissionDenied:
            # The summary may be restricted; the current assignment tells the same for any principal.
            try:
                self.client.metastores.current()
            except DatabricksError as exc:
                raise EngineError(
                    f"Cannot verify that Unity Catalog is enabled for this workspace: {exc}"
                ) from exc

    def _ensure_warehouse_running(self) -> None:
        from databricks.sdk.errors import NotFound, PermissionDenied
        from databricks.sdk.service.sql import State

        w = self.client
        try:
            state = w.warehouses.get(self.warehouse_id).state
        except (NotFound, PermissionDenied) as exc:
            raise EngineError(
                f"SQL warehouse {self.warehouse_id!r} not found or not visible: check http_path / "
                f"warehouse_id and grant the principal CAN USE on the warehouse. ({exc})"
            ) from exc
        if state == State.RUNNING:
            return
        if state in (State.DELETED, State.DELETING):
            raise EngineError(
                f"SQL warehouse {self.warehouse_id!r} is {state.value}: configure a live warehouse."
            )
        logger.info(
            "SQL warehouse %s is %s: starting it and waiting up to %g s for RUNNING",
            self.warehouse_id,
            state.value if state else "in an unknown state",
            self.warehouse_start_timeout,
        )
        started = time.monotonic()
        deadline = started + self.warehouse_start_timeout
        sleeps = poll_delays(self.poll_seconds)
        while state != State.RUNNING:
            if state == State.STOPPED:
                w.warehouses.start(self.warehouse_id)  # idempotent; we poll ourselves
            if state in (State.DELETED, State.DELETING):
                raise EngineError(f"SQL warehouse {self.warehouse_id!r} was deleted while starting.")
            if time.monotonic() >= deadline:
                raise EngineError(
                    f"SQL warehouse {self.warehouse_id!r} is still {state.value if state else '?'} after "
                    f"{self.warehouse_start_timeout:g} s: start it in the Databricks UI (SQL "
                    "Warehouses) or raise warehouse_start_timeout_seconds."
                )
            time.sleep(min(next(sleeps), max(deadline - time.monotonic(), 0)))
            state = w.warehouses.get(self.warehouse_id).state
        logger.info("SQL warehouse %s is RUNNING after %.1f s", self.warehouse_id, time.monotonic() - started)

    # --- tables ----------------------------------------------------------------------------------

    def _table_info(self, ref: TableRef) -> TableInfo | None:
        from databricks.sdk.errors import NotFound

        try:
            return self.client.tables.get(ref.full_name)
        except NotFound as exc:
            _release_frames(exc)
            self._absent.add(ref)
            return None

    def _existing_columns(self, ref: TableRef) -> dict[str, str] | None:
        """Column name (lower case) -> Databricks type text, or None when the table does not exist."""
        info = self._table_info(ref)
        return None if info is None else _column_types(info)

    def declare_table(self, spec: TableSpec) -> bool:
        """Decided against the table's description (one Unity Catalog read per table and run) and
        this run's earlier SCHEMAs, without DDL: the table is made or changed at its first load."""
        with self._tables_lock:
            planned = self._planned.get(spec.ref)
            if planned is None:
                info = self._table_info(spec.ref)
                planned = _column_types(info) if info else {}
            planned = dict(planned)
            known = [c for c in spec.columns if c.name in planned]
            changes = [sch.type_change(c.name, planned[c.name], c.sql_type) for c in known]
            sch.check_type_changes(spec.ref, changes)  # the kept-types warning comes with the load
            planned.update({c.column: c.to for c in changes})
            planned.update({c.name: c.sql_type for c in spec.columns if c.name not in planned})
            self._planned[spec.ref] = planned
            self._declared.setdefault(spec.ref, []).append(spec)
        return False

    def _newest(self, spec: TableSpec) -> TableSpec:
        """The stream's latest SCHEMA for this table: what its comments, key and clustering follow."""
        with self._tables_lock:
            declared = self._declared.get(spec.ref)
            return declared[-1] if declared else spec

    def _creation_spec(self, spec: TableSpec) -> TableSpec:
        """The table as this run's SCHEMAs make it: every column any of them declared (first
        declared first), with the planned type; key and comments from the latest SCHEMA."""
        with self._tables_lock:
            specs = [*self._declared.get(spec.ref, ()), spec]
            planned = self._planned.get(spec.ref, {})
        newest = self._newest(spec)
        columns: dict[str, Column] = {}
        for declared in specs:
            for column in declared.columns:
                columns.setdefault(column.name, column)
        for declared in (spec, newest):  # the latest description of a column wins
            columns.update({c.name: c for c in declared.columns})
        typed = [_typed(column, planned.get(name, column.sql_type)) for name, column in columns.items()]
        return dataclasses.replace(newest, columns=tuple(typed))

    def ensure_table(self, spec: TableSpec) -> None:
        info = self._table_info(spec.ref)
        if info is not None and spec.ref not in self._created:
            with self._ledger_lock:  # missing at SCHEMA time, made by another writer since
                self._absent.discard(spec.ref)
        if info is None:
            create = self._creation_spec(spec)
            cluster = self._clustering(create, [c.name for c in create.columns])
            rely = load_method_for(self._settings, create.key_properties) == "upsert"
            self.execute(
                sql.create_table(create, cluster_by=cluster, properties=self.options.properties, rely=rely)
            )
            self._created.add(spec.ref)
            # Read back: a concurrent writer may have created it first, with other columns.
            info = self._table_info(spec.ref)
        existing = _column_types(info) if info else {c.name: c.sql_type for c in spec.columns}
        changes = {
            c.name: sch.type_change(c.name, existing[c.name], c.sql_type)
            for c in spec.columns
            if c.name in existing
        }
        kept = sch.check_type_changes(spec.ref, changes.values())
        if kept:
            logger.warning(kept)
        widen = [c for c in changes.values() if c.action == "widen"]
        if widen:
            logger.info("Widening in %s: %s", spec.ref.full_name, "; ".join(c.describe() for c in widen))
            self.execute(sql.enable_type_widening(spec.ref))
            for change in widen:
                self.execute(sql.alter_column_type(spec.ref, change.column, change.to))
        rewrite = {c.column: c.to for c in changes.values() if c.action == "rewrite"}
        if rewrite:
            logger.warning(
                "Rewriting %s to change column types: %s",
                spec.ref.full_name,
                "; ".join(c.describe() for c in changes.values() if c.action == "rewrite"),
            )
            self.execute(sql.rewrite_table(spec.ref, [(name, rewrite.get(name)) for name in existing]))
        new = [c for c in spec.columns if c.name not in existing]
        if new:
            logger.info("Adding columns to %s: %s", spec.ref.full_name, ", ".join(c.name for c in new))
            self.execute(sql.add_columns(spec.ref, new))
        if widen or rewrite or new:
            info = self._table_info(spec.ref)  # a rewrite drops comments, keys and properties
        if info is not None:
            newest = self._newest(spec)
            rely = load_method_for(self._settings, newest.key_properties) == "upsert"
            self._converge(newest, info, rely=rely)
        # Load with the column types the table has from now on (values are cast on load).
        effective = tuple(
            dataclasses.replace(
                c, sql_type=changes[c.name].to, arrow_type=sch.arrow_type_for_sql(changes[c.name].to)
            )
            if c.name in changes and changes[c.name].to != sch.normalize_type(c.sql_type)
            else c
            for c in spec.columns
        )
        self._tables[spec.ref] = dataclasses.replace(spec, columns=effective)
        # The target's own metadata columns are in every stream's spec; one a spec leaves out keeps
        # what the load statements did with it before.
        declared = {c.name for c in spec.columns} | sch.METADATA_NAMES
        self._undeclared[spec.ref] = tuple(
            Column(name, type_text, sch.arrow_type_for_sql(type_text))
            for name, type_text in existing.items()
            if name not in declared
        )

    def _clustering(self, spec: TableSpec, order: t.Sequence[str]) -> tuple[str, ...]:
        """The table's clustering columns; only the first 32 columns have the statistics liquid
        clustering needs (Delta's dataSkippingNumIndexedCols default), later ones are left out."""
        method = load_method_for(self._settings, spec.key_properties)
        wanted = self.options.clustering(set(order), spec.key_properties, method)
        indexed = set(order[:_STATS_COLUMNS])
        skipped = [c for c in wanted if c not in indexed]
        if skipped:
            logger.warning(
                "%s: not clustering by %s: beyond the first %d columns, which have no statistics",
                spec.ref.full_name,
                ", ".join(skipped),
                _STATS_COLUMNS,
            )
        return tuple(c for c in wanted if c in indexed)

    def _converge(self, spec: TableSpec, info: TableInfo, *, rely: bool) -> None:
        """Bring an existing table's comments, key, clustering and properties to what the stream
        and the settings say; only what differs is changed (one read, usually no statement)."""
        ref = spec.ref
        columns = {(c.name or "").lower(): c for c in info.columns or []}
        if spec.comment and (info.comment or "") != spec.comment:
            self.execute(sql.comment_on_table(ref, spec.comment))
        for column in spec.columns:
            current = columns.get(column.name)
            if current is not None and column.comment and (current.comment or "") != column.comment:
                self.execute(sql.comment_on_column(ref, column.name, column.comment))
        self._converge_key(spec, info, rely=rely)
        cluster = self._clustering(spec, list(columns))
        properties = dict(info.properties or {})
        if cluster != _clustering_columns(properties):
            logger.info("Clustering %s by %s", ref.full_name, ", ".join(cluster) or "nothing")
            self.execute(sql.cluster_by(ref, cluster))
        changed = {k: v for k, v in self.options.properties.items() if properties.get(k) != v}
        if changed:
            self.execute(sql.set_properties(ref, changed))

    def _converge_key(self, spec: TableSpec, info: TableInfo, *, rely: bool) -> None:
        """A table made before keys were declared gets them when that is safe: SET NOT NULL (which
        Delta refuses when a key column holds a NULL: then the table stays as it is), then the
        primary key. A table that has another primary key keeps it."""
        keys = spec.key_properties
        if not keys:
            return
        present = [c.primary_key_constraint for c in info.table_constraints or [] if c.primary_key_constraint]
        if present:
            if [k.lower() for k in present[0].child_columns or []] != list(keys):
                logger.warning(
                    "%s keeps its primary key (%s); the stream's key is %s",
                    spec.ref.full_name,
                    ", ".join(present[0].child_columns or []),
                    ", ".join(keys),
                )
            return
        nullable = {(c.name or "").lower() for c in info.columns or [] if c.nullable is not False}
        try:
            for key in keys:
                if key in nullable:
                    self.execute(sql.set_not_null(spec.ref, key))
            self.execute(sql.add_primary_key(spec.ref, keys, rely=rely))
        except StatementFailedError as exc:
            logger.warning("%s gets no primary key (%s); loads go on without it", spec.ref.full_name, exc)

    def _effective(self, spec: TableSpec) -> TableSpec:
        known = self._tables.get(spec.ref)
        if known is None or {c.name for c in known.columns} != {c.name for c in spec.columns}:
            self.ensure_table(spec)
            known = self._tables[spec.ref]
        return known

    # --- loads -----------------------------------------------------------------------------------

    def table_id(self, ref: TableRef) -> str:
        from databricks.sdk.errors import NotFound

        try:
            info = self.client.tables.get(ref.full_name)
        except NotFound as exc:
            raise EngineError(f"table {ref.full_name} does not exist in the workspace") from exc
        if not info.table_id:
            raise EngineError(f"Unity Catalog returned no table_id for {ref.full_name}")
        with self._ledger_lock:
            if ref in self._absent:  # created since this run found it missing
                self._absent.discard(ref)
                self._ledger_rows.setdefault(info.table_id, [])
        return info.table_id

    def prior(self, load: Load) -> Prior:
        """From the ledger rows of load's table id, read once per table and run (a REST lookup of the
        table id per load, no statement): this run's own rows are added as it appends them, and
        an apply that finds its load applied before drops them, so the re-check reads afresh."""
        with self._ledger_lock:
            rows = self._ledger_rows.get(load.table_id)
            if rows is None:
                rows = []
                if self._ledger_exists():  # no ledger yet: no row names any table
                    result = self.execute(
                        sql.ledger_select(self.catalog, self.schema, one_table=True),
                        {"table_id": (load.table_id, "STRING")},
                    )
                    rows = audit.entries_from_arrow(_result_table(result, audit.LEDGER_SCHEMA))
                rows += [e for e in self._pending if e.table_id == load.table_id]  # not written yet
                self._ledger_rows[load.table_id] = rows
            return audit.prior(list(rows), load)

    def _forget_ledger_rows(self, table_id: str) -> None:
        with self._ledger_lock:
            self._ledger_rows.pop(table_id, None)

    def staged_path(self, load: Load) -> str:
        """Named by the load's identity: COPY INTO skips a file it loaded into this table before."""
        name = f"{sql.file_stem(load.load_id)}-{sql.file_stem(load.table_id)}-{load.attempt}.parquet"
        return sql.volume_path(self.catalog, self.schema, self.staging_volume, "loads", name)

    def stage(self, load: Load, data: pa.Table) -> str:
        import pyarrow.parquet as pq

        path = self.staged_path(load)
        if not self._staging_dir_ready:
            self.client.files.create_directory(path.rsplit("/", 1)[0])  # mkdir -p, idempotent
            self._staging_dir_ready = True
        # Written once to a temporary file and streamed from there: the bytes are never held in
        # memory next to the batch. zstd without dictionaries: near-unique columns, small and fast.
        with tempfile.TemporaryFile(prefix="ml-connector-staged-") as file:
            pq.write_table(data, file, compression="zstd", use_dictionary=False)
            file.seek(0)
            # Same identity -> same path, overwritten: a resumed attempt stages the same rows again.
            self.client.files.upload(path, file, overwrite=True)
        return path

    def statement_for(self, load: Load) -> str:
        """The one statement that applies a staged load (also what a Jobs run executes)."""
        spec = self._effective(load.table)
        undeclared = self._undeclared.get(spec.ref, ())
        kind = _statement_kind(load)
        if kind == "merge":
            return sql.merge(spec, load.staged, undeclared)
        if kind == "overwrite":
            return sql.overwrite(spec, load.staged, undeclared)
        if load.method == "upsert":
            logger.info("%s has no key properties: appending instead of upserting", spec.ref.full_name)
        return sql.copy_into(spec, load.staged, undeclared)

    def apply(self, load: Load) -> Applied:
        # The ledger already said whether this load was committed to this table (run_load asks
        # `prior` first). What is left: an attempt that died before its ledger row, resumed under
        # its own identity, converges: the ordered MERGE changes nothing twice, COPY INTO skips the
        # file it loaded, a reused Jobs token answers with the run that already ran.
        if not load.table_id:
            load = dataclasses.replace(load, table_id=self.table_id(load.table.ref))
        try:
            applied = self._apply(load)
        except Exception:
            self._forget_ledger_rows(load.table_id)  # run_load asks whether a concurrent writer won
            raise
        if applied.already:
            self._forget_ledger_rows(load.table_id)
        return applied

    def _apply(self, load: Load) -> Applied:
        statement = self.statement_for(load)
        if self.load_via == "jobs":
            return self._apply_as_job(load, statement)
        result = self.execute(statement)
        names = [name for name, _ in result.columns]

        def count(column: str) -> int | None:
            if not result.rows or column not in names:
                return None
            value = result.rows[0][names.index(column)]
            return None if value is None else int(value)

        affected = count("num_affected_rows")
        if affected is None:
            return Applied(load.rows)
        inserted = count("num_inserted_rows") or 0
        updated, deleted = count("num_updated_rows") or 0, count("num_deleted_rows") or 0
        if affected > 0 or load.rows == 0:
            return Applied(affected, inserted, updated, deleted)
        kind = _statement_kind(load)
        if kind == "overwrite":
            return Applied(0, 0, 0, 0)
        if kind == "copy":
            # COPY INTO skipped the file: it loaded this file, named by this identity, into this
            # table before (an attempt whose answer or ledger row was lost). It appended every row.
            return Applied(load.rows, load.rows, 0, 0, already=True)
        # The MERGE changed nothing: its rows are older than the table's, or an earlier run of this
        # attempt (answer lost, or a crash before the ledger row) merged them. The MERGE converges
        # either way, so nothing is decided on it; the count is the rows of this load the table
        # holds now (the statement's answer that had the counts is gone).
        if not load.table.column(sch.LOAD_ID):
            return Applied(0, 0, 0, 0)
        held = self._rows_of_load(load.table.ref, load.load_id)
        return Applied(held, already=held > 0)

    def _apply_as_job(self, load: Load, statement: str) -> Applied:
        """Runs the statement as a Jobs run of this identity; a run that cannot be confirmed as this
        identity's (or a token the Jobs API refuses, e.g. its run was deleted) means a new attempt."""
        attempt, refused_before = load.attempt, False
        while True:
            try:
                self.last_run_id = run_sql(
                    self.client,
                    sql=statement,
                    table_id=load.table_id,
                    load_id=load.load_id,
                    attempt=attempt,
                    warehouse_id=self.warehouse_id,
                    workspace_dir=self.jobs_workspace_dir,
                    timeout_seconds=self.statement_timeout,
                    poll_seconds=self.poll_seconds,
                )
            except JobRunFailedError as exc:
                self.last_run_id = exc.run_id
                raise
            except RunNotConfirmedError as exc:
                if (exc.refused and refused_before) or attempt - load.attempt >= _MAX_NEW_ATTEMPTS:
                    raise  # a new token is refused too: the refusal is not about the token
                refused_before = exc.refused
                logger.warning("%s; starting attempt %d", exc, attempt + 1)
                attempt += 1
                continue
            return Applied(load.rows, attempt=None if attempt == load.attempt else attempt)

    def _rows_of_load(self, ref: TableRef, load_id: str) -> int:
        result = self.execute(sql.count_load_rows(ref), {"load_id": (load_id, "STRING")})
        return int(result.rows[0][0] or 0) if result.rows else 0

    def read_staged(self, staged: str) -> pa.Table:
        import pyarrow.parquet as pq
        from databricks.sdk.errors import NotFound

        try:
            download = self.client.files.download(staged)
        except NotFound as exc:
            raise FileNotFoundError(staged) from exc
        if download.contents is None:
            raise FileNotFoundError(staged)
        with download.contents as stream:
            return pq.read_table(io.BytesIO(stream.read()))

    def unstage(self, staged: str) -> None:
        with self._ledger_lock:
            if self._pending:  # the ledger rows that make the file unneeded have not landed yet
                self._pending_unstage.append(staged)
                return
        self._delete_staged(staged)

    def _delete_staged(self, staged: str) -> None:
        from databricks.sdk.errors import NotFound

        try:
            self.client.files.delete(staged)
        except NotFound as exc:  # already gone: unstage is idempotent
            _release_frames(exc)

    def activate_version(self, spec: TableSpec, version: int, *, hard_delete: bool) -> None:
        existing = self._existing_columns(spec.ref)
        if existing is None:
            return  # nothing loaded yet, nothing to retire
        # The sink's specs carry both columns; a table made by an older spec may lack them.
        needed = [sch.TABLE_VERSION] if hard_delete else [sch.TABLE_VERSION, sch.DELETED_AT]
        missing = [sch.METADATA_FIELDS[name].column for name in needed if name not in existing]
        if missing:
            self.execute(sql.add_columns(spec.ref, missing))
        self._tables.pop(spec.ref, None)
        params: dict[str, tuple[object, str]] = {"version": (version, "BIGINT")}
        if not hard_delete:
            params["deleted_at"] = (dt.datetime.now(dt.UTC), "TIMESTAMP")
        self.execute(sql.activate_version(spec.ref, hard_delete=hard_delete), params)

    # --- ledger ----------------------------------------------------------------------------------

    def _ledger_exists(self) -> bool:
        """Whether the ledger table exists, read through Unity Catalog once per run (no statement).
        An existing ledger gets the columns and the view definition of this release; a missing one
        is made by the first ledger write, with its rows (_create_ledger)."""
        from databricks.sdk.errors import NotFound

        with self._ledger_lock:
            if self._ledger_ready is None:
                try:
                    info = self.client.tables.get(sql.ledger_ref(self.catalog, self.schema).full_name)
                except NotFound as exc:
                    _release_frames(exc)
                    self._ledger_ready = False
                else:
                    self._converge_ledger(info)
                    self._ledger_ready = True
            return self._ledger_ready

    def _converge_ledger(self, info: TableInfo) -> None:
        """A ledger from before a column existed (table_id) gets it; the view is (re)defined when the
        ledger's mark names another definition or the view is missing."""
        ledger = sql.ledger_ref(self.catalog, self.schema)
        existing = {(c.name or "").lower() for c in info.columns or []}
        missing = [
            Column(name, sql_type, audit.LEDGER_SCHEMA.field(name).type)
            for name, sql_type in LEDGER_COLUMNS
            if name not in existing
        ]
        if missing:
            self.execute(sql.add_columns(ledger, missing))
        marked = (info.properties or {}).get(sql.LEDGER_VIEW_PROPERTY) == sql.ledger_view_version(
            self.catalog, self.schema
        )
        view = TableRef(self.catalog, self.schema, LEDGER_VIEW)
        if not marked or not self.client.tables.exists(view.full_name).table_exists:
            self.execute(sql.create_ledger_view(self.catalog, self.schema))
            if not marked:
                self.execute(sql.mark_ledger_view(self.catalog, self.schema))

    def _create_ledger(self, entries: t.Sequence[LedgerEntry]) -> None:
        """The ledger made by the statement that writes its first rows, with its view (one script)."""
        from databricks.sdk.errors import NotFound

        try:
            self._create_ledger_and_view(entries)
        except StatementFailedError as exc:
            if exc.sql_state != "42P07":  # TABLE_OR_VIEW_ALREADY_EXISTS
                raise
            # Another writer made it first (or this statement's own request, retried by the SDK,
            # did: its rows are then written twice, which no ledger reading counts twice).
            try:
                info = self.client.tables.get(sql.ledger_ref(self.catalog, self.schema).full_name)
            except NotFound:
                raise exc from None
            self._converge_ledger(info)
            self._ledger_ready = True
            self.execute(sql.ledger_insert(self.catalog, self.schema, entries))
            return
        self._ledger_ready = True

    def _create_ledger_and_view(self, entries: t.Sequence[LedgerEntry]) -> None:
        """One SQL script; a warehouse that does not parse scripts (before DBR 16.3) runs nothing of
        it and gets the same two statements one by one."""
        try:
            self.execute(sql.create_ledger_script(self.catalog, self.schema, entries))
            return
        except StatementFailedError as exc:
            if exc.sql_state not in _NO_SQL_SCRIPTING:
                raise
            logger.info(
                "SQL warehouse %s does not run SQL scripts (%s): creating the ledger and its view "
                "with two statements",
                self.warehouse_id,
                exc.sql_state,
            )
        self.execute(sql.create_ledger(self.catalog, self.schema, entries))
        self.execute(sql.create_ledger_view(self.catalog, self.schema))

    def ledger_append(self, entries: t.Sequence[LedgerEntry]) -> None:
        """Appends the rows, with any deferred ones first: one INSERT per 200 rows."""
        if not entries:
            return
        with self._ledger_lock:
            for item in entries:
                if item.table_id is not None and item.table_id in self._ledger_rows:
                    self._ledger_rows[item.table_id].append(item)
            if self.defer_ledger_rows and all(e.status in ("committed", "skipped") for e in entries):
                self._pending.extend(entries)
                return
            self._write_ledger([*self._pending, *entries])

    def flush_ledger(self) -> None:
        """Writes the deferred ledger rows, then removes the staged files they made unneeded."""
        with self._ledger_lock:
            self._write_ledger(list(self._pending))

    def _write_ledger(self, entries: t.Sequence[LedgerEntry]) -> None:
        for start in range(0, len(entries), _LEDGER_CHUNK):
            chunk = entries[start : start + _LEDGER_CHUNK]
            if self._ledger_exists():
                self.execute(sql.ledger_insert(self.catalog, self.schema, chunk))
            else:
                self._create_ledger(chunk)
        self._pending.clear()
        unstage, self._pending_unstage = self._pending_unstage, []
        for staged in unstage:
            self._delete_staged(staged)

    def ledger_read(self) -> list[LedgerEntry]:
        self.flush_ledger()
        if not self._ledger_exists():
            return []
        result = self.execute(sql.ledger_select(self.catalog, self.schema))
        return audit.entries_from_arrow(_result_table(result, audit.LEDGER_SCHEMA))

    # --- reads and maintenance -------------------------------------------------------------------

    def read_table(self, ref: TableRef) -> pa.Table:
        import pyarrow as pa

        try:
            result = self.execute(sql.select_all(ref))
        except StatementFailedError as exc:
            # TABLE_OR_VIEW_NOT_FOUND (42P01), SCHEMA_NOT_FOUND / CATALOG_NOT_FOUND (42704)
            if exc.sql_state in ("42P01", "42704"):
                raise EngineError(f"table {ref.full_name} does not exist in the workspace") from exc
            raise
        spec = self._tables.get(ref)
        fields = []
        for name, type_text in result.columns:
            column = spec.column(name) if spec else None
            fields.append(pa.field(name, column.arrow_type if column else sch.arrow_type_for_sql(type_text)))
        return _result_table(result, pa.schema(fields))

    def maintain(self, refs: t.Sequence[TableRef], *, vacuum_retention_hours: int) -> list[str]:
        lines = []
        hours = int(vacuum_retention_hours)
        if hours < MIN_VACUUM_RETENTION_HOURS:
            lines.append(
                f"vacuum retention raised from {hours} to {MIN_VACUUM_RETENTION_HOURS} hours "
                "(Databricks' minimum on SQL warehouses)"
            )
            hours = MIN_VACUUM_RETENTION_HOURS
        ledger = sql.ledger_ref(self.catalog, self.schema)
        for ref in dict.fromkeys([*refs, ledger]):  # the ledger grows too; keep order, no repeats
            if ref == ledger and self._existing_columns(ref) is None:
                continue
            self.execute(sql.optimize(ref))
            lines.append(f"OPTIMIZE {ref.full_name}")
            self.execute(sql.vacuum(ref, hours))
            lines.append(f"VACUUM {ref.full_name} RETAIN {hours} HOURS")
        return lines

    def close(self) -> None:
        try:
            self.flush_ledger()
        finally:
            self._client = None


def _release_frames(exc: BaseException) -> None:
    """For an error caught and handled during a load: databricks-sdk keeps the error it raises in a
    local of its retry wrapper (`last_err`), so error -> traceback -> that frame -> error is a cycle,
    and the traceback reaches the load's own frames (their Arrow tables) through `f_back`. Clearing
    the finished frames' locals breaks it: all of it is freed when the handler ends, not at the
    cycle collector's next run."""
    traceback.clear_frames(exc.__traceback__)


def _column_types(info: TableInfo) -> dict[str, str]:
    return {
        (c.name or "").lower(): c.type_text or (c.type_name.value if c.type_name else "")
        for c in info.columns or []
    }


def _typed(column: Column, sql_type: str) -> Column:
    """The column with another Databricks type (and its Arrow type); unchanged when the same."""
    to = sch.normalize_type(sql_type)
    if to == sch.normalize_type(column.sql_type):
        return column
    return dataclasses.replace(column, sql_type=to, arrow_type=sch.arrow_type_for_sql(to))


def _clustering_columns(properties: t.Mapping[str, str]) -> tuple[str, ...]:
    """Liquid clustering keys as Unity Catalog shows them: property clusteringColumns, e.g.
    `[["id"],["client_id"]]` (one name path per key)."""
    try:
        paths = json.loads(properties.get("clusteringColumns") or "[]")
    except ValueError:
        return ()
    return tuple(".".join(path).lower() for path in paths if isinstance(path, list))


def _statement_kind(load: Load) -> t.Literal["merge", "overwrite", "copy"]:
    if load.method == "upsert" and load.table.key_properties:
        return "merge"
    return "overwrite" if load.method == "overwrite" else "copy"


def _result_table(result: Result, schema: pa.Schema) -> pa.Table:
    """A JSON_ARRAY result as an Arrow table of `schema` (one field per result column, in order)."""
    import pyarrow as pa

    arrays = [
        pa.array([_python_value(row[i], field.type) for row in result.rows], type=field.type)
        for i, field in enumerate(schema)
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _summary(statement: str) -> str:
    flat = " ".join(statement.split())
    return flat if len(flat) <= 200 else flat[:197] + "..."


def _timestamp(text: str, tz: str | None) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    if tz is None:
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # session time zone is UTC


def _python_value(text: str | None, arrow_type: pa.DataType) -> object:
    """A JSON_ARRAY string (the API sends every value as text) as a Python value of arrow_type."""
    import pyarrow as pa

    types = pa.types
    if text is None:
        return None
    if types.is_string(arrow_type) or types.is_large_string(arrow_type):
        return text
    if types.is_boolean(arrow_type):
        return text.strip().lower() == "true"
    if types.is_integer(arrow_type):
        return int(text)
    if types.is_floating(arrow_type):
        return float(text)
    if types.is_decimal(arrow_type):
        return decimal.Decimal(text)
    if types.is_timestamp(arrow_type):
        return _timestamp(text, arrow_type.tz)
    if types.is_date(arrow_type):
        return dt.date.fromisoformat(text.strip()[:10])
    if types.is_binary(arrow_type) or types.is_large_binary(arrow_type):
        return base64.b64decode(text)
    if types.is_nested(arrow_type):
        return json.loads(text)
    return text
