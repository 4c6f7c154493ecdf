"""Databricks SQL text for the workspace engine (pure: strings in, strings out, no I/O).

Identifiers are quoted only by `schema.quote_identifier`; values inside statement text are made
only by `literal` (bookkeeping values: ledger rows, staged paths). Row data never travels inside
SQL text: it is staged as Parquet and read with `read_files` / `COPY INTO`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import typing as t

from target_databricks.engines.base import (
    LEDGER_COLUMNS,
    LEDGER_TABLE,
    LEDGER_VIEW,
    Column,
    TableRef,
    TableSpec,
)
from target_databricks.schema import DELETED_AT, EXTRACTED_AT, LOAD_ID, POSITION, RECEIVED_AT, TABLE_VERSION
from target_databricks.schema import quote_identifier as q

if t.TYPE_CHECKING:
    from target_databricks.engines.base import LedgerEntry

# --- names -------------------------------------------------------------------------------------


def table_name(ref: TableRef) -> str:
    return ".".join(q(part) for part in (ref.catalog, ref.schema, ref.name))


_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def file_stem(load_id: str) -> str:
    """A load id as a file name stem (staged Parquet, Jobs SQL file): safe characters only."""
    return _UNSAFE_IN_FILE_NAME.sub("_", load_id).strip("._") or "load"


def volume_path(catalog: str, schema: str, volume: str, *parts: str) -> str:
    """A Files API / read_files path inside a Unity Catalog volume."""
    return "/".join(["/Volumes", catalog, schema, volume, *parts])


# --- literals ----------------------------------------------------------------------------------


def string_literal(text: str) -> str:
    # Databricks string literals treat backslash as the escape character (and adjacent literals
    # concatenate, so doubling quotes is not an escape): escape both characters with a backslash.
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _timestamp_text(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime: bookkeeping timestamps must be timezone-aware (UTC)")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")


def literal(value: object, sql_type: str) -> str:
    """The one place a value becomes SQL text: a typed literal (`CAST(... AS type)`), NULL typed too."""
    if value is None:
        return f"CAST(NULL AS {sql_type})"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dt.datetime):
        text = _timestamp_text(value)
    elif isinstance(value, dt.date):
        text = value.isoformat()
    elif isinstance(value, int | float | str):
        text = str(value)
    else:
        raise TypeError(f"no SQL literal for {type(value).__name__}")
    return f"CAST({string_literal(text)} AS {sql_type})"


def parameter_text(value: object) -> str | None:
    """A value as the Statement Execution API wants a named parameter's value (a string, or null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return _timestamp_text(value)
    return str(value)


# --- DDL ---------------------------------------------------------------------------------------


def column_definitions(columns: t.Iterable[Column], not_null: t.Collection[str] = ()) -> str:
    """`name TYPE [NOT NULL] [COMMENT '...']` per column: the description shows in Catalog Explorer."""
    return ", ".join(
        f"{q(c.name)} {c.sql_type}"
        + (" NOT NULL" if c.name in not_null else "")
        + (f" COMMENT {string_literal(c.comment)}" if c.comment else "")
        for c in columns
    )


def primary_key_name(ref: TableRef) -> str:
    """One informational primary key per table, named after it (constraint names are per schema)."""
    return f"{ref.name[:252]}_pk"


def primary_key(ref: TableRef, keys: t.Sequence[str], *, rely: bool) -> str:
    # RELY lets the optimizer trust the key (e.g. drop a redundant DISTINCT or join): only where
    # the target keeps it unique, i.e. upsert tables.
    columns = ", ".join(q(k) for k in keys)
    return f"CONSTRAINT {q(primary_key_name(ref))} PRIMARY KEY ({columns})" + (" RELY" if rely else "")


def _properties(properties: t.Mapping[str, str]) -> str:
    return ", ".join(f"{string_literal(k)} = {string_literal(v)}" for k, v in properties.items())


def create_table(
    spec: TableSpec,
    *,
    cluster_by: t.Sequence[str] = (),
    properties: t.Mapping[str, str] | None = None,
    rely: bool = False,
) -> str:
    """The table with everything Unity Catalog shows: column and table comments, key columns NOT
    NULL with an informational primary key, liquid clustering, Delta properties."""
    keys = spec.key_properties
    elements = column_definitions(spec.columns, not_null=keys)
    if keys:
        elements += ", " + primary_key(spec.ref, keys, rely=rely)
    text = f"CREATE TABLE IF NOT EXISTS {table_name(spec.ref)} ({elements}) USING DELTA"
    if cluster_by:
        text += f" CLUSTER BY ({', '.join(q(c) for c in cluster_by)})"
    if spec.comment:
        text += f" COMMENT {string_literal(spec.comment)}"
    if properties:
        text += f" TBLPROPERTIES ({_properties(properties)})"
    return text


