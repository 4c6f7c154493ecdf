"""BATCH files written with the stream schema's Arrow types instead of types inferred per file.

singer-sdk's own Parquet batcher calls `pa.Table.from_pylist`, so a file whose amounts happen to be
strings gets a string column and a date column whose values are all null gets type null. The tap
declares its types in JSON Schema; this module maps them to Arrow once, so every file of a stream
has the same, exact schema (money as decimal128(p, s), dates as date32, date-times as
timestamp[us, UTC], objects and arrays as JSON text).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import typing as t
from uuid import uuid4

from singer_sdk.batch import lazy_chunked_generator

if t.TYPE_CHECKING:
    import pyarrow as pa
    from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig
    from singer_sdk.helpers.types import Context

DECIMAL_FORMAT = "x-singer.decimal"
DEFAULT_DECIMAL = (38, 9)  # when a decimal property does not say its precision and scale


def _types(prop: t.Mapping[str, t.Any]) -> set[str]:
    declared = prop.get("type", "string")
    return {declared} if isinstance(declared, str) else set(declared)


def arrow_type(prop: t.Mapping[str, t.Any]) -> pa.DataType:
    """The Arrow type for one JSON Schema property (see the module docstring)."""
    import pyarrow as pa  # here, not at the top: a RECORD-only sync never loads Arrow (~30 MiB)

    if "anyOf" in prop:
        non_null = [p for p in prop["anyOf"] if _types(p) != {"null"}]
        return arrow_type(non_null[0]) if len(non_null) == 1 else pa.string()
    types = _types(prop) - {"null"}
    fmt = prop.get("format")
    if "object" in types or "array" in types:
        return pa.string()
    if "string" in types and fmt == DECIMAL_FORMAT:
        # The schemas carry precision and scale as x-sql-datatype-properties: singer-sdk's catalog
        # keeps those keys and drops bare `precision`/`scale`.
        hint = prop.get("x-sql-datatype-properties") or {}
        precision = int(hint.get("precision", DEFAULT_DECIMAL[0]))
        scale = int(hint.get("scale", DEFAULT_DECIMAL[1]))
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    if "string" in types and fmt == "date":
        return pa.date32()
    if "string" in types and fmt == "date-time":
        return pa.timestamp("us", tz="UTC")
    if types == {"integer"}:
        return pa.int64()
    if types <= {"number", "integer"} and types:
        return pa.float64()
    if types == {"boolean"}:
        return pa.bool_()
    return pa.string()


def arrow_schema(json_schema: t.Mapping[str, t.Any]) -> pa.Schema:
    """The Arrow schema of a stream: one nullable field per property, in schema order."""
    import pyarrow as pa

    return pa.schema(
        [pa.field(name, arrow_type(prop), nullable=True) for name, prop in json_schema["properties"].items()]
    )


def _to_decimal(value: t.Any) -> decimal.Decimal:
    return value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))


def _to_date(value: t.Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _to_timestamp(value: t.Any) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _to_json(value: t.Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _converter(arrow: pa.DataType, prop: t.Mapping[str, t.Any]) -> t.Callable[[t.Any], t.Any]:
    import pyarrow as pa

    types = _types(prop) - {"null"}
    if "object" in types or "array" in types:
        return _to_json
    if pa.types.is_decimal(arrow):
        return _to_decimal
    if pa.types.is_date32(arrow):
        return _to_date
    if pa.types.is_timestamp(arrow):
        return _to_timestamp
    if pa.types.is_string(arrow):
        return lambda v: v if isinstance(v, str) else _to_json(v)
    return lambda v: v


def records_to_table(
    records: t.Iterable[t.Mapping[str, t.Any]], json_schema: t.Mapping[str, t.Any]
) -> pa.Table:
    """Records → an Arrow table with exactly `arrow_schema(json_schema)`."""
    import pyarrow as pa

    schema = arrow_schema(json_schema)
    rows = list(records)
    columns = []
    for field in schema:
        convert = _converter(field.type, json_schema["properties"][field.name])
        values = [None if (v := row.get(field.name)) is None else convert(v) for row in rows]
        columns.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(columns, schema=schema)


class ArrowBatchesMixin:
    """For singer-sdk Streams: Parquet BATCH files get the schema's Arrow types.

    Other encodings (jsonl) keep the SDK's behaviour.
    """

    name: str
    tap_name: str
    schema: dict

    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> t.Iterable[tuple[BaseBatchFileEncoding, list[str]]]:
        if batch_config.encoding.format != "parquet":
            yield from super().get_batches(batch_config, context)  # type: ignore[misc]
            return
        import pyarrow.parquet as pq

        records = self._sync_records(context, write_messages=False)  # type: ignore[attr-defined]
        sync_id = f"{self.tap_name}--{self.name}-{uuid4()}"
        storage = batch_config.storage
        compression = "gzip" if batch_config.encoding.compression == "gzip" else "snappy"
        for i, chunk in enumerate(lazy_chunked_generator(records, batch_config.batch_size), start=1):
            filename = f"{storage.prefix or ''}{sync_id}={i}.parquet"
            if batch_config.encoding.compression == "gzip":
                filename += ".gz"  # the SDK's naming: gzip is the Parquet codec, not an outer layer
            table = records_to_table(chunk, self.schema)
            with storage.open(filename, "wb") as f:
                pq.write_table(table, f, compression=compression)
            yield batch_config.encoding, [storage.get_url(filename)]
