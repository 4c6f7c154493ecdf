"""JSON Schema → Arrow / Delta / Databricks SQL types; name conforming and quoting (pure, no I/O).

Naming rule (one function for both engines, `conform_name`):
- camelCase is split into snake_case (``clientName`` → ``client_name``), then everything is lower-cased,
  because Unity Catalog compares names case-insensitively and stores them lower-case.
- German umlauts are transliterated (``ä`` → ``ae``, ``ß`` → ``ss``), other accents dropped.
- Every run of characters outside ``[a-z0-9_]`` becomes one ``_`` (dropped at either end). That
  removes what Unity Catalog forbids (``.``, ``/``, space, control characters) and what Delta
  forbids without column mapping (`` ,;{}()\\n\\t=``), so no table needs the irreversible
  column-mapping protocol upgrade, and a conformed name can never be a path step like ``..``.
- Two source names that conform to one name are an error naming both (never a silent merge).

Type rule (`column_for`): see `_scalar_type`; ``sql_type`` strings are Databricks SQL and the workspace
engine uses them verbatim. Decimal precision and scale: `decimal_hint`.

Schema evolution (`type_change`): the one rule both engines apply when a stream declares another
type for an existing column — keep, widen in place, rewrite, or refuse.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import typing as t
import unicodedata

import pyarrow as pa

from target_databricks.engines.base import Column, SchemaChangeError, TableRef, TableSpec
from target_databricks.errors import InputError

logger = logging.getLogger(__name__)

MAX_NAME_LENGTH = 255  # Unity Catalog's limit for object names

DEFAULT_DECIMAL_PRECISION = 38
DEFAULT_DECIMAL_SCALE = 10

TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")

Kind = t.Literal["string", "bigint", "double", "decimal", "boolean", "date", "timestamp", "json"]


class NamingError(InputError, ValueError):
    """A name cannot be conformed, or two names conform to the same name."""


class NameCollisionError(NamingError):
    """Two source names conform to one column or table name."""


def quote_identifier(name: str) -> str:
    """The only place an SQL identifier is quoted: backticks, an embedded backtick doubled."""
    return "`" + name.replace("`", "``") + "`"


_TRANSLITERATION = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
)
_CAMEL_LOWER_UPPER = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CAMEL_ACRONYM = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z])")
_INVALID_RUN = re.compile(r"[^a-z0-9_]+")


def conform_name(name: str) -> str:
    """Conform one stream or property name to a lower-case Unity Catalog / Delta name."""
    text = name.translate(_TRANSLITERATION)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = _CAMEL_ACRONYM.sub("_", _CAMEL_LOWER_UPPER.sub("_", text)).lower()
    text = _INVALID_RUN.sub("_", text)
    # Underscores made from replaced characters at either end are noise ("(Betrag)" → "betrag");
    # ones the source had (e.g. "_sdc_deleted_at") stay.
    if not name.endswith("_"):
        text = text.rstrip("_")
    if not name.startswith("_"):
        text = text.lstrip("_")
    if not text.strip("_"):
        raise NamingError(f"name {name!r} has no letters or digits left after conforming")
    if len(text) > MAX_NAME_LENGTH:
        # Keep names distinct when truncating: a short hash of the whole source name.
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        text = f"{text[: MAX_NAME_LENGTH - 9]}_{digest}"
    return text


def conform_names(names: t.Iterable[str]) -> dict[str, str]:
    """Source name → conformed name; a collision raises NameCollisionError naming both sources."""
    result: dict[str, str] = {}
    seen: dict[str, str] = {}
    for source in names:
        conformed = conform_name(source)
        if conformed in seen and seen[conformed] != source:
            raise NameCollisionError(
                f"column names {seen[conformed]!r} and {source!r} both conform to {conformed!r}; "
                "rename one of them in the tap or with a stream map"
            )
        seen[conformed] = source
        result[source] = conformed
    return result


# --- types ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FieldPlan:
    """How one source property becomes one column: the sink converts values by `kind`."""

    source: str
    column: Column
    kind: Kind


def _non_null_variants(prop: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
    """Flatten `type` lists and anyOf/oneOf into single-type variants, dropping null."""
    variants: list[dict[str, t.Any]] = []
    for key in ("anyOf", "oneOf"):
        for sub in prop.get(key) or ():
            variants.extend(_non_null_variants(sub))
    if "type" in prop:
        types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        rest = {k: v for k, v in prop.items() if k not in ("type", "anyOf", "oneOf")}
        variants.extend({**rest, "type": typ} for typ in types if typ != "null")
    elif not variants and any(k in prop for k in ("properties", "format")):
        variants.append({**prop, "type": "object" if "properties" in prop else "string"})
    return variants


def _decimal_scale_from_multiple_of(multiple_of: t.Any) -> int | None:
    """`multipleOf: 0.01` → 2; None when multipleOf is not a power of ten."""
    import decimal

    try:
        value = decimal.Decimal(str(multiple_of)).normalize()
    except (decimal.InvalidOperation, ValueError):
        return None
    sign, digits, exponent = value.as_tuple()
    if sign or digits != (1,) or not isinstance(exponent, int):
        return None
    return max(0, -exponent)


_SQL_DECIMAL_HINT = re.compile(r"^(?:decimal|numeric|dec)(?:\((\d+)(?:,(\d+))?\))?$")


def decimal_hint(variant: t.Mapping[str, t.Any]) -> tuple[int, int] | None:
    """The precision and scale a property declares for an exact decimal, or None.

    Forms, first match wins:
    - ``x-sql-datatype: decimal`` with ``x-sql-datatype-properties: {precision, scale}``: the form
      singer-sdk's catalog keeps (its Schema knows these keys and drops unknown ones), so the hint
      survives `--discover` / `--catalog` and Meltano;
    - ``x-sql-datatype: "decimal(15,2)"``;
    - bare ``precision``/``scale`` next to ``format: x-singer.decimal`` (what singer-sdk's SQL
      connector reads; lost in a catalog round trip, still sent by taps that skip the catalog).
    """
    datatype = variant.get("x-sql-datatype")
    if isinstance(datatype, str):
        match = _SQL_DECIMAL_HINT.match(re.sub(r"\s+", "", datatype.lower()))
        if match:
            props = variant.get("x-sql-datatype-properties") or {}
            precision = match.group(1) or props.get("precision")
            scale = match.group(2) or props.get("scale", 0)
            if precision is not None:
                return _bounded_decimal(int(precision), int(scale))
    if variant.get("format") in ("x-singer.decimal", "singer.decimal") and "precision" in variant:
        return _bounded_decimal(int(variant["precision"]), int(variant.get("scale", 0)))
    return None


def _bounded_decimal(precision: int, scale: int) -> tuple[int, int]:
    precision = min(precision, DEFAULT_DECIMAL_PRECISION)
    return precision, min(scale, precision)


def _decimal(precision: int, scale: int) -> tuple[Kind, str, pa.DataType]:
    return "decimal", f"DECIMAL({precision},{scale})", pa.decimal128(precision, scale)


def _scalar_type(variant: t.Mapping[str, t.Any]) -> tuple[Kind, str, pa.DataType]:
    typ = variant.get("type")
    fmt = variant.get("format")
    hint = decimal_hint(variant)
    if hint is not None and typ in ("string", "number", "integer"):
        return _decimal(*hint)
    if typ == "string":
        if fmt in ("x-singer.decimal", "singer.decimal"):
            return _default_decimal()
        if fmt == "date-time":
            return "timestamp", "TIMESTAMP", TIMESTAMP_TYPE
        if fmt == "date":
            return "date", "DATE", pa.date32()
        return "string", "STRING", pa.string()
    if typ == "integer":
        return "bigint", "BIGINT", pa.int64()
    if typ == "number":
        if "multipleOf" in variant:
            found = _decimal_scale_from_multiple_of(variant["multipleOf"])
            if found is not None:
                return _decimal(DEFAULT_DECIMAL_PRECISION, min(found, DEFAULT_DECIMAL_PRECISION))
        if variant.get("format") in ("x-singer.decimal", "singer.decimal"):
            return _default_decimal()
        # A plain JSON number has no declared precision: DOUBLE, as Databricks and dlt do. Money
        # should come as x-singer.decimal strings (the tap-datev streams do) to stay exact.
        return "double", "DOUBLE", pa.float64()
    if typ == "boolean":
        return "boolean", "BOOLEAN", pa.bool_()
    if typ in ("object", "array"):
        return "json", "STRING", pa.string()
    return "string", "STRING", pa.string()


def _default_decimal() -> tuple[Kind, str, pa.DataType]:
    return _decimal(DEFAULT_DECIMAL_PRECISION, DEFAULT_DECIMAL_SCALE)


def column_for(name: str, prop: t.Mapping[str, t.Any]) -> tuple[Kind, Column]:
    """The column (conformed `name` given) for one JSON Schema property."""
    variants = _non_null_variants(prop)
    if not variants:
        # `{}` or only null: nothing declares a type, keep the value as JSON text.
        return "json", Column(name, "STRING", pa.string())
    kinds = [_scalar_type(v) for v in variants]
    unique = {(k, s) for k, s, _ in kinds}
    if len(unique) == 1:
        kind, sql, arrow = kinds[0]
        return kind, Column(name, sql, arrow)
    if {k for k, _ in unique} <= {"bigint", "double"}:
        return "double", Column(name, "DOUBLE", pa.float64())
    if {k for k, _ in unique} <= {"bigint", "decimal"} and sum(k == "decimal" for k, _ in unique) == 1:
        kind, sql, arrow = next(x for x in kinds if x[0] == "decimal")
        return kind, Column(name, sql, arrow)
    # A union of unrelated types (e.g. string | object): text, JSON-encoding non-strings.
    return "json", Column(name, "STRING", pa.string())


# --- metadata columns ----------------------------------------------------------------------------

# Upserts replace a row only with a newer version: newer RECORD time_extracted first, then the
# later input position. Both columns are written by the sink into every row.
EXTRACTED_AT = "_sdc_extracted_at"
POSITION = "_ml_position"
# A RECORD without time_extracted is ordered by when the target received it instead, i.e. the
# ordering key is (coalesce(_sdc_extracted_at, _sdc_received_at), _ml_position). Taps should send
# time_extracted (singer-sdk taps do): only then is a late replay of old input never newer.
RECEIVED_AT = "_sdc_received_at"
BATCHED_AT = "_sdc_batched_at"
DELETED_AT = "_sdc_deleted_at"
SEQUENCE = "_sdc_sequence"
TABLE_VERSION = "_sdc_table_version"
LOAD_ID = "_ml_load_id"

METADATA_COLUMNS: tuple[tuple[Column, Kind], ...] = (
    (
        Column(
            EXTRACTED_AT,
            "TIMESTAMP",
            TIMESTAMP_TYPE,
            "When the tap extracted the record (Singer time_extracted).",
        ),
        "timestamp",
    ),
    (Column(RECEIVED_AT, "TIMESTAMP", TIMESTAMP_TYPE, "When the target received the record."), "timestamp"),
    (
        Column(BATCHED_AT, "TIMESTAMP", TIMESTAMP_TYPE, "When the target wrote the record's batch."),
        "timestamp",
    ),
    (
        Column(
            DELETED_AT,
            "TIMESTAMP",
            TIMESTAMP_TYPE,
            "When the row was retired by ACTIVATE_VERSION (soft delete), null while current.",
        ),
        "timestamp",
    ),
    (Column(SEQUENCE, "BIGINT", pa.int64(), "Singer _sdc_sequence sent by the tap, if any."), "bigint"),
    (
        Column(TABLE_VERSION, "BIGINT", pa.int64(), "Singer table version (ACTIVATE_VERSION) of the record."),
        "bigint",
    ),
    (
        Column(
            POSITION,
            "BIGINT",
            pa.int64(),
            "Input position of the record: the upsert tie-break after extraction time.",
        ),
        "bigint",
    ),
    (
        Column(
            LOAD_ID,
            "STRING",
            pa.string(),
            "The load that wrote the row (see the _ml_connector_loads ledger).",
        ),
        "string",
    ),
)
METADATA_NAMES = frozenset(c.name for c, _ in METADATA_COLUMNS)
# The same columns as the sink converts their values: name -> FieldPlan (source name = column name).
METADATA_FIELDS: dict[str, FieldPlan] = {c.name: FieldPlan(c.name, c, k) for c, k in METADATA_COLUMNS}
# Properties the SDK may add itself; their values are the target's own, never the tap's.
SDK_ONLY_METADATA = frozenset({"_sdc_sync_started_at"})


@dataclasses.dataclass(frozen=True)
class StreamPlan:
    """Everything the sink needs to turn a stream's records into one typed Arrow table."""

    spec: TableSpec
    fields: tuple[FieldPlan, ...]  # data properties (no metadata), in schema order

    @property
    def arrow_schema(self) -> pa.Schema:
        return self.spec.arrow_schema()


