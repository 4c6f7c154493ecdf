"""sqlglot AST fix-ups that turn Databricks SQL into SQL DuckDB runs with the same meaning."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from databricks_emulator.errors import SqlError
from databricks_emulator.sql.names import CATALOG_PREFIX, HIDDEN_SCHEMAS, META_SCHEMA, duck_catalog

if TYPE_CHECKING:
    from databricks_emulator.sql.engine import Parameter, Session

_HIDDEN = ", ".join("'" + s + "'" for s in sorted(HIDDEN_SCHEMAS))
_INFORMATION_SCHEMA = {
    "columns": (
        "SELECT replace(table_catalog, '{prefix}', '') AS table_catalog, table_schema, c.table_name, "
        "c.column_name, ordinal_position, "
        "regexp_replace(databricks_type(data_type), '\\(.*', '') AS data_type, "
        "lower(databricks_type(data_type)) AS full_data_type, is_nullable, column_default, "
        'm.comment FROM system.information_schema.columns c LEFT JOIN "{cat}".{meta}.comments m '
        "ON m.schema_name = c.table_schema AND m.table_name = c.table_name AND m.column_name = c.column_name "
        "WHERE table_catalog = '{cat}' AND table_schema NOT IN ({hidden})"
    ),
    "tables": (
        "SELECT replace(table_catalog, '{prefix}', '') AS table_catalog, table_schema, t.table_name, "
        "CASE table_type WHEN 'VIEW' THEN 'VIEW' ELSE 'MANAGED' END AS table_type, "
        "CASE table_type WHEN 'VIEW' THEN NULL ELSE 'DELTA' END AS data_source_format, m.comment "
        'FROM system.information_schema.tables t LEFT JOIN "{cat}".{meta}.comments m '
        "ON m.schema_name = t.table_schema AND m.table_name = t.table_name AND m.column_name = '' "
        "WHERE table_catalog = '{cat}' AND table_schema NOT IN ({hidden})"
    ),
    "schemata": (
        "SELECT replace(catalog_name, '{prefix}', '') AS catalog_name, schema_name "
        "FROM system.information_schema.schemata "
        "WHERE catalog_name = '{cat}' AND schema_name NOT IN ({hidden})"
    ),
}


def _lower_identifier(node: exp.Expression | None) -> exp.Identifier | None:
    if not isinstance(node, exp.Identifier):
        return None
    return exp.Identifier(this=node.name.lower(), quoted=True)


def qualify_tables(tree: exp.Expr, session: Session) -> None:
    """Lower-case table names (UC stores them so) and give each one its catalog's DuckDB alias."""
    cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in list(tree.find_all(exp.Table)):
        if table.this is None and table.args.get("db"):  # a schema reference (DROP SCHEMA c.s)
            catalog = table.args.get("catalog")
            table.set("db", _lower_identifier(table.args["db"]))
            catalog_name = catalog.name.lower() if isinstance(catalog, exp.Identifier) else session.catalog
            table.set("catalog", exp.Identifier(this=duck_catalog(catalog_name), quoted=True))
            continue
        if not isinstance(table.this, exp.Identifier):
            continue  # table functions such as read_files(...)
        if table.name.startswith("/Volumes/"):
            continue  # a path (parquet.`/Volumes/..`, COPY INTO's FROM '/Volumes/..'): keep its case
        name = table.name.lower()
        if not table.args.get("db") and name in cte_names:
            continue
        if (
            isinstance(table.parent, exp.Create)
            and str(table.parent.args.get("kind", "")).upper() == "SCHEMA"
        ):
            continue
        table.set("this", _lower_identifier(table.this))
        db = table.args.get("db")
        catalog = table.args.get("catalog")
        table.set(
            "db", _lower_identifier(db) if db else exp.Identifier(this=session.schema.lower(), quoted=True)
        )
        catalog_name = catalog.name.lower() if isinstance(catalog, exp.Identifier) else session.catalog
        table.set("catalog", exp.Identifier(this=duck_catalog(catalog_name), quoted=True))


