"""One drained batch → one Arrow table typed by the stream's schema (no I/O).

Columns are converted vectorised by Arrow (strings → timestamps/dates/decimals by casts); only when a
column holds values Arrow cannot take as they are (e.g. a JSON number where a string is declared)
does that one column fall back to a per-value Python conversion.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import typing as t

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
from singer_sdk.exceptions import MissingKeyPropertiesError
from singer_sdk.singerlib.json import serialize_json

from target_databricks import schema as sch
from target_databricks.errors import InputError

if t.TYPE_CHECKING:
    from target_databricks.schema import FieldPlan, Kind, StreamPlan

# An input position: message line number, times this, plus the row inside a BATCH file.
POSITION_STRIDE = 10**9

_pc: t.Any = pc  # kernels pyarrow's stubs do not declare

_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError)


# How much of an offending value an error message quotes.
_VALUE_PREVIEW_CHARS = 40


class BatchTypeError(InputError, ValueError):
    """A value does not fit its column's declared type, or a key is null: the message names the
    stream, the input line (or BATCH file and row), the property, the value and the column type."""


class KeyPropertyMissingError(BatchTypeError, MissingKeyPropertiesError):
    """A record without a value for a key property (also singer-sdk's error for that case)."""


# Where row i of a batch came from, for messages: "line 1834" or "line 7: BATCH file f.parquet row 3".
RowPlace = t.Callable[[int], str]


# --- per-value fallbacks -------------------------------------------------------------------------


def _json_text(value: t.Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return serialize_json(value)  # Decimal and friends, exact


def _to_int(value: t.Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    number = decimal.Decimal(str(value))
    if number != number.to_integral_value():
        raise ValueError(f"{value!r} is not an integer")
    return int(number)


def _to_float(value: t.Any) -> float | None:
    return None if value is None else float(value)


def _to_decimal(value: t.Any) -> decimal.Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):
        return decimal.Decimal(repr(value))  # shortest round-trip text, not the binary expansion
    return decimal.Decimal(str(value))


def _to_bool(value: t.Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValueError(f"{value!r} is not a boolean")
    return bool(value)


def _to_datetime(value: t.Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime.combine(value, dt.time())
    else:
        parsed = dt.datetime.fromisoformat(str(value).strip())
    # A timestamp without offset is taken as UTC (the SDK's convention, and Databricks' session default).
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _to_date(value: t.Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value).strip()[:10])


_PER_VALUE: dict[str, t.Callable[[t.Any], t.Any]] = {
    "string": _json_text,
    "json": _json_text,
    "bigint": _to_int,
    "double": _to_float,
    "decimal": _to_decimal,
    "boolean": _to_bool,
    "timestamp": _to_datetime,
    "date": _to_date,
}


# --- vectorised conversion -----------------------------------------------------------------------


def _strings_to_timestamps(arr: pa.Array) -> pa.Array:
    try:
        return pc.cast(arr, sch.TIMESTAMP_TYPE)
    except _ARROW_ERRORS:
        naive = pc.cast(arr, pa.timestamp("us"))  # no offset anywhere: UTC by convention
        return _pc.assume_timezone(naive, "UTC").cast(sch.TIMESTAMP_TYPE)


def _convert_array(kind: Kind, target: pa.DataType, arr: pa.Array) -> pa.Array:
    """Arrow array → target type, vectorised; raises an Arrow error when it cannot."""
    if arr.type == target:
        return arr
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target)
    if kind == "timestamp" and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return _strings_to_timestamps(arr)
    if kind == "json" and not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise pa.ArrowTypeError("nested values become JSON text per value")
    if kind == "string" and not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise pa.ArrowTypeError("non-string values become text per value")
    return pc.cast(arr, target)


def column_from_values(kind: Kind, target: pa.DataType, values: list[t.Any]) -> pa.Array:
    try:
        if kind in ("timestamp", "date"):
            # Strings straight from JSON; Arrow parses ISO 8601 in C.
            return _convert_array(kind, target, pa.array(values, pa.string()))
        return pa.array(values, target)  # decimals as Decimal objects: exact
    except _ARROW_ERRORS:
        pass
    if kind == "decimal":
        with contextlib.suppress(*_ARROW_ERRORS):
            return pc.cast(pa.array(values, pa.string()), target)  # decimal text
    convert = _PER_VALUE[kind]
    return pa.array([convert(v) for v in values], target)


def _column_from_array(kind: Kind, target: pa.DataType, arr: pa.Array) -> pa.Array:
    try:
        return _convert_array(kind, target, arr)
    except _ARROW_ERRORS:
        return column_from_values(kind, target, arr.to_pylist())


def _checked(
    stream: str, field: FieldPlan, build: t.Callable[..., pa.Array], source: t.Any, place: RowPlace
) -> pa.Array:
    try:
        return t.cast(pa.Array, build(field.kind, field.column.arrow_type, source))
    except (*_ARROW_ERRORS, decimal.InvalidOperation, OverflowError) as exc:
        values = source.to_pylist() if isinstance(source, pa.Array) else source
        raise BatchTypeError(_value_error(stream, field, values, place, exc)) from exc


def _value_error(stream: str, field: FieldPlan, values: list[t.Any], place: RowPlace, exc: Exception) -> str:
    """The message for the first value of `values` that does not fit the column."""
    column = f"column {field.column.name} is {field.column.sql_type}"
    for row, value in enumerate(values):
        reason = _misfit(field, value)
        if reason:
            return f"stream {stream} {place(row)}: {field.source} {_preview(value)} {reason}; {column}"
    # Every value fits alone (should not happen): say what Arrow said, still naming the column.
    return f"stream {stream}: {field.source} does not fit: {exc}; {column}"


def _misfit(field: FieldPlan, value: t.Any) -> str | None:
    """Why `value` does not fit the field's column, or None when it does."""
    if value is None:
        return None
    if field.kind == "decimal":
        return _decimal_misfit(t.cast(pa.Decimal128Type, field.column.arrow_type), value)
    try:
        pa.array([_PER_VALUE[field.kind](value)], field.column.arrow_type)
    except (*_ARROW_ERRORS, decimal.InvalidOperation, OverflowError):
        return _NOT_A[field.kind]
    return None


_NOT_A: dict[str, str] = {
    "bigint": "is not an integer in BIGINT's range",
    "double": "is not a number",
    "boolean": "is not a boolean (true/false)",
    "timestamp": "is not an ISO 8601 date-time",
    "date": "is not an ISO 8601 date",
    "string": "cannot be written as text",
    "json": "cannot be written as JSON text",
}


def _decimal_misfit(target: pa.Decimal128Type, value: t.Any) -> str | None:
    try:
        number = _to_decimal(value)
    except (decimal.InvalidOperation, ValueError, TypeError):
        return "is not a decimal number"
    if number is None or not number.is_finite():
        return None if number is None else "is not a finite number"
    _, digits, exponent = number.as_tuple()
    decimals = max(0, -int(exponent))
    whole = max(0, len(digits) + int(exponent))
    if decimals > target.scale:
        return f"has {decimals} decimals"
    if whole > target.precision - target.scale:
        return f"has {whole} digits before the decimal point"
    return None


def _preview(value: t.Any) -> str:
    text = value if isinstance(value, str) else (_json_text(value) or "")
    if len(text) > _VALUE_PREVIEW_CHARS:
        text = text[:_VALUE_PREVIEW_CHARS] + "..."
    return repr(text)


def _check_keys(stream: str, plan: StreamPlan, arrays: dict[str, pa.Array], place: RowPlace) -> None:
    """A key property must have a value in every row: the table could not tell such rows apart."""
    for field in plan.fields:
        if field.column.name not in plan.spec.key_properties:
            continue
        column = arrays[field.column.name]
        if column.null_count:
            row = int(_pc.index(column.is_null(), True).as_py())
            raise KeyPropertyMissingError(key_missing_message(stream, place(row), field.source))


def key_missing_message(stream: str, place: str, key: str) -> str:
    return (
        f"stream {stream} {place}: key property {key!r} is null or missing; every record needs a "
        "value for each key property (fix the tap's records or its key_properties)"
    )


def _line(position: t.Any) -> int | None:
    return None if position is None else int(position) // POSITION_STRIDE


# --- tables --------------------------------------------------------------------------------------

# Record-level metadata the sink writes into every record dict (see sinks.DatabricksSink).
RECORD_METADATA = tuple(
    sch.METADATA_FIELDS[n] for n in (sch.EXTRACTED_AT, sch.DELETED_AT, sch.TABLE_VERSION, sch.POSITION)
)
# Metadata a BATCH file may carry per row (see file_to_table).
FILE_METADATA_FIELDS = tuple(sch.METADATA_FIELDS[n] for n in (sch.EXTRACTED_AT, sch.DELETED_AT))


def records_to_table(stream: str, plan: StreamPlan, records: t.Sequence[t.Mapping[str, t.Any]]) -> pa.Table:
    """RECORD path: data columns plus the record-level metadata columns, typed."""

    def place(row: int) -> str:
        line = _line(records[row].get(sch.POSITION))
        return f"line {line}" if line else f"record {row + 1} of its batch"

    arrays: dict[str, pa.Array] = {}
    for field in (*plan.fields, *RECORD_METADATA):
        values = [r.get(field.source) for r in records]
        arrays[field.column.name] = _checked(stream, field, column_from_values, values, place)
    _check_keys(stream, plan, arrays, place)
    return pa.Table.from_arrays(list(arrays.values()), names=list(arrays))


# How Arrow's JSON reader reads each kind of a RECORD line's values: as the type the decoded path
# gives the same JSON value, or as text where that path casts decoded strings (dates, timestamps,
# decimals). Any other JSON type (a number where text is declared, 1.0 for an integer, ...) fails
# the read, and those lines take the decoded path. Nested values (kind json) always do.
_LINE_READ_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "decimal": pa.string(),
    "date": pa.string(),
    "timestamp": pa.string(),
}
# A record may carry its own deletion marker; the other metadata come from the message.
_RECORD_DELETED_AT = sch.METADATA_FIELDS[sch.DELETED_AT]


def record_line_schema(plan: StreamPlan) -> pa.Schema | None:
    """What Arrow reads of a stream's RECORD lines, or None when a field is nested (kind json)."""
    if any(f.kind not in _LINE_READ_TYPES for f in plan.fields):
        return None
    record = pa.struct(
        [pa.field(f.source, _LINE_READ_TYPES[f.kind]) for f in (*plan.fields, _RECORD_DELETED_AT)]
    )
    return pa.schema(
        [
            pa.field("record", record),
            pa.field("time_extracted", pa.string()),
            pa.field("version", pa.int64()),
        ]
    )


def record_lines_to_table(
    stream: str, plan: StreamPlan, read_schema: pa.Schema, text: bytes, line_numbers: t.Sequence[int]
) -> pa.Table:
    """RECORD lines (one JSON message a line, all of this stream) → the table records_to_table makes
    of the same records decoded, without a Python object per value.

    Raises pa.ArrowInvalid when a value is not of the JSON type its column is read as: the caller
    then decodes those lines and uses records_to_table, which says what does not fit, and where.
    """
    read = pajson.read_json(
        pa.BufferReader(text),
        parse_options=pajson.ParseOptions(explicit_schema=read_schema, unexpected_field_behavior="ignore"),
    )
    if read.num_rows != len(line_numbers):
        raise pa.ArrowInvalid(f"read {read.num_rows} records of {len(line_numbers)} lines")
    record = t.cast(pa.StructArray, read.column("record").combine_chunks())

    def place(row: int) -> str:
        return f"line {line_numbers[row]}"

    arrays: dict[str, pa.Array] = {}
    for field in plan.fields:
        source = record.field(field.source)
        arrays[field.column.name] = _checked(stream, field, _column_from_array, source, place)
    meta = {
        sch.EXTRACTED_AT: read.column("time_extracted").combine_chunks(),
        sch.DELETED_AT: record.field(sch.DELETED_AT),
        sch.TABLE_VERSION: read.column("version").combine_chunks(),
        sch.POSITION: _pc.multiply(pa.array(line_numbers, pa.int64()), POSITION_STRIDE),
    }
    for field in RECORD_METADATA:
        arrays[field.column.name] = _checked(stream, field, _column_from_array, meta[field.source], place)
    _check_keys(stream, plan, arrays, place)
    return pa.Table.from_arrays(list(arrays.values()), names=list(arrays))


def file_to_table(
    stream: str,
    plan: StreamPlan,
    data: pa.Table,
    *,
    first_position: int,
    extracted_at: str | None,
    table_version: int | None,
    file: str = "",
) -> pa.Table:
    """BATCH path: a tap's Parquet/JSONL file (source column names) → the same typed table."""
    rows = data.num_rows

    def place(row: int) -> str:
        return f"line {_line(first_position)}: BATCH file {file or '(unnamed)'} row {row + 1}"

    arrays: dict[str, pa.Array] = {}
    for field in plan.fields:
        if field.source in data.column_names:
            arr = _one_array(data.column(field.source))
            arrays[field.column.name] = _checked(stream, field, _column_from_array, arr, place)
        else:
            arrays[field.column.name] = pa.nulls(rows, field.column.arrow_type)
    _check_keys(stream, plan, arrays, place)
    meta: dict[str, pa.Array] = {
        sch.EXTRACTED_AT: constant(_to_datetime(extracted_at), sch.TIMESTAMP_TYPE, rows),
        sch.TABLE_VERSION: constant(table_version, pa.int64(), rows),
        sch.POSITION: positions(first_position, rows),
        sch.DELETED_AT: pa.nulls(rows, sch.TIMESTAMP_TYPE),
    }
    # A file may carry per-row extraction times (BATCH messages have no time_extracted of their own)
    # and deletion markers; those win over the message-level values.
    for field in FILE_METADATA_FIELDS:
        if field.source in data.column_names:
            arr = _one_array(data.column(field.source))
            meta[field.source] = _checked(stream, field, _column_from_array, arr, place)
    for field in RECORD_METADATA:
        arrays[field.source] = meta[field.source]
    return pa.Table.from_arrays(list(arrays.values()), names=list(arrays))


def constant(value: t.Any, type_: pa.DataType, rows: int) -> pa.Array:
    """`rows` copies of one value, filled in C (a Python list of 100k datetimes took ~25 ms)."""
    return pa.repeat(pa.scalar(value, type_), rows)


def positions(first: int, rows: int) -> pa.Array:
    """first, first + 1, ... as int64, without a Python int per row."""
    if not rows:
        return pa.array([], pa.int64())
    return _pc.add(_pc.cumulative_sum(constant(1, pa.int64(), rows)), first - 1)


def _one_array(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array; a single chunk as it is (combine_chunks copies even that)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def json_rows_to_table(stream: str, plan: StreamPlan, rows: list[dict[str, t.Any]], *, file: str) -> pa.Table:
    """Decoded JSONL rows of a BATCH file (source column names), each column typed like a RECORD's."""

    def place(row: int) -> str:
        return f"BATCH file {file} row {row + 1}"

    fields = [*plan.fields, *FILE_METADATA_FIELDS]
    return pa.table(
        {
            f.source: _checked(stream, f, column_from_values, [r.get(f.source) for r in rows], place)
            for f in fields
        }
    )


def add_batch_columns(
    plan: StreamPlan,
    table: pa.Table,
    *,
    load_id: str,
    received_at: dt.datetime,
    batched_at: dt.datetime,
) -> pa.Table:
    """Batch-level metadata (same for every row) and the table's column order."""
    rows = table.num_rows
    # One scalar repeated by Arrow, not a Python list of `rows` values.
    constants = {
        sch.RECEIVED_AT: constant(received_at, sch.TIMESTAMP_TYPE, rows),
        sch.BATCHED_AT: constant(batched_at, sch.TIMESTAMP_TYPE, rows),
        sch.SEQUENCE: constant(int(batched_at.timestamp() * 1000), pa.int64(), rows),
        sch.LOAD_ID: constant(load_id, pa.string(), rows),
    }
    arrays = [constants[c.name] if c.name in constants else table.column(c.name) for c in plan.spec.columns]
    return pa.Table.from_arrays(arrays, schema=plan.arrow_schema)


def dedupe_latest(table: pa.Table, keys: t.Sequence[str], *, received_at: dt.datetime) -> pa.Table:
    """Keep one row per key: the newest by the upsert order (see engines.base), ties never occur

    because positions are unique. A row without time_extracted is ordered by `received_at`, exactly
    as the engines' MERGE does with coalesce(_sdc_extracted_at, _sdc_received_at).
    """
    if not keys or table.num_rows < 2:
        return table
    if _ascending_key(table, keys) or _distinct_keys(table, keys) == table.num_rows:
        return table  # nothing to drop: a comparison or a hash count instead of a sort of the batch
    index, order = "__ml_row", "__ml_order"
    extracted = table.column(sch.EXTRACTED_AT)
    if extracted.null_count:
        extracted = pc.fill_null(extracted, pa.scalar(received_at, sch.TIMESTAMP_TYPE))
    work = table.select(list(keys)).append_column(order, extracted)
    work = work.append_column(sch.POSITION, table.column(sch.POSITION))
    work = work.append_column(index, pa.array(range(table.num_rows), pa.int64()))
    ordered = work.sort_by([(k, "ascending") for k in (*keys, order, sch.POSITION)])
    # Single-threaded group_by keeps input order, so "last" is the newest row of each key.
    latest = ordered.group_by(list(keys), use_threads=False).aggregate([(index, "last")])
    rows = latest.column(f"{index}_last")
    return table.take(pc.take(rows, _pc.sort_indices(rows)))


def _ascending_key(table: pa.Table, keys: t.Sequence[str]) -> bool:
    """One key whose values rise strictly row by row (ids as taps usually emit them): all distinct,
    found by comparing neighbours (about a tenth of the time of counting distinct values)."""
    if len(keys) != 1:
        return False
    column = _one_array(table.column(keys[0]))
    if column.null_count:
        return False
    try:
        rising = _pc.less(column.slice(0, len(column) - 1), column.slice(1))
    except _ARROW_ERRORS:
        return False  # a type without an order
    return bool(_pc.all(rising).as_py())


def _distinct_keys(table: pa.Table, keys: t.Sequence[str]) -> int:
    """How many different key values the batch holds (keys are never null here: see _check_keys)."""
    if len(keys) == 1:  # unique() is about 5x faster than count_distinct() here
        return len(_pc.unique(table.column(keys[0])))
    return table.select(list(keys)).group_by(list(keys), use_threads=False).aggregate([]).num_rows