def plan_stream(
    stream: str,
    json_schema: t.Mapping[str, t.Any],
    key_properties: t.Sequence[str],
    *,
    catalog: str,
    schema: str,
    tap: str | None = None,
) -> StreamPlan:
    """Conform names and map types for one stream; collisions and missing keys raise NamingError."""
    properties: t.Mapping[str, t.Any] = json_schema.get("properties") or {}
    data_names = [n for n in properties if n not in METADATA_NAMES and n not in SDK_ONLY_METADATA]
    conformed = conform_names([*data_names, *METADATA_NAMES])
    fields: list[FieldPlan] = []
    for source in data_names:
        kind, column = column_for(conformed[source], properties[source])
        column = dataclasses.replace(column, comment=description(properties[source]))
        fields.append(FieldPlan(source, column, kind))
    _warn_renamed(stream, conform_name(stream), {n: conformed[n] for n in data_names})
    keys: list[str] = []
    for key in key_properties:
        if key not in properties:
            raise NamingError(f"key property {key!r} of stream {stream!r} is not in its schema")
        keys.append(conformed[key] if key in conformed else conform_name(key))
    # catalog and schema are the user's names (checked by settings.uc_name), as Unity Catalog
    # stores them; only stream and property names are conformed.
    ref = TableRef(catalog.lower(), schema.lower(), conform_name(stream))
    columns = tuple(f.column for f in fields) + tuple(c for c, _ in METADATA_COLUMNS)
    comment = table_comment(stream, json_schema, tap=tap)
    return StreamPlan(TableSpec(ref, columns, tuple(keys), comment), tuple(fields))