def replace_session_functions(tree: exp.Expr, session: Session, user: str) -> None:
    """current_catalog() and friends answer UC names, not DuckDB's internal aliases."""
    values = {
        exp.CurrentCatalog: session.catalog,
        exp.CurrentSchema: session.schema,
        exp.CurrentDatabase: session.schema,
        exp.CurrentUser: user,
    }
    for node in list(tree.find_all(*values)):  # one walk: a load's MERGE is a large tree
        value = values[type(node)]
        replacement = exp.Literal.string(value)
        parent = node.parent
        if isinstance(parent, exp.Select) or (parent is not None and parent.key == "select"):
            replacement = exp.alias_(replacement, node.sql("databricks").lower())  # type: ignore[assignment]
        node.replace(replacement)


def bind_parameters(tree: exp.Expr, params: list[Parameter]) -> dict[str, Any]:
    """`:name` markers -> DuckDB `$name`, typed ones wrapped in CAST as Databricks binds them."""
    by_name = {p.name: p for p in params}
    values: dict[str, Any] = {}
    for placeholder in list(tree.find_all(exp.Placeholder)):
        name = placeholder.name
        if not name or name == "?":
            raise SqlError(
                "UNSUPPORTED_FEATURE.PARAMETER_MARKER_IN_UNEXPECTED_STATEMENT",
                "Positional parameter markers are not supported by the Statement Execution API.",
                "0A000",
            )
        param = by_name.get(name)
        if param is None:
            raise SqlError("UNBOUND_SQL_PARAMETER", f"Found the unbound parameter: {name}.", "42P02")
        values[name] = param.value
        type_text = (param.type or "STRING").strip()
        if type_text.upper() not in ("STRING", ""):
            try:
                dtype = exp.DataType.build(type_text, dialect="databricks")
            except (ParseError, ValueError) as exc:
                raise SqlError(
                    "INVALID_PARAMETER_VALUE", f"Invalid type {type_text!r} of {name}.", "22023"
                ) from exc
            placeholder.replace(exp.Cast(this=placeholder.copy(), to=dtype))
    return values


def _function_options(func: exp.Expression) -> tuple[str | None, dict[str, str]]:
    path: str | None = None
    options: dict[str, str] = {}
    for arg in func.expressions:
        if isinstance(arg, exp.Kwarg | exp.PropertyEQ | exp.EQ):
            options[arg.this.name.lower()] = arg.expression.name
        elif isinstance(arg, exp.Literal) and path is None:
            path = arg.name
    return path, options


def replace_read_files(tree: exp.Expr, reader: Callable[[str, dict[str, str]], str]) -> None:
    """`read_files('/Volumes/..', format => 'parquet')` and parquet.`/Volumes/..` -> DuckDB readers."""
    for table in list(tree.find_all(exp.Table)):
        func = table.this
        if isinstance(func, exp.Anonymous) and func.name.lower() == "read_files":
            path, options = _function_options(func)
            if path is None:
                raise SqlError("REQUIRED_PARAMETER_NOT_FOUND", "read_files needs a path.", "4274K")
        elif (
            isinstance(func, exp.Identifier)
            and table.text("db").lower() in ("parquet", "json", "csv")
            and func.name.startswith("/Volumes/")
        ):
            path, options = func.name, {"format": table.text("db").lower()}
            table.set("db", None)
            table.set("catalog", None)
        else:
            continue
        select = sqlglot.parse_one(f"SELECT * FROM {reader(path, options)}", read="duckdb")
        source = select.args["from_"].this
        table.set("this", source.this)


def replace_information_schema(tree: exp.Expr) -> None:
    """`<catalog>.information_schema.<view>` -> the same view filtered to that catalog, UC names out."""
    for table in list(tree.find_all(exp.Table)):
        view = table.name.lower()
        if table.text("db").lower() != "information_schema" or view not in _INFORMATION_SCHEMA:
            continue
        cat = table.text("catalog")
        query = _INFORMATION_SCHEMA[view].format(
            prefix=CATALOG_PREFIX, cat=cat.replace("'", "''"), hidden=_HIDDEN, meta=META_SCHEMA
        )
        subquery = exp.Subquery(
            this=sqlglot.parse_one(query, read="duckdb"),
            alias=exp.TableAlias(this=exp.Identifier(this=table.alias or view, quoted=True)),
        )
        table.replace(subquery)