def comment_on_table(ref: TableRef, comment: str) -> str:
    return f"COMMENT ON TABLE {table_name(ref)} IS {string_literal(comment)}"


def comment_on_column(ref: TableRef, column: str, comment: str) -> str:
    return f"ALTER TABLE {table_name(ref)} ALTER COLUMN {q(column)} COMMENT {string_literal(comment)}"


def set_not_null(ref: TableRef, column: str) -> str:
    # Delta checks the existing rows: the statement fails when the column holds a NULL.
    return f"ALTER TABLE {table_name(ref)} ALTER COLUMN {q(column)} SET NOT NULL"


def add_primary_key(ref: TableRef, keys: t.Sequence[str], *, rely: bool) -> str:
    return f"ALTER TABLE {table_name(ref)} ADD {primary_key(ref, keys, rely=rely)}"


def cluster_by(ref: TableRef, columns: t.Sequence[str]) -> str:
    """Liquid clustering keys of an existing table; NONE turns clustering off."""
    keys = f"({', '.join(q(c) for c in columns)})" if columns else "NONE"
    return f"ALTER TABLE {table_name(ref)} CLUSTER BY {keys}"


def set_properties(ref: TableRef, properties: t.Mapping[str, str]) -> str:
    return f"ALTER TABLE {table_name(ref)} SET TBLPROPERTIES ({_properties(properties)})"


def add_columns(ref: TableRef, columns: t.Sequence[Column]) -> str:
    return f"ALTER TABLE {table_name(ref)} ADD COLUMNS ({column_definitions(columns)})"


def enable_type_widening(ref: TableRef) -> str:
    # Delta changes a column type in place only on tables with the typeWidening feature.
    return f"ALTER TABLE {table_name(ref)} SET TBLPROPERTIES ('delta.enableTypeWidening' = 'true')"


def alter_column_type(ref: TableRef, column: str, sql_type: str) -> str:
    return f"ALTER TABLE {table_name(ref)} ALTER COLUMN {q(column)} TYPE {sql_type}"


def rewrite_table(ref: TableRef, columns: t.Sequence[tuple[str, str | None]]) -> str:
    """Rewrite the table with some columns cast (name, new type or None to keep it), in order.

    Delta cannot change a type in place beyond type widening (e.g. BIGINT → STRING); replacing the
    table from its own snapshot keeps the rows and the table's history.
    """
    projection = ", ".join(
        f"CAST({q(name)} AS {new}) AS {q(name)}" if new else q(name) for name, new in columns
    )
    name = table_name(ref)
    return f"CREATE OR REPLACE TABLE {name} USING DELTA AS SELECT {projection} FROM {name}"


# --- loads -------------------------------------------------------------------------------------


def _read_files(path: str) -> str:
    return f"read_files({string_literal(path)}, format => 'parquet')"


def _typed_projection(columns: t.Sequence[Column], undeclared: t.Sequence[Column] = ()) -> str:
    # Cast to the table's types so Parquet's physical types never decide the column type. A table
    # column the stream no longer declares is not in the staged file: it is written as a typed NULL.
    staged = [f"CAST({q(c.name)} AS {c.sql_type}) AS {q(c.name)}" for c in columns]
    return ", ".join([*staged, *(f"{literal(None, c.sql_type)} AS {q(c.name)}" for c in undeclared)])


def _version_time(spec: TableSpec, alias: str = "") -> str | None:
    """When a row version was extracted; a RECORD without time_extracted counts from its receipt."""
    prefix = f"{alias}." if alias else ""
    names = [n for n in (EXTRACTED_AT, RECEIVED_AT) if spec.column(n)]
    if not names:
        return None
    quoted = [prefix + q(n) for n in names]
    return quoted[0] if len(quoted) == 1 else f"coalesce({', '.join(quoted)})"


def _order_terms(spec: TableSpec) -> list[str]:
    terms = []
    when = _version_time(spec)
    if when:
        terms.append(f"{when} DESC NULLS LAST")
    if spec.column(POSITION):
        terms.append(f"{q(POSITION)} DESC NULLS LAST")
    if not terms:
        raise ValueError(f"an upsert needs {EXTRACTED_AT!r} or {POSITION!r} in the table")
    return terms


def _greater(left: str, right: str) -> str:
    # NULLS LAST in a descending order means NULL is the oldest: a value beats NULL.
    return f"({left} > {right} OR ({left} IS NOT NULL AND {right} IS NULL))"