def description(prop: t.Mapping[str, t.Any]) -> str:
    """A property's JSON Schema `description` (or `title`), one line: its column comment."""
    text = prop.get("description") or prop.get("title") or ""
    return " ".join(str(text).split()) if isinstance(text, str) else ""


def table_comment(stream: str, json_schema: t.Mapping[str, t.Any], *, tap: str | None) -> str:
    """Names the stream and, when known (Meltano passes MELTANO_EXTRACTOR_NAME), the producing tap;
    the stream schema's own description follows."""
    source = f"Singer stream {stream!r}" + (f" of {tap}" if tap else "")
    own = description(json_schema)
    return f"{source}, loaded by target-databricks." + (f" {own}" if own else "")


# --- Databricks SQL type text ---------------------------------------------------------------------

_ALIASES = {
    "INTEGER": "INT",
    "LONG": "BIGINT",
    "SHORT": "SMALLINT",
    "BYTE": "TINYINT",
    "REAL": "FLOAT",
    "TIMESTAMP_LTZ": "TIMESTAMP",
    "DEC": "DECIMAL",
    "NUMERIC": "DECIMAL",
    "VARCHAR": "STRING",
    "CHAR": "STRING",
}
_DECIMAL_TYPE = re.compile(r"^DECIMAL(?:\((\d+)(?:,(\d+))?\))?$")
_INTEGER_DIGITS = {"TINYINT": 3, "SMALLINT": 5, "INT": 10, "BIGINT": 19}


