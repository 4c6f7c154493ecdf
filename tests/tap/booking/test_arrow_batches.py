"""JSON Schema → Arrow: the tap's own mapping for typed Parquet BATCH files."""

from __future__ import annotations

import datetime as dt
import decimal
import subprocess
import sys

import pyarrow as pa

from tap_datev.arrow_batches import arrow_schema, records_to_table

SCHEMA = {
    "properties": {
        "amount": {
            "type": ["string", "null"],
            "format": "x-singer.decimal",
            "x-sql-datatype": "decimal",
            "x-sql-datatype-properties": {"precision": 15, "scale": 2},
        },
        "day": {"type": ["string", "null"], "format": "date"},
        "at": {"type": "string", "format": "date-time"},
        "n": {"type": ["integer", "null"]},
        "text": {"type": ["string", "null"]},
        "details": {"type": ["object", "null"]},
        "items": {"type": ["array", "null"], "items": {"type": "object"}},
        "flag": {"type": ["boolean", "null"]},
    }
}


def test_schema_mapping() -> None:
    schema = arrow_schema(SCHEMA)
    assert schema.field("amount").type == pa.decimal128(15, 2)
    assert schema.field("day").type == pa.date32()
    assert schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("n").type == pa.int64()
    assert schema.field("text").type == pa.string()
    assert schema.field("details").type == pa.string()
    assert schema.field("items").type == pa.string()
    assert schema.field("flag").type == pa.bool_()


def test_all_null_columns_keep_their_types() -> None:
    table = records_to_table([{"at": "2026-01-02T03:04:05.123456+00:00"}], SCHEMA)
    assert table.schema == arrow_schema(SCHEMA)
    row = table.to_pylist()[0]
    assert row["at"] == dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    assert row["amount"] is None


def test_values_convert() -> None:
    table = records_to_table(
        [
            {
                "amount": "-100.18",
                "day": "2024-01-31",
                "at": "2024-01-31T10:00:00Z",
                "n": 3,
                "text": "Müller",
                "details": {"type": "x", "codes": [1]},
                "items": [{"a": 1}],
                "flag": True,
            }
        ],
        SCHEMA,
    )
    row = table.to_pylist()[0]
    assert row["amount"] == decimal.Decimal("-100.18")
    assert row["day"] == dt.date(2024, 1, 31)
    assert row["details"] == '{"codes": [1], "type": "x"}'
    assert row["items"] == '[{"a": 1}]'


def test_a_record_sync_loads_no_arrow() -> None:
    # Arrow is loaded for Parquet BATCH files only: importing it made every tap process ~50 MiB larger.
    code = "import sys, tap_datev.tap; print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyarrow'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