def _newer(spec: TableSpec) -> str:
    """s is newer than t: (version time, _ml_position) compared as a tuple.

    A target row without a position was not written by this target and is always replaced.
    """
    s_when, t_when = _version_time(spec, "s"), _version_time(spec, "t")
    s_pos, t_pos = f"s.{q(POSITION)}", f"t.{q(POSITION)}"
    has_pos = spec.column(POSITION) is not None
    if s_when and t_when and has_pos:
        return (
            f"({_greater(s_when, t_when)} OR ({s_when} <=> {t_when} AND {_greater(s_pos, t_pos)})"
            f" OR {t_pos} IS NULL)"
        )
    if s_when and t_when:
        return _greater(s_when, t_when)
    return _greater(s_pos, t_pos)


def merge(spec: TableSpec, path: str, undeclared: t.Sequence[Column] = ()) -> str:
    """Ordered upsert: dedupe the batch by key (newest wins), then replace only older target rows.

    undeclared: table columns the stream no longer declares; a replaced or inserted row has NULL
    there, as in a table the stream's current schema made.
    """
    if not spec.key_properties:
        raise ValueError("a merge needs key properties")
    keys = ", ".join(q(k) for k in spec.key_properties)
    names = [q(c.name) for c in (*spec.columns, *undeclared)]
    on = " AND ".join(f"t.{q(k)} <=> s.{q(k)}" for k in spec.key_properties)
    updates = ", ".join(f"{n} = s.{n}" for n in names)
    return (
        f"MERGE INTO {table_name(spec.ref)} AS t\n"
        f"USING (\n"
        f"  SELECT {_typed_projection(spec.columns, undeclared)}\n"
        f"  FROM {_read_files(path)}\n"
        f"  QUALIFY ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY {', '.join(_order_terms(spec))}) = 1\n"
        f") AS s\n"
        f"ON {on}\n"
        f"WHEN MATCHED AND {_newer(spec)} THEN UPDATE SET {updates}\n"
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) VALUES ({', '.join('s.' + n for n in names)})"
    )


def copy_into(spec: TableSpec, path: str, undeclared: t.Sequence[Column] = ()) -> str:
    """Append once: COPY INTO remembers the files it loaded into a table and skips them on a rerun.

    The staged columns are selected with CASTs to the table's types: COPY INTO enforces the table
    schema, so a Parquet DECIMAL(15,2) or a BIGINT column would be refused by a table column that an
    earlier stream version created wider (DECIMAL(38,10), say) instead of being widened silently.
    undeclared columns (the stream no longer declares them) are NULL in the appended rows.
    """
    return (
        f"COPY INTO {table_name(spec.ref)}\n"
        f"FROM (SELECT {_typed_projection(spec.columns, undeclared)} FROM {string_literal(path)})\n"
        "FILEFORMAT = PARQUET"
    )


def overwrite(spec: TableSpec, path: str, undeclared: t.Sequence[Column] = ()) -> str:
    """Replace the rows; undeclared columns (the stream no longer declares them) are NULL."""
    names = ", ".join(q(c.name) for c in (*spec.columns, *undeclared))
    return (
        f"INSERT OVERWRITE {table_name(spec.ref)} ({names})\n"
        f"SELECT {_typed_projection(spec.columns, undeclared)}\nFROM {_read_files(path)}"
    )


def activate_version(ref: TableRef, *, hard_delete: bool) -> str:
    """Rows of an older (or no) _sdc_table_version go (named parameters :version and :deleted_at)."""
    older = f"({q(TABLE_VERSION)} < :version OR {q(TABLE_VERSION)} IS NULL)"
    if hard_delete:
        return f"DELETE FROM {table_name(ref)} WHERE {older}"
    return (
        f"UPDATE {table_name(ref)} SET {q(DELETED_AT)} = :deleted_at "
        f"WHERE {older} AND {q(DELETED_AT)} IS NULL"
    )


def count_load_rows(ref: TableRef) -> str:
    """Rows of the table written by one load (named parameter :load_id)."""
    return f"SELECT count(*) AS n FROM {table_name(ref)} WHERE {q(LOAD_ID)} = :load_id"


def select_all(ref: TableRef) -> str:
    return f"SELECT * FROM {table_name(ref)}"


def optimize(ref: TableRef) -> str:
    return f"OPTIMIZE {table_name(ref)}"


def vacuum(ref: TableRef, retention_hours: int) -> str:
    return f"VACUUM {table_name(ref)} RETAIN {int(retention_hours)} HOURS"


# --- ledger ------------------------------------------------------------------------------------


def ledger_ref(catalog: str, schema: str) -> TableRef:
    return TableRef(catalog, schema, LEDGER_TABLE)


# A ledger table property: which definition of the ledger view was made last (a hash of its SQL),
# so a run reads it with the table (no statement) and replaces the view only when it changed.
LEDGER_VIEW_PROPERTY = "ml_connector.ledger_view"