def normalize_type(sql_type: str) -> str:
    """Canonical spelling of a Databricks type (upper case, no spaces, aliases resolved)."""
    text = re.sub(r"\s+", "", sql_type).upper()
    text = re.sub(r"[A-Z_]+", lambda m: _ALIASES.get(m.group(0), m.group(0)), text)
    text = re.sub(r"STRING\(\d+\)", "STRING", text)  # VARCHAR(n)/CHAR(n) are strings to Delta
    match = _DECIMAL_TYPE.match(text)
    if match:
        return f"DECIMAL({int(match.group(1) or 10)},{int(match.group(2) or 0)})"
    return text


def _decimal_of(sql_type: str) -> tuple[int, int] | None:
    match = _DECIMAL_TYPE.match(sql_type)
    return (int(match.group(1)), int(match.group(2))) if match else None


_SQL_TO_ARROW: dict[str, pa.DataType] = {
    "STRING": pa.string(),
    "BOOLEAN": pa.bool_(),
    "TINYINT": pa.int8(),
    "SMALLINT": pa.int16(),
    "INT": pa.int32(),
    "BIGINT": pa.int64(),
    "FLOAT": pa.float32(),
    "DOUBLE": pa.float64(),
    "DATE": pa.date32(),
    "TIMESTAMP": TIMESTAMP_TYPE,
    "TIMESTAMP_NTZ": pa.timestamp("us"),
    "BINARY": pa.binary(),
}


