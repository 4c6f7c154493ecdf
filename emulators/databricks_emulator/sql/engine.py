"""Execute Databricks SQL on DuckDB: one connection, one lock, one ATTACHed database file per catalog."""

from __future__ import annotations

import functools
import json
import logging
import re
import shutil
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from databricks_emulator.auth import SERVICE_PRINCIPAL_ID
from databricks_emulator.errors import SqlError
from databricks_emulator.sql import rewrite
from databricks_emulator.sql.file_sources import list_files, match_pattern, reader_sql
from databricks_emulator.sql.names import (
    HIDDEN_SCHEMAS,
    META_SCHEMA,
    NAME_PATTERN,
    VolumePath,
    duck_catalog,
    meta_table,
    quote,
    split_name,
    uc_catalog,
    unmap_message,
    volume_path_or_sql_error,
)
from databricks_emulator.sql.scripting import compound_body, is_compound, split_statements
from databricks_emulator.sql.types import (
    databricks_type,
    json_array_value,
    type_mapping_sql,
    type_widening_allowed,
)

# sqlglot warns for every Databricks-only property it drops (USING DELTA, TBLPROPERTIES): expected here.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

# Characters Delta rejects in column names unless column mapping is on.
_INVALID_COLUMN_CHARS = set(" ,;{}()\n\t=")
# Session settings a SQL warehouse accepts (everything else is rejected, e.g. spark.* confs).
_WAREHOUSE_SETTINGS = {
    "ansi_mode",
    "enable_photon",
    "legacy_time_parser_policy",
    "max_file_partition_bytes",
    "read_only_external_metastore",
    "statement_timeout",
    "timezone",
    "use_cached_result",
    "query_tags",
}
_META_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {{cat}}.{quote(META_SCHEMA)}",
    f"CREATE TABLE IF NOT EXISTS {{cat}}.{quote(META_SCHEMA)}.volumes "
    "(schema_name VARCHAR, name VARCHAR, comment VARCHAR, created_at TIMESTAMPTZ DEFAULT now())",
    f"CREATE TABLE IF NOT EXISTS {{cat}}.{quote(META_SCHEMA)}.copy_loaded "
    "(schema_name VARCHAR, table_name VARCHAR, path VARCHAR, loaded_at TIMESTAMPTZ DEFAULT now())",
    f"CREATE TABLE IF NOT EXISTS {{cat}}.{quote(META_SCHEMA)}.table_properties "
    "(schema_name VARCHAR, table_name VARCHAR, key VARCHAR, value VARCHAR)",
    f"CREATE TABLE IF NOT EXISTS {{cat}}.{quote(META_SCHEMA)}.table_ids "
    "(schema_name VARCHAR, table_name VARCHAR, table_id VARCHAR)",
    # What DuckDB cannot hold: column and table comments (column_name '' is the table's own), and
    # informational primary keys (Unity Catalog records them, nothing enforces them).
    f"CREATE TABLE IF NOT EXISTS {{cat}}.{quote(META_SCHEMA)}.comments "
    "(schema_name VARCHAR, table_name VARCHAR, column_name VARCHAR, comment VARCHAR)",
    f"CREATE TABLE IF NOT EXISTS {{cat}}.{quote(META_SCHEMA)}.constraints "
    "(schema_name VARCHAR, table_name VARCHAR, name VARCHAR, columns VARCHAR, rely BOOLEAN)",
)
# Liquid clustering: at most this many keys, shown as the table property clusteringColumns.
_MAX_CLUSTER_COLUMNS = 4
CLUSTERING_PROPERTY = "clusteringColumns"


@dataclass
class Session:
    """Current catalog and schema: per statement for the Statement API, per script for a job run."""

    catalog: str = "main"
    schema: str = "default"


@dataclass
class SqlResult:
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, Databricks type text)
    rows: list[list[str | None]] = field(default_factory=list)


@dataclass(frozen=True)
class Parameter:
    name: str
    value: str | None
    type: str = "STRING"


def _error_from_duckdb(exc: duckdb.Error) -> SqlError:
    text = unmap_message(str(exc))
    if isinstance(exc, duckdb.CatalogException):
        if "does not exist" in text and "Schema" in text:
            return SqlError("SCHEMA_NOT_FOUND", text, "42704")
        if "does not exist" in text:
            return SqlError("TABLE_OR_VIEW_NOT_FOUND", text, "42P01")
        if "already exists" in text:
            return SqlError("TABLE_OR_VIEW_ALREADY_EXISTS", text, "42P07")
        return SqlError("CATALOG_ERROR", text, "42000")
    if isinstance(exc, duckdb.BinderException):
        if "not found" in text or "does not have a column" in text:
            return SqlError("UNRESOLVED_COLUMN.WITH_SUGGESTION", text, "42703")
        return SqlError("DATATYPE_MISMATCH", text, "42K09")
    if isinstance(exc, duckdb.ParserException):
        return SqlError("PARSE_SYNTAX_ERROR", text, "42601")
    if isinstance(exc, duckdb.OutOfRangeException):
        return SqlError("NUMERIC_VALUE_OUT_OF_RANGE", text, "22003")
    if isinstance(exc, duckdb.ConversionException):
        if "out of range" in text:
            return SqlError("NUMERIC_VALUE_OUT_OF_RANGE", text, "22003")
        return SqlError("CAST_INVALID_INPUT", text, "22018")
    if isinstance(exc, duckdb.ConstraintException):
        return SqlError("DELTA_NOT_NULL_CONSTRAINT_VIOLATED", text, "23502")
    if isinstance(exc, duckdb.TransactionException):
        return SqlError("DELTA_CONCURRENT_APPEND", text, "2D521", error_code="ABORTED")
    if isinstance(exc, duckdb.DependencyException):
        return SqlError("SCHEMA_NOT_EMPTY", text, "2BP01")
    return SqlError("EMULATOR_DUCKDB_ERROR", text, "XX000")