def ledger_view_version(catalog: str, schema: str) -> str:
    return hashlib.sha256(create_ledger_view(catalog, schema).encode()).hexdigest()[:16]


def _ledger_view_property(catalog: str, schema: str) -> str:
    version = string_literal(ledger_view_version(catalog, schema))
    return f"TBLPROPERTIES ({string_literal(LEDGER_VIEW_PROPERTY)} = {version})"


def create_ledger(catalog: str, schema: str, entries: t.Sequence[LedgerEntry]) -> str:
    """The ledger made with its first rows (its columns typed by the literals), marked with the view
    definition made right after it. No IF NOT EXISTS: a ledger another writer made first fails the
    statement (TABLE_OR_VIEW_ALREADY_EXISTS) instead of silently dropping these rows."""
    names = ", ".join(q(name) for name, _ in LEDGER_COLUMNS)
    return (
        f"CREATE TABLE {table_name(ledger_ref(catalog, schema))} USING DELTA "
        f"{_ledger_view_property(catalog, schema)}\n"
        f"AS SELECT * FROM VALUES\n{_ledger_rows(entries)}\nAS v({names})"
    )


def create_ledger_script(catalog: str, schema: str, entries: t.Sequence[LedgerEntry]) -> str:
    """The ledger with its first rows, then its view, as one SQL script (a compound statement of
    Databricks SQL and DBR 16.3+): one request where two would be. Its statements run in order, each
    committed on its own, and the first that fails ends it with its own error (a ledger another
    writer made first: TABLE_OR_VIEW_ALREADY_EXISTS, before the view is touched)."""
    ledger = create_ledger(catalog, schema, entries)
    return f"BEGIN\n{ledger};\n{create_ledger_view(catalog, schema)};\nEND"


def mark_ledger_view(catalog: str, schema: str) -> str:
    """Record on the ledger that the view now has this definition (after CREATE OR REPLACE VIEW)."""
    ledger = table_name(ledger_ref(catalog, schema))
    return f"ALTER TABLE {ledger} SET {_ledger_view_property(catalog, schema)}"


def create_ledger_view(catalog: str, schema: str) -> str:
    """Made with the ledger, and again only when its definition changed (the ledger's mark says).

    The current row per load id, as audit.current_loads computes it: the latest row (then the later
    attempt, then the more final status), except that `staged` and `skipped` rows of a table the
    load was committed to (same table id) do not hide that `committed` row."""
    ledger = table_name(ledger_ref(catalog, schema))
    status, attempt, recorded = q("status"), q("attempt"), q("recorded_at")
    load_id, table_id = q("load_id"), q("table_id")
    rank = f"CASE {status} WHEN 'committed' THEN 3 WHEN 'skipped' THEN 2 WHEN 'failed' THEN 1 ELSE 0 END"
    hidden = (
        f"l.{status} IN ('staged', 'skipped') AND EXISTS (SELECT 1 FROM {ledger} AS d "
        f"WHERE d.{load_id} = l.{load_id} AND d.{status} = 'committed' AND d.{table_id} <=> l.{table_id})"
    )
    view = table_name(TableRef(catalog, schema, LEDGER_VIEW))
    return (
        f"CREATE OR REPLACE VIEW {view} AS\n"
        f"SELECT l.* FROM {ledger} AS l\n"
        f"WHERE NOT ({hidden})\n"
        f"QUALIFY ROW_NUMBER() OVER (PARTITION BY l.{load_id} "
        f"ORDER BY l.{recorded} DESC, l.{attempt} DESC, {rank} DESC) = 1"
    )


def _ledger_rows(entries: t.Sequence[LedgerEntry]) -> str:
    return ",\n".join(
        "(" + ", ".join(literal(getattr(entry, name), sql_type) for name, sql_type in LEDGER_COLUMNS) + ")"
        for entry in entries
    )


def ledger_insert(catalog: str, schema: str, entries: t.Sequence[LedgerEntry]) -> str:
    names = ", ".join(q(name) for name, _ in LEDGER_COLUMNS)
    return f"INSERT INTO {table_name(ledger_ref(catalog, schema))} ({names}) VALUES\n{_ledger_rows(entries)}"


def ledger_select(catalog: str, schema: str, *, one_load: bool = False, one_table: bool = False) -> str:
    """All ledger rows, or those of the named parameter :load_id (one_load) or :table_id (one_table)."""
    names = ", ".join(q(name) for name, _ in LEDGER_COLUMNS)
    where = ""
    if one_load or one_table:
        column = "load_id" if one_load else "table_id"
        where = f"WHERE {q(column)} = :{column} "
    return (
        f"SELECT {names} FROM {table_name(ledger_ref(catalog, schema))} {where}"
        f"ORDER BY {q('recorded_at')}, {q('attempt')}, {q('load_id')}"
    )