def arrow_type_for_sql(sql_type: str) -> pa.DataType:
    """The Arrow type of a Databricks type (complex types come back as JSON text)."""
    text = normalize_type(sql_type)
    if text in _SQL_TO_ARROW:
        return _SQL_TO_ARROW[text]
    dec = _decimal_of(text)
    return pa.decimal128(*dec) if dec else pa.string()


def sql_type_for_arrow(arrow: pa.DataType) -> str:
    """The Databricks type of an Arrow type as Delta stores it (the local engine's tables)."""
    if pa.types.is_decimal(arrow):
        dec = t.cast(pa.Decimal128Type, arrow)
        return f"DECIMAL({dec.precision},{dec.scale})"
    if pa.types.is_timestamp(arrow):
        return "TIMESTAMP" if t.cast(pa.TimestampType, arrow).tz else "TIMESTAMP_NTZ"
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow) or pa.types.is_string_view(arrow):
        return "STRING"
    for sql_type, known in _SQL_TO_ARROW.items():
        if arrow == known:
            return sql_type
    return str(arrow).upper()  # nested types: only ever equal to themselves


# (stream, property or None for the stream itself) already warned about in this process.
_warned: set[tuple[str, str | None]] = set()


def _warn_renamed(stream: str, table: str, columns: t.Mapping[str, str]) -> None:
    """One WARNING per renamed stream or property name (a SCHEMA may come many times)."""
    renamed: list[tuple[str | None, str]] = [(None, table)] if table != stream else []
    renamed += [(source, column) for source, column in columns.items() if source != column]
    for source, name in renamed:
        if (stream, source) in _warned:
            continue
        _warned.add((stream, source))
        if source is None:
            logger.warning("stream %r is loaded into table %r (names are conformed)", stream, name)
        else:
            logger.warning(
                "stream %r: property %r is loaded into column %r (names are conformed)", stream, source, name
            )


# --- schema evolution ----------------------------------------------------------------------------

Evolution = t.Literal["keep", "widen", "rewrite", "refuse"]


@dataclasses.dataclass(frozen=True)
class TypeChange:
    """What happens to an existing column when a stream declares another type for it.

    - keep: the column holds every value of the new type; values are cast on load.
    - widen: the column's type changes in place (Delta type widening), no data is rewritten.
    - rewrite: the column's values are cast to `to` by rewriting the table (every value fits).
    - refuse: some value of one type cannot be stored in the other without loss.
    """

    column: str
    old: str  # the table's type (normalized Databricks SQL)
    new: str  # the type the stream now declares
    action: Evolution
    to: str  # the column's type afterwards
    rule: str

    def describe(self) -> str:
        return f"{self.column}: table has {self.old}, stream declares {self.new} ({self.rule})"


def _integer_digits(sql_type: str) -> int | None:
    return _INTEGER_DIGITS.get(sql_type)