class SqlEngine:
    """All SQL the emulator runs goes through here, serialized by one lock (DuckDB connection is shared)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.catalogs_dir = data_dir / "catalogs"
        self.volumes_root = data_dir / "volumes"
        self.catalogs_dir.mkdir(parents=True, exist_ok=True)
        self.volumes_root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.executed = 0  # SQL statements run (Statement API and job runs)
        # Their text, in order (tests count statements by kind); bounded for a long-running server.
        self.executed_log: deque[str] = deque(maxlen=100_000)
        # Privileges the principal lacks (the app shares Control.denied_privileges here).
        self.denied_privileges: set[str] = set()
        # Whether the warehouse runs SQL scripts (Databricks SQL, DBR 16.3+); off, BEGIN is a syntax error.
        self.sql_scripting = True
        self._con = duckdb.connect(str(data_dir / "emulator.duckdb"))
        self._con.execute("SET TimeZone = 'UTC'")
        # Scratch state of tests and benchmarks: a commit need not survive an OS crash, and an
        # fsync per statement made a 100k-row MERGE wait on the disk.
        self._con.execute("SET fsync_mode = 'NONE'")
        # The catalogs ATTACHed, kept here: every request asks, and DuckDB's catalog is slow to read.
        self._catalogs: set[str] = set()
        # A SQL macro, not a Python UDF: DuckDB's Python UDFs need numpy.
        self._con.execute(f"CREATE OR REPLACE TEMP MACRO databricks_type(t) AS {type_mapping_sql('t')}")
        for file in sorted(self.catalogs_dir.glob("*.duckdb")):
            self._attach(file.stem)
        if "main" not in self.catalog_names():
            self.create_catalog("main", if_not_exists=True)

    def reset_executed(self) -> None:
        with self.lock:
            self.executed = 0
            self.executed_log.clear()

    def close(self) -> None:
        with self.lock:
            self._con.close()

    # ---- catalogs, schemas, volumes (also used by the Unity Catalog REST routes) ----

    def _attach(self, catalog: str) -> None:
        cat = quote(duck_catalog(catalog))
        self._con.execute(f"ATTACH {_literal(str(self.catalogs_dir / (catalog + '.duckdb')))} AS {cat}")
        for ddl in _META_DDL:
            self._con.execute(ddl.format(cat=cat))
        self._catalogs.add(catalog)

    def catalog_names(self) -> list[str]:
        with self.lock:
            return sorted(self._catalogs)

    def require_privilege(self, privilege: str, securable: str) -> None:
        """Refuse what the principal may not do; REST answers it as 403 PERMISSION_DENIED."""
        if privilege in self.denied_privileges:
            raise SqlError(
                "INSUFFICIENT_PERMISSIONS",
                f"Insufficient privileges: User does not have {privilege.replace('_', ' ')} on {securable}.",
                "42501",
            )

    def create_catalog(self, catalog: str, *, if_not_exists: bool = False) -> None:
        catalog = catalog.lower()
        with self.lock:
            if if_not_exists and catalog in self.catalog_names():
                return
            self.require_privilege("CREATE_CATALOG", "Metastore")
            if catalog in self.catalog_names():
                raise SqlError("CATALOG_ALREADY_EXISTS", f"Catalog '{catalog}' already exists.", "42P04")
            self._attach(catalog)
            self._con.execute(
                f"CREATE SCHEMA IF NOT EXISTS {quote(duck_catalog(catalog))}.{quote('default')}"
            )

    def drop_catalog(self, catalog: str, *, if_exists: bool, cascade: bool) -> None:
        catalog = catalog.lower()
        with self.lock:
            if catalog not in self.catalog_names():
                if if_exists:
                    return
                raise SqlError("NO_SUCH_CATALOG_EXCEPTION", f"Catalog '{catalog}' was not found.", "42704")
            if not cascade and any(s != "default" for s in self.schema_names(catalog)):
                raise SqlError(
                    "SCHEMA_NOT_EMPTY", f"Cannot drop catalog {catalog}: it is not empty.", "2BP01"
                )
            self._con.execute(f"DETACH {quote(duck_catalog(catalog))}")
            self._catalogs.discard(catalog)
            (self.catalogs_dir / f"{catalog}.duckdb").unlink(missing_ok=True)
            shutil.rmtree(self.volumes_root / catalog, ignore_errors=True)

    def require_catalog(self, catalog: str) -> None:
        if catalog.lower() not in self.catalog_names():
            raise SqlError("NO_SUCH_CATALOG_EXCEPTION", f"Catalog '{catalog}' was not found.", "42704")

    def schema_names(self, catalog: str) -> list[str]:
        with self.lock:
            rows = self._con.execute(
                "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ?", [duck_catalog(catalog)]
            ).fetchall()
        return sorted(n for (n,) in rows if n not in HIDDEN_SCHEMAS)

    def require_schema(self, catalog: str, schema: str) -> None:
        self.require_catalog(catalog)
        if schema.lower() not in self.schema_names(catalog):
            raise SqlError("SCHEMA_NOT_FOUND", f"The schema `{catalog}`.`{schema}` cannot be found.", "42704")

    def create_schema(self, catalog: str, schema: str, *, if_not_exists: bool = False) -> None:
        with self.lock:
            self.require_catalog(catalog)
            if if_not_exists and schema.lower() in self.schema_names(catalog):
                return
            self.require_privilege("CREATE_SCHEMA", f"Catalog '{catalog.lower()}'")
            if schema.lower() in self.schema_names(catalog):
                raise SqlError(
                    "SCHEMA_ALREADY_EXISTS",
                    f"Cannot create schema `{schema}` because it already exists.",
                    "42P06",
                )
            self._con.execute(f"CREATE SCHEMA {quote(duck_catalog(catalog))}.{quote(schema.lower())}")

    def tables(self, catalog: str, schema: str | None = None) -> list[dict[str, Any]]:
        """Tables and views with their columns, read back from DuckDB's catalog."""
        query = (
            "SELECT t.schema_name, t.table_name, 'MANAGED' AS kind FROM duckdb_tables() t "
            "WHERE t.database_name = $cat UNION ALL "
            "SELECT v.schema_name, v.view_name, 'VIEW' FROM duckdb_views() v "
            "WHERE v.database_name = $cat AND NOT v.internal ORDER BY 1, 2"
        )
        with self.lock:
            rows = self._con.execute(query, {"cat": duck_catalog(catalog)}).fetchall()
            out = []
            for schema_name, table_name, kind in rows:
                if schema_name in HIDDEN_SCHEMAS or (schema is not None and schema_name != schema.lower()):
                    continue
                out.append(
                    {
                        "schema": schema_name,
                        "name": table_name,
                        "table_type": kind,
                        "columns": self._columns(catalog, schema_name, table_name),
                        "properties": self._properties(catalog, schema_name, table_name),
                        "comments": self._comments(catalog, schema_name, table_name),
                        "constraints": self._constraints(catalog, schema_name, table_name),
                    }
                )
        return out

    def _table_exists(self, catalog: str, schema: str, table: str) -> bool:
        rows = self._con.execute(
            "SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ? "
            "UNION ALL SELECT 1 FROM duckdb_views() "
            "WHERE database_name = ? AND schema_name = ? AND view_name = ?",
            [duck_catalog(catalog), schema, table] * 2,
        ).fetchall()
        return bool(rows)

    def _columns(self, catalog: str, schema: str, table: str) -> list[tuple[str, str, bool]]:
        rows = self._con.execute(
            "SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
            "WHERE database_name = ? AND schema_name = ? AND table_name = ? ORDER BY column_index",
            [duck_catalog(catalog), schema, table],
        ).fetchall()
        return [(name, databricks_type(dtype), bool(nullable)) for name, dtype, nullable in rows]

    def table_id(self, catalog: str, schema: str, table: str) -> str:
        """Unity Catalog's table_id: stable for the table's life, new after DROP or CREATE OR REPLACE
        (both forget it through _forget_table), given on first sight."""
        meta = meta_table(catalog, "table_ids")
        with self.lock:
            rows = self._con.execute(
                f"SELECT table_id FROM {meta} WHERE schema_name = ? AND table_name = ?", [schema, table]
            ).fetchall()
            if rows:
                return str(rows[0][0])
            new = str(uuid.uuid4())
            self._con.execute(f"INSERT INTO {meta} VALUES (?, ?, ?)", [schema, table, new])
            return new

    def _properties(self, catalog: str, schema: str, table: str) -> dict[str, str]:
        rows = self._con.execute(
            f"SELECT key, value FROM {meta_table(catalog, 'table_properties')} "
            "WHERE schema_name = ? AND table_name = ?",
            [schema, table],
        ).fetchall()
        return dict(rows)

    def _comments(self, catalog: str, schema: str, table: str) -> dict[str, str]:
        """Column name -> comment; the key '' holds the table comment."""
        rows = self._con.execute(
            f"SELECT column_name, comment FROM {meta_table(catalog, 'comments')} "
            "WHERE schema_name = ? AND table_name = ?",
            [schema, table],
        ).fetchall()
        return dict(rows)

    def _constraints(self, catalog: str, schema: str, table: str) -> list[dict[str, Any]]:
        rows = self._con.execute(
            f"SELECT name, columns, rely FROM {meta_table(catalog, 'constraints')} "
            "WHERE schema_name = ? AND table_name = ? ORDER BY name",
            [schema, table],
        ).fetchall()
        return [{"name": n, "columns": json.loads(c), "rely": bool(r)} for n, c, r in rows]

    def _set_comment(self, catalog: str, schema: str, table: str, column: str, comment: str | None) -> None:
        meta = meta_table(catalog, "comments")
        self._con.execute(
            f"DELETE FROM {meta} WHERE schema_name = ? AND table_name = ? AND column_name = ?",
            [schema, table, column],
        )
        if comment:
            self._con.execute(f"INSERT INTO {meta} VALUES (?, ?, ?, ?)", [schema, table, column, comment])

    def _set_property(self, catalog: str, schema: str, table: str, key: str, value: str | None) -> None:
        meta = meta_table(catalog, "table_properties")
        self._con.execute(
            f"DELETE FROM {meta} WHERE schema_name = ? AND table_name = ? AND key = ?", [schema, table, key]
        )
        if value is not None:
            self._con.execute(f"INSERT INTO {meta} VALUES (?, ?, ?, ?)", [schema, table, key, value])

    def volumes(self, catalog: str, schema: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            self.require_catalog(catalog)
            rows = self._con.execute(
                f"SELECT schema_name, name, comment, epoch_ms(created_at) FROM "
                f"{meta_table(catalog, 'volumes')} ORDER BY 1, 2"
            ).fetchall()
        return [
            {"schema": s, "name": n, "comment": c, "created_at": t}
            for s, n, c, t in rows
            if schema is None or s == schema.lower()
        ]

    def volume_exists(self, catalog: str, schema: str, volume: str) -> bool:
        if catalog not in self.catalog_names():
            return False
        return any(v["name"] == volume for v in self.volumes(catalog, schema))

    def create_volume(
        self, catalog: str, schema: str, volume: str, *, if_not_exists: bool, comment: str = ""
    ) -> None:
        catalog, schema, volume = catalog.lower(), schema.lower(), volume.lower()
        with self.lock:
            self.require_schema(catalog, schema)
            if if_not_exists and self.volume_exists(catalog, schema, volume):
                return
            self.require_privilege("CREATE_VOLUME", f"Schema '{catalog}.{schema}'")
            if self.volume_exists(catalog, schema, volume):
                raise SqlError(
                    "VOLUME_ALREADY_EXISTS",
                    f"Volume `{catalog}`.`{schema}`.`{volume}` already exists.",
                    "42000",
                )
            self._con.execute(
                f"INSERT INTO {meta_table(catalog, 'volumes')} (schema_name, name, comment) VALUES (?, ?, ?)",
                [schema, volume, comment or None],
            )
        (self.volumes_root / catalog / schema / volume).mkdir(parents=True, exist_ok=True)

    def drop_volume(self, catalog: str, schema: str, volume: str, *, if_exists: bool) -> None:
        with self.lock:
            if not self.volume_exists(catalog, schema, volume):
                if if_exists:
                    return
                raise SqlError(
                    "VOLUME_NOT_FOUND", f"Volume `{catalog}`.`{schema}`.`{volume}` not found.", "42704"
                )
            self._con.execute(
                f"DELETE FROM {meta_table(catalog, 'volumes')} WHERE schema_name = ? AND name = ?",
                [schema, volume],
            )
        shutil.rmtree(self.volumes_root / catalog / schema / volume, ignore_errors=True)

    def volume_local_path(self, path: VolumePath) -> Path:
        """The folder behind a /Volumes path; SQL error when the volume does not exist."""
        if not self.volume_exists(path.catalog, path.schema, path.volume):
            raise SqlError(
                "UC_VOLUME_NOT_FOUND",
                f"Volume `{path.full_name}` does not exist.",
                "42704",
                error_code="NOT_FOUND",
            )
        return path.local(self.volumes_root)

    # ---- statement execution ----

    def execute(
        self, sql: str, params: list[Parameter] | None = None, session: Session | None = None
    ) -> SqlResult:
        """Run one statement; raises SqlError as Databricks would fail it."""
        session = session or Session()
        if is_compound(sql):
            return self._execute_compound(sql, params or [], session)
        if ";" in sql.strip().rstrip(";") and len(split_statements(sql)) > 1:
            raise SqlError(
                "PARSE_SYNTAX_ERROR", "Multiple statements are not allowed in one request.", "42601"
            )
        with self.lock:
            self.executed += 1
            self.executed_log.append(sql)
            return self._execute_or_roll_back(sql.strip().rstrip(";"), params or [], session)

    def _execute_or_roll_back(self, sql: str, params: list[Parameter], session: Session) -> SqlResult:
        """One statement (the lock held); a failure rolls its open transaction back and answers as
        Databricks would."""
        try:
            return self._execute(sql, params, session)
        except duckdb.Error as exc:
            self._rollback()
            raise _error_from_duckdb(exc) from exc
        except SqlError:
            self._rollback()
            raise

    def _execute_compound(self, sql: str, params: list[Parameter], session: Session) -> SqlResult:
        """A SQL script: one statement of the request, its statements run in order, each committed
        on its own; it answers the result of its last query (none when it ran no query)."""
        if not self.sql_scripting:  # a warehouse before SQL scripting does not parse BEGIN
            raise SqlError("PARSE_SYNTAX_ERROR", "Syntax error at or near 'BEGIN'.", "42601")
        statements = compound_body(sql)
        for statement in statements:  # the whole script is parsed before any of it runs
            if not self._is_command(statement):
                self._parse(statement)
        with self.lock:
            self.executed += 1
            self.executed_log.append(sql)
            answer = SqlResult()
            for statement in statements:
                result = self._execute_or_roll_back(statement, params, session)
                if result.columns:
                    answer = result
            return answer

    def run_script(self, sql: str, session: Session | None = None) -> list[SqlResult]:
        """Run `;`-separated statements in order with one session (USE persists); stops at the first error."""
        session = session or Session()
        return [self.execute(statement, [], session) for statement in split_statements(sql)]

    def _rollback(self) -> None:
        with suppress(duckdb.Error):  # no transaction may be open
            self._con.execute("ROLLBACK")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._con.execute("BEGIN TRANSACTION")
        yield
        self._con.execute("COMMIT")

    def _use(self, session: Session) -> None:
        self.require_schema(session.catalog, session.schema)
        self._con.execute(f"USE {quote(duck_catalog(session.catalog))}.{quote(session.schema.lower())}")

    def _execute(self, sql: str, params: list[Parameter], session: Session) -> SqlResult:
        command = self._command(sql, session)
        if command is not None:
            return command
        trees = self._parse(sql)
        tree = trees[0] if trees else None
        if tree is None or isinstance(tree, exp.Command):
            raise SqlError(
                "EMULATOR_UNSUPPORTED_STATEMENT", f"The emulator does not support: {sql[:80]}", "0A000"
            )
        if isinstance(tree, exp.Use):
            return self._use_statement(tree, session)
        if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "SCHEMA":
            return self._create_schema(tree, session)
        self._use(session)
        rewrite.qualify_tables(tree, session)
        values = rewrite.bind_parameters(tree, params)
        rewrite.replace_read_files(tree, self._read_files_sql)
        rewrite.replace_information_schema(tree)
        rewrite.replace_session_functions(tree, session, SERVICE_PRINCIPAL_ID)
        if isinstance(tree, exp.Merge):
            return self._merge(tree, values)
        if isinstance(tree, exp.Copy):
            return self._copy_into(tree)
        if isinstance(tree, exp.Alter):
            return self._alter(tree, values)
        if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE":
            return self._create_table(tree, values)
        if isinstance(tree, exp.Describe):
            return self._describe(tree)
        if isinstance(tree, exp.Comment):
            return self._comment_on(tree)
        if isinstance(tree, exp.Insert):
            return self._insert(tree, values)
        if isinstance(tree, exp.Drop) and str(tree.args.get("kind", "")).upper() == "TABLE":
            return self._drop_table(tree)
        if isinstance(tree, exp.Update | exp.Delete):
            cursor = self._con.execute(tree.sql("duckdb"), values)
            return _dml_result(cursor.fetchall(), inserted=False)
        return self._query(tree.sql("duckdb"), values)

    @staticmethod
    def _parse(sql: str) -> list[exp.Expr | None]:
        try:
            return sqlglot.parse(sql, read="databricks")
        except (ParseError, TokenError) as exc:
            raise SqlError("PARSE_SYNTAX_ERROR", f"Syntax error: {exc}", "42601") from exc

    def _query(self, sql: str, values: dict[str, Any]) -> SqlResult:
        cursor = self._con.execute(sql, values)
        if not cursor.description:
            return SqlResult()
        columns = [(d[0], databricks_type(str(d[1]))) for d in cursor.description]
        if columns == [("Count", "BIGINT")] and not sql.lstrip().upper().startswith(
            ("SELECT", "WITH", "FROM")
        ):
            return SqlResult()  # DDL answers DuckDB's row count; Databricks answers nothing
        rows = [[json_array_value(v) for v in row] for row in cursor.fetchall()]
        return SqlResult(columns, rows)

    # ---- commands sqlglot does not parse ----

    def _is_command(self, sql: str) -> bool:
        return any(re.fullmatch(p, sql, flags=re.IGNORECASE | re.DOTALL) for p, _ in self._commands())

    def _command(self, sql: str, session: Session) -> SqlResult | None:
        for pattern, handler in self._commands():
            m = re.fullmatch(pattern, sql, flags=re.IGNORECASE | re.DOTALL)
            if m:
                return handler(m, session)
        return None

    def _commands(self) -> list[tuple[str, Callable[[re.Match[str], Session], SqlResult]]]:
        name = f"(?P<name>{NAME_PATTERN})"
        return [
            (rf"CREATE\s+CATALOG\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?{name}(?:\s+.*)?", self._cmd_create_catalog),
            (
                rf"DROP\s+CATALOG\s+(?P<ie>IF\s+EXISTS\s+)?{name}(?P<cascade>\s+CASCADE)?\s*(?:RESTRICT)?",
                self._cmd_drop_catalog,
            ),
            (
                rf"CREATE\s+(?:EXTERNAL\s+)?VOLUME\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?{name}"
                r"(?:\s+COMMENT\s+'(?P<comment>(?:[^']|'')*)')?\s*",
                self._cmd_create_volume,
            ),
            (rf"DROP\s+VOLUME\s+(?P<ie>IF\s+EXISTS\s+)?{name}\s*", self._cmd_drop_volume),
            (
                rf"(?P<verb>OPTIMIZE|VACUUM|ANALYZE\s+TABLE|REFRESH\s+TABLE)\s+{name}(?P<rest>\s+.*)?",
                self._cmd_table_noop,
            ),
            (r"MERGE\s+WITH\s+SCHEMA\s+EVOLUTION\s+.*", self._cmd_schema_evolution),
            (r"SHOW\s+CATALOGS.*", self._cmd_show_catalogs),
            (rf"SHOW\s+(?:SCHEMAS|DATABASES)(?:\s+(?:IN|FROM)\s+{name})?\s*", self._cmd_show_schemas),
            (rf"SHOW\s+TABLES(?:\s+(?:IN|FROM)\s+{name})?\s*", self._cmd_show_tables),
            (rf"SHOW\s+VOLUMES(?:\s+(?:IN|FROM)\s+{name})?\s*", self._cmd_show_volumes),
            (r"SET\s+(?P<key>[\w.]+)\s*(?:=\s*(?P<value>.*))?", self._cmd_set),
        ]

    def _cmd_create_catalog(self, m: re.Match[str], _s: Session) -> SqlResult:
        parts = split_name(m["name"])
        self.create_catalog(parts[-1], if_not_exists=bool(m["ine"]))
        return SqlResult()

    def _cmd_drop_catalog(self, m: re.Match[str], _s: Session) -> SqlResult:
        self.drop_catalog(split_name(m["name"])[-1], if_exists=bool(m["ie"]), cascade=bool(m["cascade"]))
        return SqlResult()

    def _three_part(self, text: str, session: Session) -> tuple[str, str, str]:
        parts = split_name(text)
        parts = [session.catalog, session.schema][: 3 - len(parts)] + parts if len(parts) < 3 else parts
        return parts[0], parts[1], parts[2]

    def _cmd_create_volume(self, m: re.Match[str], session: Session) -> SqlResult:
        catalog, schema, volume = self._three_part(m["name"], session)
        comment = (m["comment"] or "").replace("''", "'")
        self.create_volume(catalog, schema, volume, if_not_exists=bool(m["ine"]), comment=comment)
        return SqlResult()

    def _cmd_drop_volume(self, m: re.Match[str], session: Session) -> SqlResult:
        catalog, schema, volume = self._three_part(m["name"], session)
        self.drop_volume(catalog, schema, volume, if_exists=bool(m["ie"]))
        return SqlResult()

    def _cmd_table_noop(self, m: re.Match[str], session: Session) -> SqlResult:
        # OPTIMIZE / VACUUM compact Delta files: nothing to do on DuckDB, but the table must exist.
        catalog, schema, table = self._three_part(m["name"], session)
        if not self._table_exists(catalog, schema, table):
            raise SqlError(
                "TABLE_OR_VIEW_NOT_FOUND",
                f"The table or view `{catalog}`.`{schema}`.`{table}` cannot be found.",
                "42P01",
            )
        zorder = m["verb"].upper() == "OPTIMIZE" and re.search(r"\bZORDER\s+BY\b", m["rest"] or "", re.I)
        if zorder and CLUSTERING_PROPERTY in self._properties(catalog, schema, table):
            raise SqlError(
                "DELTA_CLUSTERING_WITH_ZORDER_BY",
                "OPTIMIZE command for Delta table with Liquid clustering cannot specify ZORDER BY. "
                "Please remove ZORDER BY.",
                "42613",
            )
        return SqlResult()

    def _cmd_schema_evolution(self, _m: re.Match[str], _s: Session) -> SqlResult:
        raise SqlError(
            "EMULATOR_UNSUPPORTED_STATEMENT",
            "MERGE WITH SCHEMA EVOLUTION is not emulated; "
            "add columns with ALTER TABLE ... ADD COLUMNS first.",
            "0A000",
        )

    def _cmd_show_catalogs(self, _m: re.Match[str], _s: Session) -> SqlResult:
        return SqlResult([("catalog", "STRING")], [[c] for c in self.catalog_names()])

    def _cmd_show_schemas(self, m: re.Match[str], session: Session) -> SqlResult:
        catalog = split_name(m["name"])[-1] if m["name"] else session.catalog
        self.require_catalog(catalog)
        return SqlResult([("databaseName", "STRING")], [[s] for s in self.schema_names(catalog)])

    def _cmd_show_tables(self, m: re.Match[str], session: Session) -> SqlResult:
        parts = split_name(m["name"]) if m["name"] else [session.schema]
        catalog, schema = (parts[0], parts[1]) if len(parts) > 1 else (session.catalog, parts[0])
        self.require_schema(catalog, schema)
        rows: list[list[str | None]] = [[schema, t["name"], "false"] for t in self.tables(catalog, schema)]
        return SqlResult([("database", "STRING"), ("tableName", "STRING"), ("isTemporary", "BOOLEAN")], rows)

    def _cmd_show_volumes(self, m: re.Match[str], session: Session) -> SqlResult:
        parts = split_name(m["name"]) if m["name"] else [session.schema]
        catalog, schema = (parts[0], parts[1]) if len(parts) > 1 else (session.catalog, parts[0])
        self.require_schema(catalog, schema)
        rows: list[list[str | None]] = [[schema, v["name"]] for v in self.volumes(catalog, schema)]
        return SqlResult([("database", "STRING"), ("volume_name", "STRING")], rows)

    def _cmd_set(self, m: re.Match[str], _s: Session) -> SqlResult:
        key = m["key"].lower()
        if key not in _WAREHOUSE_SETTINGS:
            raise SqlError("CONFIG_NOT_AVAILABLE", f"Configuration {m['key']} is not available.", "42K0I")
        return SqlResult()

    # ---- statements parsed by sqlglot ----

    def _use_statement(self, tree: exp.Use, session: Session) -> SqlResult:
        kind = str(tree.args.get("kind") or "").upper()
        table = tree.this
        parts = (
            [p.name.lower() for p in table.parts] if isinstance(table, exp.Table) else [str(table).lower()]
        )
        if kind == "CATALOG":
            self.require_catalog(parts[-1])
            session.catalog, session.schema = parts[-1], "default"
        elif len(parts) >= 2:
            self.require_schema(parts[-2], parts[-1])
            session.catalog, session.schema = parts[-2], parts[-1]
        else:
            self.require_schema(session.catalog, parts[-1])
            session.schema = parts[-1]
        return SqlResult()

    def _create_schema(self, tree: exp.Create, session: Session) -> SqlResult:
        table = tree.this
        assert isinstance(table, exp.Table)
        schema = (table.text("db") or table.name).lower()
        catalog = (table.text("catalog") or session.catalog).lower()
        self.create_schema(catalog, schema, if_not_exists=bool(tree.args.get("exists")))
        return SqlResult()

    def _table_ref(self, table: exp.Table) -> tuple[str, str, str]:
        """(catalog, schema, table) of a table already qualified by rewrite.qualify_tables."""
        catalog = uc_catalog(table.text("catalog")) or ""
        return catalog, table.text("db"), table.name

    def _column_mapping(self, catalog: str, schema: str, table: str) -> bool:
        props = self._properties(catalog, schema, table)
        return props.get("delta.columnMapping.mode", "none").lower() in ("name", "id")

    def _check_column_names(self, names: list[str], mapping: bool) -> None:
        if mapping:
            return
        bad = [n for n in names if _INVALID_COLUMN_CHARS & set(n)]
        if bad:
            raise SqlError(
                "DELTA_INVALID_CHARACTERS_IN_COLUMN_NAMES",
                f"Found invalid character(s) among ' ,;{{}}()\\n\\t=' in the column names of your schema: "
                f"{', '.join(repr(b) for b in bad)}. Please use other characters and try again. "
                "Alternatively, enable Column Mapping to keep using these characters.",
                "42K05",
            )

    def _create_table(self, tree: exp.Create, values: dict[str, Any]) -> SqlResult:
        properties: dict[str, str] = {}
        props = tree.args.get("properties")
        table_comment: str | None = None
        cluster: list[str] | None = None
        partitioned = False
        if isinstance(props, exp.Properties):
            for prop in props.expressions:
                # The specific properties first: they are exp.Property subclasses.
                if isinstance(prop, exp.SchemaCommentProperty):
                    table_comment = prop.this.name
                elif isinstance(prop, exp.ClusterProperty):
                    cluster = [c.name for c in prop.expressions]
                elif isinstance(prop, exp.PartitionedByProperty):
                    partitioned = True
                elif isinstance(prop, exp.Property) and isinstance(prop.this, exp.Literal):
                    properties[prop.this.name] = prop.text("value")
        schema_node = tree.this
        table = schema_node.this if isinstance(schema_node, exp.Schema) else schema_node
        assert isinstance(table, exp.Table)
        catalog, schema, name = self._table_ref(table)
        mapping = properties.get("delta.columnMapping.mode", "none").lower() in ("name", "id")
        comments: dict[str, str] = {"": table_comment} if table_comment else {}
        keys: list[tuple[str, list[str], bool]] = []
        if isinstance(schema_node, exp.Schema):
            defs = [c for c in schema_node.expressions if isinstance(c, exp.ColumnDef)]
            self._check_column_names([c.name for c in defs], mapping)
            comments.update(_take_column_comments(defs))
            keys = _take_primary_keys(schema_node, f"{name}_pk")
            not_null = {
                c.name.lower()
                for c in defs
                if any(isinstance(k.args.get("kind"), exp.NotNullColumnConstraint) for k in c.constraints)
            }
            for _, columns, _ in keys:
                _check_key_columns((catalog, schema, name), columns, {c.name.lower() for c in defs}, not_null)
            if cluster is not None:
                _check_clustering(cluster, {c.name.lower() for c in defs}, partitioned=partitioned)
        existed = self._table_exists(catalog, schema, name)
        with self._transaction():
            self._con.execute(tree.sql("duckdb"), values)
            replaced = bool(tree.args.get("replace")) or not existed
            if replaced:
                self._forget_table(catalog, schema, name)
                for key, value in properties.items():
                    self._set_property(catalog, schema, name, key, value)
                if cluster:
                    self._set_property(catalog, schema, name, CLUSTERING_PROPERTY, _clustering_json(cluster))
                for column, comment in comments.items():
                    self._set_comment(catalog, schema, name, column, comment)
                for constraint, columns, rely in keys:
                    self._con.execute(
                        f"INSERT INTO {meta_table(catalog, 'constraints')} VALUES (?, ?, ?, ?, ?)",
                        [schema, name, constraint, json.dumps(columns), rely],
                    )
        return SqlResult()

    def _drop_table(self, tree: exp.Drop) -> SqlResult:
        with self._transaction():
            self._con.execute(tree.sql("duckdb"))
            for table in tree.expressions:
                if isinstance(table, exp.Table):
                    self._forget_table(*self._table_ref(table))
        return SqlResult()

    def _forget_table(self, catalog: str, schema: str, name: str) -> None:
        """Drop a table's bookkeeping (properties, files COPY INTO loaded): it was replaced or dropped."""
        for bookkeeping in ("table_properties", "copy_loaded", "table_ids", "comments", "constraints"):
            self._con.execute(
                f"DELETE FROM {meta_table(catalog, bookkeeping)} WHERE schema_name = ? AND table_name = ?",
                [schema, name],
            )

    def _existing_columns(self, table: exp.Table) -> list[tuple[str, str, bool]]:
        catalog, schema, name = self._table_ref(table)
        columns = self._columns(catalog, schema, name)
        if not columns:
            raise SqlError(
                "TABLE_OR_VIEW_NOT_FOUND",
                f"The table or view `{catalog}`.`{schema}`.`{name}` cannot be found.",
                "42P01",
            )
        return columns

    def _alter(self, tree: exp.Alter, values: dict[str, Any]) -> SqlResult:
        table = tree.this
        if str(tree.args.get("kind", "")).upper() != "TABLE" or not isinstance(table, exp.Table):
            return self._query(tree.sql("duckdb"), values)
        catalog, schema, name = self._table_ref(table)
        statements: list[str] = []
        later: list[Callable[[], None]] = []  # catalog bookkeeping, in the same transaction
        for action in tree.args.get("actions") or []:
            if isinstance(action, exp.Schema | exp.ColumnDef):
                statements.extend(self._add_columns(table, action, later))
            elif isinstance(action, exp.AlterColumn) and action.args.get("dtype") is not None:
                statements.extend(self._change_type(table, action))
            elif isinstance(action, exp.AlterSet) and any(
                isinstance(e, exp.Properties) for e in action.expressions
            ):
                self._set_properties(catalog, schema, name, action)
            elif isinstance(action, exp.AlterColumn) and action.args.get("comment") is not None:
                column = self._require_column(table, action.name)
                text = action.args["comment"].name
                later.append(functools.partial(self._set_comment, catalog, schema, name, column, text))
            elif isinstance(action, exp.AlterColumn) and action.args.get("allow_null") is True:
                if any(action.name.lower() in k["columns"] for k in self._constraints(catalog, schema, name)):
                    raise SqlError(
                        "DELTA_CONSTRAINT_DEPENDENT_COLUMN_CHANGE",
                        f"Cannot drop NOT NULL of `{action.name}`: the primary key uses it.",
                        "42K09",
                    )
                statements.append(
                    exp.Alter(this=table.copy(), kind="TABLE", actions=[action.copy()]).sql("duckdb")
                )
            elif isinstance(action, exp.AddConstraint):
                later.append(self._add_primary_key(table, action))
            elif isinstance(action, exp.ClusterProperty):
                later.append(self._cluster_by(table, action))
            elif isinstance(action, exp.RenameColumn | exp.Drop) and not self._column_mapping(
                catalog, schema, name
            ):
                what = "RENAME COLUMN" if isinstance(action, exp.RenameColumn) else "DROP COLUMN"
                raise SqlError(
                    "DELTA_UNSUPPORTED_DROP_COLUMN"
                    if what == "DROP COLUMN"
                    else "DELTA_UNSUPPORTED_RENAME_COLUMN",
                    f"{what} is not supported for your Delta table. Please enable Column Mapping "
                    "on your Delta table with mapping mode 'name'.",
                    "0AKDC",
                )
            else:
                statements.append(
                    exp.Alter(this=table.copy(), kind="TABLE", actions=[action.copy()]).sql("duckdb")
                )
        with self._transaction():
            for statement in statements:
                self._con.execute(statement, values)
            for step in later:
                step()
        return SqlResult()

    def _require_column(self, table: exp.Table, column: str) -> str:
        names = {c[0].lower() for c in self._existing_columns(table)}
        if column.lower() not in names:
            raise SqlError("UNRESOLVED_COLUMN.WITH_SUGGESTION", f"Cannot find column `{column}`.", "42703")
        return column.lower()

    def _add_primary_key(self, table: exp.Table, action: exp.AddConstraint) -> Callable[[], None]:
        """ADD CONSTRAINT name PRIMARY KEY (...) [RELY]: the key columns must be NOT NULL already."""
        catalog, schema, name = self._table_ref(table)
        holder = exp.Schema(expressions=[e.copy() for e in action.expressions])
        keys = _take_primary_keys(holder, f"{name}_pk")
        if not keys or holder.expressions:
            raise SqlError(
                "EMULATOR_UNSUPPORTED_STATEMENT", "The emulator adds PRIMARY KEY constraints only.", "0A000"
            )
        if self._constraints(catalog, schema, name):
            raise SqlError(
                "DELTA_MULTIPLE_PRIMARY_KEYS",
                f"`{catalog}`.`{schema}`.`{name}` already has a PRIMARY KEY constraint.",
                "42P16",
            )
        columns = self._existing_columns(table)
        existing = {c[0].lower() for c in columns}
        not_null = {c[0].lower() for c in columns if not c[2]}
        constraint, key_columns, rely = keys[0]
        _check_key_columns((catalog, schema, name), key_columns, existing, not_null)

        def record() -> None:
            self._con.execute(
                f"INSERT INTO {meta_table(catalog, 'constraints')} VALUES (?, ?, ?, ?, ?)",
                [schema, name, constraint, json.dumps(key_columns), rely],
            )

        return record

    def _cluster_by(self, table: exp.Table, action: exp.ClusterProperty) -> Callable[[], None]:
        """ALTER TABLE ... CLUSTER BY (...) | NONE: liquid clustering keys, kept as a property."""
        catalog, schema, name = self._table_ref(table)
        columns = [c.name for c in action.expressions]
        value: str | None = None
        if columns:
            _check_clustering(
                columns, {c[0].lower() for c in self._existing_columns(table)}, partitioned=False
            )
            value = _clustering_json(columns)
        else:
            self._existing_columns(table)  # the table must exist
        return lambda: self._set_property(catalog, schema, name, CLUSTERING_PROPERTY, value)

    def _comment_on(self, tree: exp.Comment) -> SqlResult:
        """COMMENT ON TABLE t IS '...' (IS NULL removes it)."""
        table = tree.this
        if str(tree.args.get("kind", "")).upper() != "TABLE" or not isinstance(table, exp.Table):
            raise SqlError("EMULATOR_UNSUPPORTED_STATEMENT", "The emulator comments on tables only.", "0A000")
        self._existing_columns(table)
        catalog, schema, name = self._table_ref(table)
        text = tree.expression
        comment = text.name if isinstance(text, exp.Literal) and text.is_string else None
        with self._transaction():
            self._set_comment(catalog, schema, name, "", comment)
        return SqlResult()

    def _add_columns(
        self, table: exp.Table, action: exp.Expression, later: list[Callable[[], None]]
    ) -> list[str]:
        # DuckDB has no ADD COLUMNS (a, b): one ADD COLUMN each. Databricks fails on an existing name.
        catalog, schema, name = self._table_ref(table)
        defs = action.expressions if isinstance(action, exp.Schema) else [action]
        existing = {c[0].lower() for c in self._existing_columns(table)}
        names = [d.name for d in defs if isinstance(d, exp.ColumnDef)]
        self._check_column_names(names, self._column_mapping(catalog, schema, name))
        for column in names:
            if column.lower() in existing:
                raise SqlError(
                    "FIELD_ALREADY_EXISTS",
                    f"Cannot add column, because `{column}` already exists in "
                    f"`{catalog}`.`{schema}`.`{name}`.",
                    "42710",
                )
            existing.add(column.lower())
        target = table.sql("duckdb")
        column_defs = [d for d in defs if isinstance(d, exp.ColumnDef)]
        for column, comment in _take_column_comments(column_defs).items():
            later.append(functools.partial(self._set_comment, catalog, schema, name, column, comment))
        return [f"ALTER TABLE {target} ADD COLUMN {d.sql('duckdb')}" for d in column_defs]

    def _set_properties(self, catalog: str, schema: str, name: str, action: exp.AlterSet) -> None:
        if not self._table_exists(catalog, schema, name):
            raise SqlError(
                "TABLE_OR_VIEW_NOT_FOUND",
                f"The table or view `{catalog}`.`{schema}`.`{name}` cannot be found.",
                "42P01",
            )
        with self._transaction():
            for props in action.expressions:
                for prop in props.expressions if isinstance(props, exp.Properties) else []:
                    if not (isinstance(prop, exp.Property) and isinstance(prop.this, exp.Literal)):
                        continue
                    key, value = prop.this.name, prop.text("value")
                    self._con.execute(
                        f"DELETE FROM {meta_table(catalog, 'table_properties')} "
                        "WHERE schema_name = ? AND table_name = ? AND key = ?",
                        [schema, name, key],
                    )
                    self._con.execute(
                        f"INSERT INTO {meta_table(catalog, 'table_properties')} VALUES (?, ?, ?, ?)",
                        [schema, name, key, value],
                    )

    def _change_type(self, table: exp.Table, action: exp.AlterColumn) -> list[str]:
        """ALTER COLUMN ... TYPE: only Delta type widening, only where delta.enableTypeWidening is on."""
        column = action.name
        columns = {c[0].lower(): c[1] for c in self._existing_columns(table)}
        if column.lower() not in columns:
            raise SqlError("UNRESOLVED_COLUMN.WITH_SUGGESTION", f"Cannot find column `{column}`.", "42703")
        dtype = action.args["dtype"]
        description = self._con.execute(f"SELECT CAST(NULL AS {dtype.sql('duckdb')}) AS x").description
        new_type = databricks_type(str(description[0][1])) if description else ""

        old_type = columns[column.lower()]
        if new_type == old_type:
            return []
        catalog, schema, name = self._table_ref(table)
        properties = self._properties(catalog, schema, name)
        if properties.get("delta.enableTypeWidening", "").lower() == "true" and type_widening_allowed(
            old_type, new_type
        ):
            target = table.sql("duckdb")
            return [f"ALTER TABLE {target} ALTER COLUMN {quote(column)} TYPE {dtype.sql('duckdb')}"]
        raise SqlError(
            "NOT_SUPPORTED_CHANGE_COLUMN",
            "ALTER TABLE ALTER/CHANGE COLUMN is not supported for changing "
            f"`{catalog}`.`{schema}`.`{name}`'s "
            f'column `{column}` with type "{old_type}" to `{column}` with type "{new_type}".',
            "0AKD1",
        )

    def _describe(self, tree: exp.Describe) -> SqlResult:
        table = tree.this
        if not isinstance(table, exp.Table):
            return self._query(tree.sql("duckdb"), {})
        catalog, schema, name = self._table_ref(table)
        comments = self._comments(catalog, schema, name)
        columns = self._existing_columns(table)
        rows: list[list[str | None]] = [[n, t.lower(), comments.get(n.lower())] for n, t, _ in columns]
        properties = self._properties(catalog, schema, name)
        clustering = [".".join(p) for p in json.loads(properties.get(CLUSTERING_PROPERTY) or "[]")]
        types = {n.lower(): t.lower() for n, t, _ in columns}
        if clustering:
            rows += [["# Clustering Information", "", ""], ["# col_name", "data_type", "comment"]]
            rows += [[c, types.get(c, ""), comments.get(c)] for c in clustering]
        if str(tree.args.get("style") or "").upper() == "EXTENDED":
            shown = ",".join(f"{k}={v}" for k, v in sorted(properties.items()) if k != CLUSTERING_PROPERTY)
            rows += [
                ["", "", ""],
                ["# Detailed Table Information", "", ""],
                ["Catalog", catalog, ""],
                ["Database", schema, ""],
                ["Table", name, ""],
                ["Owner", SERVICE_PRINCIPAL_ID, ""],
                ["Type", "MANAGED", ""],
                ["Comment", comments.get("", ""), ""],
                ["Provider", "delta", ""],
                ["Table Properties", f"[{shown}]", ""],
            ]
            constraints = self._constraints(catalog, schema, name)
            if constraints:
                rows += [["", "", ""], ["# Constraints", "", ""]]
                rows += [
                    [
                        c["name"],
                        f"PRIMARY KEY ({', '.join('`' + k + '`' for k in c['columns'])})"
                        + (" RELY" if c["rely"] else ""),
                        "",
                    ]
                    for c in constraints
                ]
        return SqlResult([("col_name", "STRING"), ("data_type", "STRING"), ("comment", "STRING")], rows)

    def _insert(self, tree: exp.Insert, values: dict[str, Any]) -> SqlResult:
        if tree.args.get("overwrite"):
            # INSERT OVERWRITE replaces the table's rows atomically (one Delta commit).
            tree = tree.copy()
            tree.set("overwrite", False)
            table = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
            with self._transaction():
                self._con.execute(f"DELETE FROM {table.sql('duckdb')}")
                rows = self._con.execute(tree.sql("duckdb"), values).fetchall()
            return _dml_result(rows, inserted=True)
        return _dml_result(self._con.execute(tree.sql("duckdb"), values).fetchall(), inserted=True)

    def _merge(self, tree: exp.Merge, values: dict[str, Any]) -> SqlResult:
        target = tree.this
        source = tree.args["using"]
        assert isinstance(target, exp.Table)
        target_columns = [c[0] for c in self._existing_columns(target)]
        has_matched = rewrite.normalize_merge(tree, target_columns)
        if has_matched:
            # Delta fails a MERGE in which one target row matches several source rows; DuckDB would not.
            target_ref = quote(target.alias or target.name)
            probe = (
                f"SELECT 1 FROM {target.sql('duckdb')} JOIN {source.sql('duckdb')} "
                f"ON {tree.args['on'].sql('duckdb')} GROUP BY {target_ref}.rowid HAVING COUNT(*) > 1 LIMIT 1"
            )
            if self._con.execute(probe, values).fetchall():
                raise SqlError(
                    "DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE",
                    "Cannot perform Merge as multiple source rows matched and attempted to modify the same "
                    "target row in the Delta table in possibly conflicting ways.",
                    "21506",
                )
        statement = tree.sql("duckdb")
        if rewrite.merge_deletes(tree):
            actions = [
                r[0] for r in self._con.execute(statement + " RETURNING merge_action", values).fetchall()
            ]
            affected, deleted, inserted = len(actions), actions.count("DELETE"), actions.count("INSERT")
        else:
            # No row goes: the rows it inserted are what the table grew by, the others it affected were
            # updated. Two counts instead of fetching an action per row of a 100k-row batch.
            size = f"SELECT count(*) FROM {target.sql('duckdb')}"
            before = self._con.execute(size).fetchall()[0][0]
            affected = self._con.execute(statement, values).fetchall()[0][0]
            deleted, inserted = 0, self._con.execute(size).fetchall()[0][0] - before
        columns = [
            ("num_affected_rows", "BIGINT"),
            ("num_updated_rows", "BIGINT"),
            ("num_deleted_rows", "BIGINT"),
            ("num_inserted_rows", "BIGINT"),
        ]
        row: list[str | None] = [
            str(affected),
            str(affected - deleted - inserted),
            str(deleted),
            str(inserted),
        ]
        return SqlResult(columns, [row])

    def _read_files_sql(self, path: str, options: dict[str, str]) -> str:
        volume = volume_path_or_sql_error(path)
        local = self.volume_local_path(volume)
        files = list_files(local)
        if not files:
            raise SqlError(
                "UNABLE_TO_INFER_SCHEMA" if local.exists() else "PATH_NOT_FOUND",
                f"Path does not exist or holds no data files: {path}.",
                "42K03",
            )
        fmt = options.get("format")
        if fmt is None:
            suffixes = {f.suffix.lower().lstrip(".") for f in files}
            fmt = suffixes.pop() if len(suffixes) == 1 else "parquet"
        return reader_sql(fmt, files, options)

    def _copy_into(self, tree: exp.Copy) -> SqlResult:
        """COPY INTO t FROM '<location>' | FROM (SELECT <exprs> FROM '<location>') FILEFORMAT = ...

        Like Delta's schema enforcement, Parquet columns read (or selected) must have the table's
        types: a DECIMAL(15,2) or INT column is not silently widened into a DECIMAL(38,10) or BIGINT
        column (DELTA_FAILED_TO_MERGE_FIELDS); the SELECT form with CASTs is how a loader adapts.
        """
        target = tree.this
        assert isinstance(target, exp.Table)
        catalog, schema, name = self._table_ref(target)
        sources = tree.args.get("files") or []
        select: exp.Select | None = None
        path_table: exp.Table | None = None
        if len(sources) == 1 and isinstance(sources[0], exp.Subquery):
            inner = sources[0].this
            tables = [
                tb
                for tb in (inner.find_all(exp.Table) if isinstance(inner, exp.Select) else [])
                if isinstance(tb.this, exp.Identifier) and tb.name.startswith("/")
            ]
            if isinstance(inner, exp.Select) and len(tables) == 1:
                select, path_table = inner, tables[0]
        if select is None and (len(sources) != 1 or not isinstance(sources[0], exp.Literal)):
            raise SqlError(
                "EMULATOR_UNSUPPORTED_STATEMENT",
                "COPY INTO reads one '/Volumes/...' location, or SELECT ... FROM one such location.",
                "0A000",
            )
        location = path_table.name if path_table is not None else sources[0].name
        params = rewrite.copy_parameters(tree)
        volume = volume_path_or_sql_error(location)
        root = self.volume_local_path(volume)
        files = list_files(root)
        if params.files:
            files = (
                [f for f in files if f.relative_to(root).as_posix() in params.files] if root.is_dir() else []
            )
        elif params.pattern:
            files = match_pattern(files, root, params.pattern) if root.is_dir() else files
        target_columns = self._existing_columns(target)
        meta = meta_table(catalog, "copy_loaded")
        loaded = {
            r[0]
            for r in self._con.execute(
                f"SELECT path FROM {meta} WHERE schema_name = ? AND table_name = ?", [schema, name]
            ).fetchall()
        }

        def volume_name(f: Path) -> str:
            return (
                "/Volumes/"
                + volume.full_name.replace(".", "/")
                + "/"
                + f.relative_to(self.volumes_root / volume.catalog / volume.schema / volume.volume).as_posix()
            )

        new_files = files if params.force else [f for f in files if volume_name(f) not in loaded]
        columns = [
            ("num_affected_rows", "BIGINT"),
            ("num_inserted_rows", "BIGINT"),
            ("num_skipped_corrupt_files", "BIGINT"),
        ]
        if not new_files:
            return SqlResult(columns, [["0", "0", "0"]])
        reader = reader_sql(params.file_format, new_files, params.format_options)
        if select is not None and path_table is not None:
            reader_table = sqlglot.parse_one(f"SELECT * FROM {reader}", read="duckdb").args["from_"].this
            path_table.replace(reader_table)
            source = f"({select.sql('duckdb')})"
        else:
            source = reader
        with self._transaction():
            described = self._con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            if params.merge_schema:
                existing = {c[0].lower() for c in target_columns}
                for column, dtype, *_ in described:
                    if column.lower() not in existing:
                        self._con.execute(
                            f"ALTER TABLE {target.sql('duckdb')} ADD COLUMN {quote(column)} {dtype}"
                        )
            if params.file_format == "parquet":
                # Parquet's own types are authoritative; JSON/CSV text is parsed into the table's.
                self._check_copy_types(f"{catalog}.{schema}.{name}", target_columns, described)
            count = self._con.execute(
                f"INSERT INTO {target.sql('duckdb')} BY NAME SELECT * FROM {source}"
            ).fetchall()
            for f in new_files:
                self._con.execute(
                    f"INSERT INTO {meta} (schema_name, table_name, path) VALUES (?, ?, ?)",
                    [schema, name, volume_name(f)],
                )
        inserted = str(count[0][0]) if count else "0"
        return SqlResult(columns, [[inserted, inserted, "0"]])

    @staticmethod
    def _check_copy_types(
        table: str, target_columns: list[tuple[str, str, bool]], described: list[Any]
    ) -> None:
        """A column read with another type than the table's fails, as Delta's schema enforcement does."""
        table_types = {column.lower(): dtype for column, dtype, _ in target_columns}
        for column, duck_type, *_ in described:
            existing = table_types.get(str(column).lower())
            incoming = databricks_type(str(duck_type))
            if existing is None or incoming in ("VOID", existing):
                continue
            raise SqlError(
                "DELTA_FAILED_TO_MERGE_FIELDS",
                f"Failed to merge fields '{column}' and '{column}' of {table}: failed to merge "
                f"incompatible data types {existing} and {incoming}. Select the column with "
                f"CAST(... AS {existing}) in COPY INTO ... FROM (SELECT ... FROM '<path>').",
                "22005",
            )


def _take_column_comments(defs: list[exp.ColumnDef]) -> dict[str, str]:
    """Remove `COMMENT '...'` from column definitions (DuckDB has no column comments); name -> text."""
    comments: dict[str, str] = {}
    for column in defs:
        for constraint in list(column.constraints):
            kind = constraint.args.get("kind")
            if isinstance(kind, exp.CommentColumnConstraint):
                comments[column.name.lower()] = kind.this.name
                constraint.pop()
    return comments


def _take_primary_keys(schema_node: exp.Schema, default_name: str) -> list[tuple[str, list[str], bool]]:
    """Remove PRIMARY KEY constraints (informational in Unity Catalog; DuckDB would enforce them):
    (name, columns, rely) each."""
    keys: list[tuple[str, list[str], bool]] = []
    for element in list(schema_node.expressions):
        if isinstance(element, exp.Constraint) and any(
            isinstance(e, exp.PrimaryKey) for e in element.expressions
        ):
            key = next(e for e in element.expressions if isinstance(e, exp.PrimaryKey))
            rely = any(str(o).upper() == "RELY" for o in key.args.get("options") or [])
            keys.append((element.name, [c.name.lower() for c in key.expressions], rely))
            element.pop()
        elif isinstance(element, exp.PrimaryKey):
            keys.append((default_name, [c.name.lower() for c in element.expressions], False))
            element.pop()
    if len(keys) > 1:
        raise SqlError(
            "DELTA_MULTIPLE_PRIMARY_KEYS", "A table can have only one PRIMARY KEY constraint.", "42P16"
        )
    return keys


def _check_key_columns(
    full_name: tuple[str, str, str], columns: list[str], existing: set[str], not_null: set[str]
) -> None:
    catalog, schema, table = full_name
    for column in columns:
        if column not in existing:
            raise SqlError(
                "UNRESOLVED_COLUMN.WITH_SUGGESTION",
                f"A column with name `{column}` cannot be resolved.",
                "42703",
            )
        if column not in not_null:
            raise SqlError(
                "DELTA_NULLABLE_PRIMARY_KEY_COLUMN",
                f"Cannot create the primary key of `{catalog}`.`{schema}`.`{table}` because its child "
                f"column `{column}` is nullable. Please change the column nullability and retry.",
                "42831",
            )


def _check_clustering(columns: list[str], existing: set[str], *, partitioned: bool) -> None:
    if partitioned:
        raise SqlError(
            "DELTA_CLUSTER_BY_WITH_PARTITIONED_BY",
            "Clustering and partitioning cannot both be specified.",
            "42613",
        )
    if len(columns) > _MAX_CLUSTER_COLUMNS:
        raise SqlError(
            "DELTA_CLUSTER_BY_INVALID_NUM_COLUMNS",
            f"CLUSTER BY supports up to {_MAX_CLUSTER_COLUMNS} clustering columns, but the table has "
            f"{len(columns)} clustering columns.",
            "54000",
        )
    missing = [c for c in columns if c.lower() not in existing]
    if missing:
        raise SqlError(
            "DELTA_COLUMN_NOT_FOUND_IN_SCHEMA",
            f"Couldn't find column {missing[0]} in the table schema (CLUSTER BY).",
            "42703",
        )


def _clustering_json(columns: list[str]) -> str:
    """How Unity Catalog shows liquid clustering keys: property clusteringColumns, one path per key."""
    return json.dumps([[c.lower()] for c in columns], separators=(",", ":"))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _dml_result(rows: list[Any], *, inserted: bool) -> SqlResult:
    count = str(rows[0][0]) if rows else "0"
    if inserted:
        return SqlResult([("num_affected_rows", "BIGINT"), ("num_inserted_rows", "BIGINT")], [[count, count]])
    return SqlResult([("num_affected_rows", "BIGINT")], [[count]])
