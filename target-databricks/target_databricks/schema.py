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
engine uses them verbatim.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import typing as t
import unicodedata

import pyarrow as pa

from target_databricks.engines.base import Column, TableRef, TableSpec
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


def _scalar_type(variant: t.Mapping[str, t.Any]) -> tuple[Kind, str, pa.DataType]:
    typ = variant.get("type")
    fmt = variant.get("format")
    if typ == "string":
        if fmt == "x-singer.decimal" and "precision" in variant:
            precision = min(int(variant["precision"]), DEFAULT_DECIMAL_PRECISION)
            scale = min(int(variant.get("scale", 0)), precision)
            return "decimal", f"DECIMAL({precision},{scale})", pa.decimal128(precision, scale)
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
                scale = min(found, DEFAULT_DECIMAL_PRECISION)
                return "decimal", f"DECIMAL(38,{scale})", pa.decimal128(DEFAULT_DECIMAL_PRECISION, scale)
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
    p, s = DEFAULT_DECIMAL_PRECISION, DEFAULT_DECIMAL_SCALE
    return "decimal", f"DECIMAL({p},{s})", pa.decimal128(p, s)


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
    (Column(EXTRACTED_AT, "TIMESTAMP", TIMESTAMP_TYPE), "timestamp"),
    (Column(RECEIVED_AT, "TIMESTAMP", TIMESTAMP_TYPE), "timestamp"),
    (Column(BATCHED_AT, "TIMESTAMP", TIMESTAMP_TYPE), "timestamp"),
    (Column(DELETED_AT, "TIMESTAMP", TIMESTAMP_TYPE), "timestamp"),
    (Column(SEQUENCE, "BIGINT", pa.int64()), "bigint"),
    (Column(TABLE_VERSION, "BIGINT", pa.int64()), "bigint"),
    (Column(POSITION, "BIGINT", pa.int64()), "bigint"),
    (Column(LOAD_ID, "STRING", pa.string()), "string"),
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
) -> StreamPlan:
    """Conform names and map types for one stream; collisions and missing keys raise NamingError."""
    properties: t.Mapping[str, t.Any] = json_schema.get("properties") or {}
    data_names = [n for n in properties if n not in METADATA_NAMES and n not in SDK_ONLY_METADATA]
    conformed = conform_names([*data_names, *METADATA_NAMES])
    fields: list[FieldPlan] = []
    for source in data_names:
        kind, column = column_for(conformed[source], properties[source])
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
    return StreamPlan(TableSpec(ref, columns, tuple(keys)), tuple(fields))


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


def can_widen(existing: pa.DataType, new: pa.DataType) -> bool:
    """True when every value of type `new` fits the existing column's type without loss.

    Then the batch is cast to the existing column; anything else is an incompatible change.
    """
    if existing == new:
        return True
    if pa.types.is_decimal(existing) and pa.types.is_decimal(new):
        e, n = t.cast(pa.Decimal128Type, existing), t.cast(pa.Decimal128Type, new)
        return e.scale >= n.scale and (e.precision - e.scale) >= (n.precision - n.scale)
    if pa.types.is_decimal(existing) and pa.types.is_integer(new):
        e = t.cast(pa.Decimal128Type, existing)
        return (e.precision - e.scale) >= 19  # int64 has up to 19 digits
    return False
