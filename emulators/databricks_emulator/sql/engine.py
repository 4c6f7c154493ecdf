"""Execute Databricks SQL on DuckDB: one connection, one lock, one ATTACHed database file per catalog."""

from __future__ import annotations

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
from sqlglot.tokens import TokenType

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
)


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


def split_statements(sql: str) -> list[str]:
    """Split a script on top-level semicolons (string literals and comments respected)."""
    try:
        tokens = sqlglot.Tokenizer(dialect="databricks").tokenize(sql)
    except TokenError as exc:
        raise SqlError("PARSE_SYNTAX_ERROR", f"Syntax error: {exc}", "42601") from exc
    pieces: list[str] = []
    start = 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            pieces.append(sql[start : token.start])
            start = token.end + 1
    pieces.append(sql[start:])
    return [p.strip() for p in pieces if p.strip()]


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
        self._con = duckdb.connect(str(data_dir / "emulator.duckdb"))
        self._con.execute("SET TimeZone = 'UTC'")
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

    def catalog_names(self) -> list[str]:
        with self.lock:
            rows = self._con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        return sorted(n for (name,) in rows if (n := uc_catalog(name)) is not None)

    def create_catalog(self, catalog: str, *, if_not_exists: bool = False) -> None:
        catalog = catalog.lower()
        with self.lock:
            if catalog in self.catalog_names():
                if if_not_exists:
                    return
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
            if schema.lower() in self.schema_names(catalog):
                if if_not_exists:
                    return
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
            if self.volume_exists(catalog, schema, volume):
                if if_not_exists:
                    return
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
        if ";" in sql.strip().rstrip(";") and len(split_statements(sql)) > 1:
            raise SqlError(
                "PARSE_SYNTAX_ERROR", "Multiple statements are not allowed in one request.", "42601"
            )
        with self.lock:
            self.executed += 1
            self.executed_log.append(sql)
            try:
                return self._execute(sql.strip().rstrip(";"), params or [], session)
            except duckdb.Error as exc:
                self._rollback()
                raise _error_from_duckdb(exc) from exc
            except SqlError:
                self._rollback()
                raise

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
        try:
            trees = sqlglot.parse(sql, read="databricks")
        except (ParseError, TokenError) as exc:
            raise SqlError("PARSE_SYNTAX_ERROR", f"Syntax error: {exc}", "42601") from exc
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
        if isinstance(tree, exp.Insert):
            return self._insert(tree, values)
        if isinstance(tree, exp.Drop) and str(tree.args.get("kind", "")).upper() == "TABLE":
            return self._drop_table(tree)
        if isinstance(tree, exp.Update | exp.Delete):
            cursor = self._con.execute(tree.sql("duckdb"), values)
            return _dml_result(cursor.fetchall(), inserted=False)
        return self._query(tree.sql("duckdb"), values)

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
                rf"(?:OPTIMIZE|VACUUM|ANALYZE\s+TABLE|REFRESH\s+TABLE)\s+{name}(?:\s+.*)?",
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
        if isinstance(props, exp.Properties):
            for prop in props.expressions:
                if isinstance(prop, exp.Property) and isinstance(prop.this, exp.Literal):
                    properties[prop.this.name] = prop.text("value")
        schema_node = tree.this
        table = schema_node.this if isinstance(schema_node, exp.Schema) else schema_node
        assert isinstance(table, exp.Table)
        catalog, schema, name = self._table_ref(table)
        mapping = properties.get("delta.columnMapping.mode", "none").lower() in ("name", "id")
        if isinstance(schema_node, exp.Schema):
            self._check_column_names(
                [c.name for c in schema_node.expressions if isinstance(c, exp.ColumnDef)], mapping
            )
        existed = self._table_exists(catalog, schema, name)
        with self._transaction():
            self._con.execute(tree.sql("duckdb"), values)
            replaced = bool(tree.args.get("replace")) or not existed
            if replaced:
                self._forget_table(catalog, schema, name)
                for key, value in properties.items():
                    self._con.execute(
                        f"INSERT INTO {meta_table(catalog, 'table_properties')} VALUES (?, ?, ?, ?)",
                        [schema, name, key, value],
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
        for bookkeeping in ("table_properties", "copy_loaded", "table_ids"):
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
        for action in tree.args.get("actions") or []:
            if isinstance(action, exp.Schema | exp.ColumnDef):
                statements.extend(self._add_columns(table, action))
            elif isinstance(action, exp.AlterColumn) and action.args.get("dtype") is not None:
                statements.extend(self._change_type(table, action))
            elif isinstance(action, exp.AlterSet) and any(
                isinstance(e, exp.Properties) for e in action.expressions
            ):
                self._set_properties(catalog, schema, name, action)
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
        return SqlResult()

    def _add_columns(self, table: exp.Table, action: exp.Expression) -> list[str]:
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
        return [
            f"ALTER TABLE {target} ADD COLUMN {d.sql('duckdb')}" for d in defs if isinstance(d, exp.ColumnDef)
        ]

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
        rows: list[list[str | None]] = [[n, t.lower(), None] for n, t, _ in self._existing_columns(table)]
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
        actions = [
            r[0] for r in self._con.execute(tree.sql("duckdb") + " RETURNING merge_action", values).fetchall()
        ]
        counts = {a: actions.count(a) for a in ("UPDATE", "DELETE", "INSERT")}
        columns = [
            ("num_affected_rows", "BIGINT"),
            ("num_updated_rows", "BIGINT"),
            ("num_deleted_rows", "BIGINT"),
            ("num_inserted_rows", "BIGINT"),
        ]
        row: list[str | None] = [
            str(len(actions)),
            str(counts["UPDATE"]),
            str(counts["DELETE"]),
            str(counts["INSERT"]),
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


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _dml_result(rows: list[Any], *, inserted: bool) -> SqlResult:
    count = str(rows[0][0]) if rows else "0"
    if inserted:
        return SqlResult([("num_affected_rows", "BIGINT"), ("num_inserted_rows", "BIGINT")], [[count, count]])
    return SqlResult([("num_affected_rows", "BIGINT")], [[count]])