def _fit_decimal(digits: int, scale: int) -> str | None:
    return f"DECIMAL({digits + scale},{scale})" if digits + scale <= DEFAULT_DECIMAL_PRECISION else None


def type_change(column: str, existing: str, declared: str) -> TypeChange:
    """The one rule for a declared type that differs from an existing column's type (both engines)."""
    old, new = normalize_type(existing), normalize_type(declared)

    def change(action: Evolution, to: str, rule: str) -> TypeChange:
        return TypeChange(column, old, new, action, to, rule)

    if old == new:
        return change("keep", old, "same type")
    if old == "STRING":
        return change("keep", old, "any value fits a STRING column as text")
    if new == "STRING":
        return change("rewrite", new, "any scalar → STRING: existing values become text")
    old_dec, new_dec = _decimal_of(old), _decimal_of(new)
    old_int, new_int = _integer_digits(old), _integer_digits(new)
    if old_int is not None and new_int is not None:
        if old_int >= new_int:
            return change("keep", old, "a narrower integer fits")
        return change("widen", new, "integer → wider integer")
    if old_dec is not None and (new_dec is not None or new_int is not None):
        new_p, new_s = new_dec or (t.cast(int, new_int), 0)
        old_p, old_s = old_dec
        if old_s >= new_s and old_p - old_s >= new_p - new_s:
            return change("keep", old, "the column's decimal holds every declared value")
        wider = _fit_decimal(max(old_p - old_s, new_p - new_s), max(old_s, new_s))
        if wider is None:
            return change("refuse", old, "a decimal holding both needs more than 38 digits")
        return change("widen", wider, "decimal → wider decimal")
    if old_int is not None and new_dec is not None:
        # Delta widens INT to DECIMAL with >= 10 integer digits, BIGINT with >= 20.
        new_p, new_s = new_dec
        wider = _fit_decimal(max(new_p - new_s, 20 if old == "BIGINT" else 10), new_s)
        if wider is None:
            return change("refuse", old, "a decimal holding both needs more than 38 digits")
        return change("widen", wider, "integer → decimal")
    if old == "DOUBLE" and (new == "FLOAT" or new_int is not None):
        return change("keep", old, "a JSON number column takes integers")
    if new == "DOUBLE" and old == "FLOAT":
        return change("widen", new, "FLOAT → DOUBLE")
    if new == "DOUBLE" and old_int is not None:
        # A JSON number is a DOUBLE here (exact decimals need x-singer.decimal): integers up to 2^53
        # stay exact. Delta widens INT and narrower in place; BIGINT needs a rewrite.
        action: Evolution = "rewrite" if old == "BIGINT" else "widen"
        return change(action, new, "integer → number (DOUBLE)")
    if old in ("TIMESTAMP", "TIMESTAMP_NTZ") and new == "DATE":
        return change("keep", old, "a date is stored as its midnight")
    if old == "DATE" and new == "TIMESTAMP_NTZ":
        return change("widen", new, "DATE → TIMESTAMP_NTZ")
    if old == "DATE" and new == "TIMESTAMP":
        return change("rewrite", new, "date → timestamp: existing dates become midnight UTC")
    return change(
        "refuse", old, f"{new} values do not fit {old}, and {old} values would not survive as {new}"
    )


def check_type_changes(table: TableRef, changes: t.Iterable[TypeChange]) -> str | None:
    """Raise SchemaChangeError for refused changes; else the one warning for kept column types.

    The warning (None when nothing differs) names every column that keeps a type other than the
    declared one: loads cast into it, e.g. a table created earlier with DECIMAL(38,10).
    """
    changes = list(changes)
    refused = [c for c in changes if c.action == "refuse"]
    if refused:
        raise SchemaChangeError(
            f"incompatible type change in {table.full_name} (no data was changed): "
            + "; ".join(c.describe() for c in refused)
            + ". Load into a new table, or migrate the column in Databricks first and rerun."
        )
    kept = [c for c in changes if c.action == "keep" and c.old != c.new]
    if not kept:
        return None
    return f"{table.full_name} keeps its column types, loads are cast into them: " + "; ".join(
        c.describe() for c in kept
    )