def normalize_merge(tree: exp.Merge, target_columns: list[str]) -> bool:
    """Make MERGE DuckDB-ready: unqualified SET targets, `*` expanded by name. True if a WHEN MATCHED acts."""
    using = tree.args["using"]
    source_ref = using.alias_or_name

    def source_column(name: str) -> exp.Column:
        return exp.column(
            exp.to_identifier(name, quoted=True), table=exp.to_identifier(source_ref, quoted=True)
        )

    matched: list[exp.Expression] = []
    whens = tree.args.get("whens")
    for when in whens.expressions if whens else []:
        then = when.args.get("then")
        if when.args.get("matched") and not when.args.get("source") and _acts(then):
            matched.append(when)
        if isinstance(then, exp.Update):
            if len(then.expressions) == 1 and isinstance(then.expressions[0], exp.Star):
                then.set(
                    "expressions",
                    [
                        exp.EQ(
                            this=exp.column(exp.to_identifier(c, quoted=True)), expression=source_column(c)
                        )
                        for c in target_columns
                    ],
                )
            else:
                for assignment in then.expressions:
                    if isinstance(assignment, exp.EQ) and isinstance(assignment.this, exp.Column):
                        assignment.set("this", exp.column(assignment.this.this.copy()))
        elif isinstance(then, exp.Insert) and isinstance(then.this, exp.Star):
            then.set(
                "this",
                exp.Tuple(
                    expressions=[exp.column(exp.to_identifier(c, quoted=True)) for c in target_columns]
                ),
            )
            then.set("expression", exp.Tuple(expressions=[source_column(c) for c in target_columns]))
    # Delta lets several source rows match one target row only when the one WHEN MATCHED clause is
    # an unconditional DELETE (deleting a row twice is still one delete).
    only_unconditional_delete = (
        len(matched) == 1 and _is_delete(matched[0].args.get("then")) and not matched[0].args.get("condition")
    )
    return bool(matched) and not only_unconditional_delete


def _is_delete(then: object) -> bool:
    # sqlglot reads `THEN DELETE` as a bare keyword (Var), not as a Delete node.
    return isinstance(then, exp.Delete) or (isinstance(then, exp.Var) and then.name.upper() == "DELETE")


def _acts(then: object) -> bool:
    return isinstance(then, exp.Update) or _is_delete(then)


def merge_deletes(tree: exp.Merge) -> bool:
    """Whether a WHEN clause of the MERGE deletes (sqlglot parses `THEN DELETE` as a Var)."""
    whens = tree.args.get("whens")
    thens = [when.args.get("then") for when in (whens.expressions if whens else [])]
    return any(
        isinstance(then, exp.Delete) or (isinstance(then, exp.Var) and then.name.upper() == "DELETE")
        for then in thens
    )


@dataclass
class CopyParameters:
    file_format: str = "parquet"
    pattern: str | None = None
    files: list[str] = field(default_factory=list)
    format_options: dict[str, str] = field(default_factory=dict)
    merge_schema: bool = False
    force: bool = False


def copy_parameters(tree: exp.Copy) -> CopyParameters:
    out = CopyParameters()
    for param in tree.args.get("params") or []:
        key = param.this.name.upper()
        value = param.args.get("expression")
        if key == "FILEFORMAT" and value is not None:
            out.file_format = value.name.lower()
        elif key == "PATTERN" and value is not None:
            out.pattern = value.name
        elif key == "FILES" and value is not None:
            out.files = [lit.name for lit in value.find_all(exp.Literal)]
        elif key in ("FORMAT_OPTIONS", "COPY_OPTIONS"):
            options = {
                p.this.name.lower(): p.text("value").lower()
                for p in param.expressions
                if isinstance(p, exp.Property)
            }
            if key == "FORMAT_OPTIONS":
                out.format_options = options
            else:
                out.merge_schema = options.get("mergeschema") == "true"
                out.force = options.get("force") == "true"
    return out
